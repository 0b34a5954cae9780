"""The mapping language: grammar, parser, syntax tree and diagnostics."""

from dsl.diagnostics import Diagnostic, DiagnosticError, Severity, render, render_all
from dsl.parser import parse
from dsl.span import Source, Span

__all__ = ["Diagnostic", "DiagnosticError", "Severity", "Source", "Span", "parse", "render",
           "render_all"]
