"""The mapping compiler: parse, check, plan, generate, verify.

``compile_mapping`` (in ``compiler.pipeline``) only chains the stages; each stage
lives in its own module and returns diagnostics instead of raising, so one run
reports every problem. The pipeline is imported on first use: a run whose module
comes from the compile cache never needs it, and starts faster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rostermap.compiler.result import Compiled

if TYPE_CHECKING:
    from rostermap.compiler.pipeline import compile_expression, compile_mapping
    from rostermap.compiler.resolve import FileResolver, Resolver

__all__ = ["Compiled", "FileResolver", "Resolver", "compile_mapping", "compile_expression"]

_LAZY = {"compile_mapping": "pipeline", "compile_expression": "pipeline",
         "FileResolver": "resolve", "Resolver": "resolve"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
