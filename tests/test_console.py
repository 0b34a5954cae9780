"""`rostermap console`: the pages in a real browser, and the security model over HTTP.

The console runs for real on 127.0.0.1 (uvicorn in a thread). The browser tests
drive the system's Chromium through Playwright: log in with the printed token, find
the held tenant, review its run, approve or reject it; a twin tenant gets the same
decision from the command line, and files and state must come out the same. The
refusals are plain HTTP requests (httpx) against the same server. Screenshots of the
main pages go to out/screenshots/ (ignored by git), for review.
"""

from __future__ import annotations

import contextlib
import csv
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from rostermap.cli.main import main
from rostermap.devtools.console import Console, Settings, hash_password
from rostermap.runtime.errors import UsageError
from rostermap.runtime.sync.run import SyncOptions, sync
from tests.conftest import EXAMPLE, ROOT

PROFILE = "powerschool-learning"
PARAMS = ("year=2026",)
SHOTS = ROOT / "out" / "screenshots"


def _shrunk(folder: Path) -> Path:
    """The example district with a third of its users gone: a run over it is held."""
    folder.mkdir()
    for path in EXAMPLE.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    with (EXAMPLE / "users.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    with (folder / "users.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(
            [rows[0], *(r for i, r in enumerate(rows[1:]) if i % 3)])
    return folder


class Tenants:
    """Tenants in a state folder: each synced once from the example district, then held."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.states = tmp / "states"
        self.shrunk = _shrunk(tmp / "shrunk")

    def options(self, name: str) -> SyncOptions:
        return SyncOptions(state=self.states / PROFILE / f"{name}.sqlite", tenant=name)

    def out(self, name: str) -> Path:
        return self.tmp / "out" / name

    def held(self, name: str) -> int:
        assert sync(PROFILE, EXAMPLE, self.out(name), PARAMS, self.options(name)).outcome \
            == "success"
        held = sync(PROFILE, self.shrunk, self.out(name), PARAMS, self.options(name))
        assert held.outcome == "held" and held.run is not None
        return held.run

    def synced(self, name: str) -> None:
        sync(PROFILE, EXAMPLE, self.out(name), PARAMS, self.options(name))

    def state(self, name: str) -> dict[str, Any]:
        """What approve and reject change in a state: runs' outcomes and counts, the
        snapshots and stored records (by content), the pending rows, the reviews."""
        db = sqlite3.connect(self.states / PROFILE / f"{name}.sqlite")
        try:
            return {
                "runs": db.execute("SELECT id, outcome, base_run, publishing, rows, changes "
                                   "FROM runs ORDER BY id").fetchall(),
                "snapshots": db.execute("SELECT output, run, length(data) FROM snapshots "
                                        "ORDER BY output").fetchall(),
                "sources": db.execute("SELECT entity, run FROM sources ORDER BY entity")
                .fetchall(),
                "pending": db.execute("SELECT count(*) FROM pending").fetchone()[0],
                "reviews": db.execute("SELECT run, action, who, note FROM reviews").fetchall(),
            }
        finally:
            db.close()

    def files(self, name: str) -> dict[str, bytes]:
        """The published import files (not the reports, which name their folder)."""
        folder = self.out(name)
        return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.csv"))
                if "held" not in p.parts}


@pytest.fixture
def tenants(tmp_path: Path) -> Tenants:
    return Tenants(tmp_path)


@contextlib.contextmanager
def serving(tenants: Tenants) -> Iterator[Console]:
    """The console over the tenants' state folder, on a free port of 127.0.0.1."""
    running = Console(Settings(folder=tenants.states), port=0)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _browser(chromium: str) -> Any:
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=chromium,
                                         args=["--no-sandbox", "--disable-gpu"])
    return playwright, browser


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _decide_in_browser(chromium: str, console: Console, button: str, note: str,
                       shots: bool) -> str:
    """Log in, find the held tenant, review its run, press ``button``; the page after."""
    playwright, browser = _browser(chromium)
    try:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"{console.url}/")
        assert page.url.endswith("/login")  # no session: the login page
        page.fill("#who", "Sam Support")
        page.fill("#secret", str(console.token))
        page.click("button[type=submit]")
        page.wait_for_url(f"{console.url}/")
        rows = page.locator("#tenants tbody tr")  # held runs first, then the others
        assert "HELD" in rows.first.inner_text() and "oak" in rows.last.inner_text()
        if shots:
            _shot(page, "tenants")
        page.click("#held a:has-text('maple-ui')")
        page.wait_for_url(re.compile(r".*/review$"))
        assert "Held: over a mass-change limit" in page.content()
        if shots:
            _shot(page, "review")
        page.fill(f"#{button}-note", note)
        page.click(f"button.{button}")
        page.wait_for_url(re.compile(r".*/t/[0-9a-f]+\?done=.*"))
        body = page.inner_text("body")
        if shots:
            _shot(page, "history")
            tenant = page.url.split("?")[0]
            page.goto(f"{tenant}/run/1")
            _shot(page, "run")
            page.goto(f"{tenant}/impact?mapping={PROFILE}")
            assert "no change" in page.content()
            _shot(page, "impact")
        return body
    finally:
        browser.close()
        playwright.stop()


