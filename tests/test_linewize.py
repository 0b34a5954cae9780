"""The linewize contract (seed 002), rule by rule, on a district built for it.

Every expected file below is written by hand from the contract, not copied from a
run. The run's date is fixed at AS_OF = 2026-03-02; terms and enrollments end on it
(endDate is exclusive: over), end the day after (AS_OF is their last day: current),
start on it (current) or the day after (not yet).

Schools: s1 and s2 are synced; s3 is excluded by its NCES id and s4 by its sourcedId
(EXCLUDE); a class names s9, which orgs.csv does not hold, and another a term t9,
which academicSessions.csv does not hold.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rostermap.cli.main import main
from rostermap.runtime.errors import UsageError
from rostermap.runtime.report.model import to_json
from rostermap.runtime.run.pipeline import run
from tests.conftest import CASES, EXAMPLE

AS_OF = dt.date(2026, 3, 2)
EXCLUDE = "exclude_schools=060000100003,s4"

MANIFEST = (
    "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n"
    "file.academicSessions,bulk\nfile.orgs,bulk\nfile.courses,absent\nfile.classes,bulk\n"
    "file.users,bulk\nfile.enrollments,bulk\nfile.demographics,absent\n"
)
ORGS = """sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId
d1,,,Maple Unified,district,0600001,
s1,,,Maple High,school,060000100001,d1
s2,,,Maple Middle,school,060000100002,d1
s3,,,Maple Elementary,school,060000100003,d1
s4,,,Maple Academy,school,060000100004,d1
"""
SESSIONS = """sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear
y1,,,2025-2026,schoolYear,2025-08-15,2026-06-15,,2026
t1,,,Ends on as_of,term,2025-08-15,2026-03-02,y1,2026
t2,,,Ends the day after,term,2025-08-15,2026-03-03,y1,2026
t3,,,Starts on as_of,term,2026-03-02,2026-06-15,y1,2026
t4,,,Starts the day after,term,2026-03-03,2026-06-15,y1,2026
"""
CLASSES = """sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods
k01,,,Algebra,09,c1,ALG,scheduled,,s1,y1,,,1
k02,,,Ends on as_of,09,c1,T1,scheduled,,s1,t1,,,2
k03,,,Last day is as_of,09,c1,T2,scheduled,,s1,t2,,,3
k04,,,Starts on as_of,07,c1,T3,scheduled,,s2,t3,,,1
k05,,,Starts the day after,07,c1,T4,scheduled,,s2,t4,,,2
k06,,,Two terms,07,c1,T13,scheduled,,s2,"t1,t3",,,3
k07,,,Elementary art,03,c1,ART,scheduled,,s3,y1,,,1
k08,,,Academy art,09,c1,ART,scheduled,,s4,y1,,,1
k09,,,School missing,09,c1,S9,scheduled,,s9,y1,,,1
k10,,,Term missing,09,c1,T9,scheduled,,s1,"y1,t9",,,4
k11,tobedeleted,2026-01-10,Cancelled,09,c1,X,scheduled,,s1,y1,,,5
"""
USERS = """sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password
t01,,,true,s1,teacher,,,Tess,Ames,,T-01,t01@maple.org,,,,,
t02,,,true,"s3,s2",teacher,,,Theo,Baker,,T-02,t02@maple.org,,,,,
t03,,,true,s3,teacher,,,Tara,Cole,,T-03,t03@maple.org,,,,,
u01,,,true,s1,student,,,Uma,Jones,,S-01,u01@maple.org,,,,09,
u02,,,true,s1,student,,,Ugo,King,,S-02,u02@maple.org,,,,09,
u03,,,true,s1,student,,,Una,Lee,,S-03,u03@maple.org,,,,09,
u04,,,true,s2,student,,,Uri,Moss,,S-04,u04@maple.org,,,,07,
u05,,,true,s2,student,,,Uli,Nash,,S-05,u05@maple.org,,,,07,
u06,,,true,s1,student,,,Ulla,Ortiz,,S-06,u06@Maple.org,,,,09,
u07,,,true,s1,student,,,Umar,Patel,,S-07,u07@maple.org,,,,09,
u08,,,true,s4,student,,,Uwe,Quinn,,S-08,u08@maple.org,,,,09,
u09,tobedeleted,2026-01-10,true,s1,student,,,Ulf,Reed,,S-09,u09@maple.org,,,,09,
g01,,,true,s1,guardian,,,Gina,Jones,,G-01,gina@home.org,,,u01,,
a01,,,true,s1,administrator,,,Ada,Stone,,A-01,a01@maple.org,,,,,
"""
ENROLLMENTS = """sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate
e01,,,k01,s1,t01,teacher,true,,
e02,,,k01,s1,u01,student,false,2025-08-15,
e03,,,k01,s1,u02,student,false,2025-08-15,2026-03-02
e04,,,k03,s1,u03,student,false,2025-08-15,2026-03-03
e05,,,k04,s2,u04,student,false,2026-03-02,
e06,,,k05,s2,u05,student,false,2026-03-03,
e07,tobedeleted,2026-01-10,k01,s1,u06,student,false,,
e08,,,k04,s2,t02,teacher,true,,
e09,,,k07,s3,t02,teacher,false,,
e10,,,k07,s3,t03,teacher,true,,
e11,,,k06,s2,u01,student,false,2025-08-15,2026-03-02
e12,,,k08,s4,u08,student,false,,
e13,,,k02,s1,u02,student,false,2025-08-15,2026-03-02
e14,,,k01,s1,g01,guardian,false,,
"""
# The users already in Linewize. L-03 and L-04 share an address; L-02 is u01's address
# in another case, L-08 u06's (whose domain is capitalised); L-05 and L-06 are u04 and
# t02 under another domain; L-09 has no address.
EXISTING = """id,email
L-01,t01@maple.org
L-02,U01@maple.org
L-03,u03@maple.org
L-04,u03@maple.org
L-05,u04@oldmaple.net
L-06,t02@legacy.maple.org
L-07,u05@maple.org
L-08,u06@maple.org
L-09,
"""

# Additions for some tests: a class whose only term is missing (K12); a class of an
# excluded school whose term is missing (K13); a teacher of the district and of an
# excluded school only (T04); a teacher of the district and of s1 (T05).
K12 = "k12,,,Only term missing,09,c1,T9,scheduled,,s1,t9,,,6\n"
K13 = "k13,,,Academy term missing,09,c1,X9,scheduled,,s4,t9,,,6\n"
T04 = 't04,,,true,"d1,s3",teacher,,,Tom,Dunn,,T-04,t04@maple.org,,,,,\n'
T05 = 't05,,,true,"s1,d1",teacher,,,Tia,Eng,,T-05,t05@maple.org,,,,,\n'
# A disabled student (U10), a disabled teacher (T06) and an aide (H01) of s1.
U10 = "u10,,,false,s1,student,,,Ulrike,Stein,,S-10,u10@maple.org,,,,09,\n"
T06 = "t06,,,false,s1,teacher,,,Tina,Fox,,T-06,t06@maple.org,,,,,\n"
H01 = "h01,,,true,s1,aide,,,Hal,Gray,,H-01,h01@maple.org,,,,,\n"


def files(classes: str = CLASSES, users: str = USERS) -> dict[str, str]:
    """The district's package, with other classes.csv or users.csv text if given."""
    return {"manifest.csv": MANIFEST, "orgs.csv": ORGS, "academicSessions.csv": SESSIONS,
            "classes.csv": classes, "users.csv": users, "enrollments.csv": ENROLLMENTS}


