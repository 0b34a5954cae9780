"""REST JSON records: schema checks, compatibility repairs, and the filter a source sends."""

from __future__ import annotations

import json
from pathlib import Path

from rostermap.runtime.sources.rest import check_url, filter_expression, is_url
from rostermap.runtime.sources.rest_records import RecordReader, repair
from tests.conftest import FIXTURES

# Responses of a 1.2 server as real ones are: JSON booleans for enabledUser and
# primary, `roles: []` and `terms: []`, GUIDRefs with href and type, nested metadata.
OWN = FIXTURES / "rest-v1p2"
# The corpus' mock responses of a Japanese 1.2 server, which drift the same ways.
REAL = Path("oneroster-samples", "da2022-or12-rest-json")


def sample(folder: Path, name: str) -> list[dict[str, object]]:
    data: dict[str, list[dict[str, object]]] = json.loads(
        (folder / f"{name}.json").read_text(encoding="utf-8"))
    return data[name]


def test_12_responses_fail_strict_and_pass_compat() -> None:
    _fail_strict_and_pass_compat(OWN)


def test_real_12_samples_fail_strict_and_pass_compat(corpus: Path) -> None:
    """The DA2022 samples: JSON booleans, `roles: []`, `terms: []` (see their README)."""
    _fail_strict_and_pass_compat(corpus / REAL)


def _fail_strict_and_pass_compat(folder: Path) -> None:
    strict = {e: RecordReader(e, ["sourcedId"], "1.2", compat=False).read(sample(folder, e))
              for e in ("orgs", "users", "classes", "enrollments")}
    assert not strict["orgs"].rejects
    reasons = {e: [(r.field, r.reason) for r in c.rejects] for e, c in strict.items()}
    assert reasons["users"] == [("roles", "needs at least 1 item(s)")]  # and enabledUser
    assert reasons["classes"] == [("terms", "needs at least 1 item(s)")]
    assert reasons["enrollments"] == [("primary", "must be string")]
    for entity in ("users", "classes", "enrollments"):
        chunk = RecordReader(entity, ["sourcedId"], "1.2", compat=True).read(
            sample(folder, entity))
        assert not chunk.rejects and chunk.columns["sourcedId"]


def test_reasons_never_quote_values() -> None:
    reader = RecordReader("users", ["password"], "1.1", compat=False)
    record = {"sourcedId": "u1", "status": "active", "dateLastModified": "2026-01-01T00:00:00Z",
              "username": "u", "enabledUser": True, "givenName": "A", "familyName": "B",
              "role": "Student-Of-Note", "orgs": [], "password": 12345678}
    chunk = reader.read([record])
    (reject,) = chunk.rejects
    assert reject.sourcedId == "u1"
    assert "Student-Of-Note" not in reject.reason and "12345678" not in reject.reason


def test_compat_ignores_flaws_in_fields_the_mapping_does_not_read() -> None:
    """An active org whose children carry a relative href (an unread field) is kept in
    --compat; strict mode, which checks the spec, rejects it; a flaw in a field read
    is still a reject in both."""
    org = {"sourcedId": "o1", "status": "active", "dateLastModified": "2026-01-01T00:00:00Z",
           "name": "North", "type": "school",
           "children": [{"href": "orgs/o2", "sourcedId": "o2", "type": "org"}, 7]}
    assert len(RecordReader("orgs", ["name", "type"], "1.1", compat=False)
               .read([org]).rejects) == 1
    kept = RecordReader("orgs", ["name", "type"], "1.1", compat=True).read([org])
    assert kept.rejects == [] and kept.columns["name"] == ["North"]
    bad_type = {**org, "type": ["school"]}
    assert len(RecordReader("orgs", ["name", "type"], "1.1", compat=True)
               .read([bad_type]).rejects) == 1


def test_compat_repairs_what_minimal_providers_send() -> None:
    fixed = repair("enrollments", {
        "sourcedId": "e1", "status": "Active", "dateLastModified": "2023-05-01",
        "user": "u1", "class": {"sourcedId": "c1", "type": "klass"}, "primary": 1,
        "beginDate": "2025-08-18T00:00:00Z", "endDate": None, "role": "Student"})
    assert fixed == {"sourcedId": "e1", "status": "active",
                     "dateLastModified": "2023-05-01T00:00:00Z", "user": {"sourcedId": "u1"},
                     "class": {"sourcedId": "c1"}, "primary": "true", "beginDate": "2025-08-18",
                     "role": "student"}
    assert repair("users", {"status": "inactive", "userIds": ["{LDAP:x}", "plain"]}) == {
        "status": "tobedeleted",
        "userIds": [{"type": "LDAP", "identifier": "x"}, {"type": "", "identifier": "plain"}]}


def test_users_ids_and_lists_come_out_as_the_csv_binding_writes_them() -> None:
    reader = RecordReader("users", ["userIds", "grades", "agents"], "1.2", compat=True)
    chunk = reader.read([{"sourcedId": "u1", "userIds": [{"type": "LDAP", "identifier": "x"}],
                          "grades": ["09", "10"], "agents": [{"sourcedId": "p1"}],
                          "roles": [{"roleType": "primary", "role": "student",
                                     "org": {"sourcedId": "s1"}}]}])
    assert chunk.columns["userIds"] == [["{LDAP:x}"]]
    assert chunk.columns["grades"] == [["09", "10"]] and chunk.columns["agents"] == [["p1"]]
    assert chunk.roles == [[{"roleType": "primary", "role": "student", "org": "s1",
                             "beginDate": None, "endDate": None, "userProfile": None}]]


def test_filters_are_said_within_the_oneroster_grammar() -> None:
    assert filter_expression("users", {"status": {"", "active"}}) == "status='active'"
    assert filter_expression("enrollments", {"status": {"", "active"},
                                             "role": {"student", "teacher"}}) == "status='active'"
    assert filter_expression("enrollments", {"role": {"student", "teacher"}}) == (
        "role='student' OR role='teacher'")
    assert filter_expression("classes", {"classType": {"", "homeroom"}}) is None
    assert filter_expression("classes", {"title": {"it's"}}) is None


def test_source_urls() -> None:
    assert is_url("https://sis.example.org/ims/oneroster/v1p1") and not is_url("district.zip")
    assert check_url("http://127.0.0.1:8000/x").host == "127.0.0.1"
    assert check_url("http://[::1]:8000/x").host == "::1"
    assert check_url("http://localhost/x").host == "localhost"