def test_approve_in_the_browser_does_what_the_cli_does(chromium: str, tenants: Tenants) -> None:
    run = tenants.held("maple-ui")
    assert tenants.held("maple-cli") == run
    tenants.synced("oak")
    held_files = tenants.files("maple-ui")
    with serving(tenants) as console:
        body = _decide_in_browser(chromium, console, "approve", "district confirmed the move",
                                  shots=True)
    assert f"Run {run} approved." in body
    assert "approved by Sam Support" in body and "district confirmed the move" in body
    cli = CliRunner().invoke(main, ["approve", PROFILE, str(run), "--state",
                                    str(tenants.options("maple-cli").state), "--tenant",
                                    "maple-cli", "--note", "district confirmed the move"])
    assert cli.exit_code == 0, cli.output
    ui_state, cli_state = tenants.state("maple-ui"), tenants.state("maple-cli")
    assert ui_state["reviews"] == [(run, "approved", "Sam Support",
                                    "district confirmed the move")]
    assert cli_state["reviews"][0][:2] == (run, "approved")
    assert {k: v for k, v in ui_state.items() if k != "reviews"} == \
        {k: v for k, v in cli_state.items() if k != "reviews"}
    assert ui_state["runs"][-1][1:4] == ("approved", 1, 0) and ui_state["pending"] == 0
    assert tenants.files("maple-ui") == tenants.files("maple-cli") != held_files
    assert not (tenants.out("maple-ui") / "held" / str(run)).exists()
    listed = CliRunner().invoke(main, ["runs", PROFILE, "--state",
                                       str(tenants.options("maple-ui").state), "--tenant",
                                       "maple-ui"])
    assert "(approved by Sam Support, " in listed.output
    assert "district confirmed the move)" in listed.output


def test_reject_in_the_browser_does_what_the_cli_does(chromium: str, tenants: Tenants) -> None:
    run = tenants.held("maple-ui")
    tenants.held("maple-cli")
    tenants.synced("oak")
    published = tenants.files("maple-ui")
    with serving(tenants) as console:
        body = _decide_in_browser(chromium, console, "reject", "", shots=False)
    assert f"Run {run} rejected." in body and "rejected by Sam Support" in body
    cli = CliRunner().invoke(main, ["reject", PROFILE, str(run), "--state",
                                    str(tenants.options("maple-cli").state), "--tenant",
                                    "maple-cli"])
    assert cli.exit_code == 0, cli.output
    ui_state, cli_state = tenants.state("maple-ui"), tenants.state("maple-cli")
    assert ui_state["reviews"] == [(run, "rejected", "Sam Support", "")]
    assert {k: v for k, v in ui_state.items() if k != "reviews"} == \
        {k: v for k, v in cli_state.items() if k != "reviews"}
    assert ui_state["runs"][-1][1] == "rejected"
    assert tenants.files("maple-ui") == published == tenants.files("maple-cli")
    assert not (tenants.out("maple-ui") / "held" / str(run)).exists()


