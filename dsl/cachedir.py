"""The user's cache folder for rostermap, shared by the grammar and compile caches.

Both hold what rostermap would otherwise rebuild on every run: Lark's parse tables
for the grammar (``dsl.parser``) and compiled modules (``runtime.cache``). They live
in the user's own cache folder, created private (0700), and never in a shared
temporary folder: Lark's cache is a pickle, which must not be loaded from a place
another user can write to.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_folder"]


def cache_folder(name: str) -> Path | None:
    """``$XDG_CACHE_HOME/rostermap/NAME`` (``~/.cache/rostermap/NAME``), or None when
    caching is off (``ROSTERMAP_NO_CACHE=1``)."""
    if os.environ.get("ROSTERMAP_NO_CACHE", "") not in ("", "0"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rostermap" / name
