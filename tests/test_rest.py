"""The OneRoster REST source, end to end against `rostermap serve` over real HTTP.

The server runs in-process on a free loopback port (the `serve` fixture); nothing
of the client is mocked. A REST run of a profile must give byte for byte the files
a CSV run gives for the same data, in 1.1 and 1.2, with OAuth 2 and OAuth 1; faults
must be retried where a real client would succeed, and fail closed (exit 1, a clear
message, nothing written) where it must.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rostermap.cli.main import main
from rostermap.devtools.generate import generate
from rostermap.devtools.serve import Server
from rostermap.runtime.errors import RunError
from rostermap.runtime.report.model import to_json
from rostermap.runtime.run.pipeline import run
from rostermap.runtime.sources.config import Credentials, SourceConfig
from rostermap.runtime.sources.rest import _Failed, _Page, _served_once
from rostermap.runtime.sources.rest_records import Chunk
from tests.conftest import CLIENT_ID, EXAMPLE, SECRET, fast_options

PARAMS = ["year=2026", "google_domain=willowsprings.k12.us"]
OUTPUTS = ("users.csv", "users_custom.csv", "organizations.csv", "classes.csv",
           "classes_custom.csv", "rosters.csv")


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix == ".csv"}


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("csv")
    run("powerschool-learning", EXAMPLE, out, PARAMS)
    return files_of(out)


def config(server: Server, auth: str = "oauth2", **options: Any) -> SourceConfig:
    token_url = server.token_url if auth == "oauth2" else ""
    signature = options.pop("signature_method", "HMAC-SHA1")
    return SourceConfig(Credentials(auth, CLIENT_ID, SECRET, token_url,
                                    signature_method=signature), fast_options(**options))


def rest_run(server: Server, out: Path, auth: str = "oauth2", **options: Any) -> dict[str, Any]:
    result = run("powerschool-learning", server.base_url, out, PARAMS,
                 config=config(server, auth, **options))
    return to_json(result.report)


@pytest.mark.parametrize(("version", "auth", "signature"), [
    ("1.1", "oauth2", ""), ("1.1", "oauth1", "HMAC-SHA1"), ("1.1", "oauth1", "HMAC-SHA256"),
    ("1.2", "oauth2", ""), ("1.2", "oauth1", "HMAC-SHA256"),
])
def test_rest_run_gives_the_csv_run_files_byte_for_byte(
    serve: Callable[..., Server], tmp_path: Path, csv_run: dict[str, bytes],
    version: str, auth: str, signature: str,
) -> None:
    server = serve(version=version, auth=auth)
    env = {"ROSTERMAP_AUTH": auth}
    if auth == "oauth2":
        env["ROSTERMAP_TOKEN_URL"] = server.token_url
    if signature:
        env["ROSTERMAP_SIGNATURE_METHOD"] = signature
    code, out, err = invoke("run", "powerschool-learning", "--source", server.base_url,
                            "--out", str(tmp_path), *(f"--param={p}" for p in PARAMS),
                            "--page-size", "100", "--rate", "0", env=env)
    assert code == 0, err
    assert files_of(tmp_path) == csv_run
    assert f"OneRoster {version} from {server.base_url}" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["rejects"] == []
    assert report["source"]["oneroster_version"] == version
    fetch = report["source"]["fetch"]
    assert sorted(fetch) == ["classes", "enrollments", "orgs", "users"]
    assert fetch["enrollments"]["pages"] == 5 and fetch["enrollments"]["retries"] == 0
    if auth == "oauth2":
        assert server.tokens_issued == 1  # cached: one token for every request


def test_fetch_statistics_of_the_example_district(
    serve: Callable[..., Server], tmp_path: Path, snapshot,  # type: ignore[no-untyped-def]
) -> None:
    """Pages and requests per collection: a change in paging shows up in review."""
    report = rest_run(serve(), tmp_path)
    fetch = {entity: {k: v for k, v in stats.items() if k != "seconds"}
             for entity, stats in report["source"]["fetch"].items()}
    assert fetch == snapshot


def test_only_the_collections_the_mapping_reads_are_fetched_with_its_filters(
    serve: Callable[..., Server], tmp_path: Path, csv_run: dict[str, bytes],
) -> None:
    server = serve()
    rest_run(server, tmp_path / "on")
    data = [r for r in server.requests if r.method == "GET"]
    assert {r.path.rsplit("/", 1)[1] for r in data} == {"classes", "enrollments", "orgs",
                                                        "users"}
    assert {r.query.get("filter") for r in data} == {"status='active'"}
    assert files_of(tmp_path / "on") == csv_run
    server.requests.clear()
    report = rest_run(server, tmp_path / "off", filter=False)
    assert all("filter" not in r.query for r in server.requests)
    assert files_of(tmp_path / "off") == csv_run
    # unfiltered, the REST run sees every record the CSV run sees
    assert report["entities"]["users"]["records"] == 231


def test_a_provider_that_ignores_filter_changes_nothing_but_a_warning(
    serve: Callable[..., Server], tmp_path: Path, csv_run: dict[str, bytes],
) -> None:
    server = serve(faults=("ignore-filter",))
    report = rest_run(server, tmp_path)
    assert files_of(tmp_path) == csv_run
    codes = [w["code"] for w in report["warnings"]]
    assert "RM449" in codes


def test_a_provider_that_refuses_filter_is_read_without_it(
    serve: Callable[..., Server], tmp_path: Path, csv_run: dict[str, bytes],
) -> None:
    server = serve(faults=("reject-filter,entity=users",))
    report = rest_run(server, tmp_path)
    assert files_of(tmp_path) == csv_run
    assert report["source"]["fetch"]["users"]["filter"] is None
    assert report["source"]["fetch"]["classes"]["filter"] == "status='active'"
    assert "RM449" in [w["code"] for w in report["warnings"]]
    assert 400 in [r.status for r in server.requests]


@pytest.fixture(scope="module")
def package_12(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "district12"
    generate(out, students=150, seed=5, version="1.2")
    return out


@pytest.mark.parametrize("served", ["1.2", "1.1"])
def test_a_12_package_served_as_12_and_as_11_gives_its_csv_files(
    serve: Callable[..., Server], tmp_path: Path, package_12: Path, served: str,
) -> None:
    run("powerschool-learning", package_12, tmp_path / "csv", ["year=2026"])
    server = serve(package=package_12, version=served)
    result = run("powerschool-learning", server.base_url, tmp_path / "rest", ["year=2026"],
                 config=config(server))
    assert files_of(tmp_path / "rest") == files_of(tmp_path / "csv")
    assert result.report.source.oneroster_version == served


def test_a_provider_that_caps_the_page_size_loses_nothing(
    serve: Callable[..., Server], tmp_path: Path, csv_run: dict[str, bytes],
) -> None:
    server = serve(faults=("cap-page=30",))
    report = rest_run(server, tmp_path / "headers", page_size=100)
    assert files_of(tmp_path / "headers") == csv_run
    assert report["source"]["fetch"]["enrollments"]["page_size"] == 30
    assert "RM450" in [w["code"] for w in report["warnings"]]
    # without X-Total-Count and Link, a short page is confirmed by one more request
    server = serve(faults=("cap-page=30", "no-count"))
    report = rest_run(server, tmp_path / "bare", page_size=100)
    assert files_of(tmp_path / "bare") == csv_run
    assert report["source"]["fetch"]["enrollments"]["records"] == 413


@pytest.mark.parametrize(("page_size", "concurrency", "headers"), [
    (7, 1, True), (50, 4, True), (100, 3, False), (13, 2, False), (500, 4, True)])
def test_pages_of_any_size_the_provider_chooses_are_read_once(
    serve: Callable[..., Server], tmp_path: Path, csv_run: dict[str, bytes],
    page_size: int, concurrency: int, headers: bool,
) -> None:
    """The provider answers each page with a size of its own, smaller than asked;
    read-ahead fetched pages at offsets that no longer follow: every record is read once."""
    faults = ("vary-page",) if headers else ("vary-page", "no-count")
    server = serve(faults=faults)
    report = rest_run(server, tmp_path, page_size=page_size, concurrency=concurrency)
    assert files_of(tmp_path) == csv_run
    assert report["source"]["fetch"]["enrollments"]["records"] == 413


@pytest.mark.parametrize("headers", [True, False])
def test_a_provider_that_filters_after_paging_fails_closed(
    serve: Callable[..., Server], tmp_path: Path, headers: bool,
) -> None:
    """Pages sliced from the whole collection and then thinned: offsets no longer count
    records, so pages repeat and skip them. Announced counts or repeated records give
    it away, and nothing is written."""
    faults = ("drop-after-paging",) if headers else ("drop-after-paging", "no-count")
    server = serve(faults=faults)
    result = CliRunner().invoke(main, [
        "run", "powerschool-learning", "--source", server.base_url, "--out",
        str(tmp_path / "out"), "--param", "year=2026", "--retries", "0", "--page-size", "50"],
        env={"ROSTERMAP_TOKEN_URL": server.token_url, "ROSTERMAP_CLIENT_ID": CLIENT_ID,
             "ROSTERMAP_CLIENT_SECRET": SECRET})
    assert result.exit_code == 1, result.output
    assert "error[RM448]" in result.stderr, result.stderr
    assert "do not follow `offset`" in result.stderr or "twice" in result.stderr or (
        "announced" in result.stderr), result.stderr
    assert not (tmp_path / "out").exists()


def test_a_record_served_twice_fails_the_collection() -> None:
    """Pages that overlap anywhere (not only at their first record) name the record and
    its two places in the collection."""
    def page(offset: int, ids: list[str]) -> _Page:
        chunk = Chunk(len(ids), ids[0], list(range(len(ids))), {"sourcedId": ids})
        return _Page(offset, 3, chunk, None, None)

    _served_once([page(0, ["a", "b", "c"]), page(3, ["d", "e", "f"])], "/users")
    with pytest.raises(_Failed) as failed:
        _served_once([page(0, ["a", "b", "c"]), page(3, ["d", "b", "f"])], "/users")
    assert failed.value.diagnostic.message == (
        "/users: the provider serves record 'b' twice, as record 2 and record 5 of the "
        "collection")


def test_paging_ends_on_an_empty_page_when_the_last_one_is_full(
    serve: Callable[..., Server], tmp_path: Path, csv_run: dict[str, bytes],
) -> None:
    server = serve(faults=("no-count",))
    # 4 active orgs in pages of 2: two full pages, then an empty one
    report = rest_run(server, tmp_path, page_size=2, concurrency=1)
    assert files_of(tmp_path) == csv_run
    assert report["source"]["fetch"]["orgs"]["pages"] == 3


def test_transient_faults_are_retried_and_the_run_succeeds(
    serve: Callable[..., Server], tmp_path: Path, csv_run: dict[str, bytes],
) -> None:
    server = serve(faults=("500,entity=users", "502,entity=enrollments", "504,entity=classes",
                           "truncate,entity=orgs", "bad-json,entity=users",
                           "reset,entity=classes"))
    report = rest_run(server, tmp_path)
    assert files_of(tmp_path) == csv_run
    fetch = report["source"]["fetch"]
    assert fetch["users"]["retries"] == 6  # 3 pages, each a 500 then bad JSON
    assert fetch["enrollments"]["retries"] == 5
    assert fetch["classes"]["retries"] == 2 and fetch["orgs"]["retries"] == 1
    statuses = [r.status for r in server.requests]
    assert {500, 502, 504} <= set(statuses)


def test_429_waits_as_long_as_retry_after_says(
    serve: Callable[..., Server], tmp_path: Path, csv_run: dict[str, bytes],
) -> None:
    server = serve(faults=("429=1,entity=orgs",))
    started = time.monotonic()
    report = rest_run(server, tmp_path)
    assert time.monotonic() - started >= 1.0
    assert files_of(tmp_path) == csv_run
    assert report["source"]["fetch"]["orgs"]["retries"] == 1


def test_a_slow_response_times_out_and_is_retried(
    serve: Callable[..., Server], tmp_path: Path, csv_run: dict[str, bytes],
) -> None:
    server = serve(faults=("slow=1,entity=orgs",))
    report = rest_run(server, tmp_path, timeout=0.5)
    assert files_of(tmp_path) == csv_run
    assert report["source"]["fetch"]["orgs"]["retries"] == 1


def test_an_expired_token_is_renewed_once_and_the_request_repeated(
    serve: Callable[..., Server], tmp_path: Path, csv_run: dict[str, bytes],
) -> None:
    server = serve(faults=("expire-token=0.3",))
    report = rest_run(server, tmp_path, rate=10)  # 10 requests over a second
    assert files_of(tmp_path) == csv_run
    assert server.tokens_issued >= 3
    assert 401 in [r.status for r in server.requests]
    assert report["source"]["fetch"]["users"]["retries"] == 0  # renewal is not a retry


def fail_closed(tmp_path: Path, server: Server, *extra: str,
                env: dict[str, str] | None = None) -> str:
    """Run through the CLI over an out folder holding last run's files; return stderr."""
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    (out / "users.csv").write_text("last run\n")
    settings = tmp_path / "rostermap.toml"
    settings.write_text("[source]\nretries = 2\nbackoff = 0.01\nrate = 0\ntimeout = 0.5\n"
                        "deadline = 0.8\npage_size = 100\n")
    environment = {"ROSTERMAP_TOKEN_URL": server.token_url, **(env or {})}
    code, stdout, err = invoke("run", "powerschool-learning", "--source", server.base_url,
                               "--out", str(out), "--param", "year=2026", "--config",
                               str(settings), *extra, env=environment)
    assert code == 1, err
    assert sorted(p.name for p in out.iterdir()) == ["users.csv"]
    assert (out / "users.csv").read_text() == "last run\n"
    assert "Traceback" not in stdout + err
    assert any(f"error[{code}]" in err for code in ("RM441", "RM448", "RM454"))
    if "error[RM442]" in err or "error[RM443]" in err or "error[RM440]" in err:
        assert "error[RM448]: the fetch from the OneRoster API is incomplete; nothing was " \
            "written" in err
    return err


