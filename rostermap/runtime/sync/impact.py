"""What an edited mapping would change: ``rostermap impact``, before it ships.

Both mappings (the profile's current one and the edited one) run on the same
records, with the same parameters and date: a tenant's last committed run's source
records, as its state keeps them, or a ``--source``. Each output's rows are matched
by the output's key (``runtime.sync.changes.current_rows``: rows as a product reads
them, a missing value and empty text alike in a CSV, one row per key), so a row that
"changes" here is a row the next sync would send as an update, and one that
"appears" or "disappears" one it would create or deactivate.

Nothing here writes: the state is opened for reading, no run is recorded, and no
output folder is touched. Sample rows are masked (``runtime.run.explain``'s notion
of a personal or secret column) before they reach the result.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from rostermap.compiler.version import VERSION
from rostermap.dsl import codes, schema
from rostermap.dsl.diagnostics import Diagnostic
from rostermap.runtime.engine.plans import Output
from rostermap.runtime.errors import UsageError
from rostermap.runtime.redact import redact
from rostermap.runtime.report.impact import (
    PERSONAL,
    SECRET,
    ColumnChange,
    Impact,
    ImpactRow,
    ManyImpact,
    OutputImpact,
    RejectChange,
    RowKind,
    RuleChange,
    TenantImpact,
    WarningChange,
)
from rostermap.runtime.report.json_report import SECRET as SECRET_PARAM
from rostermap.runtime.report.model import Report, TransformReject
from rostermap.runtime.run.explain import private_columns
from rostermap.runtime.run.loader import Loaded, load_mapping, resolve_profile
from rostermap.runtime.run.pipeline import RunResult, run
from rostermap.runtime.sources.delta import SourceSnapshot
from rostermap.runtime.sources.raw import LINE, RawTable
from rostermap.runtime.sync.changes import COLUMN, SEP, current_rows
from rostermap.runtime.sync.history import open_state
from rostermap.runtime.sync.run import SyncOptions

__all__ = ["ImpactResult", "OutputDiff", "StoredSource", "compare", "impact", "impact_many",
           "impact_tenant"]

SAMPLES = 5  # sample rows per kind and output


class StoredSource:
    """A state's stored source records as a ``Source``: what the last committed run
    read, deltas applied, every field as text by model name."""

    def __init__(self, snapshot: SourceSnapshot, origin: str):
        self.snapshot = snapshot
        self.origin = origin
        self.version = snapshot.version
        self.warnings: list[Diagnostic] = []

    @property
    def layout(self) -> str:
        return "1.2" if self.version == "1.2" else "1.1"

    def has(self, entity: str) -> bool:
        return entity in self.snapshot

    def read(self, entity: str, fields: Iterable[str]) -> RawTable:
        frame = self.snapshot.frame(entity)
        wanted = list(dict.fromkeys(fields))
        frame = frame.with_columns(pl.lit(None, pl.String).alias(f) for f in wanted
                                   if f not in frame.columns)
        file = self.snapshot.files.get(entity) or schema.ENTITIES[entity].file
        return RawTable(entity, f"{file} (as of the last run)", frame.select(LINE, *wanted),
                        {f: f for f in wanted})

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class OutputDiff:
    """One output compared, every row: the keys (as ``changes.current_rows`` joins
    them) that appear, disappear and change, and per column the keys it changes."""

    output: str
    key: tuple[str, ...]
    before: pl.DataFrame | None  # current_rows of each mapping
    after: pl.DataFrame | None
    appears: frozenset[str] = frozenset()
    disappears: frozenset[str] = frozenset()
    changes: frozenset[str] = frozenset()
    columns: dict[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class ImpactResult:
    impact: Impact
    diffs: dict[str, OutputDiff]


def _rows(result: RunResult, plan: Output) -> pl.DataFrame:
    frame = next(r.frame for r in result.outputs if r.name == plan.name)
    schools = pl.Series("schools", [None] * frame.height, pl.String)
    return current_rows(frame, plan.key, schools, plan.format, [c for c, _ in plan.secrets])


def compare(output: str, key: tuple[str, ...], before: pl.DataFrame | None,
            after: pl.DataFrame | None) -> OutputDiff:
    """Two mappings' rows of one output (``current_rows`` frames), matched by key.

    Columns only one mapping writes are not compared (they are listed instead): a
    new column would otherwise make every row a change.
    """
    if before is None or after is None:
        keys = frozenset((after if before is None else before)  # type: ignore[union-attr]
                         .get_column("key").to_list())
        return OutputDiff(output, key, before, after,
                          appears=keys if before is None else frozenset(),
                          disappears=keys if after is None else frozenset())
    common = [c for c in before.columns if c.startswith(COLUMN) and c in after.columns
              and c[len(COLUMN):] not in key]
    b = before.select("key", *common).with_columns(pl.lit(True).alias("__before"))
    a = after.select("key", *common).with_columns(pl.lit(True).alias("__after"))
    both = b.join(a, on="key", how="full", coalesce=True, suffix="__edited")
    appears = both.filter(pl.col("__before").is_null()).get_column("key")
    disappears = both.filter(pl.col("__after").is_null()).get_column("key")
    matched = both.filter(pl.col("__before").is_not_null() & pl.col("__after").is_not_null())
    columns: dict[str, frozenset[str]] = {}
    for c in common:
        differs = matched.filter(pl.col(c).cast(pl.String).ne_missing(
            pl.col(c + "__edited").cast(pl.String))).get_column("key")
        if differs.len():
            columns[c[len(COLUMN):]] = frozenset(differs.to_list())
    changed = frozenset().union(*columns.values()) if columns else frozenset()
    return OutputDiff(output, key, before, after, frozenset(appears.to_list()),
                      frozenset(disappears.to_list()), changed, columns)


def _stored_params(report: Report | None, declared: Mapping[str, Any]) -> list[str]:
    """The parameters of a tenant's last run, as --param strings (secrets excluded:
    they come from the environment, as in the run)."""
    if report is None:
        return []
    given = []
    for name, value in report.params.items():
        param = declared.get(name)
        if param is None or param.secret or value == SECRET_PARAM or value is None:
            continue
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif param.columns and not Path(str(value)).is_file():
            continue  # a table parameter whose file is not here: none
        given.append(f"{name}={value}")
    return given


@dataclass(frozen=True)
class _Records:
    source: Any  # a path or URL, or a StoredSource
    shown: str
    params: list[str]
    run: int | None
    today: dt.date | None = None  # the stored run's date


def _records(current: Loaded, source: Path | str | None, options: SyncOptions | None,
             params: Iterable[str]) -> _Records:
    given = list(params)
    if source is not None:
        return _Records(source, redact(str(source)), given, None)
    assert options is not None
    with open_state(str(current.path), options) as store:
        last = store.last_committed()
        stored = store.source() if last is not None else None
        report = store.report(last.id) if last is not None else None
        path = store.path
    if last is None or stored is None:
        raise UsageError([codes.no_stored_records(options.named(), str(path))])
    named = {p.split("=", 1)[0] for p in given}
    declared = {p.name: p for p in current.module.PARAMS}
    inherited = [p for p in _stored_params(report, declared) if p.split("=", 1)[0] not in named]
    day = report.params.get("today") if report is not None else None
    shown = options.named() if options.state is not None else f"{options.named()} ({path})"
    return _Records(StoredSource(stored, shown), shown, inherited + given, last.id,
                    dt.date.fromisoformat(day) if isinstance(day, str) else None)


def _mask(values: dict[str, Any], personal: frozenset[str], secret: frozenset[str],
          show_pii: bool) -> dict[str, str | None]:
    shown: dict[str, str | None] = {}
    for column, value in values.items():
        if column in secret:
            shown[column] = SECRET
        elif column in personal and not show_pii:
            shown[column] = PERSONAL
        else:
            shown[column] = None if value is None else redact(str(value))
    return shown


def _samples(d: OutputDiff, plan: Output, show_pii: bool, limit: int) -> list[ImpactRow]:
    personal, secret = private_columns(plan)
    key_private = any(k in personal or k in secret for k in plan.key) or not plan.key

    def rows(frame: pl.DataFrame | None, keys: Iterable[str]) -> Iterator[
            tuple[str, dict[str, Any]]]:
        wanted = sorted(keys)[:limit]
        if frame is None or not wanted:
            return
        picked = frame.filter(pl.col("key").is_in(wanted)).sort("key")
        for record in picked.iter_rows(named=True):
            values = {c[len(COLUMN):]: v for c, v in record.items() if c.startswith(COLUMN)}
            yield record["key"], values

    def key_text(key: str) -> str:
        return PERSONAL if key_private and not show_pii else redact(key.replace(SEP, ", "))

    samples = [ImpactRow(kind=RowKind.APPEARS, key=key_text(k),
                         after=_mask(v, personal, secret, show_pii))
               for k, v in rows(d.after, d.appears)]
    samples += [ImpactRow(kind=RowKind.DISAPPEARS, key=key_text(k),
                          before=_mask(v, personal, secret, show_pii))
                for k, v in rows(d.before, d.disappears)]
    after = dict(rows(d.after, d.changes))
    for k, v in rows(d.before, d.changes):
        changed = sorted(c for c, keys in d.columns.items() if k in keys)
        samples.append(ImpactRow(kind=RowKind.CHANGES, key=key_text(k), changed=changed,
                                 before=_mask(v, personal, secret, show_pii),
                                 after=_mask(after.get(k, {}), personal, secret, show_pii)))
    return samples


def _names(rows: pl.DataFrame) -> list[str]:
    return [c[len(COLUMN):] for c in rows.columns if c.startswith(COLUMN)]


def _output_impact(d: OutputDiff, plan: Output, show_pii: bool, limit: int,
                   only: str | None) -> OutputImpact:
    before = d.before.height if d.before is not None else 0
    after = d.after.height if d.after is not None else 0
    old = _names(d.before) if d.before is not None else []
    new = _names(d.after) if d.after is not None else []
    moved = len(d.appears) + len(d.disappears) + len(d.changes)
    return OutputImpact(
        output=d.output, key=list(d.key), before=before, after=after,
        appears=len(d.appears), disappears=len(d.disappears), changes=len(d.changes),
        unchanged=before - len(d.disappears) - len(d.changes),
        share=round(moved / max(before, 1), 6),
        columns=[ColumnChange(column=c, rows=len(k)) for c, k in sorted(d.columns.items())],
        added_columns=[c for c in new if c not in old] if old else [],
        removed_columns=[c for c in old if c not in new] if new else [],
        samples=_samples(d, plan, show_pii, limit), only=only)


def _rules(before: Report, after: Report) -> list[RuleChange]:
    """`where` rules by output and text (lines move when a mapping is edited)."""
    moved = []
    for output in dict.fromkeys([*before.outputs, *after.outputs]):
        old = {d.rule: d.records for d in before.outputs[output].dropped} \
            if output in before.outputs else {}
        new = {d.rule: d.records for d in after.outputs[output].dropped} \
            if output in after.outputs else {}
        for rule in dict.fromkeys([*old, *new]):
            if old.get(rule) != new.get(rule):
                moved.append(RuleChange(output=output, rule=rule, before=old.get(rule),
                                        after=new.get(rule)))
    return moved


def _warnings(before: Report, after: Report) -> list[WarningChange]:
    def counts(report: Report) -> dict[tuple[str, str, str | None], int]:
        found: dict[tuple[str, str, str | None], int] = {}
        for w in report.warnings:
            key = (w.code, w.message, w.output)
            found[key] = found.get(key, 0) + (w.count if w.count is not None else 1)
        return found

    old, new = counts(before), counts(after)
    return [WarningChange(code=k[0], message=k[1], output=k[2], before=old.get(k, 0),
                          after=new.get(k, 0))
            for k in dict.fromkeys([*old, *new]) if old.get(k, 0) != new.get(k, 0)]


def _rejects(before: Report, after: Report) -> list[RejectChange]:
    def keyed(report: Report) -> dict[tuple[str, str], str]:
        return {(j.record, j.output): j.reason for j in report.rejects
                if isinstance(j, TransformReject)}

    old, new = keyed(before), keyed(after)
    changes = [RejectChange(record=k[0], output=k[1], reason=new[k], new=True)
               for k in new if k not in old]
    changes += [RejectChange(record=k[0], output=k[1], reason=old[k], new=False)
                for k in old if k not in new]
    return changes


def impact(
    current: str,
    edited: str,
    source: Path | str | None = None,
    options: SyncOptions | None = None,
    params: Iterable[str] = (),
    today: dt.date | None = None,
    show_pii: bool = False,
    fail_over: float | None = None,
    samples: int = SAMPLES,
) -> ImpactResult:
    """Run ``current`` and ``edited`` on the same records and compare their outputs.

    The records are ``source``'s, or else those the state ``options`` names stored
    for its last committed run (whose parameters and date are used, ``params`` and
    ``today`` overriding): the current mapping then gives what that run published.
    ``fail_over`` (percent) marks the result ``over`` when an output's rows that
    appear, disappear or change exceed that share of its rows.
    """
    old = load_mapping(resolve_profile(current))
    new = load_mapping(resolve_profile(edited))
    records = _records(old, source, options, params)
    day = today or records.today or dt.date.today()
    results = []
    for loaded in (old, new):
        # each run reads the stored records afresh: a run closes its source
        results.append(run(loaded, records.source, None, records.params, today=day,
                           allow_empty=True))
    before_run, after_run = results
    old_plans = {p.name: p for p in (b(dict(before_run.params)) for b in old.module.OUTPUTS)}
    new_plans = {p.name: p for p in (b(dict(after_run.params)) for b in new.module.OUTPUTS)}
    diffs: dict[str, OutputDiff] = {}
    outputs: list[OutputImpact] = []
    for name in dict.fromkeys([*old_plans, *new_plans]):
        plan_old, plan_new = old_plans.get(name), new_plans.get(name)
        rows_old = _rows(before_run, plan_old) if plan_old is not None else None
        rows_new = _rows(after_run, plan_new) if plan_new is not None else None
        key = (plan_new or plan_old).key  # type: ignore[union-attr]
        if plan_old is not None and plan_new is not None and plan_old.key != plan_new.key:
            key = ()  # the key itself changed: rows can only be matched whole
            rows_old = _whole_rows(before_run, plan_old)
            rows_new = _whole_rows(after_run, plan_new)
        d = compare(name, key, rows_old, rows_new)
        diffs[name] = d
        only = "edited" if plan_old is None else "current" if plan_new is None else None
        outputs.append(_output_impact(d, plan_new or plan_old,  # type: ignore[arg-type]
                                      show_pii, samples, only))
    share = max((o.share for o in outputs), default=0.0)
    result = Impact(
        rostermap=VERSION, profile=str(old.module.PROFILE),
        current=str(old.path), current_sha256=old.sha256,
        edited=str(new.path), edited_sha256=new.sha256,
        source=records.shown, tenant=options.tenant if options and source is None else None,
        run=records.run, today=day.isoformat(), pii_shown=show_pii, outputs=outputs,
        rules=_rules(before_run.report, after_run.report),
        warnings=_warnings(before_run.report, after_run.report),
        rejects=_rejects(before_run.report, after_run.report),
        share=share, fail_over=fail_over,
        over=fail_over is not None and share * 100 > fail_over)
    return ImpactResult(result, diffs)


def _whole_rows(result: RunResult, plan: Output) -> pl.DataFrame:
    """An output's rows keyed by every column: for a key the edit itself changed."""
    frame = next(r.frame for r in result.outputs if r.name == plan.name)
    schools = pl.Series("schools", [None] * frame.height, pl.String)
    return current_rows(frame, (), schools, plan.format, [c for c, _ in plan.secrets])


