"""Tests for the OneRoster CSV package reader (rostermap.runtime.sources.csv_package).

Opening: folders and zips, zip layouts that are tolerated or refused, the manifest and
what it says about versions and files. Reading: the untidy CSV real exports contain
(BOM, CRLF, reordered and misspelt headers, ragged rows, wrong encodings, broken
quotes), each either read as meant or refused with a located diagnostic.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rostermap.dsl.diagnostics import DataLocation, Diagnostic, Severity
from rostermap.runtime.engine.tables import load_tables
from rostermap.runtime.errors import RunError
from rostermap.runtime.sources.csv_package import LINE, Limits, Package, open_package
from tests.conftest import SAMPLES, tiny_files

# Sets of the real sample corpus (ROSTERMAP_CORPUS), for the tests marked corpus.
EDFI = Path("oneroster-samples", "edfi-lms-toolkit-or11")
MOODLE = Path("oneroster-samples", "moodle-enrol-oneroster-fixtures")

MakePackage = Callable[..., Path]
SamplePackage = Callable[..., Path]

MANIFEST_12 = (
    "propertyName,value\nmanifest.version,1.0\noneroster.version,1.2\n"
    "file.orgs,bulk\nfile.users,bulk\nfile.roles,bulk\n"
)
MANIFEST_USERS = "propertyName,value\noneroster.version,1.1\nfile.users,bulk\n"
ORGS_HEADER = "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId"
# Every column each tiny file has, by model field name.
TINY_FIELDS = {
    "orgs": ("sourcedId", "status", "dateLastModified", "name", "type", "identifier",
             "parent"),
    "users": ("sourcedId", "enabledUser", "orgs", "role", "username", "userIds", "givenName",
              "familyName", "middleName", "identifier", "email", "grades", "password"),
    "classes": ("sourcedId", "title", "grades", "course", "classCode", "classType",
                "location", "school", "terms", "periods"),
    "enrollments": ("sourcedId", "class", "school", "user", "role", "primary", "beginDate"),
    "academicSessions": ("sourcedId", "title", "type", "startDate", "endDate", "parent",
                         "schoolYear"),
}  # fmt: skip


@contextmanager
def opened(path: Path, limits: Limits | None = None) -> Iterator[Package]:
    package = open_package(path, limits)
    try:
        yield package
    finally:
        package.close()


def refused(path: Path, limits: Limits | None = None) -> RunError:
    """The RunError opening ``path`` raises (the test fails if it opens)."""
    with pytest.raises(RunError) as caught:
        with opened(path, limits):
            pass
    return caught.value


def codes(diagnostics: Iterable[Diagnostic]) -> list[str]:
    return [d.code for d in diagnostics]


def only(error: RunError) -> Diagnostic:
    assert len(error.diagnostics) == 1, [d.message for d in error.diagnostics]
    return error.diagnostics[0]


def users_package(make_package: MakePackage, body: str | bytes, **kw: object) -> Path:
    """A package holding just a users.csv (and a 1.1 manifest)."""
    return make_package({"manifest.csv": MANIFEST_USERS, "users.csv": body}, **kw)


def read_rows(path: Path, entity: str, fields: tuple[str, ...]) -> list[dict[str, object]]:
    with opened(path) as package:
        return package.read(entity, fields).frame.to_dicts()


def read_error(path: Path, entity: str, fields: tuple[str, ...]) -> RunError:
    with opened(path) as package, pytest.raises(RunError) as caught:
        package.read(entity, fields)
    return caught.value


# --- opening ---------------------------------------------------------------------------


def test_folder_and_zip_give_the_same_tables(make_package: MakePackage) -> None:
    folder = make_package()
    archive = make_package(as_zip=True)
    with opened(folder) as a, opened(archive) as b:
        assert a.version == b.version == "1.1"
        assert a.files == b.files == {
            "orgs": "orgs.csv", "academicSessions": "academicSessions.csv",
            "classes": "classes.csv", "enrollments": "enrollments.csv", "users": "users.csv",
        }  # fmt: skip
        assert a.warnings == b.warnings == []
        for entity, fields in TINY_FIELDS.items():
            left, right = a.read(entity, fields), b.read(entity, fields)
            assert left.frame.equals(right.frame), entity
            assert left.columns == right.columns
            assert left.frame.height > 0


def test_zip_with_files_in_one_top_folder_is_read_with_a_warning(
    make_package: MakePackage,
) -> None:
    files = {f"district-export/{name}": body for name, body in tiny_files().items()}
    path = make_package(files, as_zip=True)
    with opened(path) as package:
        assert [(d.code, d.severity) for d in package.warnings] == [("RM416", Severity.WARNING)]
        assert "district-export" in package.warnings[0].message
        assert package.version == "1.1"
        rows = package.read("orgs", ("sourcedId", "name")).frame.to_dicts()
    assert [r["sourcedId"] for r in rows] == ["d1", "s1", "s2"]
    assert rows[1] == {LINE: 3, "sourcedId": "s1", "name": "North High"}


def test_zip_with_files_in_several_folders_is_refused(make_package: MakePackage) -> None:
    files = tiny_files()
    path = make_package({"a/orgs.csv": files["orgs.csv"], "b/users.csv": files["users.csv"]},
                        as_zip=True)
    error = only(refused(path))
    assert error.code == "RM416" and error.is_error
    assert "several folders (a, b)" in error.message


@pytest.mark.parametrize("entry", ["../../x.csv", "/etc/x.csv", "a/../../x.csv", "..\\x.csv"])
def test_zip_entry_outside_the_package_is_refused(make_package: MakePackage, entry: str) -> None:
    path = make_package({"orgs.csv": tiny_files()["orgs.csv"], entry: "sourcedId\nx\n"},
                        as_zip=True)
    error = only(refused(path))
    assert error.code == "RM416" and error.is_error
    assert f"entry `{entry}` points outside the package" in error.message


def test_zip_entry_past_the_size_limit_is_refused(make_package: MakePackage) -> None:
    path = make_package(as_zip=True)
    error = only(refused(path, Limits(max_file_bytes=100)))
    assert error.code == "RM416"
    assert "past the limit" in error.message
    with opened(path, Limits(max_file_bytes=10_000)) as package:
        assert package.has("users")


def test_zip_ignores_macos_metadata_and_hidden_files(make_package: MakePackage) -> None:
    files: dict[str, str | bytes] = dict(tiny_files())
    files["__MACOSX/._orgs.csv"] = b"\x00\x05\x16\x07"
    files[".DS_Store"] = b"\x00\x00\x00\x01Bud1"
    with opened(make_package(files, as_zip=True)) as package:
        assert package.warnings == []
        assert package.read("orgs", ("sourcedId",)).frame.height == 3


def test_a_file_that_is_not_a_zip_is_rm401(tmp_path: Path) -> None:
    path = tmp_path / "export.zip"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    error = only(refused(path))
    assert error.code == "RM401"
    assert "export.zip is not a readable zip" in error.message


def test_no_manifest_reads_as_version_1_0_with_a_warning(make_package: MakePackage) -> None:
    files = tiny_files()
    del files["manifest.csv"]
    with opened(make_package(files)) as package:
        assert package.version == "1.0"
        assert package.layout == "1.1"
        assert [(d.code, d.severity) for d in package.warnings] == [("RM402", Severity.WARNING)]
        assert package.modes == {}
        assert package.has("users")


@pytest.mark.parametrize(
    ("written", "version", "layout"),
    [("1.0", "1.0", "1.1"), ("1.1", "1.1", "1.1"), ("1.2", "1.2", "1.2"),
     ("1.2.1", "1.2", "1.2"), (" 1.1 ", "1.1", "1.1")],
)  # fmt: skip
def test_manifest_version(make_package: MakePackage, written: str, version: str,
                          layout: str) -> None:
    manifest = f"propertyName,value\noneroster.version,{written}\nfile.orgs,bulk\n"
    with opened(make_package({"manifest.csv": manifest, "orgs.csv": tiny_files()["orgs.csv"]})
                ) as package:
        assert (package.version, package.layout) == (version, layout)
        assert package.warnings == []


@pytest.mark.parametrize(("written", "shown"), [("2.0", "`2.0`"), ("", "`(blank)`"),
                                                ("v1.1", "`v1.1`")])
def test_unsupported_manifest_version_is_rm413(make_package: MakePackage, written: str,
                                               shown: str) -> None:
    files = tiny_files()
    files["manifest.csv"] = files["manifest.csv"].replace("oneroster.version,1.1",
                                                          f"oneroster.version,{written}")
    error = only(refused(make_package(files)))
    assert error.code == "RM413"
    assert error.message == f"manifest.csv names OneRoster version {shown}"
    assert error.location == DataLocation("manifest.csv", None, "oneroster.version")


def test_manifest_without_version_row_is_rm413(make_package: MakePackage) -> None:
    manifest = "propertyName,value\nmanifest.version,1.0\nfile.orgs,bulk\n"
    path = make_package({"manifest.csv": manifest, "orgs.csv": tiny_files()["orgs.csv"]})
    assert codes(refused(path).diagnostics) == ["RM413"]


def test_manifest_with_bom_and_crlf_is_read(make_package: MakePackage) -> None:
    manifest = "\ufeffpropertyName,value\r\noneroster.version,1.2\r\nfile.orgs,bulk\r\n"
    with opened(make_package({"manifest.csv": manifest, "orgs.csv": tiny_files()["orgs.csv"]})
                ) as package:
        assert package.version == "1.2"
        assert package.modes == {"orgs": "bulk"}


def test_manifest_listing_a_missing_file_warns_rm403(make_package: MakePackage) -> None:
    files = tiny_files()
    files["manifest.csv"] = files["manifest.csv"].replace("file.courses,absent",
                                                          "file.courses,bulk")
    with opened(make_package(files)) as package:
        assert codes(package.warnings) == ["RM403"]
        warning = package.warnings[0]
        assert warning.severity is Severity.WARNING
        assert "courses.csv as bulk, but the package has no such file" in warning.message
        assert not package.has("courses")


def test_manifest_marking_a_present_file_absent_warns_rm403(make_package: MakePackage) -> None:
    files = tiny_files()
    files["manifest.csv"] = files["manifest.csv"].replace("file.orgs,bulk", "file.orgs,absent")
    with opened(make_package(files)) as package:
        assert codes(package.warnings) == ["RM403"]
        assert "marks orgs.csv absent, but the package has it" in package.warnings[0].message
        assert package.has("orgs")
        assert package.modes["orgs"] == "absent"


def test_blank_manifest_mode_means_absent(make_package: MakePackage) -> None:
    files = tiny_files()
    files["manifest.csv"] = files["manifest.csv"].replace("file.courses,absent", "file.courses,")
    with opened(make_package(files)) as package:
        assert package.modes["courses"] == "absent"
        assert package.warnings == []


def test_delta_file_warns_rm417(make_package: MakePackage) -> None:
    files = tiny_files()
    files["manifest.csv"] = files["manifest.csv"].replace("file.users,bulk", "file.users,DELTA")
    with opened(make_package(files)) as package:
        assert codes(package.warnings) == ["RM417"]
        assert package.warnings[0].severity is Severity.WARNING
        assert "users.csv as a delta" in package.warnings[0].message
        assert package.modes["users"] == "delta"
        assert package.modes["orgs"] == "bulk"


def test_lowercase_file_name_is_read_with_a_warning(make_package: MakePackage) -> None:
    profiles = ("sourcedId,status,dateLastModified,userSourcedId,profileType,vendorId,"
                "applicationId,description,credentialType,username,password\n"
                "p1,,,u1,lms,v1,,,password,sam,\n")
    manifest = MANIFEST_12 + "file.userProfiles,bulk\n"
    with opened(make_package({"manifest.csv": manifest, "userprofiles.csv": profiles})
                ) as package:
        assert package.files == {"userProfiles": "userprofiles.csv"}
        rm406 = [d for d in package.warnings if d.code == "RM406"]
        assert len(rm406) == 1
        assert rm406[0].message == "file `userprofiles.csv` read as `userProfiles.csv`"
        assert rm406[0].severity is Severity.WARNING
        # The manifest's correctly spelt row matches the file: no RM403 for userProfiles.
        assert not any("userProfiles" in d.message for d in package.warnings
                       if d.code == "RM403")
        raw = package.read("userProfiles", ("sourcedId", "user", "username"))
    assert raw.file == "userprofiles.csv"
    assert raw.frame.to_dicts() == [{LINE: 2, "sourcedId": "p1", "user": "u1",
                                     "username": "sam"}]


def test_nonexistent_path_is_rm401(tmp_path: Path) -> None:
    error = only(refused(tmp_path / "nowhere.zip"))
    assert error.code == "RM401"
    assert "nowhere.zip` does not exist" in error.message


def test_folder_without_csv_is_rm401(make_package: MakePackage) -> None:
    path = make_package({"readme.txt": "not a roster", "users.xlsx": b"PK\x03\x04"})
    error = only(refused(path))
    assert error.code == "RM401"
    assert error.message == f"`{path}` holds no CSV files"


def test_empty_folder_and_empty_zip_are_rm401(make_package: MakePackage) -> None:
    assert codes(refused(make_package({})).diagnostics) == ["RM401"]
    assert codes(refused(make_package({}, as_zip=True, name="e")).diagnostics) == ["RM401"]


def test_unknown_csv_files_are_not_entities(make_package: MakePackage) -> None:
    files = dict(tiny_files(), **{"resources.csv": "sourcedId\nx\n", "notes.csv": "a\n"})
    with opened(make_package(files)) as package:
        assert set(package.files) == {"orgs", "academicSessions", "classes", "enrollments",
                                      "users"}
        assert not package.has("resources")


def _opens_as_1_1_without_warnings(path: Path) -> None:
    """`manifest.version,1`, source.* rows and absent files are all as the spec allows."""
    with opened(path) as package:
        assert package.version == "1.1"
        assert set(package.files) == {"orgs", "academicSessions", "courses", "classes",
                                      "users", "enrollments", "demographics"}
        assert package.warnings == []


def test_untidy_bulk_sample_opens_as_1_1_without_warnings(sample_package: SamplePackage) -> None:
    _opens_as_1_1_without_warnings(sample_package("v1p1-untidy-bulk"))


def test_edfi_sample_opens_as_1_1_without_warnings(corpus: Path) -> None:
    _opens_as_1_1_without_warnings(corpus / EDFI)


def _opens_with_its_warnings(path: Path) -> None:
    """A lower-case userprofiles.csv that a blank manifest mode marks absent."""
    with opened(path) as package:
        assert package.version == "1.2"
        assert package.files["userProfiles"] == "userprofiles.csv"
        assert codes(package.warnings) == ["RM406", "RM403"]


def test_malformed_1_2_zip_opens_with_its_warnings(sample_package: SamplePackage) -> None:
    _opens_with_its_warnings(sample_package("v1p2-malformed", as_zip=True))


def test_malformed_moodle_1_2_zip_opens_with_its_warnings(corpus: Path) -> None:
    _opens_with_its_warnings(corpus / MOODLE / "v1p2_full_dataset.zip")


@pytest.mark.parametrize(("name", "line_end", "final"), [
    ("v1p1-untidy-bulk/users.csv", b"\n", False),
    ("v1p1-untidy-bulk/courses.csv", b"\n", False),
    ("v1p1-minimal-crlf/classes.csv", b"\r\n", False),
    ("v1p1-minimal-crlf/users.csv", b"\r\n", True),
    ("v1p2-delta-crlf/users.csv", b"\r\n", True),
    ("v1p2-malformed/roles.csv", b"\r\n", False),
])  # fmt: skip
def test_own_samples_keep_their_line_ends(name: str, line_end: bytes, final: bool) -> None:
    """The sample files are bytes, not text: an editor or a git setting that rewrites
    their line ends would quietly take away what the tests over them read."""
    data = (SAMPLES / name).read_bytes()
    lines = data.count(b"\n")
    assert data.count(line_end) == lines and (line_end == b"\r\n" or b"\r" not in data)
    assert data.endswith(line_end) is final


# --- reading: encodings and line endings -----------------------------------------------


def test_utf8_bom_is_ignored(make_package: MakePackage) -> None:
    path = users_package(make_package, "\ufeffsourcedId,givenName\nu1,Zoë\n")
    with opened(path) as package:
        raw = package.read("users", ("sourcedId", "givenName"))
        assert raw.columns == {"sourcedId": "sourcedId", "givenName": "givenName"}
        assert package.warnings == []
    assert raw.frame.to_dicts() == [{LINE: 2, "sourcedId": "u1", "givenName": "Zoë"}]


def test_crlf_line_endings(make_package: MakePackage) -> None:
    path = users_package(make_package,
                         "sourcedId,givenName,password\r\nu1,Sam,pw1\r\nu2,Sue,\r\nu3,Tom,x\r\n")
    assert read_rows(path, "users", ("sourcedId", "password")) == [
        {LINE: 2, "sourcedId": "u1", "password": "pw1"},
        {LINE: 3, "sourcedId": "u2", "password": None},
        {LINE: 4, "sourcedId": "u3", "password": "x"},
    ]


def test_lone_cr_line_endings_are_rm408(make_package: MakePackage) -> None:
    path = users_package(make_package, "sourcedId,givenName\ru1,Sam\r")
    error = only(read_error(path, "users", ("sourcedId",)))
    assert error.code == "RM408"
    assert error.location == DataLocation("users.csv", 1)
    assert error.message == ("users.csv is not valid CSV at line 1: lines end with a lone "
                             "carriage return (CR)")
    assert error.notes == ("help: save the file with LF or CRLF line endings",)


def test_latin1_bytes_are_rm409_with_their_line(make_package: MakePackage) -> None:
    body = "sourcedId,givenName,familyName\nu1,Sam,Stu\nu2,Zoé,Stu\n".encode("latin-1")
    error = only(read_error(users_package(make_package, body), "users", ("sourcedId",)))
    assert error.code == "RM409"
    assert error.message == "users.csv is not UTF-8 (byte 0xe9 at line 3)"
    assert error.location == DataLocation("users.csv", 3)


def test_latin1_in_the_header_is_rm409_at_line_1(make_package: MakePackage) -> None:
    body = "sourcedId,prénom\nu1,Zoé\n".encode("latin-1")
    error = only(read_error(users_package(make_package, body), "users", ("sourcedId",)))
    assert (error.code, error.location) == ("RM409", DataLocation("users.csv", 1))


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_is_rm409(make_package: MakePackage, encoding: str) -> None:
    body = "sourcedId,givenName\nu1,Sam\n".encode(encoding)
    if not body.startswith((b"\xff\xfe", b"\xfe\xff")):
        body = "\ufeff".encode(encoding) + body
    error = only(read_error(users_package(make_package, body), "users", ("sourcedId",)))
    assert error.code == "RM409"
    assert error.message == "users.csv is UTF-16, not UTF-8"
    assert error.location == DataLocation("users.csv", 1)


# --- reading: headers --------------------------------------------------------------------


def test_quoted_comma_list_is_one_field(make_package: MakePackage) -> None:
    path = users_package(make_package, 'sourcedId,grades,givenName\nu1,"09,10",Sam\nu2,07,Sue\n')
    assert read_rows(path, "users", ("grades", "givenName")) == [
        {LINE: 2, "grades": "09,10", "givenName": "Sam"},
        {LINE: 3, "grades": "07", "givenName": "Sue"},
    ]


def test_columns_out_of_spec_order_are_matched_by_name(make_package: MakePackage) -> None:
    path = users_package(make_package,
                         "familyName,givenName,role,sourcedId\nStu,Sam,student,u1\n")
    with opened(path) as package:
        raw = package.read("users", ("sourcedId", "givenName", "familyName", "role"))
        assert package.warnings == []
    assert raw.frame.columns == [LINE, "sourcedId", "givenName", "familyName", "role"]
    assert raw.frame.row(0) == (2, "u1", "Sam", "Stu", "student")


def test_metadata_columns_are_ignored_even_mid_header(make_package: MakePackage) -> None:
    body = f"{ORGS_HEADER.replace(',name,', ',metadata.region,name,')},metadata.city\n" \
        "d1,,,North,District,district,,,Springfield\n"
    path = make_package({"manifest.csv": MANIFEST_USERS.replace("users", "orgs"), "orgs.csv": body})
    with opened(path) as package:
        raw = package.read("orgs", ("sourcedId", "name", "type"))
        assert package.warnings == []
    assert raw.frame.to_dicts() == [{LINE: 2, "sourcedId": "d1", "name": "District",
                                     "type": "district"}]


@pytest.mark.parametrize(
    ("entity", "column", "field"),
    [("users", "userId", "identifier"), ("users", "agents", "agents"),
     ("users", "grade", "grades"), ("demographics", "userSourcedId", "sourcedId")],
)  # fmt: skip
def test_1_0_column_spellings_are_read(make_package: MakePackage, entity: str, column: str,
                                       field: str) -> None:
    path = make_package({f"{entity}.csv": f"{column},status\nVALUE,\n"})
    with opened(path) as package:
        raw = package.read(entity, (field,))
        assert codes(package.warnings) == ["RM402"]  # no manifest; the column is not odd
    assert raw.columns == {field: column}
    assert raw.frame[field].to_list() == ["VALUE"]


def test_header_name_in_another_case_is_read_with_rm406(make_package: MakePackage) -> None:
    path = users_package(make_package, "SourcedId,givenname,familyName\nu1,Sam,Stu\n")
    with opened(path) as package:
        raw = package.read("users", ("sourcedId", "givenName"))
        warnings = package.warnings
    assert raw.frame.to_dicts() == [{LINE: 2, "sourcedId": "u1", "givenName": "Sam"}]
    assert raw.columns == {"sourcedId": "SourcedId", "givenName": "givenname"}
    assert [(d.code, d.severity, d.location) for d in warnings] == [
        ("RM406", Severity.WARNING, DataLocation("users.csv", 1, "SourcedId")),
        ("RM406", Severity.WARNING, DataLocation("users.csv", 1, "givenname")),
    ]
    assert warnings[1].message == "users.csv: column `givenname` read as `givenName`"


@pytest.mark.parametrize(
    ("column", "help_"),
    [("givenNme", "help: did you mean `givenName`?"),
     ("dataLastModified", "help: did you mean `dateLastModified`?"),
     ("prefferedGivenName", "help: did you mean `preferredGivenName`?"),
     ("shoeSize", "help: extension columns are named metadata.<name>")],
)  # fmt: skip
def test_unknown_column_is_rm406_with_a_hint(make_package: MakePackage, column: str,
                                             help_: str) -> None:
    path = users_package(make_package, f"sourcedId,{column}\nu1,x\n")
    with opened(path) as package:
        raw = package.read("users", ("sourcedId", "givenName"))
        warnings = package.warnings
    assert [d.code for d in warnings] == ["RM406"]
    assert warnings[0].message == f"users.csv: unknown column `{column}` is ignored"
    assert warnings[0].location == DataLocation("users.csv", 1, column)
    assert warnings[0].notes == (help_,)
    assert raw.frame["givenName"].to_list() == [None]


def test_column_of_the_other_version_is_not_unknown(make_package: MakePackage) -> None:
    # resourceSourcedIds is a 1.2 Final users column (dropped in 1.2.1): known, not read.
    path = users_package(make_package, "sourcedId,resourceSourcedIds\nu1,r1\n")
    with opened(path) as package:
        package.read("users", ("sourcedId",))
        assert package.warnings == []


def test_empty_header_names_are_rm414(make_package: MakePackage) -> None:
    path = users_package(make_package, "sourcedId,,givenName, \nu1,x,Sam,y\n")
    with opened(path) as package:
        raw = package.read("users", ("sourcedId", "givenName"))
        warnings = package.warnings
    assert raw.frame.to_dicts() == [{LINE: 2, "sourcedId": "u1", "givenName": "Sam"}]
    assert [(d.code, d.severity) for d in warnings] == [("RM414", Severity.WARNING)] * 2
    assert warnings[0].message == "users.csv: column 2 has no name and is ignored"
    assert warnings[1].message == "users.csv: column 4 has no name and is ignored"


def test_repeated_column_is_rm414_and_the_first_is_read(make_package: MakePackage) -> None:
    path = users_package(make_package, "sourcedId,givenName,givenName\nu1,First,Second\n")
    with opened(path) as package:
        raw = package.read("users", ("givenName",))
        warnings = package.warnings
    assert raw.frame["givenName"].to_list() == ["First"]
    assert codes(warnings) == ["RM414"]
    assert "repeats an earlier column" in warnings[0].message


def test_header_names_are_trimmed(make_package: MakePackage) -> None:
    path = users_package(make_package, " sourcedId , givenName \nu1,Sam\n")
    with opened(path) as package:
        raw = package.read("users", ("sourcedId", "givenName"))
        assert package.warnings == []
    assert raw.frame.row(0) == (2, "u1", "Sam")
    assert raw.columns == {"sourcedId": " sourcedId ", "givenName": " givenName "}


# --- reading: rows -----------------------------------------------------------------------


def test_extra_non_empty_field_is_rm415_naming_the_line(make_package: MakePackage) -> None:
    body = "sourcedId,givenName\nu1,Sam\nu2,Smith, Jr\nu3,Sue\nu4,O,Neil,x\n"
    error = only(read_error(users_package(make_package, body), "users", ("sourcedId",)))
    assert error.code == "RM415"
    assert error.message == ("users.csv: 2 row(s) have more fields than the header's 2, "
                             "first at line 3")
    assert error.location == DataLocation("users.csv", 3)
    assert error.notes[0] == "note: lines 3, 5"


def test_first_row_with_two_extra_fields_is_rm415(make_package: MakePackage) -> None:
    # polars sizes its columns on the first row: two extra fields there used to be an
    # unlocated RM408 instead of RM415.
    body = "sourcedId,givenName\nu1,Sam,x,y\nu2,Sue\n"
    error = only(read_error(users_package(make_package, body), "users", ("sourcedId",)))
    assert (error.code, error.location) == ("RM415", DataLocation("users.csv", 2))


def test_text_in_a_later_extra_field_is_rm415_too(make_package: MakePackage) -> None:
    # trailing empty fields are tolerated, so text past them must still be seen
    body = "sourcedId,givenName\nu1,Sam\nu2,Sue,,,,shifted\n"
    error = only(read_error(users_package(make_package, body), "users", ("sourcedId",)))
    assert (error.code, error.location) == ("RM415", DataLocation("users.csv", 3))


@pytest.mark.parametrize("row", ["u2,Sue,", "u2,Sue,,"])
def test_extra_empty_trailing_fields_are_accepted(make_package: MakePackage, row: str) -> None:
    path = users_package(make_package, f"sourcedId,givenName\n{row}\nu3,Tom\n")
    assert read_rows(path, "users", ("sourcedId", "givenName")) == [
        {LINE: 2, "sourcedId": "u2", "givenName": "Sue"},
        {LINE: 3, "sourcedId": "u3", "givenName": "Tom"},
    ]


def _teacher_rows_with_a_trailing_comma_are_read(path: Path, users: int) -> None:
    with opened(path) as package:
        frame = package.read("users", ("sourcedId", "role", "password")).frame
    assert frame.height == users
    teachers = frame.filter(pl.col("role") == "teacher")
    assert teachers.height == 2
    assert teachers["password"].to_list() == [None, None]


def test_untidy_bulk_sample_teacher_rows_with_a_trailing_comma_are_read(
    sample_package: SamplePackage,
) -> None:
    _teacher_rows_with_a_trailing_comma_are_read(sample_package("v1p1-untidy-bulk"), 6)


def test_edfi_sample_teacher_rows_with_a_trailing_comma_are_read(corpus: Path) -> None:
    _teacher_rows_with_a_trailing_comma_are_read(corpus / EDFI, 10)


def test_short_rows_are_padded_with_missing_values(make_package: MakePackage) -> None:
    path = users_package(make_package, "sourcedId,givenName,familyName\nu1\nu2,Sue\nu3,Tom,T\n")
    assert read_rows(path, "users", ("sourcedId", "givenName", "familyName")) == [
        {LINE: 2, "sourcedId": "u1", "givenName": None, "familyName": None},
        {LINE: 3, "sourcedId": "u2", "givenName": "Sue", "familyName": None},
        {LINE: 4, "sourcedId": "u3", "givenName": "Tom", "familyName": "T"},
    ]


@pytest.mark.parametrize("body", ["", "\ufeff", "\n", "   \nu1,Sam\n", "\r\n"])
def test_file_without_header_is_rm412(make_package: MakePackage, body: str) -> None:
    error = only(read_error(users_package(make_package, body), "users", ("sourcedId",)))
    assert error.code == "RM412"
    assert error.message == "users.csv has no header row"
    assert error.location == DataLocation("users.csv", 1)


@pytest.mark.parametrize("body", ["sourcedId,givenName\n", "sourcedId,givenName",
                                  "\ufeffsourcedId,givenName\r\n"])
def test_header_only_file_has_zero_rows(make_package: MakePackage, body: str) -> None:
    with opened(users_package(make_package, body)) as package:
        raw = package.read("users", ("sourcedId", "givenName", "email"))
    assert raw.frame.height == 0
    assert raw.frame.schema == pl.Schema({LINE: pl.Int64, "sourcedId": pl.String,
                                          "givenName": pl.String, "email": pl.String})


def test_unterminated_quote_is_rm408_at_the_line_it_opens(make_package: MakePackage) -> None:
    body = 'sourcedId,givenName\nu1,Sam\nu2,"Sue\nu3,Tom\nu4,Ann\n'
    error = only(read_error(users_package(make_package, body), "users", ("sourcedId",)))
    assert error.code == "RM408"
    assert error.location == DataLocation("users.csv", 3)
    assert error.message == ("users.csv is not valid CSV at line 3: a quoted value starts on "
                             "this line and is never closed")


def test_unterminated_quote_in_a_long_file_is_rm408_at_the_line_it_opens(
    make_package: MakePackage,
) -> None:
    # The quoted value runs on past the csv module's field limit before the file ends.
    body = 'sourcedId,givenName\nu1,Sam\nu2,"Sue\n' + "".join(
        f"u{i},Tom\n" for i in range(3, 30_000))
    error = only(read_error(users_package(make_package, body), "users", ("sourcedId",)))
    assert (error.code, error.location) == ("RM408", DataLocation("users.csv", 3))
    assert error.message == ("users.csv is not valid CSV at line 3: a value runs on past "
                             f"{csv.field_size_limit():,} characters, so a quote in it is "
                             "probably never closed")


def test_text_after_a_closing_quote_is_rm408_with_its_line(make_package: MakePackage) -> None:
    body = 'sourcedId,givenName\nu1,Sam\nu2,"Sue"x\nu3,Tom\n'
    fields = ("sourcedId", "givenName")  # polars only parses the values of columns read
    error = only(read_error(users_package(make_package, body), "users", fields))
    assert (error.code, error.location) == ("RM408", DataLocation("users.csv", 3))
    assert error.message == ("users.csv is not valid CSV at line 3: text follows the closing "
                             "quote of a value")


@pytest.mark.parametrize("body", [
    "sourcedId,givenName\ru1,Sam\r",
    'sourcedId,givenName\nu1,Sam\nu2,"Sue\nu3,Tom\n',
    'sourcedId,givenName\nu1,Sam\nu2,"Sue"x\nu3,Tom\n',
    'sourcedId,givenName\nu1,Sam\nu2,"Sue\n' + "u3,Tom\n" * 30_000,
])  # fmt: skip
def test_rm408_never_repeats_the_csv_module_wording(make_package: MakePackage,
                                                    body: str) -> None:
    """The csv module's messages speak of its API (open the file with newline='') and
    change between Python versions: the diagnostic says what is wrong with the file."""
    wording = _csv_module_wording(body)
    fields = ("sourcedId", "givenName")
    error = only(read_error(users_package(make_package, body), "users", fields))
    assert error.code == "RM408"
    for text in (error.message, *error.notes):
        assert wording not in text and "newline" not in text and "new-line" not in text


def _csv_module_wording(body: str) -> str:
    """What Python's csv module says of ``body``, read as the reader reads it: the
    header line by itself, then the whole file strictly."""
    try:
        next(csv.reader([body.partition("\n")[0].rstrip("\r")]))
        for _ in csv.reader(io.StringIO(body, newline=""), strict=True):
            pass
    except csv.Error as error:
        return str(error)
    raise AssertionError("the csv module reads this body without complaint")


def test_quote_inside_an_unquoted_field_is_rm408(make_package: MakePackage) -> None:
    body = 'sourcedId,givenName\nu1,Sam\nu2,Su"e\nu3,Tom\n'
    fields = ("sourcedId", "givenName")
    error = only(read_error(users_package(make_package, body), "users", fields))
    assert error.code == "RM408"


def test_doubled_quotes_inside_a_quoted_field_are_read(make_package: MakePackage) -> None:
    path = users_package(make_package, 'sourcedId,givenName\nu1,"Sam ""the man"", Jr"\n')
    assert read_rows(path, "users", ("givenName",)) == [
        {LINE: 2, "givenName": 'Sam "the man", Jr'}]


def test_values_are_not_trimmed_by_the_reader(make_package: MakePackage) -> None:
    # Trimming is validation's job: the raw text is what the file holds.
    path = users_package(make_package, 'sourcedId,givenName\n u1 ,"  Sam "\n')
    assert read_rows(path, "users", ("sourcedId", "givenName")) == [
        {LINE: 2, "sourcedId": " u1 ", "givenName": "  Sam "}]


def test_no_final_newline_and_blank_lines_keep_line_numbers(make_package: MakePackage) -> None:
    path = users_package(make_package, "sourcedId,givenName\nu1,Sam\n\nu3,Tom\nu4,Ann")
    rows = read_rows(path, "users", ("sourcedId",))
    assert {r["sourcedId"]: r[LINE] for r in rows if r["sourcedId"]} == {
        "u1": 2, "u3": 4, "u4": 5}


def test_only_requested_columns_are_read(make_package: MakePackage) -> None:
    with opened(make_package()) as package:
        raw = package.read("users", ("givenName", "sourcedId", "givenName"))
    assert raw.frame.columns == [LINE, "givenName", "sourcedId"]
    assert raw.columns == {"givenName": "givenName", "sourcedId": "sourcedId"}
    assert raw.entity == "users" and raw.file == "users.csv"
    assert raw.frame.schema[LINE] == pl.Int64


def test_requested_column_missing_from_the_file_is_all_missing(make_package: MakePackage) -> None:
    path = users_package(make_package, "sourcedId,givenName\nu1,Sam\nu2,Sue\n")
    with opened(path) as package:
        raw = package.read("users", ("sourcedId", "email"))
    assert raw.frame["email"].to_list() == [None, None]
    assert raw.frame.schema["email"] == pl.String
    assert raw.columns == {"sourcedId": "sourcedId"}


def test_a_bad_value_in_an_unread_column_does_not_matter(make_package: MakePackage) -> None:
    path = users_package(make_package, "sourcedId,enabledUser,givenName\nu1,maybe,Sam\n")
    with opened(path) as package:
        tables = load_tables(package, {"users": ("sourcedId", "givenName")})
    assert tables.frames["users"]["givenName"].to_list() == ["Sam"]


def test_zip_reads_like_the_folder_for_untidy_files(make_package: MakePackage) -> None:
    body = '\ufeffsourcedId,grades,metadata.x,givenName\r\nu1,"09,10",m,Sam\r\nu2,,,Sue,\r\n'
    fields = ("sourcedId", "grades", "givenName")
    folder = read_rows(users_package(make_package, body), "users", fields)
    archive = read_rows(users_package(make_package, body, as_zip=True, name="z"), "users",
                        fields)
    assert folder == archive == [
        {LINE: 2, "sourcedId": "u1", "grades": "09,10", "givenName": "Sam"},
        {LINE: 3, "sourcedId": "u2", "grades": None, "givenName": "Sue"},
    ]


# --- property: what csv.writer writes, the reader reads back -----------------------------

# What polars' strip_chars() strips: Unicode White_Space. Python's str.strip() also strips
# the separators \x1c-\x1f, which are not White_Space, so it cannot be used as is.
_WHITESPACE = ("\t\x0b\x0c \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
               "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_TEXT_FIELDS = ("givenName", "familyName", "email", "username", "middleName")
# NUL is not text: a value holding one is refused (RM408), see tests/bad_input/.
_values = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r\n\x00"),
                  max_size=12)
_rows = st.lists(st.tuples(*[_values] * len(_TEXT_FIELDS)), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(rows=_rows, bom=st.booleans(), crlf=st.booleans())
def test_csv_writer_output_round_trips(rows: list[tuple[str, ...]], bom: bool,
                                       crlf: bool) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(["sourcedId", *_TEXT_FIELDS])
    for number, row in enumerate(rows):
        writer.writerow([f"id{number}", *row])
    data = ("\ufeff" if bom else "") + buffer.getvalue()
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "users.csv").write_bytes(data.encode("utf-8"))
        with opened(Path(folder)) as package:
            raw = package.read("users", _TEXT_FIELDS).frame
            typed = load_tables(package, {"users": ("sourcedId", *_TEXT_FIELDS)}).frames["users"]
    assert raw[LINE].to_list() == list(range(2, len(rows) + 2))
    assert typed["sourcedId"].to_list() == [f"id{n}" for n in range(len(rows))]
    for field_index, field in enumerate(_TEXT_FIELDS):
        written = [row[field_index] for row in rows]
        # The reader gives the text exactly; empty is missing.
        assert raw[field].to_list() == [v if v else None for v in written], field
        # Validation trims surrounding white space; what is left empty is missing.
        assert typed[field].to_list() == [v.strip(_WHITESPACE) or None for v in written], field


# --- limits and damaged zips ---------------------------------------------------------------


def patch_zip(path: Path, entry: str, local: dict[int, int], central: dict[int, int],
              width: int = 2) -> None:
    """Overwrite header fields of ``entry`` (offset -> value) in a zip's local and
    central headers: how a damaged or hostile zip is made."""
    import struct

    data = bytearray(path.read_bytes())
    for signature, name_at, fields in ((b"PK\x03\x04", (26, 30), local),
                                       (b"PK\x01\x02", (28, 46), central)):
        at = 0
        while (at := data.find(signature, at)) != -1:
            size = struct.unpack_from("<H", data, at + name_at[0])[0]
            name = bytes(data[at + name_at[1]: at + name_at[1] + size]).decode()
            if name == entry:
                for offset, value in fields.items():
                    struct.pack_into("<H" if width == 2 else "<I", data, at + offset, value)
            at += 4
    path.write_bytes(bytes(data))


def test_more_records_than_max_records_is_rm423(make_package: MakePackage) -> None:
    body = "sourcedId,givenName\n" + "".join(f"u{i},x\n" for i in range(5))
    path = users_package(make_package, body)
    with opened(path, Limits(max_records=3)) as package, pytest.raises(RunError) as caught:
        package.read("users", ("sourcedId",))
    error = only(caught.value)
    assert error.code == "RM423"
    assert error.message == "users.csv has more than 3 records, the limit"
    assert error.location == DataLocation("users.csv", 5)
    assert error.notes == ("help: raise the limit with --max-records if the file is real",)
    with opened(path, Limits(max_records=5)) as package:
        assert package.read("users", ("sourcedId",)).frame.height == 5


def test_value_longer_than_max_field_bytes_is_rm424(make_package: MakePackage) -> None:
    path = users_package(make_package, "sourcedId,givenName,familyName\nu1,Sam,Stu\n"
                         "u2,Zoë-Annabelle,Stu\n")
    limits = Limits(max_field_bytes=10)
    with opened(path, limits) as package, pytest.raises(RunError) as caught:
        package.read("users", ("sourcedId", "givenName"))
    error = only(caught.value)
    assert error.code == "RM424"
    assert error.message == ("users.csv: a value of givenName at line 3 is 14 bytes, past the "
                             "limit of 10")
    assert error.location == DataLocation("users.csv", 3, "givenName")
    with opened(path, limits) as package:  # a column the mapping does not read is not held
        assert package.read("users", ("familyName",)).frame.height == 2


def test_nul_byte_in_a_value_read_is_rm408(make_package: MakePackage) -> None:
    path = users_package(make_package, "sourcedId,givenName,familyName\nu1,Sam,Stu\n"
                         "u2,S\x00ue,Stu\n")
    error = only(read_error(path, "users", ("sourcedId", "givenName")))
    assert (error.code, error.location) == ("RM408", DataLocation("users.csv", 3, "givenName"))
    assert error.message == "users.csv contains a NUL byte at line 3, in givenName"
    assert read_rows(path, "users", ("familyName",))[1]["familyName"] == "Stu"


def test_nul_byte_in_the_header_is_rm408(make_package: MakePackage) -> None:
    error = only(read_error(users_package(make_package, "sourcedId,given\x00Name\nu1,Sam\n"),
                            "users", ("sourcedId",)))
    assert (error.code, error.location) == ("RM408", DataLocation("users.csv", 1))


def test_folder_file_past_max_file_bytes_is_rm416(make_package: MakePackage) -> None:
    path = users_package(make_package, "sourcedId,givenName\nu1,Sam\n")
    error = only(_read_with(path, Limits(max_file_bytes=10)))
    assert error.code == "RM416"
    assert error.message == "users.csv is larger than the limit of 10 bytes (--max-file-bytes)"


def _read_with(path: Path, limits: Limits) -> RunError:
    with opened(path, limits) as package, pytest.raises(RunError) as caught:
        package.read("users", ("sourcedId",))
    return caught.value


def test_huge_manifest_is_refused(make_package: MakePackage) -> None:
    manifest = MANIFEST_USERS + "x,y\n" * 300_000
    for as_zip in (False, True):
        path = make_package({"manifest.csv": manifest, "users.csv": "sourcedId\nu1\n"},
                            as_zip=as_zip, name=f"m{as_zip}")
        error = only(refused(path))
        assert error.code == "RM416"
        assert "manifest.csv is larger than 1,048,576 bytes: not a manifest" in error.message


@pytest.mark.parametrize(("local", "central", "message"), [
    ({6: 1}, {8: 1}, "p.zip: entry `users.csv` is encrypted"),
    ({8: 99}, {10: 99}, "p.zip: entry `users.csv` uses compression method 99, which rostermap "
     "cannot read"),
])
def test_encrypted_or_unknown_compression_is_rm425(make_package: MakePackage,
                                                   local: dict[int, int],
                                                   central: dict[int, int], message: str) -> None:
    path = make_package(as_zip=True, name="p")
    patch_zip(path, "users.csv", local, central)
    with opened(path) as package:
        assert package.read("orgs", ("sourcedId",)).frame.height == 3  # other files read
        with pytest.raises(RunError) as caught:
            package.read("users", ("sourcedId",))
    error = only(caught.value)
    assert (error.code, error.message) == ("RM425", message)


def test_damaged_zip_entry_is_rm425(make_package: MakePackage) -> None:
    path = make_package(as_zip=True, name="p")
    data = bytearray(path.read_bytes())
    data[data.find(b"Sam,Stu")] = ord("X")  # stored, not compressed: the checksum fails
    path.write_bytes(bytes(data))
    error = only(_read_with(path, Limits()))
    assert error.code == "RM425"
    assert error.message == "p.zip: entry `users.csv` is damaged (Bad CRC-32 for file " \
        "'users.csv')"


def test_zip_entry_larger_than_its_header_says_is_cut_off(make_package: MakePackage) -> None:
    files: dict[str, str | bytes] = dict(tiny_files())
    files["users.csv"] = str(files["users.csv"]) + "u9,,,true,s1,student,x,,X,Y,,,,,,,,\n" * 5000
    path = make_package(files, as_zip=True, name="p")
    # a bomb that lies: its headers claim 500 bytes, well under any limit
    patch_zip(path, "users.csv", {22: 500}, {24: 500}, width=4)
    error = only(_read_with(path, Limits()))
    assert error.code == "RM425" and "is damaged" in error.message


def test_zip_entries_are_streamed_not_held_in_memory(make_package: MakePackage) -> None:
    import tracemalloc

    files: dict[str, str | bytes] = dict(tiny_files())
    row = "u{},,,true,s1,student,sam,,Samantha,Student,,S-1,sam@d.org,,,,09,\n"
    header = str(files["users.csv"]).split("\n", 1)[0] + "\n"
    files["users.csv"] = header + "".join(row.format(i) for i in range(400_000))
    path = make_package(files, as_zip=True, name="big")
    size = len(files["users.csv"])
    assert size > 25_000_000
    tracemalloc.start()
    try:
        with opened(path) as package:
            rows = package.read("users", ("sourcedId",)).frame.height
            expanded = package._expanded
            assert expanded is not None and expanded.stat().st_mode & 0o777 == 0o700
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == 400_000
    assert peak < size / 5  # the entry went through 1 MiB chunks, never whole
    assert not expanded.exists()  # removed on close