@pytest.mark.parametrize(("fault", "message"), [
    ("503,entity=enrollments,times=0",
     "GET /enrollments?filter=status='active'&limit=100&offset=0 failed after 3 attempts: "
     "the provider answered 503"),
    ("truncate,entity=users,times=0", "the connection closed before the response was complete"),
    ("bad-json,entity=orgs,times=0", "the body is not complete JSON"),
    ("reset,entity=classes,times=0", "the connection closed before the response was complete"),
    ("slow=2,entity=orgs,times=0", "timed out"),
    ("429=600,entity=users", "the provider asks to wait 600s (Retry-After), longer than "
     "max_retry_after (120s)"),
    ("stall=1,entity=orgs,times=0", "failed after 3 attempts: timed out (ReadTimeout)"),
    ("trickle=0.05,entity=orgs,times=0", "failed after 3 attempts: no complete response within "
     "0.8s"),
    ("html,entity=users,times=0", "failed after 3 attempts: the provider answered 200 with an "
     "HTML page, not JSON"),
    ("redirect,entity=classes", "the provider redirects to http://localhost, which rostermap "
     "does not follow"),
])
def test_a_fetch_that_cannot_complete_writes_nothing(
    serve: Callable[..., Server], tmp_path: Path, fault: str, message: str,
) -> None:
    err = fail_closed(tmp_path, serve(faults=(fault,)))
    assert message in err