def impact_tenant(tenant: Any, edited: str, fail_over: float | None = None,
                  show_pii: bool = False) -> TenantImpact:
    """One tenant of a tenants file (``sync.many.Tenant``), compared on its stored
    records with its own parameters; never raises (a tenant's failure is its result)."""
    from rostermap.dsl.diagnostics import DiagnosticError
    from rostermap.runtime.errors import RunError

    try:
        options = SyncOptions(Path(tenant.state) if tenant.state else None, tenant.name)
        today = dt.date.fromisoformat(tenant.today) if tenant.today else None
        found = impact(tenant.profile, edited, None, options, tenant.params, today, show_pii,
                       fail_over)
    except (DiagnosticError, RunError) as error:
        first = error.diagnostics[0] if error.diagnostics else None
        why = f"{first.code} {first.message}" if first is not None else str(error)
        return TenantImpact(tenant=tenant.name, error=redact(why))
    except Exception as error:  # noqa: BLE001 - one tenant's bug must not stop the others
        return TenantImpact(tenant=tenant.name, error=redact(f"{type(error).__name__}: {error}"))
    return TenantImpact(tenant=tenant.name, impact=found.impact)


def impact_many(tenants: Iterable[Any], tenants_file: Path, edited: str, jobs: int = 1,
                fail_over: float | None = None, show_pii: bool = False) -> ManyImpact:
    """``impact_tenant`` for every tenant whose profile is the one ``edited`` declares,
    ``jobs`` at a time, each in a process of its own (as ``run-many`` syncs them)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    profile = str(load_mapping(resolve_profile(edited)).module.PROFILE)
    tenants = list(tenants)
    names = {t.profile: str(load_mapping(resolve_profile(t.profile)).module.PROFILE)
             for t in tenants}
    chosen = [t for t in tenants if names[t.profile] == profile]
    if not chosen:
        raise UsageError([codes.no_tenant_of_profile(tenants_file, profile,
                                                     list(names.values()))])
    with ProcessPoolExecutor(max_workers=max(1, jobs), max_tasks_per_child=1,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(impact_tenant, t, edited, fail_over, show_pii) for t in chosen]
        results = []
        for tenant, future in zip(chosen, futures, strict=True):
            try:
                results.append(future.result())
            except Exception as error:  # noqa: BLE001 - the worker process itself died
                results.append(TenantImpact(tenant=tenant.name,
                                            error=f"worker failed: {type(error).__name__}"))
    over = any(r.impact is not None and r.impact.over for r in results)
    return ManyImpact(rostermap=VERSION, profile=profile, edited=str(edited), tenants=results,
                      fail_over=fail_over, over=over)
