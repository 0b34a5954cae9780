"""A sync run: a run, plus what changed since the last one, guarded and crash-safe.

The stages, under the state's lock:

1. **recover**: finish what a killed run left (``Store.recover``);
2. **run**: the transform (``runtime.run.pipeline``), a CSV package's deltas applied on the
   source records of the last committed run;
3. **diff**: each output against its snapshot (``runtime.sync.changes``), by its key,
   with the output's ``when missing`` policy;
4. **guard**: the changes against the limits (``runtime.sync.guard``);
5. **write**: full files (this run's rows and those carried over), ``changes/``, and
   ``report.json`` + ``report.html``, into a staging folder; then either
   - *commit*: one state transaction (the commit point), then publish the folder; or
   - *hold*: the folder becomes ``held/RUN/`` with a preview of the changes, the
     state is kept aside until ``approve`` or ``reject``, nothing is published.

A dry run stops after 4 and writes nothing. Nothing of a failed run is kept but a
``failed`` line in the run history.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from rostermap.dsl.diagnostics import DataLocation, Diagnostic, DiagnosticError
from rostermap.runtime.engine.execute import OutputResult
from rostermap.runtime.engine.plans import Output
from rostermap.runtime.engine.tables import Tables
from rostermap.runtime.errors import HELD, RunError
from rostermap.runtime.report.html_report import render_html
from rostermap.runtime.run.loader import Loaded, load_mapping, resolve_profile
from rostermap.runtime.run.outputs import discard, publish, report_text, stage
from rostermap.runtime.run.pipeline import RunResult, run
from rostermap.runtime.sources.csv_package import Limits
from rostermap.runtime.sync import changes as ch
from rostermap.runtime.sync import guard
from rostermap.runtime.sync.state import Store, default_state_path, lock, orphan_staging

if TYPE_CHECKING:  # the HTTP stack is imported only for an API source
    from rostermap.runtime.sources.rest import FetchObserver

__all__ = ["HELD", "SyncOptions", "SyncResult", "approve", "reject", "state_for", "sync"]

HELD_DIR = "held"
CHANGES_DIR = "changes"
log = logging.getLogger("rostermap.sync")

# The field holding the org(s) of a record of each entity: what "per school" means.
SCHOOL_FIELD = {"users": "orgs", "classes": "school", "enrollments": "school",
                "courses": "org", "roles": "org", "orgs": "sourcedId"}


@dataclass(frozen=True)
class SyncOptions:
    state: Path | None = None  # default: default_state_path(profile, tenant)
    tenant: str = "default"
    dry_run: bool = False
    changes_only: bool = False  # write changes/ and the reports, not the full files
    wait: float = 0.0  # seconds to wait for another run's lock


@dataclass
class SyncResult:
    report: dict[str, Any]
    outcome: str  # success | partial | held | dry-run
    run: int | None
    files: list[Path] = field(default_factory=list)
    folder: Path | None = None  # where the files are: out_dir, or held/RUN
    changes: list[ch.OutputChanges] = field(default_factory=list)
    verdict: guard.Verdict | None = None


def state_for(profile: str | Loaded, options: SyncOptions) -> tuple[str, Path]:
    """The profile's name and its state file, from a profile name or mapping path."""
    loaded = profile if isinstance(profile, Loaded) else load_mapping(resolve_profile(profile))
    name = str(loaded.module.PROFILE)
    return name, options.state or default_state_path(name, options.tenant)


def _schools(result: OutputResult, tables: Tables) -> pl.Series:
    """Per row, the orgs of the record it was made from, joined by U+001F."""
    field_ = SCHOOL_FIELD.get(result.entity)
    frame = tables.frames.get(result.entity)
    empty = pl.Series("schools", [], pl.String).extend_constant(None, len(result.records))
    if field_ is None or frame is None or field_ not in frame.columns:
        return empty
    orgs = frame.select(pl.col("sourcedId"), pl.col(field_).alias("schools"))
    if isinstance(orgs.schema["schools"], pl.List):
        orgs = orgs.with_columns(pl.col("schools").cast(pl.List(pl.String)).list.join(ch.SEP))
    else:
        orgs = orgs.with_columns(pl.col("schools").cast(pl.String))
    # one row per sourcedId: load_tables refuses a table with repeats (RM410)
    looked = result.records.to_frame().join(orgs, on="sourcedId", how="left",
                                             maintain_order="left")
    return looked.get_column("schools")


