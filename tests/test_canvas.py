"""The Canvas profile, checked against Canvas's SIS Import Format page.

``canvas_problems`` is a checker written from that page (canvas-lms, doc/api/sis_csv.md):
each file's required columns, the values its enumerations allow, timestamps as
YYYY-MM-DDTHH:MM:SSZ, every id a file names present in the file it points at, login
ids unique ignoring case, one enrollment row per user, course and role. It knows
nothing of the profile; the tests run the profile on the example district, on
generated districts (1.1 and 1.2, with guardians, inactive and tobedeleted records)
and on small districts built for one rule each, and hand the files to the checker.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from rostermap.compiler import compile_mapping
from rostermap.devtools.generate import generate
from rostermap.runtime.errors import UsageError
from rostermap.runtime.run.pipeline import run
from rostermap.runtime.sync.run import SyncOptions, approve, sync
from tests.conftest import EXAMPLE, MAPPINGS, tiny_files

TODAY = dt.date(2026, 3, 2)
PARAMS = ("zone=America/Chicago",)
BUNDLE = "canvas-sis-import.zip"
# The page's tables: each file's required columns, and the values of its enumerations.
REQUIRED = {
    "accounts.csv": ("account_id", "parent_account_id", "name", "status"),
    "terms.csv": ("term_id", "name", "status"),
    "courses.csv": ("course_id", "short_name", "long_name", "status"),
    "sections.csv": ("section_id", "course_id", "name", "status"),
    "users.csv": ("user_id", "login_id", "status"),
    "enrollments.csv": ("user_id", "status"),
    "user_observers.csv": ("observer_id", "student_id", "status"),
}
STATUSES = {
    "accounts.csv": {"active", "deleted"},
    "terms.csv": {"active", "deleted"},
    "courses.csv": {"active", "deleted", "completed"},
    "sections.csv": {"active", "deleted"},
    "users.csv": {"active", "deleted"},
    "enrollments.csv": {"active", "deleted", "completed", "inactive"},
    "user_observers.csv": {"active", "deleted"},
}
# "If this is blank the parent account will be the root account. Note that even if all
# values are blank, the column must be included"
BLANK_MEANS_ROOT = {"parent_account_id"}
ROLES = {"student", "teacher", "ta", "observer", "designer"}
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
# (file, column) -> (file, column) it names; a blank value names nothing (the page's
# defaults: the root account, the default term).
POINTERS = {
    ("courses.csv", "account_id"): ("accounts.csv", "account_id"),
    ("courses.csv", "term_id"): ("terms.csv", "term_id"),
    ("sections.csv", "course_id"): ("courses.csv", "course_id"),
    ("accounts.csv", "parent_account_id"): ("accounts.csv", "account_id"),
    ("enrollments.csv", "course_id"): ("courses.csv", "course_id"),
    ("enrollments.csv", "section_id"): ("sections.csv", "section_id"),
    ("enrollments.csv", "user_id"): ("users.csv", "user_id"),
    ("enrollments.csv", "associated_user_id"): ("users.csv", "user_id"),
    ("user_observers.csv", "observer_id"): ("users.csv", "user_id"),
    ("user_observers.csv", "student_id"): ("users.csv", "user_id"),
}


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def canvas_problems(folder: Path) -> list[str]:
    """What Canvas's SIS Import Format page says is wrong with the files of ``folder``."""
    problems: list[str] = []
    files = {name: read(folder / name) for name in REQUIRED if (folder / name).exists()}
    for name, rows in files.items():
        header = (folder / name).read_text(encoding="utf-8").splitlines()[0].split(",")
        problems += [f"{name}: no column {c}" for c in REQUIRED[name] if c not in header]
        for number, row in enumerate(rows, start=2):
            where = f"{name}:{number}"
            problems += [f"{where}: {c} is blank" for c in REQUIRED[name]
                         if not row.get(c) and c not in BLANK_MEANS_ROOT]
            if row.get("status") not in STATUSES[name]:
                problems.append(f"{where}: status {row.get('status')!r}")
            for column in ("start_date", "end_date"):
                if row.get(column) and not TIMESTAMP.fullmatch(row[column]):
                    problems.append(f"{where}: {column} {row[column]!r} is not a timestamp")
    if "enrollments.csv" in files:
        for number, row in enumerate(files["enrollments.csv"], start=2):
            if not (row.get("course_id") or row.get("section_id")):
                problems.append(f"enrollments.csv:{number}: neither course_id nor section_id")
            if row.get("role") not in ROLES and not row.get("role_id"):
                problems.append(f"enrollments.csv:{number}: role {row.get('role')!r}")
        triples = Counter((r["user_id"], r["course_id"], r["role"])
                          for r in files["enrollments.csv"])
        problems += [f"enrollments.csv: {t} has {n} rows" for t, n in triples.items() if n > 1]
    for (name, column), (target, key) in POINTERS.items():
        if name not in files or target not in files:
            continue
        known = {r[key] for r in files[target]}
        for number, row in enumerate(files[name], start=2):
            if row.get(column) and row[column] not in known:
                problems.append(f"{name}:{number}: {column} {row[column]!r} is not in {target}")
    for name, column in (("users.csv", "user_id"), ("accounts.csv", "account_id"),
                         ("terms.csv", "term_id"), ("courses.csv", "course_id"),
                         ("sections.csv", "section_id")):
        if name in files:
            repeated = [v for v, n in Counter(r[column] for r in files[name]).items() if n > 1]
            problems += [f"{name}: {column} {v!r} repeated" for v in repeated]
    if "users.csv" in files:
        logins = Counter(r["login_id"].lower() for r in files["users.csv"])
        problems += [f"users.csv: login_id {v!r} repeated ignoring case"
                     for v, n in logins.items() if n > 1]
    if "user_observers.csv" in files:
        pairs = Counter((r["observer_id"], r["student_id"]) for r in files["user_observers.csv"])
        problems += [f"user_observers.csv: {p} repeated" for p, n in pairs.items() if n > 1]
    return problems


