"""The formative contract (seed 004), rule by rule, on a district built for it.

Every expected file below is written by hand from the contract, not copied from a
run. The run's date is fixed at AS_OF = 2026-03-02 (a Monday); the district's terms
sit on each side of the 14-day edges:

    starts  +13 (2026-03-15)  +14 (2026-03-16)  +15 (2026-03-17) days after AS_OF
    last day -13 (2026-02-17) -14 (2026-02-16) -15 (2026-02-15) days before AS_OF,
             i.e. endDate 2026-02-18, 2026-02-17, 2026-02-16 (endDate is exclusive)

Scope: ORGS lists the Maple district by its NCES id (so its schools s1 and s2 are in
through their parent) and Cedar High (s3) by its NCES id; Cedar Middle (s4, sibling of
s3) and Pine (d3, s5) are out. The boundary tests further down build small districts
of their own, one per rule of the page they are named after.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rostermap.runtime.errors import RunError, UsageError
from rostermap.runtime.report.model import to_json
from rostermap.runtime.run.pipeline import run
from tests.conftest import EXAMPLE

AS_OF = dt.date(2026, 3, 2)

MANIFEST = (
    "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n"
    "file.academicSessions,bulk\nfile.orgs,bulk\nfile.courses,absent\nfile.classes,bulk\n"
    "file.users,bulk\nfile.enrollments,bulk\nfile.demographics,absent\n"
)
ORGS = """sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId
d1,,,Maple Unified,district,0600001,
s1,,,Maple High,school,060000100001,d1
s2,,,Maple Middle,school,060000100002,d1
d2,,,Cedar Unified,district,0600002,
s3,,,Cedar High,school,060000200003,d2
s4,,,Cedar Middle,school,060000200004,d2
d3,,,Pine Unified,district,0600003,
s5,,,Pine High,school,060000300005,d3
"""
SESSIONS = """sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear
y1,,,2025-2026,schoolYear,2025-08-15,2026-06-15,,2026
f13,,,Starts in 13 days,term,2026-03-15,2026-06-15,y1,2026
f14,,,Starts in 14 days,term,2026-03-16,2026-06-15,y1,2026
f15,,,Starts in 15 days,term,2026-03-17,2026-06-15,y1,2026
p13,,,Last day 13 days ago,term,2025-08-15,2026-02-18,y1,2026
p14,,,Last day 14 days ago,term,2025-08-15,2026-02-17,y1,2026
p15,,,Last day 15 days ago,term,2025-08-15,2026-02-16,y1,2026
"""
CLASSES = """sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods
c01,,,Algebra I,09,k1,ALG,scheduled,,s1,y1,,,1
c02,,,Starts +13,09,k1,F13,scheduled,,s1,f13,,,2
c03,,,Starts +14,09,k1,F14,scheduled,,s1,f14,,,3
c04,,,Starts +15,09,k1,F15,scheduled,,s1,f15,,,4
c05,,,Last day -13,07,k1,P13,scheduled,,s2,p13,,,1
c06,,,Last day -14,07,k1,P14,scheduled,,s2,p14,,,2
c07,,,Last day -15,07,k1,P15,scheduled,,s2,p15,,,3
c08,,,"Biology, two terms",10,k1,BIO,scheduled,,s3,"f15,p15",,,1
c09,,,Cedar Middle Art,07,k1,ART,scheduled,,s4,y1,,,1
c10,,,Pine High Art,09,k1,ART,scheduled,,s5,y1,,,1
c11,tobedeleted,2026-01-10,Cancelled,09,k1,X,scheduled,,s1,y1,,,5
c12,,,Homeroom,09,k1,HR,homeroom,,s1,,,,
"""
USERS = """sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password
t01,,,true,s1,teacher,,,Tess,Ames,,T-01,t01@maple.k12.us,,,,,
t02,,,true,"s2,s4",teacher,,,Theo,Baker,,T-02,Theo.Baker@Staff.MAPLE.org,,,,,
t03,,,true,"s3,s1",teacher,,,Tara,Cole,,T-03,t03@MAPLE.K12.US,,,,,
t04,,,true,s5,teacher,,,Tim,Dunn,,T-04,t04@maple.k12.us,,,,,
t05,,,true,s1,teacher,,,Tia,Eng,,T-05,tia.eng@gmail.com,,,,,
t06,,,true,s2,teacher,,,Ted,Ford,,T-06,Contractor.Ford@Gmail.com,,,,,
t07,,,true,s1,teacher,,,Tom,Gale,,T-07,t07@sub.maple.k12.us,,,,,
t08,,,true,s1,teacher,,,Toni,Hall,,T-08,t08@notmaple.k12.us,,,,,
t09,,,true,s1,teacher,,,Tobias,Ives,,T-09,principal@maple.k12.us,,,,,
u01,,,true,s1,student,,,Uma,Jones,,S-01,u01@maple.k12.us,,,,09,
u02,,,true,s2,student,,,Ugo,King,,S-02,,,,,07,
u03,,,true,s3,student,,,Una,Lee,,S-03,U03@Maple.K12.us,,,,10,
u04,tobedeleted,2026-01-10,true,s1,student,,,Uri,Moss,,S-04,u04@maple.k12.us,,,,09,
u05,,,true,s4,student,,,Uli,Nash,,S-05,u05@maple.k12.us,,,,07,
a01,,,true,d1,administrator,,,Ada,Owens,,A-01,a01@maple.k12.us,,,,,
a02,,,true,s1,administrator,,,Abe,Park,,A-02,a02@maple.k12.us,,,,,
a03,,,true,s1,administrator,,,Ari,Quinn,,A-03,ari.quinn@gmail.com,,,,,
p01,,,true,s1,parent,,,Pat,Jones,,P-01,p01@maple.k12.us,,,u01,,
"""
ENROLLMENTS = """sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate
e01,,,c01,s1,t01,teacher,true,,
e02,,,c01,s1,t03,teacher,false,,
e03,,,c01,s1,u01,student,false,,
e04,,,c01,s1,t05,teacher,false,,
e05,tobedeleted,2026-01-10,c01,s1,u03,student,false,,
e06,,,c01,s1,p01,parent,false,,
e07,,,c02,s1,t09,teacher,true,,
e08,,,c02,s1,u01,student,false,,
e09,,,c04,s1,t01,teacher,true,,
e10,,,c05,s2,t06,teacher,true,,
e11,,,c07,s2,t02,teacher,true,,
e12,,,c07,s2,u02,student,false,,
e13,,,c08,s3,t03,teacher,true,,
e14,,,c08,s3,u03,student,false,,
e15,,,c09,s4,t02,teacher,true,,
e16,,,c09,s4,u05,student,false,,
e17,,,c03,s1,a02,teacher,false,,
"""

# The district's scope, as a specialist would fill in the form (the domain given in
# another case than the addresses, the admin and allow lists too).
PARAMS = [
    "orgs=0600001,060000200003",
    "email_domains=maple.k12.us,STAFF.maple.org",
    "allowed_emails=contractor.ford@gmail.com",
    "admins=A01@Maple.k12.us,principal@maple.k12.us,ari.quinn@gmail.com",
]

USERS_HEADER = "id,email,first_name,last_name,role,school_ids,password"
# users.csv without passwords: who is in and why.
#   a01  administrator of the listed district, listed as admin: an admin
#   t02  in s2 (in, by parent) and s4 (out): only s2; domain matched in another case
#   t03  in s3 (by NCES id) and s1 (by parent): both, sorted
#   t06  outside the domains but on the allow list (in another case)
#   t07  on sub.maple.k12.us, a subdomain of a listed domain
#   t09  a teacher listed as admin: stays a teacher (warned)
#   u03  domain in upper case
# out: t04 u05 (not in scope), u04 (tobedeleted), a02 (administrator not listed),
#      p01 (parent), t05 t08 u02 a03 (email; see test_users_dropped_for_email_*)
# The password (last item) is written for students only.
USER_ROWS = [
    ("a01", "a01@maple.k12.us", "Ada", "Owens", "admin", "d1", ""),
    ("t01", "t01@maple.k12.us", "Tess", "Ames", "teacher", "s1", ""),
    ("t02", "Theo.Baker@Staff.MAPLE.org", "Theo", "Baker", "teacher", "s2", ""),
    ("t03", "t03@MAPLE.K12.US", "Tara", "Cole", "teacher", "s1;s3", ""),
    ("t06", "Contractor.Ford@Gmail.com", "Ted", "Ford", "teacher", "s2", ""),
    ("t07", "t07@sub.maple.k12.us", "Tom", "Gale", "teacher", "s1", ""),
    ("t09", "principal@maple.k12.us", "Tobias", "Ives", "teacher", "s1", ""),
    ("u01", "u01@maple.k12.us", "Uma", "Jones", "student", "s1", "S-01"),
    ("u03", "U03@Maple.K12.us", "Una", "Lee", "student", "s3", "S-03"),
]


FILES = {"manifest.csv": MANIFEST, "orgs.csv": ORGS, "academicSessions.csv": SESSIONS,
         "classes.csv": CLASSES, "users.csv": USERS, "enrollments.csv": ENROLLMENTS}


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package, written once for the module (the runs are shared, see outputs)."""
    folder = tmp_path_factory.mktemp("formative") / "district"
    folder.mkdir()
    for name, body in FILES.items():
        (folder / name).write_text(body, encoding="utf-8")
    return folder


