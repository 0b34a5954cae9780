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
PAGES = {doc.name: re.findall(r"```rmap\n(.*?)```", doc.read_text(encoding="utf-8"),
                              flags=re.DOTALL)
         for doc in sorted(DOCS.glob("*.md"))}
BLOCKS = [(page, block) for page, blocks in PAGES.items() for block in blocks]
BUILTIN = Path(__file__).resolve().parent.parent / "rostermap" / "mappings"
EXAMPLES = [(f.name, expr, expected) for f in REGISTRY.values() for expr, expected in f.examples]


def test_every_page_with_examples_is_checked() -> None:
    assert {page for page, blocks in PAGES.items() if blocks} >= {"language.md", "cookbook.md"}


@pytest.mark.parametrize(("page", "block"), BLOCKS,
                         ids=[f"{page}-{i}" for i, (page, _) in enumerate(BLOCKS)])
def test_documentation_examples_compile(page: str, block: str, tmp_path: Path) -> None:
    # Blocks that start with `# file: NAME` are files of one example; each block is
    # compiled where the page's files all are, so extends and import find each other;
    # the shipped library (oneroster-common) is found as a run finds it.
    for other in PAGES[page]:
        if other.startswith("# file: "):
            (tmp_path / other.split("\n", 1)[0][8:].strip()).write_text(other)
    name = block.split("\n", 1)[0][8:].strip() if block.startswith("# file: ") else "doc.rmap"
    compiled = compile_mapping(block, str(tmp_path / name), FileResolver([BUILTIN]))
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
