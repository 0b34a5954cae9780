"""Reading a mapping file, apart from parsing it.

A run whose compiled module comes from the compile cache reads the mapping's text
(to know it is unchanged) without importing the parser; so reading, and its
diagnostic, live here rather than in ``compiler.resolve``.
"""

from __future__ import annotations

from pathlib import Path

from rostermap.dsl.diagnostics import DataLocation, Diagnostic, DiagnosticError

__all__ = ["read_mapping"]


def read_mapping(path: Path) -> str:
    """A mapping file's text; DiagnosticError (RM506) if it cannot be read or is not UTF-8."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DiagnosticError([Diagnostic(
            "RM506", f"cannot read the mapping file `{path}`: {error.strerror}",
            location=DataLocation(str(path)))]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DiagnosticError([Diagnostic(
            "RM506", f"{path} is not UTF-8 (byte 0x{data[error.start]:02x} at line {line})",
            location=DataLocation(str(path), line),
            notes=("help: save the mapping file as UTF-8",))]) from None