_RUNS: dict[tuple[str, tuple[str, ...], dt.date], dict[str, Any]] = {}


def outputs(source: Path, *params: str, today: dt.date = AS_OF) -> dict[str, Any]:
    """The files (text) and report (dict) of a run, computed once per source, parameters
    and date, so that tests reading the same run stay fast."""
    key = (str(source), params, today)
    if key not in _RUNS:
        result = run("formative", source, source.parent / f"run-{len(_RUNS)}", params,
                     today=today)
        assert [p.name for p in result.files] == [
            "orgs.csv", "users.csv", "classes.csv", "enrollments.csv", "report.json",
            "report.html"]
        files: dict[str, Any] = {p.name: p.read_text(encoding="utf-8") for p in result.files}
        files["report.json"] = to_json(result.report)
        _RUNS[key] = files
    return _RUNS[key]


def users_csv(password: bool) -> str:
    rows = [",".join(row[:6]) + "," + (row[6] if password else "") for row in USER_ROWS]
    return "\n".join([USERS_HEADER, *rows]) + "\n"


def ids(text: str) -> list[str]:
    return [line.split(",", 1)[0] for line in text.splitlines()[1:]]


# --- users ------------------------------------------------------------------------------


def test_users_scope_domains_allow_list_and_admins(district: Path) -> None:
    files = outputs(district, *PARAMS)
    assert files["users.csv"] == users_csv(password=False)


