"""Regenerate the documentation that is derived from the code.

    python scripts/update_docs.py

docs/diagnostics.md comes from the entries of dsl/codes/, the function table of
docs/language.md from runtime/engine/functions.py, docs/report.schema.json from
runtime/report/model.py, and the editors' TextMate grammar from dsl/grammar.lark;
tests fail when any is stale, so run this after adding a code, a function, a report
field or a keyword.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from rostermap.compiler.check import functions_taking_lists
from rostermap.compiler.textmate import render as textmate
from rostermap.dsl.codes import markdown
from rostermap.dsl.schema import reference_markdown as entities_markdown
from rostermap.runtime.engine.functions import reference_markdown
from rostermap.runtime.report.model import schema as report_schema
from rostermap.runtime.report.push_report import schema as push_report_schema

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TEXTMATE = ROOT / "editors" / "vscode" / "rostermap.tmLanguage.json"
def _section(name: str, text: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {name}:begin[^\n]*-->\n).*?(<!-- {name}:end -->)", re.S)
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text)


def _inline(name: str, text: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {name}:begin -->).*?(<!-- {name}:end -->)", re.S)
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text)


def functions_section(text: str) -> str:
    """``text`` (docs/language.md) with its generated sections regenerated."""
    text = _section("entities", text, entities_markdown())
    text = _inline("list-functions", text,
                   ", ".join(f"`{name}`" for name in functions_taking_lists()))
    return _section("functions", text, reference_markdown())


def main() -> None:
    (DOCS / "diagnostics.md").write_text(markdown(), encoding="utf-8")
    language = DOCS / "language.md"
    language.write_text(functions_section(language.read_text(encoding="utf-8")),
                        encoding="utf-8")
    TEXTMATE.write_text(textmate(), encoding="utf-8")
    (DOCS / "report.schema.json").write_text(json.dumps(report_schema(), indent=2) + "\n",
                                             encoding="utf-8")
    (DOCS / "push-report.schema.json").write_text(
        json.dumps(push_report_schema(), indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
