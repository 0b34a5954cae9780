"""Tests for typing raw OneRoster columns (rostermap.runtime.engine.validate).

Lenient where an untidy value still has one plain meaning (``TRUE``, ``Scheduled``, a
date with a time, spaces after commas), strict where a guess could be wrong (``yes``,
``1/05/2023``); every refusal is one RM407 per column naming the file, the first line
and the column as the CSV spells it, and never quoting a birth date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from rostermap.dsl import types as t
from rostermap.dsl.diagnostics import DataLocation, Diagnostic, Severity
from rostermap.runtime.engine.tables import load_tables
from rostermap.runtime.engine.validate import MAX_EXAMPLES, dtype, typed
from rostermap.runtime.errors import RunError
from rostermap.runtime.sources.csv_package import LINE, RawTable, open_package

MakePackage = Callable[..., Path]
UTC = dt.UTC


def raw(entity: str, field: str, values: list[str | None], column: str | None = None,
        first_line: int = 2) -> RawTable:
    """A raw one-field table as the reader gives it: text values and their lines."""
    frame = pl.DataFrame(
        {LINE: range(first_line, first_line + len(values)), field: values},
        schema={LINE: pl.Int64, field: pl.String},
    )
    return RawTable(entity, f"{entity}.csv", frame, {field: column or field})


def typed_values(entity: str, field: str, values: list[str | None]) -> list[object]:
    """The typed values, asserting that nothing was refused."""
    frame, problems = typed(raw(entity, field, values))
    assert problems == [], [p.message for p in problems]
    return frame[field].to_list()


def refusal(entity: str, field: str, values: list[str | None],
            column: str | None = None) -> tuple[Diagnostic, list[object]]:
    """The one RM407 for the column, and the typed values (refused ones are null)."""
    frame, problems = typed(raw(entity, field, values, column))
    assert [p.code for p in problems] == ["RM407"], [p.message for p in problems]
    assert problems[0].severity is Severity.ERROR
    return problems[0], frame[field].to_list()


# --- booleans ----------------------------------------------------------------------------


def test_booleans_accepted_spellings() -> None:
    values = ["true", "TRUE", "False", "1", "0", " true ", "fAlSe", None, "", "  "]
    assert typed_values("enrollments", "primary", values) == [
        True, True, False, True, False, True, False, None, None, None]


def test_yes_is_not_a_boolean() -> None:
    error, values = refusal("enrollments", "primary", ["true", "yes", "false"])
    assert error.message == ("enrollments.csv: 1 value(s) of primary are not true or false; "
                             "the first, 'yes', is at line 3")
    assert error.location == DataLocation("enrollments.csv", 3, "primary")
    assert error.notes == ("note: lines 3",)
    assert values == [True, None, False]


@pytest.mark.parametrize("value", ["yes", "no", "Y", "N", "t", "f", "2", "-1", "on", "truee"])
def test_boolean_guesses_are_refused(value: str) -> None:
    error, values = refusal("users", "enabledUser", [value])
    assert error.location == DataLocation("users.csv", 2, "enabledUser")
    assert values == [None]


def test_error_names_the_column_as_the_csv_spells_it() -> None:
    error, _ = refusal("enrollments", "primary", ["yes"], column="Primary")
    assert error.location == DataLocation("enrollments.csv", 2, "Primary")
    assert " of Primary are not " in error.message


def test_error_counts_and_lists_the_first_lines() -> None:
    values: list[str | None] = ["true", *(["yes"] * (MAX_EXAMPLES + 2)), "no"]
    error, _ = refusal("enrollments", "primary", values)
    assert error.message.startswith("enrollments.csv: 8 value(s) of primary ")
    assert error.notes == ("note: lines 3, 4, 5, 6, 7 and more",)


def test_error_at_the_last_example_has_no_and_more() -> None:
    error, _ = refusal("enrollments", "primary", ["yes"] * MAX_EXAMPLES)
    assert error.notes == ("note: lines 2, 3, 4, 5, 6",)


def test_one_error_per_bad_column() -> None:
    frame = pl.DataFrame(
        {LINE: [2, 3], "primary": ["yes", "true"], "beginDate": ["2026-01-05", "5/1/2026"],
         "role": ["STUDENT", "Teacher"]},
        schema={LINE: pl.Int64, "primary": pl.String, "beginDate": pl.String,
                "role": pl.String},
    )
    columns = {"primary": "primary", "beginDate": "beginDate", "role": "role"}
    out, problems = typed(RawTable("enrollments", "enrollments.csv", frame, columns))
    assert [(p.code, p.location) for p in problems] == [
        ("RM407", DataLocation("enrollments.csv", 2, "primary")),
        ("RM407", DataLocation("enrollments.csv", 3, "beginDate")),
    ]
    assert out.to_dicts() == [
        {LINE: 2, "primary": None, "beginDate": dt.date(2026, 1, 5), "role": "student"},
        {LINE: 3, "primary": True, "beginDate": None, "role": "teacher"},
    ]


# --- dates and date-times -----------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["2026-01-05", "2026-01-05T08:00:00Z", "2026-01-05T08:00:00.000Z",
              "2026-01-05 08:00:00", " 2026-01-05 "],
)  # fmt: skip
def test_dates_accepted(value: str) -> None:
    assert typed_values("enrollments", "beginDate", [value]) == [dt.date(2026, 1, 5)]


@pytest.mark.parametrize(
    "value", ["1/05/2023", "2023-13-45", "05-01-2023", "20230105", "Jan 5 2023", "2023-02-29",
              "2023-1-5", "2023/01/05", "2023-01-05x", "15/06/2023"],
)  # fmt: skip
def test_ambiguous_or_invalid_dates_are_refused(value: str) -> None:
    error, values = refusal("enrollments", "endDate", ["2026-01-05", value])
    assert error.message == (f"enrollments.csv: 1 value(s) of endDate are not a date written "
                             f"YYYY-MM-DD; the first, {value!r}, is at line 3")
    assert error.location == DataLocation("enrollments.csv", 3, "endDate")
    assert values == [dt.date(2026, 1, 5), None]


def test_leap_day_is_a_date() -> None:
    assert typed_values("academicSessions", "startDate", ["2024-02-29"]) == [dt.date(2024, 2, 29)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2026-01-31T18:25:43.511Z", dt.datetime(2026, 1, 31, 18, 25, 43, 511000, tzinfo=UTC)),
     ("2026-01-31T18:25:43Z", dt.datetime(2026, 1, 31, 18, 25, 43, tzinfo=UTC)),
     ("2026-01-31T18:25:43+02:00", dt.datetime(2026, 1, 31, 16, 25, 43, tzinfo=UTC)),
     ("2017-05-06 08:01:05", dt.datetime(2017, 5, 6, 8, 1, 5, tzinfo=UTC)),
     ("2023-05-01", dt.datetime(2023, 5, 1, tzinfo=UTC))],
)  # fmt: skip
def test_date_times_accepted(value: str, expected: dt.datetime) -> None:
    assert typed_values("orgs", "dateLastModified", [value]) == [expected]


@pytest.mark.parametrize("value", ["1/05/2023", "2026-01-31T25:00:00Z", "yesterday",
                                   "2026-13-01T00:00:00Z"])
def test_bad_date_times_are_refused(value: str) -> None:
    error, _ = refusal("users", "dateLastModified", [value])
    assert error.location == DataLocation("users.csv", 2, "dateLastModified")
    assert "not a date-time such as 2026-01-31T18:25:43.511Z" in error.message


@pytest.mark.parametrize("value", ["1/05/2001", "2001-02-30", "30.05.1997"])
def test_birth_date_errors_never_show_the_value(value: str) -> None:
    error, values = refusal("demographics", "birthDate", ["1997-05-30", value])
    assert error.location == DataLocation("demographics.csv", 3, "birthDate")
    assert "line 3" in error.message
    shown = error.message + "".join(error.notes) + str(error.to_dict())
    assert value not in shown
    assert repr(value) not in shown
    assert values == [dt.date(1997, 5, 30), None]


@pytest.mark.parametrize("field", ["asian", "hispanicOrLatinoEthnicity", "white"])
def test_demographic_flag_errors_never_show_the_value(field: str) -> None:
    # The value says something about the student on that line: "Y" for asian.
    error, _ = refusal("demographics", field, ["true", "Y-Asian"])
    assert error.message == (f"demographics.csv: 1 value(s) of {field} are not true or false; "
                             "the first is at line 3")
    assert "Y-Asian" not in str(error.to_dict())


# --- enumerations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity", "field", "value", "expected"),
    [("classes", "classType", "Scheduled", "scheduled"),
     ("classes", "classType", " HOMEROOM ", "homeroom"),
     ("users", "role", "TEACHER", "teacher"),
     ("users", "role", "districtadministrator", "districtAdministrator"),
     ("roles", "roleType", "Primary", "primary"),
     ("academicSessions", "type", "SCHOOLYEAR", "schoolYear"),
     ("academicSessions", "type", "gradingperiod", "gradingPeriod"),
     ("orgs", "type", "School", "school"),
     ("orgs", "status", "TobeDeleted", "tobedeleted"),
     ("enrollments", "role", "Student", "student"),
     ("demographics", "sex", "FEMALE", "female"),
     ("classes", "classType", "ext:custom", "ext:custom"),
     ("classes", "classType", "ext:Lab-Group", "ext:Lab-Group"),
     ("users", "role", "", None)],
)  # fmt: skip
def test_enum_values_are_normalised(entity: str, field: str, value: str,
                                    expected: str | None) -> None:
    assert typed_values(entity, field, [value]) == [expected]


# --- lists, numbers, strings ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("Science, Physics", ["Science", "Physics"]),
     ("Science, Physics, Biology", ["Science", "Physics", "Biology"]),
     ("09,10", ["09", "10"]),
     ("09", ["09"]),
     (" a ,, b ,", ["a", "b"]),
     ("", []),
     ("  ", []),
     (None, [])],
)  # fmt: skip
def test_lists_are_split_and_trimmed(value: str | None, expected: list[str]) -> None:
    assert typed_values("courses", "subjects", [value]) == [expected]


def test_reference_lists_are_lists_too() -> None:
    assert typed_values("classes", "terms", ["fall,spring", None]) == [["fall", "spring"], []]


@pytest.mark.parametrize(("value", "expected"), [("2026", 2026), (" 2026 ", 2026),
                                                 ("", None), (None, None)])
def test_school_year_is_an_int(value: str | None, expected: int | None) -> None:
    assert typed_values("academicSessions", "schoolYear", [value]) == [expected]


@pytest.mark.parametrize("value", ["2025-2026", "2026.0", "twenty", "20 26"])
def test_school_year_that_is_not_a_whole_number_is_refused(value: str) -> None:
    error, values = refusal("academicSessions", "schoolYear", [value])
    assert error.message == (f"academicSessions.csv: 1 value(s) of schoolYear are not a whole "
                             f"number; the first, {value!r}, is at line 2")
    assert values == [None]


def test_strings_are_trimmed_and_blank_is_missing() -> None:
    assert typed_values("users", "givenName", [" Sam ", "", "   ", None, "Zoë"]) == [
        "Sam", None, None, None, "Zoë"]


def test_strings_and_sensitive_strings_are_never_refused() -> None:
    assert typed_values("users", "password", ["yes", "1/05/2023"]) == ["yes", "1/05/2023"]


def test_typed_frame_has_the_model_types_and_keeps_lines() -> None:
    fields = {"sourcedId": "u1", "enabledUser": "true", "orgs": "s1,s2", "role": "student",
              "dateLastModified": "2026-01-31T18:25:43Z", "grades": "09"}
    frame = pl.DataFrame({LINE: [7], **{f: [v] for f, v in fields.items()}},
                         schema={LINE: pl.Int64, **{f: pl.String for f in fields}})
    out, problems = typed(RawTable("users", "users.csv", frame, {f: f for f in fields}))
    assert problems == []
    assert out.schema == pl.Schema({
        LINE: pl.Int64, "sourcedId": pl.String, "enabledUser": pl.Boolean,
        "orgs": pl.List(pl.String), "role": pl.String,
        "dateLastModified": pl.Datetime("us", "UTC"), "grades": pl.List(pl.String),
    })
    assert out.row(0) == (7, "u1", True, ["s1", "s2"], "student",
                          dt.datetime(2026, 1, 31, 18, 25, 43, tzinfo=UTC), ["09"])


def test_empty_table_types_fine() -> None:
    out, problems = typed(raw("enrollments", "beginDate", []))
    assert problems == []
    assert out.schema == pl.Schema({LINE: pl.Int64, "beginDate": pl.Date})


@pytest.mark.parametrize(
    ("type_", "expected"),
    [(t.INT, pl.Int64()), (t.BOOL, pl.Boolean()), (t.DATE, pl.Date()),
     (t.DATETIME, pl.Datetime("us", "UTC")), (t.STR, pl.String()),
     (t.enum("role"), pl.String()), (t.ref("orgs"), pl.String()),
     (t.list_of(t.STR), pl.List(pl.String)), (t.list_of(t.ref("orgs")), pl.List(pl.String))],
)  # fmt: skip
def test_dtype(type_: t.Type, expected: pl.DataType) -> None:
    assert dtype(type_) == expected


# --- through a package: the CSV's line numbers and column names ----------------------------


def test_errors_from_a_package_name_file_line_and_csv_column(make_package: MakePackage) -> None:
    body = ("sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,"
            "Role,Primary,beginDate,endDate\n"
            "e1,,,c1,s1,t1,Teacher,TRUE,2026-01-05,\n"
            "e2,,,c1,s1,u1,STUDENT,yes,1/05/2023,\n"
            "e3,,,c1,s1,u2,student,,2026-01-05T08:00:00Z,\n")
    path = make_package({"enrollments.csv": body})
    package = open_package(path)
    try:
        with pytest.raises(RunError) as caught:
            load_tables(package, {"enrollments": ("sourcedId", "role", "primary", "beginDate")})
    finally:
        package.close()
    assert [(d.code, d.location) for d in caught.value.diagnostics] == [
        ("RM407", DataLocation("enrollments.csv", 3, "Primary")),
        ("RM407", DataLocation("enrollments.csv", 3, "beginDate")),
    ]
    assert "'yes'" in caught.value.diagnostics[0].message
    assert "'1/05/2023'" in caught.value.diagnostics[1].message