def test_password_is_the_identifier_when_asked(district: Path) -> None:
    on = outputs(district, *PARAMS, "password_from_identifier=true")
    assert on["users.csv"] == users_csv(password=True)
    off = outputs(district, *PARAMS)  # off by default
    assert off["users.csv"] == users_csv(password=False)


def test_users_dropped_for_email_are_each_named_in_the_report(district: Path) -> None:
    report = outputs(district, *PARAMS)["report.json"]
    # t05 gmail, t08 a look-alike domain, u02 no email at all, a03 listed as admin
    # but outside the domains and not on the allow list (t07, on a subdomain, is in).
    named = [w for w in report["warnings"] if w.get("output") == "users.csv"
             and "records" in w]
    assert len(named) == 1
    assert sorted(named[0]["records"]) == [
        "users/a03", "users/t05", "users/t08", "users/u02"]
    assert named[0]["count"] == 4
    assert "email" in named[0]["message"]
    text = json.dumps(report["warnings"])
    assert "gmail" not in text.lower()  # records by sourcedId only, never by address


def test_every_user_dropped_for_email_is_named_even_past_1000(
        make_package: Callable[..., Path], tmp_path: Path) -> None:
    many = "".join(f"x{i:04},,,true,s1,student,,,X,Y,,X-{i},x{i}@gmail.com,,,,09,\n"
                   for i in range(1001))
    package = make_package({**FILES, "users.csv": USERS + many}, name="many")
    report = to_json(run("formative", package, None, PARAMS, today=AS_OF).report)
    named = next(w for w in report["warnings"] if w.get("output") == "users.csv"
                 and "records" in w)
    assert named["count"] == 1005
    assert len(named["records"]) == 1005


def test_allow_list_is_optional(district: Path) -> None:
    files = outputs(district, *[p for p in PARAMS if not p.startswith("allowed_emails")])
    assert "t06" not in ids(files["users.csv"])
    assert ids(files["users.csv"]) == ["a01", "t01", "t02", "t03", "t07", "t09", "u01", "u03"]


def test_without_admins_administrators_are_not_imported(district: Path) -> None:
    files = outputs(district, *[p for p in PARAMS if not p.startswith("admins")])
    rows = [line.split(",") for line in files["users.csv"].splitlines()[1:]]
    assert [(r[0], r[4]) for r in rows] == [
        ("t01", "teacher"), ("t02", "teacher"), ("t03", "teacher"), ("t06", "teacher"),
        ("t07", "teacher"), ("t09", "teacher"), ("u01", "student"), ("u03", "student")]


# --- scope ------------------------------------------------------------------------------


def test_scope_by_parent_district_sourced_id(district: Path) -> None:
    # d2 listed by sourcedId: d2 itself, and s3 and s4 through their parent.
    files = outputs(district, "orgs=d2", "email_domains=maple.k12.us,staff.maple.org")
    rows = [line.split(",") for line in files["users.csv"].splitlines()[1:]]
    assert [(r[0], r[5]) for r in rows] == [
        ("t02", "s4"), ("t03", "s3"), ("u03", "s3"), ("u05", "s4")]
    assert ids(files["classes.csv"]) == ["c08", "c09"]
    assert files["enrollments.csv"].splitlines()[1:] == [
        "c08,t03,teacher", "c08,u03,student", "c09,t02,teacher", "c09,u05,student"]


def test_scope_by_school_sourced_id_and_nces_id_without_the_parent(district: Path) -> None:
    # s1 by sourcedId, s2 by NCES id: the district d1 itself is not in scope (a01 is out).
    files = outputs(district, "orgs=s1,060000100002",
                    "email_domains=maple.k12.us,staff.maple.org", "admins=a01@maple.k12.us")
    rows = [line.split(",") for line in files["users.csv"].splitlines()[1:]]
    assert [(r[0], r[5]) for r in rows] == [
        ("t01", "s1"), ("t02", "s2"), ("t03", "s1"), ("t07", "s1"), ("t09", "s1"),
        ("u01", "s1")]
    assert ids(files["classes.csv"]) == ["c01", "c02", "c03", "c05", "c06", "c07", "c12"]


