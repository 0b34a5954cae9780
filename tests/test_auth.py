"""Credentials, settings and secrets: where they come from, and where they never go."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from rich.console import Console

from rostermap.cli.main import main
from rostermap.cli.progress import progress
from rostermap.devtools.serve import Server
from rostermap.runtime import redact
from rostermap.runtime.errors import UsageError
from rostermap.runtime.report.model import encode
from rostermap.runtime.run.pipeline import run
from rostermap.runtime.sources.auth import (
    AuthError,
    OAuth1Signer,
    OAuth2ClientCredentials,
    verify_oauth1,
)
from rostermap.runtime.sources.config import Credentials, FetchOptions, SourceConfig, load_config
from tests.conftest import CLIENT_ID, SECRET, fast_options

PARAMS = ["year=2026", "google_domain=willowsprings.k12.us"]


def test_settings_come_from_file_then_environment_then_command_line(tmp_path: Path) -> None:
    file = tmp_path / "rostermap.toml"
    file.write_text('[source]\nclient_id = "from-file"\nclient_secret = "file-secret-1"\n'
                    'token_url = "https://sis.example.org/token"\npage_size = 250\n'
                    "compat = true\n")
    file.chmod(0o600)  # it holds the secret: others may not read it (RM455)
    config = load_config(file, {"page_size": None, "rate": 2.5},
                         {"ROSTERMAP_CLIENT_ID": "from-env", "ROSTERMAP_CONFIG": "/nowhere"})
    c = config.credentials
    assert (c.method, c.client_id, c.client_secret) == ("oauth2", "from-env", "file-secret-1")
    assert "file-secret-1" not in repr(config)
    assert (config.options.page_size, config.options.rate, config.options.compat) == (250, 2.5,
                                                                                      True)
    assert load_config(None, None, {"ROSTERMAP_CLIENT_ID": "a", "ROSTERMAP_CLIENT_SECRET": "bbbb"}
                       ).credentials.method == "oauth1"
    assert load_config(None, None, {}).credentials.method == "none"


def test_a_config_file_others_can_read_or_change_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "rostermap.toml"
    file.write_text('[source]\nclient_id = "a"\nclient_secret = "file-secret-1"\n')
    file.chmod(0o644)
    with pytest.raises(UsageError) as caught:
        load_config(file, None, {})
    error = caught.value.diagnostics[0]
    assert (error.code, caught.value.exit_code) == ("RM455", 2)
    assert error.message == f"config file `{file}` can be read by other users of this machine"
    assert error.notes == ("note: its mode is 644, and it holds the client secret",
                           f"help: chmod 600 {file}")
    assert "file-secret-1" not in str(caught.value)
    for mode in (0o600, 0o640, 0o400):  # the owner (and its group) only: accepted
        file.chmod(mode)
        assert load_config(file, None, {}).credentials.client_secret == "file-secret-1"
    file.write_text("[source]\npage_size = 10\n")  # no secret: anyone may read it ...
    file.chmod(0o644)
    assert load_config(file, None, {}).options.page_size == 10
    file.chmod(0o666)  # ... but not change it: token_url decides where the secret goes
    with pytest.raises(UsageError) as caught:
        load_config(file, None, {})
    assert "can be changed by other users" in str(caught.value)
    result = CliRunner().invoke(main, ["run", "powerschool-learning", "--source",
                                       "https://sis.example.org/ims/oneroster/v1p1", "--out",
                                       str(tmp_path / "out"), "--param", "year=2026",
                                       "--config", str(file)])
    assert result.exit_code == 2 and "error[RM455]" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("text", "message"), [
    ("[source]\npage_sise = 10\n", "unknown setting `page_sise` in [source]"),
    ("[source]\nretries = -1\n", "`retries` must be 0 or more"),
    ("[source]\npage_size = 0\n", "`page_size` must be at least 1"),
    ("[source]\ncompat = 'maybe'\n", "`compat` takes true or false"),
    ("[source]\nauth = 'kerberos'\n", "`auth` is `kerberos`, not one of oauth2, oauth1, none"),
    ("[source\n", "is not valid TOML"),
])
def test_bad_settings_are_usage_errors(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "bad.toml"
    file.write_text(text)
    with pytest.raises(UsageError) as caught:
        load_config(file, None, {})
    assert message in str(caught.value) and caught.value.exit_code == 2


def test_no_option_takes_a_credential() -> None:
    result = CliRunner().invoke(main, ["run", "--help"])
    assert "secret" not in result.stdout.lower().replace("rostermap_client_secret", "")


def test_redaction_masks_registered_secrets_everywhere() -> None:
    redact.register("tok-abc/+=123")
    assert redact.redact("Bearer tok-abc/+=123 and tok-abc%2F%2B%3D123") == (
        f"Bearer {redact.MASK} and {redact.MASK}")
    assert redact.redact_data({"k": ["x tok-abc/+=123"]}) == {"k": [f"x {redact.MASK}"]}
    assert str(AuthError("the provider said tok-abc/+=123")) == f"the provider said {redact.MASK}"


def test_oauth2_token_is_cached_and_renewed_before_it_expires(
    serve: Callable[..., Server],
) -> None:
    server = serve(token_lifetime=100)
    now = [1000.0]

    async def go() -> list[str]:
        async with httpx.AsyncClient() as http:
            auth = OAuth2ClientCredentials(
                Credentials("oauth2", CLIENT_ID, SECRET, server.token_url), http,
                clock=lambda: now[0])
            first = await auth.token()
            assert await auth.token() == first  # cached
            now[0] += 85  # 15 s left: more than the leeway (10% of the lifetime): cached
            second = await auth.token()
            now[0] += 6  # 9 s left: renewed before it expires
            third = await auth.token()
            async with httpx.AsyncClient(auth=auth) as api:
                response = await api.get(f"{server.base_url}/orgs")
            assert response.status_code == 200
            return [first, second, third]

    first, second, third = asyncio.run(go())
    assert first == second != third
    assert server.tokens_issued == 2


def test_oauth1_signatures_verify_and_replays_are_refused(serve: Callable[..., Server]) -> None:
    server = serve(auth="oauth1")
    url = f"{server.base_url}/orgs?filter=status%3D%27active%27&limit=5"
    for method in ("HMAC-SHA1", "HMAC-SHA256"):
        signer = OAuth1Signer(Credentials("oauth1", CLIENT_ID, SECRET,
                                          signature_method=method))
        request = httpx.Request("GET", url)
        signed = next(signer.auth_flow(request))
        header = signed.headers["Authorization"]
        assert f'oauth_signature_method="{method}"' in header
        assert verify_oauth1("GET", url, {"Authorization": header}, CLIENT_ID, SECRET)[0] is None
        assert verify_oauth1("GET", url, {"Authorization": header}, CLIENT_ID,
                             "another-secret")[0] == "signature mismatch"
        with httpx.Client() as client:
            assert client.send(signed).status_code == 200
            assert client.send(signed).status_code == 401  # the same nonce again


def test_a_secret_in_the_environment_never_shows(
    serve: Callable[..., Server], tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    """Plant the secret, run REST syncs that succeed and fail, and grep everything."""
    caplog.set_level(logging.DEBUG)  # every logger: rostermap's, httpx's, httpcore's
    outputs: list[str] = []  # stdout, stderr, report.json and output files of every run
    tokens: list[str] = []  # the access tokens the server issued: secrets too
    runner = CliRunner()
    for number, (auth, faults, env) in enumerate((
        ("oauth2", ("503,entity=users", "expire-token=0.2"), {}),
        ("oauth1", ("500,entity=orgs",), {"ROSTERMAP_AUTH": "oauth1"}),
        ("oauth2", ("503,entity=users,times=0",), {}),  # fails closed
        ("oauth2", (), {"ROSTERMAP_CLIENT_SECRET": SECRET + "-x"}),  # refused
    )):
        server = serve(auth=auth, faults=faults)
        out = tmp_path / f"out{number}"
        result = runner.invoke(main, [
            "run", "powerschool-learning", "--source", server.base_url, "--out", str(out),
            *(f"--param={p}" for p in PARAMS), "--rate", "0", "--retries", "2",
            "--page-size", "100"], env={"ROSTERMAP_TOKEN_URL": server.token_url, **env})
        outputs += [result.stdout, result.stderr]
        if out.exists():
            outputs += [p.read_text() for p in out.rglob("*") if p.is_file()]
        tokens += list(server._tokens)
    console = Console(file=StringIO(), force_terminal=True, width=120)
    server = serve()
    with progress(False, console) as observer:
        report = run("powerschool-learning", server.base_url, tmp_path / "p", PARAMS,
                     config=SourceConfig(Credentials("oauth2", CLIENT_ID, SECRET,
                                                     server.token_url), fast_options()),
                     observer=observer).report
    tokens += list(server._tokens)
    display = console.file.getvalue()  # type: ignore[attr-defined]
    assert "enrollments" in display and "records" in display and "pages" in display
    outputs += [display, encode(report), caplog.text]
    everything = "\n".join(outputs)
    # the runs did what they were meant to: success, retries, a fail-closed run, a refusal
    assert "wrote 14 files" in everything and "error[RM448]" in everything
    assert "error[RM441]" in everything and "retry 1 of 2" in caplog.text
    assert len(tokens) >= 4
    assert SECRET not in everything
    for token in tokens:
        assert token not in everything


def test_defaults_suit_a_real_sis() -> None:
    options = FetchOptions()
    assert (options.concurrency, options.http2, options.filter, options.compat) == (4, False,
                                                                                   True, False)
