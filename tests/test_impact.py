"""`rostermap impact`: an edited mapping against the current one, on the same records.

The edit here is the one the issue names: powerschool-learning with one column
changed (classes.csv's code lower-cased) and one rule tightened (users.csv also
wants an email). Its findings are checked against two full runs of the mappings,
compared file by file here, independently of the code under test.
"""

from __future__ import annotations

import csv
import datetime as dt
import sqlite3
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from rostermap.cli.main import main
from rostermap.runtime.report.impact import Impact, ManyImpact, schema
from rostermap.runtime.run.pipeline import run
from rostermap.runtime.sync.changes import SEP
from rostermap.runtime.sync.impact import impact
from rostermap.runtime.sync.run import SyncOptions, sync
from tests.conftest import EXAMPLE, ROOT

PROFILE = "powerschool-learning"
TODAY = dt.date(2026, 3, 2)
PARAMS = ("year=2026", "google_domain=willowsprings.k12.us")
KEYS = {"users.csv": ("user_id",), "users_custom.csv": ("user_id",),
        "organizations.csv": ("organization_id",), "classes.csv": ("class_id",),
        "classes_custom.csv": ("class_id",), "rosters.csv": ("class_id", "user_id")}


def edited_mapping(folder: Path) -> Path:
    text = (ROOT / "rostermap" / "mappings" / f"{PROFILE}.rmap").read_text(encoding="utf-8")
    column = "  code            <- classCode "
    rule = '  where role in ("student", "teacher")\n'
    assert text.count(column) == 1 and rule in text
    text = text.replace(column, "  code            <- lower(classCode) ")
    text = text.replace(rule, '  where role in ("student", "teacher") and email is not empty\n', 1)
    path = folder / f"{PROFILE}-edited.rmap"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def tenant(tmp_path: Path) -> SyncOptions:
    """A tenant whose last committed run stored the example district's records."""
    options = SyncOptions(state=tmp_path / "maple.sqlite", tenant="maple")
    synced = sync(PROFILE, EXAMPLE, tmp_path / "published", PARAMS, options, today=TODAY)
    assert synced.outcome == "success"
    return options


def _rows(path: Path, key: tuple[str, ...]) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows: dict[str, dict[str, str]] = {}
        for row in csv.DictReader(handle):
            rows.setdefault(SEP.join(row[k] for k in key), row)
    return rows


def _dump(state: Path) -> list[str]:
    db = sqlite3.connect(state)
    try:
        return list(db.iterdump())
    finally:
        db.close()


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_impact_reports_exactly_what_two_full_runs_differ_by(tenant: SyncOptions,
                                                              tmp_path: Path) -> None:
    edited = edited_mapping(tmp_path)
    assert tenant.state is not None
    state_before, published_before = _dump(tenant.state), _files(tmp_path / "published")

    found = impact(PROFILE, str(edited), options=tenant, today=TODAY)

    # nothing published, no state changed
    assert _dump(tenant.state) == state_before
    assert _files(tmp_path / "published") == published_before
    # two full runs of the mappings, compared file by file
    run(PROFILE, EXAMPLE, tmp_path / "current", PARAMS, today=TODAY)
    run(str(edited), EXAMPLE, tmp_path / "edited", PARAMS, today=TODAY)
    for output, key in KEYS.items():
        old = _rows(tmp_path / "current" / output, key)
        new = _rows(tmp_path / "edited" / output, key)
        d = found.diffs[output]
        assert d.appears == new.keys() - old.keys(), output
        assert d.disappears == old.keys() - new.keys(), output
        changed = {k for k in old.keys() & new.keys() if old[k] != new[k]}
        assert d.changes == changed, output
        for column in {c for k in changed for c in old[k] if old[k][c] != new[k][c]}:
            assert d.columns[column] == {k for k in changed if old[k][column] != new[k][column]}
    outputs = {o.output: o for o in found.impact.outputs}
    # the column changed: every class's code; the rule: users without an email, and
    # what hangs on them
    assert outputs["classes.csv"].changes == outputs["classes.csv"].before > 0
    assert [(c.column, c.rows) for c in outputs["classes.csv"].columns] == [
        ("code", outputs["classes.csv"].before)]
    assert outputs["users.csv"].disappears > 0 and outputs["users.csv"].appears == 0
    assert outputs["rosters.csv"].disappears > 0
    assert outputs["organizations.csv"].share == 0
    rules = {(r.output, r.rule): (r.before, r.after) for r in found.impact.rules}
    assert rules[("users.csv", 'where role in ("student", "teacher")')][1] is None
    tightened = rules[("users.csv", 'where role in ("student", "teacher") and email is not empty')]
    assert tightened[0] is None and tightened[1] > 0  # type: ignore[operator]
    assert found.impact.run == 1 and found.impact.tenant == "maple"


