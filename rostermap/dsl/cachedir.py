"""The user's cache folder for rostermap, shared by the grammar, compile and template
caches.

Each holds what rostermap would otherwise rebuild on every run: Lark's parse tables
for the grammar (``dsl.parser``), compiled modules (``runtime.run.cache``) and
report.html's compiled template (``runtime.report.html_report``, jinja2's bytecode).
What is in them gets executed (Lark's tables are a pickle, the template is marshalled
code; a compiled module is verified, but verification bounds what it calls, not
which files it writes), so a folder is used only when nobody else can have put
anything there: ``rostermap`` and the cache's own folder are real folders (not
links), owned by this user and writable by nobody else; they are created that way.
Anything else (a shared ``HOME=/tmp``, a relative ``XDG_CACHE_HOME``, no home at
all) turns caching off: rostermap then compiles every time, which is slower and
never wrong.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["cache_folder"]


def cache_folder(name: str) -> Path | None:
    """``$XDG_CACHE_HOME/rostermap/NAME`` (``~/.cache/rostermap/NAME``), created
    private, or None when caching is off (``ROSTERMAP_NO_CACHE=1``) or unsafe."""
    if os.environ.get("ROSTERMAP_NO_CACHE", "") not in ("", "0"):
        return None
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:  # no HOME and no passwd entry (a container's random uid)
            return None
    if not os.path.isabs(base):
        return None  # the XDG spec says to ignore a relative path
    ours = Path(base) / "rostermap"
    folder = ours / name
    try:
        Path(base).mkdir(mode=0o700, parents=True, exist_ok=True)
        for part in (ours, folder):
            part.mkdir(mode=0o700, exist_ok=True)
            if not _private(part):
                return None
    except OSError:
        return None  # a read-only home: no cache
    return folder


def _private(path: Path) -> bool:
    """A real folder of this user's that no one else may write to."""
    info = path.lstat()
    return (stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid()
            and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH))
