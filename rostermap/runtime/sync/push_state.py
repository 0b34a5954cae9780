"""Push state: what each record last sent, and what the target gave back for it.

One SQLite file per push profile and tenant (``--state``, or beside the sync states:
``sync.state.default_state_path`` with ``.push.sqlite``). A record's row holds the
digest of the request content it last wrote successfully and the values its
writes captured (the target's id for an assignment). Each write is committed on its
own the moment its answer arrives: a push that dies half-way keeps every write that
succeeded, so the rerun creates nothing twice and sends only what is left.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rostermap.dsl import codes
from rostermap.runtime.errors import UsageError
from rostermap.runtime.sync.state import default_state_path

__all__ = ["PushStore", "Sent", "open_push_state", "push_state_path"]

SCHEMA_VERSION = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sent (
    push TEXT NOT NULL, key TEXT NOT NULL,
    digest TEXT NOT NULL,          -- of the content last written successfully ('' none)
    captures TEXT NOT NULL,        -- JSON object: capture name -> value
    outcome TEXT NOT NULL,         -- of its last write: created, updated, failed
    at TEXT NOT NULL,
    PRIMARY KEY (push, key));
CREATE TABLE IF NOT EXISTS pushes (
    id INTEGER PRIMARY KEY, started TEXT NOT NULL, finished TEXT,
    target TEXT NOT NULL, outcome TEXT NOT NULL, sent INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0);
"""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def push_state_path(profile: str, tenant: str | None, out_dir: Path | None) -> Path:
    """Where a push profile's state is kept when ``--state`` does not say."""
    return default_state_path(profile, tenant, out_dir).with_suffix(".push.sqlite")


@dataclass(frozen=True)
class Sent:
    """A record as the state knows it: its last good digest and its captures."""

    digest: str = ""
    captures: dict[str, Any] = field(default_factory=dict)  # as the target typed them
    outcome: str = ""


class PushStore:
    """One push profile and tenant's state."""

    def __init__(self, path: Path, profile: str, tenant: str | None):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
            self.db.executescript(_SCHEMA)
            meta = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as error:
            raise UsageError([codes.state_damaged(path, str(error))]) from None
        if not meta:
            self.db.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("schema", SCHEMA_VERSION), ("kind", "push"), ("profile", profile),
                ("tenant", tenant or "")])
        elif (meta.get("kind"), meta.get("profile"), meta.get("tenant")) != (
                "push", profile, tenant or ""):
            raise UsageError([codes.state_of_another(
                path, (meta.get("profile"), meta.get("tenant")), profile, tenant or "")])
        path.chmod(0o600)

    def close(self) -> None:
        self.db.close()

    def get(self, push: str, key: str) -> Sent:
        row = self.db.execute("SELECT digest, captures, outcome FROM sent WHERE push = ? AND "
                              "key = ?", (push, key)).fetchone()
        if row is None:
            return Sent()
        return Sent(row[0], json.loads(row[1]), row[2])

    def capture(self, push: str, key: str, name: str) -> Any:
        """A record's captured value (None: not captured)."""
        return self.get(push, key).captures.get(name)

    def succeeded(self, push: str, key: str, digest: str, captures: Mapping[str, Any],
                  outcome: str) -> None:
        """Record a write that succeeded, in a transaction of its own."""
        merged = {**self.get(push, key).captures, **captures}
        self.db.execute("INSERT OR REPLACE INTO sent VALUES (?, ?, ?, ?, ?, ?)",
                        (push, key, digest, json.dumps(merged, sort_keys=True), outcome, _now()))

    def failed(self, push: str, key: str) -> None:
        """Record a write that failed: its last good digest and captures stay, so the
        next push sends it again and still knows what it created."""
        prior = self.get(push, key)
        self.db.execute("INSERT OR REPLACE INTO sent VALUES (?, ?, ?, ?, ?, ?)",
                        (push, key, prior.digest, json.dumps(prior.captures, sort_keys=True),
                         "failed", _now()))

    def begin(self, target: str) -> int:
        cursor = self.db.execute("INSERT INTO pushes (started, target, outcome) VALUES "
                                 "(?, ?, 'running')", (_now(), target))
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def finish(self, push_id: int, outcome: str, sent: int, failed: int) -> None:
        self.db.execute("UPDATE pushes SET finished = ?, outcome = ?, sent = ?, failed = ? "
                        "WHERE id = ?", (_now(), outcome, sent, failed, push_id))

    def records(self) -> dict[tuple[str, str], Sent]:
        """Every record the state knows, by (push, key)."""
        return {(p, k): Sent(d, json.loads(c), o) for p, k, d, c, o in self.db.execute(
            "SELECT push, key, digest, captures, outcome FROM sent")}


@contextlib.contextmanager
def open_push_state(path: Path, profile: str, tenant: str | None) -> Iterator[PushStore]:
    store = PushStore(path, profile, tenant)
    try:
        yield store
    finally:
        store.close()
