"""The powerschool-sis contract (seed 003), rule by rule, on districts built for it.

Every expected row below is written by hand from the contract and the seed's mapping
tables, not copied from a run. The contract fixes no row order, so files are compared
as their header plus the set of their rows (parsed as CSV).

The district (OneRoster 1.1), run with start_year=2025 and sso_domains=maple.org:

    orgs      d1 (district) > s1, s2, s3 (s3 tobedeleted)
    sessions  y24 (2024-2025), y25 (2025-2026) > sp25 (its spring semester, which starts
              in January 2026), y26 (2026-2027)
    teachers  t1 (s1), t2 (s2), t5 (s1 then s2), t9 (s2, no classes): imported; t3
              disabled, t4 tobedeleted
    students  u1 (s1, grade 09), u2 (s2, KG), u5 (s1, 12): imported; u3 tobedeleted,
              u4 inactive
    parents   p1 linked only from the student side (u1's agents), p2 (a guardian) only
              from the guardian side (its agents: u2), p3 linked both ways to u3 (dropped),
              p4 linked to u3 and u5, p5 linked both ways to u5, p6 linked to nobody,
              p7 tobedeleted (linked to u1); a1 administrator, x1 aide
    classes   c1 (y25), c2 (sp25), c4 (y26), c9 (y25, only a co-teacher): imported;
              c3 (y24: before start_year), c5 (only a tobedeleted teacher enrollment),
              c6 (only teacher tobedeleted), c7 (tobedeleted), c8 (in s3), c10 (no
              teacher): not

Decisions where the contract is silent:
- "Active" means status active (or blank) and not disabled (enabledUser=false): users.csv
  writes enabled=1 for every row, so a disabled account cannot be one of them. The same
  holds for parents; a tobedeleted school is not one of the schools.
- A class's school year is the one its terms belong to (academicSessions.schoolYear, the
  year it ends); it starts the year before (the seed: 2016 for 2016-2017).
- level_id is PowerSchool's Students.Grade_Level, a number (KG = 0, 09 = 9).
- year is the section's term id (Terms.DCID): its term, or the school year holding its terms.
- teacher_id is the primary teacher; a class whose only teacher is a co-teacher has a
  teacher assigned, and that teacher is its teacher_id.
- rosters.csv holds students and the teachers of each section (the co-teacher rule is
  about rostering teachers); its columns start with the seed's class_id,user_id.
- A parent's Parent Portal account is its username (its login, PCAS_Account.Username).
- organization_id is always a school of organizations.csv: a student's or teacher's own
  (the first by sourcedId), a parent's one of an imported child's; a student or teacher
  with none is left out, and named in the report.
- The co-teacher cap counts the classes a teacher co-teaches: those of classes.csv they
  have a non-primary enrollment in and do not own (a class's owner is its teacher_id, so
  its only teacher owns it). They keep the 25 whose class_id comes first in text order.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rostermap.cli.main import main
from rostermap.runtime import redact
from rostermap.runtime.report.model import encode, to_json
from rostermap.runtime.run.pipeline import RunResult, run
from rostermap.runtime.sync.state import Store
from tests.conftest import EXAMPLE

PASSWORD = "Pw-9f3Kq!x7-default"
USERS_HEADER = ["external_id", "first_name", "last_name", "login", "password", "email",
                "user_type", "organization_id", "enabled", "sso_email_address"]
OUTPUTS = ["users.csv", "user_levels.csv", "parent_child.csv", "organizations.csv",
           "classes.csv", "rosters.csv"]

MANIFEST = (
    "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n"
    "file.academicSessions,bulk\nfile.classes,bulk\nfile.courses,bulk\n"
    "file.demographics,absent\nfile.enrollments,bulk\nfile.orgs,bulk\nfile.users,bulk\n"
)
ORGS = """sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId
d1,,,Maple District,district,,
s1,,,"North High, Maple",school,0001,d1
s2,,,South Middle,school,0002,d1
s3,tobedeleted,2026-01-01,Closed Elementary,school,0003,d1
"""
SESSIONS = """sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear
y24,,,2024-2025,schoolYear,2024-08-15,2025-06-15,,2025
y25,,,2025-2026,schoolYear,2025-08-15,2026-06-15,,2026
sp25,,,Spring 2026,semester,2026-01-10,2026-06-15,y25,2026
y26,,,2026-2027,schoolYear,2026-08-15,2027-06-15,,2027
"""
COURSES = """sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,orgSourcedId,subjects,subjectCodes
k1,,,y25,Algebra I,ALG-1,09,s1,,
k2,,,y25,Science 7,SCI-7,07,s2,,
k3,,,y25,Art,ART,,s1,,
"""
CLASSES = """sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods
c1,,,Algebra I - P1,09,k1,ALG1-01,scheduled,,s1,y25,,,1
c2,,,Science 7 - P2,07,k2,SCI7-01,scheduled,,s2,sp25,,,2
c3,,,Art last year,,k3,ART-01,scheduled,,s1,y24,,,3
c4,,,Art next year,,k3,ART-02,scheduled,,s1,y26,,,4
c5,,,Algebra I - P5,09,k1,ALG1-02,scheduled,,s1,y25,,,5
c6,,,Algebra I - P7,09,k1,ALG1-04,scheduled,,s1,y25,,,7
c7,tobedeleted,2026-01-01,Algebra I - cancelled,09,k1,ALG1-05,scheduled,,s1,y25,,,8
c8,,,Closed school class,,k3,ART-03,scheduled,,s3,y25,,,1
c9,,,Algebra I - P6,09,k1,ALG1-03,scheduled,,s1,y25,,,6
c10,,,Study hall,,k3,SH-01,scheduled,,s1,y25,,,9
"""
USERS = """sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password
t1,,,true,s1,teacher,tina,,Tina,Ames,,T-1,t1@maple.org,,,,,
t2,,,TRUE,s2,Teacher,ted,,Ted,Baker,,T-2,t2@other.net,,,,,
t3,,,false,s1,teacher,tess,,Tess,Dunn,,T-3,t3@maple.org,,,,,
t4,tobedeleted,2026-01-01,true,s1,teacher,tara,,Tara,Eng,,T-4,t4@maple.org,,,,,
t5,active,,true,"s1,s2",teacher,tom,,Tom,Cole,,T-5,t5@maple.org,,,,,
t9,,,true,s2,teacher,tia,,Tia,Nine,,T-9,t9@maple.org,,,,,
u1,,,true,s1,student,uma,,Uma,O'Neil,,S-1,u1@Maple.ORG,,,p1,09,
u2,,,true,s2,student,ugo,,Ugo,Émile,,S-2,,,,,KG,
u3,tobedeleted,2026-01-01,true,s1,student,una,,Una,Gale,,S-3,u3@maple.org,,,p3,10,
u4,inactive,2026-01-01,true,s1,student,uri,,Uri,Hale,,S-4,u4@maple.org,,,,11,
u5,,,true,s1,student,ula,,Ula,Fox,,S-5,ula@students.example.com,,,p5,12,
p1,,,true,s1,parent,pat,,Pat,O'Neil,,P-1,pat@home.org,,,,,
p2,,,true,s2,guardian,gwen,,Gwen,Émile,,P-2,gwen@home.org,,,u2,,
p3,,,true,s1,parent,paco,,Paco,Gale,,P-3,paco@home.org,,,u3,,
p4,,,true,s1,parent,pia,,Pia,Fox,,P-4,,,,"u3,u5",,
p5,,,true,s1,parent,paul,,Paul,Fox,,P-5,paul@home.org,,,u5,,
p6,,,true,s1,parent,pete,,Pete,Nobody,,P-6,pete@home.org,,,,,
p7,tobedeleted,2026-01-01,true,s1,parent,polly,,Polly,Old,,P-7,polly@home.org,,,u1,,
a1,,,true,s1,administrator,ada,,Ada,Hale,,A-1,ada@maple.org,,,,,
x1,,,true,s1,aide,axel,,Axel,Ray,,X-1,axel@maple.org,,,u1,,
"""
ENROLLMENTS = """sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate
e1,,,c1,s1,t1,teacher,true,,
e2,,,c1,s1,t5,teacher,false,,
e3,,,c1,s1,u1,student,false,,
e4,,,c1,s1,u3,student,false,,
e6,,,c2,s2,t2,teacher,true,,
e7,,,c2,s2,u2,student,false,,
e8,,,c3,s1,t1,teacher,true,,
e9,,,c3,s1,u1,student,false,,
e10,,,c4,s1,t1,teacher,true,,
e11,,,c4,s1,u5,student,false,,
e12,tobedeleted,2026-01-01,c5,s1,t1,teacher,true,,
e13,,,c5,s1,u1,student,false,,
e14,,,c6,s1,t4,teacher,true,,
e15,,,c7,s1,t1,teacher,true,,
e16,,,c8,s3,t1,teacher,true,,
e17,,,c9,s1,t2,teacher,false,,
e18,,,c9,s1,u5,student,false,,
e19,,,c10,s1,u1,student,false,,
e20,tobedeleted,2026-01-01,c1,s1,u5,student,false,,
e21,,,c1,s1,a1,administrator,false,,
e23,,,c2,s2,t3,teacher,false,,
e24,,,c1,s1,p1,parent,false,,
"""


def files_11() -> dict[str, str]:
    return {"manifest.csv": MANIFEST, "orgs.csv": ORGS, "academicSessions.csv": SESSIONS,
            "courses.csv": COURSES, "classes.csv": CLASSES, "users.csv": USERS,
            "enrollments.csv": ENROLLMENTS}


# --- expected rows, by hand --------------------------------------------------------------

PW = PASSWORD
USERS_ROWS = {
    "t1": ["t1", "Tina", "Ames", "tina", PW, "t1@maple.org", "T", "s1", "1", "t1@maple.org"],
    "t2": ["t2", "Ted", "Baker", "ted", PW, "t2@other.net", "T", "s2", "1", ""],
    "t5": ["t5", "Tom", "Cole", "tom", PW, "t5@maple.org", "T", "s1", "1", "t5@maple.org"],
    "t9": ["t9", "Tia", "Nine", "tia", PW, "t9@maple.org", "T", "s2", "1", "t9@maple.org"],
    "u1": ["u1", "Uma", "O'Neil", "uma", PW, "u1@Maple.ORG", "S", "s1", "1", "u1@Maple.ORG"],
    "u2": ["u2", "Ugo", "Émile", "ugo", PW, "", "S", "s2", "1", ""],
    "u5": ["u5", "Ula", "Fox", "ula", PW, "ula@students.example.com", "S", "s1", "1", ""],
    "p1": ["p1", "Pat", "O'Neil", "pat", PW, "pat@home.org", "P", "s1", "1", ""],
    "p2": ["p2", "Gwen", "Émile", "gwen", PW, "gwen@home.org", "P", "s2", "1", ""],
    "p4": ["p4", "Pia", "Fox", "pia", PW, "", "P", "s1", "1", ""],
    "p5": ["p5", "Paul", "Fox", "paul", PW, "paul@home.org", "P", "s1", "1", ""],
}
CLASS_ROWS = {
    "c1": ["c1", "Algebra I (ALG1-01) - 1", "ALG-1", "y25", "t1", "s1"],
    "c2": ["c2", "Science 7 (SCI7-01) - 2", "SCI-7", "sp25", "t2", "s2"],
    "c3": ["c3", "Art (ART-01) - 3", "ART", "y24", "t1", "s1"],
    "c4": ["c4", "Art (ART-02) - 4", "ART", "y26", "t1", "s1"],
    "c9": ["c9", "Algebra I (ALG1-03) - 6", "ALG-1", "y25", "t2", "s1"],
}
CLASS_HEADER = ["class_id", "name", "code", "year", "teacher_id", "organization_id"]
ROSTERS = {
    ("c1", "t1"), ("c1", "t5"), ("c1", "u1"),
    ("c2", "t2"), ("c2", "u2"),
    ("c4", "t1"), ("c4", "u5"),
    ("c9", "t2"), ("c9", "u5"),
}


# --- helpers --------------------------------------------------------------------------------


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    assert rows, f"{path.name} is empty (not even a header)"
    return rows[0], rows[1:]


def table(path: Path) -> tuple[list[str], set[tuple[str, ...]]]:
    header, rows = read_csv(path)
    assert len(rows) == len(set(map(tuple, rows))), f"{path.name} repeats a row"
    return header, {tuple(r) for r in rows}


def rosters(path: Path) -> set[tuple[str, str]]:
    header, rows = read_csv(path)
    assert header[:2] == ["class_id", "user_id"]
    pairs = [(r[0], r[1]) for r in rows]
    assert len(pairs) == len(set(pairs)), "a class and user rostered twice"
    return set(pairs)


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("ROSTERMAP_PARAM_DEFAULT_PASSWORD", PASSWORD)
    redact.forget_all()
    yield PASSWORD
    redact.forget_all()


@pytest.fixture
def district(make_package: Callable[..., Path]) -> Path:
    return make_package(files_11())


def run_sis(source: Path, out: Path, *params: str) -> RunResult:
    result = run("powerschool-sis", source, out, params)
    assert sorted(p.name for p in result.files) == sorted([*OUTPUTS, "report.json", "report.html"])
    return result


BASE = ("start_year=2025", "sso_domains=maple.org")


def write_package(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _shared_run(base: Path, files: dict[str, str], *params: str) -> tuple[RunResult, Path]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ROSTERMAP_PARAM_DEFAULT_PASSWORD", PASSWORD)
        redact.forget_all()
        try:
            result = run_sis(write_package(base / "pkg", files), base / "out", *params)
        finally:
            redact.forget_all()
    return result, base / "out"


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunResult, Path]:
    """The district with BASE, run once for the tests that only read its outputs."""
    return _shared_run(tmp_path_factory.mktemp("sis-base"), files_11(), *BASE)


Tables = dict[str, tuple[list[str], set[tuple[str, ...]]]]


def in_memory(base: Path, files: dict[str, str], *params: str) -> Tables:
    """Each output of a run that writes nothing, as its header and set of rows (text as
    the CSV files write it: a missing value is empty). For the variants of the district;
    the files themselves are checked on base_run."""
    return in_memory_run(base, files, *params)[0]


def in_memory_run(base: Path, files: dict[str, str], *params: str) -> tuple[Tables, RunResult]:
    """``in_memory``'s tables, and the run itself (for its report)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ROSTERMAP_PARAM_DEFAULT_PASSWORD", PASSWORD)
        redact.forget_all()
        try:
            package = write_package(Path(tempfile.mkdtemp(dir=base)) / "pkg", files)
            result = run("powerschool-sis", package, None, params)
        finally:
            redact.forget_all()
    out: Tables = {}
    for o in result.outputs:
        rows = [tuple("" if v is None else str(v) for v in row) for row in o.frame.iter_rows()]
        assert len(rows) == len(set(rows)), f"{o.name} repeats a row"
        out[o.name] = (list(o.frame.columns), set(rows))
    return out, result


