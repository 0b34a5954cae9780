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

Tenants run in worker processes, at most ``jobs`` at a time. A worker is resident:
it imports polars and the runtime once and keeps each profile's verified module,
then runs tenants one after another, so that a tenant pays for its own work and
not for a Python start (about 0.35 s of a small district's run). What isolation
needs, the pool keeps:

- A tenant that fails is a result; one whose worker dies (killed, a segfault, the
  out-of-memory killer) fails alone: the pool reports it and starts a new worker
  for the tenants still to run. A worker whose tenant raised an unexpected error
  (a bug, a MemoryError) is not trusted with another: it is replaced.
- Memory goes back to the machine: a worker is replaced after ``Recycle.tenants``
  tenants, or as soon as its resident memory after a tenant is over
  ``Recycle.memory_mb`` (a large district's run leaves the allocator holding what
  it peaked at). Between tenants a worker forgets the secrets the last registered.
- ``Recycle.isolate`` runs each tenant in a fresh process of its own instead (a
  new worker per tenant): every tenant then pays the start, and nothing of one
  tenant's process outlives it.

Each run writes its files all or nothing (``runtime.run.outputs``) into its own ``out``
folder, which no two tenants may share. polars in each worker gets an equal share
of the cores.

``run_tenant`` takes and returns plain data, so any scheduler can run it: the
local pool here, or a distributed engine (see docs/scaling.md for Dask).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import signal
import sys
import time
import tomllib
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from rostermap.dsl import codes
from rostermap.runtime.errors import HELD, PARTIAL, UNPUBLISHED, UsageError
from rostermap.runtime.report.model import Outcome

__all__ = ["Recycle", "Tenant", "TenantResult", "exit_code", "load_tenants", "render",
           "run_many", "run_tenant"]

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
    worker: int = 0  # the process id of the worker that ran it (0: not run in a worker)


@dataclass(frozen=True)
class Recycle:
    """When run-many replaces a worker process with a fresh one."""

    tenants: int = 100  # after this many tenants: bounds whatever a run leaves behind
    memory_mb: int = 1024  # when its resident memory after a tenant is over this
    isolate: bool = False  # a fresh process for every tenant (as tenants=1)


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
    return _attempt(tenant)[0]


def _attempt(tenant: Tenant | Mapping[str, Any]) -> tuple[TenantResult, bool]:
    """One tenant's sync, and whether it ended in an unexpected error (a bug, a
    MemoryError): after one, a worker's process may hold broken state."""
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
    except ValueError as error:
        return failed(1, f"ValueError: {error}"), False
    try:
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
        return failed(1, error.diagnostics[0].message if error.diagnostics else ""), False
    except RunError as error:
        return failed(error.exit_code,
                      error.diagnostics[0].message if error.diagnostics else ""), False
    except Exception as error:  # noqa: BLE001 - one tenant's bug must not stop the others
        return failed(1, f"{type(error).__name__}: {error}"), True
    rows = {name: o.rows for name, o in report.outputs.items()}
    return TenantResult(tenant.name, report.outcome, report.outcome.exit_code,
                        time.perf_counter() - start, rows, message, changes), False


def _resident_mb() -> float:
    """This process's resident memory now, in MB (its peak where the system does not
    say: a conservative stand-in, which can only recycle a worker sooner)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _worker(conn: Connection, threads: int) -> None:
    """A worker process: tenants in, results out, until told to stop (None).

    Sends (result, resident MB, whether it ended in an unexpected error) per tenant.
    """
    # Before polars is imported: N workers at once share the cores instead of each
    # starting a thread per core.
    os.environ.setdefault("POLARS_MAX_THREADS", str(threads))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the pool, not ^C
    # Imported once, before the first tenant: every tenant of this worker finds them.
    import rostermap.runtime.run.pipeline  # noqa: F401
    import rostermap.runtime.sync.run  # noqa: F401
    from rostermap.runtime import redact

    pid = os.getpid()
    while True:
        try:
            tenant = conn.recv()
        except EOFError:  # the parent went away
            return
        if tenant is None:
            return
        result, unexpected = _attempt(tenant)
        redact.forget_all()  # the next tenant's text is masked with its own secrets only
        conn.send((replace(result, worker=pid), _resident_mb(), unexpected))


class _Slot:
    """One worker process of the pool, and the tenant it is running."""

    def __init__(self, context: Any, threads: int) -> None:
        self.conn, child = context.Pipe()
        # Not a daemon, which could not start processes of its own; a worker whose
        # parent is gone reads the end of its pipe and returns.
        self.process: BaseProcess = context.Process(target=_worker, args=(child, threads),
                                                    name="rostermap-worker")
        self.process.start()
        child.close()
        self.ran = 0
        self.running: int | None = None  # the index of its tenant

    def send(self, index: int, tenant: Tenant) -> None:
        self.running = index
        try:
            self.conn.send(tenant)
        except OSError:
            pass  # the worker is gone: its sentinel says so, and the tenant fails

    def receive(self) -> tuple[TenantResult, float, bool] | None:
        """The tenant's result, or None when the worker died before it sent one."""
        try:
            if self.conn.poll():
                received: tuple[TenantResult, float, bool] = self.conn.recv()
                self.ran += 1
                return received
        except (EOFError, OSError):
            pass
        return None

    def died(self, tenant: Tenant) -> TenantResult:
        self.process.join(5)
        code = self.process.exitcode
        if code is not None and code < 0:
            why = f"killed by {signal.Signals(-code).name}"
        else:
            why = f"exit code {code}"
        return TenantResult(tenant.name, Outcome.FAILED, 1, 0.0,
                            message=f"worker process died ({why})",
                            worker=self.process.pid or 0)

    def stop(self) -> None:
        """Let the worker finish (it is idle), or end it (it is not)."""
        if self.running is None and self.process.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def run_many(tenants: Iterable[Tenant], jobs: int = 1,
             done: Callable[[TenantResult], None] | None = None,
             recycle: Recycle | None = None) -> list[TenantResult]:
    """Every tenant's sync, ``jobs`` at a time in worker processes, each worker
    running tenants in turn until ``recycle`` replaces it; results in the tenants'
    order, ``done`` told of each in that order as soon as it and those before it are in.
    """
    tenants = list(tenants)
    recycle = recycle or Recycle()
    jobs = max(1, min(jobs, len(tenants)))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    limit = 1 if recycle.isolate else max(1, recycle.tenants)
    context = multiprocessing.get_context("spawn")
    waiting = deque(range(len(tenants)))
    results: list[TenantResult | None] = [None] * len(tenants)
    reported = 0
    slots: list[_Slot] = []
    try:
        while waiting or any(s.running is not None for s in slots):
            for slot in list(slots):
                if waiting and slot.running is None:
                    if not slot.process.is_alive():  # ended between tenants: replaced
                        slot.stop()
                        slots.remove(slot)
                        continue
                    slot.send(index := waiting.popleft(), tenants[index])
            while waiting and len(slots) < jobs:
                slots.append(slot := _Slot(context, threads))
                slot.send(index := waiting.popleft(), tenants[index])
            busy = [s for s in slots if s.running is not None]
            ready = set(wait([s.conn for s in busy] + [s.process.sentinel for s in busy]))
            for slot in busy:
                if slot.conn not in ready and slot.process.sentinel not in ready:
                    continue
                finished, slot.running = slot.running, None
                assert finished is not None
                received = slot.receive()
                if received is None:
                    results[finished] = slot.died(tenants[finished])
                    retire = True
                else:
                    results[finished], resident, unexpected = received
                    retire = (unexpected or slot.ran >= limit
                              or resident > recycle.memory_mb)
                if retire:
                    slot.stop()
                    slots.remove(slot)
            while reported < len(tenants) and (result := results[reported]) is not None:
                reported += 1
                if done is not None:
                    done(result)
    finally:
        for slot in slots:
            slot.stop()
    return [r for r in results if r is not None]


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
