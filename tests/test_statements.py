"""Statements for what the sync report must say: named drops, counters, rejects; and
parameters that are choices or files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rostermap.compiler import compile_mapping
from rostermap.runtime.errors import RunError, UsageError
from rostermap.runtime.report.model import to_json
from rostermap.runtime.run.pipeline import run
from tests.conftest import tiny_files

MAPPING = """profile p
param domains: list[str] = ["D.ORG"]
param mode: "strict" | "loose" = "strict"
param existing: table(id, email) = []

output users.csv from users
  where role in ("student", "teacher")
  where domain(email) in lower(domains) or mode = "loose" else warn "email domain not allowed"
  id <- sourcedId
  existing_id <- first(id of existing where lower(email) = lower(this.email))
  counter "teachers" if role = "teacher"
  counter "matched" if existing_id is not empty
  counter "all"
  reject "several existing users have this email"
    if count(id of existing where lower(email) = lower(this.email)) > 1

output classes.csv from classes
  reject "the class's school is missing" if not resolves(school)
  reject "a term is missing" if not resolves(terms)
  id <- sourcedId
"""


@pytest.fixture
def mapping(tmp_path: Path) -> Path:
    path = tmp_path / "p.rmap"
    path.write_text(MAPPING)
    return path


def test_mapping_compiles(mapping: Path) -> None:
    compiled = compile_mapping(mapping.read_text(), str(mapping))
    assert compiled.ok, [d.message for d in compiled.diagnostics]


def test_named_drops_counters_and_rejects(mapping: Path, tmp_path: Path,
                                         make_package: Callable[..., Path]) -> None:
    files = tiny_files()
    files["classes.csv"] = files["classes.csv"].replace(",s2,y1,", ",s9,y1,")
    existing = tmp_path / "existing.csv"
    existing.write_text("id,email,extra\nX1,TINA@d.org,z\nX2,sam@d.org,\nX3,Sam@D.org,\n")
    result = run(str(mapping), make_package(files), tmp_path / "out",
                 [f"existing={existing}"])
    report = to_json(result.report)
    assert (tmp_path / "out" / "users.csv").read_text() == "id,existing_id\nt1,X1\n"
    dropped = next(w for w in report["warnings"] if w["code"] == "RM422")
    assert dropped["records"] == ["users/u2"] and dropped["message"] == (
        "email domain not allowed")
    assert report["counters"] == {"users.csv": {"teachers": 1, "matched": 1, "all": 1}}
    assert [(j["record"], j["reason"]) for j in report["rejects"]] == [
        ("users/u1", "several existing users have this email"),
        ("classes/c2", "the class's school is missing"),
    ]
    assert (tmp_path / "out" / "classes.csv").read_text() == "id\nc1\n"


REASONS = """profile r
param existing: table(id, email) = []

output users.csv from users
  id <- sourcedId
  reject "teaches " + join(class.sourcedId of enrollments where user = this, ", ") +
         " as " + sourcedId
    if role = "teacher"
  reject join(class.sourcedId of enrollments where user = this and primary, ", ")
    if identifier = "S-2"
  counter "with existing" if existing is not empty
"""


def test_a_reject_reason_is_worked_out_for_each_record(tmp_path: Path,
                                                      make_package: Callable[..., Path]) -> None:
    mapping = tmp_path / "r.rmap"
    mapping.write_text(REASONS)
    existing = tmp_path / "existing.csv"
    existing.write_text("id,email\nX1,sam@d.org\n")
    result = run(str(mapping), make_package(), None, [f"existing={existing}"])
    report = to_json(result.report)
    assert [(j["record"], j["reason"], j["at"].rsplit(":", 1)[1]) for j in report["rejects"]] == [
        ("users/t1", "teaches c1 as t1", "6"),
        # a reason that comes out empty is the reason as written
        ("users/u2", 'join(class.sourcedId of enrollments where user = this and primary, ", ")',
         "9"),
    ]
    assert report["counters"]["users.csv"] == {"with existing": 1}
    # a table parameter without a file is empty
    result = run(str(mapping), make_package(name="again"), None)
    assert to_json(result.report)["counters"]["users.csv"] == {"with existing": 0}


def test_a_reject_reason_reads_no_personal_data() -> None:
    def codes(reason: str) -> list[str]:
        compiled = compile_mapping(
            "profile r\nparam existing: table(id, email) = []\n"
            "output o.csv from enrollments\n  id <- sourcedId\n"
            f"  reject {reason} if primary\n", "r.rmap")
        return [d.code for d in compiled.diagnostics]

    assert codes('"the teacher " + user.givenName') == ["RM329"]
    # a table parameter's columns are taken for personal data, as explain takes them
    assert codes('"existing " + first(id of existing where lower(email) = lower(this.user.email))'
                 ) == ["RM329"]
    # what only decides the reason is not in it; ids are
    assert codes('"row " + first(sourcedId of existing where lower(email) = lower(this.user.email))'
                 ' + " names " + user.sourcedId') == []
    assert codes('(if user.email = "" then "no email" else "an email")') == []


def test_optional_table_parameter_is_an_empty_table(mapping: Path,
                                                    make_package: Callable[..., Path]) -> None:
    result = run(str(mapping), make_package(), None, ["mode=loose"])
    users = result.outputs[0]
    assert users.frame.rows() == [("t1", ""), ("u1", ""), ("u2", "")]
    assert result.report.counters["users.csv"]["matched"] == 0


def test_choice_and_table_parameters_are_checked(mapping: Path, tmp_path: Path,
                                                 make_package: Callable[..., Path]) -> None:
    package = make_package()
    with pytest.raises(UsageError, match="did you mean 'loose'"):
        run(str(mapping), package, None, ["mode=lose"])
    with pytest.raises(RunError, match="no file"):
        run(str(mapping), package, None, [f"existing={tmp_path / 'nope.csv'}"])
    bad = tmp_path / "bad.csv"
    bad.write_text("id,mail\n1,a@b\n")
    with pytest.raises(RunError, match="has no column email"):
        run(str(mapping), package, None, [f"existing={bad}"])


def test_in_period_treats_the_end_as_excluded(tmp_path: Path,
                                              make_package: Callable[..., Path]) -> None:
    path = tmp_path / "d.rmap"
    path.write_text("profile d\nparam as_of: date = today()\n"
                    "output s.csv from academicSessions\n  where in_period(as_of, startDate, endDate)\n"
                    "  id <- sourcedId\n")
    package = make_package()
    on_last_day = run(str(path), package, None, ["as_of=2026-06-14"])
    on_end_date = run(str(path), package, None, ["as_of=2026-06-15"], allow_empty=True)
    assert on_last_day.outputs[0].frame.rows() == [("y1",)]
    assert on_end_date.outputs[0].frame.rows() == []
    assert run(str(path), package, None, today=__import__("datetime").date(2026, 1, 1)
               ).outputs[0].frame.rows() == [("y1",)]
