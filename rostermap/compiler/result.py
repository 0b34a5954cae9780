"""What compiling a mapping gives: a small record, importable without the compiler.

Kept apart from the pipeline so that a run whose compiled module comes from the
cache (``runtime.run.cache``) does not import the parser, the checker or the code
generator at all.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rostermap.dsl.diagnostics import Diagnostic, has_errors
from rostermap.dsl.span import Source

if TYPE_CHECKING:
    from rostermap.compiler import ir
    from rostermap.compiler.plan import Plan
    from rostermap.dsl import nodes as n

__all__ = ["Compiled"]


@dataclass(frozen=True)
class Compiled:
    """What compiling a mapping gave: always its diagnostics, and code when clean."""

    source: Source
    diagnostics: tuple[Diagnostic, ...]
    checked: ir.CheckedMapping | None = None
    plan: Plan | None = None
    code: str | None = None
    sources: tuple[Source, ...] = ()  # every file the mapping is made of, itself first
    effective: n.Mapping | None = None  # after extends and imports
    # ``code`` compiled, as ``compiler.verify`` checked it: what the loader executes
    bytecode: types.CodeType | None = field(default=None, compare=False, repr=False)

    @property
    def is_library(self) -> bool:
        return self.effective is not None and self.effective.library is not None

    @property
    def ok(self) -> bool:
        """No errors: a profile compiled to code, or a library whose definitions parse."""
        return not has_errors(self.diagnostics) and (self.code is not None or self.is_library)

