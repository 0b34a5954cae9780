"""`rostermap explain`: what the mapping did to one record, and why."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from rostermap.cli.main import main
from rostermap.runtime.errors import UsageError
from rostermap.runtime.run.explain import HIDDEN, explain, render
from tests.conftest import EXAMPLE, MAPPINGS, ROOT

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
    assert users.columns == []


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
