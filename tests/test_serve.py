"""`rostermap serve`: the OneRoster API over a CSV package, spoken to with plain httpx."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from rostermap.devtools.serve import Fault, Server
from tests.conftest import CLIENT_ID, EXAMPLE, ROOT, SECRET


@pytest.fixture
def api(serve: Callable[..., Server]) -> Iterator[tuple[Server, httpx.Client]]:
    server = serve(version="1.2", auth="none")
    with httpx.Client(base_url=server.base_url) as client:
        yield server, client


def test_collections_page_with_count_and_link_headers(
    api: tuple[Server, httpx.Client],
) -> None:
    _, client = api
    response = client.get("/users", params={"limit": 100, "offset": 200})
    assert response.status_code == 200
    assert len(response.json()["users"]) == 31
    assert response.headers["X-Total-Count"] == "231"
    assert 'rel="prev"' in response.headers["Link"] and 'rel="next"' not in response.headers["Link"]
    first = client.get("/users", params={"limit": 2}).json()["users"]
    assert [u["sourcedId"] for u in first] == ["adm-1", "adm-2"]


def test_records_have_the_12_shapes(api: tuple[Server, httpx.Client]) -> None:
    server, client = api
    teacher = client.get("/users/tch-3").json()["user"]
    assert teacher["enabledUser"] in ("true", "false")
    assert teacher["roles"][0]["roleType"] == "primary"
    assert set(teacher["primaryOrg"]) == {"href", "sourcedId", "type"}
    assert teacher["primaryOrg"]["href"] == f"{server.base_url}/orgs/{teacher['primaryOrg']['sourcedId']}"
    klass = client.get("/classes", params={"limit": 1}).json()["classes"][0]
    assert klass["terms"][0]["type"] == "academicSession"
    assert client.get("/users/nobody").status_code == 404


def test_filter_sort_and_fields(api: tuple[Server, httpx.Client]) -> None:
    _, client = api
    teachers = client.get("/users", params={"filter": "roles.role='teacher'", "limit": 1000})
    assert {u["sourcedId"][:3] for u in teachers.json()["users"]} == {"tch"}
    both = client.get("/enrollments", params={
        "filter": "role='teacher' AND primary='true'", "limit": 1000}).json()["enrollments"]
    assert both and all(e["role"] == "teacher" and e["primary"] == "true" for e in both)
    either = client.get("/orgs", params={"filter": "type='district' OR type='school'"})
    assert len(either.json()["orgs"]) == 4
    ordered = client.get("/orgs", params={"sort": "name", "orderBy": "desc"}).json()["orgs"]
    assert [o["name"] for o in ordered] == sorted((o["name"] for o in ordered), reverse=True)
    slim = client.get("/orgs", params={"fields": "sourcedId,name"}).json()["orgs"]
    assert all(set(o) == {"sourcedId", "name"} for o in slim)
    bad = client.get("/orgs", params={"filter": "colour='red'"})
    assert bad.status_code == 400
    assert bad.json()["imsx_CodeMinor"]["imsx_codeMinorField"][0][
        "imsx_codeMinorFieldValue"] == "invalid_filter_field"
    assert client.get("/orgs", params={"fields": "colour"}).status_code == 400


def test_sub_collections(api: tuple[Server, httpx.Client]) -> None:
    _, client = api
    students = client.get("/students", params={"limit": 1000}).json()["users"]
    assert len(students) == 120
    schools = client.get("/schools").json()["orgs"]
    assert {o["type"] for o in schools} == {"school"}


def test_oauth2_token_endpoint_and_bearer_tokens(serve: Callable[..., Server]) -> None:
    server = serve(version="1.1", auth="oauth2")
    with httpx.Client() as client:
        assert client.get(f"{server.base_url}/orgs").status_code == 401
        refused = client.post(server.token_url, data={"grant_type": "client_credentials"},
                              auth=(CLIENT_ID, "wrong"))
        assert refused.status_code == 401
        token = client.post(server.token_url, data={"grant_type": "client_credentials"},
                            auth=(CLIENT_ID, SECRET)).json()
        assert token["token_type"] == "bearer" and token["expires_in"] == 3600
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        orgs = client.get(f"{server.base_url}/orgs", headers=headers).json()["orgs"]
        assert isinstance(orgs[0]["parent"] if "parent" in orgs[0] else orgs[1]["parent"], dict)


def test_fault_specs_parse_and_print() -> None:
    fault = Fault.parse("503,entity=users,offset=200,times=0")
    assert (fault.kind, fault.entity, fault.offset, fault.times) == ("503", "users", 200, 0)
    assert str(fault) == "503,entity=users,offset=200,times=0"
    assert str(Fault.parse("429=2")) == "429=2"
    with pytest.raises(ValueError, match="unknown fault"):
        Fault.parse("teapot")


def test_serve_command_prints_its_urls_and_serves(rest_env: dict[str, str]) -> None:
    env = {**os.environ, **rest_env}
    process = subprocess.Popen(
        [sys.executable, "-m", "rostermap", "serve", str(EXAMPLE), "--version", "1.2",
         "--fault", "429=1,entity=orgs"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        text = "".join(lines)
        base = next(ln.split()[-1] for ln in lines if "base URL:" in ln)
        token_url = next(ln.split()[-1] for ln in lines if "token URL:" in ln)
        assert base.startswith("http://127.0.0.1:") and base.endswith("/rostering/v1p2")
        assert "fault:     429=1,entity=orgs" in text and SECRET not in text
        with httpx.Client() as client:
            token = client.post(token_url, data={"grant_type": "client_credentials"},
                                auth=(CLIENT_ID, SECRET)).json()["access_token"]
            users = client.get(f"{base}/users", headers={"Authorization": f"Bearer {token}"})
            assert users.status_code == 200 and users.json()["users"]
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_serving_needs_the_credentials_it_accepts(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from rostermap.cli.main import main

    monkeypatch.delenv("ROSTERMAP_CLIENT_ID", raising=False)
    monkeypatch.delenv("ROSTERMAP_CLIENT_SECRET", raising=False)
    result = CliRunner().invoke(main, ["serve", str(EXAMPLE)])
    assert result.exit_code == 2 and "error[RM445]" in result.stderr