def pairs(tables: Tables) -> set[tuple[str, str]]:
    header, rows = tables["rosters.csv"]
    assert header[:2] == ["class_id", "user_id"]
    return {(r[0], r[1]) for r in rows}


# --- every file on the full district -------------------------------------------------------


def test_users(base_run: tuple[RunResult, Path]) -> None:
    out = base_run[1]
    assert table(out / "users.csv") == (USERS_HEADER,
                                             {tuple(r) for r in USERS_ROWS.values()})


def test_user_levels_from_the_students_grades(base_run: tuple[RunResult, Path]) -> None:
    out = base_run[1]
    assert table(out / "user_levels.csv") == (
        ["external_id", "level_id"], {("u1", "9"), ("u2", "0"), ("u5", "12")})


def test_parent_child_from_both_sides_of_the_link(base_run: tuple[RunResult, Path]) -> None:
    out = base_run[1]
    # p1: u1's agents only; p2: its own agents only; p4: u3 is dropped, u5 is not;
    # p5: both sides, one row; p3 (only u3), p6 (nobody), p7 (tobedeleted): no rows
    assert table(out / "parent_child.csv") == (
        ["parent_id", "child_id"], {("p1", "u1"), ("p2", "u2"), ("p4", "u5"), ("p5", "u5")})


