"""Rules on linked records, `else if` chains, output contracts and lists of choices,
stage by stage: the parser, the checker, the planner and generated code, the run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from rostermap.compiler import compile_mapping, ir
from rostermap.compiler import plan as p
from rostermap.dsl import nodes as n
from rostermap.dsl.format import format_text
from rostermap.dsl.parser import parse
from rostermap.runtime.engine.plans import Expect, Param
from rostermap.runtime.errors import RunError, UsageError
from rostermap.runtime.run.loader import parse_params
from rostermap.runtime.run.pipeline import run
from rostermap.runtime.sync.run import SyncOptions, sync
from tests.conftest import tiny_files

RULES = ('rule active = status in ("", "active")\n'
         "rule enabled = active and enabledUser != false\n")


def compiled(text: str) -> ir.CheckedMapping:
    result = compile_mapping(text, "t.rmap")
    assert result.checked is not None, [d.message for d in result.diagnostics]
    return result.checked


def codes_of(text: str) -> list[str]:
    return [d.code for d in compile_mapping(text, "t.rmap").diagnostics]


def column(checked: ir.CheckedMapping, output: str, name: str) -> ir.Expr:
    out = next(o for o in checked.outputs if o.name == output)
    return next(c.value for c in out.columns if c.name == name)


# --- parser ------------------------------------------------------------------------------


def test_expect_lines_parse_into_contracts() -> None:
    mapping, problems = parse(
        "profile t\noutput u.csv from users\n"
        '  expect status in ("active", "deleted")\n'
        "  expect id, login is not empty\n"
        "  expect id, role unique\n"
        "  expect rows >= 2\n"
        '  expect "rows" unique\n'
        "  id <- sourcedId\n")
    assert problems == []
    got = [(x.kind, tuple(c.name for c in x.columns), x.values, x.op, x.amount)
           for x in mapping.outputs[0].expects]
    assert got == [
        (n.Expectation.ALLOWED, ("status",), ("active", "deleted"), "", 0),
        (n.Expectation.FILLED, ("id", "login"), (), "", 0),
        (n.Expectation.UNIQUE, ("id", "role"), (), "", 0),
        (n.Expectation.COUNT, ("rows",), (), ">=", 2),
        (n.Expectation.UNIQUE, ("rows",), (), "", 0),  # a column named rows, quoted
    ]


def test_else_if_chains_parse_as_nested_ifs() -> None:
    mapping, problems = parse(
        "profile t\noutput u.csv from users\n"
        '  kind <- if role = "student" then "S"\n'
        '          else if role = "teacher" then "T"\n'
        '          else "O"\n')
    assert problems == []
    value = mapping.outputs[0].fields[0].value
    assert isinstance(value, n.If) and isinstance(value.orelse, n.If)
    assert isinstance(value.orelse.orelse, n.Literal) and value.orelse.orelse.value == "O"


@pytest.mark.parametrize(("arm", "wording"), [
    ("not active", "is a condition"),
    ('role = "x"', "is a condition"),
    ("student", "is a name"),
])
def test_a_match_arm_that_is_not_a_literal_is_rm332(arm: str, wording: str) -> None:
    text = f'profile t\noutput u.csv from users\n  k <- match true: {arm} -> "a", else -> "b"\n'
    _, problems = parse(text)
    (problem,) = problems
    assert problem.code == "RM332" and wording in problem.message
    assert problem.primary is not None
    assert text[problem.primary.span.start:problem.primary.span.end] == arm
    assert any("else if" in note for note in problem.notes)


def test_fmt_keeps_contracts_and_else_if_chains() -> None:
    text = ("profile t\n\noutput u.csv from users\n"
            "  key id\n"
            '  expect status in ("active", "deleted")\n'
            "  expect id unique\n"
            "  expect rows > 0\n"
            '  expect "rows" unique\n\n'
            "  id     <- sourcedId\n"
            "  rows   <- 1\n"
            '  status <- if status = "tobedeleted" then "deleted"\n'
            '            else if enabledUser = false then "suspended"\n'
            '            else if role in ("student", "teacher") then "active"\n'
            '            else "other"\n')
    assert format_text(text) == text


# --- checker -----------------------------------------------------------------------------


def test_a_rule_on_a_reference_reads_the_linked_record() -> None:
    checked = compiled(f"profile t\n{RULES}output e.csv from enrollments\n"
                       "  a <- class.active\n  b <- class.course.active\n"
                       "  c <- count(sourcedId of enrollments where class = this.class and "
                       "this.active)\n")
    a = column(checked, "e.csv", "a")
    assert isinstance(a, ir.InList)
    assert isinstance(a.item, ir.Deref) and (a.item.entity, a.item.name) == ("classes", "status")
    assert isinstance(a.item.ref, ir.FieldRead) and a.item.ref.name == "class"
    b = column(checked, "e.csv", "b")
    assert isinstance(b, ir.InList) and isinstance(b.item, ir.Deref)
    assert isinstance(b.item.ref, ir.Deref) and b.item.ref.name == "course"
    # inside a lookup, `this.active` is the outer record's status, not the looked-up one's
    lookup = column(checked, "e.csv", "c")
    assert isinstance(lookup, ir.Call) and isinstance(lookup.args[0], ir.Lookup)
    correlated = lookup.args[0].correlated
    assert correlated is not None and ir.scopes(correlated) == {1}


def test_nested_rules_and_definitions_apply_through_a_reference() -> None:
    checked = compiled(f"profile t\n{RULES}define label = concat(title, \"!\")\n"
                       "output e.csv from enrollments\n  a <- user.enabled\n"
                       "  b <- class.label\n")
    enabled = column(checked, "e.csv", "a")
    reads = {(x.entity, x.name) for x in _walk(enabled) if isinstance(x, ir.Deref)}
    assert reads == {("users", "status"), ("users", "enabledUser")}
    label = column(checked, "e.csv", "b")
    assert any(isinstance(x, ir.Deref) and x.name == "title" for x in _walk(label))


def _walk(e: ir.Expr) -> list[ir.Expr]:
    found = [e]
    for child in ir.children(e):
        found += _walk(child)
    return found


def test_a_rule_for_another_entity_is_rm330_with_the_entities_it_suits() -> None:
    result = compile_mapping('profile t\nrule teaching = role = "teacher" and primary\n'
                             "output e.csv from enrollments\n  t <- class.teaching\n", "t.rmap")
    (problem,) = result.diagnostics
    assert problem.code == "RM330"
    assert "applies to enrollments;" in problem.notes[1]


def test_a_rule_with_a_lookup_is_not_applied_through_a_reference() -> None:
    assert codes_of("profile t\nrule busy = exists(sourcedId of enrollments where class = this)\n"
                    "output e.csv from enrollments\n  b <- class.busy\n") == ["RM331"]


def test_a_misspelt_rule_on_a_reference_is_suggested() -> None:
    result = compile_mapping(f"profile t\n{RULES}output e.csv from enrollments\n"
                             "  a <- class.actve\n", "t.rmap")
    (problem,) = result.diagnostics
    assert problem.code == "RM201" and problem.notes == ("help: did you mean `active`?",)


def test_contracts_are_checked_against_the_output() -> None:
    checked = compiled("profile t\noutput u.csv from users\n  key id\n"
                       '  when missing deactivate with status = "deleted"\n'
                       '  expect status in ("active", "deleted")\n'
                       "  expect email is not empty\n  expect rows > 0\n"
                       '  id <- sourcedId\n  status <- "active"\n  email <- email\n')
    (out,) = checked.outputs
    assert [(c.kind, c.columns, c.personal) for c in out.contracts] == [
        ("in", ("status",), False), ("is not empty", ("email",), True), ("rows", (), False)]
    assert codes_of('profile t\noutput u.csv from users\n  expect stat in ("a")\n'
                    '  status <- "a"\n') == ["RM212"]
    assert codes_of("profile t\noutput u.csv from users\n  key id\n"
                    '  when missing deactivate with status = "gone"\n'
                    '  expect status in ("active", "deleted")\n'
                    '  id <- sourcedId\n  status <- "active"\n') == ["RM334"]
    assert codes_of("profile t\noutput u.csv from users\n  expect rows < 0\n"
                    "  id <- sourcedId\n") == ["RM335"]
    assert codes_of("profile t\noutput u.jsonl from users\n  expect orgs unique\n"
                    "  id <- sourcedId\n  orgs <- guidref(orgs)\n") == ["RM333"]


def test_a_child_profile_adds_its_contracts(tmp_path: Path) -> None:
    (tmp_path / "base.rmap").write_text(
        'profile base\noutput u.csv from users\n  expect id unique\n  id <- sourcedId\n',
        encoding="utf-8")
    child = tmp_path / "child.rmap"
    child.write_text("profile child\nextends base\noutput u.csv from users\n"
                     "  expect id is not empty\n", encoding="utf-8")
    result = compile_mapping(child.read_text(encoding="utf-8"), str(child))
    assert result.checked is not None, [d.message for d in result.diagnostics]
    assert [c.kind for c in result.checked.outputs[0].contracts] == ["unique", "is not empty"]


def test_a_list_of_choices_keeps_its_choices_and_checks_its_default() -> None:
    checked = compiled('profile t\nparam kinds: list["term" | "semester"] = ["term"]\n'
                       "output s.csv from academicSessions\n  where type in kinds\n"
                       "  id <- sourcedId\n")
    (param,) = checked.params
    assert param.choices == ("term", "semester") and param.default == ["term"]
    assert codes_of('profile t\nparam kinds: list["term" | "semester"] = ["trem"]\n'
                    "output s.csv from academicSessions\n  id <- sourcedId\n") == ["RM313"]


# --- planner and generated code -----------------------------------------------------------


def test_a_rule_on_a_reference_joins_the_linked_entity_for_its_fields() -> None:
    result = compile_mapping(f"profile t\n{RULES}output e.csv from enrollments\n"
                             "  where class.active and user.enabled\n  id <- sourcedId\n",
                             "t.rmap")
    assert result.plan is not None
    assert result.plan.reads["classes"] == ("sourcedId", "status")
    assert result.plan.reads["users"] == ("enabledUser", "sourcedId", "status")
    (out,) = result.plan.outputs
    joined = {s.entity for s in out.before if isinstance(s, p.JoinStep)}
    assert joined == {"classes", "users"}


def test_contracts_are_generated_into_the_module() -> None:
    result = compile_mapping('profile t\noutput u.csv from users\n'
                             '  expect status in ("active", "deleted")\n  expect rows > 0\n'
                             '  id <- sourcedId\n  status <- "active"\n', "t.rmap")
    assert result.code is not None
    namespace: dict[str, object] = {}
    exec(compile(result.code, "t.py", "exec"), namespace)  # the generated module, as loaded
    (build,) = namespace["OUTPUTS"]  # type: ignore[misc]
    assert build({}).expects == (
        Expect("in", 3, 'expect status in ("active", "deleted")', columns=("status",),
               values=("active", "deleted")),
        Expect("rows", 4, "expect rows > 0", op=">", amount=0),
    )


def test_list_items_are_checked_against_their_choices() -> None:
    kinds = Param("kinds", "list[str]", False, ["term"], 2, choices=("term", "semester"))
    assert parse_params([kinds], ["kinds=term, semester"])["kinds"] == ["term", "semester"]
    with pytest.raises(UsageError) as raised:
        parse_params([kinds], ["kinds=term,semster"])
    (problem,) = raised.value.diagnostics
    assert problem.code == "RM503" and "'semster'" in problem.message
    assert '"term", "semester"' in problem.message
    assert problem.notes == ("help: did you mean 'semester'?",)


# --- runtime -----------------------------------------------------------------------------

TODAY = dt.date(2026, 3, 2)
CONTRACTED = ("profile contracted\n\noutput users.csv from users\n  key id\n"
              '  expect kind in ("student", "teacher")\n'
              "  expect login is not empty\n\n"
              "  id    <- sourcedId\n  kind  <- role\n  login <- username\n")


def package(tmp_path: Path, name: str, users: str | None = None) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    files = tiny_files()
    if users is not None:
        files["users.csv"] = users
    for file, text in files.items():
        (folder / file).write_text(text, encoding="utf-8")
    return folder


def without_login(tiny_users: str) -> str:
    """The tiny package's users with u2's username removed."""
    return tiny_users.replace(",sue,", ",,")


def test_kept_contracts_write_the_files(tmp_path: Path) -> None:
    profile = tmp_path / "contracted.rmap"
    profile.write_text(CONTRACTED, encoding="utf-8")
    result = run(str(profile), package(tmp_path, "pkg"), tmp_path / "out", today=TODAY)
    assert result.report.outcome.exit_code == 0
    assert (tmp_path / "out" / "users.csv").exists()


def test_a_broken_contract_fails_the_run_naming_the_rows(tmp_path: Path) -> None:
    profile = tmp_path / "contracted.rmap"
    profile.write_text(CONTRACTED, encoding="utf-8")
    users = without_login(tiny_files()["users.csv"])
    with pytest.raises(RunError) as raised:
        run(str(profile), package(tmp_path, "pkg", users), tmp_path / "out", today=TODAY)
    (problem,) = raised.value.diagnostics
    assert problem.code == "RM471"
    assert problem.location is not None and str(problem.location) == "users.csv:4 (column login)"
    assert problem.notes[0] == "note: rows: line 4 (users/u2)"
    assert problem.notes[1] == ("note: the contract is contracted.rmap:6: "
                                "expect login is not empty")
    assert not (tmp_path / "out").exists()


def test_a_sync_whose_contract_breaks_publishes_and_commits_nothing(tmp_path: Path) -> None:
    profile = tmp_path / "contracted.rmap"
    profile.write_text(CONTRACTED, encoding="utf-8")
    out, options = tmp_path / "out", SyncOptions(state=tmp_path / "state.sqlite")
    first = sync(str(profile), package(tmp_path, "first"), out, (), options, today=TODAY)
    assert first.outcome.exit_code == 0
    published = (out / "users.csv").read_bytes()
    users = without_login(tiny_files()["users.csv"])
    with pytest.raises(RunError) as raised:
        sync(str(profile), package(tmp_path, "second", users), out, (), options, today=TODAY)
    assert [d.code for d in raised.value.diagnostics] == ["RM471"]
    assert (out / "users.csv").read_bytes() == published
    # the state is the first run's: the same source again changes nothing
    again = sync(str(profile), package(tmp_path, "third"), out, (), options, today=TODAY)
    assert again.outcome.exit_code == 0
    assert not (out / "changes" / "users.csv").exists() or (
        (out / "changes" / "users.csv").read_text(encoding="utf-8").count("\n") <= 1)
    assert (out / "users.csv").read_bytes() == published


def test_a_choice_outside_the_field_s_enumeration_is_warned_where_it_is_compared() -> None:
    result = compile_mapping('profile t\nparam kinds: list["term" | "semster"] = ["term"]\n'
                             "output s.csv from academicSessions\n  where type in kinds\n"
                             "  id <- sourcedId\n", "t.rmap")
    assert [(d.code, d.notes[0]) for d in result.diagnostics] == [
        ("RM311", 'help: did you mean "semester"?')]
