"""Every output file of the profiles on the example district and on sample packages.

Snapshots: a change in any output row shows up in review. The suite's own sample
packages (tests/fixtures/samples/) run everywhere; the public sample sets of the real
corpus run where ROSTERMAP_CORPUS names it (see tests/conftest.py).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rostermap.runtime.run.pipeline import run
from tests.conftest import EXAMPLE, SAMPLES

OWN_SAMPLES = sorted(p.name for p in SAMPLES.iterdir() if p.is_dir())
# The corpus' sets by name, not found by a search: a set missing from the corpus fails
# its test rather than dropping out of the run.
SAMPLE_SETS = [Path("oneroster-samples", set_) for set_ in (
    "edfi-lms-toolkit-or11",
    "moodle-enrol-oneroster-fixtures/Test_full_data_set.zip",
    "moodle-enrol-oneroster-fixtures/Test_minimal_data_set.zip",
    "moodle-enrol-oneroster-fixtures/oneroster_test_data.zip",
    "moodle-enrol-oneroster-fixtures/v1p2_full_dataset.zip",
)]
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


@pytest.mark.parametrize("sample", OWN_SAMPLES)
def test_own_sample_packages(sample: str, sample_package: Callable[..., Path], tmp_path: Path,
                             text_snapshot) -> None:  # type: ignore[no-untyped-def]
    """Untidy packages end in the same seven files as a tidy one; the output files of
    each package are one snapshot."""
    result = run("powerschool-learning", sample_package(sample, as_zip=True), tmp_path / "out",
                 ["year=2026"])
    assert len(result.files) == 8  # with report.json and report.html
    outputs = "".join(f"== {path.name}\n{path.read_text(encoding='utf-8')}"
                      for path in result.files if path.suffix == ".csv")
    assert outputs == text_snapshot


@pytest.mark.parametrize("sample", SAMPLE_SETS, ids=[p.name for p in SAMPLE_SETS])
def test_public_sample_sets(sample: Path, corpus: Path, tmp_path: Path,
                            text_snapshot) -> None:  # type: ignore[no-untyped-def]
    result = run("powerschool-learning", corpus / sample, tmp_path, ["year=2026"])
    assert len(result.files) == 8  # with report.json and report.html
    for path in result.files:
        if path.suffix == ".csv":
            assert path.read_text(encoding="utf-8") == text_snapshot(name=path.name)
