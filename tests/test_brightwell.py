"""The made-up vendor profile written from docs/language.md alone: it
compiles without a warning and runs on the example district."""

from __future__ import annotations

from pathlib import Path

from rostermap.compiler import compile_mapping
from rostermap.runtime.run.pipeline import run
from tests.conftest import EXAMPLE, ROOT

PROFILE = ROOT / "examples" / "brightwell" / "brightwell.rmap"


def test_profile_checks_clean() -> None:
    compiled = compile_mapping(PROFILE.read_text(), str(PROFILE))
    assert compiled.ok and compiled.diagnostics == ()


def test_outputs(tmp_path: Path, text_snapshot) -> None:  # type: ignore[no-untyped-def]
    result = run(str(PROFILE), EXAMPLE, tmp_path, ["year=2026"])
    names = [p.name for p in result.files]
    assert names == ["teachers.csv", "students.csv", "sections.csv", "section_students.csv",
                     "report.json", "report.html"]
    for path in result.files[:-2]:
        assert path.read_text() == text_snapshot(name=path.name)


def test_excluding_the_middle_school(tmp_path: Path) -> None:
    both = run(str(PROFILE), EXAMPLE, None, ["year=2026"]).report.outputs
    some = run(str(PROFILE), EXAMPLE, None, ["year=2026", "excluded_schools=295185064191"]
               ).report.outputs
    assert both["students.csv"].rows == 86 and some["students.csv"].rows == 52
    assert both["sections.csv"].rows == 11 and some["sections.csv"].rows == 6
