"""The documentation is checked: its examples compile, its tables match the code."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from rostermap.compiler import FileResolver, compile_expression, compile_mapping
from rostermap.dsl.codes import markdown
from rostermap.runtime.engine import functions
from rostermap.runtime.engine.functions import REGISTRY
from scripts.update_docs import functions_section

DOCS = Path(__file__).resolve().parent.parent / "docs"
LANGUAGE = (DOCS / "language.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```rmap\n(.*?)```", LANGUAGE, flags=re.DOTALL)
EXAMPLES = [(f.name, expr, expected) for f in REGISTRY.values() for expr, expected in f.examples]


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_language_examples_compile(block: str, tmp_path: Path) -> None:
    # Blocks that start with `# file: NAME` are files of one example; each block is
    # compiled where they all are, so extends and import find each other.
    for other in BLOCKS:
        if other.startswith("# file: "):
            (tmp_path / other.split("\n", 1)[0][8:].strip()).write_text(other)
    name = block.split("\n", 1)[0][8:].strip() if block.startswith("# file: ") else "doc.rmap"
    compiled = compile_mapping(block, str(tmp_path / name), FileResolver())
    assert compiled.ok, [d.message for d in compiled.diagnostics]
    assert not compiled.diagnostics


def evaluate(expression: str) -> Any:
    code, diagnostics = compile_expression(expression)
    assert code is not None, [d.message for d in diagnostics]
    params = {"@today": dt.date(2026, 11, 25)}
    expr = eval(code, {"pl": pl, "fn": functions, "col": pl.col, "p": params})  # noqa: S307
    value = pl.select(expr.alias("v")).item()
    return value.to_list() if isinstance(value, pl.Series) else value


@pytest.mark.parametrize(("function", "expression", "expected"), EXAMPLES,
                         ids=[e[1] for e in EXAMPLES])
def test_function_examples(function: str, expression: str, expected: Any) -> None:
    assert evaluate(expression) == expected


def test_every_function_has_a_doc_and_an_example() -> None:
    for name, fn in REGISTRY.items():
        assert fn.examples or fn.compiled, name  # resolves() is tested on records
        assert fn.doc, name


def test_generated_documentation_is_current() -> None:
    """Run `python scripts/update_docs.py` when this fails."""
    assert (DOCS / "diagnostics.md").read_text(encoding="utf-8") == markdown()
    assert functions_section(LANGUAGE) == LANGUAGE
