"""The compiler's pipeline: parse, check, plan, generate, verify.

``compile_mapping`` only chains the stages; each stage lives in its own module and
returns diagnostics instead of raising, so one run reports every problem.
"""

from __future__ import annotations

# The stage modules are imported as modules, so that `rostermap.compiler.plan` is always the
# planning module and never shadowed by a function of the same name.
from rostermap.compiler import check, codegen, plan, resolve, verify
from rostermap.compiler.resolve import FileResolver, Resolver
from rostermap.compiler.result import Compiled
from rostermap.dsl import parse
from rostermap.dsl.diagnostics import Diagnostic, has_errors
from rostermap.dsl.span import Source

__all__ = ["Compiled", "FileResolver", "Resolver", "compile_mapping", "compile_expression"]


def compile_mapping(
    text: str, filename: str = "<mapping>", resolver: Resolver | None = None
) -> Compiled:
    """Compile mapping text to the source of a Python module (when it has no errors).

    ``resolver`` finds the files that ``extends`` and ``import`` name; by default
    they are looked for next to ``filename``.
    """
    source = Source(text, filename)
    mapping, diagnostics = parse(text, filename)
    mapping, more, sources = resolve.resolve(mapping, source, resolver)
    diagnostics = [*diagnostics, *more]
    checked, more = check.check(mapping, source, diagnostics)
    diagnostics = [*diagnostics, *more]
    common = dict(sources=tuple(sources), effective=mapping)
    if checked is None or has_errors(diagnostics):
        return Compiled(source, tuple(diagnostics), checked, **common)  # type: ignore[arg-type]
    planned = plan.plan(checked)
    code = codegen.generate(planned)
    bytecode = verify.verify(code, verify.compiled_name(filename))
    return Compiled(source, tuple(diagnostics), checked, planned, code,
                    bytecode=bytecode, **common)  # type: ignore[arg-type]



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