def _login(console: Console, client: httpx.Client) -> str:
    """A session for ``client``; the CSRF token of its forms."""
    response = client.post("/login", data={"who": "Tess", "secret": str(console.token)})
    assert response.status_code == 303 and "rostermap_session" in client.cookies
    page = client.get("/").text
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_requests_without_a_session_or_csrf_token_are_refused(tenants: Tenants) -> None:
    run = tenants.held("maple")
    before = tenants.state("maple")
    with serving(tenants) as console:
        _refusals(console, run)
    assert tenants.state("maple") == before  # still held, nothing recorded


def _refusals(console: Console, run: int) -> None:
    token = str(console.token)
    with httpx.Client(base_url=console.url) as anonymous:
        assert anonymous.get("/").status_code == 303
        assert anonymous.get("/").headers["location"] == "/login"
        tenants_page = anonymous.get("/login")
        assert "Log in" in tenants_page.text
        assert "default-src 'none'" in tenants_page.headers["content-security-policy"]
        wrong = anonymous.post("/login", data={"who": "x", "secret": "guess"})
        assert wrong.status_code == 403 and "rostermap_session" not in anonymous.cookies
    with httpx.Client(base_url=console.url) as client:
        csrf = _login(console, client)
        page = client.get("/").text
        state_id = re.search(r'href="/t/([0-9a-f]+)/run/\d+/review"', page).group(1)  # type: ignore[union-attr]
        approve = f"/t/{state_id}/run/{run}/approve"
        assert client.get(f"/t/{state_id}/run/{run}/review").status_code == 200
        # a session without the token, with a wrong one, or from another site's page
        assert client.post(approve, data={"note": "x"}).status_code == 403
        assert client.post(approve, data={"csrf": "forged"}).status_code == 403
        assert client.post(approve, data={"csrf": csrf},
                           headers={"Origin": "https://evil.example"}).status_code == 403
        # a request naming another host (DNS rebinding) is refused whatever it carries
        assert client.get("/", headers={"Host": "evil.example"}).status_code == 421
    with httpx.Client(base_url=console.url) as anonymous:
        assert anonymous.post(approve, data={"csrf": csrf}).status_code == 403
        # the login token opened one session; it opens no other
        used = anonymous.post("/login", data={"who": "x", "secret": token})
        assert used.status_code == 403


def test_pages_show_no_personal_values(tenants: Tenants) -> None:
    run = tenants.held("maple")
    with serving(tenants) as console:
        texts = _pages(console, run)
    assert "‹personal›" in texts[-1]
    assert "no change" in texts[-2]  # the current mapping against itself
    with (EXAMPLE / "users.csv").open(encoding="utf-8", newline="") as handle:
        people = list(csv.DictReader(handle))
    personal = {p[f] for p in people for f in ("givenName", "familyName", "email", "username")
                if p[f]}
    shown = [value for value in personal for text in texts if f">{value}<" in text]
    assert shown == []


def _pages(console: Console, run: int) -> list[str]:
    with httpx.Client(base_url=console.url) as client:
        _login(console, client)
        state_id = re.search(r'href="/t/([0-9a-f]+)"', client.get("/").text).group(1)  # type: ignore[union-attr]
        pages = ["/", f"/t/{state_id}", f"/t/{state_id}/run/{run}",
                 f"/t/{state_id}/run/{run}/review", f"/t/{state_id}/run/{run}/report",
                 f"/t/{state_id}/run/{run}/changes/users.csv",
                 f"/t/{state_id}/impact", f"/t/{state_id}/impact?mapping={PROFILE}",
                 f"/t/{state_id}/run/1/changes/users.csv"]
        texts = []
        for path in pages:
            response = client.get(path)
            assert response.status_code == 200, path
            texts.append(response.text)
    return texts