USERS_HEADER = "id,existing_id,email,first_name,last_name,role,school_id\n"
# Every user synced when no option is on (t03 and u08 are only in excluded schools;
# u09 tobedeleted; g01 a guardian; a01, an administrator, is staff), as (id, email,
# names, role, school): existing_id is inserted by each test.
SYNCED = {
    "a01": "a01@maple.org,Ada,Stone,administrator,s1",
    "t01": "t01@maple.org,Tess,Ames,teacher,s1",
    "t02": "t02@maple.org,Theo,Baker,teacher,s2",  # s3 is excluded: s2
    "u01": "u01@maple.org,Uma,Jones,student,s1",
    "u02": "u02@maple.org,Ugo,King,student,s1",
    "u03": "u03@maple.org,Una,Lee,student,s1",
    "u04": "u04@maple.org,Uri,Moss,student,s2",
    "u05": "u05@maple.org,Uli,Nash,student,s2",
    "u06": "u06@Maple.org,Ulla,Ortiz,student,s1",
    "u07": "u07@maple.org,Umar,Patel,student,s1",
}


def users_csv(existing: dict[str, str], only: list[str] | None = None,
              emails: dict[str, str] | None = None) -> str:
    """users.csv of the synced users (``only`` these), with their existing ids (and
    ``emails`` in place of theirs: a merged user's is the existing user's)."""
    rows = []
    for uid, rest in SYNCED.items():
        if only is None or uid in only:
            email, others = rest.split(",", 1)
            rows.append(f"{uid},{existing.get(uid, '')},{(emails or {}).get(uid, email)},{others}")
    return USERS_HEADER + "".join(f"{row}\n" for row in rows)


