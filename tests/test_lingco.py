"""The lingco contract (seed 001), rule by rule, on a district built for it.

Every expected object below is written by hand from the contract and the seed's
"Data Use" table (the Evaluated Fields of each entity), not copied from a run. JSON
Lines files are compared object by object, keyed by sourcedId, so neither the order
of the lines nor the order of an object's keys matters (the contract fixes neither);
a `children` list is compared as a set for the same reason.

The district (OneRoster 1.1, full CSV):

    orgs       d1 (district) > s1, s2 (s2 tobedeleted); metadata.city on every org
    sessions   y1 (school year) > f1, sp1 (semesters); f1 > q1 (starts one day before
               it ends: fine); bad-eq (start = end) and bad-rev (start after end): rejects
    courses    k1 SPA-1 (in the catalog), k2 FRE-2 (not), k3 with no course code (not)
    classes    c1, c2 fine; c3 no terms, c4 a term (zz) not in academicSessions.csv,
               c5 only that term: rejects
    users      t1 t2 (t2 disabled) teachers, u1 u2 students (u2 tobedeleted), a1
               administrator ("Administrator"); p1 parent, g1 guardian, x1 aide: dropped
    enrollments e1..e4, e8 kept; e5 (a parent's), e7 (unknown user) left out; e6
               (in rejected c3): a reject

Decisions where the contract is silent (see the module's tests for each):
- Records are sent whatever their status: the Evaluated Fields include `status`, and
  the contract drops users by role only. A blank CSV cell is JSON null.
- An enrollment is sent only when its user and class are: it links Lingco users to
  Lingco classes. One of someone who is not a Lingco user (a parent), or naming a
  record the source does not hold, is left out; one whose user or class was rejected
  is rejected too (no file points at a record another file left out: see the
  consistency tests).
- dateLastModified is written as the full ISO date-time the shipped schema asks for,
  `YYYY-MM-DDTHH:MM:SS.mmmZ` (a date alone is midnight UTC).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from rostermap.devtools.generate import generate
from rostermap.runtime.errors import RunError
from rostermap.runtime.report.model import to_json
from rostermap.runtime.run.pipeline import RunResult, run
from tests.conftest import CASES, EXAMPLE, MAPPINGS

TODAY = dt.date(2026, 3, 2)
SCHEMAS = MAPPINGS / "schemas" / "lingco"
FILES = ["orgs.jsonl", "academicSessions.jsonl", "courses.jsonl", "classes.jsonl",
         "users.jsonl", "enrollments.jsonl"]
EXAMPLE_CATALOG = CASES / "districts" / "lingco" / "catalog.csv"

MANIFEST = (
    "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n"
    "file.academicSessions,bulk\nfile.categories,absent\nfile.classes,bulk\n"
    "file.classResources,absent\nfile.courses,bulk\nfile.courseResources,absent\n"
    "file.demographics,absent\nfile.enrollments,bulk\nfile.lineItems,absent\n"
    "file.orgs,bulk\nfile.resources,absent\nfile.results,absent\nfile.users,bulk\n"
)
ORGS = """sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId,metadata.city
d1,active,2025-07-01T12:30:00Z,Maple District,district,D-1,,Maple
s1,,,"North High, Maple",school,0001,d1,Maple
s2,tobedeleted,2026-01-05,South Middle,school,,d1,Elm
"""
SESSIONS = """sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear
y1,,,2025-2026,schoolYear,2025-08-15,2026-06-15,,2026
f1,,,Fall 2025,semester,2025-08-15,2026-01-10,y1,2026
sp1,,,Spring 2026,semester,2026-01-10,2026-06-15,y1,2026
q1,,,Day One,gradingPeriod,2025-08-15,2025-08-16,f1,2026
bad-eq,,,Empty Term,term,2026-03-01,2026-03-01,,2026
bad-rev,,,Backwards Term,term,2026-05-01,2026-04-01,,2026
"""
COURSES = """sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,orgSourcedId,subjects,subjectCodes
k1,,,y1,Spanish I,SPA-1,"09,10",s1,World Languages,24052
k2,,,y1,French II,FRE-2,10,s1,"World Languages,French",
k3,tobedeleted,2026-01-05,y1,Latin Club,,,s2,,
"""
CLASSES = """sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods
c1,,,"Spanish I, Period 1","09,10",k1,SPA1-01,scheduled,Room 5,s1,"f1,sp1",World Languages,24052,"1,2"
c2,,,French II,10,k2,FRE2-01,Homeroom,,s1,f1,,,
c3,,,No Term Class,10,k2,NT-01,scheduled,,s1,,,,3
c4,,,Ghost Term Class,10,k2,GT-01,scheduled,,s1,"f1,zz",,,4
c5,,,Only Ghost Term,10,k2,GT-02,scheduled,,s1,zz,,,5
"""
USERS = """sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password
t1,,2025-09-01T08:15:30.250Z,true,"s1,s2",teacher,tina,,Tina,Ames,,T-1,tina@maple.org,,,,,
t2,,,false,s1,Teacher,ted,,Ted,Cole,,T-2,ted@maple.org,,,,,
u1,active,,true,s1,student,uma,,Uma,O'Neil,,S-1,uma@maple.org,,,p1,09,hunter22-local
u2,tobedeleted,2026-01-05,true,s2,student,ugo,,Ugo,Émile,,S-2,,,,,"09,10",
a1,,,true,d1,Administrator,ada,,Ada,Hale,,A-1,ada@maple.org,,,,,
p1,,,true,s1,parent,pat,,Pat,O'Neil,,P-1,pat@home.org,,,u1,,
g1,,,true,s1,guardian,gus,,Gus,Ray,,G-1,gus@home.org,,,u2,,
x1,,,true,s1,aide,axel,,Axel,Ray,,X-1,axel@maple.org,,,,,
"""
ENROLLMENTS = """sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate
e1,,,c1,s1,t1,teacher,true,2025-08-15,2026-06-15
e2,,,c1,s1,u1,student,false,,
e3,tobedeleted,2026-01-05,c1,s1,u2,student,,,
e4,,,c2,s1,a1,administrator,FALSE,,
e5,,,c1,s1,p1,parent,,,
e6,,,c3,s1,u1,student,,,
e7,,,c1,s1,ghost,student,,,
e8,,,c2,s1,t1,teacher,TRUE,2025-08-15,2026-01-10
"""
CATALOG = "courseCode,catalogId\nSPA-1,LC-SPA-1\nGER-1,LC-GER-1\n"


def files_11() -> dict[str, str]:
    return {"manifest.csv": MANIFEST, "orgs.csv": ORGS, "academicSessions.csv": SESSIONS,
            "courses.csv": COURSES, "classes.csv": CLASSES, "users.csv": USERS,
            "enrollments.csv": ENROLLMENTS}


def ref(sourced_id: str, kind: str) -> dict[str, str]:
    return {"sourcedId": sourced_id, "type": kind}


def org(sourced_id: str) -> dict[str, str]:
    return ref(sourced_id, "org")


def session(sourced_id: str) -> dict[str, str]:
    return ref(sourced_id, "academicSession")


# --- expected objects, by hand ---------------------------------------------------------

EXPECTED_ORGS = {
    "d1": {"sourcedId": "d1", "name": "Maple District", "identifier": "D-1",
           "type": "district", "parent": None, "children": [org("s1"), org("s2")],
           "dateLastModified": "2025-07-01T12:30:00.000Z", "status": "active",
           "metadata": {"city": "Maple"}},
    "s1": {"sourcedId": "s1", "name": "North High, Maple", "identifier": "0001",
           "type": "school", "parent": org("d1"), "children": [],
           "dateLastModified": None, "status": None, "metadata": {"city": "Maple"}},
    "s2": {"sourcedId": "s2", "name": "South Middle", "identifier": None,
           "type": "school", "parent": org("d1"), "children": [],
           "dateLastModified": "2026-01-05T00:00:00.000Z", "status": "tobedeleted",
           "metadata": {"city": "Elm"}},
}


def _session(sid: str, title: str, kind: str, start: str, end: str, parent: str | None,
             children: list[str]) -> dict[str, Any]:
    return {"sourcedId": sid, "title": title, "startDate": start, "endDate": end,
            "type": kind, "schoolYear": 2026,
            "parent": session(parent) if parent else None,
            "children": [session(c) for c in children],
            "dateLastModified": None, "status": None}


EXPECTED_SESSIONS = {
    "y1": _session("y1", "2025-2026", "schoolYear", "2025-08-15", "2026-06-15", None,
                   ["f1", "sp1"]),
    "f1": _session("f1", "Fall 2025", "semester", "2025-08-15", "2026-01-10", "y1", ["q1"]),
    "sp1": _session("sp1", "Spring 2026", "semester", "2026-01-10", "2026-06-15", "y1", []),
    "q1": _session("q1", "Day One", "gradingPeriod", "2025-08-15", "2025-08-16", "f1", []),
}

EXPECTED_COURSES = {
    "k1": {"sourcedId": "k1", "title": "Spanish I", "courseCode": "SPA-1",
           "schoolYear": session("y1"), "grades": ["09", "10"],
           "subjects": ["World Languages"], "subjectCodes": ["24052"], "org": org("s1"),
           "dateLastModified": None, "status": None,
           "catalogId": "LC-SPA-1", "custom": False},
    "k2": {"sourcedId": "k2", "title": "French II", "courseCode": "FRE-2",
           "schoolYear": session("y1"), "grades": ["10"],
           "subjects": ["World Languages", "French"], "subjectCodes": [], "org": org("s1"),
           "dateLastModified": None, "status": None, "catalogId": None, "custom": True},
    "k3": {"sourcedId": "k3", "title": "Latin Club", "courseCode": None,
           "schoolYear": session("y1"), "grades": [], "subjects": [], "subjectCodes": [],
           "org": org("s2"), "dateLastModified": "2026-01-05T00:00:00.000Z",
           "status": "tobedeleted", "catalogId": None, "custom": True},
}

EXPECTED_CLASSES = {
    "c1": {"sourcedId": "c1", "title": "Spanish I, Period 1", "classCode": "SPA1-01",
           "classType": "scheduled", "location": "Room 5", "grades": ["09", "10"],
           "subjects": ["World Languages"], "course": ref("k1", "course"),
           "school": org("s1"), "terms": [session("f1"), session("sp1")],
           "periods": ["1", "2"], "dateLastModified": None, "status": None},
    "c2": {"sourcedId": "c2", "title": "French II", "classCode": "FRE2-01",
           "classType": "homeroom", "location": None, "grades": ["10"], "subjects": [],
           "course": ref("k2", "course"), "school": org("s1"), "terms": [session("f1")],
           "periods": [], "dateLastModified": None, "status": None},
}


def _user(sid: str, given: str, family: str, email: str | None, role: str,
          orgs: list[str], grades: list[str], modified: str | None = None,
          status: str | None = None) -> dict[str, Any]:
    return {"sourcedId": sid, "givenName": given, "familyName": family, "email": email,
            "role": role, "orgs": [org(o) for o in orgs], "grades": grades,
            "dateLastModified": modified, "status": status}


EXPECTED_USERS = {
    "t1": _user("t1", "Tina", "Ames", "tina@maple.org", "teacher", ["s1", "s2"], [],
                "2025-09-01T08:15:30.250Z"),
    "t2": _user("t2", "Ted", "Cole", "ted@maple.org", "teacher", ["s1"], []),
    "u1": _user("u1", "Uma", "O'Neil", "uma@maple.org", "student", ["s1"], ["09"],
                status="active"),
    "u2": _user("u2", "Ugo", "Émile", None, "student", ["s2"], ["09", "10"],
                "2026-01-05T00:00:00.000Z", "tobedeleted"),
    "a1": _user("a1", "Ada", "Hale", "ada@maple.org", "administrator", ["d1"], []),
}


def _enrollment(sid: str, user: str, cls: str, role: str, primary: bool | None,
                begin: str | None = None, end: str | None = None,
                modified: str | None = None, status: str | None = None) -> dict[str, Any]:
    return {"sourcedId": sid, "user": ref(user, "user"), "class": ref(cls, "class"),
            "school": org("s1"), "role": role, "primary": primary, "beginDate": begin,
            "endDate": end, "dateLastModified": modified, "status": status}


EXPECTED_ENROLLMENTS = {
    "e1": _enrollment("e1", "t1", "c1", "teacher", True, "2025-08-15", "2026-06-15"),
    "e2": _enrollment("e2", "u1", "c1", "student", False),
    "e3": _enrollment("e3", "u2", "c1", "student", None,
                      modified="2026-01-05T00:00:00.000Z", status="tobedeleted"),
    "e4": _enrollment("e4", "a1", "c2", "administrator", False),
    "e8": _enrollment("e8", "t1", "c2", "teacher", True, "2025-08-15", "2026-01-10"),
}

EXPECTED = {
    "orgs.jsonl": EXPECTED_ORGS,
    "academicSessions.jsonl": EXPECTED_SESSIONS,
    "courses.jsonl": EXPECTED_COURSES,
    "classes.jsonl": EXPECTED_CLASSES,
    "users.jsonl": EXPECTED_USERS,
    "enrollments.jsonl": EXPECTED_ENROLLMENTS,
}


# --- helpers ---------------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def by_id(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for obj in objects:
        assert obj["sourcedId"] not in out, f"{obj['sourcedId']} written twice"
        out[obj["sourcedId"]] = obj
    return out


def unordered_children(objects: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    def fix(obj: dict[str, Any]) -> dict[str, Any]:
        if isinstance(obj.get("children"), list):
            return {**obj, "children": sorted(obj["children"], key=lambda r: r["sourcedId"])}
        return obj
    return {k: fix(v) for k, v in objects.items()}


def run_lingco(source: Path, out: Path, *params: str) -> tuple[RunResult, dict[str, Any]]:
    result = run("lingco", source, out, params, today=TODAY)
    names = [p.name for p in result.files]
    assert sorted(names) == sorted([*FILES, "report.json", "report.html"])
    objects = {name: by_id(read_jsonl(out / name)) for name in FILES}
    return result, objects


def validate_all(out: Path) -> int:
    """Every line of every output against its shipped schema; the number of objects."""
    checked = 0
    for name in FILES:
        schema = json.loads((SCHEMAS / name.replace(".jsonl", ".schema.json"))
                            .read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)
        validator = Draft202012Validator(schema)
        for number, obj in enumerate(read_jsonl(out / name), start=1):
            errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                      for e in validator.iter_errors(obj)]
            assert not errors, f"{name} line {number} ({obj.get('sourcedId')}): {errors}"
            checked += 1
    return checked


@pytest.fixture
def district(make_package: Callable[..., Path]) -> Path:
    return make_package(files_11())


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.csv"
    path.write_text(CATALOG, encoding="utf-8")
    return path


def write_package(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


Shared = tuple[RunResult, dict[str, Any], Path]


def _shared_run(base: Path, files: dict[str, str]) -> Shared:
    (base / "catalog.csv").write_text(CATALOG, encoding="utf-8")
    result, objects = run_lingco(write_package(base / "pkg", files), base / "out",
                                 f"catalog={base / 'catalog.csv'}")
    return result, objects, base / "out"


@pytest.fixture(scope="module")
def main_run(tmp_path_factory: pytest.TempPathFactory) -> Shared:
    """The 1.1 district with CATALOG, run once for the tests that only read its outputs."""
    return _shared_run(tmp_path_factory.mktemp("lingco-11"), files_11())


# --- every file, object by object -----------------------------------------------------


@pytest.mark.parametrize("name", FILES)
def test_each_file_holds_the_evaluated_fields(main_run: Shared, name: str) -> None:
    _, objects, _ = main_run
    assert unordered_children(objects[name]) == unordered_children(EXPECTED[name])


def test_one_json_object_per_line(main_run: Shared) -> None:
    out = main_run[2]
    for name in FILES:
        for line in (out / name).read_text(encoding="utf-8").splitlines():
            assert isinstance(json.loads(line), dict)


def test_no_local_passwords_are_sent(main_run: Shared) -> None:
    # "No local passwords: Users must authenticate through district identity provider."
    for path in main_run[2].iterdir():
        assert "hunter22-local" not in path.read_text(encoding="utf-8"), path.name


# --- roles -----------------------------------------------------------------------------


def test_roles_student_teacher_administrator_others_dropped(main_run: Shared) -> None:
    result, objects, _ = main_run
    roles = {sid: u["role"] for sid, u in objects["users.jsonl"].items()}
    assert roles == {"t1": "teacher", "t2": "teacher", "u1": "student", "u2": "student",
                     "a1": "administrator"}
    users = result.report.outputs["users.jsonl"]
    assert (users.read, users.rows) == (8, 5)  # p1, g1, x1 dropped


V12_MANIFEST = MANIFEST.replace("oneroster.version,1.1", "oneroster.version,1.2") + (
    "file.roles,bulk\nfile.userProfiles,absent\n"
)
V12_USERS = (
    "sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,"
    "middleName,identifier,email,sms,phone,agentSourcedIds,grades,password,"
    "userMasterIdentifier,preferredGivenName,preferredMiddleName,preferredFamilyName,"
    "primaryOrgSourcedId,pronouns\n"
    "t1,,,true,tina,,Tina,Ames,,T-1,tina@maple.org,,,,,,,,,,s1,\n"
    "u1,,,true,uma,,Uma,Jones,,S-1,uma@maple.org,,,,09,,,,,,s1,\n"
    "sa1,,,true,sam,,Sam,Site,,A-1,sam@maple.org,,,,,,,,,,s1,\n"
    "da1,,,true,dee,,Dee,District,,A-2,dee@maple.org,,,,,,,,,,d1,\n"
    "ad1,,,true,abe,,Abe,Admin,,A-3,abe@maple.org,,,,,,,,,,s1,\n"
    "pr1,,,true,pia,,Pia,Principal,,A-4,pia@maple.org,,,,,,,,,,s1,\n"
    "co1,,,true,cal,,Cal,Counselor,,A-5,cal@maple.org,,,,,,,,,,s1,\n"
    "sy1,,,true,syd,,Syd,System,,A-6,syd@maple.org,,,,,,,,,,d1,\n"
    "p1,,,true,pat,,Pat,Jones,,P-1,pat@home.org,,,u1,,,,,,,s1,\n"
)
V12_ROLES = (
    "sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,"
    "orgSourcedId,userProfileSourcedId\n"
    "r1,,,t1,primary,teacher,,,s1,\n"
    "r2,,,t1,secondary,teacher,,,s2,\n"
    "r3,,,u1,primary,student,,,s1,\n"
    "r4,,,sa1,primary,siteAdministrator,,,s1,\n"
    "r5,,,da1,primary,districtAdministrator,,,d1,\n"
    "r6,,,ad1,primary,administrator,,,s1,\n"
    "r7,,,pr1,primary,principal,,,s1,\n"
    "r8,,,co1,primary,counselor,,,s1,\n"
    "r9,,,sy1,primary,systemAdministrator,,,d1,\n"
    "r10,,,p1,primary,parent,,,s1,\n"
)
V12_ENROLLMENTS = """sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate
e1,,,c1,s1,t1,teacher,true,,
e2,,,c1,s1,u1,student,false,,
e3,,,c1,s1,sa1,administrator,false,,
"""


@pytest.fixture(scope="module")
def run_12(tmp_path_factory: pytest.TempPathFactory) -> Shared:
    """The district in OneRoster 1.2 (users' roles and orgs from roles.csv), run once."""
    return _shared_run(tmp_path_factory.mktemp("lingco-12"), {
        **files_11(), "manifest.csv": V12_MANIFEST, "users.csv": V12_USERS,
        "roles.csv": V12_ROLES, "enrollments.csv": V12_ENROLLMENTS})


def test_1_2_site_and_district_administrators_are_administrators(run_12: Shared) -> None:
    _, objects, _ = run_12
    users = objects["users.jsonl"]
    assert {sid: u["role"] for sid, u in users.items()} == {
        "t1": "teacher", "u1": "student", "sa1": "administrator", "da1": "administrator",
        "ad1": "administrator",
    }  # principal, counselor, systemAdministrator, parent: not one of the three roles
    assert users["sa1"] == _user("sa1", "Sam", "Site", "sam@maple.org", "administrator",
                                 ["s1"], [])
    assert users["da1"]["orgs"] == [org("d1")]
    assert users["t1"]["orgs"] == [org("s1"), org("s2")]  # the primary org first
    assert set(objects["enrollments.jsonl"]) == {"e1", "e2", "e3"}


# --- course catalog --------------------------------------------------------------------


def test_catalog_gives_catalog_ids_and_counts_custom_courses(main_run: Shared) -> None:
    result, objects, _ = main_run
    courses = objects["courses.jsonl"]
    assert {k: (c["catalogId"], c["custom"]) for k, c in courses.items()} == {
        "k1": ("LC-SPA-1", False), "k2": (None, True), "k3": (None, True),
    }
    assert result.report.counters["courses.jsonl"]["custom courses"] == 2


def courses_in_memory(result: RunResult) -> dict[str, tuple[str | None, bool]]:
    frame = next(o.frame for o in result.outputs if o.name == "courses.jsonl")
    return {c["sourcedId"]: (c["catalogId"], c["custom"]) for c in frame.to_dicts()}


def test_a_catalog_listing_every_course_saved_by_a_spreadsheet(district: Path, tmp_path: Path
                                                               ) -> None:
    # the customer's file, as a spreadsheet saves it: a UTF-8 byte order mark, CRLF line
    # ends; it lists both course codes (k3 has none: no catalog can list it)
    saved = tmp_path / "catalog-excel.csv"
    saved.write_bytes(b"\xef\xbb\xbfcourseCode,catalogId\r\nFRE-2,LC-FRE-2\r\n"
                      b"SPA-1,LC-SPA-1\r\n")
    result = run("lingco", district, None, [f"catalog={saved}"], today=TODAY)
    assert courses_in_memory(result) == {
        "k1": ("LC-SPA-1", False), "k2": ("LC-FRE-2", False), "k3": (None, True),
    }
    assert result.report.counters["courses.jsonl"]["custom courses"] == 1


def test_without_a_catalog_every_course_is_custom(make_package: Callable[..., Path]) -> None:
    # (on a district without bad sessions or classes: it is a success)
    sessions = "\n".join(line for line in SESSIONS.splitlines() if "bad-" not in line) + "\n"
    classes = "\n".join(line for line in CLASSES.splitlines()
                        if not line.startswith(("c3", "c4", "c5"))) + "\n"
    package = make_package({**files_11(), "academicSessions.csv": sessions,
                            "classes.csv": classes})
    result = run("lingco", package, None, [], today=TODAY)
    assert courses_in_memory(result) == {
        "k1": (None, True), "k2": (None, True), "k3": (None, True),
    }
    assert result.report.counters["courses.jsonl"]["custom courses"] == 3
    assert result.report.outcome == "success" and result.report.rejects == []


# --- data checks: rejects, and the sync goes on ----------------------------------------


def test_bad_sessions_and_classes_are_rejects_not_failures(main_run: Shared) -> None:
    result, objects, out = main_run
    report = to_json(result.report)
    assert report["outcome"] == "partial"
    rejected = sorted((j["record"], j.get("output")) for j in report["rejects"])
    assert rejected == [
        ("academicSessions/bad-eq", "academicSessions.jsonl"),   # start = end
        ("academicSessions/bad-rev", "academicSessions.jsonl"),  # start after end
        ("classes/c3", "classes.jsonl"),                         # no terms
        ("classes/c4", "classes.jsonl"),                         # zz is not a session
        ("classes/c5", "classes.jsonl"),
        ("enrollments/e6", "enrollments.jsonl"),                 # its class, c3, rejected
    ]
    assert all(j["reason"] for j in report["rejects"])
    # the sync went on: every file written, without the rejected records
    assert set(objects["academicSessions.jsonl"]) == {"y1", "f1", "sp1", "q1"}
    assert set(objects["classes.jsonl"]) == {"c1", "c2"}
    on_disk = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert on_disk["outcome"] == "partial" and len(on_disk["rejects"]) == 6


# --- consistency: no file points at a record another file left out ---------------------
#
# The 1.1 district with more records, one per rule (Troubleshooting: "Check for required
# field completeness", "Verify academic session date ranges"):
#
#   sessions  nd1 without a start date, nd2 without an end date; ch1 under bad-rev, gch1
#             under ch1; orph under a session the source does not hold
#   courses   k4 of school year nd1; k5 of a school year the source does not hold
#   classes   c6 only bad-eq; c7 f1 and bad-rev; c8 of course k4; c9 no course; c10 of a
#             course the source does not hold; c11 only gch1
#   users     n1 without a given name, n2 with a blank family name
#   enrollments e9 in c6, e10 of n1, e11 in c10, e12 in a class the source does not hold
#   orgs      s9 without a name; dp9, a department under it: k6, c12 (of s9), n3 (of s1
#             and s9) and e13 (at school s9) point at one of them

MORE = {
    "orgs.csv": "s9,,,,school,0009,d1,Maple\n"
                "dp9,,,Science,department,,s9,Maple\n",
    "academicSessions.csv": "nd1,,,No Start,term,,2026-06-15,y1,2026\n"
                            "nd2,,,No End,term,2026-01-10,,y1,2026\n"
                            "ch1,,,Under Backwards,gradingPeriod,2026-04-01,2026-05-01,bad-rev,2026\n"
                            "gch1,,,Under ch1,gradingPeriod,2026-04-01,2026-04-15,ch1,2026\n"
                            "orph,,,Orphan,term,2026-01-10,2026-06-15,nowhere,2026\n",
    "courses.csv": "k4,,,nd1,Italian I,ITA-1,09,s1,,\n"
                   "k5,,,gone,German I,GER-1,09,s1,,\n"
                   "k6,,,y1,Chemistry,CHE-1,10,dp9,,\n",
    "classes.csv": "c6,,,Bad Term Only,10,k2,BT-01,scheduled,,s1,bad-eq,,,6\n"
                   'c7,,,Good And Bad Term,10,k2,BT-02,scheduled,,s1,"f1,bad-rev",,,7\n'
                   "c8,,,Italian,09,k4,IT-01,scheduled,,s1,f1,,,8\n"
                   "c9,,,No Course,09,,NC-01,scheduled,,s1,f1,,,9\n"
                   "c10,,,Unknown Course,09,kx,UC-01,scheduled,,s1,f1,,,10\n"
                   "c11,,,Grandchild Term,09,k1,GC-01,scheduled,,s1,gch1,,,11\n"
                   "c12,,,Chemistry,10,k1,CH-01,scheduled,,s9,f1,,,12\n",
    "users.csv": "n1,,,true,s1,student,nn,,,Nameless,,S-9,n1@maple.org,,,,09,\n"
                 "n2,,,true,s1,teacher,nb,,Nia,  ,,T-9,n2@maple.org,,,,,\n"
                 'n3,,,true,"s1,s9",teacher,np,,Noa,Pike,,T-8,n3@maple.org,,,,,\n',
    "enrollments.csv": "e9,,,c6,s1,u1,student,,,\n"
                       "e10,,,c1,s1,n1,student,,,\n"
                       "e11,,,c10,s1,t1,teacher,true,,\n"
                       "e12,,,ghost-class,s1,u1,student,,,\n"
                       "e13,,,c1,s9,u1,student,,,\n",
}


def files_more() -> dict[str, str]:
    return {name: text + MORE.get(name, "") for name, text in files_11().items()}


@pytest.fixture(scope="module")
def more_run(tmp_path_factory: pytest.TempPathFactory) -> Shared:
    return _shared_run(tmp_path_factory.mktemp("lingco-more"), files_more())


def rejected(shared: Shared) -> dict[str, str]:
    """Each rejected record, with its reasons."""
    found: dict[str, list[str]] = {}
    for j in to_json(shared[0].report)["rejects"]:
        found.setdefault(j["record"], []).append(j["reason"])
    return {record: "; ".join(sorted(reasons)) for record, reasons in found.items()}


def test_class_whose_only_term_was_rejected_is_rejected(more_run: Shared) -> None:
    assert "c6" not in more_run[1]["classes.jsonl"]
    assert rejected(more_run)["classes/c6"] == "a term of the class was rejected"


def test_class_with_one_rejected_term_among_good_ones_is_rejected(more_run: Shared) -> None:
    assert "c7" not in more_run[1]["classes.jsonl"]
    assert rejected(more_run)["classes/c7"] == "a term of the class was rejected"


def test_class_whose_term_is_under_a_rejected_session_is_rejected(more_run: Shared) -> None:
    assert rejected(more_run)["classes/c11"] == "a term of the class was rejected"


def test_enrollment_of_a_rejected_class_is_rejected(more_run: Shared) -> None:
    assert {"e6", "e9"}.isdisjoint(more_run[1]["enrollments.jsonl"])
    assert rejected(more_run)["enrollments/e9"] == "the enrollment's class was rejected"


def test_session_without_dates_is_rejected(more_run: Shared) -> None:
    reasons = rejected(more_run)
    assert reasons["academicSessions/nd1"] == "the session has no start date"
    assert reasons["academicSessions/nd2"] == "the session has no end date"


def test_session_under_a_rejected_session_is_rejected(more_run: Shared) -> None:
    sessions = more_run[1]["academicSessions.jsonl"]
    assert {"ch1", "gch1"}.isdisjoint(sessions)
    reasons = rejected(more_run)
    assert reasons["academicSessions/ch1"] == "the parent session was rejected"
    assert reasons["academicSessions/gch1"] == "the parent session was rejected"
    # ... and no sent session lists a rejected one among its children
    assert sessions["y1"]["children"] == [session("f1"), session("sp1")]


def test_session_under_one_the_source_does_not_hold_is_sent(more_run: Shared) -> None:
    # not a rejected parent: the run's warnings name the reference (RM411)
    assert more_run[1]["academicSessions.jsonl"]["orph"]["parent"] == session("nowhere")
    warnings = to_json(more_run[0].report)["warnings"]
    assert any(w["code"] == "RM411" and w["file"] == "academicSessions.csv" for w in warnings)


def test_course_whose_school_year_was_rejected_is_rejected(more_run: Shared) -> None:
    courses = more_run[1]["courses.jsonl"]
    assert "k4" not in courses and "k5" in courses  # k5's school year is not in the source
    reasons = rejected(more_run)
    assert reasons["courses/k4"] == "the course's school year was rejected"
    assert reasons["classes/c8"] == "the class's course was rejected"  # and on down


def test_class_without_a_course_is_rejected(more_run: Shared) -> None:
    assert rejected(more_run)["classes/c9"] == "the class has no course"


def test_class_of_a_course_the_source_does_not_hold_is_sent(more_run: Shared) -> None:
    # courses.csv is optional ("Required OneRoster CSV Files" does not list it): a
    # course it does not hold is not a rejected one (RM411 names the reference)
    assert more_run[1]["classes.jsonl"]["c10"]["course"] == ref("kx", "course")
    assert "e11" in more_run[1]["enrollments.jsonl"]


def test_user_without_names_is_rejected(more_run: Shared) -> None:
    assert {"n1", "n2"}.isdisjoint(more_run[1]["users.jsonl"])
    reasons = rejected(more_run)
    assert reasons["users/n1"] == "the user has no given name"
    assert reasons["users/n2"] == "the user has no family name"  # blank counts as none
    assert reasons["enrollments/e10"] == "the enrollment's user was rejected"


def test_organization_without_a_name_is_rejected_with_what_points_at_it(
        more_run: Shared) -> None:
    # "Check for required field completeness": an org's name is required; nothing sent
    # points at an org left out, and its parent no longer lists it among its children.
    reasons = rejected(more_run)
    assert reasons["orgs/s9"] == "the organization has no name"
    assert reasons["orgs/dp9"] == "the parent organization was rejected"
    assert reasons["courses/k6"] == "the course's organization was rejected"
    assert reasons["classes/c12"] == "the class's school was rejected"
    assert reasons["users/n3"] == "an organization of the user was rejected"
    assert reasons["enrollments/e13"] == "the enrollment's school was rejected"
    orgs = more_run[1]["orgs.jsonl"]
    assert {"s9", "dp9"}.isdisjoint(orgs)
    assert "s9" not in [c["sourcedId"] for c in orgs["d1"]["children"]]


def test_every_record_left_out_is_counted(more_run: Shared) -> None:
    outputs = more_run[0].report.outputs
    assert {name: outputs[name].rejected for name in FILES} == {
        "orgs.jsonl": 2,              # s9 dp9
        "academicSessions.jsonl": 6,  # bad-eq bad-rev nd1 nd2 ch1 gch1
        "courses.jsonl": 2,           # k4 k6
        "classes.jsonl": 9,           # c3 c4 c5 c6 c7 c8 c9 c11 c12
        "users.jsonl": 3,             # n1 n2 n3
        "enrollments.jsonl": 4,       # e6 e9 e10 e13
    }
    assert len(rejected(more_run)) == 26


def test_no_file_points_at_a_record_another_file_left_out(more_run: Shared) -> None:
    # Every reference in every file names an object of the file of its type, unless the
    # source does not hold that record at all (RM411).
    objects = more_run[1]
    files = {"org": "orgs.jsonl", "academicSession": "academicSessions.jsonl",
             "course": "courses.jsonl", "class": "classes.jsonl", "user": "users.jsonl"}
    source = {"org": {"d1", "s1", "s2", "s9", "dp9"},
              "academicSession": {line.split(",")[0] for line in
                                  files_more()["academicSessions.csv"].splitlines()[1:]},
              "course": {"k1", "k2", "k3", "k4", "k5"},
              "class": {line.split(",")[0] for line in
                        files_more()["classes.csv"].splitlines()[1:]},
              "user": {line.split(",")[0] for line in
                       files_more()["users.csv"].splitlines()[1:]}}

    def refs(value: Any) -> list[dict[str, str]]:
        if isinstance(value, dict) and set(value) == {"sourcedId", "type"}:
            return [value]
        if isinstance(value, list):
            return [r for item in value for r in refs(item)]
        return []

    checked = 0
    for name, by_sourced_id in objects.items():
        for obj in by_sourced_id.values():
            for key, value in obj.items():
                if key == "metadata":
                    continue
                for r in refs(value):
                    checked += 1
                    if r["sourcedId"] in source[r["type"]]:
                        assert r["sourcedId"] in objects[files[r["type"]]], (name, obj, key)
    assert checked > 50


def test_sessions_classes_and_enrollments_in_1_2_are_checked_alike(
        make_package: Callable[..., Path], tmp_path: Path) -> None:
    # the user's role comes from roles.csv: a rejected 1.2 user's enrollments go too
    files = {**files_11(), "manifest.csv": V12_MANIFEST,
             "users.csv": V12_USERS + "nm,,,true,nm,,,Nameless,,S-8,nm@maple.org,,,,09,,,,,,s1,\n",
             "roles.csv": V12_ROLES + "r11,,,nm,primary,student,,,s1,\n",
             "enrollments.csv": V12_ENROLLMENTS + "e4,,,c1,s1,nm,student,false,,\n"}
    result, objects = run_lingco(make_package(files), tmp_path / "out")
    reasons = {j["record"]: j["reason"] for j in to_json(result.report)["rejects"]}
    assert reasons["users/nm"] == "the user has no given name"
    assert reasons["enrollments/e4"] == "the enrollment's user was rejected"
    assert set(objects["enrollments.jsonl"]) == {"e1", "e2", "e3"}


# --- full CSV only; required files ------------------------------------------------------


@pytest.mark.parametrize("delta", ["users", "courses", "demographics"])
def test_a_delta_package_is_refused(make_package: Callable[..., Path], tmp_path: Path,
                                    delta: str) -> None:
    present = "bulk" if delta != "demographics" else "absent"
    manifest = MANIFEST.replace(f"file.{delta},{present}", f"file.{delta},delta")
    assert manifest != MANIFEST
    package = make_package({**files_11(), "manifest.csv": manifest})
    with pytest.raises(RunError) as raised:
        run("lingco", package, tmp_path / "out", [], today=TODAY)
    codes = [d.code for d in raised.value.diagnostics]
    assert "RM419" in codes
    message = str(raised.value)
    assert "delta" in message and delta in message
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("declared", ["absent", "bulk"])  # bulk: declared, yet not there
@pytest.mark.parametrize("entity", ["orgs", "users", "classes", "enrollments",
                                    "academicSessions"])
def test_a_missing_required_file_is_named(make_package: Callable[..., Path], tmp_path: Path,
                                          entity: str, declared: str) -> None:
    files = files_11()
    del files[f"{entity}.csv"]
    files["manifest.csv"] = MANIFEST.replace(f"file.{entity},bulk", f"file.{entity},{declared}")
    package = make_package(files)
    with pytest.raises(RunError) as raised:
        run("lingco", package, tmp_path / "out", [], today=TODAY)
    rm404 = [d for d in raised.value.diagnostics if d.code == "RM404"]
    assert rm404 and any(f"{entity}.csv" in d.message for d in rm404), str(raised.value)


def test_a_missing_manifest_is_named(make_package: Callable[..., Path], tmp_path: Path) -> None:
    files = files_11()
    del files["manifest.csv"]
    with pytest.raises(RunError) as raised:
        run("lingco", make_package(files), tmp_path / "out", [], today=TODAY)
    rm404 = [d for d in raised.value.diagnostics if d.code == "RM404"]
    assert rm404 and any("manifest.csv" in d.message for d in rm404), str(raised.value)


def test_required_files_are_checked_up_front_all_at_once(make_package: Callable[..., Path],
                                                         tmp_path: Path) -> None:
    # Two required files missing, and a users.csv the run could not read: the check
    # comes before any record is read, and names both files.
    files = files_11()
    del files["academicSessions.csv"], files["enrollments.csv"]
    files["manifest.csv"] = (MANIFEST.replace("file.academicSessions,bulk",
                                              "file.academicSessions,absent")
                             .replace("file.enrollments,bulk", "file.enrollments,absent"))
    files["users.csv"] = "sourcedId,role\nu1,student\n"  # lacks the columns the profile reads
    with pytest.raises(RunError) as raised:
        run("lingco", make_package(files), tmp_path / "out", [], today=TODAY)
    messages = [d.message for d in raised.value.diagnostics if d.code == "RM404"]
    assert any("academicSessions.csv" in m for m in messages), str(raised.value)
    assert any("enrollments.csv" in m for m in messages), str(raised.value)
    assert all(d.code == "RM404" for d in raised.value.diagnostics), str(raised.value)


def test_courses_csv_is_not_required(make_package: Callable[..., Path], tmp_path: Path) -> None:
    # courses.csv is not among the seed's required files: a package without it syncs.
    files = files_11()
    del files["courses.csv"]
    files["manifest.csv"] = MANIFEST.replace("file.courses,bulk", "file.courses,absent")
    _, objects = run_lingco(make_package(files), tmp_path / "out")
    assert objects["courses.jsonl"] == {}
    assert set(objects["classes.jsonl"]) == {"c1", "c2"}


def test_a_zip_package_gives_the_same_objects(make_package: Callable[..., Path],
                                              catalog: Path, tmp_path: Path) -> None:
    # "ZIP compression recommended for large datasets"
    package = make_package(files_11(), as_zip=True, name="district")
    _, objects = run_lingco(package, tmp_path / "out", f"catalog={catalog}")
    for name in FILES:
        assert unordered_children(objects[name]) == unordered_children(EXPECTED[name]), name


# --- the shipped JSON Schemas ----------------------------------------------------------


def test_outputs_validate_on_the_test_district(main_run: Shared) -> None:
    # orgs 3, sessions 4, courses 3, classes 2, users 5, enrollments 5
    assert validate_all(main_run[2]) == 22


def test_outputs_validate_on_the_1_2_test_district(run_12: Shared) -> None:
    # orgs 3, sessions 4, courses 3, classes 2, users t1 u1 sa1 da1 ad1, enrollments 3
    assert validate_all(run_12[2]) == 20


@pytest.fixture(scope="module")
def example_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """The example district with a realistic catalog (its world-language courses)."""
    return run("lingco", EXAMPLE, tmp_path_factory.mktemp("lingco-example"),
               [f"catalog={EXAMPLE_CATALOG}"], today=dt.date(2026, 11, 25))


def test_outputs_validate_on_the_example_district(example_run: RunResult) -> None:
    assert validate_all(example_run.files[0].parent) > 0


def test_outputs_validate_on_a_generated_1_2_package(tmp_path: Path) -> None:
    package = tmp_path / "gen12"
    generate(package, students=40, seed=3, version="1.2")
    result, objects = run_lingco(package, tmp_path / "out")
    assert result.report.source.oneroster_version == "1.2"
    roles = {u["role"] for u in objects["users.jsonl"].values()}
    assert roles <= {"student", "teacher", "administrator"} and "administrator" in roles
    assert validate_all(tmp_path / "out") > 0


# --- snapshot on the example district --------------------------------------------------


def stable(report: dict[str, Any]) -> dict[str, Any]:
    """The report without what changes from run to run (times, absolute paths)."""
    out = {k: v for k, v in report.items() if k not in ("started", "finished", "seconds")}
    out["mapping"] = Path(report["mapping"]).name
    out["source"] = {**report["source"], "path": Path(report["source"]["path"]).name}
    out["params"] = {k: Path(v).name if k == "catalog" and v else v
                     for k, v in report["params"].items()}
    out["entities"] = {k: {**v, "file": Path(v["file"]).name}
                       for k, v in report["entities"].items()}
    return out


def test_example_district_outputs(example_run: RunResult, text_snapshot, snapshot) -> None:  # type: ignore[no-untyped-def]
    result = example_run
    assert sorted(p.name for p in result.files) == sorted([*FILES, "report.json", "report.html"])
    for path in result.files:
        if path.suffix == ".jsonl":
            assert path.read_text(encoding="utf-8") == text_snapshot(name=path.name)
    # by hand: 86 courses, of which WL-SPX, WL-SP1, WL-SP2, WL-SP3 and WL-FR1 (twice)
    # are in the catalog
    assert result.report.counters["courses.jsonl"]["custom courses"] == 80
    assert stable(to_json(result.report)) == snapshot(name="report")


def test_records_without_a_title_are_rejected_and_so_is_what_points_at_them(
        tmp_path: Path) -> None:
    # "Check for required field completeness": Lingco's schemas need a title; a session,
    # course or class without one is rejected, and so is a class pointing at one.
    blank = {
        "academicSessions.csv": "nt1,,,,term,2025-08-15,2026-01-10,y1,2026\n",
        "courses.csv": "knt,,,y1, ,NT-1,09,s1,,\n",
        "classes.csv": "cnt1,,,Untitled Term,09,k2,NT-01,scheduled,,s1,nt1,,,1\n"
                       "cnt2,,,Untitled Course,09,knt,NT-02,scheduled,,s1,f1,,,2\n"
                       "cnt3,,,,09,k2,NT-03,scheduled,,s1,f1,,,3\n",
    }
    files = {name: text + blank.get(name, "") for name, text in files_11().items()}
    shared = _shared_run(tmp_path, files)
    reasons = rejected(shared)
    assert reasons["academicSessions/nt1"] == "the session has no title"
    assert reasons["courses/knt"] == "the course has no title"
    assert reasons["classes/cnt1"] == "a term of the class was rejected"
    assert reasons["classes/cnt2"] == "the class's course was rejected"
    assert reasons["classes/cnt3"] == "the class has no title"
    assert {"cnt1", "cnt2", "cnt3"}.isdisjoint(shared[1]["classes.jsonl"])
