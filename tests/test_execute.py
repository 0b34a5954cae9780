"""Running plans over typed tables: steps, rule counts, text output, failures."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from rostermap.compiler import compile_mapping
from rostermap.runtime.engine.execute import OutputResult, _branch, _column, run_outputs, settled
from rostermap.runtime.engine.plans import Column, Output, Rule, col
from rostermap.runtime.engine.tables import LINE, Tables
from rostermap.runtime.errors import RunError
from rostermap.runtime.run.loader import load_mapping


def tables(**frames: dict[str, list[Any]]) -> Tables:
    built = {}
    for name, data in frames.items():
        frame = pl.DataFrame(data)
        built[name] = frame.with_columns(pl.int_range(2, frame.height + 2).alias(LINE))
    return Tables("1.1", built, {n: f"{n}.csv" for n in built})


def run_text(text: str, data: Tables, params: dict[str, Any] | None = None
             ) -> dict[str, OutputResult]:
    compiled = compile_mapping("profile t\n" + text, "t.rmap")
    assert compiled.code is not None, [d.message for d in compiled.diagnostics]
    namespace: dict[str, Any] = {}
    exec(compile(compiled.code, "t", "exec"), namespace)  # noqa: S102

    class Module:
        OUTPUTS = namespace["OUTPUTS"]

    return {r.name: r for r in run_outputs(Module, data, params or {})}  # type: ignore[arg-type]


ENROLLMENTS = {
    "sourcedId": ["e1", "e2", "e3", "e4", "e5"],
    "class": ["c1", "c1", "c1", "c2", "c9"],
    "user": ["u2", "u1", "u3", "u1", "u1"],
    "role": ["teacher", "teacher", "student", "student", "student"],
    "primary": [True, None, None, None, None],
}
CLASSES = {"sourcedId": ["c1", "c2"], "title": ["Algebra", "Art"],
           "school": ["s1", None], "grades": [["09", "10"], []]}
ORGS = {"sourcedId": ["s1"], "name": ["North"], "parent": ["d1"]}


def test_lookup_aggregates() -> None:
    data = tables(classes=CLASSES, enrollments=ENROLLMENTS)
    result = run_text(
        "output o.csv from classes\n"
        "  id <- sourcedId\n"
        "  first <- first(user.sourcedId of enrollments where class = this)\n"
        "  last <- last(user.sourcedId of enrollments where class = this)\n"
        "  lowest <- min(user.sourcedId of enrollments where class = this)\n"
        "  n <- count(sourcedId of enrollments where class = this)\n"
        "  teachers <- count(sourcedId of enrollments where class = this and role = \"teacher\")\n"
        "  any <- exists(sourcedId of enrollments where class = this and primary)\n"
        "  all <- join(user.sourcedId of enrollments where class = this, \";\")\n",
        data,
    )["o.csv"]
    assert result.frame.rows() == [
        ("c1", "u2", "u3", "u1", "3", "2", "true", "u2;u1;u3"),
        ("c2", "u1", "u1", "u1", "1", "0", "false", "u1"),
    ]


def test_a_lookup_that_finds_nothing_gives_what_a_join_would() -> None:
    # The `where` holds for no record: nothing is joined, every record finds nothing.
    data = tables(classes=CLASSES, enrollments=ENROLLMENTS)
    result = run_text(
        "param on: bool = false\n"
        "output o.csv from classes\n"
        "  id <- sourcedId\n"
        "  first <- first(user.sourcedId of enrollments where class = this and on)\n"
        "  n <- count(sourcedId of enrollments where class = this and on)\n"
        "  any <- exists(sourcedId of enrollments where class = this and on)\n"
        "  all <- join(user.sourcedId of enrollments where class = this and on, \";\")\n"
        "  some <- count(sourcedId of enrollments where class = this and not on) > 0\n",
        data, {"on": False},
    )["o.csv"]
    assert result.frame.rows() == [("c1", "", "0", "false", "", "true"),
                                   ("c2", "", "0", "false", "", "true")]


@pytest.mark.parametrize(("test", "expected"), [
    (pl.lit(False) & pl.col("a"), False),
    (pl.all_horizontal(pl.col("a"), pl.all_horizontal(pl.col("b"), ~pl.lit(True))), False),
    (pl.any_horizontal(pl.lit(True), pl.col("s").str.contains("x")), True),
    (pl.col("a") | ~pl.lit(False), True),
    (pl.lit(None, dtype=pl.Boolean) & pl.col("a"), None),  # null & true is null: rows decide
    (~pl.lit(None, dtype=pl.Boolean), False),  # still missing: no row passes
    (pl.lit(None, dtype=pl.Boolean).fill_null(True), True),
    (pl.lit(True) & pl.lit(None, dtype=pl.Boolean), False),
    (pl.lit(False).fill_null(True) | pl.col("a"), None),
    (pl.col("a") == "x", None),
    (pl.when(pl.lit(False)).then(pl.col("a")).otherwise(pl.col("b")), None),  # not read
])
def test_a_test_settled_by_literals_alone(test: pl.Expr, expected: bool | None) -> None:
    # What the engine may skip evaluating row by row must agree with polars itself.
    assert settled(test) is expected
    if expected is not None:
        rows = pl.DataFrame({"a": [True, False, None], "b": [True, True, False],
                             "s": ["x", "y", None]}, schema_overrides={"a": pl.Boolean})
        verdicts = rows.with_columns(test.fill_null(False).alias("t"))["t"]
        assert verdicts.to_list() == [expected] * 3


@pytest.mark.parametrize(("value", "settles"), [
    (pl.when(pl.lit(False) & pl.col("a")).then(pl.col("s").str.to_uppercase())
     .otherwise(pl.col("s")), True),
    (pl.when(pl.lit(True)).then(pl.lit(1)).otherwise(pl.lit(2.5)), True),  # a float, as a whole
    (pl.when(pl.lit(None, dtype=pl.Boolean)).then(pl.lit("x")).otherwise(None), True),
    (pl.when(~pl.lit(True)).then(pl.lit("x")).when(pl.lit(True)).then(pl.col("s"))
     .otherwise(pl.lit("z")), True),
    (pl.when(pl.lit(False)).then(pl.col("s")).when(pl.col("a")).then(pl.lit("y"))
     .otherwise(pl.lit("z")), True),
    (pl.when(pl.col("a")).then(pl.lit("x")).otherwise(pl.col("s")), False),
    (pl.col("s").str.to_uppercase(), False),
])
def test_an_if_settled_by_parameters_takes_its_branch(value: pl.Expr, settles: bool) -> None:
    # The branch alone gives what the whole `if` gives, values and type.
    rows = pl.DataFrame({"a": [True, False, None], "s": ["x", "y", None]},
                        schema_overrides={"a": pl.Boolean}).lazy()
    assert (_branch(value) is not None) is settles
    whole = rows.select(value.alias("v")).collect()
    taken = rows.select(_column(value, rows).alias("v")).collect()
    assert taken.schema == whole.schema
    assert taken.equals(whole)


def test_a_lookup_keyed_on_another_through_a_definition() -> None:
    # The value of one lookup, given to a `define`, is the key of the lookup inside it:
    # the first is worked out, then the second (a lookup inside another's condition is
    # RM315).
    data = tables(classes=CLASSES, enrollments=ENROLLMENTS)
    result = run_text(
        "define classes_of(who) = count(sourcedId of enrollments where user = who)\n"
        "output o.csv from classes\n"
        "  id <- sourcedId\n"
        "  teacher <- min(user.sourcedId of enrollments where class = this and role = \"teacher\")\n"
        "  teaches <- classes_of(min(user.sourcedId of enrollments\n"
        "                            where class = this and role = \"teacher\"))\n",
        data,
    )["o.csv"]
    assert result.frame.rows() == [("c1", "u1", "3"), ("c2", "", "0")]


def test_references_membership_and_rule_counts() -> None:
    data = tables(classes=CLASSES, enrollments=ENROLLMENTS, orgs=ORGS)
    results = run_text(
        "output classes.csv from classes\n"
        "  where school.name = \"North\"\n"
        "  id <- sourcedId\n"
        "  school <- school.name\n"
        "  district <- school.parent.sourcedId\n"
        "  grades <- join(grades, \"|\")\n"
        "output rosters.csv from enrollments\n"
        "  where role = \"student\"\n"
        "  where class in classes.csv\n"
        "  class <- class.title\n"
        "  user <- user.sourcedId\n",
        data,
    )
    classes, rosters = results["classes.csv"], results["rosters.csv"]
    assert classes.frame.rows() == [("c1", "North", "d1", "09|10")]
    assert (classes.read, classes.kept, [r.dropped for r in classes.rules]) == (2, 1, [1])
    assert rosters.frame.rows() == [("Algebra", "u3")]
    assert [r.dropped for r in rosters.rules] == [2, 2]  # teachers; then c2 and the unknown c9


def test_values_are_written_as_text() -> None:
    data = tables(sessions={"sourcedId": ["a"]}, academicSessions={
        "sourcedId": ["y1"], "startDate": [dt.date(2025, 8, 15)], "schoolYear": [2026],
        "title": [None]})
    result = run_text(
        "param on: bool = true\n"
        "output o.csv from academicSessions\n"
        "  start <- startDate\n  year <- schoolYear\n  next <- schoolYear + 1\n"
        "  flag <- on\n  title <- title\n  half <- 0.5\n",
        data,
        {"on": True},
    )["o.csv"]
    assert result.frame.rows() == [("2025-08-15", "2026", "2027", "true", "", "0.5")]


def test_warnings_name_records_by_id() -> None:
    data = tables(classes=CLASSES, enrollments=ENROLLMENTS)
    result = run_text(
        "output o.csv from classes\n"
        "  id <- sourcedId\n"
        "  t <- min(user.sourcedId of enrollments where class = this and primary)\n"
        "  warn \"no primary teacher\" if t is empty\n",
        data,
    )["o.csv"]
    (warning,) = result.warnings
    assert (warning.message, warning.count, warning.examples) == ("no primary teacher", 1, ("c2",))


def test_a_failing_column_is_named_by_its_mapping_line() -> None:
    data = tables(classes=CLASSES)
    bad = Output("o.csv", "classes", line=7, columns=(
        Column("id", 8, col("sourcedId")),
        Column("n", 9, col("title").cast(pl.Int64, strict=True)),
    ), rules=(Rule(7, "where x", pl.lit(True)),))

    class Module:
        OUTPUTS = (lambda p: bad,)

    with pytest.raises(RunError) as raised:
        run_outputs(Module, data, {})  # type: ignore[arg-type]
    (diagnostic,) = raised.value.diagnostics
    assert diagnostic.code == "RM430"
    assert "the rule at mapping line 9 failed" in diagnostic.message


def test_loaded_module_runs_the_shipped_profile(tmp_path: Any) -> None:
    from tests.conftest import MAPPINGS

    loaded = load_mapping(MAPPINGS / "powerschool-learning.rmap")
    assert loaded.module.PROFILE == "powerschool-learning"
    assert [p.name for p in loaded.module.PARAMS] == [
        "year", "google_domain", "schools", "live_accounts", "generate_logins"]
    assert set(loaded.module.READS) == {"users", "orgs", "classes", "enrollments"}
    assert len(loaded.sha256) == 64


USERS = {
    "sourcedId": ["t1", "t2", "s1", "s2", "p1"],
    "orgs": [["o2", "o1"], ["o1"], ["o1"], ["o9"], []],
    "agents": [[], [], ["p1"], ["p1"], ["s1", "s2"]],
    "role": ["teacher", "teacher", "student", "student", "parent"],
}
ORG_NAMES = {"sourcedId": ["o1", "o2"], "name": ["One", "Two"], "identifier": ["111", "222"]}


def test_lookups_through_lists_in_both_directions() -> None:
    data = tables(users=USERS, orgs=ORG_NAMES)
    result = run_text(
        "output o.csv from users\n"
        "  id <- sourcedId\n"
        "  names <- join(name of orgs where sourcedId in this.orgs, \";\")\n"
        "  codes <- join(orgs.identifier, \";\")\n"
        "  listed_by <- count(sourcedId of users where this in agents)\n",
        data,
    )["o.csv"]
    assert result.frame.rows() == [  # p1 is the agent of s1 and s2, which p1 lists
        ("p1", "", "", "2"), ("s1", "One", "111", "1"), ("s2", "", "", "1"),
        ("t1", "One;Two", "111;222", "0"), ("t2", "One", "111", "0"),
    ]


def test_lookup_conditions_may_read_the_outer_record() -> None:
    data = tables(enrollments={
        "sourcedId": ["e1", "e2", "e3", "e4"], "user": ["t1", "t1", "t1", "t2"],
        "class": ["c3", "c1", "c2", "c1"],
    })
    result = run_text(
        "output o.csv from enrollments\n"
        "  id <- sourcedId\n"
        "  rank <- count(sourcedId of enrollments where user = this.user and class < this.class)\n"
        "  where count(sourcedId of enrollments where user = this.user and class < this.class) < 2\n",
        data,
    )["o.csv"]
    assert result.frame.rows() == [("e2", "0"), ("e3", "1"), ("e4", "0")]


def test_a_definition_with_a_lookup_called_with_two_arguments_gives_two_values() -> None:
    """Each call of a `define` holding a lookup is its own lookup: the planner shares a
    derived column between identical expressions only, not between two calls of one
    definition with different arguments (which once got the first call's value)."""
    data = tables(users=USERS, orgs=ORG_NAMES)
    result = run_text(
        "define names(ids) = join(name of orgs where sourcedId in ids, \";\")\n"
        "output o.csv from users\n"
        "  id <- sourcedId\n"
        "  own <- names(orgs)\n"
        "  first_only <- names(split(orgs[0].sourcedId, \",\"))\n"
        "  again <- names(orgs)\n",
        data,
    )["o.csv"]
    assert result.frame.rows() == [
        ("p1", "", "", ""), ("s1", "One", "One", "One"), ("s2", "", "", ""),
        ("t1", "One;Two", "Two", "One;Two"), ("t2", "One", "One", "One"),
    ]


def test_a_lookup_reading_both_records_may_be_a_definition_s_argument_in_a_lookup() -> None:
    """A lookup whose condition reads the outer record (``class != this.class``), given
    to a `define` whose body is a lookup: the argument is read for the outer record and
    ties the inner lookup (its own records are not taken for the outer one)."""
    data = tables(
        enrollments={"sourcedId": ["e1", "e2", "e3", "e4"], "user": ["t1", "t1", "t1", "t2"],
                     "class": ["c1", "c2", "c3", "c1"]},
        classes={"sourcedId": ["c1", "c2", "c3"]},
    )
    result = run_text(
        "define before(others) = count(sourcedId of classes\n"
        "                              where sourcedId in others and sourcedId < this.class)\n"
        "output o.csv from enrollments\n"
        "  id <- sourcedId\n"
        "  others <- join(sort(unique(class of enrollments\n"
        "                             where user = this.user and class != this.class)), \";\")\n"
        "  before <- before(unique(class of enrollments\n"
        "                         where user = this.user and class != this.class))\n",
        data,
    )["o.csv"]
    assert result.frame.rows() == [("e1", "c2;c3", "0"), ("e2", "c1;c3", "1"),
                                   ("e3", "c1;c2", "2"), ("e4", "", "0")]


def test_a_lone_row_with_a_missing_key_repeats_nothing() -> None:
    """The key check compares each row with the one before it: the first row has none
    (a JSON output keeps a missing key as null, which must not match "nothing")."""
    data = tables(users={"sourcedId": ["u1", "u2", "u3"], "email": [None, "a@x", "a@x"]})
    one = run_text("output o.jsonl from users\n  where sourcedId = \"u1\"\n  key mail\n"
                   "  mail <- email\n", data)["o.jsonl"]
    assert one.warnings == []
    two = run_text("output o.jsonl from users\n  key mail\n  mail <- email\n", data)["o.jsonl"]
    (warning,) = two.warnings
    assert (warning.code, warning.count) == ("RM421", 2)


def test_keys_that_repeat_are_reported() -> None:
    data = tables(users=USERS)
    result = run_text("output o.csv from users\n  key role\n  role <- role\n  id <- sourcedId\n",
                      data)["o.csv"]
    (warning,) = result.warnings
    assert (warning.code, warning.count, warning.examples) == (
        "RM421", 4, ("s1", "s2", "t1", "t2"))
