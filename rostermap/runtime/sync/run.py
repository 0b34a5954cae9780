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
import os
import shutil
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from msgspec import structs

from rostermap.dsl import codes
from rostermap.dsl.diagnostics import DiagnosticError
from rostermap.runtime.engine.execute import OutputResult
from rostermap.runtime.engine.plans import Output
from rostermap.runtime.errors import HELD, UNPUBLISHED, RunError
from rostermap.runtime.report.html_report import render_html
from rostermap.runtime.report.model import (
    Guard,
    HistoryEntry,
    Outcome,
    Report,
    SyncReport,
    dumps,
    to_json,
)
from rostermap.runtime.run.loader import Loaded, load_mapping, resolve_profile
from rostermap.runtime.run.outputs import (
    OWNER_FILE,
    check_owner,
    check_paths,
    discard,
    owner_text,
    publish,
    stage,
)
from rostermap.runtime.run.pipeline import RunResult, run
from rostermap.runtime.sources.csv_package import Limits
from rostermap.runtime.sources.delta import encode_frame
from rostermap.runtime.sync import changes as ch
from rostermap.runtime.sync import guard
from rostermap.runtime.sync.state import (
    Retention,
    Store,
    default_state_path,
    guarded,
    lock,
    orphan_staging,
)

if TYPE_CHECKING:  # the HTTP stack is imported only for an API source
    from rostermap.runtime.sources.rest import FetchObserver

__all__ = ["HELD", "SyncOptions", "SyncResult", "UnpublishedError", "approve", "reject",
           "reviewer", "state_for", "sync"]

HELD_DIR = "held"
CHANGES_DIR = "changes"
# The change files of runs published late (see _late_changes): each publication
# replaces them, since its own changes/ replaces the folder's.
_LATE = (f"{CHANGES_DIR}/run-*/*",)
log = logging.getLogger("rostermap.sync")

# The field holding the org(s) of a record of each entity: what "per school" means.
SCHOOL_FIELD = {"users": "orgs", "classes": "school", "enrollments": "school",
                "courses": "org", "roles": "org", "orgs": "sourcedId"}


@dataclass(frozen=True)
class SyncOptions:
    state: Path | None = None  # default: default_state_path(profile, tenant, out)
    tenant: str | None = None  # None: the state follows the output folder
    dry_run: bool = False
    changes_only: bool = False  # write changes/ and the reports, not the full files
    wait: float = 0.0  # seconds to wait for another run's lock
    new_state: bool = False  # start afresh where the state is missing or not a state
    out: Path | None = None  # runs, diff, approve, reject: the folder whose state to open
    retention: Retention = Retention()  # how much history the state keeps

    def named(self) -> str:
        """The state as commands name it: ``--tenant T``, ``--out DIR``, ``--state F``."""
        if self.state is not None:
            return f"--state {self.state}"
        if self.tenant is not None:
            return f"--tenant {self.tenant}"
        return f"--out {self.out}" if self.out is not None else ""


class UnpublishedError(RunError):
    """The run committed, but its files could not be moved into --out (exit code 6):
    the state already counts it, and the next command publishes them."""

    exit_code = UNPUBLISHED


@dataclass
class SyncResult:
    report: Report
    outcome: Outcome  # success, partial, held, dry-run; approved or rejected
    run: int | None
    files: list[Path] = field(default_factory=list)
    folder: Path | None = None  # where the files are: out_dir, or held/RUN
    changes: list[ch.OutputChanges] = field(default_factory=list)
    verdict: guard.Verdict | None = None


def state_for(profile: str | Loaded, options: SyncOptions) -> tuple[str, Path]:
    """The profile's name and its state file, from a profile name or mapping path."""
    loaded = profile if isinstance(profile, Loaded) else load_mapping(resolve_profile(profile))
    name = str(loaded.module.PROFILE)
    return name, options.state or default_state_path(name, options.tenant, options.out)


