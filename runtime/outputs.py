"""Write output files so that a failed run leaves the previous files as they were.

Every file of a run is first written into a staging folder inside the output
folder (same filesystem, so the final moves are renames), and only when all of
them are complete are they moved into place. A run that fails before that point
removes its staging folder and touches nothing else. Files are created readable by
their owner only: they hold students' personal data.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

__all__ = ["FILE_MODE", "write_outputs"]

FILE_MODE = 0o600


_SLICE = 1 << 18  # rows written at a time


def _write_csv(frame: pl.DataFrame, path: Path) -> None:
    # Empty text is written as an empty field (a,,b), never as "": importers differ
    # on whether "" is empty, and no product asks for it. A slice at a time, so that
    # the blanked copy of a large output is never whole in memory (issue 8).
    with open(path, "wb") as handle:
        for start in range(0, max(frame.height, 1), _SLICE):
            blanks = frame.slice(start, _SLICE).with_columns(pl.col(pl.String).replace("", None))
            blanks.write_csv(handle, include_header=start == 0, line_terminator="\n",
                             quote_style="necessary", null_value="")


def write_outputs(out_dir: Path, files: Mapping[str, pl.DataFrame], report: Mapping[str, Any]
                  ) -> list[Path]:
    """Write each output file and ``report.json`` into ``out_dir``, all or nothing."""
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".rostermap-staging-", dir=out_dir))
    try:
        written = []
        for name, frame in files.items():
            target = staging / name
            if name.lower().endswith((".jsonl", ".ndjson")):
                frame.write_ndjson(target)
            elif name.lower().endswith(".json"):
                target.write_text(json.dumps(frame.to_dicts(), ensure_ascii=False, indent=1,
                                             default=str) + "\n", encoding="utf-8")
            else:
                _write_csv(frame, target)
            written.append(target)
        report_path = staging / "report.json"
        report_path.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n",
                               encoding="utf-8")
        written.append(report_path)
        for path in written:
            os.chmod(path, FILE_MODE)
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        final = []
        for path in written:
            destination = out_dir / path.name
            os.replace(path, destination)
            final.append(destination)
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)
