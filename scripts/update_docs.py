"""Regenerate the documentation that is derived from the code.

    python scripts/update_docs.py

docs/diagnostics.md comes from dsl/codes.py and the function table of
docs/language.md from runtime/functions.py; tests/test_docs.py fails when either
is stale, so run this after adding a code or a function.
"""

from __future__ import annotations

import re
from pathlib import Path

from dsl.codes import markdown
from runtime.functions import reference_markdown

DOCS = Path(__file__).resolve().parent.parent / "docs"
FUNCTIONS = re.compile(r"(<!-- functions:begin[^\n]*-->\n).*?(<!-- functions:end -->)", re.S)


def functions_section(text: str) -> str:
    """``text`` (docs/language.md) with the function table regenerated."""
    return FUNCTIONS.sub(lambda m: m.group(1) + reference_markdown() + m.group(2), text)


def main() -> None:
    (DOCS / "diagnostics.md").write_text(markdown(), encoding="utf-8")
    language = DOCS / "language.md"
    language.write_text(functions_section(language.read_text(encoding="utf-8")),
                        encoding="utf-8")


if __name__ == "__main__":
    main()