def test_a_password_hash_opens_sessions_and_a_bad_one_is_refused(tenants: Tenants) -> None:
    tenants.synced("oak")
    with pytest.raises(UsageError, match="RM480"):
        Console(Settings(folder=tenants.states), port=0, password_hash="md5$abc")
    console = Console(Settings(folder=tenants.states), port=0,
                      password_hash=hash_password("correct horse"))
    console.start()
    try:
        for _ in range(2):  # a password, unlike the token, works again
            with httpx.Client(base_url=console.url) as client:
                ok = client.post("/login", data={"who": "a", "secret": "correct horse"})
                assert ok.status_code == 303
                assert client.get("/").status_code == 200
        with httpx.Client(base_url=console.url) as client:
            assert client.post("/login", data={"who": "a", "secret": "wrong"}).status_code == 403
    finally:
        console.stop()


def test_a_host_other_than_loopback_needs_tls_or_a_proxy(tenants: Tenants, tmp_path: Path) -> None:
    tenants.synced("oak")
    settings = Settings(folder=tenants.states)
    with pytest.raises(UsageError, match="RM528"):
        Console(settings, host="0.0.0.0", port=0)
    with pytest.raises(UsageError, match="RM529"):
        Console(settings, host="0.0.0.0", port=0, tls_cert=tmp_path / "cert.pem")
    result = CliRunner().invoke(main, ["console", "--states", str(tenants.states),
                                       "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "RM528" in result.output
    empty = CliRunner().invoke(main, ["console", "--states", str(tmp_path / "nothing")])
    assert empty.exit_code == 2 and "RM527" in empty.output


def test_a_tenants_file_names_the_states_shown(tmp_path: Path) -> None:
    tenants = Tenants(tmp_path)
    (tmp_path / "tenants.toml").write_text(f"""
[defaults]
profile = "{PROFILE}"
params = {{ year = 2026 }}

[[tenant]]
name = "north"
source = "{EXAMPLE}"
out = "out/north"
state = "states/powerschool-learning/north.sqlite"

[[tenant]]
name = "south"
source = "{EXAMPLE}"
out = "out/south"
state = "states/powerschool-learning/south.sqlite"

[[tenant]]
name = "never-run"
source = "{EXAMPLE}"
out = "out/never"
state = "states/powerschool-learning/never.sqlite"
""", encoding="utf-8")
    tenants.synced("north")
    tenants.synced("south")
    tenants.synced("elsewhere")  # in the folder, not in the tenants file
    console = Console(Settings(tenants=tmp_path / "tenants.toml"), port=0)
    console.start()
    try:
        with httpx.Client(base_url=console.url) as client:
            _login(console, client)
            page = client.get("/").text
    finally:
        console.stop()
    assert "north" in page and "south" in page
    assert "elsewhere" not in page and "never-run" not in page


def test_a_decision_the_state_refuses_is_shown_not_done(tenants: Tenants) -> None:
    run = tenants.held("maple")
    tenants.synced("maple")  # a later run supersedes the held one
    with serving(tenants) as console, httpx.Client(base_url=console.url) as client:
        csrf = _login(console, client)
        state_id = re.search(r'href="/t/([0-9a-f]+)"', client.get("/").text).group(1)  # type: ignore[union-attr]
        refused = client.post(f"/t/{state_id}/run/{run}/approve", data={"csrf": csrf})
    assert refused.status_code == 409
    assert "RM462" in refused.text and "superseded" in refused.text
    assert tenants.state("maple")["reviews"] == []


def test_hash_password_prints_a_hash_the_console_takes() -> None:
    result = CliRunner().invoke(main, ["console", "--hash-password"],
                                input="correct horse\ncorrect horse\n")
    assert result.exit_code == 0, result.output
    printed = result.output.strip().splitlines()[-1]
    assert printed.startswith("scrypt$16384$8$1$") and "correct horse" not in printed
