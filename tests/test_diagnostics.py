"""Golden diagnostics: one mapping file per diagnostic code, its rendering snapshotted.

Each file in tests/cases/diagnostics is named after the code it must raise. The
test checks the code is raised (so a case cannot silently drift to another error)
and snapshots the full rendered text, caret and help lines included.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rostermap.compiler import compile_mapping
from rostermap.dsl.codes import CODES
from rostermap.dsl.diagnostics import DataLocation, Diagnostic, Label, Severity, render, render_all
from rostermap.dsl.span import Source

CASES = sorted((Path(__file__).parent / "cases" / "diagnostics").glob("*.rmap"))


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden_diagnostic(case: Path, snapshot, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    # Cases name files they extend or import relative to themselves (in lib/).
    monkeypatch.chdir(case.parent.parent)
    text = case.read_text(encoding="utf-8")
    compiled = compile_mapping(text, f"{case.parent.name}/{case.name}")
    code = case.stem.split("_", 1)[0]
    assert code in {d.code for d in compiled.diagnostics}, render_all(
        compiled.diagnostics, compiled.source)
    assert render_all(compiled.diagnostics, compiled.source) == snapshot


def test_every_compile_time_code_has_a_golden_case() -> None:
    covered = {c.stem.split("_", 1)[0] for c in CASES}
    compile_time = {code for code in CODES if code[2] in "123"}
    assert compile_time - covered == set()


def test_errors_block_code_generation_and_warnings_do_not() -> None:
    failed = compile_mapping((CASES[0]).read_text(), "x")
    assert failed.code is None
    warned = compile_mapping(
        "profile p\noutput u.csv from users\n  where role = \"Teacher\"\n  id <- sourcedId\n")
    assert warned.code is not None
    assert [d.severity for d in warned.diagnostics] == [Severity.WARNING]


def test_did_you_mean_is_given_for_a_misspelt_field() -> None:
    compiled = compile_mapping("profile p\noutput u.csv from users\n  n <- givenname\n")
    (diagnostic,) = compiled.diagnostics
    assert diagnostic.code == "RM201"
    assert diagnostic.primary is not None
    assert (diagnostic.primary.span.line, diagnostic.primary.span.column) == (3, 8)
    assert "help: did you mean `givenName`?" in diagnostic.notes


def test_rendering_of_data_locations_and_json_form() -> None:
    where = DataLocation("users.csv", 4, "enabledUser")
    d = Diagnostic("RM407", "users.csv: bad value", location=where, notes=("note: lines 4",))
    assert render(d) == (
        "error[RM407]: users.csv: bad value\n"
        "  --> users.csv:4 (column enabledUser)\n"
        "  = note: lines 4"
    )
    assert d.to_dict() == {"code": "RM407", "severity": "error", "message": "users.csv: bad value",
                           "file": "users.csv", "line": 4, "field": "enabledUser",
                           "notes": ["note: lines 4"]}
    source = Source("abc\n\tdef\n", "m.rmap")
    span = source.span(5, 8)
    text = render(Diagnostic("RM201", "x", primary=Label(span, "here")), source)
    assert text.splitlines()[3:5] == ["2 |         def", "  |         ^^^ here"]


def test_unregistered_codes_are_refused() -> None:
    with pytest.raises(KeyError):
        Diagnostic("RM999", "nope")