def _diff_all(outputs: list[Output], results: list[OutputResult], tables: Tables,
              previous: Callable[[str], pl.DataFrame | None], run_id: int, now: dt.datetime,
              postpone: bool, secrets: tuple[str, ...]) -> list[ch.OutputChanges]:
    found = []
    for plan, result in zip(outputs, results, strict=True):
        current = ch.current_rows(result.frame, plan.key, _schools(result, tables), plan.format,
                                  secrets)
        # one output's snapshot at a time: a large district's are hundreds of MB
        found.append(ch.diff(result.name, previous(result.name), result.frame, current,
                             plan.missing, run_id, now, postpone, secrets))
    return found


def _sync_section(store: Store | None, path: Path, options: SyncOptions, run_id: int | None,
                  base: int | None, outcome: str, found: list[ch.OutputChanges],
                  verdict: guard.Verdict, profile: str) -> dict[str, Any]:
    held = verdict.held
    section: dict[str, Any] = {
        "state": str(path),
        "tenant": options.tenant,
        "run": run_id,
        "base_run": base,
        "outcome": outcome,
        "changes": {c.output: c.counts for c in found},
        "schools": {c.output: c.schools for c in found if c.schools},
        "guard": {
            "held": held,
            "limits": [b.to_dict() for b in verdict.breaches
                       if b.exceeded or b.school is None],
        },
        "history": store.history() if store is not None else [],
    }
    if held and run_id is not None:
        tenant = "" if options.tenant == "default" else f" --tenant {options.tenant}"
        state = f" --state {path}" if options.state else ""
        section["guard"]["approve"] = f"rostermap approve {profile} {run_id}{tenant}{state}"
        section["guard"]["reject"] = f"rostermap reject {profile} {run_id}{tenant}{state}"
    duplicates = {c.output: c.duplicates for c in found if c.duplicates}
    if duplicates:
        section["repeated_keys"] = duplicates
    return section


def _documents(report: dict[str, Any]) -> dict[str, str]:
    return {"report.json": report_text(report), "report.html": render_html(report)}


def _files(found: list[ch.OutputChanges], results: list[OutputResult],
           changes_only: bool) -> dict[str, pl.DataFrame]:
    files: dict[str, pl.DataFrame] = {}
    if not changes_only:
        files.update({c.output: c.full for c in found})
    for c, r in zip(found, results, strict=True):
        files[f"{CHANGES_DIR}/{r.name}"] = c.changes
    return files


def sync(
    profile: str,
    source: Path | str,
    out_dir: Path,
    params: Iterable[str] = (),
    options: SyncOptions = SyncOptions(),
    limits: Limits | None = None,
    today: dt.date | None = None,
    max_rejects: int | None = None,
    config: Any = None,
    observer: FetchObserver | None = None,
    now: dt.datetime | None = None,
) -> SyncResult:
    """Run ``profile`` over ``source`` against its state; see the module docstring.

    ``now`` fixes the clock for ``after N days`` grace periods (tests).
    """
    loaded = load_mapping(resolve_profile(profile))
    name, path = state_for(loaded, options)
    out_dir = out_dir.absolute()  # recorded in the state: the next command may run elsewhere
    now = now or dt.datetime.now(dt.UTC)
    if options.dry_run and not path.exists():
        return _sync(loaded, name, path, None, source, out_dir, params, options, limits,
                     today, max_rejects, config, observer, now)
    with _locked(name, path, options) as store:
        if not options.dry_run:
            orphan_staging(out_dir, store, HELD_DIR)
        return _sync(loaded, name, path, store, source, out_dir, params, options, limits,
                     today, max_rejects, config, observer, now)