def test_orgs_in_scope_carry_their_nces_ids(district: Path) -> None:
    # d1 (NCES id listed) and its schools; s3 (listed) without d2, its district, which
    # is not in scope: s3 has no parent in the import.
    assert outputs(district, *PARAMS)["orgs.csv"] == (
        "id,name,type,parent_id,nces_id\n"
        "d1,Maple Unified,district,,0600001\n"
        "s1,Maple High,school,d1,060000100001\n"
        "s2,Maple Middle,school,d1,060000100002\n"
        "s3,Cedar High,school,,060000200003\n"
    )


def test_required_parameters(district: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as raised:
        run("formative", district, tmp_path / "out", [], today=AS_OF)
    assert sorted(d.code for d in raised.value.diagnostics) == ["RM502", "RM502"]
    assert "orgs" in str(raised.value) and "email_domains" in str(raised.value)
    assert not (tmp_path / "out").exists()


# --- classes ----------------------------------------------------------------------------

CLASSES_EXPECTED = (
    "id,title,school_id,teacher_ids,start_date,end_date,archived\n"
    "c01,Algebra I,s1,t01;t03,2025-08-15,2026-06-15,false\n"  # t05's email: not a teacher id
    "c02,Starts +13,s1,t09,2026-03-15,2026-06-15,false\n"
    "c03,Starts +14,s1,,2026-03-16,2026-06-15,false\n"        # a02 not imported
    # c04 starts 15 days after as_of: not created
    "c05,Last day -13,s2,t06,2025-08-15,2026-02-18,false\n"
    "c06,Last day -14,s2,,2025-08-15,2026-02-17,false\n"      # not MORE than 14 days
    "c07,Last day -15,s2,t02,2025-08-15,2026-02-16,true\n"    # endDate -14, last day -15
    'c08,"Biology, two terms",s3,t03,2025-08-15,2026-06-15,false\n'
    # c09 (s4) and c10 (s5) out of scope, c11 tobedeleted
    "c12,Homeroom,s1,,,,false\n"                               # no terms: no dates
)


def test_classes_dates_and_the_14_day_edges(district: Path) -> None:
    files = outputs(district, *PARAMS)
    assert files["classes.csv"] == CLASSES_EXPECTED


def test_as_of_defaults_to_the_run_date(district: Path) -> None:
    implicit = outputs(district, *PARAMS, today=AS_OF)
    explicit = outputs(district, *PARAMS, "as_of=2026-03-02", today=dt.date(2031, 1, 1))
    assert implicit["classes.csv"] == explicit["classes.csv"] == CLASSES_EXPECTED
    assert implicit["report.json"]["params"]["as_of"] == "2026-03-02"


def test_one_day_later_every_edge_moves(district: Path) -> None:
    # Run on 2026-03-03 with no as_of (so as_of is the run's date): c04 now starts in 14
    # days (created), c03 in 13; c06's last day (2026-02-16) is now 15 days back
    # (archived), c05's (2026-02-17) 14 (not).
    files = outputs(district, *PARAMS, today=dt.date(2026, 3, 3))
    rows = {line.split(",")[0]: line.rsplit(",", 1)[1]
            for line in files["classes.csv"].splitlines()[1:]}
    assert rows == {"c01": "false", "c02": "false", "c03": "false", "c04": "false",
                    "c05": "false", "c06": "true", "c07": "true", "c08": "false",
                    "c12": "false"}


def test_class_of_two_terms_spans_both(district: Path) -> None:
    # c08: f15 (starts +15) and p15 (last day -15): from the earliest start to the latest
    # end, so it started long ago (created) and has not ended (not archived).
    files = outputs(district, *PARAMS)
    line = next(x for x in files["classes.csv"].splitlines() if x.startswith("c08,"))
    assert line == 'c08,"Biology, two terms",s3,t03,2025-08-15,2026-06-15,false'


# --- enrollments ------------------------------------------------------------------------


def test_enrollments_of_imported_users_and_classes(district: Path) -> None:
    files = outputs(district, *PARAMS)
    assert files["enrollments.csv"] == (
        "class_id,user_id,role\n"
        "c01,t01,teacher\n"
        "c01,t03,teacher\n"
        "c01,u01,student\n"   # not t05 (email), u03 (tobedeleted), p01 (parent)
        "c02,t09,teacher\n"   # t09 is an admin in users.csv, a teacher of the class
        "c02,u01,student\n"
        "c05,t06,teacher\n"   # not c04 (not created)
        "c07,t02,teacher\n"   # not u02 (email)
        "c08,t03,teacher\n"
        "c08,u03,student\n"   # not c09 (out of scope); not c03's a02 (not imported)
    )


# --- the page's rules at their boundaries, on small districts ---------------------------
#
# Each test below builds the few records its rule needs on top of BASE: a district d1
# (NCES 0600001) with a school s1, a class k1 of s1 taught by tb (so that every output
# has a row), and the users of the test. Users are given as (sourcedId, orgs, role,
# email, identifier); the district controls district.org.

TINY_USERS_HEADER = USERS.splitlines()[0]
BASE_ORGS = [("d1", "Maple Unified", "district", "0600001", ""),
             ("s1", "Maple High", "school", "060000100001", "d1")]
Users = list[tuple[str, str, str, str, str]]


def tiny(make_package: Callable[..., Path], users: Users,
         orgs: list[tuple[str, str, str, str, str]] | None = None, roles: str | None = None,
         name: str = "pkg", teacher_email: str = "tb@district.org") -> Path:
    """A package of BASE_ORGS + ``orgs`` (sourcedId, name, type, identifier, parent) and
    the teacher tb + ``users``; with ``roles`` (a 1.2 roles.csv body), a 1.2 package
    whose users' roles and orgs come from it."""
    org_lines = "".join(f"{i},,,{n},{t},{x},{p}\n"
                        for i, n, t, x, p in [*BASE_ORGS, *(orgs or [])])
    everyone = [("tb", "s1", "teacher", teacher_email, "T-B"), *users]
    files = {
        "manifest.csv": MANIFEST,
        "orgs.csv": ORGS.splitlines()[0] + "\n" + org_lines,
        "academicSessions.csv": SESSIONS.splitlines()[0] + "\n"
        + "y1,,,2025-2026,schoolYear,2025-08-15,2026-06-15,,2026\n",
        "classes.csv": CLASSES.splitlines()[0] + "\n"
        + "k1,,,Algebra,09,,ALG,scheduled,,s1,y1,,,1\n",
        "enrollments.csv": ENROLLMENTS.splitlines()[0] + "\n" + "e1,,,k1,s1,tb,teacher,true,,\n",
    }
    if roles is None:
        files["users.csv"] = TINY_USERS_HEADER + "\n" + "".join(
            f'{i},,,true,"{o}",{r},,,{i.upper()},Test,,{x},{e},,,,,\n'
            for i, o, r, e, x in everyone)
    else:
        files["manifest.csv"] = MANIFEST.replace("oneroster.version,1.1",
                                                 "oneroster.version,1.2") + "file.roles,bulk\n"
        files["users.csv"] = (
            "sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,"
            "familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password,"
            "userMasterIdentifier,preferredGivenName,preferredMiddleName,preferredFamilyName,"
            "primaryOrgSourcedId,pronouns\n"
            + "".join(f"{i},,,true,,,{i.upper()},Test,,{x},{e},,,,,,,,,,{o.split(',')[0]},\n"
                      for i, o, r, e, x in everyone))
        files["roles.csv"] = (
            "sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,"
            "orgSourcedId,userProfileSourcedId\n" + "r-tb,,,tb,primary,teacher,,,s1,\n" + roles)
    return make_package(files, name=name)


def tiny_run(package: Path, *params: str) -> dict[str, Any]:
    """The files (rows as lists, without the header) and the report of a run."""
    result = run("formative", package, None, ["orgs=0600001", "email_domains=district.org",
                                              *params], today=AS_OF)
    files: dict[str, Any] = {o.name: [list(r) for r in o.frame.iter_rows()]
                             for o in result.outputs}
    files["report"] = to_json(result.report)
    return files


def warned(report: dict[str, Any], words: str) -> list[str]:
    """The records of the report's warnings whose message holds ``words``: every one for
    a `where ... else warn` (RM422), the first ten for a `warn` (RM420)."""
    found = [w for w in report["warnings"] if words in w["message"]]
    if not found:
        return []
    assert len(found) == 1, found
    return sorted(found[0].get("records") or found[0].get("examples") or [])


def roles_of(files: dict[str, Any]) -> dict[str, str]:
    return {row[0]: row[4] for row in files["users.csv"]}


# "If you provide us with a list of the users you believe should be formative
# administrators, we can check whether that matches the OneRoster user data ... If that
# is not the case then the Formative administrator access will have to be managed
# manually."

ADMIN_CASES = [("ad", "s1", "administrator", "ad@district.org", "A-1"),
               ("st", "s1", "student", "st@district.org", "S-1"),
               ("te", "s1", "teacher", "te@district.org", "T-1"),
               ("pa", "s1", "parent", "pa@district.org", "P-1"),
               ("ai", "s1", "aide", "ai@district.org", "X-1"),
               ("un", "s1", "administrator", "un@district.org", "A-2")]  # not listed
LISTED = "admins=AD@district.org,st@district.org,te@DISTRICT.org,pa@district.org,ai@district.org"


@pytest.fixture
def admin_run(make_package: Callable[..., Path]) -> dict[str, Any]:
    return tiny_run(tiny(make_package, ADMIN_CASES), LISTED)


def test_listed_admin_who_is_an_administrator_in_oneroster_is_an_admin(
        admin_run: dict[str, Any]) -> None:
    assert roles_of(admin_run)["ad"] == "admin"  # listed in another case: still matched
    assert "users/ad" not in warned(admin_run["report"], "keeps its role")
    assert "users/ad" not in warned(admin_run["report"], "not imported")


def test_listed_admin_who_is_a_student_is_warned_not_promoted(admin_run: dict[str, Any]
                                                              ) -> None:
    assert roles_of(admin_run)["st"] == "student"
    assert warned(admin_run["report"], "keeps its role") == ["users/st", "users/te"]


def test_listed_admin_who_is_a_teacher_is_warned_not_promoted(admin_run: dict[str, Any]
                                                              ) -> None:
    assert roles_of(admin_run)["te"] == "teacher"
    assert "users/te" in warned(admin_run["report"], "keeps its role")


def test_listed_admin_who_is_a_parent_or_aide_is_warned_not_imported(
        admin_run: dict[str, Any]) -> None:
    # Their OneRoster role is not one Formative sets up: they stay out, and are named.
    assert "pa" not in roles_of(admin_run) and "ai" not in roles_of(admin_run)
    assert warned(admin_run["report"], "not imported") == ["users/ai", "users/pa"]


def test_listed_admin_whom_oneroster_does_not_hold_is_warned(
        make_package: Callable[..., Path]) -> None:
    # "we can check whether that matches the OneRoster user data": an address no user has
    # (a typo, or someone the SIS does not hold) is named in the run's warnings; one that
    # differs only in case matches.
    files = tiny_run(tiny(make_package, ADMIN_CASES), LISTED + ",nobody@district.org")
    (warning,) = [w for w in files["report"]["warnings"] if w["code"] == "RM490"]
    assert "admins" in warning["message"] and "'nobody@district.org'" in warning["message"]
    assert "AD@district.org" not in warning["message"]
    assert not [w for w in tiny_run(tiny(make_package, ADMIN_CASES, name="again"), LISTED)
                ["report"]["warnings"] if w["code"] == "RM490"]


def test_a_listed_org_the_source_does_not_hold_is_warned(
        make_package: Callable[..., Path]) -> None:
    # "which organizations ... you wish to import": a listed id no org has (by sourcedId
    # or NCES id) imports nothing; the run says so rather than quietly leaving it out.
    files = tiny_run(tiny(make_package, ADMIN_CASES), "orgs=0600001,0699999")
    (warning,) = [w for w in files["report"]["warnings"] if w["code"] == "RM490"]
    assert "'0699999'" in warning["message"] and "'0600001'" not in warning["message"]


def test_administrator_who_is_not_listed_is_not_imported(admin_run: dict[str, Any]) -> None:
    # "we normally only set up students and teachers"
    assert sorted(roles_of(admin_run)) == ["ad", "st", "tb", "te"]


def test_listed_admin_in_1_2_is_an_admin_when_any_kind_of_administrator(
        make_package: Callable[..., Path]) -> None:
    users = [(i, "s1", "", f"{i}@district.org", i.upper())
             for i in ("sa", "da", "sy", "ad", "pr", "st")]
    roles = ("r-sa,,,sa,primary,siteAdministrator,,,s1,\n"
             "r-da,,,da,primary,districtAdministrator,,,d1,\n"
             "r-sy,,,sy,primary,systemAdministrator,,,d1,\n"
             "r-ad,,,ad,primary,administrator,,,s1,\n"
             "r-pr,,,pr,primary,principal,,,s1,\n"
             "r-st,,,st,primary,student,,,s1,\n")
    files = tiny_run(tiny(make_package, users, roles=roles),
                     "admins=" + ",".join(f"{i}@district.org" for i in
                                          ("sa", "da", "sy", "ad", "pr", "st")))
    assert roles_of(files) == {"sa": "admin", "da": "admin", "sy": "admin", "ad": "admin",
                               "st": "student", "tb": "teacher"}
    assert warned(files["report"], "not imported") == ["users/pr"]  # a principal is not one
    assert warned(files["report"], "keeps its role") == ["users/st"]


# "We also offer the option of setting each student's password to their "identifier"
# (e.g. Student ID) by default."

def test_only_students_get_their_identifier_as_password(make_package: Callable[..., Path]
                                                         ) -> None:
    files = tiny_run(tiny(make_package, ADMIN_CASES), LISTED, "password_from_identifier=true")
    passwords = {row[0]: row[6] for row in files["users.csv"]}
    assert passwords == {"ad": "", "st": "S-1", "tb": "", "te": ""}


# "we restrict the users that are imported to a list of emails and email address
# domains that we can confirm you have control of. We will need to know all the email
# domains that your district owns"

DOMAIN_CASES = [
    ("d0", "s1", "student", "d0@district.org", "1"),
    ("d1s", "s1", "student", "d1s@students.district.org", "2"),  # one label under
    ("dmx", "s1", "student", "dmx@A.B.Students.DISTRICT.Org", "3"),  # three, mixed case
    ("d8", "s1", "student", "d8@a.b.c.d.e.f.g.h.district.org", "4"),  # eight labels under
    ("d9", "s1", "student", "d9@a.b.c.d.e.f.g.h.i.district.org", "5"),  # nine: past the walk
    ("lk", "s1", "student", "lk@notdistrict.org", "6"),  # a look-alike, not a subdomain
    ("ev", "s1", "student", "ev@district.org.evil.com", "7"),  # the name inside another
    ("tl", "s1", "student", "tl@org", "8"),  # above the listed domain
    ("no", "s1", "student", "", "9"),  # no address at all
]


def test_subdomain_of_a_listed_domain_is_controlled(make_package: Callable[..., Path]
                                                    ) -> None:
    files = tiny_run(tiny(make_package, DOMAIN_CASES), "email_domains=District.ORG")
    assert sorted(roles_of(files)) == ["d0", "d1s", "d8", "dmx", "tb"]
    assert warned(files["report"], "outside the district's domains") == [
        "users/d9", "users/ev", "users/lk", "users/no", "users/tl"]


def test_exact_domains_controls_only_the_listed_domains(make_package: Callable[..., Path]
                                                       ) -> None:
    files = tiny_run(tiny(make_package, DOMAIN_CASES), "exact_domains=true")
    assert sorted(roles_of(files)) == ["d0", "tb"]


def test_listed_subdomain_does_not_control_its_parent_domain(
        make_package: Callable[..., Path]) -> None:
    files = tiny_run(tiny(make_package, DOMAIN_CASES),
                     "email_domains=district.org,students.district.org", "exact_domains=true")
    assert sorted(roles_of(files)) == ["d0", "d1s", "tb"]
    # students.district.org alone: its subdomains, never district.org itself
    files = tiny_run(tiny(make_package, DOMAIN_CASES, name="sub",
                          teacher_email="tb@staff.students.district.org"),
                     "email_domains=students.district.org")
    assert sorted(roles_of(files)) == ["d1s", "dmx", "tb"]


# "which organizations (schools, districts, departments, etc.) you wish to import"

DEEP_ORGS = [("dep", "Maths Department", "department", "", "s1"),
             ("team", "Algebra Team", "department", "", "dep")]


def test_user_of_a_department_under_a_school_under_a_listed_district_is_in_scope(
        make_package: Callable[..., Path]) -> None:
    users = [("dt", "dep", "teacher", "dt@district.org", "T-D"),
             ("tt", "team", "teacher", "tt@district.org", "T-T")]
    for listed in ("0600001", "d1"):  # by NCES id, by sourcedId
        files = run("formative", tiny(make_package, users, DEEP_ORGS, name=f"by-{listed}"),
                    None, [f"orgs={listed}", "email_domains=district.org"], today=AS_OF)
        out = {o.name: o.frame for o in files.outputs}
        assert sorted(out["users.csv"]["id"].to_list()) == ["dt", "tb", "tt"]
        assert dict(zip(out["users.csv"]["id"], out["users.csv"]["school_ids"],
                        strict=True))["tt"] == "team"
        assert sorted(out["orgs.csv"]["id"].to_list()) == ["d1", "dep", "s1", "team"]


def chain(depth: int, prefix: str = "o") -> list[tuple[str, str, str, str, str]]:
    """Departments o1 under s1, o2 under o1, ... down to o``depth``."""
    return [(f"{prefix}{i}", f"Level {i}", "department", "", "s1" if i == 1 else
             f"{prefix}{i - 1}") for i in range(1, depth + 1)]


def test_scope_walks_eleven_ancestors_and_names_the_orgs_beyond(
        make_package: Callable[..., Path]) -> None:
    # d1 > s1 > o1 > ... > o11: o10 is the twelfth org of its chain (d1 its 11th
    # ancestor): in scope. o11's 12th org up is s1: the walk ends there, and o11 is
    # named. A loop (l1 > l2 > l1) is never in scope and is named too.
    orgs = [*chain(11), ("l1", "Loop 1", "department", "", "l2"),
            ("l2", "Loop 2", "department", "", "l1")]
    users = [("u10", "o10", "student", "u10@district.org", "10"),
             ("u11", "o11", "student", "u11@district.org", "11")]
    files = tiny_run(tiny(make_package, users, orgs))
    assert "u10" in roles_of(files) and "u11" not in roles_of(files)
    assert sorted(row[0] for row in files["orgs.csv"]) == sorted(
        ["d1", "s1", *(f"o{i}" for i in range(1, 11))])
    assert warned(files["report"], "scope reads") == ["orgs/l1", "orgs/l2", "orgs/o11"]
    # listed by itself, a deep org is in scope whatever its depth
    files = tiny_run(tiny(make_package, users, orgs, name="itself"), "orgs=0600001,o11")
    assert "u11" in roles_of(files)


# "We will want to know the NCES ID (or other government ID if available) of the each
# school and district as well so we can avoid data duplication in our system."

def test_nces_id_of_each_school_and_district_reaches_the_import(
        make_package: Callable[..., Path]) -> None:
    orgs = [("s2", "No Id School", "school", "", "d1"),
            ("dep", "Maths Department", "department", "D-7", "s1"),
            ("d2", "Other District", "district", "0600002", "")]
    files = tiny_run(tiny(make_package, [], orgs))
    assert sorted(files["orgs.csv"]) == [
        ["d1", "Maple Unified", "district", "", "0600001"],  # parent_id: none
        ["dep", "Maths Department", "department", "s1", ""],  # not an NCES id
        ["s1", "Maple High", "school", "d1", "060000100001"],
        ["s2", "No Id School", "school", "d1", ""],
    ]
    assert warned(files["report"], "without an NCES id") == ["orgs/s2"]


def test_school_listed_without_its_district_has_no_parent_in_the_import(
        make_package: Callable[..., Path]) -> None:
    files = tiny_run(tiny(make_package, []), "orgs=060000100001")
    assert files["orgs.csv"] == [["s1", "Maple High", "school", "", "060000100001"]]


def test_every_id_in_a_row_names_a_row_of_the_import(district: Path) -> None:
    # No file points at a record another file left out: orgs.csv holds every org the
    # users and classes name, users.csv every teacher of a class, and enrollments name
    # imported classes and users only.
    files = outputs(district, *PARAMS)
    table = {name: list(csv.reader(io.StringIO(text)))[1:]
             for name, text in files.items() if name.endswith(".csv")}
    orgs = {r[0] for r in table["orgs.csv"]}
    assert orgs == {"d1", "s1", "s2", "s3"}
    assert {r[3] for r in table["orgs.csv"]} - {""} <= orgs
    assert {o for r in table["users.csv"] for o in r[5].split(";")} <= orgs
    users = {r[0] for r in table["users.csv"]}
    classes = ids(files["classes.csv"])
    assert {r[2] for r in table["classes.csv"]} <= orgs
    assert {t for r in table["classes.csv"] for t in r[3].split(";") if t} <= users
    assert all(r[0] in classes and r[1] in users for r in table["enrollments.csv"])


# --- the example district ---------------------------------------------------------------

EXAMPLE_PARAMS = [
    "orgs=2951850",  # Willow Springs Unified by NCES id: its three schools through it
    "email_domains=willowsprings.k12.us,students.willowsprings.k12.us",
    "allowed_emails=jun.mccarthy@gmail.com",
    "admins=katarzyna.flores@willowsprings.k12.us,diego.rossi@willowsprings.k12.us",
    "password_from_identifier=true",
]


def stable(report: dict[str, Any]) -> dict[str, Any]:
    """The report without what changes from run to run (times, absolute paths)."""
    out = {k: v for k, v in report.items() if k not in ("started", "finished", "seconds")}
    out["mapping"] = Path(report["mapping"]).name
    out["source"] = {**report["source"], "path": Path(report["source"]["path"]).name}
    return out


def test_example_district_outputs(tmp_path: Path, text_snapshot, snapshot) -> None:  # type: ignore[no-untyped-def]
    result = run("formative", EXAMPLE, tmp_path, EXAMPLE_PARAMS, today=AS_OF)
    for path in result.files:
        if path.suffix == ".csv":
            assert path.read_text(encoding="utf-8") == text_snapshot(name=path.name)
    assert stable(to_json(result.report)) == snapshot(name="report")


# "place all students and teachers into their classes": the enrollment's role is the
# user's, or the user is not placed in that class.
def test_a_student_enrolled_as_a_teacher_is_not_a_teacher_of_the_class(
        make_package: Callable[..., Path]) -> None:
    package = tiny(make_package, [("st", "s1", "student", "st@district.org", "S-1")])
    with (package / "enrollments.csv").open("a", encoding="utf-8") as handle:
        handle.write("e2,,,k1,s1,st,teacher,false,,\n")
    files = tiny_run(package)
    assert files["classes.csv"][0][3] == "tb"  # teacher_ids
    assert ["k1", "st", "teacher"] not in files["enrollments.csv"]
    assert warned(files["report"], "enrollment role is not the user's role") == ["enrollments/e2"]


# "which organizations ... you wish to import": a school the SIS is closing
# (tobedeleted) is not imported, nor are its classes.
def test_a_school_in_scope_that_is_not_active_is_not_imported(
        make_package: Callable[..., Path]) -> None:
    package = tiny(make_package, [("st", "s2", "student", "st@district.org", "S-1")],
                   orgs=[("s2", "Old School", "school", "060000100002", "d1")])
    orgs = (package / "orgs.csv").read_text(encoding="utf-8")
    (package / "orgs.csv").write_text(orgs.replace("s2,,,Old School", "s2,tobedeleted,,Old School"),
                                      encoding="utf-8")
    files = tiny_run(package)
    assert sorted(row[0] for row in files["orgs.csv"]) == ["d1", "s1"]
    assert "st" not in [row[0] for row in files["users.csv"]]
    assert warned(files["report"], "not active") == ["orgs/s2"]


def test_a_delta_package_is_not_read_as_the_whole_roster(
        make_package: Callable[..., Path]) -> None:
    package = tiny(make_package, [("st", "s1", "student", "st@district.org", "S-1")])
    manifest = (package / "manifest.csv").read_text(encoding="utf-8")
    (package / "manifest.csv").write_text(manifest.replace("file.users,bulk", "file.users,delta"),
                                          encoding="utf-8")
    with pytest.raises(RunError) as failure:
        tiny_run(package)
    assert [d.code for d in failure.value.diagnostics] == ["RM419"]
