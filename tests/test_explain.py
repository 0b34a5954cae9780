"""`rostermap explain`: what the mapping did to one record, and why."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from rostermap.cli.main import main
from rostermap.devtools.generate import generate
from rostermap.runtime.errors import UsageError
from rostermap.runtime.run.explain import HIDDEN, Fate, explain, render
from tests.conftest import EXAMPLE, MAPPINGS, ROOT
from tests.test_explain_run import check, run_and_explain

PARAMS = ["year=2026", "google_domain=willowsprings.k12.us"]


@pytest.fixture(autouse=True)
def at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


@pytest.mark.parametrize("record", ["users/stu-1", "users/par-8", "classes/cls-10",
                                    "enrollments/enr-1"])
def test_explanations(record: str, snapshot) -> None:  # type: ignore[no-untyped-def]
    assert render(explain("powerschool-learning", EXAMPLE, record, PARAMS)) == snapshot


def test_dropped_record_names_the_rule_and_the_values_it_read() -> None:
    e = explain("powerschool-learning", EXAMPLE, "users/stu-1", [*PARAMS, "schools=sch-2"])
    users = e.outputs[0]
    assert users.dropped_by is not None
    assert users.dropped_by.text == "where schools is empty or any of orgs in schools"
    assert dict(users.dropped_by.values) == {"orgs": "['sch-1']", "schools": "['sch-2']"}
    assert users.columns == ()
    assert users.fate is Fate.DROPPED and not users.dependencies


def test_personal_data_is_hidden_unless_asked() -> None:
    hidden = explain("powerschool-learning", EXAMPLE, "users/stu-1", PARAMS)
    values = {c.name: c.value for c in hidden.outputs[0].columns}
    assert values["first_name"] == HIDDEN and values["email"] == HIDDEN
    assert values["user_type"] == "'S'"
    # user_id may be an import_id of the live_accounts table, which explain takes for
    # personal data (a table parameter's columns are not in the data model)
    assert values["user_id"] == HIDDEN
    shown = explain("powerschool-learning", EXAMPLE, "users/stu-1", PARAMS, show_pii=True)
    shown_values = {c.name: c.value for c in shown.outputs[0].columns}
    assert shown_values["first_name"] == "'Arjun'" and shown_values["user_id"] == "'stu-1'"


def test_rejected_column_is_shown(tmp_path: Path) -> None:
    mapping = tmp_path / "m.rmap"
    mapping.write_text("profile m\noutput o.csv from classes\n  id <- sourcedId\n"
                       "  n <- number(classCode)\n")
    e = explain(str(mapping), EXAMPLE, "classes/cls-10")
    (column,) = [c for c in e.outputs[0].columns if c.name == "n"]
    assert column.rejected == "number(classCode) cannot read the record's value"
    assert "REJECTED" in render(e)


def test_unknown_record_and_bad_record_syntax() -> None:
    with pytest.raises(UsageError, match="no record with sourcedId `nobody`"):
        explain("powerschool-learning", EXAMPLE, "users/nobody", PARAMS)
    with pytest.raises(UsageError, match="did you mean `users/stu-1`"):
        explain("powerschool-learning", EXAMPLE, "user/stu-1", PARAMS)
    result = CliRunner().invoke(main, ["explain", "powerschool-learning", "--source",
                                       str(EXAMPLE), "--record", "users/nobody", *sum(
                                           (["--param", p] for p in PARAMS), [])])
    assert result.exit_code == 2 and "error[RM505]" in result.stderr


@pytest.mark.parametrize("given, meant", [
    ("STU-1", "stu-1"), (" stu-1 ", "stu-1"), ("stu-1000", "stu-100"), ("zzz", None)])
def test_a_sourcedid_not_found_suggests_a_near_one(given: str, meant: str | None) -> None:
    with pytest.raises(UsageError) as raised:
        explain("powerschool-learning", EXAMPLE, f"users/{given}", PARAMS)
    (diagnostic,) = raised.value.diagnostics
    hint = f"help: did you mean `users/{meant}`?"
    assert diagnostic.notes == ((hint,) if meant else ())


def test_lookup_in_a_table_parameter_is_explained_and_hidden() -> None:
    """A table parameter (the product's own users) is not in the data model: its
    values are treated as personal data."""
    existing = "existing=tests/cases/districts/linewize/existing-users.csv"
    e = explain("linewize", EXAMPLE, "users/stu-1", ["merge_key=email", existing])
    users = e.outputs[0]
    assert users.dropped_by is None
    values = {c.name: c.value for c in users.columns}
    assert values["existing_id"] == HIDDEN and values["school_id"] == "'sch-1'"


def test_for_each_outputs_are_explained_row_by_row_and_secrets_never_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # powerschool-sis: parent_child.csv has `for each other in agents` (explain runs its
    # steps too), and users.csv's password is the secret parameter default_password.
    monkeypatch.setenv("ROSTERMAP_PARAM_DEFAULT_PASSWORD", "explain-secret-77")
    result = CliRunner().invoke(main, ["explain", "powerschool-sis", "--source", str(EXAMPLE),
                                       "--record", "users/par-3", "--param",
                                       "start_year=2020"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("parent_child.csv for other = ") == 2
    assert "explain-secret-77" not in result.stdout
    alone = CliRunner().invoke(main, ["explain", "powerschool-sis", "--source", str(EXAMPLE),
                                      "--record", "users/tch-3", "--param", "start_year=2020"])
    mapping = (MAPPINGS / "powerschool-sis.rmap").read_text(encoding="utf-8").splitlines()
    line = mapping.index("output parent_child.csv from users") + 1
    assert f"parent_child.csv  (mapping line {line}): no row (its `for each` list is empty)" \
        in alone.stdout


# --- explain gives the run's answer -------------------------------------------------------


def _district(tmp_path: Path, **edits: dict[str, dict[str, str]]) -> Path:
    """A generated district (20 students), with these records' columns changed:
    ``edits[file][sourcedId] = {column: value}``."""
    root = tmp_path / "district"
    generate(root, students=20, seed=3)
    for name, records in edits.items():
        path = root / f"{name}.csv"
        with path.open(encoding="utf-8-sig", newline="") as file:
            rows = list(csv.DictReader(file))
        for row in rows:
            row.update(records.get(row["sourcedId"], {}))
        with path.open("w", encoding="utf-8", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return root


def _mapping_line(profile: str, text: str) -> int:
    lines = (MAPPINGS / f"{profile}.rmap").read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_a_record_the_run_rejected_is_explained_as_rejected_and_what_needs_it_left_out(
    tmp_path: Path,
) -> None:
    """Canvas: two logins alike but for case are both rejected (the run exits 3), and
    the enrollments of those users are left out for them."""
    root = _district(tmp_path, users={"stu-2": {"username": "IMANI.BAKER"}})
    explained, results, distinct = run_and_explain("canvas", root, [], ["users/stu-2",
                                                                         "enrollments/enr-23"])
    for e in explained:
        check(e, results, distinct)
    student, enrollment = explained[:2]
    users = next(o for o in student.outputs if o.output == "users.csv")
    line = _mapping_line("canvas", 'reject "login_id used by another user')
    assert users.fate is Fate.REJECTED
    assert [(j.line, j.reason) for j in users.rejects] == [
        (line, "login_id used by another user (ignoring case)")]
    text = render(student)
    assert f"users.csv  (mapping line {users.line}): rejected by line {line}: login_id used" \
        in text
    assert "written" not in text.split("user_observers.csv")[0]
    (rosters,) = enrollment.outputs
    assert rosters.fate is Fate.LEFT_OUT
    (because,) = rosters.dependencies
    assert (because.record, because.output, because.fate) == ("users/stu-2", "users.csv",
                                                               Fate.REJECTED)
    assert because.why == f"rejected by line {line}: login_id used by another user (ignoring case)"
    result = CliRunner().invoke(main, ["run", "canvas", "--source", str(root), "--out",
                                       str(tmp_path / "out"), "--no-state", "--quiet"])
    assert result.exit_code == 3, result.output


def test_a_chain_of_records_left_out_is_followed_to_its_start(  # type: ignore[no-untyped-def]
        tmp_path: Path, text_snapshot) -> None:
    """lingco: a session that does not start before it ends is rejected; a class of
    that term is rejected for it (found by a lookup), and an enrollment in that class
    for the class."""
    root = _district(tmp_path, academicSessions={
        "as-2026-s1": {"startDate": "2026-01-10", "endDate": "2025-08-18"}})
    records = ["academicSessions/as-2026-s1", "classes/cls-1", "enrollments/enr-1"]
    explained, results, distinct = run_and_explain("lingco", root, [], records)
    for e in explained:
        check(e, results, distinct)
    session, klass, enrollment = (e.outputs[0] for e in explained[:3])
    assert session.fate is Fate.REJECTED and not session.dependencies
    assert [j.reason for j in session.rejects] == ["the session does not start before it ends"]
    assert klass.fate is Fate.LEFT_OUT
    (term,) = klass.dependencies
    assert term.record == "academicSessions/as-2026-s1" and term.fate is Fate.REJECTED
    # the lookup that found it: the line after the reject's own (its `if exists(...`)
    assert term.through == _mapping_line("lingco", 'reject "a term of the class was rejected"') + 1
    assert enrollment.fate is Fate.LEFT_OUT
    (of_class,) = enrollment.dependencies
    assert (of_class.record, of_class.fate) == ("classes/cls-1", Fate.LEFT_OUT)
    assert [d.record for d in of_class.because] == ["academicSessions/as-2026-s1"]
    assert "\n\n".join(render(e) for e in explained[:3]) == text_snapshot


def test_each_column_shows_what_its_expression_read() -> None:
    e = explain("powerschool-learning", EXAMPLE, "users/stu-1", PARAMS)
    columns = {c.name: c for c in e.outputs[0].columns}
    assert columns["user_type"].inputs == (("role", "'student'"),)
    assert columns["organization_id"].inputs == (("orgs", "['sch-1']"),)
    assert columns["first_name"].inputs == ()  # a field as is: its value says it all


def test_several_records_in_one_run_on_the_command_line() -> None:
    result = CliRunner().invoke(main, ["explain", "powerschool-learning", "--source",
                                       str(EXAMPLE), "--record", "users/stu-1", "--record",
                                       "users/par-8", *sum((["--param", p] for p in PARAMS), [])])
    assert result.exit_code == 0, result.output
    assert "users/stu-1  (users.csv line 22)" in result.stdout
    assert "users/par-8  (users.csv line 44)" in result.stdout
    line = _mapping_line("powerschool-learning", "output users_custom.csv")
    assert (f"users_custom.csv  (mapping line {line}): left out: users/par-8 is not in "
            "users.csv") in result.stdout


def test_json_output_holds_the_same_verdicts(tmp_path: Path) -> None:
    root = _district(tmp_path, users={"stu-2": {"username": "IMANI.BAKER"}})
    result = CliRunner().invoke(main, ["explain", "canvas", "--source", str(root), "--record",
                                       "enrollments/enr-23", "--format", "json"])
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)
    (enrollments,) = record["outputs"]
    assert enrollments["fate"] == "left out"
    (because,) = enrollments["dependencies"]
    assert (because["record"], because["output"], because["fate"]) == (
        "users/stu-2", "users.csv", "rejected")
    assert {"name": "in users.csv", "value": "false"} in enrollments["rules"][-1]["values"]
    assert enrollments["summary"].startswith("left out: users/stu-2 is not in users.csv")


def test_a_reject_that_cascades_through_parents_names_the_parent(tmp_path: Path) -> None:
    """lingco: a semester without a title is rejected, and its grading periods for it
    (a `reject` reading the parent's fields, not a membership test)."""
    root = _district(tmp_path, academicSessions={"as-2026-s1": {"title": ""}})
    explained, results, distinct = run_and_explain("lingco", root, [],
                                                   ["academicSessions/as-2026-q1"])
    for e in explained:
        check(e, results, distinct)
    (quarter,) = explained[0].outputs
    assert quarter.fate is Fate.LEFT_OUT
    assert [j.reason for j in quarter.rejects] == ["the parent session was rejected"]
    (parent,) = quarter.dependencies
    assert (parent.record, parent.fate) == ("academicSessions/as-2026-s1", Fate.REJECTED)
    assert parent.why == (f"rejected by line {_mapping_line('lingco', 'the session has no title')}"
                          ": the session has no title")
    assert "... and 18 more (--format json lists them)" in render(explained[0])


def test_the_example_in_the_docs_is_what_explain_prints(tmp_path: Path) -> None:
    language = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    block = language.split("  enrollments.jsonl  (mapping line", 1)[1].split("  ```", 1)[0]
    shown = [line[2:] for line in ("  enrollments.jsonl  (mapping line" + block).splitlines()
             if line.strip() and line.strip() != "..."]
    root = _district(tmp_path, academicSessions={
        "as-2026-s1": {"startDate": "2026-01-10", "endDate": "2025-08-18"}})
    printed = render(explain("lingco", root, "enrollments/enr-1")).splitlines()
    assert [line for line in shown if line not in printed] == []