@dataclass(frozen=True)
class _Sync:
    """One sync run's fixed facts, from its start to its end: what each stage reads."""

    loaded: Loaded
    name: str  # the profile's
    path: Path  # the state file
    store: Store | None  # None: a dry run of a tenant without state yet
    out_dir: Path
    options: SyncOptions
    now: dt.datetime
    run_id: int | None  # None: a dry run, nothing recorded
    base: int | None  # the last committed run, compared with
    late: tuple[int, ...] = ()  # earlier runs whose files this command published

    def previous(self, output: str) -> pl.DataFrame | None:
        """The output's snapshot of the last committed run."""
        return self.store.snapshot(output) if self.store and self.base is not None else None

    def section(self, outcome: Outcome, found: list[ch.OutputChanges],
                verdict: guard.Verdict) -> SyncReport:
        """The report's ``sync`` section."""
        approve = reject = None
        if verdict.held and self.run_id is not None:
            which = replace(self.options, out=self.out_dir).named()
            approve = f"rostermap approve {self.name} {self.run_id} {which}"
            reject = f"rostermap reject {self.name} {self.run_id} {which}"
        return SyncReport(
            state=str(self.path),
            tenant=self.options.tenant,
            out=str(self.out_dir),
            published_late=list(self.late),
            run=self.run_id,
            base_run=self.base,
            outcome=outcome,
            changes={c.output: c.counts for c in found},
            schools={c.output: c.schools for c in found if c.schools},
            guard=Guard(held=verdict.held, approve=approve, reject=reject, limits=[
                b.measured() for b in verdict.breaches if b.exceeded or b.school is None]),
            history=self.store.history() if self.store is not None else [],
            repeated_keys={c.output: c.duplicates for c in found if c.duplicates},
        )


def _schools(result: OutputResult) -> pl.Series:
    """Per row, the orgs of the record it was made from (carried through the run with
    the row), joined by U+001F."""
    orgs = result.carried
    if orgs is None:
        return pl.Series("schools", [], pl.String).extend_constant(None, result.rows)
    if isinstance(orgs.dtype, pl.List):
        orgs = orgs.cast(pl.List(pl.String)).list.join(ch.SEP)
    return orgs.cast(pl.String).alias("schools")


def _diff_all(s: _Sync, outputs: list[Output], results: list[OutputResult],
              postpone: bool, params: dict[str, Any]
              ) -> tuple[list[ch.OutputChanges], dict[str, bytes]]:
    """Each output against its snapshot; and the new snapshots to store, encoded."""
    found, blobs = [], {}
    for plan, result in zip(outputs, results, strict=True):
        secrets = {column: str(params.get(param) or "") for column, param in plan.secrets}
        # one output's snapshot at a time: a large district's are hundreds of MB
        previous = s.previous(result.name)
        current = ch.current_rows(result.frame, plan.key, _schools(result), plan.format,
                                  secrets, text_key=False, stored=previous)
        result.carried, result.records = None, result.records.clear()  # held no longer
        change = ch.diff(result.name, previous, result.frame, current, plan.missing,
                         s.run_id or 0, s.now, postpone, secrets, key=plan.key,
                         forget=dt.timedelta(days=s.options.retention.days))
        del previous, current
        if not change.unchanged and s.run_id is not None:  # else nothing is stored
            blobs[result.name] = encode_frame(change.snapshot)
        change.snapshot = change.snapshot.clear()  # only the bytes wait for the commit
        found.append(change)
    return found, blobs


def _documents(report: Report, path: Path, name: str, options: SyncOptions) -> dict[str, str]:
    """The reports, and the note that this state publishes into the folder."""
    data = to_json(report)
    return {"report.json": dumps(data), "report.html": render_html(data),
            OWNER_FILE: owner_text(path, name, options.tenant)}


def _mark_published(store: Store, run_id: int) -> None:
    """Record that a run's files are in place. They are, committed and published, so a
    state that cannot take the note now (a full disk) fails nothing: the next command
    finds the run still marked publishing, has nothing left to move, and notes it."""
    try:
        store.published(run_id)
    except sqlite3.Error as error:
        log.warning("run %s is published; noting so in the state failed (%s): the next "
                    "command notes it", run_id, error)


def _shown(paths: Iterable[Path]) -> list[Path]:
    """The files a run wrote, as it reports them: not the folder's ownership note."""
    return sorted(p for p in paths if p.name != OWNER_FILE)