def check_bundle(folder: Path) -> None:
    """The upload is one zip holding the import files, exactly as written, and nothing else."""
    with zipfile.ZipFile(folder / BUNDLE) as archive:
        assert sorted(archive.namelist()) == sorted(REQUIRED)
        for name in archive.namelist():
            assert archive.read(name) == (folder / name).read_bytes(), name


def test_the_example_district_gives_files_canvas_accepts(tmp_path: Path) -> None:
    result = run("canvas", EXAMPLE, tmp_path, PARAMS, today=TODAY)
    assert result.report.outcome.exit_code == 0
    assert canvas_problems(tmp_path) == []
    check_bundle(tmp_path)
    assert len(read(tmp_path / "user_observers.csv")) > 0


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_generated_districts_give_files_canvas_accepts(tmp_path: Path, version: str) -> None:
    source = tmp_path / "district"
    generate(source, students=300, seed=7, version=version)
    users = read(source / "users.csv")
    # the district holds what the rules are about: guardians, inactive and tobedeleted
    assert any(u.get("agentSourcedIds") for u in users)
    assert any(u["status"] == "tobedeleted" or u["enabledUser"] == "false" for u in users)
    out = tmp_path / "out"
    result = run("canvas", source, out, PARAMS, today=TODAY)
    assert result.report.outcome.exit_code in (0, 3)
    assert canvas_problems(out) == []
    check_bundle(out)
    statuses = Counter(r["status"] for r in read(out / "users.csv"))
    assert statuses["active"] > 0 and statuses["deleted"] > 0


# --- one rule each ------------------------------------------------------------------------

USERS = ("sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,"
         "givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,"
         "password\n")