def test_organizations_are_the_active_schools(base_run: tuple[RunResult, Path]) -> None:
    out = base_run[1]
    assert table(out / "organizations.csv") == (
        ["organization_id", "name"], {("s1", "North High, Maple"), ("s2", "South Middle")})


def test_organizations_leave_out_a_tobedeleted_school(base_run: tuple[RunResult, Path]) -> None:
    out = base_run[1]
    _, rows = table(out / "organizations.csv")
    ids = {r[0] for r in rows}
    assert {"s1", "s2"} <= ids and "s3" not in ids


def test_classes(base_run: tuple[RunResult, Path]) -> None:
    out = base_run[1]
    assert table(out / "classes.csv") == (
        CLASS_HEADER, {tuple(CLASS_ROWS[c]) for c in ("c1", "c2", "c4", "c9")})


def test_rosters(base_run: tuple[RunResult, Path]) -> None:
    out = base_run[1]
    assert rosters(out / "rosters.csv") == ROSTERS


# --- rules at their edges -------------------------------------------------------------------


def test_only_active_students_and_teachers(base_run: tuple[RunResult, Path]) -> None:
    out = base_run[1]
    _, rows = table(out / "users.csv")
    types = {r[0]: r[6] for r in rows}
    assert {u for u, t in types.items() if t == "T"} == {"t1", "t2", "t5", "t9"}  # not t3 t4
    assert {u for u, t in types.items() if t == "S"} == {"u1", "u2", "u5"}  # not u3 u4
    assert "a1" not in types and "x1" not in types


