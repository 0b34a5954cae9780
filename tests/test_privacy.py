"""Secrets and students' personal data: planted, then looked for in everything a run leaves.

A student with unmistakable names, email, username and identifier is planted in a
generated district, a secret parameter and the REST client secret in the
environment. Then the commands run as a district would run them: syncs that
succeed, drop records with a warning, fail on broken data, fetch from an API with
faults and fail closed, and explain the planted student. Every artefact (stdout,
stderr, log records of every logger, every file written, temporary files) is
grepped: the secrets appear nowhere but the one import file a profile writes the
password to, and the student's personal data nowhere but the import files
themselves (and `explain --show-pii`, which is asked for). Reports and explain
name the student by sourcedId. Files are written readable by their owner only.
(tests/conftest.py also greps every file the whole test run wrote for the REST
secret, when the run ends.)
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from rostermap.cli.main import main
from rostermap.devtools.generate import generate
from rostermap.devtools.serve import Server
from tests.conftest import SECRET

PASSWORD = "planted-password-Xq81vB"  # powerschool-sis's secret parameter default_password
PERSONAL = ("Quillon", "Zebrowska", "quillon.zebrowska@planted.example", "qzebrowska77",
            "PLANTED-ID-7731")


def plant(district: Path) -> str:
    """Give the first student of users.csv the planted personal data; return its sourcedId."""
    path = district / "users.csv"
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))
    header = rows[0]
    student = next(r for r in rows[1:] if r[header.index("role")] == "student"
                   and r[header.index("status")] in ("", "active")
                   and r[header.index("enabledUser")].lower() == "true")
    for column, value in zip(("givenName", "familyName", "email", "username", "identifier"),
                             PERSONAL, strict=True):
        student[header.index(column)] = value
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return student[0]


def broken(district: Path, target: Path, row_edit: Callable[[str], str]) -> Path:
    """A copy of the district whose planted student's users.csv line is edited."""
    target.mkdir()
    for file in district.iterdir():
        text = file.read_bytes()
        if file.name == "users.csv":
            lines = text.decode("utf-8").split("\n")
            lines = [row_edit(line) if PERSONAL[0] in line else line for line in lines]
            text = "\n".join(lines).encode("utf-8")
        (target / file.name).write_bytes(text)
    return target


