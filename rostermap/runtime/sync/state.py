"""Run state: what earlier runs published, in one SQLite file per profile and tenant.

SQLite because the state must survive a run killed at any moment: a transaction
either happened or did not, and the file is one file, in the standard library, that
a person can copy or open. Each output's rows are stored as one Arrow blob (see
``runtime.sync.changes`` for its columns) rather than a table row per record: a district
of 650,000 enrollments loads and saves in a tenth of a second that way.

Schema (``meta.schema`` = 1):

``meta(name, value)``
    the profile and tenant the file belongs to (the tenant is empty when the output
    folder, ``out``, names the state), and the schema version.
``runs(id, started, finished, source, mapping, mapping_sha256, outcome, base_run,
out_dir, staging, publishing, rows, changes, error, report)``
    one row per run. ``outcome``: running, success, partial, held, approved,
    rejected, superseded, failed, interrupted. ``base_run`` is the committed run the
    changes were computed against; ``rows`` and ``changes`` are JSON counts per
    output; ``report`` the run's report.json. While ``publishing`` is 1, the files in
    ``staging`` still have to be moved into ``out_dir``.
``snapshots(output, run, data)``
    per output, the rows as of the last committed run (Arrow IPC, zstd).
``changes(run, output, data)``
    per run and output, the change rows (key, action, changed, row) for ``diff``.
``sources(entity, run, version, file, data)``
    the last committed run's source records (CSV packages), for delta packages;
    ``run`` is the run that stored them (a later run with the same file keeps them).
``source_files(entity, run, fingerprint)``
    the fingerprint of the file each entity's records were kept from, valid while
    ``run`` is that of its ``sources`` row: a file unchanged since is not read again.
``pending(run, kind, name, data)``
    a held run's snapshots (kind ``output``), change rows (``changes``) and source
    records (``source``), until it is approved or rejected.
``reviews(run, action, who, at, note)``
    who approved or rejected a held run, when, and why (a table added later: a
    state without it gains it, empty, when next opened).

The commit point of a run is one transaction that replaces the snapshots and
source records, adds the change rows, and marks the run ``publishing`` with its
staging folder. The files are moved after it; if the process dies in between, or
the moves fail, :meth:`Store.recover` (run at the start of every command) finishes
them.

The state is the truth about what a product was sent, so a state file that cannot be
trusted stops the run instead of starting over: a file that is not a rostermap state
(0 bytes included) is refused unless ``--new-state`` says to start afresh, and every
SQLite failure (a damaged file, a read-only one, a full disk) is a diagnostic that
leaves the last committed state as it was. Each output folder names the state that
publishes into it in ``.rostermap-state``: a second state, or a run without state, is
refused there, and a folder whose state is gone is not taken for a first run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import polars as pl

from rostermap.dsl import codes
from rostermap.runtime.errors import LOCKED, RunError, UsageError
from rostermap.runtime.report.model import HistoryEntry, Outcome, Report, decode, encode
from rostermap.runtime.run.outputs import STAGING_PREFIX, discard, publish
from rostermap.runtime.sources.delta import SourceSnapshot, decode_frame

__all__ = [
    "LockedError",
    "Retention",
    "Review",
    "RunRecord",
    "Store",
    "default_state_path",
    "guarded",
    "lock",
    "orphan_staging",
]

SCHEMA_VERSION = "1"
_SQLITE_HEADER = b"SQLite format 3\x00"
STATE_DIR_ENV = "ROSTERMAP_STATE_DIR"
COMMITTED = tuple(o.value for o in Outcome if o.committed)


@dataclass(frozen=True)
class Retention:
    """How much history a state keeps, so that it grows with the district and not
    with the number of runs.

    The last ``runs`` runs keep their report and change rows (for ``rostermap diff``,
    the console and report.html's history); older runs keep their outcome and their
    counts per output. A row deactivated or deleted more than ``days`` days ago is
    forgotten: if its key comes back, it is created, not reactivated.
    """

    runs: int = 30
    days: int = 180

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started TEXT NOT NULL,
    finished TEXT,
    source TEXT NOT NULL,
    mapping TEXT NOT NULL,
    mapping_sha256 TEXT NOT NULL,
    outcome TEXT NOT NULL,
    base_run INTEGER,
    out_dir TEXT,
    staging TEXT,
    publishing INTEGER NOT NULL DEFAULT 0,
    rows TEXT NOT NULL DEFAULT '{}',
    changes TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    report TEXT
);
CREATE TABLE IF NOT EXISTS snapshots (
    output TEXT PRIMARY KEY, run INTEGER NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS changes (
    run INTEGER NOT NULL, output TEXT NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (run, output));
CREATE TABLE IF NOT EXISTS sources (
    entity TEXT PRIMARY KEY, run INTEGER NOT NULL, version TEXT NOT NULL,
    file TEXT NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS source_files (
    entity TEXT PRIMARY KEY, run INTEGER NOT NULL, fingerprint TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pending (
    run INTEGER NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, data BLOB NOT NULL,
    extra TEXT NOT NULL DEFAULT '', PRIMARY KEY (run, kind, name));
CREATE TABLE IF NOT EXISTS reviews (
    run INTEGER PRIMARY KEY, action TEXT NOT NULL, who TEXT NOT NULL, at TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '');
"""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "_"


def default_state_path(profile: str, tenant: str | None, out_dir: Path | None) -> Path:
    """``$ROSTERMAP_STATE_DIR`` or the user's data directory, then the profile's folder,
    then the tenant's file, or without a tenant the output folder's.

    A run compares with the runs of its own state only: without ``--tenant`` the
    identity is the output folder, so runs of two districts into two folders never
    see each other (one would hold the other as a mass deactivation).
    """
    root = os.environ.get(STATE_DIR_ENV)
    base = (Path(root) if root else platformdirs.user_data_path("rostermap")) / _safe(profile)
    if tenant is not None:
        return base / f"{_safe(tenant)}.sqlite"
    if out_dir is None:
        raise UsageError([codes.no_state_named()])
    folder = str(out_dir.absolute().resolve())
    return base / f"out-{hashlib.sha256(folder.encode()).hexdigest()[:16]}.sqlite"


def _is_state_file(path: Path) -> bool:
    """Whether an existing file can be a SQLite database: a SQLite header, or 0 bytes
    with a write-ahead log beside it (a database not yet checkpointed)."""
    size = path.stat().st_size
    if size == 0:
        wal = path.with_name(path.name + "-wal")
        return wal.exists() and wal.stat().st_size > 0
    with open(path, "rb") as handle:
        return handle.read(len(_SQLITE_HEADER)) == _SQLITE_HEADER


def _move_aside(path: Path) -> Path:
    """Keep a file that is not a state beside it, for a person to look at."""
    aside = path.with_name(f"{path.name}.broken-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}")
    for suffix in ("", "-wal", "-shm"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            os.replace(extra, aside.with_name(aside.name + suffix))
    return aside


def _not_a_state(path: Path, why: str) -> RunError:
    return RunError([codes.not_a_state(path, why)])


@contextlib.contextmanager
def guarded(path: Path) -> Iterator[None]:
    """SQLite's and the snapshots' failures as diagnostics naming the state file.

    Every write is a transaction, so whatever fails here leaves the last committed
    state as it was.
    """
    try:
        yield
    except sqlite3.Error as error:
        text = str(error)
        if isinstance(error, sqlite3.OperationalError) and any(
                w in text for w in ("readonly", "full", "unable to open", "disk I/O")):
            raise RunError([codes.state_not_writable(path, text)]) from None
        raise RunError([codes.state_damaged(path, text)]) from None
    except _Damaged as error:
        raise RunError([codes.state_data_damaged(path, str(error))]) from None


def _frame(data: bytes) -> pl.DataFrame:
    """A stored frame; damaged bytes are the state's fault, said so, not a traceback."""
    try:
        return decode_frame(data)
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError,
                ValueError) as error:
        raise _Damaged(f"{type(error).__name__}: {error}") from None


class _Damaged(Exception):
    """A blob of the state file that does not decode; ``guarded`` names the file."""


class LockedError(RunError):
    """Another run of the same profile and tenant holds the state (exit code 5)."""

    exit_code = LOCKED


@contextlib.contextmanager
def lock(state: Path, wait: float = 0.0) -> Iterator[None]:
    """Hold the state's lock file for a run; wait up to ``wait`` seconds for it.

    An advisory ``flock``: the kernel drops it when the process dies, however it
    dies, so a killed run never leaves a stale lock behind.
    """
    state.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = state.with_name(state.name + ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
                    raise LockedError([codes.state_locked(state, holder)]) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {_now()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


@dataclass(frozen=True)
class RunRecord:
    id: int
    started: str
    finished: str | None
    source: str
    mapping: str
    mapping_sha256: str
    outcome: Outcome
    base_run: int | None
    out_dir: str | None
    staging: str | None
    publishing: bool
    rows: dict[str, int]
    changes: dict[str, dict[str, int]]
    error: str | None

    @classmethod
    def of(cls, row: sqlite3.Row) -> RunRecord:
        return cls(row["id"], row["started"], row["finished"], row["source"], row["mapping"],
                   row["mapping_sha256"], Outcome(row["outcome"]), row["base_run"], row["out_dir"],
                   row["staging"], bool(row["publishing"]), json.loads(row["rows"]),
                   json.loads(row["changes"]), row["error"])


@dataclass(frozen=True)
class Review:
    """A person's decision on a held run: approved or rejected, by whom, when, why."""

    run: int
    action: Outcome  # approved | rejected
    who: str
    at: str
    note: str = ""

    @classmethod
    def of(cls, row: sqlite3.Row) -> Review:
        return cls(row["run"], Outcome(row["action"]), row["who"], row["at"], row["note"])


class Store:
    """One profile and tenant's state file. Use under :func:`lock` to write."""

    def __init__(self, path: Path, profile: str, tenant: str | None,
                 new_state: bool = False, retention: Retention = Retention()):
        self.path = path
        self.retention = retention
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fresh = not path.exists()
        if not fresh and not _is_state_file(path):
            if not new_state:
                raise _not_a_state(path, "0 bytes" if path.stat().st_size == 0 else
                                   "not a SQLite database")
            _move_aside(path)
            fresh = True
        self.new_state = new_state
        self.fresh = fresh
        self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
        if fresh:
            os.chmod(path, 0o600)  # it holds students' rows
        self.db.row_factory = sqlite3.Row
        try:
            with guarded(path):
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=FULL")
                if not fresh and not self.db.execute(
                        "SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
                    raise _not_a_state(path, "a SQLite database without rostermap's tables")
                self.db.executescript(_SCHEMA)
                with self.transaction():
                    self._claim(profile, tenant or "")
        except BaseException:
            self.db.close()
            raise

    def _claim(self, profile: str, tenant: str) -> None:
        meta = dict(self.db.execute("SELECT name, value FROM meta").fetchall())
        if not meta:
            self.db.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("schema", SCHEMA_VERSION), ("profile", profile), ("tenant", tenant)])
            return
        if meta.get("schema") != SCHEMA_VERSION:
            raise UsageError([codes.state_schema_differs(self.path, meta.get("schema"),
                                                         SCHEMA_VERSION)])
        owner = (meta.get("profile"), meta.get("tenant"))
        if owner != (profile, tenant):
            raise UsageError([codes.state_of_another(self.path, owner, profile, tenant)])

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- reading ----------------------------------------------------------------------
    def run(self, run_id: int) -> RunRecord | None:
        row = self.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else RunRecord.of(row)

    def runs(self, limit: int = 50) -> list[RunRecord]:
        rows = self.db.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,))
        return [RunRecord.of(r) for r in rows.fetchall()]

    def last_committed(self) -> RunRecord | None:
        marks = ",".join("?" * len(COMMITTED))
        row = self.db.execute(f"SELECT * FROM runs WHERE outcome IN ({marks}) "
                              "ORDER BY id DESC LIMIT 1", COMMITTED).fetchone()
        return None if row is None else RunRecord.of(row)

    def report(self, run_id: int) -> Report | None:
        row = self.db.execute("SELECT report FROM runs WHERE id = ?", (run_id,)).fetchone()
        return decode(row[0]) if row and row[0] else None

    def snapshot(self, output: str) -> pl.DataFrame | None:
        row = self.db.execute("SELECT data FROM snapshots WHERE output = ?", (output,)).fetchone()
        return None if row is None else _frame(row[0])

    def snapshots(self) -> dict[str, pl.DataFrame]:
        rows = self.db.execute("SELECT output, data FROM snapshots").fetchall()
        return {output: _frame(data) for output, data in rows}

    def source(self) -> SourceSnapshot | None:
        rows = self.db.execute("SELECT entity, version, file, data FROM sources").fetchall()
        if not rows:
            return None
        return SourceSnapshot(rows[0]["version"], {r["entity"]: r["data"] for r in rows},
                              {r["entity"]: r["file"] for r in rows})

    def source_files(self) -> dict[str, str]:
        """Per entity, the fingerprint of the file its stored records were kept from
        (``delta.fingerprint``); one written with other records since (by the same
        entity's ``run``) is not given."""
        rows = self.db.execute(
            "SELECT f.entity, f.fingerprint FROM source_files f JOIN sources s "
            "ON s.entity = f.entity AND s.run = f.run").fetchall()
        return {r["entity"]: r["fingerprint"] for r in rows}

    def changes(self, run_id: int) -> dict[str, pl.DataFrame]:
        rows = self.db.execute("SELECT output, data FROM changes WHERE run = ?", (run_id,))
        return {output: _frame(data) for output, data in rows.fetchall()}

    def reviews(self) -> dict[int, Review]:
        """Who approved or rejected which held run, by run."""
        rows = self.db.execute("SELECT * FROM reviews ORDER BY run").fetchall()
        return {int(r["run"]): Review.of(r) for r in rows}

    def _review(self, run_id: int, action: Outcome, who: str, note: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO reviews VALUES (?, ?, ?, ?, ?)",
                        (run_id, action, who, _now(), note))

    def history(self, limit: int = 30) -> list[HistoryEntry]:
        """The last runs, oldest first, as the report's charts read them."""
        return [HistoryEntry(run=r.id, started=r.started, outcome=r.outcome, rows=r.rows,
                             changes=r.changes) for r in reversed(self.runs(limit))]

    # --- writing ----------------------------------------------------------------------
    def begin(self, source: str, mapping: str, sha256: str) -> int:
        """Record a run as running; a run killed now is found ``interrupted`` later."""
        with self.transaction():
            cursor = self.db.execute(
                "INSERT INTO runs (started, source, mapping, mapping_sha256, outcome) "
                "VALUES (?, ?, ?, ?, ?)", (_now(), source, mapping, sha256, Outcome.RUNNING))
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def fail(self, run_id: int, error: str, outcome: Outcome = Outcome.FAILED) -> None:
        """Record why a run ended, unless it got past its commit point (or was held):
        then it stands, and :meth:`recover` finishes what is left."""
        with self.transaction():
            self.db.execute("UPDATE runs SET outcome = ?, finished = ?, error = ? "
                            "WHERE id = ? AND outcome = ?",
                            (outcome, _now(), error, run_id, Outcome.RUNNING))

    def _supersede_held(self) -> None:
        """A newer run decides: held runs before it can no longer be approved."""
        self.db.execute("DELETE FROM pending")
        self.db.execute("UPDATE runs SET outcome = ? WHERE outcome = ?",
                        (Outcome.SUPERSEDED, Outcome.HELD))

    def _finish_row(self, run_id: int, outcome: Outcome, base: int | None, out_dir: Path,
                    staging: Path, publishing: bool, rows: dict[str, int],
                    changes: dict[str, dict[str, int]], report: str) -> None:
        self.db.execute(
            "UPDATE runs SET outcome = ?, finished = ?, base_run = ?, out_dir = ?, staging = ?, "
            "publishing = ?, rows = ?, changes = ?, report = ? WHERE id = ?",
            (outcome, _now(), base, str(out_dir.absolute()), str(staging.absolute()),
             int(publishing), json.dumps(rows), json.dumps(changes), report, run_id))

    def _write_committed(self, run_id: int, snapshots: dict[str, bytes],
                         changes: dict[str, bytes], source: SourceSnapshot | None) -> None:
        for output, data in snapshots.items():
            self.db.execute("INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?)",
                            (output, run_id, data))
        for output, data in changes.items():
            self.db.execute("INSERT OR REPLACE INTO changes VALUES (?, ?, ?)",
                            (run_id, output, data))
        # Older runs keep their outcome and counts (the runs row), not their details.
        oldest = run_id - max(1, self.retention.runs)
        self.db.execute("DELETE FROM changes WHERE run <= ?", (oldest,))
        self.db.execute("UPDATE runs SET report = NULL WHERE id <= ? AND report IS NOT NULL "
                        "AND outcome != ?", (oldest, Outcome.HELD))
        if source is not None:
            self._write_source(run_id, source)

    def _write_source(self, run_id: int, source: SourceSnapshot) -> None:
        """The source records, each entity's written only where it differs from the
        stored one: a district's files unchanged since the last run (the same file, by
        its fingerprint, or compressed alike, byte for byte) cost a comparison, not a
        rewrite of the state's largest part. Each file's fingerprint is kept with the
        run its records were stored by."""
        entities = [*source.blobs, *source.same]
        marks = ",".join("?" * len(entities))
        for table in ("sources", "source_files"):
            self.db.execute(f"DELETE FROM {table} WHERE entity NOT IN ({marks})", entities)
        for entity, data in source.blobs.items():
            file = source.files.get(entity, "")
            row = self.db.execute("SELECT run FROM sources WHERE entity = ? AND version = ? "
                                  "AND file = ? AND data = ?",
                                  (entity, source.version, file, data)).fetchone()
            if row is None:
                self.db.execute("INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?, ?)",
                                (entity, run_id, source.version, file, data))
            if entity in source.stats:
                self.db.execute("INSERT OR REPLACE INTO source_files VALUES (?, ?, ?)",
                                (entity, run_id if row is None else row[0],
                                 source.stats[entity]))

    def commit(self, run_id: int, outcome: Outcome, base: int | None, out_dir: Path, staging: Path,
               snapshots: dict[str, bytes], changes: dict[str, bytes],
               source: SourceSnapshot | None, rows: dict[str, int],
               counts: dict[str, dict[str, int]], report: str) -> None:
        """The commit point: the new state, and the staging folder left to publish.
        ``snapshots`` and ``changes`` are encoded (``encode_frame``); ``report`` is
        report.json's text, as the staging folder holds it."""
        with self.transaction():
            self._supersede_held()
            self._write_committed(run_id, snapshots, changes, source)
            self._finish_row(run_id, outcome, base, out_dir, staging, True, rows, counts, report)

    def published(self, run_id: int) -> None:
        with self.transaction():
            self.db.execute("UPDATE runs SET publishing = 0, staging = NULL WHERE id = ?",
                            (run_id,))

    def hold(self, run_id: int, base: int | None, out_dir: Path, folder: Path,
             snapshots: dict[str, bytes], changes: dict[str, bytes],
             source: SourceSnapshot | None, rows: dict[str, int],
             counts: dict[str, dict[str, int]], report: str) -> None:
        """Keep a held run's state aside; the committed state does not change.
        ``report`` is report.json's text."""
        with self.transaction():
            self._supersede_held()
            for output, data in snapshots.items():
                self.db.execute("INSERT INTO pending VALUES (?, 'output', ?, ?, '')",
                                (run_id, output, data))
            for output, data in changes.items():
                self.db.execute("INSERT INTO pending VALUES (?, 'changes', ?, ?, '')",
                                (run_id, output, data))
            if source is not None:
                kept = {entity: self.db.execute("SELECT data FROM sources WHERE entity = ?",
                                                (entity,)).fetchone()[0]
                        for entity in sorted(source.same)}  # the stored, kept aside too
                for entity, data in {**source.blobs, **kept}.items():
                    extra = json.dumps([source.version, source.files.get(entity, "")])
                    self.db.execute("INSERT INTO pending VALUES (?, 'source', ?, ?, ?)",
                                    (run_id, entity, data, extra))
            self._finish_row(run_id, Outcome.HELD, base, out_dir, folder, False, rows, counts,
                             report)

    def approve(self, run_id: int, report: Report, who: str = "", note: str = "") -> RunRecord:
        """Commit a held run's state, as if it had passed; its folder is then published.
        ``who`` approved it (and ``note`` says why), recorded in the same transaction."""
        self._held(run_id)
        pending = self.db.execute("SELECT kind, name, data, extra FROM pending WHERE run = ?",
                                  (run_id,)).fetchall()
        snapshots = {r["name"]: r["data"] for r in pending if r["kind"] == "output"}
        changes = {r["name"]: r["data"] for r in pending if r["kind"] == "changes"}
        sources = [r for r in pending if r["kind"] == "source"]
        source = None
        if sources:
            version = json.loads(sources[0]["extra"])[0]
            source = SourceSnapshot(version, {r["name"]: r["data"] for r in sources},
                                    {r["name"]: json.loads(r["extra"])[1] for r in sources})
        with self.transaction():
            self._write_committed(run_id, snapshots, changes, source)
            self.db.execute("DELETE FROM pending WHERE run = ?", (run_id,))
            self.db.execute("UPDATE runs SET outcome = ?, publishing = 1, report = ? "
                            "WHERE id = ?", (Outcome.APPROVED, encode(report), run_id))
            self._review(run_id, Outcome.APPROVED, who, note)
        approved = self.run(run_id)
        assert approved is not None
        return approved

    def reject(self, run_id: int, who: str = "", note: str = "") -> RunRecord:
        record = self._held(run_id)
        with self.transaction():
            self.db.execute("DELETE FROM pending WHERE run = ?", (run_id,))
            self.db.execute("UPDATE runs SET outcome = ?, staging = NULL WHERE id = ?",
                            (Outcome.REJECTED, run_id))
            self._review(run_id, Outcome.REJECTED, who, note)
        return record

    def _held(self, run_id: int) -> RunRecord:
        record = self.run(run_id)
        if record is None:
            raise UsageError([codes.no_such_run(run_id, str(self.path))])
        if record.outcome is not Outcome.HELD:
            raise UsageError([codes.run_not_held(run_id, record.outcome, str(self.path))])
        last = self.last_committed()
        if last is not None and record.base_run is not None and last.id != record.base_run:
            raise UsageError([codes.run_based_on_older(run_id, record.base_run, last.id,
                                                       str(self.path))])
        return record

    def recover(self) -> list[int]:
        """Finish what a killed or unpublished run left: its publication (the runs
        published now are returned), and runs left running (recorded interrupted)."""
        done = []
        rows = self.db.execute(
            "SELECT id, staging, out_dir FROM runs WHERE publishing = 1").fetchall()
        for row in rows:
            if row["staging"] and row["out_dir"]:
                publish(Path(row["staging"]), Path(row["out_dir"]))
            self.published(row["id"])
            done.append(int(row["id"]))
        with self.transaction():
            self.db.execute("UPDATE runs SET outcome = ?, finished = ? WHERE outcome = ?",
                            (Outcome.INTERRUPTED, _now(), Outcome.RUNNING))
        return done


def orphan_staging(out_dir: Path, store: Store, held_dir: str = "held") -> None:
    """Remove what killed runs left in ``out_dir``: staging folders no run is
    publishing, and held folders of runs that never got to be held."""
    if not out_dir.is_dir():
        return
    live = {r["staging"] for r in store.db.execute(
        "SELECT staging FROM runs WHERE (publishing = 1 OR outcome = ?) "
        "AND staging IS NOT NULL", (Outcome.HELD,)).fetchall()}
    for folder in out_dir.absolute().glob(f"{STAGING_PREFIX}*"):
        if str(folder) not in live:
            discard(folder)
    for folder in (out_dir.absolute() / held_dir).glob("*"):
        if folder.is_dir() and str(folder) not in live and folder.name.isdigit():
            discard(folder)