def test_a_teacher_without_classes_is_imported(base_run: tuple[RunResult, Path]) -> None:
    # "They do not necessarily need to have a class attached to their account"
    _, rows = table(base_run[1] / "users.csv")
    assert tuple(USERS_ROWS["t9"]) in rows


def test_parents_only_with_an_emitted_student(base_run: tuple[RunResult, Path]) -> None:
    out = base_run[1]
    _, rows = table(out / "users.csv")
    parents = {r[0] for r in rows if r[6] == "P"}
    assert parents == {"p1", "p2", "p4", "p5"}  # p3: only u3 (dropped); p6: no student


def test_import_parents_false(tmp_path: Path) -> None:
    tables = in_memory(tmp_path, files_11(), *BASE, "import_parents=false")
    header, rows = tables["users.csv"]
    assert header == USERS_HEADER
    assert rows == {tuple(USERS_ROWS[u]) for u in ("t1", "t2", "t5", "t9", "u1", "u2", "u5")}
    assert tables["parent_child.csv"] == (["parent_id", "child_id"], set())
    # the rest is as with parents
    assert tables["user_levels.csv"][1] == {("u1", "9"), ("u2", "0"), ("u5", "12")}
    assert pairs(tables) == ROSTERS


@pytest.mark.parametrize(("start_year", "classes"), [
    (2024, {"c1", "c2", "c3", "c4", "c9"}),  # 2024-2025 on
    # 2025 (y24, 2024-2025, starts before it): base_run, test_classes
    # 2026: 2025-2026 starts in 2025, even sp25, whose term starts in January 2026
    (2026, {"c4"}),
])
def test_start_year(tmp_path: Path, start_year: int, classes: set[str]) -> None:
    tables = in_memory(tmp_path, files_11(), f"start_year={start_year}", "sso_domains=maple.org")
    assert tables["classes.csv"][1] == {tuple(CLASS_ROWS[c]) for c in classes}
    assert {c for c, _ in pairs(tables)} == classes


def test_year_is_the_term_a_section_meets_in(tmp_path: Path) -> None:
    # "year: section/term_id, Terms.DCID". c1 meets in one term (y25); c2 is a full-year
    # class listed with its two semesters: it meets in the school year holding them (y25),
    # not in its first semester; c11's two terms have no common parent: its first term.
    sessions = SESSIONS + ("fa25,,,Fall 2025,semester,2025-08-15,2026-01-09,y25,2026\n"
                           "x25,,,Summer 2026,term,2026-06-16,2026-08-01,,2026\n")
    classes = CLASSES.replace(",s2,sp25,", ',s2,"fa25,sp25",') + (
        'c11,,,Bridge,09,k1,BR-01,scheduled,,s1,"sp25,x25",,,6\n')
    enrollments = ENROLLMENTS + "ec11,,,c11,s1,t1,teacher,true,,\n"
    tables = in_memory(tmp_path, {**files_11(), "academicSessions.csv": sessions,
                                  "classes.csv": classes, "enrollments.csv": enrollments},
                       *BASE)
    header, rows = tables["classes.csv"]
    year = {r[0]: r[header.index("year")] for r in rows}
    assert (year["c1"], year["c2"], year["c11"]) == ("y25", "y25", "sp25")


def test_a_class_needs_an_active_imported_teacher(base_run: tuple[RunResult, Path]) -> None:
    out = base_run[1]
    _, rows = table(out / "classes.csv")
    ids = {r[0] for r in rows}
    assert "c5" not in ids   # its only teacher enrollment is tobedeleted
    assert "c6" not in ids   # its only teacher (t4) is tobedeleted
    assert "c10" not in ids  # no teacher
    assert "c7" not in ids   # tobedeleted class
    assert "c8" not in ids   # a tobedeleted school
    assert "c9" in ids       # a co-teacher is a teacher assigned
    assert not {c for c, _ in rosters(out / "rosters.csv")} & {"c5", "c6", "c7", "c8",
                                                                     "c10"}


@pytest.fixture(scope="module")
def schools_s2(tmp_path_factory: pytest.TempPathFactory) -> Tables:
    return in_memory(tmp_path_factory.mktemp("sis-s2"), files_11(), *BASE, "schools=s2")


def test_schools_limit_users_classes_and_parents(schools_s2: Tables) -> None:
    _, rows = schools_s2["users.csv"]
    assert {r[0] for r in rows} == {"t2", "t5", "t9", "u2", "p2"}  # t5: at s1 and s2
    assert {r for r in rows if r[0] != "t5"} == {tuple(USERS_ROWS[u])
                                                 for u in ("t2", "t9", "u2", "p2")}
    assert schools_s2["organizations.csv"][1] == {("s2", "South Middle")}
    assert schools_s2["classes.csv"][1] == {tuple(CLASS_ROWS["c2"])}
    assert schools_s2["user_levels.csv"][1] == {("u2", "0")}
    assert schools_s2["parent_child.csv"][1] == {("p2", "u2")}  # p1 p4 p5: students of s1
    assert pairs(schools_s2) == {("c2", "t2"), ("c2", "u2")}


def test_organization_id_is_an_imported_school(schools_s2: Tables) -> None:
    _, rows = schools_s2["users.csv"]
    assert {r[0]: r[7] for r in rows}["t5"] == "s2"


def test_sso_email_only_for_the_sso_domains(tmp_path: Path) -> None:
    # one domain (maple.org): base_run, test_users
    _, rows = in_memory(tmp_path, files_11(), "start_year=2025")["users.csv"]
    assert {r[9] for r in rows} == {""}  # no domains: no SSO address
    _, rows = in_memory(tmp_path, files_11(), "start_year=2025",
                        "sso_domains=MAPLE.org,students.example.com")["users.csv"]
    sso = {r[0]: r[9] for r in rows if r[9]}
    assert sso == {"t1": "t1@maple.org", "t5": "t5@maple.org", "t9": "t9@maple.org",
                   "u1": "u1@Maple.ORG", "u5": "ula@students.example.com"}