def _sync(loaded: Loaded, name: str, path: Path, store: Store | None, source: Path | str,
          out_dir: Path, params: Iterable[str], options: SyncOptions, limits: Limits | None,
          today: dt.date | None, max_rejects: int | None, config: Any,
          observer: FetchObserver | None, now: dt.datetime) -> SyncResult:
    base_record = store.last_committed() if store is not None else None
    base = base_record.id if base_record is not None else None
    writing = store is not None and not options.dry_run
    run_id: int | None = None
    if writing:
        assert store is not None
        run_id = store.begin(str(source), str(loaded.path), loaded.sha256)
    try:
        def previous(output: str) -> pl.DataFrame | None:
            return store.snapshot(output) if store is not None and base is not None else None

        stored_source = store.source() if store is not None and base is not None else None
        result = run(loaded, source, None, params, limits, today, max_rejects, config,
                     observer, base=stored_source, keep=True, also=_school_reads(loaded.module))
        return _finish(result, loaded.module, name, path, store, run_id, base, previous,
                       out_dir, options, now)
    except (RunError, DiagnosticError, OSError) as error:
        if writing and store is not None and run_id is not None:
            store.fail(run_id, type(error).__name__ + ": " + str(error).splitlines()[0][:300])
        raise
    except BaseException:
        if writing and store is not None and run_id is not None:
            store.fail(run_id, "interrupted", outcome="interrupted")
        raise


def _school_reads(module: Any) -> dict[str, tuple[str, ...]]:
    """The org field of each entity read, for per-school figures and guards."""
    return {e: ("sourcedId", SCHOOL_FIELD[e]) for e in module.READS if e in SCHOOL_FIELD}


def _finish(result: RunResult, module: Any, name: str, path: Path, store: Store | None,
            run_id: int | None, base: int | None,
            previous: Callable[[str], pl.DataFrame | None],
            out_dir: Path, options: SyncOptions, now: dt.datetime) -> SyncResult:
    assert result.inputs is not None
    tables = result.inputs.tables
    plans = [build(dict(result.params)) for build in module.OUTPUTS]
    partial = result.report["outcome"] == "partial"
    secrets = tuple(str(result.params[p.name]) for p in module.PARAMS
                    if p.secret and result.params.get(p.name))
    found = _diff_all(plans, result.outputs, tables, previous, run_id or 0, now, partial,
                      secrets)
    verdict = guard.check((c, guard.limits_of(p.limits)) for c, p in zip(found, plans,
                                                                            strict=True))
    for c in found:  # the files hold the rows carried over (grace, keep, postponed) too
        carried = c.full.height - result.report["outputs"][c.output]["rows"]
        if carried:
            result.report["outputs"][c.output].update(rows=c.full.height, carried=carried)
    held = verdict.held
    transform = "partial" if partial else "success"
    outcome = "dry-run" if options.dry_run else "held" if held else transform
    report = result.report
    report["sync"] = _sync_section(store, path, options, run_id, base, outcome, found, verdict,
                                   name)
    if partial and any(c.counts["postponed"] for c in found):
        report["sync"]["postponed_note"] = (
            "records were rejected, so the source is incomplete: rows it misses are kept, "
            "not deactivated, until a complete run")
    if held:
        report["outcome"] = "held"
    rows = {c.output: c.full.height for c in found}
    counts = {c.output: {k: c.counts[k] for k in ch.ACTIONS} for c in found}
    if store is not None:
        report["sync"]["history"] = [*store.history(),
                                     {"run": run_id, "started": report["started"],
                                      "outcome": outcome, "rows": rows, "changes": counts}]
    sync_result = SyncResult(report, outcome, run_id, changes=found, verdict=verdict)
    if options.dry_run or store is None or run_id is None:
        return sync_result
    files = _files(found, result.outputs, options.changes_only)
    snapshots = {c.output: c.snapshot for c in found if not c.unchanged}
    stored_changes = {c.output: ch.history_rows(c, p.key)
                      for c, p in zip(found, plans, strict=True)}
    source_snapshot = result.inputs.snapshot
    if held:
        folder = out_dir / HELD_DIR / str(run_id)
        try:
            stage(out_dir, files, _documents(report), folder=folder)
        except OSError as error:
            raise _unwritable(out_dir, error, committed=False) from None
        store.hold(run_id, base, out_dir, folder, snapshots, stored_changes, source_snapshot,
                   rows, counts, report)
        log.warning("run %s of %s/%s held: %s", run_id, name, options.tenant,
                    "; ".join(b.describe() for b in verdict.exceeded))
        sync_result.folder = folder
        sync_result.files = sorted(p for p in folder.rglob("*") if p.is_file())
        return sync_result
    try:
        staging = stage(out_dir, files, _documents(report))
    except OSError as error:
        raise _unwritable(out_dir, error, committed=False) from None
    try:
        store.commit(run_id, transform, base, out_dir, staging, snapshots, stored_changes,
                     source_snapshot, rows, counts, report)
    except BaseException:
        discard(staging)
        raise
    try:
        published = publish(staging, out_dir)  # after the commit point: recover() finishes it
    except OSError as error:
        raise _unwritable(out_dir, error, committed=True) from None
    store.published(run_id)
    log.info("run %s of %s/%s: %s", run_id, name, options.tenant, "; ".join(
        f"{c.output} {ch.summary_line(c.counts)}" for c in found))
    sync_result.folder = out_dir
    sync_result.files = sorted(published)
    return sync_result


