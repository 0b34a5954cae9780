"""Many tenants' syncs on one machine: ``rostermap run-many TENANTS.toml --jobs N``.

A service that syncs thousands of districts runs one job per tenant. A tenants
file lists them::

    [defaults]                      # optional: what every tenant has unless it says
    profile = "powerschool-learning"
    params = { year = 2026 }

    [[tenant]]
    name = "willow-springs"
    source = "districts/willow-springs.zip"   # relative to the tenants file
    out = "out/willow-springs"
    params = { google_domain = "willowsprings.k12.us", schools = ["sch-1", "sch-2"] }
    today = 2026-09-01              # optional, as --today
    max_rejects = 100               # optional, as --max-rejects
    state = "state/willow.sqlite"   # optional, as --state (else the tenant's own)
    stateless = false               # optional: true runs as --no-state
    allow_empty = false             # optional: true runs as --allow-empty

Each tenant's run is a sync (``runtime.sync.run``) with the tenant's name as its state
tenant: change files against its last run, its own mass-change guards, and a held
run waiting for ``rostermap approve PROFILE RUN --tenant NAME``.

Each tenant runs in a process of its own, at most ``jobs`` at a time, and each
process runs one tenant only: a tenant that fails, crashes or uses much memory
cannot touch another's run, and its memory goes back to the machine when it ends.
Each run writes its files all or nothing (``runtime.run.outputs``) into its own ``out``
folder, which no two tenants may share. polars in each process gets an equal share
of the cores.

``run_tenant`` takes and returns plain data, so any scheduler can run it: the
local pool here, or a distributed engine (see docs/scaling.md for Dask).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rostermap.dsl import codes
from rostermap.runtime.errors import HELD, PARTIAL, UNPUBLISHED, UsageError
from rostermap.runtime.report.model import Outcome

__all__ = ["Tenant", "TenantResult", "exit_code", "load_tenants", "render", "run_many",
           "run_tenant"]

_KEYS = {"name", "profile", "source", "out", "params", "today", "max_rejects", "state",
         "stateless", "allow_empty"}


@dataclass(frozen=True)
class Tenant:
    """One tenant's sync: plain data, so that it can be sent to another process."""

    name: str
    profile: str
    source: str
    out: str
    params: tuple[str, ...] = ()  # NAME=VALUE, as --param
    today: str | None = None  # YYYY-MM-DD
    max_rejects: int | None = None
    state: str | None = None  # the state file; default: the tenant's own
    stateless: bool = False  # as --no-state: no change files, no guards
    allow_empty: bool = False  # as --allow-empty


@dataclass(frozen=True)
class TenantResult:
    name: str
    outcome: Outcome  # success, partial, held or failed
    exit_code: int  # as `rostermap run` would exit
    seconds: float
    rows: dict[str, int] = field(default_factory=dict)  # per output file
    message: str = ""  # why it failed (the first diagnostic), or what a held run awaits
    changes: dict[str, dict[str, int]] = field(default_factory=dict)  # per output: counts


def _param(name: str, value: Any) -> str:
    if isinstance(value, list):
        return f"{name}={','.join(str(v) for v in value)}"
    if isinstance(value, bool):
        return f"{name}={'true' if value else 'false'}"
    return f"{name}={value}"


def _profile(profile: str, base: Path) -> str:
    """A tenant's profile: a name as written, a path relative to the tenants file."""
    from rostermap.runtime.run.loader import looks_like_path

    return str(base / profile) if looks_like_path(profile) else profile


