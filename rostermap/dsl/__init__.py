"""The mapping language: grammar, parser, syntax tree and diagnostics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rostermap.dsl.diagnostics import Diagnostic, DiagnosticError, Severity, render, render_all
from rostermap.dsl.span import Source, Span

if TYPE_CHECKING:
    from rostermap.dsl.parser import parse

__all__ = ["Diagnostic", "DiagnosticError", "Severity", "Source", "Span", "parse", "render",
           "render_all"]


def __getattr__(name: str) -> Any:
    # The parser (Lark and the grammar) is imported on first use: reading a
    # diagnostic or a span does not need it, nor does a run from the compile cache.
    if name == "parse":
        from rostermap.dsl.parser import parse

        return parse
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