@contextmanager
def _locked(name: str, path: Path, options: SyncOptions) -> Iterator[Store]:
    """The state under its lock, with a killed run's publication finished first."""
    with lock(path, options.wait):
        store = Store(path, name, options.tenant)
        try:
            store.recover()
            yield store
        finally:
            store.close()


def approve(profile: str, run_id: int, options: SyncOptions = SyncOptions()) -> SyncResult:
    """Publish a held run and commit its state."""
    name, path = state_for(profile, options)
    with _locked(name, path, options) as store:
        record = store._held(run_id)
        report = store.report(run_id) or {}
        report["outcome"] = "partial" if report.get("rejects") else "success"
        report.setdefault("sync", {})["outcome"] = "approved"
        folder = Path(record.staging or "")
        if not folder.is_dir():
            raise RunError([_missing_folder(folder, run_id)])
        for document, text in _documents(report).items():
            (folder / document).write_text(text, encoding="utf-8")
        store.approve(run_id, report)
        published = publish(folder, Path(record.out_dir or "."))
        store.published(run_id)
        log.info("run %s of %s/%s approved", run_id, name, options.tenant)
        return SyncResult(report, "approved", run_id, sorted(published),
                          Path(record.out_dir or "."))


def reject(profile: str, run_id: int, options: SyncOptions = SyncOptions()) -> SyncResult:
    """Drop a held run: its state and its folder; the last committed state stays."""
    name, path = state_for(profile, options)
    with _locked(name, path, options) as store:
        record = store.reject(run_id)
        if record.staging:
            shutil.rmtree(record.staging, ignore_errors=True)
        log.info("run %s of %s/%s rejected", run_id, name, options.tenant)
        return SyncResult(store.report(run_id) or {}, "rejected", run_id)


def _unwritable(out_dir: Path, error: OSError, committed: bool) -> RunError:
    note = ("note: the run is committed; the next run (or approve, reject) finishes moving "
            "its files" if committed else "note: nothing was published; the state is as it was")
    return RunError([Diagnostic(
        "RM463", f"cannot write the run's files into {out_dir}: {error.strerror or error}",
        location=DataLocation(str(error.filename or out_dir)),
        notes=(note, "help: --out names a folder: check that it is not a file, its "
               "permissions and the free space"))])


def _missing_folder(folder: Path, run_id: int) -> Diagnostic:
    return Diagnostic("RM462", f"the files of held run {run_id} are gone from {folder}",
                      location=DataLocation(str(folder)),
                      notes=("help: reject it and run again",))

