"""One sync run: mapping and source in, output files and a report out.

This module only chains the stages (resolve, compile and load, type parameters,
open the source, load tables, execute, write); each stage lives in its own module.
The source is a CSV package (a path) or a OneRoster REST API (an ``https://`` URL);
both give ``runtime.engine.tables`` the same raw tables. Parameters are checked before
any data is read, and nothing is written unless every stage succeeded.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from rostermap.dsl import codes
from rostermap.runtime.engine.contracts import check_contracts
from rostermap.runtime.engine.execute import OutputResult, run_outputs
from rostermap.runtime.engine.plans import Output
from rostermap.runtime.engine.tables import (
    Tables,
    check_requires,
    load_param_table,
    load_tables,
    optional_entities,
    unnamed_values,
)
from rostermap.runtime.errors import RunError, UsageError
from rostermap.runtime.redact import redact
from rostermap.runtime.report.json_report import build_report
from rostermap.runtime.report.model import FetchStats, Report, SourceReject
from rostermap.runtime.run.loader import Loaded, load_mapping, parse_params, resolve_profile
from rostermap.runtime.run.outputs import check_owner, check_paths, write_outputs
from rostermap.runtime.sources.config import SourceConfig, load_config
from rostermap.runtime.sources.csv_package import Limits, Package, open_package
from rostermap.runtime.sources.delta import SnapshotSource, SourceSnapshot, is_delta
from rostermap.runtime.sources.raw import Source, is_url

if TYPE_CHECKING:  # the HTTP stack is imported only for an API source (see load_inputs)
    from rostermap.runtime.sources.rest import FetchObserver, RestSource

__all__ = ["Inputs", "RunResult", "load_inputs", "run"]


@dataclass(frozen=True)
class Inputs:
    """What a run read: the typed tables and, for an API source, how fetching went.

    ``snapshot`` is every record of a CSV package (deltas applied), when asked for:
    what the run state keeps so that a later delta package can be applied.
    """

    tables: Tables
    rest: RestSource | None = None
    snapshot: SourceSnapshot | None = None


@dataclass(frozen=True)
class RunResult:
    report: Report
    outputs: list[OutputResult]
    files: list[Path]
    inputs: Inputs | None = None
    params: dict[str, Any] = field(default_factory=dict)  # typed, as the outputs saw them
    plans: tuple[Output, ...] = ()  # each output's plan, built once for these params


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def load_inputs(
    module: ModuleType,
    source: Path | str | Source,
    values: dict[str, Any],
    limits: Limits | None = None,
    also: Mapping[str, tuple[str, ...]] | None = None,
    config: SourceConfig | None = None,
    observer: FetchObserver | None = None,
    base: Callable[[], SourceSnapshot | None] | None = None,
    keep: bool = False,
    kept: Mapping[str, str] | None = None,
) -> Inputs:
    """The tables a compiled module reads: from the source (and ``also`` these entity
    fields), and its table parameters.

    With ``keep`` (a stateful run), the result's ``snapshot`` holds every record of a
    CSV package for the next run: a bulk package's files as they are, or a delta
    package read whole with its delta files applied on what ``base`` reads, the
    records of the last run (read only for a delta package: a bulk package needs
    none). ``kept`` gives the fingerprints of the files the state keeps
    (``SourceSnapshot.of_package``): a file unchanged since is not compressed again.
    ``source`` may be a source already opened (the records a state stored, for
    ``impact``): it is read as it is, and closed.
    """
    reads = {e: tuple(dict.fromkeys((*module.READS.get(e, ()), *(also or {}).get(e, ()))))
             for e in {**module.READS, **(also or {})}}
    package: Source
    rest: RestSource | None = None
    whole: SnapshotSource | None = None
    bulk: Package | None = None  # a bulk package whose files a stateful run keeps
    if not isinstance(source, Path | str):
        package = source
    elif is_url(str(source)):
        from rostermap.runtime.sources.rest import open_rest

        rest = open_rest(str(source), reads, getattr(module, "FILTERS", {}),
                         config or load_config(), observer)
        package = rest
    else:
        opened = open_package(Path(source), limits)
        try:
            check_requires(opened, module.REQUIRES, applied=keep)
            if keep and is_delta(opened):
                package = whole = SnapshotSource(opened, base() if base else None)
            else:
                package = opened
                bulk = opened if keep else None
        except BaseException:
            opened.close()
            raise
    try:
        if rest is not None:
            check_requires(package, module.REQUIRES)
        elif package is source:  # stored records: a bulk package's, deltas applied
            check_requires(package, module.REQUIRES, applied=True)
        # 1.2 users read roles.csv too
        entities = [*reads, "roles"] if "users" in reads else list(reads)
        # A bulk package's files are compressed for the state on a thread of their own
        # while the records are read (zstd and polars' reader each release the GIL);
        # leaving the block waits for it, before the package is closed.
        with ThreadPoolExecutor(1, thread_name_prefix="rostermap-keep") as pool:
            keeping = (pool.submit(SourceSnapshot.of_package, bulk, entities, kept)
                       if bulk else None)
            tables = load_tables(package, reads, rest.filtered if rest else frozenset(),
                                 optional_entities(module.REQUIRES, reads))
            snapshot = (whole.snapshot(entities) if whole is not None else
                        keeping.result() if keeping is not None else None)
    finally:
        package.close()
    for name, columns in module.TABLES.items():
        tables.frames[name] = load_param_table(name, values.get(name), columns)
        tables.files[name] = Path(values[name]).name if values.get(name) else f"{name} (none)"
    return Inputs(tables, rest, snapshot)


def run(
    profile: str | Loaded,
    source: Path | str | Source,
    out_dir: Path | None,
    params: Iterable[str] = (),
    limits: Limits | None = None,
    today: dt.date | None = None,
    max_rejects: int | None = None,
    config: SourceConfig | None = None,
    observer: FetchObserver | None = None,
    base: Callable[[], SourceSnapshot | None] | None = None,
    keep: bool = False,
    also: Mapping[str, tuple[str, ...]] | None = None,
    allow_empty: bool = False,
    pushing: bool = False,
    carry: Mapping[str, str] | None = None,
    kept: Mapping[str, str] | None = None,
) -> RunResult:
    """Run a profile over a source; ``out_dir=None`` computes without writing.

    ``today`` fixes the run's date (what ``today()`` means in the mapping) so that a
    run can be repeated exactly; by default it is the machine's date. More than
    ``max_rejects`` rejected records fail the run, and nothing is written.
    ``config`` (REST sources only) defaults to the environment's settings;
    ``observer`` is told how fetching goes, for a progress display. ``base``,
    ``keep``, ``kept`` and ``also`` are for sync runs: see :func:`load_inputs`;
    ``carry`` too (each output row keeps that field of its record: see
    ``run_outputs``). An entity with
    no records, or an output left empty while its entity has records, stops the run
    (RM427) unless ``allow_empty``, the output's `allow empty`, or the profile's
    `require` (which makes the entities it does not name optional) says so. An output
    whose rows break one of its `expect` contracts fails the run (RM470-RM473). A push
    profile makes API writes, not files: only ``sync.push`` (``pushing``) runs it.
    """
    started, clock = _now(), time.perf_counter()
    if out_dir is not None:  # before anything is read: a refused folder costs nothing
        assert isinstance(source, Path | str), "an opened source is run without writing"
        check_paths(source, out_dir)
        check_owner(out_dir, None)
    loaded = profile if isinstance(profile, Loaded) else load_mapping(resolve_profile(profile))
    module = loaded.module
    if not pushing and getattr(module, "PUSHES", "[]") != "[]":
        raise UsageError([codes.push_profile_in_run(module.PROFILE)])
    values = parse_params(module.PARAMS, params, today)
    inputs = load_inputs(module, source, values, limits, also, config, observer, base, keep,
                         kept)
    tables, rest = inputs.tables, inputs.rest
    if not allow_empty:
        _no_empty_entities(module, tables)
    # the parameters' values against the records they name, before the records go
    tables.warnings.extend(unnamed_values(module.PARAMS, values, tables))
    # Each output's plan, built once: the run, its checks and a sync's diff read them.
    plans = tuple(build(dict(values)) for build in module.OUTPUTS)
    results = run_outputs(module, tables, values, release=True, plans=plans, carry=carry)
    rejected = sum(r.rejected for r in results)
    if max_rejects is not None and rejected > max_rejects:
        first = next(j for r in results for j in r.rejects)
        raise RunError([codes.too_many_rejects(rejected, max_rejects, first.record,
                                               first.reason, str(loaded.path), first.line)])
    if not allow_empty:
        _no_emptied_outputs(plans, results)
    broken = check_contracts(plans, results, loaded.path.name)
    if broken:
        raise RunError(broken)
    warnings = [d for d in loaded.compiled.diagnostics] + tables.warnings
    report = build_report(
        profile=module.PROFILE,
        mapping=str(loaded.path),
        mapping_sha256=loaded.sha256,
        source=rest.origin if rest else redact(
            str(source) if isinstance(source, Path | str) else source.origin),
        fetch={e: FetchStats(**s) for e, s in rest.report().items()} if rest else None,
        source_rejects=[SourceReject(record=f"{r.entity}/{r.sourcedId}", **r.to_dict())
                        for r in rest.rejects] if rest else [],
        tables=tables,
        params=values,
        results=results,
        started=started,
        finished=_now(),
        seconds=time.perf_counter() - clock,
        warnings=warnings,
        secrets=[p.name for p in module.PARAMS if p.secret],
    )
    files: list[Path] = []
    if out_dir is not None:
        files = write_outputs(out_dir, {r.name: r.frame for r in results}, report,
                              module.BUNDLE)
    return RunResult(report, results, files, inputs, values, plans)


def _no_empty_entities(module: ModuleType, tables: Tables) -> None:
    """Refuse an entity the mapping reads that holds no record: an export cut short or
    a filter gone wrong looks like a district without students, and a product
    deactivates the students it lacks."""
    optional = optional_entities(module.REQUIRES, module.READS)
    problems = [
        codes.entity_empty(tables.files[e], e)
        for e in module.READS
        if e in tables.frames and e not in optional and tables.count(e) == 0
    ]
    if problems:
        raise RunError(problems)


def _no_emptied_outputs(plans: Sequence[Output], results: list[OutputResult]) -> None:
    """Refuse an output left empty while its entity holds records, unless the output
    says `allow empty`: the rules dropped every record, which a wrong parameter (a
    school id mistyped) does as readily as the district's data."""
    allowed = {plan.name for plan in plans if plan.allow_empty}
    problems = [
        codes.output_emptied(r.name, r.read, r.entity, r.rules)
        for r in results if r.rows == 0 and r.read > 0 and r.name not in allowed
    ]
    if problems:
        raise RunError(problems)