def _late_changes(s: _Sync) -> dict[str, str]:
    """The change files of runs this command published late, kept as changes/run-N/:
    this run's changes/ replaces the folder's, and the product may not have read them."""
    if not s.late:
        return {}
    folder = s.out_dir / CHANGES_DIR
    kept = {}
    for path in sorted(p for p in folder.glob("*") if p.is_file()):
        kept[f"{CHANGES_DIR}/run-{s.late[-1]}/{path.name}"] = path.read_text(encoding="utf-8")
    return kept


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
    allow_empty: bool = False,
) -> SyncResult:
    """Run ``profile`` over ``source`` against its state; see the module docstring.

    ``now`` fixes the clock for ``after N days`` grace periods (tests).
    """
    loaded = load_mapping(resolve_profile(profile))
    out_dir = out_dir.absolute()  # recorded in the state: the next command may run elsewhere
    options = replace(options, out=out_dir)
    name, path = state_for(loaded, options)
    now = now or dt.datetime.now(dt.UTC)
    check_paths(source, out_dir)
    check_owner(out_dir, path.absolute(), options.new_state)

    def transform(s: _Sync) -> SyncResult:
        store = s.store if s.base is not None else None
        result = run(loaded, source, None, params, limits, today, max_rejects, config,
                     observer, base=store.source if store is not None else None, keep=True,
                     also=_school_reads(loaded.module), allow_empty=allow_empty,
                     carry=SCHOOL_FIELD, kept=store.source_files() if store else None)
        return _finish(s, result)

    if options.dry_run and not path.exists():
        return transform(_Sync(loaded, name, path, None, out_dir, options, now, None, None))
    with _locked(name, path, options) as (store, late):
        if not options.dry_run:
            orphan_staging(out_dir, store, HELD_DIR)
        last = store.last_committed()
        base = last.id if last is not None else None
        if options.dry_run:
            return transform(_Sync(loaded, name, path, store, out_dir, options, now, None, base,
                                   late))
        run_id = store.begin(str(source), str(loaded.path), loaded.sha256)
        try:
            return transform(_Sync(loaded, name, path, store, out_dir, options, now, run_id,
                                   base, late))
        except UnpublishedError:
            raise  # committed: it stands, and the next command publishes it
        except (RunError, DiagnosticError, OSError) as error:
            store.fail(run_id, type(error).__name__ + ": " + str(error).splitlines()[0][:300])
            raise
        except BaseException:
            store.fail(run_id, "interrupted", outcome=Outcome.INTERRUPTED)
            raise


def _school_reads(module: Any) -> dict[str, tuple[str, ...]]:
    """The org field of each entity read, for per-school figures and guards."""
    return {e: ("sourcedId", SCHOOL_FIELD[e]) for e in module.READS if e in SCHOOL_FIELD}


def _finish(s: _Sync, result: RunResult) -> SyncResult:
    """Diff, guard, report; then hold, or commit and publish."""
    assert result.inputs is not None
    module = s.loaded.module
    plans = list(result.plans)
    partial = result.report.outcome is Outcome.PARTIAL
    found, snapshots = _diff_all(s, plans, result.outputs, partial, result.params)
    verdict = guard.check((c, guard.limits_of(p.limits)) for c, p in zip(found, plans,
                                                                            strict=True))
    outputs = dict(result.report.outputs)
    for c in found:  # the files hold the rows carried over (grace, keep, postponed) too,
        # and the departed rows a `when missing ... with` sends
        carried = c.full.height - outputs[c.output].rows - c.departed
        if carried or c.departed:
            outputs[c.output] = structs.replace(outputs[c.output], rows=c.full.height,
                                                carried=carried, departed=c.departed)
    transform = result.report.outcome
    outcome = Outcome.DRY_RUN if s.options.dry_run else Outcome.HELD if verdict.held else transform
    section = s.section(outcome, found, verdict)
    if partial and any(c.counts["postponed"] for c in found):
        section = structs.replace(section, postponed_note=(
            "records were rejected, so the source is incomplete: rows it misses are kept, "
            "not deactivated, until a complete run"))
    rows = {c.output: c.full.height for c in found}
    counts = {c.output: {k: c.counts[k] for k in ch.ACTIONS} for c in found}
    if s.store is not None:
        this = HistoryEntry(run=s.run_id, started=result.report.started, outcome=outcome,
                            rows=rows, changes=counts)
        section = structs.replace(section, history=[*section.history, this])
    report = structs.replace(result.report, outputs=outputs, sync=section,
                     outcome=Outcome.HELD if verdict.held else transform)
    sync_result = SyncResult(report, outcome, s.run_id, changes=found, verdict=verdict)
    if s.options.dry_run or s.store is None or s.run_id is None:
        return sync_result
    store, run_id, out_dir = s.store, s.run_id, s.out_dir
    files = _files(found, result.outputs, s.options.changes_only)
    bundle = None if s.options.changes_only else module.BUNDLE
    stored_changes = {c.output: encode_frame(ch.history_rows(c, p.key))
                      for c, p in zip(found, plans, strict=True)}
    source_snapshot = result.inputs.snapshot
    documents = {**_documents(report, s.path, s.name, s.options), **_late_changes(s)}
    if verdict.held:
        folder = out_dir / HELD_DIR / str(run_id)
        try:
            stage(out_dir, files, documents, folder=folder, replaces=_LATE, bundle=bundle)
        except OSError as error:
            raise _unwritable(out_dir, error) from None
        store.hold(run_id, s.base, out_dir, folder, snapshots, stored_changes, source_snapshot,
                   rows, counts, documents["report.json"])
        log.warning("run %s of %s (%s) held: %s", run_id, s.name, s.options.named(),
                    "; ".join(b.describe() for b in verdict.exceeded))
        sync_result.folder = folder
        sync_result.files = _shown(p for p in folder.rglob("*") if p.is_file())
        return sync_result
    try:
        staging = stage(out_dir, files, documents, replaces=_LATE, bundle=bundle)
    except OSError as error:
        raise _unwritable(out_dir, error) from None
    try:
        store.commit(run_id, transform, s.base, out_dir, staging, snapshots, stored_changes,
                     source_snapshot, rows, counts, documents["report.json"])
    except BaseException:
        discard(staging)
        raise
    try:
        published = publish(staging, out_dir)  # after the commit point: recover() finishes it
    except OSError as error:
        raise _unpublished(out_dir, error, run_id) from None
    _mark_published(store, run_id)
    log.info("run %s of %s (%s): %s", run_id, s.name, s.options.named(), "; ".join(
        f"{c.output} {ch.summary_line(c.counts)}" for c in found))
    sync_result.folder = out_dir
    sync_result.files = _shown(published)
    return sync_result


