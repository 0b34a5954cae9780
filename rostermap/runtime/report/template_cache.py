"""The report pages' jinja2 templates, compiled once per machine rather than per run.

jinja2 turns a template into Python source and compiles it every time a process
first loads it: about 45 ms for report.html, a tenth of a small district's run. Its
own bytecode cache keeps the compiled code instead, marshalled, in the user's cache
folder (``$XDG_CACHE_HOME/rostermap/templates``, created private by
``dsl.cachedir``, which also decides when caching is off or unsafe), and a later
process loads that code in under a millisecond.

Each load still reads the template's source and checks its hash against the one
the entry was compiled from, and jinja2's header names the Python version and its
own bytecode format: an edited template, another Python or another jinja2
compiles afresh. The key also holds the jinja2 version and the environment's
options (which change what a template compiles to). A cache folder that cannot be
read or written costs only the compile: the page is still rendered.
"""

from __future__ import annotations

import hashlib
from typing import Any

import jinja2
from jinja2.bccache import Bucket

from rostermap.dsl.cachedir import cache_folder

__all__ = ["environment"]


class _Cache(jinja2.FileSystemBytecodeCache):
    """jinja2's file cache, keyed by the environment too, and never failing a render."""

    def __init__(self, directory: str, options: str) -> None:
        super().__init__(directory, "%s.jinja-cache")
        self._options = options

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        parts = (jinja2.__version__, self._options, name, filename or "")
        return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except OSError:
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass  # a full or read-only disk: the next process compiles again


def environment(package: str, folder: str, **options: Any) -> jinja2.Environment:
    """A jinja2 environment over a package's template folder, with ``options``
    (autoescape, undefined, whitespace control), whose compiled templates are kept in
    the user's cache folder when there is a safe one."""
    cache: jinja2.BytecodeCache | None = None
    directory = cache_folder("templates")
    if directory is not None:
        described = repr(sorted((k, repr(v)) for k, v in options.items()))
        cache = _Cache(str(directory), f"{package}/{folder}:{described}")
    return jinja2.Environment(loader=jinja2.PackageLoader(package, folder),
                              bytecode_cache=cache, **options)