def package(tmp_path: Path, name: str = "pkg", **replaced: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for file, text in {**tiny_files(), **replaced}.items():
        (folder / file).write_text(text, encoding="utf-8")
    return folder


def test_login_ids_that_differ_only_in_case_are_both_rejected(tmp_path: Path) -> None:
    source = package(tmp_path, **{"users.csv": USERS + (
        "t1,,,true,s1,teacher,tina,,Tina,Teach,,T-1,tina@d.org,,,,,\n"
        "u1,,,true,s1,student,Sam,,Sam,Stu,,S-1,sam@d.org,,,,09,\n"
        "u2,,,true,s2,student,sam,,Sue,Stu,,S-2,sue@other.org,,,,07,\n")})
    out = tmp_path / "out"
    result = run("canvas", source, out, PARAMS, today=TODAY)
    assert result.report.outcome.exit_code == 3
    assert [r["user_id"] for r in read(out / "users.csv")] == ["t1"]
    assert canvas_problems(out) == []


def test_a_guardian_linked_from_either_side_observes_once(tmp_path: Path) -> None:
    source = package(tmp_path, **{"users.csv": USERS + (
        "t1,,,true,s1,teacher,tina,,Tina,Teach,,T-1,tina@d.org,,,,,\n"
        "u1,,,true,s1,student,sam,,Sam,Stu,,S-1,sam@d.org,,,p1,09,\n"
        "u2,,,true,s2,student,sue,,Sue,Stu,,S-2,sue@other.org,,,,07,\n"
        "p1,,,true,s1,parent,pat,,Pat,Stu,,,pat@home.org,,,\"u1,u2\",,\n")})
    out = tmp_path / "out"
    run("canvas", source, out, PARAMS, today=TODAY)
    assert [(r["observer_id"], r["student_id"], r["status"])
            for r in read(out / "user_observers.csv")] == [
        ("p1", "u1", "active"), ("p1", "u2", "active")]
    assert canvas_problems(out) == []


def test_a_class_term_is_the_nearest_session_of_a_listed_type(tmp_path: Path) -> None:
    sessions = ("sourcedId,status,dateLastModified,title,type,startDate,endDate,"
                "parentSourcedId,schoolYear\n"
                "y1,,,2025-2026,schoolYear,2025-08-15,2026-06-15,,2026\n"
                "s1,,,Fall,semester,2025-08-15,2026-01-10,y1,2026\n"
                "g1,,,Q1,gradingPeriod,2025-08-15,2025-10-15,s1,2026\n")
    classes = ("sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,"
               "classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,"
               "periods\n"
               "c1,,,Algebra,09,k1,ALG,scheduled,,s1,g1,,,1\n"
               "c2,tobedeleted,,Science,07,k2,SCI,scheduled,,s2,y1,,,2\n")
    source = package(tmp_path, **{"academicSessions.csv": sessions, "classes.csv": classes})
    out = tmp_path / "out"
    run("canvas", source, out, PARAMS, today=TODAY)
    courses = {r["course_id"]: r for r in read(out / "courses.csv")}
    assert (courses["c1"]["term_id"], courses["c2"]["term_id"]) == ("s1", "y1")
    assert courses["c2"]["status"] == "deleted"  # tobedeleted: sent as deleted
    terms = {r["term_id"]: r for r in read(out / "terms.csv")}
    assert sorted(terms) == ["s1", "y1"]  # a grading period is not a listed type
    # midnight in Chicago (CDT, UTC-5) on the first day; OneRoster's end is the day after
    assert (terms["s1"]["start_date"], terms["s1"]["end_date"]) == (
        "2025-08-15T05:00:00Z", "2026-01-10T06:00:00Z")
    run("canvas", source, tmp_path / "year", (*PARAMS, "term_types=schoolYear"), today=TODAY)
    assert {r["term_id"] for r in read(tmp_path / "year" / "courses.csv")} == {"y1"}
    assert canvas_problems(out) == []


def test_a_repeated_enrollment_is_one_row_active_if_any_is(tmp_path: Path) -> None:
    enrollments = ("sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,"
                   "userSourcedId,role,primary,beginDate,endDate\n"
                   "e1,,,c1,s1,t1,teacher,true,,\ne2,tobedeleted,,c1,s1,u1,student,,,\n"
                   "e3,,,c2,s2,u2,student,,,\ne4,active,,c1,s1,u1,student,,,\n")
    source = package(tmp_path, **{"enrollments.csv": enrollments})
    out = tmp_path / "out"
    run("canvas", source, out, PARAMS, today=TODAY)
    rows = [(r["course_id"], r["user_id"], r["role"], r["status"])
            for r in read(out / "enrollments.csv")]
    assert sorted(rows) == [("c1", "t1", "teacher", "active"), ("c1", "u1", "student", "active"),
                            ("c2", "u2", "student", "active")]
    assert canvas_problems(out) == []


def test_a_user_who_leaves_is_sent_once_as_deleted_in_the_upload(tmp_path: Path) -> None:
    out, options = tmp_path / "out", SyncOptions(state=tmp_path / "canvas.sqlite")
    first = package(tmp_path, "first")
    assert sync("canvas", first, out, PARAMS, options, today=TODAY).outcome.exit_code == 0
    users = USERS + ("t1,,,true,s1,teacher,tina,,Tina,Teach,,T-1,tina@d.org,,,,,\n"
                     "u1,,,true,s1,student,sam,,Sam,Stu,,S-1,sam@d.org,,,,09,\n")
    enrollments = ("sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,"
                   "userSourcedId,role,primary,beginDate,endDate\n"
                   "e1,,,c1,s1,t1,teacher,true,,\ne2,,,c1,s1,u1,student,,,\n")
    second = package(tmp_path, "second", **{"users.csv": users, "enrollments.csv": enrollments})
    options = SyncOptions(state=tmp_path / "canvas.sqlite")
    result = sync("canvas", second, out, PARAMS, options, today=TODAY)
    assert result.outcome.exit_code == 4  # a third of the users: held, as a guard should
    approve("canvas", result.run or 0, options)
    with zipfile.ZipFile(out / BUNDLE) as archive:
        uploaded = list(csv.DictReader(io.TextIOWrapper(archive.open("users.csv"),
                                                        encoding="utf-8")))
    assert {r["user_id"]: r["status"] for r in uploaded} == {
        "t1": "active", "u1": "active", "u2": "deleted"}
    enrolled = {(r["user_id"], r["status"]) for r in read(out / "enrollments.csv")}
    assert ("u2", "deleted") in enrolled
    assert canvas_problems(out) == []
    third = package(tmp_path, "third", **{"users.csv": users, "enrollments.csv": enrollments})
    sync("canvas", third, out, PARAMS, options, today=TODAY)
    assert "u2" not in {r["user_id"] for r in read(out / "users.csv")}  # told once


def test_a_1_2_user_whose_every_role_is_tobedeleted_is_sent_as_deleted(tmp_path: Path) -> None:
    # OneRoster 1.2 gives a user's roles in roles.csv: a guardian whose every role is
    # tobedeleted has left, and Canvas is told so (status deleted), with the observer link.
    source = tmp_path / "district"
    generate(source, students=60, seed=3, version="1.2")
    roles = read(source / "roles.csv")
    with (source / "users.csv").open(encoding="utf-8-sig", newline="") as handle:
        users = {u["sourcedId"]: u for u in csv.DictReader(handle)}
    guardian = next(r["userSourcedId"] for r in roles
                    if r["role"] == "guardian" and users[r["userSourcedId"]]["agentSourcedIds"]
                    and users[r["userSourcedId"]]["status"] != "tobedeleted")
    for r in roles:
        if r["userSourcedId"] == guardian:
            r["status"] = "tobedeleted"
    with (source / "roles.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(roles[0]))
        writer.writeheader()
        writer.writerows(roles)
    out = tmp_path / "out"
    run("canvas", source, out, PARAMS, today=TODAY)
    assert {r["user_id"]: r["status"] for r in read(out / "users.csv")}[guardian] == "deleted"
    observed = [r["status"] for r in read(out / "user_observers.csv")
                if r["observer_id"] == guardian]
    assert observed and set(observed) == {"deleted"}
    assert canvas_problems(out) == []


def test_example_district_outputs(tmp_path: Path, text_snapshot) -> None:  # type: ignore[no-untyped-def]
    run("canvas", EXAMPLE, tmp_path, PARAMS, today=TODAY)
    for name in sorted(REQUIRED):
        assert (tmp_path / name).read_text(encoding="utf-8") == text_snapshot(name=name)


def test_a_mistyped_term_type_stops_the_run_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as raised:
        run("canvas", EXAMPLE, tmp_path / "out", (*PARAMS, "term_types=term,semster"),
            today=TODAY)
    assert [d.code for d in raised.value.diagnostics] == ["RM503"]
    assert not (tmp_path / "out").exists()


def test_each_file_carries_the_contract_of_canvas_s_format_page() -> None:
    """The profile's `expect` lines say what canvas_problems checks: required columns
    filled (parent_account_id may be blank), ids unique, statuses from the page."""
    compiled = compile_mapping((MAPPINGS / "canvas.rmap").read_text(encoding="utf-8"),
                               str(MAPPINGS / "canvas.rmap"))
    assert compiled.checked is not None
    for out in compiled.checked.outputs:
        contracts = {c.kind: c for c in out.contracts}
        filled = set(contracts["is not empty"].columns)
        assert set(REQUIRED[out.name]) - BLANK_MEANS_ROOT <= filled, out.name
        assert set(contracts["in"].values if out.name != "enrollments.csv" else
                   next(c.values for c in out.contracts
                        if c.kind == "in" and c.columns == ("status",))) == STATUSES[out.name]
        assert "unique" in contracts, out.name


def test_generated_district_outputs(tmp_path: Path, text_snapshot) -> None:  # type: ignore[no-untyped-def]
    """A 1.2 district with guardians, inactive and tobedeleted records: the rules on
    linked records, the term chain and the contracts, on every case the generator makes."""
    source = tmp_path / "district"
    generate(source, students=40, seed=11, version="1.2")
    run("canvas", source, tmp_path / "out", PARAMS, today=TODAY)
    for name in sorted(REQUIRED):
        text = (tmp_path / "out" / name).read_text(encoding="utf-8")
        assert text == text_snapshot(name=name)
