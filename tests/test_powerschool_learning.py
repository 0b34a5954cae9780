"""The powerschool-learning contract, rule by rule, on a district built to exercise it.

Expected files are written out by hand from the contract and the seed
page, not snapshotted, so these tests say what the profile must do.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rostermap.runtime.errors import UsageError
from rostermap.runtime.report.model import to_json
from rostermap.runtime.run.pipeline import run

MANIFEST = (
    "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n"
    "file.orgs,bulk\nfile.users,bulk\nfile.classes,bulk\nfile.enrollments,bulk\n"
)
ORGS = """sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId
d1,,,Maple District,district,,
s1,,,"North High, Maple",school,0001,d1
s2,,,South Middle,school,0002,d1
s3,tobedeleted,2026-01-01,Closed Elementary,school,0003,d1
"""
USERS = """sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password
t1,,,true,s1,teacher,tina,,Tina,Ames,,T-1,t1@district.org,,,,,
t2,,,TRUE,s1,Teacher,ted,,Ted,Baker,,T-2,t2@district.org,,,,,
t3,,,true,"s2,s1",teacher,tom,,Tom,Cole,,T-3,T3@District.ORG,,,,,
t4,,,false,s2,teacher,tara,,Tara,Dunn,,T-4,t4@district.org,,,,,
u1,,,true,s1,student,uma,,Uma,"O'Neil",,S-1,u1@other.org,,,,09,
u2,Active,2026-01-01,true,s2,student,ugo,,Ugo,Émile,,S-2,,,,,07,
u3,tobedeleted,2026-01-01,true,s1,student,una,,Una,Fox,,S-3,u3@district.org,,,,09,
u4,inactive,2026-01-01,true,s1,student,uri,,Uri,Gale,,S-4,u4@district.org,,,,09,
p1,,,true,s1,parent,pat,,Pat,Ames,,P-1,pat@home.org,,,u1,,
a1,,,true,s1,administrator,ada,,Ada,Hale,,A-1,a1@district.org,,,,,
"""
CLASSES = """sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods
c1,,,"Algebra I, Period 1","09,10",k1,ALG-1,scheduled,,s1,y1,,,1
c2,,,Science,07,k2,SCI-7,Scheduled,,s2,y1,,,2
c3,,,Art,,k3,ART,scheduled,,s1,y1,,,3
c4,tobedeleted,2026-01-01,Old Class,09,k4,OLD,scheduled,,s1,y1,,,4
"""
ENROLLMENTS = """sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate
e1,,,c1,s1,t1,teacher,true,,
e2,,,c1,s1,t2,teacher,false,,
e3,,,c1,s1,u1,student,,,
e4,,,c1,s1,u1,student,,,
e5,,,c2,s2,t3,teacher,TRUE,,
e6,,,c2,s2,t1,teacher,true,,
e7,,,c2,s2,u2,student,,,
e8,,,c3,s1,t2,teacher,false,,
e9,,,c1,s1,u3,student,,,
e10,,,c4,s1,u1,student,,,
e11,tobedeleted,2026-01-01,c2,s2,u2,student,,,
e12,,,c1,s1,a1,administrator,,,
e13,,,c2,s2,t4,teacher,true,,
e14,,,c1,s1,ghost,student,,,
"""


@pytest.fixture
def district(make_package: Callable[..., Path]) -> Path:
    return make_package({"manifest.csv": MANIFEST, "orgs.csv": ORGS, "users.csv": USERS,
                         "classes.csv": CLASSES, "enrollments.csv": ENROLLMENTS})


def outputs(source: Path, out: Path, *params: str) -> dict[str, str]:
    result = run("powerschool-learning", source, out, params)
    assert [p.name for p in result.files] == [
        "users.csv", "users_custom.csv", "organizations.csv", "classes.csv",
        "classes_custom.csv", "rosters.csv", "report.json", "report.html",
    ]
    # report.html shows the run's times: compared through report.json instead
    return {p.name: p.read_text(encoding="utf-8") for p in result.files
            if p.name != "report.html"}


def test_every_file_on_the_full_district(district: Path, tmp_path: Path) -> None:
    files = outputs(district, tmp_path / "out", "year=2026", "google_domain=district.org")
    assert files["users.csv"] == (
        "user_id,first_name,last_name,login,email,user_type,organization_id,blocked,sso_id\n"
        "t1,Tina,Ames,tina,t1@district.org,T,s1,0,t1@district.org\n"
        "t2,Ted,Baker,ted,t2@district.org,T,s1,0,t2@district.org\n"
        "t3,Tom,Cole,tom,T3@District.ORG,T,s2,0,T3@District.ORG\n"
        "u1,Uma,O'Neil,uma,u1@other.org,S,s1,0,\n"
        "u2,Ugo,Émile,ugo,,S,s2,0,\n"
    )
    assert files["users_custom.csv"] == (
        "user_id,field1,field2,field3\nt1,T-1,,\nt2,T-2,,\nt3,T-3,,\nu1,S-1,,\nu2,S-2,,\n"
    )
    assert files["organizations.csv"] == (
        'organization_id,name\nd1,Maple District\ns1,"North High, Maple"\ns2,South Middle\n'
    )
    assert files["classes.csv"] == (
        "class_id,name,code,year,teacher_id,organization_id\n"
        'c1,"Algebra I, Period 1",ALG-1,2026,t1,s1\n'
        "c2,Science,SCI-7,2026,t1,s2\n"
        "c3,Art,ART,2026,,s1\n"
    )
    assert files["classes_custom.csv"] == (
        'class_id,field1,field2,field3\nc1,"09,10",,\nc2,07,,\nc3,,,\n'
    )
    assert files["rosters.csv"] == (
        "class_id,user_id,role\n"
        "c1,t1,T\nc1,t2,T\nc1,u1,S\n"
        "c2,t1,T\nc2,t3,T\nc2,u2,S\n"
        "c3,t2,T\n"
    )


def test_report_counts_each_rule_and_warns(district: Path, tmp_path: Path) -> None:
    result = run("powerschool-learning", district, None, ["year=2026"])
    report = to_json(result.report)
    users = report["outputs"]["users.csv"]
    assert (users["read"], users["kept"], users["rows"]) == (10, 5, 5)
    assert [d["records"] for d in users["dropped"]] == [3, 2, 0]  # u3 u4 t4; p1 a1
    rosters = report["outputs"]["rosters.csv"]
    assert [d["records"] for d in rosters["dropped"]] == [1, 1, 4]  # e11; e12; e9 e10 e13 e14
    assert rosters["kept"] == 8 and rosters["rows"] == 7  # e3 and e4 are one row
    codes = {(w["code"], w.get("message")) for w in report["warnings"]}
    assert ("RM420", "class has no primary teacher") in codes
    no_teacher = next(w for w in report["warnings"] if w["code"] == "RM420")
    assert no_teacher["examples"] == ["classes/c3"] and no_teacher["output"] == "classes.csv"
    dangling = [w for w in report["warnings"] if w["code"] == "RM411"]
    assert len(dangling) == 1 and dangling[0]["line"] == 15  # e14 names `ghost`
    assert report["entities"]["enrollments"]["records"] == 14


def test_schools_parameter_limits_every_file(district: Path, tmp_path: Path) -> None:
    files = outputs(district, tmp_path / "out", "year=2026", "schools=s2")
    assert files["users.csv"].splitlines()[1:] == [
        "t3,Tom,Cole,tom,T3@District.ORG,T,s2,0,",
        "u2,Ugo,Émile,ugo,,S,s2,0,",
    ]
    assert files["organizations.csv"] == "organization_id,name\ns2,South Middle\n"
    # t1, c2's smallest primary teacher, is not a user of s2: t3 owns it
    assert files["classes.csv"].splitlines()[1:] == ["c2,Science,SCI-7,2026,t3,s2"]
    assert files["rosters.csv"].splitlines()[1:] == ["c2,t3,T", "c2,u2,S"]


def test_sso_id_only_for_the_google_domain(district: Path, tmp_path: Path) -> None:
    files = outputs(district, tmp_path / "out", "year=2026")
    assert all(line.endswith(",") for line in files["users.csv"].splitlines()[1:])
    files = outputs(district, tmp_path / "out2", "year=2026", "google_domain=DISTRICT.org")
    assert "T3@District.ORG,T,s2,0,T3@District.ORG" in files["users.csv"]


def test_the_same_district_in_oneroster_1_2(make_package: Callable[..., Path], district: Path,
                                            tmp_path: Path) -> None:
    users12 = (
        "sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,"
        "middleName,identifier,email,sms,phone,agentSourcedIds,grades,password,"
        "userMasterIdentifier,preferredGivenName,preferredMiddleName,preferredFamilyName,"
        "primaryOrgSourcedId,pronouns\n"
    )
    roles = "sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate," \
            "orgSourcedId,userProfileSourcedId\n"
    n = 0
    for line in USERS.splitlines()[1:]:
        (sid, status, dlm, enabled, orgs, role, username, userids, given, family, middle,
         ident, email, *_rest) = next(csv.reader([line]))
        org_list = orgs.split(",")
        users12 += ",".join([sid, status, dlm, enabled, username, userids, given,
                             f'"{family}"' if "'" in family else family, middle, ident, email,
                             "", "", "", "", "", "", "", "", "", org_list[0], ""]) + "\n"
        for i, org in enumerate(org_list):
            n += 1
            roles += f"r{n},,,{sid},{'primary' if i == 0 else 'secondary'},{role.lower()},,,{org},\n"
    package = make_package({
        "manifest.csv": MANIFEST.replace("1.1", "1.2") + "file.roles,bulk\n",
        "orgs.csv": ORGS, "users.csv": users12, "roles.csv": roles, "classes.csv": CLASSES,
        "enrollments.csv": ENROLLMENTS,
    }, name="v12")
    expected = outputs(district, tmp_path / "v11", "year=2026", "google_domain=district.org")
    actual = outputs(package, tmp_path / "v12-out", "year=2026", "google_domain=district.org")
    for name in expected:
        if name != "report.json":
            assert actual[name] == expected[name], name


def test_parameters_are_checked_before_any_data_is_read(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-source"
    with pytest.raises(UsageError) as raised:
        run("powerschool-learning", missing, tmp_path / "out", ["yeer=2026", "schools"])
    codes = sorted(d.code for d in raised.value.diagnostics)
    assert codes == ["RM501", "RM502", "RM503"]
    assert "did you mean `year`?" in str(raised.value)
    with pytest.raises(UsageError, match="takes an int"):
        run("powerschool-learning", missing, tmp_path / "out", ["year=twenty"])
    assert not (tmp_path / "out").exists()


# --- the page's rules the profile had not kept ---------------------------------------------


def rows(files: dict[str, str], name: str) -> list[str]:
    return files[name].splitlines()[1:]


def report_of(files: dict[str, str]) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(files["report.json"])
    return report


def rejects(files: dict[str, str]) -> dict[str, str]:
    return {r["record"]: r["reason"] for r in report_of(files)["rejects"]}


def accounts(tmp_path: Path, *lines: str) -> str:
    """A live_accounts file: import_id,email,username per line."""
    path = tmp_path / "live-accounts.csv"
    path.write_text("import_id,email,username\n" + "".join(f"{x}\n" for x in lines),
                    encoding="utf-8")
    return f"live_accounts={path}"


def test_owner_who_fails_leaves_the_class_without_teacher_id(
        make_package: Callable[..., Path], tmp_path: Path) -> None:
    # "If the user fails and is the owner of a class, roster and class creation will also
    # fail": c5's only primary teacher (t4) is disabled, so not in users.csv; c2's
    # smallest primary teacher (t1) is outside the selected school; c1's (t1) is rejected.
    classes = CLASSES + "c5,,,Music,07,k5,MUS,scheduled,,s2,y1,,,5\n"
    enrollments = ENROLLMENTS + "e15,,,c5,s2,t4,teacher,true,,\ne16,,,c5,s2,u2,student,,,\n"
    package = make_package({"manifest.csv": MANIFEST, "orgs.csv": ORGS, "users.csv": USERS,
                            "classes.csv": classes, "enrollments.csv": enrollments})
    files = outputs(package, tmp_path / "out", "year=2026")
    assert rows(files, "classes.csv") == [
        'c1,"Algebra I, Period 1",ALG-1,2026,t1,s1', "c2,Science,SCI-7,2026,t1,s2",
        "c3,Art,ART,2026,,s1", "c5,Music,MUS,2026,,s2",
    ]
    no_teacher = next(w for w in report_of(files)["warnings"] if w["code"] == "RM420")
    assert no_teacher["examples"] == ["classes/c3", "classes/c5"]
    # the next primary teacher users.csv imports owns the class instead
    files = outputs(package, tmp_path / "s2", "year=2026", "schools=s2")
    assert rows(files, "classes.csv") == ["c2,Science,SCI-7,2026,t3,s2", "c5,Music,MUS,2026,,s2"]
    # a rejected owner fails too: t1's email and username name two live accounts
    files = outputs(package, tmp_path / "rejected", "year=2026",
                    accounts(tmp_path, "L-1,t1@district.org,", "L-2,,tina"))
    assert "users/t1" in rejects(files)
    assert rows(files, "classes.csv")[:2] == ['c1,"Algebra I, Period 1",ALG-1,2026,,s1',
                                              "c2,Science,SCI-7,2026,t3,s2"]
    assert not any(",t1," in line for line in rows(files, "rosters.csv"))


def test_no_live_accounts_file_changes_no_file(district: Path, tmp_path: Path) -> None:
    plain = outputs(district, tmp_path / "plain", "year=2026", "google_domain=district.org")
    unmatched = outputs(district, tmp_path / "unmatched", "year=2026",
                        "google_domain=district.org",
                        accounts(tmp_path, "L-9,nobody@district.org,nobody"))
    for name in plain:
        if name != "report.json":
            assert unmatched[name] == plain[name], name
    assert report_of(plain)["counters"]["users.csv"] == {
        "existing accounts matched": 0, "new accounts": 5, "logins generated": 0}


def test_existing_account_matched_by_email_keeps_live_import_id_in_every_file(
        district: Path, tmp_path: Path) -> None:
    # t1 by email (letter case aside), u1 by username; the others are new accounts.
    files = outputs(district, tmp_path / "out", "year=2026", "google_domain=district.org",
                    accounts(tmp_path, "L-T1,T1@District.org,", "L-U1,,UMA"))
    assert rows(files, "users.csv") == [
        "L-T1,Tina,Ames,tina,t1@district.org,T,s1,0,t1@district.org",
        "L-U1,Uma,O'Neil,uma,u1@other.org,S,s1,0,",
        "t2,Ted,Baker,ted,t2@district.org,T,s1,0,t2@district.org",
        "t3,Tom,Cole,tom,T3@District.ORG,T,s2,0,T3@District.ORG",
        "u2,Ugo,Émile,ugo,,S,s2,0,",
    ]
    assert rows(files, "users_custom.csv") == ["L-T1,T-1,,", "L-U1,S-1,,", "t2,T-2,,",
                                               "t3,T-3,,", "u2,S-2,,"]
    assert rows(files, "classes.csv") == [
        'c1,"Algebra I, Period 1",ALG-1,2026,L-T1,s1', "c2,Science,SCI-7,2026,L-T1,s2",
        "c3,Art,ART,2026,,s1",
    ]
    assert rows(files, "rosters.csv") == [
        "c1,L-T1,T", "c1,L-U1,S", "c1,t2,T", "c2,L-T1,T", "c2,t3,T", "c2,u2,S", "c3,t2,T",
    ]
    report = report_of(files)
    assert report["counters"]["users.csv"] == {
        "existing accounts matched": 2, "new accounts": 3, "logins generated": 0}
    assert report["rejects"] == [] and report["outcome"] == "success"


def test_email_and_username_naming_one_account_is_one_match(district: Path,
                                                             tmp_path: Path) -> None:
    files = outputs(district, tmp_path / "out", "year=2026",
                    accounts(tmp_path, "L-T1,t1@district.org,Tina", "L-T1,t1@district.org,"))
    assert rows(files, "users.csv")[0].startswith("L-T1,Tina,")
    assert rejects(files) == {}


def test_two_users_matching_one_live_account_are_rejected_naming_both(
        district: Path, tmp_path: Path) -> None:
    # L-X's email is t2's and its username t3's: neither takes it.
    files = outputs(district, tmp_path / "out", "year=2026",
                    accounts(tmp_path, "L-X,T2@district.org,Tom"))
    shared = ("the live account on line 2 is matched by more than one user: "
              "t2 (email); t3 (username)")
    assert rejects(files) == {"users/t2": shared, "users/t3": shared}
    assert [line.split(",")[0] for line in rows(files, "users.csv")] == ["t1", "u1", "u2"]
    assert rows(files, "rosters.csv") == ["c1,t1,T", "c1,u1,S", "c2,t1,T", "c2,u2,S"]
    assert report_of(files)["outcome"] == "partial"
    # two users by one email
    users = USERS.replace("u1@other.org", "t2@district.org")
    files = outputs(district_with(tmp_path, users), tmp_path / "email", "year=2026",
                    accounts(tmp_path, "L-X,t2@district.org,"))
    shared = "the live account on line 2 is matched by more than one user: t2, u1 (email)"
    assert rejects(files) == {"users/t2": shared, "users/u1": shared}


def test_one_user_matching_two_live_accounts_is_rejected_naming_both(
        district: Path, tmp_path: Path) -> None:
    # Email and username weigh the same: t1's email names L-A, its username L-B.
    files = outputs(district, tmp_path / "out", "year=2026",
                    accounts(tmp_path, "L-A,t1@district.org,", "L-B,,tina"))
    assert rejects(files) == {
        "users/t1": "matches more than one live account: line 2 (email); line 3 (username)"}
    # two accounts with one email
    files = outputs(district, tmp_path / "two", "year=2026",
                    accounts(tmp_path, "L-B,t1@district.org,", "L-A,T1@district.org,"))
    assert rejects(files) == {
        "users/t1": "matches more than one live account: lines 2, 3 (email)"}
    assert report_of(files)["counters"]["users.csv"]["existing accounts matched"] == 0


def test_account_whose_import_id_is_a_sourcedId_is_that_users_account(
        district: Path, tmp_path: Path) -> None:
    # The same id is the same account to PowerSchool Learning: u2 matches L-U2's twin "u2"
    # by id, so when u1's email names it too, both would be written as u2.
    files = outputs(district, tmp_path / "out", "year=2026",
                    accounts(tmp_path, "u2,u1@other.org,"))
    shared = ("the live account on line 2 is matched by more than one user: "
              "u1 (email); u2 (sourcedId)")
    assert rejects(files) == {"users/u1": shared, "users/u2": shared}
    # u2's own account, by id and username: one account, matched
    files = outputs(district, tmp_path / "own", "year=2026", accounts(tmp_path, "u2,,UGO"))
    assert rejects(files) == {} and "u2,Ugo,Émile,ugo,,S,s2,0," in rows(files, "users.csv")
    assert report_of(files)["counters"]["users.csv"]["existing accounts matched"] == 1
    # u2's username names another account than its id: two accounts
    files = outputs(district, tmp_path / "two", "year=2026",
                    accounts(tmp_path, "u2,,", "L-U2,,ugo"))
    assert rejects(files) == {
        "users/u2": "matches more than one live account: line 3 (username); line 2 (sourcedId)"}


def district_with(tmp_path: Path, users: str, name: str = "variant") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for file, body in {"manifest.csv": MANIFEST, "orgs.csv": ORGS, "users.csv": users,
                       "classes.csv": CLASSES, "enrollments.csv": ENROLLMENTS}.items():
        (folder / file).write_text(body, encoding="utf-8")
    return folder


# t1 and u1 have no username; t1 signs in with Google, u1 does not; t2 has none and owns
# no class but teaches c1 and c3.
NO_USERNAMES = USERS.replace(",teacher,tina,", ",teacher,,").replace(",student,uma,", ",student,,") \
    .replace(",Teacher,ted,", ",Teacher,,")


def generated(source_id: str) -> str:
    return "or-" + hashlib.sha256(source_id.encode()).hexdigest()[:16]


def test_generated_login_is_stable_and_unique(tmp_path: Path) -> None:
    package = district_with(tmp_path, NO_USERNAMES)
    params = ("year=2026", "google_domain=district.org")
    # off (the default): logins as OneRoster has them, blank ones too
    off = outputs(package, tmp_path / "off", *params)
    assert [line.split(",")[3] for line in rows(off, "users.csv")] == ["", "", "tom", "", "ugo"]
    first = outputs(package, tmp_path / "first", *params, "generate_logins=true")
    logins = [line.split(",")[3] for line in rows(first, "users.csv")]
    # "an imported user without a username or Google email address": u1 only; t1 and t2
    # sign in with Google
    assert logins == ["", "", "tom", generated("u1"), "ugo"]
    second = outputs(package, tmp_path / "second", *params, "generate_logins=true")
    for name in first:
        if name != "report.json":
            assert second[name] == first[name], name
    without_google = outputs(package, tmp_path / "no-google", "year=2026", "generate_logins=true")
    logins = [line.split(",")[3] for line in rows(without_google, "users.csv")]
    assert logins == [generated("t1"), generated("t2"), "tom", generated("u1"), "ugo"]
    assert len(set(logins)) == len(logins)
    assert report_of(without_google)["counters"]["users.csv"]["logins generated"] == 3
    # the owners keep their classes
    assert rows(without_google, "classes.csv")[:2] == [
        'c1,"Algebra I, Period 1",ALG-1,2026,t1,s1', "c2,Science,SCI-7,2026,t1,s2"]


def test_generated_login_keeps_the_live_accounts_username(tmp_path: Path) -> None:
    package = district_with(tmp_path, NO_USERNAMES)
    files = outputs(package, tmp_path / "out", "year=2026", "generate_logins=true",
                    accounts(tmp_path, "L-T1,t1@district.org,tina.ames", "L-U1,u1@other.org,"))
    assert rows(files, "users.csv")[:2] == [
        "L-T1,Tina,Ames,tina.ames,t1@district.org,T,s1,0,",
        f"L-U1,Uma,O'Neil,{generated('u1')},u1@other.org,S,s1,0,",
    ]
    assert report_of(files)["counters"]["users.csv"]["logins generated"] == 2


def test_generated_login_that_is_already_a_login_is_rejected_naming_both(
        tmp_path: Path) -> None:
    # u2's username is the login u1 would be given; L-9's username the one t1 would.
    users = NO_USERNAMES.replace(",ugo,", f",{generated('u1').upper()},")
    package = district_with(tmp_path, users)
    files = outputs(package, tmp_path / "out", "year=2026", "generate_logins=true",
                    accounts(tmp_path, f"L-9,someone@district.org,{generated('t1')}"))
    assert rejects(files) == {
        "users/t1": f"the generated login {generated('t1')} is already the login of "
                    "the live account on line 2 (username)",
        "users/u1": f"the generated login {generated('u1')} is already the login of "
                    "u2 (username)",
    }
