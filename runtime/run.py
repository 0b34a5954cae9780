"""One sync run: mapping and source in, output files and a report out.

This module only chains the stages (resolve, compile and load, type parameters,
open the source, load tables, execute, write); each stage lives in its own module.
The source is a CSV package (a path) or a OneRoster REST API (an ``https://`` URL);
both give ``runtime.tables`` the same raw tables. Parameters are checked before
any data is read, and nothing is written unless every stage succeeded.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.config import SourceConfig, load_config
from runtime.execute import OutputResult, run_outputs
from runtime.loader import load_mapping, parse_params, resolve_profile
from runtime.outputs import write_outputs
from runtime.redact import redact
from runtime.report import build_report
from runtime.sources.csv_package import Limits, open_package
from runtime.sources.raw import Source
from runtime.sources.rest import FetchObserver, RestSource, is_url, open_rest
from runtime.tables import load_tables

__all__ = ["RunResult", "run"]


@dataclass(frozen=True)
class RunResult:
    report: dict[str, Any]
    outputs: list[OutputResult]
    files: list[Path]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def run(
    profile: str,
    source: Path | str,
    out_dir: Path | None,
    params: Iterable[str] = (),
    limits: Limits | None = None,
    config: SourceConfig | None = None,
    observer: FetchObserver | None = None,
) -> RunResult:
    """Run a profile over a source; ``out_dir=None`` computes without writing.

    ``config`` (REST sources only) defaults to the environment's settings;
    ``observer`` is told how fetching goes, for a progress display.
    """
    started, clock = _now(), time.perf_counter()
    loaded = load_mapping(resolve_profile(profile))
    module = loaded.module
    values = parse_params(module.PARAMS, params)
    package: Source
    rest: RestSource | None = None
    if is_url(str(source)):
        rest = open_rest(str(source), module.READS, getattr(module, "FILTERS", {}),
                         config or load_config(), observer)
        package = rest
    else:
        package = open_package(Path(source), limits)
    try:
        tables = load_tables(package, module.READS, rest.filtered if rest else frozenset())
        results = run_outputs(module, tables, values)
    finally:
        package.close()
    warnings = [d for d in loaded.compiled.diagnostics] + tables.warnings
    report = build_report(
        profile=module.PROFILE,
        mapping=str(loaded.path),
        mapping_sha256=loaded.sha256,
        source=rest.origin if rest else redact(str(source)),
        fetch=rest.report() if rest else None,
        rejects=[r.to_dict() for r in rest.rejects] if rest else [],
        tables=tables,
        params=values,
        results=results,
        started=started,
        finished=_now(),
        seconds=time.perf_counter() - clock,
        warnings=warnings,
    )
    files: list[Path] = []
    if out_dir is not None:
        files = write_outputs(out_dir, {r.name: r.frame for r in results}, report)
    return RunResult(report, results, files)