@pytest.mark.parametrize("fault", ["stall=1,entity=users", "trickle=0.05,entity=users",
                                   "html,entity=users", "reset,entity=users"])
def test_a_response_that_stalls_trickles_or_is_a_web_page_is_retried(
    serve: Callable[..., Server], tmp_path: Path, csv_run: dict[str, bytes], fault: str,
) -> None:
    started = time.monotonic()
    report = rest_run(serve(faults=(fault,)), tmp_path, timeout=0.5, deadline=0.8)
    assert files_of(tmp_path) == csv_run
    assert report["source"]["fetch"]["users"]["retries"] == 3  # once for each of 3 pages
    assert time.monotonic() - started < 15  # every request has a deadline: never a hang


def test_a_redirect_to_another_host_is_followed_only_when_allowed(
    serve: Callable[..., Server], tmp_path: Path, csv_run: dict[str, bytes],
) -> None:
    server = serve(faults=("redirect,entity=users",))
    with pytest.raises(RunError) as caught:
        rest_run(server, tmp_path / "refused")
    codes = [d.code for d in caught.value.diagnostics]
    assert codes[0] == "RM456" and codes[-1] == "RM448"
    assert "list it in redirect_hosts in [source] (https only)" in str(caught.value)
    assert not (tmp_path / "refused").exists()
    # the request that was redirected was not repeated anywhere
    users = [r for r in server.requests if r.path.endswith("/users")]
    assert [r.status for r in users] == [302]
    report = rest_run(serve(faults=("redirect,entity=users",)), tmp_path / "allowed",
                      redirect_hosts="localhost")
    assert files_of(tmp_path / "allowed") == csv_run
    assert report["source"]["fetch"]["users"]["retries"] == 0