@contextmanager
def _locked(name: str, path: Path, options: SyncOptions
            ) -> Iterator[tuple[Store, tuple[int, ...]]]:
    """The state under its lock, with a killed or unpublished run's publication
    finished first (the runs published then come along); SQLite's failures become
    diagnostics."""
    with lock(path, options.wait), guarded(path):
        store = Store(path, name, options.tenant, options.new_state, options.retention)
        try:
            try:
                late = tuple(store.recover())
            except OSError as error:
                raise _unpublished(Path(error.filename or path.parent), error, None) from None
            yield store, late
        finally:
            store.close()


def reviewer() -> str:
    """Who runs this command, as an approval records them: the login name."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a uid without a passwd entry (a container)
        return f"uid {os.getuid()}"


def approve(profile: str, run_id: int, options: SyncOptions = SyncOptions(),
            who: str | None = None, note: str = "") -> SyncResult:
    """Publish a held run and commit its state; ``who`` (default: the login name)
    approved it, for ``note``, as the state records."""
    name, path = state_for(profile, options)
    with _locked(name, path, options) as (store, _):
        record = store._held(run_id)
        held = store.report(run_id)
        if held is None or held.sync is None:
            raise RunError([codes.held_files_gone(Path(record.staging or ""), run_id)])
        report = structs.replace(
            held, outcome=Outcome.PARTIAL if held.rejects else Outcome.SUCCESS,
            sync=structs.replace(held.sync, outcome=Outcome.APPROVED))
        folder = Path(record.staging or "")
        if not folder.is_dir():
            raise RunError([codes.held_files_gone(folder, run_id)])
        for document, text in _documents(report, path, name, options).items():
            (folder / document).write_text(text, encoding="utf-8")
        store.approve(run_id, report, who or reviewer(), note)
        published = publish(folder, Path(record.out_dir or "."))
        _mark_published(store, run_id)
        log.info("run %s of %s (%s) approved", run_id, name, options.named())
        return SyncResult(report, Outcome.APPROVED, run_id, _shown(published),
                          Path(record.out_dir or "."))


def reject(profile: str, run_id: int, options: SyncOptions = SyncOptions(),
           who: str | None = None, note: str = "") -> SyncResult:
    """Drop a held run: its state and its folder; the last committed state stays.
    ``who`` and ``note`` are recorded as for :func:`approve`."""
    name, path = state_for(profile, options)
    with _locked(name, path, options) as (store, _):
        record = store.reject(run_id, who or reviewer(), note)
        if record.staging:
            shutil.rmtree(record.staging, ignore_errors=True)
        log.info("run %s of %s (%s) rejected", run_id, name, options.named())
        report = store.report(run_id)
        assert report is not None  # a held run always has its report
        return SyncResult(report, Outcome.REJECTED, run_id)


def _unwritable(out_dir: Path, error: OSError) -> RunError:
    return RunError([codes.out_not_writable(out_dir, error)])


def _unpublished(out_dir: Path, error: OSError, run_id: int | None) -> UnpublishedError:
    return UnpublishedError([codes.files_unpublished(out_dir, error, run_id)])