@pytest.fixture
def district(tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "district"
    generate(root, students=40, seed=11)
    return root, plant(root)


def test_secrets_and_personal_data_stay_where_they_belong(
    district: tuple[Path, str], tmp_path: Path, serve: Callable[..., Server],
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, student = district
    caplog.set_level(logging.DEBUG)  # every logger: rostermap's, httpx's, httpcore's
    temporary = tmp_path / "temp"  # where the runs' temporary files go
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    monkeypatch.setenv("ROSTERMAP_PARAM_DEFAULT_PASSWORD", PASSWORD)
    runner = CliRunner()
    printed: list[str] = []  # stdout and stderr of every command
    shown_pii: list[str] = []  # what was printed with --show-pii
    outs: list[Path] = []

    def cli(*args: str, env: dict[str, str] | None = None) -> Result:
        result = runner.invoke(main, list(args), env=env)
        assert result.exception is None or isinstance(result.exception, SystemExit), \
            result.exception
        printed.extend([result.stdout, result.stderr])
        return result

    def run(profile: str, source: Path | str, *params: str, env: dict[str, str] | None = None,
            ) -> Result:
        out = tmp_path / f"out{len(outs)}"
        outs.append(out)
        return cli("run", profile, "--source", str(source), "--out", str(out),
                   *(f"--param={p}" for p in params), "--today", "2025-09-15", env=env)

    # syncs that succeed, one of them writing the secret password into users.csv
    assert run("powerschool-sis", root, "start_year=2020").exit_code in (0, 3)
    assert run("powerschool-learning", root, "year=2026").exit_code == 0
    # the planted student's email is outside the domains: dropped, named in the report
    formative = run("formative", root, "orgs=dist-1", "email_domains=clearwater.k12.us")
    assert formative.exit_code == 0, formative.stderr
    report = json.loads((outs[-1] / "report.json").read_text())
    dropped = next(w for w in report["warnings"] if w["code"] == "RM422")
    assert f"users/{student}" in dropped["records"]  # by sourcedId
    # broken data on the planted student's line: refused, located, nothing quoted
    for number, edit in enumerate((
        lambda line: line.replace(PERSONAL[0], '"' + PERSONAL[0]),  # an unclosed quote
        lambda line: line.replace(PERSONAL[1], PERSONAL[1] + "\x00"),  # a NUL byte
        lambda line: line + "," + PERSONAL[2],  # a field more than the header
        lambda line: line.replace(",true,", f",{PERSONAL[0]},", 1),  # a name as enabledUser
    )):
        source = broken(root, tmp_path / f"broken{number}", edit)
        result = run("powerschool-sis", source, "start_year=2020")
        assert result.exit_code in (0, 1, 3), result.stderr
    # explain names the student by sourcedId; personal values only when asked
    plain = cli("explain", "powerschool-sis", "--source", str(root), "--record",
                f"users/{student}", "--param", "start_year=2020")
    assert plain.exit_code == 0 and f"users/{student}" in plain.stdout
    assert "personal data; --show-pii shows it" in plain.stdout
    asked = runner.invoke(main, ["explain", "powerschool-sis", "--source", str(root),
                                 "--record", f"users/{student}", "--param", "start_year=2020",
                                 "--show-pii"])
    assert PERSONAL[0] in asked.stdout  # the control: the grep below would see them
    shown_pii.append(asked.stdout)
    # an API: a sync through faults, and one that fails closed
    tokens: list[str] = []
    settings = tmp_path / "rostermap.toml"
    settings.write_text("[source]\nretries = 2\nbackoff = 0.01\nrate = 0\npage_size = 100\n")
    for faults, code in ((("503,entity=users", "expire-token=0.3"), 0),
                         (("503,entity=users,times=0",), 1)):
        server = serve(package=root, faults=faults)
        result = run("powerschool-learning", server.base_url, "year=2026",
                     env={"ROSTERMAP_TOKEN_URL": server.token_url,
                          "ROSTERMAP_CONFIG": str(settings)})
        assert result.exit_code == code, result.stderr
        tokens += list(server._tokens)  # access tokens are secrets too

    # a library that logs what it sends (an HTTP client at DEBUG, a proxy's error)
    logging.getLogger("httpcore.http11").debug("send_request_headers Authorization: "
                                               "Bearer %s", tokens[0])
    logging.getLogger("urllib3").warning("token request failed: client_secret=%s&x=%s",
                                         SECRET, PASSWORD)

    # --- every artefact ---------------------------------------------------------------
    data_files: list[Path] = []  # the import files: they hold personal data by design
    other_files: list[Path] = []
    for out in outs:
        if not out.exists():
            continue
        files = [p for p in out.rglob("*") if p.is_file()]
        names = set(json.loads((out / "report.json").read_text())["outputs"]) \
            if (out / "report.json").exists() else set()
        for folder in (p for p in out.rglob("*") if p.is_dir()):
            assert folder.stat().st_mode & 0o777 == 0o700, folder  # changes/, held/RUN
        for file in files:
            assert file.stat().st_mode & 0o777 == 0o600, file  # the owner's only
            # import files and their change files (changes/users.csv) hold the data
            (data_files if file.name in names else other_files).append(file)
    assert list(temporary.iterdir()) == []  # no expanded entry or staging folder left
    everything = "\n".join([*printed, caplog.text, *(f.read_text() for f in other_files)])
    for code in ("RM407", "RM408", "RM415"):
        assert f"error[{code}]" in everything
    for secret in (SECRET, PASSWORD, *tokens):
        assert secret not in everything
        assert secret not in "\n".join(shown_pii)
        for file in data_files:
            if secret == PASSWORD and outs[0] in file.parents and file.name == "users.csv":
                assert PASSWORD in file.read_text()  # where the profile writes it
            else:
                assert secret not in file.read_text(), file
    for value in PERSONAL:
        assert value not in everything, value
    assert student in everything


def test_os_permissions_of_outputs_do_not_depend_on_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        result = CliRunner().invoke(main, ["run", "powerschool-learning", "--source",
                                           str(Path(__file__).parent.parent / "examples" /
                                               "district"), "--out", str(tmp_path),
                                           "--param", "year=2026", "--quiet"])
    finally:
        os.umask(old)
    assert result.exit_code == 0
    assert {p.stat().st_mode & 0o777 for p in tmp_path.rglob("*") if p.is_file()} == {0o600}
    assert {p.stat().st_mode & 0o777 for p in tmp_path.rglob("*") if p.is_dir()} == {0o700}
