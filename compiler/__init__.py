"""The mapping compiler: parse, check, plan, generate, verify.

``compile_mapping`` (in ``compiler.pipeline``) only chains the stages; each stage
lives in its own module and returns diagnostics instead of raising, so one run
reports every problem. The pipeline is imported on first use: a run whose module
comes from the compile cache never needs it (issue 8: start-up time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from compiler.result import Compiled

if TYPE_CHECKING:
    from compiler.pipeline import compile_expression, compile_mapping
    from compiler.resolve import FileResolver, Resolver

__all__ = ["Compiled", "FileResolver", "Resolver", "compile_mapping", "compile_expression"]

_LAZY = {"compile_mapping": "compiler.pipeline", "compile_expression": "compiler.pipeline",
         "FileResolver": "compiler.resolve", "Resolver": "compiler.resolve"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'compiler' has no attribute {name!r}")