def test_parents_get_no_sso_address(tmp_path: Path) -> None:
    users = USERS.replace("paul@home.org", "paul@maple.org")
    _, rows = in_memory(tmp_path, {**files_11(), "users.csv": users}, *BASE)["users.csv"]
    assert {r[0]: r[9] for r in rows}["p5"] == ""


# --- parents: a Parent Portal account; every organization_id an imported school ---------------

USER_ROW = "{id},,,true,{orgs},{role},{login},,{first},{last},,X-{id},{id}@home.org,,,{agents},{grades},\n"


def user(id_: str, orgs: str, role: str, login: str = "", agents: str = "",
         grades: str = "") -> str:
    """A users.csv row (the district's columns); names and email from the id."""
    return USER_ROW.format(id=id_, orgs=f'"{orgs}"' if "," in orgs else orgs, role=role,
                           login=login, first=id_.upper(), last="Test",
                           agents=f'"{agents}"' if "," in agents else agents, grades=grades)


def with_users(*rows: str) -> dict[str, str]:
    return {**files_11(), "users.csv": USERS + "".join(rows)}


def users_of(tables: Tables) -> dict[str, tuple[str, ...]]:
    return {r[0]: r for r in tables["users.csv"][1]}


def dropped(result: RunResult, output: str = "users.csv") -> dict[str, list[str]]:
    """The records each `where ... else warn` of an output left out, by its message."""
    return {w.message: w.records for w in result.report.warnings
            if w.code == "RM422" and w.output == output}


def test_parent_without_a_parent_portal_account_is_not_imported(tmp_path: Path) -> None:
    # "a Parent needs to have a Parent Portal account set up in PowerSchool SIS in order
    # to be included in the Import": its login (PCAS_Account.Username) is its username.
    # p8 and p9 are u1's parents without one, linked from either side of agents; p1,
    # with one, is imported as before.
    users_csv = USERS.replace(",u1@Maple.ORG,,,p1,09,", ',u1@Maple.ORG,,,"p1,p9",09,')
    assert users_csv != USERS
    tables, result = in_memory_run(tmp_path, {
        **files_11(),
        "users.csv": users_csv + user("p8", "s1", "parent", agents="u1")
        + user("p9", "s1", "guardian"),
    }, *BASE)
    users = users_of(tables)
    assert "p8" not in users and "p9" not in users
    assert users["p1"] == tuple(USERS_ROWS["p1"])
    assert tables["parent_child.csv"][1] == {("p1", "u1"), ("p2", "u2"), ("p4", "u5"),
                                             ("p5", "u5")}
    (message,) = [m for m in dropped(result) if "Parent Portal" in m]
    assert dropped(result)[message] == ["users/p8", "users/p9"]


def test_a_parent_s_organization_is_a_school_of_an_imported_child(tmp_path: Path) -> None:
    # Parent organization_id is Schools.DCID: not the parent's own org, but a school of
    # a child it is imported with. p8 is of the district only, p9 of s1: both are u2's
    # (s2) parents. p10 is u1's (s1) and u2's; with only s1 imported, u2 is not, so p10's
    # school is s1, though its own org is s2.
    files = with_users(user("p8", "d1", "parent", "pp8", agents="u2"),
                       user("p9", "s1", "parent", "pp9", agents="u2"),
                       user("p10", "s2", "parent", "pp10", agents="u1,u2"))
    everyone = users_of(in_memory(tmp_path, files, *BASE))
    assert {p: everyone[p][7] for p in ("p8", "p9", "p10")} == {"p8": "s2", "p9": "s2",
                                                                 "p10": "s1"}
    s1 = in_memory(tmp_path, files, *BASE, "schools=s1")
    assert {u: r[7] for u, r in users_of(s1).items() if r[6] == "P"} == {
        "p1": "s1", "p4": "s1", "p5": "s1", "p10": "s1"}  # p2, p8, p9: only u2's
    for tables in (s1, in_memory(tmp_path, files, *BASE)):
        schools = {r[0] for r in tables["organizations.csv"][1]}
        assert {r[7] for r in tables["users.csv"][1]} <= schools


def test_a_user_of_no_imported_school_is_left_out_with_a_warning(tmp_path: Path) -> None:
    # organization_id names a school of organizations.csv: u6's only school (s3) is
    # tobedeleted, t6 is of the district only, t7 of s3 and s1 (imported, with s1). p11,
    # u6's parent only, comes with no imported child: left out, as any such parent, without
    # a warning.
    tables, result = in_memory_run(tmp_path, with_users(
        user("u6", "s3", "student", "uu6", agents="p11", grades="10"),
        user("t6", "d1", "teacher", "tt6"),
        user("t7", "s3,s1", "teacher", "tt7"),
        user("p11", "s3", "parent", "pp11"),
    ), *BASE)
    users = users_of(tables)
    assert "u6" not in users and "t6" not in users and "p11" not in users
    assert users["t7"][7] == "s1"
    (message,) = [m for m in dropped(result) if "no imported school" in m]
    assert dropped(result)[message] == ["users/t6", "users/u6"]
    assert not any("users/p11" in records for records in dropped(result).values())


def test_every_organization_id_is_a_school_of_organizations_csv(
        base_run: tuple[RunResult, Path], schools_s2: Tables) -> None:
    _, out = base_run
    tables: list[tuple[set[str], set[str]]] = [
        ({r[0] for r in table(out / "organizations.csv")[1]},
         {r[7] for r in table(out / "users.csv")[1]} | {r[5] for r in
                                                        table(out / "classes.csv")[1]}),
        ({r[0] for r in schools_s2["organizations.csv"][1]},
         {r[7] for r in schools_s2["users.csv"][1]} | {r[5] for r in
                                                       schools_s2["classes.csv"][1]}),
    ]
    for schools, used in tables:
        assert used and used <= schools


# --- co-teachers: at most 25 classes each ---------------------------------------------------

CO_SESSIONS = """sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear
y24,,,2024-2025,schoolYear,2024-08-15,2025-06-15,,2025
y25,,,2025-2026,schoolYear,2025-08-15,2026-06-15,,2026
"""


