"""What a run says about itself: the summary's counts, the files it writes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from rostermap.cli.main import main
from tests.conftest import EXAMPLE

PROFILE = """\
profile links "Links"

output links.csv from users
  for each other in agents
  key user_id, agent_id

  user_id  <- sourcedId
  agent_id <- other.sourcedId


output users.csv from users
  key user_id

  user_id <- sourcedId
"""


def test_a_run_without_state_says_what_it_read_and_writes_its_page(tmp_path: Path) -> None:
    profile = tmp_path / "links.rmap"
    profile.write_text(PROFILE, encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(profile), "--source", str(EXAMPLE), "--out",
                                       str(out), "--no-state"])
    assert result.exit_code == 0, result.stderr
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    links, users = report["outputs"]["links.csv"], report["outputs"]["users.csv"]
    assert links["each"] == "other" and users["each"] is None
    # a `for each` output reads (record, item) pairs, not records
    assert f"from {links['read']} (user, other) pairs" in result.stdout
    assert f"from {users['read']} users" in result.stdout
    assert links["read"] != users["read"]
    # report.html, as docs/language.md says `run` writes, with or without state
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "links.csv" in page and page.lower().startswith("<!doctype html>")
    assert "wrote 4 files" in result.stdout
