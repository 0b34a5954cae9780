"""Golden renderings of impact's and the console's codes (RM525-RM529, RM480), each
provoked through the command line as a user meets it, normalised as
test_runtime_diagnostics normalises its own; that file's completeness test finds
them in this file's snapshots."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from tests.conftest import EXAMPLE, ROOT
from tests.test_runtime_diagnostics import PROBE, cli, normalise

PROFILE = "powerschool-learning"
MAPPING = str(ROOT / "rostermap" / "mappings" / f"{PROFILE}.rmap")


def _no_stored_records(tmp: Path) -> str:
    state = tmp / "state.sqlite"
    cli("run", PROFILE, "--source", str(EXAMPLE), "--out", str(tmp / "out"), "--state",
        str(state), "--param", "year=soon", exit=2)  # a failed run: no records kept
    return cli("impact", PROFILE, MAPPING, "--state", str(state), exit=2)[1]


def _no_tenant_of_profile(tmp: Path) -> str:
    tenants = tmp / "tenants.toml"
    tenants.write_text(f'[[tenant]]\nname = "north"\nprofile = "{PROBE}"\n'
                       f'source = "{EXAMPLE}"\nout = "out"\n', encoding="utf-8")
    return cli("run-many", str(tenants), "--impact", MAPPING, exit=2)[1]


def _no_states(tmp: Path) -> str:
    return cli("console", "--states", str(tmp / "empty"), exit=2)[1]


def _exposed(tmp: Path) -> str:
    return cli("console", "--states", str(tmp), "--host", "0.0.0.0", exit=2)[1]


def _tls_half_given(tmp: Path) -> str:
    return cli("console", "--states", str(tmp), "--host", "0.0.0.0", "--tls-cert",
               str(tmp / "cert.pem"), exit=2)[1]


def _bad_password_hash(tmp: Path) -> str:
    return cli("console", "--states", str(tmp), exit=2,
               env={"ROSTERMAP_CONSOLE_PASSWORD_HASH": "md5$0123"})[1]


CASES: dict[str, Callable[[Path], str]] = {
    "RM525": _no_stored_records, "RM526": _no_tenant_of_profile, "RM527": _no_states,
    "RM528": _exposed, "RM529": _tls_half_given, "RM480": _bad_password_hash,
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_console_diagnostic(code: str, tmp_path: Path, snapshot: SnapshotAssertion) -> None:
    text = normalise(CASES[code](tmp_path), tmp_path)
    assert f"error[{code}]" in text, text
    assert text == snapshot
