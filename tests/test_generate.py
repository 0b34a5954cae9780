"""Tests for the synthetic district generator.

The generator feeds the bundled example, the benchmarks and users' experiments, so these
tests pin the properties those rely on: byte determinism, spec column order, referential
integrity (bar the one deliberate dangling enrollment) and the presence of every untidy
edge case even in the smallest example district.
"""

import csv
import io
import re
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from rostermap.devtools.generate import GenerateSummary, file_types, generate

BASE = ["sourcedId", "status", "dateLastModified"]
# Written out from the OneRoster CSV binding rather than imported, so a typo in the module
# cannot agree with itself.
SPEC_HEADERS: dict[str, list[str]] = {
    "orgs.csv": BASE + ["name", "type", "identifier", "parentSourcedId"],
    "academicSessions.csv": BASE + [
        "title", "type", "startDate", "endDate", "parentSourcedId", "schoolYear",
    ],
    "courses.csv": BASE + [
        "schoolYearSourcedId", "title", "courseCode", "grades", "orgSourcedId", "subjects",
        "subjectCodes",
    ],
    "classes.csv": BASE + [
        "title", "grades", "courseSourcedId", "classCode", "classType", "location",
        "schoolSourcedId", "termSourcedIds", "subjects", "subjectCodes", "periods",
    ],
    "enrollments.csv": BASE + [
        "classSourcedId", "schoolSourcedId", "userSourcedId", "role", "primary", "beginDate",
        "endDate",
    ],
    "demographics.csv": BASE + [
        "birthDate", "sex", "americanIndianOrAlaskaNative", "asian", "blackOrAfricanAmerican",
        "nativeHawaiianOrOtherPacificIslander", "white", "demographicRaceTwoOrMoreRaces",
        "hispanicOrLatinoEthnicity", "countryOfBirthCode", "stateOfBirthAbbreviation",
        "cityOfBirth", "publicSchoolResidenceStatus",
    ],
    "roles.csv": BASE + [
        "userSourcedId", "roleType", "role", "beginDate", "endDate", "orgSourcedId",
        "userProfileSourcedId",
    ],
}  # fmt: skip
USERS_11 = BASE + [
    "enabledUser", "orgSourcedIds", "role", "username", "userIds", "givenName", "familyName",
    "middleName", "identifier", "email", "sms", "phone", "agentSourcedIds", "grades",
    "password",
]  # fmt: skip
USERS_12 = BASE + [
    "enabledUser", "username", "userIds", "givenName", "familyName", "middleName",
    "identifier", "email", "sms", "phone", "agentSourcedIds", "grades", "password",
    "userMasterIdentifier", "preferredGivenName", "preferredMiddleName",
    "preferredFamilyName", "primaryOrgSourcedId", "pronouns",
]  # fmt: skip
ALL_11 = [
    "academicSessions", "categories", "classes", "classResources", "courses",
    "courseResources", "demographics", "enrollments", "lineItems", "orgs", "resources",
    "results", "users",
]  # fmt: skip
ADDED_12 = [
    "roles", "userProfiles", "userResources", "scoreScales", "lineItemScoreScales",
    "resultScoreScales", "lineItemLearningObjectiveIds", "resultLearningObjectiveIds",
]  # fmt: skip
STATUSES = {"", "active", "tobedeleted", "inactive"}
GRADES = {"KG"} | {f"{g:02d}" for g in range(1, 13)}


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Parse like a tolerant consumer would (BOM stripped), and insist on rectangular rows."""
    text = path.read_bytes().decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    for n, row in enumerate(rows, start=2):
        assert len(row) == len(header), f"{path.name} line {n}: {len(row)} != {len(header)}"
    return header, [dict(zip(header, row, strict=True)) for row in rows]


def load(root: Path) -> dict[str, list[dict[str, str]]]:
    return {p.name: read_rows(p)[1] for p in sorted(root.glob("*.csv"))}


def split(value: str) -> list[str]:
    return [v for v in value.split(",") if v] if value else []


@pytest.fixture(scope="module")
def district11(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("d11") / "district"
    generate(root, students=2500, seed=3)
    return root


@pytest.fixture(scope="module")
def district12(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("d12") / "district"
    generate(root, students=2500, seed=3, version="1.2")
    return root


@pytest.fixture(scope="module", params=[20, 57, 100])
def example(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled example district and its neighbours: the smallest sizes that must still
    carry every edge case."""
    root = tmp_path_factory.mktemp("example") / "district"
    generate(root, students=request.param, seed=7)
    return root