def coteaching_files() -> dict[str, str]:
    """cls00..cls26 (2025-2026), each with primary teacher tp, and old1 (2024-2025).

    ta co-teaches cls01..cls25 (25) and old1, which is not imported: 25 rostered.
    tb co-teaches cls01..cls26 (26), has a tobedeleted co-teaching enrollment in cls00
    (the first class) and is the primary teacher of own1: cls26 is left out.
    """
    classes = [CLASSES.splitlines()[0]]
    enrollments = [ENROLLMENTS.splitlines()[0]]
    for n in range(27):
        cls = f"cls{n:02d}"
        classes.append(f"{cls},,,Section {n},09,k1,ALG1-{n:02d},scheduled,,s1,y25,,,1")
        enrollments.append(f"ep{n:02d},,,{cls},s1,tp,teacher,true,,")
        if 1 <= n <= 25:
            enrollments.append(f"ea{n:02d},,,{cls},s1,ta,teacher,false,,")
        if 1 <= n <= 26:
            enrollments.append(f"eb{n:02d},,,{cls},s1,tb,teacher,false,,")
    classes.append("old1,,,Old section,09,k1,ALG1-OLD,scheduled,,s1,y24,,,1")
    classes.append("own1,,,Own section,09,k1,ALG1-OWN,scheduled,,s1,y25,,,2")
    enrollments += [
        "ep-old,,,old1,s1,tp,teacher,true,,",
        "ea-old,,,old1,s1,ta,teacher,false,,",
        "eb00,tobedeleted,2026-01-01,cls00,s1,tb,teacher,false,,",
        "eb-own,,,own1,s1,tb,teacher,true,,",
        "eu26,,,cls26,s1,u1,student,false,,",
    ]
    users = USERS.splitlines()[0] + "\n" + (
        "tp,,,true,s1,teacher,tp,,Tp,Primary,,T-P,tp@maple.org,,,,,\n"
        "ta,,,true,s1,teacher,ta,,Ta,Coteach,,T-A,ta@maple.org,,,,,\n"
        "tb,,,true,s1,teacher,tb,,Tb,Coteach,,T-B,tb@maple.org,,,,,\n"
        "u1,,,true,s1,student,uma,,Uma,Jones,,S-1,u1@maple.org,,,,09,\n"
    )
    return {**files_11(), "academicSessions.csv": CO_SESSIONS,
            "classes.csv": "\n".join(classes) + "\n", "users.csv": users,
            "enrollments.csv": "\n".join(enrollments) + "\n"}


@pytest.fixture(scope="module")
def coteaching_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunResult, Path]:
    return _shared_run(tmp_path_factory.mktemp("sis-coteaching"), coteaching_files(),
                       "start_year=2025")


def test_a_co_teacher_is_rostered_into_at_most_25_classes(
    coteaching_run: tuple[RunResult, Path]
) -> None:
    result, out = coteaching_run
    pairs = rosters(out / "rosters.csv")
    sections = [f"cls{n:02d}" for n in range(27)]
    assert {c for c, u in pairs if u == "tp"} == set(sections)
    assert {c for c, u in pairs if u == "ta"} == set(sections[1:26])   # exactly 25
    assert {c for c, u in pairs if u == "tb"} == set(sections[1:26]) | {"own1"}  # not cls26
    assert pairs - {p for p in pairs if p[1] in ("tp", "ta", "tb")} == {("cls26", "u1")}
    # the co-teacher enrollments left out are counted and named: tb's in cls26
    left_out = [w for w in result.report.warnings
                if w.code == "RM422" and w.output == "rosters.csv"]
    assert len(left_out) == 1
    assert left_out[0].count == 1
    assert left_out[0].records == ["enrollments/eb26"]
    assert "25" in left_out[0].message


def test_co_teacher_classes_still_imported(coteaching_run: tuple[RunResult, Path]) -> None:
    _, rows = table(coteaching_run[1] / "classes.csv")
    assert {r[0] for r in rows} == {f"cls{n:02d}" for n in range(27)} | {"own1"}
    assert {r[4] for r in rows if r[0] != "own1"} == {"tp"}
    assert {r[4] for r in rows if r[0] == "own1"} == {"tb"}


def cap_files(enrollments: list[tuple[str, str, bool]]) -> dict[str, str]:
    """A district of teachers' enrollments, (class, teacher, primary): every class of s1
    in 2025-2026, with u1 as a student; a pair given twice is two enrollment records."""
    classes = [CLASSES.splitlines()[0]]
    rows = [ENROLLMENTS.splitlines()[0]]
    teachers: list[str] = []
    for n, (cls, teacher, primary) in enumerate(enrollments):
        if cls not in {c.split(",")[0] for c in classes}:
            classes.append(f"{cls},,,Section {cls},09,k1,{cls},scheduled,,s1,y25,,,1")
            rows.append(f"es-{cls},,,{cls},s1,u1,student,false,,")
        rows.append(f"e{n:03d},,,{cls},s1,{teacher},teacher,{str(primary).lower()},,")
        teachers += [] if teacher in teachers else [teacher]
    users = [USERS.splitlines()[0], "u1,,,true,s1,student,uma,,Uma,Jones,,S-1,u1@maple.org,,,,09,"]
    users += [f"{t},,,true,s1,teacher,{t},,{t.upper()},Test,,T-{t},{t}@maple.org,,,,,"
              for t in teachers]
    return {**files_11(), "academicSessions.csv": CO_SESSIONS,
            "classes.csv": "\n".join(classes) + "\n", "users.csv": "\n".join(users) + "\n",
            "enrollments.csv": "\n".join(rows) + "\n"}


def taught(tables: Tables, teacher: str) -> set[str]:
    return {c for c, u in pairs(tables) if u == teacher}


def capped(result: RunResult) -> list[str]:
    """The enrollments the co-teacher cap left out (named in the report)."""
    return [r for w in result.report.warnings
            if w.code == "RM422" and w.output == "rosters.csv" for r in w.records]


