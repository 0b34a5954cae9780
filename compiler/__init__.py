"""The mapping compiler: parse, check, plan, generate, verify.

``compile_mapping`` only chains the stages; each stage lives in its own module and
returns diagnostics instead of raising, so one run reports every problem.
"""

from __future__ import annotations

from dataclasses import dataclass

# The stage modules are imported as modules, so that `compiler.plan` is always the
# planning module and never shadowed by a function of the same name.
from compiler import check, codegen, ir, plan, verify
from compiler.plan import Plan
from dsl import parse
from dsl.diagnostics import Diagnostic, has_errors
from dsl.span import Source

__all__ = ["Compiled", "compile_mapping"]


@dataclass(frozen=True)
class Compiled:
    """What compiling a mapping gave: always its diagnostics, and code when clean."""

    source: Source
    diagnostics: tuple[Diagnostic, ...]
    checked: ir.CheckedMapping | None = None
    plan: Plan | None = None
    code: str | None = None

    @property
    def ok(self) -> bool:
        return self.code is not None


def compile_mapping(text: str, filename: str = "<mapping>") -> Compiled:
    """Compile mapping text to the source of a Python module (when it has no errors)."""
    source = Source(text, filename)
    mapping, diagnostics = parse(text, filename)
    checked, more = check.check(mapping, source, diagnostics)
    diagnostics = [*diagnostics, *more]
    if checked is None or has_errors(diagnostics):
        return Compiled(source, tuple(diagnostics), checked)
    planned = plan.plan(checked)
    code = codegen.generate(planned)
    verify.verify(code, f"<compiled {filename}>")
    return Compiled(source, tuple(diagnostics), checked, planned, code)


def compile_expression(text: str) -> tuple[str | None, tuple[Diagnostic, ...]]:
    """The polars source of an expression that reads no record (constants, functions).

    Used by the function library's examples and by the language reference's checks,
    so that what the documentation shows is what the compiler does.
    """
    wrapped = f"profile expression\nrule value = {text}\n"
    mapping, diagnostics = parse(wrapped, "<expression>")
    if has_errors(diagnostics) or not mapping.rules:
        return None, tuple(diagnostics)
    bound, more = check.check_expression(mapping.rules[0].body, mapping,
                                         Source(wrapped, "<expression>"))
    found = (*diagnostics, *more)
    if has_errors(found):
        return None, found
    return codegen.emit_expression(bound), found