# -- determinism -------------------------------------------------------------------------


def test_same_seed_is_byte_identical(tmp_path: Path, district11: Path) -> None:
    again = tmp_path / "again"
    generate(again, students=2500, seed=3)
    names = sorted(p.name for p in district11.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    for name in names:
        assert (district11 / name).read_bytes() == (again / name).read_bytes(), name


def test_different_seed_differs(tmp_path: Path, district11: Path) -> None:
    other = tmp_path / "other"
    generate(other, students=2500, seed=4)
    for name in ("users.csv", "enrollments.csv", "classes.csv", "orgs.csv"):
        assert (district11 / name).read_bytes() != (other / name).read_bytes(), name


def test_versions_describe_the_same_district(district11: Path, district12: Path) -> None:
    a, b = load(district11), load(district12)
    for name in ("enrollments.csv", "classes.csv", "courses.csv", "orgs.csv"):
        assert (district11 / name).read_bytes() == (district12 / name).read_bytes(), name
    assert [u["sourcedId"] for u in a["users.csv"]] == [u["sourcedId"] for u in b["users.csv"]]


def test_no_wall_clock(tmp_path: Path) -> None:
    generate(tmp_path / "a", students=60, seed=1, school_year=2031)
    stamps = [r["dateLastModified"] for rows in load(tmp_path / "a").values() for r in rows
              if r.get("dateLastModified")]
    assert stamps and all(s.startswith(("2030-", "2031-")) for s in stamps)


# -- format ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_headers_follow_the_spec(version: str, district11: Path, district12: Path) -> None:
    root = district11 if version == "1.1" else district12
    present = {p.name for p in root.iterdir()}
    expected = {"manifest.csv", "orgs.csv", "academicSessions.csv", "courses.csv",
                "classes.csv", "enrollments.csv", "users.csv", "demographics.csv"}
    assert present == (expected | {"roles.csv"} if version == "1.2" else expected)
    for name, header in SPEC_HEADERS.items():
        if name not in present:
            continue
        actual, _ = read_rows(root / name)
        if name == "orgs.csv":  # metadata appended at the right
            assert actual[: len(header)] == header
            extra = actual[len(header):]
            assert "metadata.address1" in extra and "metadata.city" in extra
            assert all(c.startswith("metadata.") for c in extra)
        else:
            assert actual == header, name
    users, _ = read_rows(root / "users.csv")
    spec = USERS_11 if version == "1.1" else USERS_12
    # metadata.nickname sits mid-header: drop it and the spec order is intact.
    assert "metadata.nickname" in users
    pos = users.index("metadata.nickname")
    assert 3 < pos < len(users) - 1
    assert [c for c in users if c != "metadata.nickname"] == spec


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_manifest_lists_exactly_the_present_files(version: str, district11: Path,
                                                  district12: Path) -> None:
    root = district11 if version == "1.1" else district12
    header, rows = read_rows(root / "manifest.csv")
    assert header == ["propertyName", "value"]
    props = {r["propertyName"]: r["value"] for r in rows}
    assert len(props) == len(rows)
    assert props["manifest.version"] == "1.0"
    assert props["oneroster.version"] == version
    assert props["source.systemName"] == "rostermap generate"
    assert props["source.systemCode"] == "rostermap"
    files = {k.removeprefix("file."): v for k, v in props.items() if k.startswith("file.")}
    assert list(files) == (ALL_11 if version == "1.1" else ALL_11 + ADDED_12)
    assert list(files) == list(file_types(version))
    assert set(files.values()) <= {"bulk", "absent"}
    bulk = {k for k, v in files.items() if v == "bulk"}
    present = {p.stem for p in root.iterdir() if p.name != "manifest.csv"}
    assert bulk == present


def test_line_endings_and_bom(district11: Path) -> None:
    for path in district11.iterdir():
        data = path.read_bytes()
        assert data.startswith(b"\xef\xbb\xbf") == (path.name == "users.csv"), path.name
        if path.name in ("classes.csv", "enrollments.csv"):
            assert data.count(b"\r\n") == data.count(b"\n") > 1, path.name
        else:
            assert b"\r" not in data, path.name
        data.decode("utf-8")


def test_summary_counts_match_files(tmp_path: Path) -> None:
    summary = generate(tmp_path / "d", students=300, seed=5, version="1.2")
    assert isinstance(summary, GenerateSummary)
    assert summary.path == tmp_path / "d"
    actual = {p.name: len(read_rows(p)[1]) for p in (tmp_path / "d").iterdir()}
    assert dict(summary.counts) == actual
    assert summary.total_rows == sum(actual.values())
    with pytest.raises(AttributeError):
        summary.version = "1.1"  # type: ignore[misc]


# -- content and integrity ----------------------------------------------------------------


def check_integrity(root: Path, version: str) -> None:
    data = load(root)
    for name, rows in data.items():
        if name == "manifest.csv":
            continue
        ids = Counter(r["sourcedId"] for r in rows)
        assert all(ids), name
        assert ids.most_common(1)[0][1] == 1, f"duplicate sourcedId in {name}"
        assert {r["status"] for r in rows} <= STATUSES, name
        for r in rows:
            assert bool(r["dateLastModified"]) == (r["status"] in ("tobedeleted", "inactive"))
    orgs = {r["sourcedId"]: r for r in data["orgs.csv"]}
    district = [o for o in orgs.values() if o["type"] == "district"]
    assert len(district) == 1
    schools = {k for k, o in orgs.items() if o["type"] == "school"}
    for k in schools:
        assert orgs[k]["parentSourcedId"] == district[0]["sourcedId"]
        assert len(orgs[k]["identifier"]) == 12 and orgs[k]["identifier"].isdigit()

    sessions = {r["sourcedId"]: r for r in data["academicSessions.csv"]}
    for s in sessions.values():
        assert s["parentSourcedId"] == "" or s["parentSourcedId"] in sessions
        assert s["startDate"] < s["endDate"]
        if s["parentSourcedId"]:
            parent = sessions[s["parentSourcedId"]]
            assert parent["startDate"] <= s["startDate"] and s["endDate"] <= parent["endDate"]
    years = [s for s in sessions.values() if s["type"] == "schoolYear"]
    assert len(years) == 1
    assert [s["type"] for s in sessions.values()].count("semester") == 2

    courses = {r["sourcedId"]: r for r in data["courses.csv"]}
    for c in courses.values():
        assert c["orgSourcedId"] in schools
        assert c["schoolYearSourcedId"] == years[0]["sourcedId"]
        assert set(split(c["grades"])) <= GRADES
    classes = {r["sourcedId"]: r for r in data["classes.csv"]}
    for c in classes.values():
        assert c["courseSourcedId"] in courses
        assert c["schoolSourcedId"] in schools
        assert courses[c["courseSourcedId"]]["orgSourcedId"] == c["schoolSourcedId"]
        terms = split(c["termSourcedIds"])
        assert terms and all(sessions[t]["type"] == "semester" for t in terms)
        assert c["classType"].lower() in ("homeroom", "scheduled")
        assert all(p.isdigit() and 1 <= int(p) <= 7 for p in split(c["periods"]))

    users = {r["sourcedId"]: r for r in data["users.csv"]}
    for u in users.values():
        assert u["password"] == ""
        for agent in split(u["agentSourcedIds"]):
            assert agent in users
            assert u["sourcedId"] in split(users[agent]["agentSourcedIds"]), "one-way agent"
        assert u["enabledUser"].lower() in ("true", "false")
    usernames = Counter(u["username"] for u in users.values())
    assert usernames.most_common(1)[0][1] == 1
    if version == "1.1":
        for u in users.values():
            assert u["role"] in ("student", "teacher", "parent", "guardian", "aide",
                                 "administrator")
            assert split(u["orgSourcedIds"]) and set(split(u["orgSourcedIds"])) <= set(orgs)
        roles_of = {k: u["role"] for k, u in users.items()}
        orgs_of = {k: split(u["orgSourcedIds"]) for k, u in users.items()}
    else:
        roles_of, orgs_of = {}, defaultdict(list)
        seen: set[tuple[str, str]] = set()
        for r in data["roles.csv"]:
            assert r["userSourcedId"] in users and r["orgSourcedId"] in orgs
            assert (r["userSourcedId"], r["orgSourcedId"]) not in seen
            seen.add((r["userSourcedId"], r["orgSourcedId"]))
            assert r["role"] in ("student", "teacher", "parent", "guardian", "aide",
                                 "siteAdministrator", "districtAdministrator")
            primary = users[r["userSourcedId"]]["primaryOrgSourcedId"]
            assert (r["roleType"] == "primary") == (r["orgSourcedId"] == primary)
            assert r["status"] == users[r["userSourcedId"]]["status"]
            roles_of[r["userSourcedId"]] = r["role"]
            orgs_of[r["userSourcedId"]].append(r["orgSourcedId"])
        assert set(roles_of) == set(users)

    students = {k for k, r in roles_of.items() if r == "student"}
    teachers = {k for k, r in roles_of.items() if r == "teacher"}
    for k in students:
        assert len(orgs_of[k]) == 1 and orgs_of[k][0] in schools
        assert users[k]["grades"] in GRADES
    demographics = {r["sourcedId"] for r in data["demographics.csv"]}
    assert demographics == students

    dangling: list[dict[str, str]] = []
    pairs: Counter[tuple[str, str]] = Counter()
    for e in data["enrollments.csv"]:
        cls = classes[e["classSourcedId"]]
        assert e["schoolSourcedId"] == cls["schoolSourcedId"]
        if e["userSourcedId"] not in users:
            dangling.append(e)
            continue
        pairs[(e["classSourcedId"], e["userSourcedId"])] += 1
        assert cls["schoolSourcedId"] in orgs_of[e["userSourcedId"]]
        if e["role"] == "student":
            assert e["userSourcedId"] in students and e["primary"] == ""
        else:
            assert e["role"] == "teacher" and e["userSourcedId"] in teachers
            assert e["primary"].lower() in ("true", "false")
        spans = [sessions[term] for term in split(cls["termSourcedIds"])]
        assert e["beginDate"] == min(span["startDate"] for span in spans)
        assert e["endDate"] == max(span["endDate"] for span in spans)
    assert len(dangling) == 1, dangling
    assert dangling[0]["status"] == "" and dangling[0]["role"] == "student"
    assert pairs.most_common(1)[0][1] == 1, "user enrolled twice in one class"


def test_integrity_11(district11: Path) -> None:
    check_integrity(district11, "1.1")


def test_integrity_12(district12: Path) -> None:
    check_integrity(district12, "1.2")


def test_integrity_example(example: Path) -> None:
    check_integrity(example, "1.1")


def test_district_shape(district11: Path) -> None:
    data = load(district11)
    users = data["users.csv"]
    roles = Counter(u["role"] for u in users)
    assert roles["student"] == 2500
    assert 2500 / 20 * 0.8 <= roles["teacher"] <= 2500 / 20 * 1.3
    assert roles["administrator"] >= 2 * 4 and roles["aide"] >= 4
    students = [u for u in users if u["role"] == "student"]
    with_parents = sum(1 for u in students if u["agentSourcedIds"])
    assert 0.35 <= with_parents / len(students) <= 0.65
    schools = [o for o in data["orgs.csv"] if o["type"] == "school"]
    assert len(schools) == 4
    per_student = Counter(e["userSourcedId"] for e in data["enrollments.csv"]
                          if e["role"] == "student")
    mean = sum(per_student.values()) / len(students)
    assert 5.5 <= mean <= 7.0
    # Enrollments respect grade levels when the school offers the grade.
    grade = {u["sourcedId"]: u["grades"] for u in students}
    classes = {c["sourcedId"]: c for c in data["classes.csv"]}
    mismatched = sum(1 for e in data["enrollments.csv"] if e["role"] == "student"
                     and e["userSourcedId"] in grade
                     and grade[e["userSourcedId"]] not in
                     split(classes[e["classSourcedId"]]["grades"]))
    assert mismatched / sum(per_student.values()) < 0.05
    domains = Counter(u["email"].split("@")[1] for u in users
                      if u["role"] in ("teacher", "administrator"))
    district_domain = domains.most_common(1)[0][0]
    assert re.fullmatch(r"[a-z]+\.k12\.us", district_domain)
    on_domain = [u for u in students if u["email"].endswith("@students." + district_domain)]
    assert len(on_domain) / len(students) > 0.9
    for u in on_domain:
        assert u["email"].split("@")[0] == u["username"]
        assert re.fullmatch(r"[a-z-]+\.[a-z-]+\d\d(\.\d+)?", u["username"]), u["username"]
    for u in users:
        if u["role"] == "teacher" and u["email"].endswith("@" + district_domain):
            assert re.fullmatch(r"[a-z-]+\.[a-z-]+(\.\d+)?@" + re.escape(district_domain),
                                u["email"])


# -- edge cases --------------------------------------------------------------------------


def check_edge_cases(root: Path) -> None:
    raw_users = (root / "users.csv").read_bytes()
    assert raw_users.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in (root / "classes.csv").read_bytes()
    assert b"\r\n" in (root / "enrollments.csv").read_bytes()
    data = load(root)
    users = {u["sourcedId"]: u for u in data["users.csv"]}
    classes = {c["sourcedId"]: c for c in data["classes.csv"]}
    orgs = data["orgs.csv"]

    assert len([o for o in orgs if o["type"] == "school"]) >= 3
    teachers = [u for u in users.values() if u["role"] == "teacher"]
    assert len(teachers) >= 8
    assert any(len(split(t["orgSourcedIds"])) == 2 for t in teachers)
    assert any(u["role"] == "guardian" for u in users.values())
    assert any(u["role"] == "parent" for u in users.values())

    statuses = Counter(u["status"] for u in users.values())
    assert statuses["tobedeleted"] >= 1 and statuses["inactive"] >= 1
    enabled = Counter(u["enabledUser"] for u in users.values())
    assert enabled["false"] >= 1 and enabled["False"] >= 1 and enabled["TRUE"] >= 1

    students = [u for u in users.values() if u["role"] == "student"]
    domain = Counter(t["email"].split("@")[1] for t in teachers).most_common(1)[0][0]
    assert domain.endswith(".k12.us")
    assert any(u["email"] == "" for u in students)
    assert any(u["email"] and not u["email"].endswith("@students." + domain) for u in students)
    assert any(t["email"].endswith("@gmail.com") for t in teachers)
    assert any(u["metadata.nickname"] for u in users.values())

    names = " ".join(u["givenName"] + " " + u["familyName"] for u in users.values())
    assert any(ord(ch) > 127 for ch in names), "no accented names"
    assert all(u["username"].isascii() for u in users.values())

    assert any(c["status"] == "tobedeleted" for c in classes.values())
    assert any(c["classType"] == "Scheduled" for c in classes.values())
    assert any(c["classType"] == "homeroom" for c in classes.values())
    assert any("," in c["title"] for c in classes.values())
    assert any(len(split(c["periods"])) == 2 for c in classes.values())
    assert any(len(split(c["termSourcedIds"])) == 1 for c in classes.values()) or \
        len(classes) < 60
    assert b'"' in (root / "classes.csv").read_bytes()

    enrollments = data["enrollments.csv"]
    teaching: dict[str, list[str]] = defaultdict(list)
    for e in enrollments:
        if e["role"] == "teacher" and e["status"] != "tobedeleted":
            teaching[e["classSourcedId"]].append(e["primary"].lower())
    active = [k for k, c in classes.items() if c["status"] != "tobedeleted"]
    assert any(teaching[k].count("true") >= 2 for k in active), "two primaries"
    assert any(teaching[k] and "true" not in teaching[k] for k in active), "no primary"
    assert any(not teaching[k] for k in active), "no teacher"
    assert any(teaching[k].count("true") == 1 and "false" in teaching[k] for k in active)
    primaries = Counter(e["primary"] for e in enrollments)
    assert primaries["TRUE"] >= 1 and primaries["False"] >= 1
    assert any(e["status"] == "tobedeleted" and e["role"] == "student"
               and users[e["userSourcedId"]]["status"] == "" for e in enrollments
               if e["userSourcedId"] in users)
    assert sum(1 for e in enrollments if e["userSourcedId"] not in users) == 1


def test_edge_cases_example(example: Path) -> None:
    check_edge_cases(example)


def test_edge_cases_larger(district11: Path) -> None:
    check_edge_cases(district11)


def test_edge_cases_12(district12: Path) -> None:
    data = load(district12)
    assert (district12 / "users.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    roles = data["roles.csv"]
    assert any(r["roleType"] == "secondary" and r["role"] == "teacher" for r in roles)
    assert {"siteAdministrator", "districtAdministrator", "guardian"} <= {
        r["role"] for r in roles}
    assert any(u["preferredGivenName"] for u in data["users.csv"])


# -- zip and arguments ------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_zip_matches_directory(tmp_path: Path, version: str) -> None:
    folder = tmp_path / "folder"
    generate(folder, students=80, seed=9, version=version)
    archive = tmp_path / "out" / "district.zip"
    summary = generate(archive, students=80, seed=9, version=version, as_zip=True)
    assert summary.path == archive
    assert [p.name for p in archive.parent.iterdir()] == ["district.zip"], "staging left over"
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        assert all("/" not in n for n in names)
        assert set(names) == {p.name for p in folder.iterdir()}
        assert names[0] == "manifest.csv"
        for info in zf.infolist():
            assert info.compress_type == zipfile.ZIP_DEFLATED
            assert zf.read(info) == (folder / info.filename).read_bytes()
    first = archive.read_bytes()
    generate(archive, students=80, seed=9, version=version, as_zip=True)  # overwrite
    assert archive.read_bytes() == first


def test_refuses_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(ValueError, match="non-empty"):
        generate(tmp_path, students=20)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    generate(empty, students=20)
    assert (empty / "manifest.csv").exists()


@pytest.mark.parametrize("kwargs", [
    {"students": 0}, {"students": -5}, {"students": 10, "version": "1.0"},
    {"students": 10, "version": "2"},
])  # fmt: skip
def test_rejects_bad_arguments(tmp_path: Path, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path / "d", **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "d").exists()


def test_zip_refuses_directory_target(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, students=20, as_zip=True)


def test_tiny_district_still_valid(tmp_path: Path) -> None:
    """Below 20 students not every edge case fits, but the package must stay well formed."""
    for n in (1, 5):
        root = tmp_path / str(n)
        generate(root, students=n, seed=2)
        for path in root.iterdir():
            read_rows(path)
        assert len(load(root)["demographics.csv"]) == n


# -- rostermap's own validation ----------------------------------------------------------


@pytest.mark.parametrize("version", ["1.1", "1.2"])
@pytest.mark.parametrize("as_zip", [False, True])
def test_packages_pass_rostermaps_own_validation(tmp_path: Path, version: str,
                                                 as_zip: bool) -> None:
    """What a user generates is what rostermap reads without a complaint: every field of
    every entity the package holds is typed (booleans, dates, enumerations, lists),
    sourcedIds are unique, references resolve, bar the one dangling enrollment that is
    there on purpose. Deterministic per seed, zipped or not."""
    from rostermap.dsl import schema
    from rostermap.runtime.engine.tables import load_tables
    from rostermap.runtime.sources.csv_package import open_package

    path = tmp_path / ("district.zip" if as_zip else "district")
    generate(path, students=600, seed=11, version=version, as_zip=as_zip)
    again = tmp_path / ("again.zip" if as_zip else "again")
    generate(again, students=600, seed=11, version=version, as_zip=as_zip)
    files = [path] if as_zip else sorted(path.iterdir())
    assert [p.read_bytes() for p in files] == [
        (again if as_zip else again / p.name).read_bytes() for p in files]
    package = open_package(path)
    try:
        reads = {
            name: tuple(f for f in entity.field_names(version) if f != "metadata")
            for name, entity in schema.ENTITIES.items() if package.has(name)
        }
        assert {"orgs", "academicSessions", "courses", "classes", "enrollments", "users",
                "demographics"} <= set(reads)
        tables = load_tables(package, reads)  # raises RunError on any error
    finally:
        package.close()
    assert tables.version == version
    assert [(w.code, w.location.file if w.location else None) for w in tables.warnings] == [
        ("RM411", "enrollments.csv")], [w.message for w in tables.warnings]
    assert tables.count("users") > 600 and tables.count("enrollments") > 600 * 5