SECTIONS = [f"cls{n:02d}" for n in range(1, 26)]  # 25 classes, tp their primary teacher


def test_coteacher_cap_counts_classes_not_enrollment_rows(tmp_path: Path) -> None:
    # "a maximum of 25 classes": tc co-teaches 25 classes, one (cls01) through two
    # enrollment records; it is one class, and tc keeps all 25.
    enrollments = [(c, "tp", True) for c in SECTIONS] + [(c, "tc", False) for c in SECTIONS]
    tables, result = in_memory_run(tmp_path, cap_files(enrollments + [("cls01", "tc", False)]),
                                   "start_year=2025")
    assert taught(tables, "tc") == set(SECTIONS)
    assert capped(result) == []


def test_a_class_s_only_teacher_is_its_owner_never_capped_as_a_co_teacher(
        tmp_path: Path) -> None:
    # td and te co-teach cls01..cls25 (25 classes) and are each the only, non-primary,
    # teacher of one more class: its owner (its teacher_id), not a co-teacher of it. It is
    # never capped, whether its id comes after the 25 (zz-own) or before them (aa-own),
    # and does not count towards them.
    enrollments = [(c, "tp", True) for c in SECTIONS]
    enrollments += [(c, t, False) for t in ("td", "te") for c in SECTIONS]
    enrollments += [("zz-own", "td", False), ("aa-own", "te", False)]
    tables, result = in_memory_run(tmp_path, cap_files(enrollments), "start_year=2025")
    assert taught(tables, "td") == {*SECTIONS, "zz-own"}
    assert taught(tables, "te") == {*SECTIONS, "aa-own"}
    owners = {r[0]: r[4] for r in tables["classes.csv"][1]}
    assert (owners["zz-own"], owners["aa-own"]) == ("td", "te")
    assert capped(result) == []


def test_a_class_without_a_primary_teacher_is_owned_by_its_teacher_id(tmp_path: Path) -> None:
    # no-lead has two non-primary teachers: tf, first by sourcedId, is its teacher_id and
    # owns it; tg co-teaches it. Both co-teach cls01..cls25 too: tg co-teaches 26 classes
    # and loses the one whose id comes last (no-lead), tf keeps all of its.
    enrollments = [(c, "tp", True) for c in SECTIONS]
    enrollments += [(c, t, False) for t in ("tf", "tg") for c in SECTIONS]
    enrollments += [("no-lead", "tg", False), ("no-lead", "tf", False)]
    tables, result = in_memory_run(tmp_path, cap_files(enrollments), "start_year=2025")
    assert {r[0]: r[4] for r in tables["classes.csv"][1]}["no-lead"] == "tf"
    assert taught(tables, "tf") == {*SECTIONS, "no-lead"}
    assert taught(tables, "tg") == set(SECTIONS)
    assert len(capped(result)) == 1


def test_a_co_teacher_keeps_the_25_classes_whose_class_ids_come_first(tmp_path: Path) -> None:
    # The rule the profile documents: the classes co-taught, in the text order of their
    # class_id (k1 < k10 < ... < k19 < k2 < k20 ...), the first 25 kept. tk co-teaches
    # k1..k27: k8 and k9 come last and are left out, each named in the report.
    ids = [f"k{n}" for n in range(1, 28)]
    base = [(c, "tp", True) for c in ids] + [(c, "tk", False) for c in ids]
    tables, result = in_memory_run(tmp_path, cap_files(base), "start_year=2025")
    kept = sorted(ids)[:25]
    assert taught(tables, "tk") == set(kept) and {"k8", "k9"}.isdisjoint(kept)
    assert len(capped(result)) == 2
    # Stable: a class whose id comes after the 25 changes none of them; one whose id
    # comes first takes the place of the 25th (k7).
    later = base + [("k99", "tp", True), ("k99", "tk", False)]
    assert taught(in_memory(tmp_path, cap_files(later), "start_year=2025"), "tk") == set(kept)
    earlier = base + [("k0", "tp", True), ("k0", "tk", False)]
    assert taught(in_memory(tmp_path, cap_files(earlier), "start_year=2025"), "tk") == (
        set(kept) - {"k7"}) | {"k0"}


# --- the default password: a secret ---------------------------------------------------------


def everything_but_users(out: Path) -> Iterator[Path]:
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        if path.name != "users.csv":  # the import file and its change file
            yield path


def test_the_password_is_written_to_users_csv_only(base_run: tuple[RunResult, Path]) -> None:
    result, out = base_run
    header, rows = read_csv(out / "users.csv")
    assert rows and all(r[header.index("password")] == PASSWORD for r in rows)
    for path in everything_but_users(out):
        assert PASSWORD not in path.read_text(encoding="utf-8"), path.name
    assert PASSWORD not in encode(result.report)