def test_samples_mask_personal_values_unless_asked(tenant: SyncOptions, tmp_path: Path) -> None:
    edited = edited_mapping(tmp_path)
    masked = impact(PROFILE, str(edited), options=tenant).impact
    assert masked.today == TODAY.isoformat()  # the stored run's date, as its parameters
    users = next(o for o in masked.outputs if o.output == "users.csv")
    sample = users.samples[0]
    assert sample.kind == "disappears" and sample.before is not None
    assert sample.before["first_name"] == sample.before["email"] == "‹personal›"
    assert sample.before["user_type"] in ("S", "T") and sample.key == "‹personal›"
    shown = impact(PROFILE, str(edited), options=tenant, today=TODAY, show_pii=True).impact
    users = next(o for o in shown.outputs if o.output == "users.csv")
    assert users.samples[0].before["first_name"] != "‹personal›"  # type: ignore[index]
    assert shown.pii_shown


def test_the_cli_writes_impact_files_and_fails_over_the_limit(tenant: SyncOptions,
                                                              tmp_path: Path) -> None:
    edited = edited_mapping(tmp_path)
    args = ["impact", PROFILE, str(edited), "--state", str(tenant.state), "--tenant", "maple",
            "--today", "2026-03-02", "--report-dir", str(tmp_path / "impact")]
    within = CliRunner().invoke(main, [*args, "--fail-over", "100%"])
    assert within.exit_code == 0, within.output
    assert "classes.csv" in within.output and "code: 46 row(s) changed" in within.output
    text = (tmp_path / "impact" / "impact.json").read_text(encoding="utf-8")
    decoded = msgspec.json.decode(text, type=Impact)
    assert decoded.fail_over == 100 and not decoded.over
    assert schema()["$defs"]["Impact"]["properties"]["outputs"]
    html = (tmp_path / "impact" / "impact.html").read_text(encoding="utf-8")
    assert "classes.csv" in html and "‹personal›" in html
    over = CliRunner().invoke(main, [*args, "--fail-over", "5%"])
    assert over.exit_code == 4 and "over --fail-over 5%" in over.output
    same = str(ROOT / "rostermap" / "mappings" / f"{PROFILE}.rmap")
    unchanged = CliRunner().invoke(main, [*args[:2], same, *args[3:], "--fail-over", "0"])
    assert unchanged.exit_code == 0 and "largest change: 0.0%" in unchanged.output


def test_on_a_source_package(tmp_path: Path) -> None:
    edited = edited_mapping(tmp_path)
    found = impact(PROFILE, str(edited), source=EXAMPLE, params=PARAMS, today=TODAY).impact
    assert found.run is None and found.tenant is None
    assert next(o for o in found.outputs if o.output == "classes.csv").changes == 46


def test_a_state_without_stored_records_is_a_coded_error(tmp_path: Path) -> None:
    state = tmp_path / "none.sqlite"
    failed = CliRunner().invoke(main, ["run", PROFILE, "--source", str(EXAMPLE), "--out",
                                       str(tmp_path / "out"), "--state", str(state),
                                       "--param", "year=soon"])
    assert failed.exit_code == 2 and state.exists()
    result = CliRunner().invoke(main, ["impact", PROFILE, str(edited_mapping(tmp_path)),
                                       "--state", str(state)])
    assert result.exit_code == 2 and "RM525" in result.output


def test_run_many_impact_summarises_every_tenant_of_the_profile(tmp_path: Path) -> None:
    tenants = tmp_path / "tenants.toml"
    tenants.write_text(f"""
[defaults]
profile = "{PROFILE}"
params = {{ year = 2026 }}
today = 2026-03-02

[[tenant]]
name = "north"
source = "{EXAMPLE}"
out = "out/north"
state = "north.sqlite"

[[tenant]]
name = "south"
source = "{EXAMPLE}"
out = "out/south"
state = "south.sqlite"
params = {{ schools = ["sch-1"] }}

[[tenant]]
name = "other"
profile = "canvas"
source = "{EXAMPLE}"
out = "out/other"
""", encoding="utf-8")
    synced = CliRunner().invoke(main, ["run-many", str(tenants), "--jobs", "2"])
    assert "north" in synced.output
    edited = edited_mapping(tmp_path)
    result = CliRunner().invoke(main, ["run-many", str(tenants), "--impact", str(edited),
                                       "--jobs", "2", "--report-dir", str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["tenant", "appears", "disappears", "changes", "largest"]
    assert [line.split()[0] for line in lines[1:3]] == ["north", "south"]
    assert "2 tenant(s) of powerschool-learning: 0 failed" in result.output
    many = msgspec.json.decode((tmp_path / "rep" / "impact.json").read_bytes(), type=ManyImpact)
    north, south = (t.impact for t in many.tenants)
    assert north is not None and south is not None
    assert sum(o.changes for o in south.outputs) < sum(o.changes for o in north.outputs)
    assert "south" in (tmp_path / "rep" / "impact.html").read_text(encoding="utf-8")