def load_tenants(path: Path) -> list[Tenant]:
    """The tenants of a tenants file; paths in it are relative to its folder."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise UsageError([codes.tenants_file_unreadable(path, str(error))]) from None
    defaults = data.get("defaults", {})
    entries = data.get("tenant", [])
    if not isinstance(defaults, dict) or not isinstance(entries, list) or not entries:
        raise UsageError([codes.no_tenants(path)])
    base = path.parent
    tenants: list[Tenant] = []
    for number, entry in enumerate(entries, start=1):
        merged = {**defaults, **entry, "params": {**defaults.get("params", {}),
                                                  **entry.get("params", {})}}
        unknown = sorted(set(merged) - _KEYS)
        if unknown:
            raise UsageError([codes.unknown_tenant_keys(path, number, unknown)])
        missing = [k for k in ("name", "profile", "source", "out") if not merged.get(k)]
        if missing:
            raise UsageError([codes.tenant_incomplete(path, number, missing)])
        source = str(merged["source"])
        if "://" not in source:
            source = str(base / source)
        today = merged.get("today")
        state = merged.get("state")
        tenants.append(Tenant(
            name=str(merged["name"]),
            profile=_profile(str(merged["profile"]), base),
            source=source,
            out=str(base / str(merged["out"])),
            params=tuple(_param(k, v) for k, v in merged["params"].items()),
            today=today.isoformat() if isinstance(today, dt.date) else today,
            max_rejects=merged.get("max_rejects"),
            state=str(base / str(state)) if state else None,
            stateless=bool(merged.get("stateless", False)),
            allow_empty=bool(merged.get("allow_empty", False)),
        ))
    names = [t.name for t in tenants]
    outs = [Path(t.out).resolve() for t in tenants]
    states = [Path(t.state).resolve() for t in tenants if t.state]
    for label, values in (("name", names), ("out folder", outs), ("state file", states)):
        repeated = sorted({str(v) for v in values if values.count(v) > 1})  # type: ignore[arg-type]
        if repeated:
            raise UsageError([codes.tenants_share(path, label, repeated)])
    return tenants


def run_tenant(tenant: Tenant | Mapping[str, Any]) -> TenantResult:
    """One tenant's sync, as `rostermap run` would do it; never raises."""
    from rostermap.dsl.diagnostics import DiagnosticError
    from rostermap.runtime.errors import RunError
    from rostermap.runtime.redact import redact
    from rostermap.runtime.run.pipeline import run
    from rostermap.runtime.sync.run import SyncOptions, sync

    if not isinstance(tenant, Tenant):
        tenant = Tenant(**{**tenant, "params": tuple(tenant.get("params", ()))})
    start = time.perf_counter()
    message = ""
    changes: dict[str, dict[str, int]] = {}

    def failed(code: int, why: str) -> TenantResult:
        # Redacted here, in the process that registered the tenant's secrets: the
        # parent process that prints the result knows none of them.
        outcome = Outcome.UNPUBLISHED if code == UNPUBLISHED else Outcome.FAILED
        return TenantResult(tenant.name, outcome, code, time.perf_counter() - start,
                            message=redact(why))

    try:
        today = dt.date.fromisoformat(tenant.today) if tenant.today else None
        if tenant.stateless:
            result = run(tenant.profile, tenant.source, Path(tenant.out), tenant.params,
                         today=today, max_rejects=tenant.max_rejects,
                         allow_empty=tenant.allow_empty)
            report = result.report
        else:
            options = SyncOptions(Path(tenant.state) if tenant.state else None, tenant.name)
            synced = sync(tenant.profile, tenant.source, Path(tenant.out), tenant.params,
                          options, today=today, max_rejects=tenant.max_rejects,
                          allow_empty=tenant.allow_empty)
            report = synced.report
            changes = {c.output: dict(c.counts) for c in synced.changes}
            if synced.outcome is Outcome.HELD and report.sync is not None:
                message = report.sync.guard.approve or ""  # the command that releases it
    except DiagnosticError as error:
        return failed(1, error.diagnostics[0].message if error.diagnostics else "")
    except RunError as error:
        return failed(error.exit_code, error.diagnostics[0].message if error.diagnostics else "")
    except Exception as error:  # noqa: BLE001 - one tenant's bug must not stop the others
        return failed(1, f"{type(error).__name__}: {error}")
    rows = {name: o.rows for name, o in report.outputs.items()}
    return TenantResult(tenant.name, report.outcome, report.outcome.exit_code,
                        time.perf_counter() - start, rows, message, changes)


def _share_cores(threads: int) -> None:
    # Set before polars is imported in the worker: N tenants at once share the cores
    # instead of each starting a thread per core.
    os.environ.setdefault("POLARS_MAX_THREADS", str(threads))


def run_many(tenants: Iterable[Tenant], jobs: int = 1,
             done: Callable[[TenantResult], None] | None = None) -> list[TenantResult]:
    """Every tenant's sync, ``jobs`` at a time, each in a fresh process; in their order."""
    tenants = list(tenants)
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    results: dict[str, TenantResult] = {}
    with ProcessPoolExecutor(max_workers=max(1, jobs), max_tasks_per_child=1,
                             mp_context=multiprocessing.get_context("spawn"),
                             initializer=_share_cores, initargs=(threads,)) as pool:
        futures: dict[Future[TenantResult], Tenant] = {
            pool.submit(run_tenant, tenant): tenant for tenant in tenants}
        for future, tenant in futures.items():
            try:
                result = future.result()
            except Exception as error:  # noqa: BLE001 - the worker process itself died
                result = TenantResult(tenant.name, Outcome.FAILED, 1, 0.0,
                                      message=f"worker failed: {type(error).__name__}: {error}")
            results[tenant.name] = result
            if done is not None:
                done(result)
    return [results[t.name] for t in tenants]


def exit_code(results: Iterable[TenantResult]) -> int:
    """The most urgent of the tenants' exit codes: a failure (1 or 2), then a committed
    run that could not publish (6), a held run (4), a partial one (3); else 0."""
    codes = {r.exit_code for r in results}
    return next((c for c in (1, 2, UNPUBLISHED, HELD, PARTIAL) if c in codes), 0)


def render(results: list[TenantResult]) -> str:
    """The per-tenant result table."""
    rows = [("tenant", "outcome", "rows", "changes", "seconds", "")]
    for r in results:
        rows.append((r.name, r.outcome, f"{sum(r.rows.values()):,}" if r.rows else "-",
                     _changes(r.changes), f"{r.seconds:.2f}", r.message))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join((a.ljust(widths[0]), b.ljust(widths[1]), c.rjust(widths[2]),
                        d.ljust(widths[3]), s.rjust(widths[4]), e)).rstrip()
             for a, b, c, d, s, e in rows]
    failed = sum(r.outcome is Outcome.FAILED for r in results)
    held = sum(r.outcome is Outcome.HELD for r in results)
    lines.append(f"{len(results)} tenant(s): {len(results) - failed - held} synced, "
                 f"{held} held, {failed} failed")
    return "\n".join(lines)


def _changes(changes: dict[str, dict[str, int]]) -> str:
    """The changes of a tenant's run over all its outputs, as `+3 ~2 -1` (created and
    reactivated, updated, deactivated and deleted); "-" for a run without state."""
    if not changes:
        return "-"
    total = {action: sum(c.get(action, 0) for c in changes.values())
             for action in ("create", "reactivate", "update", "deactivate", "delete")}
    return (f"+{total['create'] + total['reactivate']} ~{total['update']} "
            f"-{total['deactivate'] + total['delete']}")


def as_dict(result: TenantResult) -> dict[str, Any]:
    return {**asdict(result), "outcome": result.outcome.value}