def test_the_password_never_reaches_the_cli_output(district: Path, secret: str,
                                                   tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "out"
    runner = CliRunner()
    result = runner.invoke(main, ["run", "powerschool-sis", "--source", str(district),
                                  "--out", str(out), "--param", "start_year=2025",
                                  "--param", "sso_domains=maple.org"])
    assert result.exit_code == 0, result.stderr
    assert "users.csv" in result.stdout
    assert PASSWORD not in result.stdout and PASSWORD not in result.stderr
    assert PASSWORD not in (out / "report.json").read_text(encoding="utf-8")
    assert PASSWORD in (out / "users.csv").read_text(encoding="utf-8")
    for path in everything_but_users(out):
        assert PASSWORD not in path.read_text(encoding="utf-8"), path.name
    # nor the run state, which stores nothing in a secret column
    (state,) = Path(os.environ["ROSTERMAP_STATE_DIR"]).rglob("*.sqlite")
    store = Store(state, "powerschool-sis", None)
    stored = [*store.snapshots().values(), *store.changes(1).values()]
    store.close()
    assert stored and all(PASSWORD not in str(frame.to_dicts()) for frame in stored)
    # a failed run (a parameter of the wrong type) does not print it either
    result = runner.invoke(main, ["run", "powerschool-sis", "--source", str(district),
                                  "--out", str(tmp_path / "bad"), "--param",
                                  "start_year=twenty"])
    assert result.exit_code == 2
    assert PASSWORD not in result.stdout and PASSWORD not in result.stderr
    # explain, on a record of an output that does not write it (users: see below)
    result = runner.invoke(main, ["explain", "powerschool-sis", "--source", str(district),
                                  "--record", "classes/c1", "--param", "start_year=2025",
                                  "--show-pii"])
    assert result.exit_code == 0, result.stderr
    assert PASSWORD not in result.stdout and PASSWORD not in result.stderr
    assert PASSWORD not in caplog.text  # nor any log record


def test_rotating_the_password_changes_its_column_only(district: Path, secret: str,
                                                      tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A new default password is written into the password column of every row, the
    carried ones included, updates no row, and neither password enters the state."""
    out = tmp_path / "out"
    args = ["run", "powerschool-sis", "--source", str(district), "--out", str(out),
            "--param", "start_year=2025", "--param", "sso_domains=maple.org"]
    assert CliRunner().invoke(main, args).exit_code == 0
    before = read_csv(out / "users.csv")
    rotated = "Rotated-Pw-51a2"
    monkeypatch.setenv("ROSTERMAP_PARAM_DEFAULT_PASSWORD", rotated)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.stderr
    after = read_csv(out / "users.csv")
    column = USERS_HEADER.index("password")
    assert after[0] == before[0] and len(after[1]) == len(before[1])
    for old, new in zip(before[1], after[1], strict=True):
        assert new[column] in (rotated, "") and old[column] in (PASSWORD, "")
        assert new[:column] + new[column + 1:] == old[:column] + old[column + 1:]
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert all(not counts["update"] for counts in report["sync"]["changes"].values())
    for path in everything_but_users(out):
        text = path.read_text(encoding="utf-8")
        assert PASSWORD not in text and rotated not in text, path.name
    (state,) = Path(os.environ["ROSTERMAP_STATE_DIR"]).rglob("*.sqlite")
    store = Store(state, "powerschool-sis", None)
    stored = [*store.snapshots().values(), *store.changes(1).values(),
              *store.changes(2).values()]
    store.close()
    text = "\n".join(str(frame.to_dicts()) for frame in stored)
    assert PASSWORD not in text and rotated not in text
    assert state.read_bytes().count(rotated.encode()) == 0


def test_explain_of_a_user_does_not_show_the_password(district: Path, secret: str) -> None:
    runner = CliRunner()
    for record in ("users/u1", "users/p1", "users/t1"):
        result = runner.invoke(main, ["explain", "powerschool-sis", "--source", str(district),
                                      "--record", record, "--param", "start_year=2025"])
        assert result.exit_code == 0, repr(result.exception)
        assert "password" in result.stdout
        assert PASSWORD not in result.stdout and PASSWORD not in result.stderr


def test_the_password_is_not_taken_from_the_command_line(district: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.delenv("ROSTERMAP_PARAM_DEFAULT_PASSWORD", raising=False)
    redact.forget_all()
    try:
        result = CliRunner().invoke(main, [
            "run", "powerschool-sis", "--source", str(district), "--out", str(tmp_path / "o"),
            "--param", "start_year=2025", "--param", f"default_password={PASSWORD}"])
        assert result.exit_code == 2
        assert "ROSTERMAP_PARAM_DEFAULT_PASSWORD" in result.stderr
        assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
    finally:
        redact.forget_all()


# --- snapshot on the example district -------------------------------------------------------


def stable(report: dict[str, Any]) -> dict[str, Any]:
    """The report without what changes from run to run (times, absolute paths)."""
    out = {k: v for k, v in report.items() if k not in ("started", "finished", "seconds")}
    out["mapping"] = Path(report["mapping"]).name
    out["source"] = {**report["source"], "path": Path(report["source"]["path"]).name}
    return out


def test_example_district_outputs(tmp_path: Path, secret: str, text_snapshot, snapshot  # type: ignore[no-untyped-def]
                                  ) -> None:
    result = run("powerschool-sis", EXAMPLE, tmp_path,
                 ["start_year=2025", "sso_domains=willowsprings.k12.us"],
                 today=dt.date(2026, 11, 25))
    for path in result.files:
        if path.suffix == ".csv":
            assert path.read_text(encoding="utf-8") == text_snapshot(name=path.name)
    report_text = (tmp_path / "report.json").read_text(encoding="utf-8")
    assert PASSWORD not in report_text
    assert stable(to_json(result.report)) == snapshot(name="report")


def test_a_class_of_a_course_that_is_not_active_is_not_imported(tmp_path: Path) -> None:
    # "PowerSchool courses must be active and have a teacher assigned": the section's
    # course too, not only the section.
    courses = COURSES.replace("k3,,,y25,Art", "k3,inactive,,y25,Art")
    assert courses != COURSES
    tables, result = in_memory_run(tmp_path, {**files_11(), "courses.csv": courses}, *BASE)
    _, before = in_memory_run(tmp_path, files_11(), *BASE)
    of_k3 = sorted(f"classes/{r['sourcedId']}" for r in csv.DictReader(io.StringIO(CLASSES))
                   if r["courseSourcedId"] == "k3" and r["status"] == "")
    assert len(of_k3) >= 3
    assert dropped(result, "classes.csv")["class of a course that is not active"] == of_k3
    assert dropped(before, "classes.csv").get("class of a course that is not active") is None


def test_a_user_s_organization_is_its_first_school_when_imported(tmp_path: Path) -> None:
    # "student/school_enrollment/school/id": the school the user belongs to first (in
    # 1.2 its primaryOrg, in 1.1 the first listed), not the smallest sourcedId.
    tables, _ = in_memory_run(tmp_path, with_users(user("u9", "s2,s1", "student",
                                                        login="u9")), *BASE)
    row = users_of(tables)["u9"]
    header = tables["users.csv"][0]
    assert row[header.index("organization_id")] == "s2"
