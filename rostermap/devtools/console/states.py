"""The states the console shows, found in a tenants file or a state folder, read only.

Pages read a state through a read-only SQLite connection (``mode=ro``): showing a
page never writes, never takes the run lock, and never waits for a sync. Only
approve and reject write, through ``runtime.sync.run``, exactly as the commands do.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import polars as pl

from rostermap.dsl import codes
from rostermap.dsl.diagnostics import DiagnosticError
from rostermap.runtime.errors import RunError, UsageError
from rostermap.runtime.report.model import Outcome, Report, decode
from rostermap.runtime.sources.delta import decode_frame
from rostermap.runtime.sync.state import STATE_DIR_ENV, Review, RunRecord

__all__ = ["StateRef", "StateView", "find_states", "open_view"]


@dataclass(frozen=True)
class StateRef:
    """One tenant's state file, named in URLs by ``id`` (a digest of its path)."""

    id: str
    path: Path
    profile: str
    tenant: str | None  # None: the state follows an output folder

    @property
    def label(self) -> str:
        return self.tenant or f"(folder state {self.path.stem})"


def _ref(path: Path) -> StateRef | None:
    """The state file's owner, from its meta table; None for a file that is no state."""
    try:
        with _connect(path) as db:
            meta = dict(db.execute("SELECT name, value FROM meta").fetchall())
    except sqlite3.Error:
        return None
    if "profile" not in meta:
        return None
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return StateRef(digest, path.resolve(), meta["profile"], meta.get("tenant") or None)


def find_states(tenants: Path | None = None, folder: Path | None = None) -> list[StateRef]:
    """The states of a tenants file's tenants, or every state under a folder (default:
    ``$ROSTERMAP_STATE_DIR`` or the user data folder, where syncs keep them)."""
    paths: list[Path] = []
    if tenants is not None:
        from rostermap.runtime.sync.many import load_tenants
        from rostermap.runtime.sync.run import SyncOptions, state_for

        for tenant in load_tenants(tenants):
            if tenant.stateless:
                continue
            options = SyncOptions(Path(tenant.state) if tenant.state else None, tenant.name)
            try:
                paths.append(state_for(tenant.profile, options)[1])
            except (DiagnosticError, RunError):
                continue  # a tenant whose profile does not load has no page to show
        where = tenants
    else:
        root = os.environ.get(STATE_DIR_ENV)
        where = folder or (Path(root) if root else platformdirs.user_data_path("rostermap"))
        paths = sorted(where.glob("*.sqlite")) + sorted(where.glob("*/*.sqlite"))
    refs = [r for r in (_ref(p) for p in paths if p.is_file()) if r is not None]
    if not refs:
        raise UsageError([codes.console_no_states(where)])
    return refs


@contextlib.contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    db.row_factory = sqlite3.Row
    try:
        yield db
    finally:
        db.close()


@dataclass(frozen=True)
class StateView:
    """What the pages read of one state."""

    ref: StateRef
    runs: list[RunRecord]  # newest first
    reviews: dict[int, Review]

    @property
    def last(self) -> RunRecord | None:
        return self.runs[0] if self.runs else None

    @property
    def held(self) -> list[RunRecord]:
        return [r for r in self.runs if r.outcome is Outcome.HELD]


def open_view(ref: StateRef, limit: int = 50) -> StateView:
    with _connect(ref.path) as db:
        runs = [RunRecord.of(r) for r in db.execute(
            "SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()]
        reviews = {}
        if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'reviews'").fetchone():
            reviews = {int(r["run"]): Review.of(r)
                       for r in db.execute("SELECT * FROM reviews").fetchall()}
    return StateView(ref, runs, reviews)


def run_report(ref: StateRef, run: int) -> Report | None:
    with _connect(ref.path) as db:
        row = db.execute("SELECT report FROM runs WHERE id = ?", (run,)).fetchone()
    return decode(row[0]) if row and row[0] else None


def run_changes(ref: StateRef, run: int) -> dict[str, pl.DataFrame]:
    """A run's change rows (key, action, changed) per output: committed, or held."""
    with _connect(ref.path) as db:
        rows = db.execute("SELECT output, data FROM changes WHERE run = ?", (run,)).fetchall()
        if not rows:
            rows = db.execute("SELECT name, data FROM pending WHERE run = ? AND kind = "
                              "'changes'", (run,)).fetchall()
    return {str(r[0]): decode_frame(r[1]) for r in rows}
