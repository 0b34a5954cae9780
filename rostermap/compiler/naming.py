"""The one place where mapping text becomes a Python identifier."""

from __future__ import annotations

import keyword
import re
import unicodedata

__all__ = ["mangle"]


def mangle(name: str, taken: set[str] | None = None) -> str:
    """A safe, readable identifier for ``name`` (``users.csv`` -> ``users_csv``).

    Every identifier the code generator derives from mapping text goes through
    here, so no mapping can smuggle code in through a name. ``taken`` keeps
    identifiers of one module distinct (``users.csv`` and ``users_csv``).
    """
    text = unicodedata.normalize("NFKC", name)
    text = re.sub(r"\W", "_", text, flags=re.ASCII).strip("_") or "output"
    if text[0].isdigit():
        text = f"_{text}"
    if keyword.iskeyword(text) or keyword.issoftkeyword(text):
        text = f"{text}_"
    candidate, n = text, 2
    while taken is not None and candidate in taken:
        candidate, n = f"{text}_{n}", n + 1
    if taken is not None:
        taken.add(candidate)
    assert candidate.isidentifier() and candidate.isascii(), candidate
    return candidate
