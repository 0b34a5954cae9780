"""The compile cache: an unchanged mapping is not compiled again.

Compiling a profile (parsing with Lark, checking, planning, generating) takes a
tenth of a second or more, and importing the compiler as long again: most of a
small district's run. A clean compile (no diagnostics at all) is kept as the
generated module's source in the user's cache folder,
``$XDG_CACHE_HOME/rostermap/compiled`` (``~/.cache/rostermap/compiled``), and
nowhere else; ``ROSTERMAP_NO_CACHE=1`` turns the cache off.

An entry is found by a hash of the rostermap version, the compiler's own source
files, the mapping's path and text, and the folders imports are looked up in; it
holds the hash of every file the mapping is made of (its imports and what it
extends) and of the list of mapping files in those folders, and is used only when
all of them still match. What an entry holds is verified again by
``compiler.verify`` before it is executed, as on a fresh compile. A cache that
cannot be read or written is ignored: the mapping is compiled.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rostermap.compiler.version import VERSION
from rostermap.dsl.cachedir import cache_folder
from rostermap.dsl.span import Source

__all__ = ["Entry", "cache_dir", "lookup", "store"]

EXTENSION = ".rmap"
_PACKAGES = ("dsl", "compiler")  # the code that turns a mapping into a module
_FINGERPRINT: list[str] = []


def cache_dir() -> Path | None:
    """The folder compiled modules are kept in, or None when caching is off."""
    return cache_folder("compiled")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _compiler_fingerprint() -> str:
    """A hash of the compiler's own files: a change to the compiler is a new compiler,
    even before the version number says so."""
    if not _FINGERPRINT:
        root = Path(__file__).resolve().parents[2]  # the rostermap package
        digest = hashlib.sha256()
        for package in _PACKAGES:
            for path in sorted((root / package).rglob("*")):
                if path.suffix in (".py", ".lark", ".jinja") and path.is_file():
                    digest.update(path.relative_to(root).as_posix().encode() + b"\0")
                    digest.update(path.read_bytes() + b"\0")
        functions = root / "runtime" / "engine" / "functions.py"
        digest.update(b"runtime/engine/functions.py\0" + functions.read_bytes())
        _FINGERPRINT.append(digest.hexdigest())
    return _FINGERPRINT[0]


def _listing(folders: Sequence[Path]) -> str:
    """The mapping files an import could resolve to: a new one may shadow another."""
    names = []
    for folder in dict.fromkeys(folders):
        if folder.is_dir():
            names += [str(p) for p in sorted(folder.glob(f"*{EXTENSION}"))]
    return _sha("\0".join(names).encode("utf-8"))


def _key(path: Path, text: str, folders: Sequence[Path]) -> str:
    parts = [VERSION, _compiler_fingerprint(), str(path.resolve()), text,
             *(str(f.resolve()) for f in folders)]
    return _sha("\0".join(parts).encode("utf-8"))


def _folders(path: Path, dirs: Sequence[Path]) -> list[Path]:
    return [path.resolve().parent, *dirs]


@dataclass(frozen=True)
class Entry:
    """A cached compile: the module's source and the files the mapping is made of."""

    code: str
    sources: tuple[Source, ...]


def lookup(path: Path, text: str, dirs: Sequence[Path]) -> Entry | None:
    """The cached compile of the mapping at ``path`` (holding ``text``), if still valid."""
    folder = cache_dir()
    if folder is None:
        return None
    folders = _folders(path, dirs)
    try:
        entry = json.loads((folder / f"{_key(path, text, folders)}.json").read_text("utf-8"))
        if entry["listing"] != _listing(folders):
            return None
        sources: list[Source] = []
        for name, sha in entry["sources"]:
            data = text if not sources else Path(name).read_text(encoding="utf-8")
            if _sha(data.encode("utf-8")) != sha:
                return None
            sources.append(Source(data, name))
        return Entry(str(entry["code"]), tuple(sources))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store(path: Path, text: str, dirs: Sequence[Path], code: str,
          sources: Sequence[Source]) -> None:
    """Keep a clean compile; any failure to write leaves the cache as it was."""
    folder = cache_dir()
    if folder is None:
        return
    folders = _folders(path, dirs)
    entry = {
        "version": VERSION,
        "mapping": str(path),
        "listing": _listing(folders),
        "sources": [[s.name, _sha(s.text.encode("utf-8"))] for s in sources],
        "code": code,
    }
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".entry-", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(entry, out)
        os.replace(temporary, folder / f"{_key(path, text, folders)}.json")
    except OSError:
        return