def test_a_provider_that_pages_on_past_max_records_fails_closed(
    serve: Callable[..., Server], tmp_path: Path,
) -> None:
    err = fail_closed(tmp_path, serve(), "--max-records", "150")
    # Collections are fetched at once: whichever of the two large ones crosses first.
    assert re.search(r"error\[RM423\]: /(enrollments|users): the provider serves more than "
                     r"150 records, the limit", err), err


def test_a_failing_later_page_fails_the_whole_run(
    serve: Callable[..., Server], tmp_path: Path,
) -> None:
    # pages 0 and 100 arrive; the page at 200 never does
    err = fail_closed(tmp_path, serve(faults=("503,entity=enrollments,offset=200,times=0",)))
    assert "error[RM442]: GET /enrollments?filter=status='active'&limit=100&offset=200 " \
        "failed after 3 attempts" in err


def test_a_provider_that_ignores_offset_fails_instead_of_looping(
    serve: Callable[..., Server], tmp_path: Path,
) -> None:
    err = fail_closed(tmp_path, serve(faults=("ignore-offset,entity=users",)))
    assert "/users: the provider serves the same records at offset 0 and offset 100: its " \
        "pages do not follow `offset`" in err


def test_refused_credentials_fail_with_a_clear_message(
    serve: Callable[..., Server], tmp_path: Path,
) -> None:
    server = serve()
    err = fail_closed(tmp_path, server, env={"ROSTERMAP_CLIENT_SECRET": SECRET + "-wrong"})
    assert "error[RM441]" in err and "the token endpoint refused the client credentials" in err
    server = serve(auth="oauth1")
    err = fail_closed(tmp_path, server, env={"ROSTERMAP_AUTH": "oauth1",
                                             "ROSTERMAP_CLIENT_SECRET": SECRET + "-wrong"})
    assert "the provider answered 401: signature mismatch" in err


