"""Tests for loading the typed tables a mapping reads (rostermap.runtime.engine.tables).

Integrity (duplicate and missing sourcedIds refuse the run, dangling references warn,
each with its lines), the 1.2 ``users.role``/``users.orgs`` derived from roles.csv, files
the mapping needs but the package lacks, and a property: whatever bytes users.csv holds,
loading ends in tables or in a RunError of RM4xx diagnostics, never another exception.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rostermap.dsl.diagnostics import DataLocation, Diagnostic, Severity
from rostermap.runtime.engine.tables import LINE, Tables, load_tables
from rostermap.runtime.errors import RunError
from rostermap.runtime.sources import csv_package
from rostermap.runtime.sources.csv_package import Package, open_package
from tests.conftest import tiny_files
from tests.fuzzing import fuzz_settings

MakePackage = Callable[..., Path]
SamplePackage = Callable[..., Path]
# Sets of the real sample corpus (ROSTERMAP_CORPUS), for the tests marked corpus.
EDFI = Path("oneroster-samples", "edfi-lms-toolkit-or11")
MOODLE = Path("oneroster-samples", "moodle-enrol-oneroster-fixtures")

USERS_11_HEADER = (
    "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,"
    "givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password"
)
MANIFEST_12 = (
    "propertyName,value\nmanifest.version,1.0\noneroster.version,1.2\n"
    "file.orgs,bulk\nfile.users,bulk\nfile.roles,bulk\n"
)
ORGS_12 = (
    "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n"
    "d1,,,District,district,,\ns1,,,One,school,,d1\ns2,,,Two,school,,d1\ns3,,,Three,school,,d1\n"
)
USERS_12_HEADER = (
    "sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,"
    "middleName,identifier,email,sms,phone,agentSourcedIds,grades,password,"
    "userMasterIdentifier,preferredGivenName,preferredMiddleName,preferredFamilyName,"
    "primaryOrgSourcedId,pronouns"
)
ROLES_HEADER = (
    "sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,"
    "orgSourcedId,userProfileSourcedId"
)


def user_12(sourced_id: str, primary_org: str = "") -> str:
    """A 1.2 users.csv row: 22 columns, primaryOrgSourcedId second to last."""
    return f"{sourced_id},,,true,{sourced_id}-name,,Given,Family,,,,,,,,,,,,,{primary_org},"


def role_row(sourced_id: str, user: str, role_type: str, role: str, org: str,
             status: str = "") -> str:
    return f"{sourced_id},{status},,{user},{role_type},{role},,,{org},"


@contextmanager
def opened(path: Path) -> Iterator[Package]:
    package = open_package(path)
    try:
        yield package
    finally:
        package.close()


def load(path: Path, reads: Mapping[str, tuple[str, ...]]) -> Tables:
    with opened(path) as package:
        return load_tables(package, reads)


def load_error(path: Path, reads: Mapping[str, tuple[str, ...]]) -> tuple[Diagnostic, ...]:
    with opened(path) as package, pytest.raises(RunError) as caught:
        load_tables(package, reads)
    return caught.value.diagnostics


def with_file(name: str, body: str) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = dict(tiny_files())
    files[name] = body
    return files


# --- the tiny package ----------------------------------------------------------------------


def test_tiny_package_loads_typed_frames(make_package: MakePackage) -> None:
    reads = {
        "users": ("sourcedId", "enabledUser", "orgs", "role", "grades", "givenName"),
        "enrollments": ("sourcedId", "class", "user", "role", "primary"),
        "classes": ("sourcedId", "grades", "terms"),
        "academicSessions": ("sourcedId", "startDate", "schoolYear"),
        "orgs": ("sourcedId", "type", "parent"),
    }
    tables = load(make_package(), reads)
    assert tables.version == "1.1"
    assert tables.warnings == []
    assert tables.files == {e: f"{e}.csv" for e in reads}
    assert {e: tables.count(e) for e in reads} == {
        "users": 3, "enrollments": 3, "classes": 2, "academicSessions": 1, "orgs": 3}
    for entity, fields in reads.items():
        assert tables.frames[entity].columns == [LINE, *fields]
    users = tables.frames["users"]
    assert users.schema == pl.Schema({
        LINE: pl.Int64, "sourcedId": pl.String, "enabledUser": pl.Boolean,
        "orgs": pl.List(pl.String), "role": pl.String, "grades": pl.List(pl.String),
        "givenName": pl.String,
    })
    assert users.row(1) == (3, "u1", True, ["s1"], "student", ["09"], "Sam")
    assert tables.frames["enrollments"]["primary"].to_list() == [True, None, None]
    assert tables.frames["classes"]["grades"].to_list() == [["09", "10"], ["07"]]
    assert tables.frames["academicSessions"].row(0) == (2, "y1", dt.date(2025, 8, 15), 2026)
    lazy = tables.frame("orgs")
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect()["parent"].to_list() == [None, "d1", "d1"]


def test_package_warnings_are_carried_into_the_tables(make_package: MakePackage) -> None:
    files = with_file("users.csv", tiny_files()["users.csv"].replace(",password\n",
                                                                     ",passwd\n", 1))
    tables = load(make_package(files), {"users": ("sourcedId",)})
    assert [(d.code, d.location) for d in tables.warnings] == [
        ("RM406", DataLocation("users.csv", 1, "passwd"))]


# --- sourcedIds ---------------------------------------------------------------------------


def test_duplicate_sourced_id_is_rm410_with_the_lines(make_package: MakePackage) -> None:
    users = (USERS_11_HEADER + "\n" + "\n".join(
        f"{sid},,,true,s1,student,,,G,F,,,,,,,," for sid in ("u1", "u2", "u1", "u3", "u2")
    ) + "\n")
    errors = load_error(make_package(with_file("users.csv", users)), {"users": ("sourcedId",)})
    assert [d.code for d in errors] == ["RM410"]
    error = errors[0]
    assert error.message == ("users.csv: 4 records share a sourcedId with another record, "
                             "first 'u1' at line 2")
    assert error.location == DataLocation("users.csv", 2, "sourcedId")
    assert error.notes[0] == "note: lines 2, 3, 4, 6"


def test_sourced_ids_are_compared_after_trimming(make_package: MakePackage) -> None:
    orgs = ("sourcedId,name,type\ns1,One,school\n s1 ,Again,school\n")
    errors = load_error(make_package(with_file("orgs.csv", orgs)), {"orgs": ("sourcedId",)})
    assert [(d.code, d.location) for d in errors] == [
        ("RM410", DataLocation("orgs.csv", 2, "sourcedId"))]


def test_missing_sourced_id_is_rm407_and_not_a_duplicate(make_package: MakePackage) -> None:
    orgs = "sourcedId,name,type\ns1,One,school\n,Two,school\ns3,Three,school\n  ,Four,school\n"
    errors = load_error(make_package(with_file("orgs.csv", orgs)), {"orgs": ("sourcedId",)})
    assert [(d.code, d.location) for d in errors] == [
        ("RM407", DataLocation("orgs.csv", 3, "sourcedId"))]
    assert errors[0].message == "orgs.csv: 2 record(s) have no sourcedId, first at line 3"


def test_file_without_a_sourced_id_column_is_rm405(make_package: MakePackage) -> None:
    orgs = "name,type\nOne,school\n"
    errors = load_error(make_package(with_file("orgs.csv", orgs)), {"orgs": ("sourcedId",)})
    assert [(d.code, d.location) for d in errors] == [
        ("RM405", DataLocation("orgs.csv", 1, "sourcedId"))]


def test_file_without_an_optional_column_warns_rm405(make_package: MakePackage) -> None:
    orgs = "sourcedId,name,type\ns1,One,school\n"
    tables = load(make_package(with_file("orgs.csv", orgs)), {"orgs": ("sourcedId", "identifier")})
    (warning,) = tables.warnings
    assert (warning.code, warning.severity, warning.location) == (
        "RM405", Severity.WARNING, DataLocation("orgs.csv", 1, "identifier"))
    assert tables.frames["orgs"]["identifier"].to_list() == [None]


def test_blank_lines_are_skipped(make_package: MakePackage) -> None:
    orgs = "sourcedId,name,type\ns1,One,school\n\n,,\ns2,Two,school\n\n"
    tables = load(make_package(with_file("orgs.csv", orgs)), {"orgs": ("sourcedId", "name")})
    assert tables.frames["orgs"].rows() == [(2, "s1", "One"), (5, "s2", "Two")]


def test_problems_of_every_file_are_reported_together(make_package: MakePackage) -> None:
    files = with_file("orgs.csv", "sourcedId,name,type\ns1,A,school\ns1,B,school\n")
    files["users.csv"] = tiny_files()["users.csv"].replace("t1,,,true,", "t1,,,maybe,")
    errors = load_error(make_package(files), {"orgs": ("sourcedId",),
                                              "users": ("sourcedId", "enabledUser")})
    assert [(d.code, d.location) for d in errors] == [
        ("RM410", DataLocation("orgs.csv", 2, "sourcedId")),
        ("RM407", DataLocation("users.csv", 2, "enabledUser")),
    ]


# --- dangling references ------------------------------------------------------------------


def test_enrollment_of_an_unknown_user_is_rm411(make_package: MakePackage) -> None:
    enrollments = tiny_files()["enrollments.csv"] + "e4,,,c2,s2,ghost,student,,,\n"
    tables = load(make_package(with_file("enrollments.csv", enrollments)),
                  {"enrollments": ("sourcedId", "user"), "users": ("sourcedId",)})
    assert [(d.code, d.severity, d.location) for d in tables.warnings] == [
        ("RM411", Severity.WARNING, DataLocation("enrollments.csv", 5, "userSourcedId"))]
    warning = tables.warnings[0]
    assert warning.message == ("enrollments.csv: 1 enrollment record(s) name a user that "
                               "the source's users.csv does not hold, first at line 5")
    assert warning.notes == ("note: lines 5",)
    assert tables.count("enrollments") == 4  # kept: a warning, not an error


def test_user_naming_an_unknown_org_in_a_list_is_rm411(make_package: MakePackage) -> None:
    users = tiny_files()["users.csv"].replace("u2,,,true,s2,", 'u2,,,true,"s2,s9",')
    tables = load(make_package(with_file("users.csv", users)),
                  {"users": ("sourcedId", "orgs"), "orgs": ("sourcedId",)})
    assert [(d.code, d.location) for d in tables.warnings] == [
        ("RM411", DataLocation("users.csv", 4, "orgSourcedIds"))]
    assert "1 user record(s)" in tables.warnings[0].message
    assert tables.frames["users"]["orgs"].to_list() == [["s1"], ["s1"], ["s2", "s9"]]


def test_several_dangling_references_list_their_lines(make_package: MakePackage) -> None:
    enrollments = tiny_files()["enrollments.csv"].replace(",c1,s1,u1,", ",c7,s1,u1,").replace(
        ",c2,s2,u2,", ",c8,s2,u2,")
    tables = load(make_package(with_file("enrollments.csv", enrollments)),
                  {"enrollments": ("sourcedId", "class", "school"),
                   "classes": ("sourcedId",), "orgs": ("sourcedId",)})
    assert [(d.code, d.location) for d in tables.warnings] == [
        ("RM411", DataLocation("enrollments.csv", 3, "classSourcedId"))]
    assert tables.warnings[0].notes == ("note: lines 3, 4",)


def test_references_to_entities_not_read_are_not_checked(make_package: MakePackage) -> None:
    # classes name courses k1 and k2, which the tiny package does not hold.
    tables = load(make_package(), {"classes": ("sourcedId", "course", "school", "terms")})
    assert tables.warnings == []


def test_blank_references_are_not_dangling(make_package: MakePackage) -> None:
    tables = load(make_package(), {"orgs": ("sourcedId", "parent")})  # d1 has no parent
    assert tables.warnings == []


# --- OneRoster 1.2: users' role and orgs from roles.csv ------------------------------------


def package_12(make_package: MakePackage, users: list[str], roles: list[str] | None) -> Path:
    files: dict[str, str | bytes] = {
        "manifest.csv": MANIFEST_12,
        "orgs.csv": ORGS_12,
        "users.csv": "\n".join([USERS_12_HEADER, *users]) + "\n",
    }
    if roles is not None:
        files["roles.csv"] = "\n".join([ROLES_HEADER, *roles]) + "\n"
    return make_package(files)


def test_1_2_role_and_orgs_come_from_roles(make_package: MakePackage) -> None:
    path = package_12(make_package, [user_12("u1", "s2"), user_12("u2"), user_12("u3")], [
        role_row("r1", "u1", "primary", "teacher", "s1"),
        role_row("r2", "u1", "primary", "administrator", "s2"),
        role_row("r3", "u1", "secondary", "aide", "s3"),
        role_row("r4", "u1", "secondary", "aide", "s1"),
        role_row("r5", "u2", "secondary", "aide", "s3"),
        role_row("r6", "u2", "Primary", "Student", "s1"),
    ])
    tables = load(path, {"users": ("sourcedId", "role", "orgs"), "orgs": ("sourcedId",)})
    assert tables.version == "1.2"
    assert tables.warnings == []
    users = tables.frames["users"]
    assert users.columns == [LINE, "sourcedId", "role", "orgs"]
    assert users.schema["orgs"] == pl.List(pl.String)
    assert users.rows() == [
        # Two primary roles: the one at the primaryOrg wins; primaryOrg first, each org once.
        (2, "u1", "administrator", ["s2", "s1", "s3"]),
        # The primary role beats a secondary one with a smaller sourcedId, and without a
        # primaryOrg the primary role's org comes first.
        (3, "u2", "student", ["s1", "s3"]),
        # No roles at all.
        (4, "u3", None, []),
    ]


def test_1_2_primary_role_without_primary_org_is_the_first_by_sourced_id(
    make_package: MakePackage,
) -> None:
    path = package_12(make_package, [user_12("u1")], [
        role_row("r2", "u1", "primary", "teacher", "s2"),
        role_row("r1", "u1", "primary", "principal", "s1"),
    ])
    users = load(path, {"users": ("sourcedId", "role", "orgs")}).frames["users"]
    assert users.rows() == [(2, "u1", "principal", ["s1", "s2"])]


def test_1_2_tobedeleted_roles_are_not_counted(make_package: MakePackage) -> None:
    path = package_12(make_package, [user_12("u1", "s1")], [
        role_row("r1", "u1", "primary", "principal", "s1", status="tobedeleted"),
        role_row("r2", "u1", "primary", "teacher", "s2", status="active"),
        role_row("r3", "u1", "secondary", "aide", "s3", status="TOBEDELETED"),
    ])
    users = load(path, {"users": ("sourcedId", "role", "orgs")}).frames["users"]
    assert users.rows() == [(2, "u1", "teacher", ["s2"])]


def test_1_2_a_user_whose_every_role_is_tobedeleted_reads_tobedeleted(
        make_package: MakePackage) -> None:
    # u1 has left every org: its last roles say what it was and where, and its status
    # reads tobedeleted, so that a profile removes it; u2 keeps a live role.
    path = package_12(make_package, [user_12("u1", "s1"), user_12("u2", "s1")], [
        role_row("r1", "u1", "primary", "teacher", "s1", status="tobedeleted"),
        role_row("r2", "u1", "secondary", "aide", "s3", status="tobedeleted"),
        role_row("r3", "u2", "primary", "student", "s1", status="tobedeleted"),
        role_row("r4", "u2", "secondary", "aide", "s2"),
    ])
    users = load(path, {"users": ("sourcedId", "status", "role", "orgs")}).frames["users"]
    assert users.rows() == [(2, "u1", "tobedeleted", "teacher", ["s1", "s3"]),
                            (3, "u2", None, "aide", ["s2"])]


def test_1_2_users_read_primary_org_only_when_asked(make_package: MakePackage) -> None:
    path = package_12(make_package, [user_12("u1", "s1")],
                      [role_row("r1", "u1", "primary", "teacher", "s1")])
    without = load(path, {"users": ("sourcedId", "role")}).frames["users"]
    assert without.columns == [LINE, "sourcedId", "role"]
    with_org = load(path, {"users": ("sourcedId", "primaryOrg", "orgs")}).frames["users"]
    assert with_org.rows() == [(2, "u1", "s1", ["s1"])]


def test_1_2_derived_orgs_are_checked_for_dangling_references(make_package: MakePackage) -> None:
    path = package_12(make_package, [user_12("u1", "s1")],
                      [role_row("r1", "u1", "primary", "teacher", "s1"),
                       role_row("r2", "u1", "secondary", "teacher", "s9")])
    tables = load(path, {"users": ("sourcedId", "orgs"), "orgs": ("sourcedId",)})
    assert tables.frames["users"]["orgs"].to_list() == [["s1", "s9"]]
    assert [(d.code, d.location) for d in tables.warnings] == [
        ("RM411", DataLocation("users.csv", 2, "orgSourcedIds"))]


@pytest.mark.parametrize(("fields", "named"), [(("sourcedId", "role"), "role"),
                                               (("sourcedId", "orgs", "role"), "orgs and role")])
def test_1_2_without_roles_csv_is_rm404_when_role_or_orgs_are_read(
    make_package: MakePackage, fields: tuple[str, ...], named: str,
) -> None:
    path = package_12(make_package, [user_12("u1", "s1")], None)
    errors = load_error(path, {"users": fields})
    assert [d.code for d in errors] == ["RM404"]
    assert errors[0].message == (f"a OneRoster 1.2 package gives users' {named} in roles.csv, "
                                 "which this package lacks")
    assert errors[0].location == DataLocation(str(path))


def test_1_2_without_roles_csv_loads_other_user_fields(make_package: MakePackage) -> None:
    path = package_12(make_package, [user_12("u1", "s1")], None)
    tables = load(path, {"users": ("sourcedId", "givenName", "primaryOrg")})
    assert tables.frames["users"].rows() == [(2, "u1", "Given", "s1")]


def _derives_the_role(path: Path, user: str, org: str) -> None:
    tables = load(path, {"users": ("sourcedId", "enabledUser", "role", "orgs")})
    # users.csv writes enabledUser as TRUE; roles.csv has one primary student role.
    assert tables.frames["users"].rows() == [(2, user, True, "student", [org])]


def test_1_2_delta_sample_derives_the_role(sample_package: SamplePackage) -> None:
    _derives_the_role(sample_package("v1p2-delta-crlf", as_zip=True), "STU_1", "SCH_1")


def test_1_2_moodle_fixture_derives_the_role(corpus: Path) -> None:
    _derives_the_role(corpus / MOODLE / "oneroster_test_data.zip", "USER_0", "ORG_1")


# --- files the mapping needs ----------------------------------------------------------------


def test_absent_file_the_mapping_reads_is_rm404(make_package: MakePackage) -> None:
    errors = load_error(make_package(), {"users": ("sourcedId",),
                                         "courses": ("sourcedId", "title")})
    assert [d.code for d in errors] == ["RM404"]
    assert errors[0].message == "the mapping reads courses, but the package has no courses.csv"
    assert errors[0].notes == ("help: add courses.csv to the package and to manifest.csv",)


def test_absent_file_in_a_1_0_package_is_rm404(make_package: MakePackage) -> None:
    files = tiny_files()
    del files["manifest.csv"]
    errors = load_error(make_package(files), {"demographics": ("sourcedId",)})
    assert [d.code for d in errors] == ["RM404"]


def test_1_2_only_file_in_a_1_1_package_is_an_empty_table(make_package: MakePackage) -> None:
    tables = load(make_package(), {"roles": ("sourcedId", "role", "beginDate"),
                                   "users": ("sourcedId",)})
    assert tables.count("roles") == 0
    assert tables.frames["roles"].schema == pl.Schema(
        {LINE: pl.Int64, "sourcedId": pl.String, "role": pl.String, "beginDate": pl.Date})
    assert tables.files["roles"] == "roles.csv"
    assert tables.warnings == []


# --- sample packages: the suite's own, and the real ones of the corpus --------------------


def _loads_without_warnings(path: Path, counts: dict[str, int]) -> None:
    """A 1.1 bulk export as an SIS connector writes it: ``manifest.version,1``,
    ``metadata.*`` columns, files without a final newline, quoted term lists, teacher
    rows with a trailing comma; it loads whole, with nothing to warn about."""
    reads = {
        "orgs": ("sourcedId", "type", "parent"),
        "academicSessions": ("sourcedId", "type", "startDate", "endDate", "schoolYear"),
        "courses": ("sourcedId", "org", "schoolYear"),
        "classes": ("sourcedId", "course", "school", "terms", "classType"),
        "users": ("sourcedId", "enabledUser", "orgs", "role", "grades", "userIds"),
        "enrollments": ("sourcedId", "class", "school", "user", "role", "primary",
                        "beginDate", "endDate"),
        "demographics": ("sourcedId", "birthDate", "sex", "white"),
    }
    tables = load(path, reads)
    assert tables.warnings == []
    assert {e: tables.count(e) for e in reads} == counts
    terms = tables.frames["classes"]["terms"].to_list()
    assert all(len(t) == 2 for t in terms)
    assert tables.frames["enrollments"].filter(pl.col("primary"))["role"].unique().to_list() \
        == ["teacher"]


def test_untidy_bulk_sample_loads_without_warnings(sample_package: SamplePackage) -> None:
    _loads_without_warnings(sample_package("v1p1-untidy-bulk"), {
        "orgs": 2, "academicSessions": 3, "courses": 2, "classes": 2, "users": 6,
        "enrollments": 8, "demographics": 4})


def test_edfi_sample_loads_without_warnings(corpus: Path) -> None:
    _loads_without_warnings(corpus / EDFI, {
        "orgs": 2, "academicSessions": 3, "courses": 2, "classes": 2, "users": 10,
        "enrollments": 24, "demographics": 8})


def _normalises_untidy_values(path: Path) -> None:
    """enabledUser written TRUE and classType written Scheduled, in CRLF files whose
    last line has no line end."""
    tables = load(path, {"users": ("sourcedId", "enabledUser"),
                         "classes": ("sourcedId", "classType")})
    assert set(tables.frames["users"]["enabledUser"].to_list()) == {True}
    assert tables.frames["classes"]["classType"].to_list() == ["scheduled", "homeroom"]


def test_minimal_sample_normalises_untidy_values(sample_package: SamplePackage) -> None:
    _normalises_untidy_values(sample_package("v1p1-minimal-crlf", as_zip=True))


def test_moodle_minimal_fixture_normalises_untidy_values(corpus: Path) -> None:
    _normalises_untidy_values(corpus / MOODLE / "Test_minimal_data_set.zip")


def _refused_at_its_bad_dates(path: Path, first_bad_value: str) -> None:
    errors = load_error(path, {"users": ("sourcedId", "dateLastModified")})
    assert [(d.code, d.location) for d in errors] == [
        ("RM407", DataLocation("users.csv", 2, "dateLastModified"))]
    # users.csv holds personal data: no value of it is quoted (a shifted row would show
    # a name), only where it is
    assert first_bad_value not in errors[0].message
    assert errors[0].message.endswith("the first is at line 2")


def test_malformed_sample_is_refused_at_its_bad_dates(sample_package: SamplePackage) -> None:
    _refused_at_its_bad_dates(sample_package("v1p2-malformed", as_zip=True), "3/02/2024")


def test_moodle_malformed_fixture_is_refused_at_its_bad_dates(corpus: Path) -> None:
    _refused_at_its_bad_dates(corpus / MOODLE / "v1p2_full_dataset.zip", "1/05/2023")


# --- property: any users.csv ends in tables or in RM4xx diagnostics ------------------------

_READS = {"users": ("sourcedId", "status", "dateLastModified", "enabledUser", "orgs", "role",
                    "givenName", "grades", "agents", "identifier"),
          "orgs": ("sourcedId",)}
_PIECES = st.sampled_from([
    b"u1", b"s1", b",", b'"', b'""', b"\n", b"\r\n", b"\r", b" ", b"\x00", b"\xef\xbb\xbf",
    b"\xff\xfe", b"\xe9", b"\xc3\xa9", b"true", b"TRUE", b"yes", b"2026-01-05", b"1/05/2023",
    b"student", b"metadata.x", b"sourcedId", b"userId", b"orgSourcedIds",
])
_body = st.one_of(st.binary(max_size=120), st.lists(_PIECES, max_size=30).map(b"".join))


def _load_any(users_csv: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "manifest.csv").write_text(tiny_files()["manifest.csv"])
        (root / "orgs.csv").write_text(tiny_files()["orgs.csv"])
        (root / "users.csv").write_bytes(users_csv)
        try:
            with opened(root) as package:
                tables = load_tables(package, _READS)
        except RunError as error:
            assert error.diagnostics
            assert all(d.code.startswith("RM4") for d in error.diagnostics), [
                (d.code, d.message) for d in error.diagnostics]
        else:
            assert tables.frames["users"].columns == [LINE, *_READS["users"]]


@pytest.mark.fuzz
@fuzz_settings(150)
@given(body=_body)
def test_any_body_after_a_valid_header_loads_or_fails_cleanly(body: bytes) -> None:
    _load_any(USERS_11_HEADER.encode() + b"\n" + body)


@pytest.mark.fuzz
@fuzz_settings(150)
@given(data=_body)
def test_any_bytes_as_users_csv_load_or_fail_cleanly(data: bytes) -> None:
    _load_any(data)


@pytest.mark.parametrize("data", [b"sourcedId\ru1\r", b"\r", b"a\rb\n", b'"\n\x00\r'])
def test_known_hard_bytes_fail_cleanly(data: bytes) -> None:
    # Found by the properties above: a lone CR in the header used to escape as _csv.Error.
    _load_any(data)


@pytest.mark.parametrize("as_zip", [False, True])
def test_a_file_read_in_pieces_gives_the_same_table(make_package: Callable[..., Path],
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     as_zip: bool) -> None:
    """Batches of any size give the whole file's table: quoted values that hold a line
    end or a comma, CRLF, a BOM, blank lines, lines of commas, folders and zips."""
    users = (
        "\ufeffsourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,"
        "userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,"
        "grades,password\r\n"
        't1,,,TRUE,"s1,s2",Teacher,tina,,"Tina\r\nMarie",Ames,,T-1,t@d.org,,,,,\r\n'
        "\r\n"
        'u1,Active,2026-01-01,true,s1,student,uma,,Uma,"O\'Neil ""Junior""",,S-1,,,,,09,\r\n'
        ",,,,,,,,,,,,,,,,,\r\n"
        'u2,,,false,s2,student,ugo,,Ugo,"Émile, Jr",,S-2,,,,,"07, 08",\r\n'
    ) * 1 + "".join(f"x{i},,,true,s1,student,x{i},,X,Y,,I{i},,,,,09,\r\n" for i in range(40))
    files = {**tiny_files(), "users.csv": users}
    package = open_package(make_package(files, as_zip=as_zip))
    fields = ("sourcedId", "status", "enabledUser", "orgs", "role", "givenName",
              "familyName", "grades")
    whole = load_tables(package, {"users": fields})

    def whole_file(*args: object) -> None:
        raise AssertionError("read whole, not in pieces")

    monkeypatch.setattr(Package, "read", whole_file)
    for size in (1, 2, 7, 1000):
        monkeypatch.setattr(csv_package, "CHUNK_ROWS", size)
        pieces = load_tables(package, {"users": fields})
        assert pieces.frames["users"].equals(whole.frames["users"]), size
        assert [d.message for d in pieces.warnings] == [d.message for d in whole.warnings]
    package.close()
