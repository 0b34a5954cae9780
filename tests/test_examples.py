"""Every output file of the profiles on the example district and the public sample sets.

Snapshots: a change in any output row shows up in review. The public sets live in
../shared/data (beside the project, on every machine and in CI).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from rostermap.runtime.run.pipeline import run
from tests.conftest import EXAMPLE, SHARED

SAMPLES = SHARED / "data" / "oneroster-samples"
SAMPLE_SETS = sorted(
    [p for p in SAMPLES.glob("*") if p.is_dir() and any(p.glob("*.csv"))]
    + list(SAMPLES.glob("*/*.zip"))
) if SAMPLES.is_dir() else []
PARAMS = ["year=2026", "google_domain=willowsprings.k12.us"]
TODAY = dt.date(2026, 11, 25)


def stable(report: dict[str, Any]) -> dict[str, Any]:
    """The report without what changes from run to run (times, absolute paths)."""
    out = {k: v for k, v in report.items() if k not in ("started", "finished", "seconds")}
    out["mapping"] = Path(report["mapping"]).name
    out["source"] = {**report["source"], "path": Path(report["source"]["path"]).name}
    return out


def test_example_district_outputs(tmp_path: Path, text_snapshot, snapshot) -> None:  # type: ignore[no-untyped-def]
    result = run("powerschool-learning", EXAMPLE, tmp_path, PARAMS, today=TODAY)
    for path in result.files:
        if path.suffix == ".csv":
            assert path.read_text(encoding="utf-8") == text_snapshot(name=path.name)
    report = json.loads((tmp_path / "report.json").read_text())
    assert stable(report) == snapshot(name="report")


@pytest.mark.skipif(not SAMPLE_SETS, reason="../shared/data is not beside the project")
@pytest.mark.parametrize("sample", SAMPLE_SETS, ids=[p.name for p in SAMPLE_SETS])
def test_public_sample_sets(sample: Path, tmp_path: Path, text_snapshot) -> None:  # type: ignore[no-untyped-def]
    result = run("powerschool-learning", sample, tmp_path, ["year=2026"])
    assert len(result.files) == 7
    for path in result.files:
        if path.suffix == ".csv":
            assert path.read_text(encoding="utf-8") == text_snapshot(name=path.name)