def test_an_unknown_collection_is_a_404_error(
    serve: Callable[..., Server], tmp_path: Path,
) -> None:
    server = serve()
    out = tmp_path / "out"
    with pytest.raises(Exception) as caught:
        run("powerschool-learning", server.root + "/ims/oneroster/v1p1/nothing-here", out,
            ["year=2026"], config=config(server))
    assert "RM447" in str(caught.value)
    assert not out.exists()


def test_plain_http_and_credentials_in_urls_are_refused(rest_env: dict[str, str],
                                                        tmp_path: Path) -> None:
    code, _, err = invoke("run", "powerschool-learning", "--source",
                          "http://sis.example.org/ims/oneroster/v1p1", "--out", str(tmp_path),
                          "--param", "year=2026")
    assert code == 2 and "error[RM444]" in err and "is not https" in err
    code, _, err = invoke("run", "powerschool-learning", "--source",
                          "https://user:hunter2-pass@sis.example.org/ims/oneroster/v1p1",
                          "--out", str(tmp_path), "--param", "year=2026")
    assert code == 2 and "error[RM444]" in err and "hunter2-pass" not in err
    code, _, err = invoke("run", "powerschool-learning", "--source",
                          "https://sis.example.org/ims/oneroster/v1p1", "--out", str(tmp_path),
                          "--param", "year=2026", env={"ROSTERMAP_CLIENT_SECRET": ""})
    assert code == 2 and "error[RM445]" in err
    assert list(tmp_path.iterdir()) == []


QUIRKS = ("json-booleans", "bare-guidrefs", "empty-arrays", "datetime-dates",
          "missing-required", "nulls")


def test_minimal_providers_need_compat_mode(
    serve: Callable[..., Server], tmp_path: Path, csv_run: dict[str, bytes],
) -> None:
    server = serve(version="1.2", quirks=QUIRKS)
    # strict: every record breaks the 1.2 schema; writing the rest would write nothing
    err = fail_closed(tmp_path, server)
    assert "error[RM454]: /users: 227 of 227 records fail the OneRoster 1.2 schema" in err
    assert "try --compat" in err
    compat = rest_run(server, tmp_path / "compat", compat=True)
    assert compat["rejects"] == []
    assert files_of(tmp_path / "compat") == csv_run


def test_compat_reads_int_booleans_and_12_users_under_a_11_path(
    serve: Callable[..., Server], tmp_path: Path, csv_run: dict[str, bytes],
) -> None:
    server = serve(version="1.2", quirks=("int-booleans", "v11-paths"))
    assert server.base_url.endswith("/ims/oneroster/v1p1")
    report = rest_run(server, tmp_path, compat=True)
    assert files_of(tmp_path) == csv_run
    assert report["rejects"] == []
    assert "RM453" in [w["code"] for w in report["warnings"]]


def test_rejected_records_are_report_rows_and_the_sync_goes_on(
    serve: Callable[..., Server], tmp_path: Path,
) -> None:
    server = serve(version="1.2")
    for record in server.data["users"].records[:3]:
        record["enabledUser"] = "yes"  # not "true" or "false"
    server.data["users"].encoded[:3] = [json.dumps(r).encode()
                                        for r in server.data["users"].records[:3]]
    report = rest_run(server, tmp_path, filter=False)
    assert report["rejects"] == [
        {"kind": "source", "record": f"users/{r['sourcedId']}", "entity": "users",
         "sourcedId": r["sourcedId"], "field": "enabledUser",
         "reason": "not one of true, false"} for r in server.data["users"].records[:3]]
    assert report["outcome"] == "partial"
    assert (tmp_path / "users.csv").exists()
    assert all("yes" not in json.dumps(r) for r in report["rejects"])  # values never quoted
