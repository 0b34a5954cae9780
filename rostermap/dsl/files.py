"""Reading a mapping file, apart from parsing it.

A run whose compiled module comes from the compile cache reads the mapping's text
(to know it is unchanged) without importing the parser; so reading, and its
diagnostic, live here rather than in ``compiler.resolve``.
"""

from __future__ import annotations

from pathlib import Path

from rostermap.dsl import codes
from rostermap.dsl.diagnostics import DiagnosticError

__all__ = ["read_mapping"]


def read_mapping(path: Path) -> str:
    """A mapping file's text; DiagnosticError (RM506) if it cannot be read or is not UTF-8."""
    try:
        data = path.read_bytes()
    except OSError as error:
        unreadable = codes.unreadable_mapping(str(path), str(error.strerror))
        raise DiagnosticError([unreadable]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        not_utf8 = codes.mapping_not_utf8(str(path), data[error.start], line)
        raise DiagnosticError([not_utf8]) from None