def write(folder: Path, package: dict[str, str]) -> Path:
    folder.mkdir()
    for name, body in package.items():
        (folder / name).write_text(body, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package, written once for the module (the runs are shared, see outputs)."""
    return write(tmp_path_factory.mktemp("linewize") / "district", files())


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The district with K12, T04, T05, U10, T06 and H01 added (for the tests that read
    them)."""
    return write(tmp_path_factory.mktemp("linewize") / "variants",
                 files(classes=CLASSES + K12, users=USERS + T04 + T05 + U10 + T06 + H01))


@pytest.fixture(scope="module")
def existing(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("existing") / "linewize-users.csv"
    path.write_text(EXISTING, encoding="utf-8")
    return f"existing={path}"


_RUNS: dict[tuple[str, tuple[str, ...], dt.date], dict[str, Any]] = {}


def outputs(source: Path, *params: str, today: dt.date = AS_OF) -> dict[str, Any]:
    """The files (text) and report (dict) of a run, computed once per source, parameters
    and date, so that tests reading the same run stay fast."""
    key = (str(source), params, today)
    if key not in _RUNS:
        result = run("linewize", source, source.parent / f"run-{len(_RUNS)}", params,
                     today=today)
        assert [p.name for p in result.files] == ["users.csv", "classes.csv", "report.json",
                                                  "report.html"]
        texts: dict[str, Any] = {p.name: p.read_text(encoding="utf-8") for p in result.files}
        texts["report.json"] = to_json(result.report)
        _RUNS[key] = texts
    return _RUNS[key]


def rejected(report: dict[str, Any]) -> list[str]:
    return sorted(j["record"] for j in report["rejects"])


# --- users ------------------------------------------------------------------------------


def test_users_of_the_schools_not_excluded(district: Path) -> None:
    # Excluded by NCES id (s3) and by sourcedId (s4): t03 and u08, whose only school it
    # is, are not synced; t02, also in s2, is, with s2 as its school.
    files = outputs(district, EXCLUDE)
    assert files["users.csv"] == users_csv({})


def test_without_exclusions_every_active_student_and_staff_member(district: Path) -> None:
    files = outputs(district)
    users = [line.split(",") for line in files["users.csv"].splitlines()[1:]]
    assert [u[0] for u in users] == ["a01", "t01", "t02", "t03", "u01", "u02", "u03", "u04",
                                     "u05", "u06", "u07", "u08"]
    assert {u[0]: u[6] for u in users}["t03"] == "s3"
    assert {u[0]: u[6] for u in users}["u08"] == "s4"


# "Respect Enrolment Date: ... exclude any previous students who have already left the
# school": a student all of whose enrollments have ended (endDate, exclusive, on or before
# as_of). u02's two enrollments end on as_of: it has left; every other student stays.
ENROLMENT_DATE_RUN = (EXCLUDE, "respect_enrolment_date=true")


def test_respect_enrolment_date_excludes_a_student_whose_enrolments_have_all_ended(
        district: Path) -> None:
    files = outputs(district, *ENROLMENT_DATE_RUN)
    assert files["users.csv"] == users_csv({}, only=[u for u in SYNCED if u != "u02"])
    # Classes list the students synced: u02 is in none.
    assert files["classes.csv"].splitlines()[:6] == [
        "id,name,school_id,teacher_ids,student_ids",
        "k01,Algebra,s1,t01,u01",
        "k02,Ends on as_of,s1,,",
        "k03,Last day is as_of,s1,,u03",
        "k04,Starts on as_of,s2,t02,u04",
        "k05,Starts the day after,s2,,u05",
    ]


def test_respect_enrolment_date_keeps_a_student_with_one_enrolment_not_ended(
        district: Path) -> None:
    # u01: one enrollment ended on as_of (k06), one open-ended (k01); u03's only one
    # ends the day after as_of (as_of is its last day).
    users = outputs(district, *ENROLMENT_DATE_RUN)["users.csv"]
    assert {"u01", "u03"} <= {line.split(",")[0] for line in users.splitlines()}


def test_respect_enrolment_date_keeps_a_student_whose_enrolment_has_not_started(
        district: Path) -> None:
    # u05's only enrollment begins the day after as_of, u04's on as_of: neither has left.
    users = outputs(district, *ENROLMENT_DATE_RUN)["users.csv"]
    assert {"u04", "u05"} <= {line.split(",")[0] for line in users.splitlines()}


def test_respect_enrolment_date_keeps_a_student_without_enrolments(district: Path) -> None:
    # u07 has no enrollment; u06 only a tobedeleted one, which is no enrollment: neither
    # has an enrollment that ended.
    users = outputs(district, *ENROLMENT_DATE_RUN)["users.csv"]
    assert {"u06", "u07"} <= {line.split(",")[0] for line in users.splitlines()}


def test_enrolment_date_follows_as_of(district: Path) -> None:
    # as_of one day later (given as a parameter; the run's own date is far off): u03's
    # only enrollment is over too.
    files = outputs(district, *ENROLMENT_DATE_RUN, "as_of=2026-03-03",
                    today=dt.date(2020, 1, 1))
    assert files["users.csv"] == users_csv(
        {}, only=[u for u in SYNCED if u not in ("u02", "u03")])
    assert files["report.json"]["params"]["as_of"] == "2026-03-03"


# --- classes ----------------------------------------------------------------------------

CLASSES_ALL = (
    "id,name,school_id,teacher_ids,student_ids\n"
    "k01,Algebra,s1,t01,u01;u02\n"          # u06's enrollment is tobedeleted, g01 a guardian
    "k02,Ends on as_of,s1,,u02\n"
    "k03,Last day is as_of,s1,,u03\n"
    "k04,Starts on as_of,s2,t02,u04\n"
    "k05,Starts the day after,s2,,u05\n"
    "k06,Two terms,s2,,u01\n"
    "k10,Term missing,s1,,\n"
)


def test_active_classes_of_the_schools_not_excluded(district: Path) -> None:
    # k07 (s3, by NCES id) and k08 (s4) excluded; k11 tobedeleted; k09's school missing.
    # k10, whose term is missing, is synced: without Respect Academic Sessions its terms
    # are not read.
    files = outputs(district, EXCLUDE)
    assert files["classes.csv"] == CLASSES_ALL


def test_respect_academic_sessions(district: Path) -> None:
    # k01 (school year), k03 (as_of is its term's last day), k04 (its term starts on
    # as_of), k06 (one of two terms current); not k02 (its term ended: endDate = as_of)
    # nor k05 (its term starts the day after).
    files = outputs(district, EXCLUDE, "respect_academic_sessions=true")
    assert files["classes.csv"] == (
        "id,name,school_id,teacher_ids,student_ids\n"
        "k01,Algebra,s1,t01,u01;u02\n"
        "k03,Last day is as_of,s1,,u03\n"
        "k04,Starts on as_of,s2,t02,u04\n"
        "k06,Two terms,s2,,u01\n"
    )
    assert files["report.json"]["counters"]["classes.csv"] == {"imported classes": 4}


def test_academic_sessions_follow_as_of(district: Path) -> None:
    # Run the day before, as_of not given (so it is the run's date): k02's term (endDate
    # 2026-03-02, last day 2026-03-01) is current, k04's (starts 2026-03-02) not begun.
    files = outputs(district, EXCLUDE, "respect_academic_sessions=true",
                    today=dt.date(2026, 3, 1))
    assert [line.split(",")[0] for line in files["classes.csv"].splitlines()[1:]] == [
        "k01", "k02", "k03", "k06"]
    assert files["report.json"]["params"]["as_of"] == "2026-03-01"


def test_incomplete_school_data_makes_the_run_partial(district: Path) -> None:
    report = outputs(district, EXCLUDE)["report.json"]
    assert report["outcome"] == "partial"
    assert "classes/k09" in rejected(report)  # its school s9 is missing


def test_a_class_whose_school_is_missing_is_rejected(district: Path) -> None:
    report = outputs(district, EXCLUDE)["report.json"]
    assert rejected(report) == ["classes/k09"]
    reasons = {j["record"]: j["reason"] for j in report["rejects"]}
    assert "school" in reasons["classes/k09"]


def test_a_missing_school_alone_makes_the_run_partial(make_package: Callable[..., Path]) -> None:
    only_k09 = "\n".join(line for line in CLASSES.splitlines() if not line.startswith("k10"))
    package = make_package(files(classes=only_k09 + "\n"), name="k09")
    report = outputs(package)["report.json"]
    assert report["outcome"] == "partial"
    assert rejected(report) == ["classes/k09"]


def test_a_class_whose_only_term_is_missing_is_rejected_with_academic_sessions(
        variants: Path) -> None:
    report = outputs(variants, EXCLUDE, "respect_academic_sessions=true")["report.json"]
    assert "classes/k12" in rejected(report)
    reasons = {j["record"]: j["reason"] for j in report["rejects"]}
    assert "term" in reasons["classes/k12"]


def test_without_academic_sessions_a_class_whose_term_is_missing_is_synced(
        variants: Path) -> None:
    # "Not selecting this option will sync all active classrooms, regardless of the year
    # or the date range they run in."
    files = outputs(variants, EXCLUDE)
    assert "classes/k12" not in rejected(files["report.json"])
    assert "k12,Only term missing,s1,," in files["classes.csv"].splitlines()


def test_cli_exit_code_3_on_a_partial_run(district: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [
        "run", "linewize", "--source", str(district), "--out", str(out), "--today",
        "2026-03-02", "--param", EXCLUDE, "--quiet"])
    assert result.exit_code == 3, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["outcome"] == "partial"
    assert "classes/k09" in rejected(report)
    assert (out / "classes.csv").read_text(encoding="utf-8") == CLASSES_ALL


def test_an_excluded_school_s_incomplete_data_does_not_make_the_run_partial(
        make_package: Callable[..., Path], tmp_path: Path) -> None:
    # The seed: schools with incomplete data sets "may result in ... a partial sync. You
    # can select Exclude Schools to exclude those schools from the sync." Here only k13,
    # a class of s4 whose term is missing, is incomplete (with Respect Academic Sessions,
    # under which terms are read).
    complete = "\n".join(line for line in CLASSES.splitlines()
                         if not line.startswith(("k09", "k10"))) + "\n"
    package = make_package(files(classes=complete + K13), name="k13")
    result = CliRunner().invoke(main, [
        "run", "linewize", "--source", str(package), "--out", str(tmp_path / "out"),
        "--today", "2026-03-02", "--param", EXCLUDE, "--param", "respect_academic_sessions=true",
        "--quiet"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["outcome"] == "success" and report["rejects"] == []
    report = outputs(package, "respect_academic_sessions=true")["report.json"]  # s4 included
    assert report["outcome"] == "partial" and rejected(report) == ["classes/k13"]


def test_a_user_whose_only_school_is_excluded_besides_the_district(variants: Path) -> None:
    users = outputs(variants, EXCLUDE)["users.csv"]
    assert "t04" not in [line.split(",")[0] for line in users.splitlines()]


def test_an_excluded_school_the_source_does_not_hold_is_warned(district: Path) -> None:
    # "Select a school to move it between the Included Schools and Excluded Schools
    # lists": a school is picked from the SIS's; an id no school has (a typo) would
    # exclude nothing, and the run says so.
    report = outputs(district, EXCLUDE + ",s44")["report.json"]
    (warning,) = [w for w in report["warnings"] if w["code"] == "RM490"]
    assert "exclude_schools" in warning["message"] and "'s44'" in warning["message"]
    assert not [w for w in outputs(district, EXCLUDE)["report.json"]["warnings"]
                if w["code"] == "RM490"]


def test_students_and_staff_are_synced_but_not_guardians(variants: Path) -> None:
    # "your school's students, staff and classrooms" and "You can't sync data for
    # student's guardians": the administrator a01 and the aide h01 are synced, g01 is not.
    users = outputs(variants, EXCLUDE)["users.csv"].splitlines()
    assert "a01,,a01@maple.org,Ada,Stone,administrator,s1" in users
    assert "h01,,h01@maple.org,Hal,Gray,aide,s1" in users
    assert not [line for line in users if line.startswith("g01,")]


def test_all_existing_student_data_includes_disabled_students(variants: Path) -> None:
    # "If you don't select this option, all existing student data will be synced": the
    # disabled student u10 is synced, with the option or without (it has not left); the
    # disabled teacher t06, who may not sign in, is not.
    for params in ((EXCLUDE,), (EXCLUDE, "respect_enrolment_date=true")):
        ids = [line.split(",")[0] for line in outputs(variants, *params)["users.csv"].splitlines()]
        assert "u10" in ids and "t06" not in ids


def test_school_id_is_a_school_not_the_district(variants: Path) -> None:
    users = outputs(variants, EXCLUDE)["users.csv"]
    assert "t05,,t05@maple.org,Tia,Eng,teacher,s1" in users.splitlines()


# --- merging with the users already in Linewize ----------------------------------------


# The sync log: "A successful sync will display the number of Unmatched Users, Matched
# Students, Matched Teachers, and Imported Classes", and every sync matches users by
# email: "Ensure the email addresses of your users in Linewize Filter match the email
# address of your users in PowerSchool" (the Merge Key "Email", case sensitive, is the
# default). With the default settings and EXISTING: t01 matches L-01 and u05 L-07; u03
# matches two users (L-03, L-04) and is rejected; the other six match no one.
MATCHED_BY_EMAIL = {"t01": "L-01", "u05": "L-07"}


def test_sync_log_counts_users_matched_by_email_under_the_default_settings(
        district: Path, existing: str) -> None:
    files = outputs(district, EXCLUDE, existing)
    assert files["users.csv"] == users_csv(MATCHED_BY_EMAIL,
                                           only=[u for u in SYNCED if u != "u03"])
    assert rejected(files["report.json"]) == ["classes/k09", "users/u03"]
    assert files["report.json"]["counters"] == {
        "users.csv": {"matched students": 1, "matched teachers": 1, "unmatched users": 7},
        "classes.csv": {"imported classes": 7},
    }


def test_sync_log_counts_every_user_unmatched_when_linewize_has_none(district: Path) -> None:
    files = outputs(district, EXCLUDE)  # no users in Linewize yet (no `existing`)
    assert files["users.csv"] == users_csv({})
    assert files["report.json"]["counters"] == {
        "users.csv": {"matched students": 0, "matched teachers": 0, "unmatched users": 10},
        "classes.csv": {"imported classes": 7},
    }


def test_merge_by_email_is_case_sensitive(district: Path,
                                          existing: str) -> None:
    # t01 and u05 match; u01 (U01@...) and u06 (@Maple.org) differ in case only: no
    # match; u04 and t02 are under another domain: no match; u03 matches two: an error.
    files = outputs(district, EXCLUDE, existing, "merge_key=email")
    assert files["users.csv"] == users_csv(
        MATCHED_BY_EMAIL, only=["a01", "t01", "t02", "u01", "u02", "u04", "u05", "u06", "u07"])
    report = files["report.json"]
    assert "users/u03" in rejected(report)
    assert report["counters"]["users.csv"] == {
        "matched students": 1, "matched teachers": 1, "unmatched users": 7}


# Merged by the part before @, under the default Merge Priority (lower than the primary
# provider's): the single user has the existing user's email.
BY_LOCAL_PART = {"t01": "L-01", "t02": "L-06", "u04": "L-05", "u05": "L-07", "u06": "L-08"}
EXISTING_EMAILS = {"t02": "t02@legacy.maple.org", "u04": "u04@oldmaple.net",
                   "u06": "u06@maple.org"}


def test_merge_by_email_without_domain(district: Path, existing: str) -> None:
    # The part before @: t01, t02 (legacy domain), u04 (old domain), u05, u06 (domain in
    # another case) match; u01's part differs in case (U01): no match; u03 matches two.
    files = outputs(district, EXCLUDE, existing,
                    "merge_key=email_without_domain")
    assert files["users.csv"] == users_csv(
        BY_LOCAL_PART, only=["a01", "t01", "t02", "u01", "u02", "u04", "u05", "u06", "u07"],
        emails=EXISTING_EMAILS)
    report = files["report.json"]
    assert "users/u03" in rejected(report)
    assert report["outcome"] == "partial"
    assert report["counters"]["users.csv"] == {
        "matched students": 3, "matched teachers": 2, "unmatched users": 4}


def test_merge_priority_lower_than_the_primary_provider_keeps_the_existing_user_s_email(
        district: Path, existing: str) -> None:
    # "For Merge Priority, enter a value lower than your primary provider": the primary
    # provider's user (the existing one) is the single user's identity. The defaults
    # (99 and 100) are such values; so are any others.
    defaults = outputs(district, EXCLUDE, existing, "merge_key=email_without_domain")
    assert (defaults["report.json"]["params"]["merge_priority"],
            defaults["report.json"]["params"]["primary_merge_priority"]) == (99, 100)
    files = outputs(district, EXCLUDE, existing, "merge_key=email_without_domain",
                    "merge_priority=10", "primary_merge_priority=11")
    assert files["users.csv"] == defaults["users.csv"]
    emails = {line.split(",")[0]: line.split(",")[2] for line in files["users.csv"].splitlines()}
    assert {u: emails[u] for u in EXISTING_EMAILS} == EXISTING_EMAILS


def test_merge_priority_above_the_primary_provider_keeps_this_sync_s_email(
        district: Path, existing: str) -> None:
    # This sync is then the primary provider: the users are merged all the same, with
    # this sync's details.
    files = outputs(district, EXCLUDE, existing, "merge_key=email_without_domain",
                    "merge_priority=100", "primary_merge_priority=90")
    assert files["users.csv"] == users_csv(
        BY_LOCAL_PART, only=["a01", "t01", "t02", "u01", "u02", "u04", "u05", "u06", "u07"])


def test_merge_priority_equal_to_the_primary_provider_s_is_rejected(
        district: Path, existing: str) -> None:
    # Neither provider's details would win: each user merged is rejected, not guessed.
    files = outputs(district, EXCLUDE, existing, "merge_key=email_without_domain",
                    "merge_priority=100")
    assert files["users.csv"] == users_csv({}, only=["a01", "u01", "u02", "u07"])
    report = files["report.json"]
    assert rejected(report) == ["classes/k09", "users/t01", "users/t02",
                                "users/u03", "users/u04", "users/u05", "users/u06"]
    reasons = {j["record"]: j["reason"] for j in report["rejects"]}
    assert "Merge Priority" in reasons["users/t01"] and "several" in reasons["users/u03"]


def test_attach_to_existing_only(district: Path, existing: str) -> None:
    files = outputs(district, EXCLUDE, existing,
                    "merge_key=email_without_domain", "attach_to_existing_only=true")
    assert files["users.csv"] == users_csv(BY_LOCAL_PART, only=list(BY_LOCAL_PART),
                                           emails=EXISTING_EMAILS)
    # Classes list only the users synced.
    assert files["classes.csv"] == (
        "id,name,school_id,teacher_ids,student_ids\n"
        "k01,Algebra,s1,t01,\n"
        "k02,Ends on as_of,s1,,\n"
        "k03,Last day is as_of,s1,,\n"
        "k04,Starts on as_of,s2,t02,u04\n"
        "k05,Starts the day after,s2,,u05\n"
        "k06,Two terms,s2,,\n"
        "k10,Term missing,s1,,\n"
    )
    assert files["report.json"]["counters"] == {
        "users.csv": {"matched students": 3, "matched teachers": 2, "unmatched users": 0},
        "classes.csv": {"imported classes": 7},
    }


def test_attach_to_existing_only_still_reports_several_matches(district: Path,
                                                               existing: str) -> None:
    report = outputs(district, EXCLUDE, existing,
                     "merge_key=email_without_domain", "attach_to_existing_only=true",
                     )["report.json"]
    assert "users/u03" in rejected(report)


def test_counters_with_every_option(district: Path, existing: str) -> None:
    # Enrolment and session dates on, merged by email: u02 has left; t01 (teacher) and
    # u05 (student, whose enrollment has not begun) are matched, u03 rejected.
    files = outputs(district, EXCLUDE, existing, "merge_key=email",
                    "respect_enrolment_date=true", "respect_academic_sessions=true")
    assert files["users.csv"] == users_csv(
        MATCHED_BY_EMAIL, only=["a01", "t01", "t02", "u01", "u04", "u05", "u06", "u07"])
    report = files["report.json"]
    assert report["counters"] == {
        "users.csv": {"matched students": 1, "matched teachers": 1, "unmatched users": 6},
        "classes.csv": {"imported classes": 4},
    }
    assert "users/u03" in rejected(report)


def test_merge_key_must_be_one_of_the_choices(district: Path, tmp_path: Path) -> None:
    # the page's two Merge Keys; there is no "none": every sync matches by email
    for value in ("username", "none"):
        with pytest.raises(UsageError, match="merge_key"):
            run("linewize", district, tmp_path / "out", [f"merge_key={value}"], today=AS_OF)


# --- the example district ---------------------------------------------------------------

EXAMPLE_PARAMS = [
    "respect_enrolment_date=true",
    "respect_academic_sessions=true",
    "exclude_schools=295185064190",  # Oak Grove Elementary, by NCES id
    "merge_key=email",
    f"existing={CASES / 'districts' / 'linewize' / 'existing-users.csv'}",
]


def stable(report: dict[str, Any]) -> dict[str, Any]:
    """The report without what changes from run to run (times, absolute paths)."""
    out = {k: v for k, v in report.items() if k not in ("started", "finished", "seconds")}
    out["mapping"] = Path(report["mapping"]).name
    out["source"] = {**report["source"], "path": Path(report["source"]["path"]).name}
    out["params"] = {**report["params"], "existing": Path(report["params"]["existing"]).name}
    out["rejects"] = [{**j, "at": Path(j["at"]).name} for j in report["rejects"]]
    return out


def test_example_district_outputs(tmp_path: Path, text_snapshot, snapshot) -> None:  # type: ignore[no-untyped-def]
    result = run("linewize", EXAMPLE, tmp_path, EXAMPLE_PARAMS, today=AS_OF)
    for path in result.files:
        if path.suffix == ".csv":
            assert path.read_text(encoding="utf-8") == text_snapshot(name=path.name)
    assert stable(to_json(result.report)) == snapshot(name="report")


def test_respect_enrolment_date_takes_a_student_out_of_a_class_they_left(
        district: Path) -> None:
    # "Sync current student data": u01 is still at the school (k01 goes on), but its
    # k06 enrollment ended on as_of, so k06 no longer lists it; without the option, it does.
    def k06(files: dict[str, str]) -> str:
        (line,) = [x for x in files["classes.csv"].splitlines() if x.startswith("k06,")]
        return line.split(",")[4]
    respecting = outputs(district, *ENROLMENT_DATE_RUN)
    assert "u01" in respecting["users.csv"] and "u01" not in k06(respecting)
    assert "u01" in k06(outputs(district, *[p for p in ENROLMENT_DATE_RUN
                                            if not p.startswith("respect_enrolment_date")]))
