"""OneRoster delta packages, applied on top of the source records of the last run.

A delta package's manifest marks files ``delta``: they hold only the records that
changed since the previous export, each with ``status`` active (added or changed)
or ``tobedeleted``. Read alone, a delta looks like a district that lost almost
everyone. So a stateful run keeps the source records it read (every field of every
file: a *source snapshot*), and a later delta package is applied on top of it:

- a ``delta`` file replaces the stored records of its sourcedIds and drops those
  marked ``tobedeleted``;
- a ``bulk`` file replaces its entity entirely;
- a file the delta package leaves ``absent`` is unchanged.

The result reads exactly like the equivalent bulk package, so outputs and change
sets are the same whichever the district sent. A delta package with no stored
snapshot (a first run, or a new tenant) is refused: there is nothing to apply it to.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl

from compiler import schema
from dsl.diagnostics import DataLocation, Diagnostic
from runtime.errors import RunError
from runtime.sources.csv_package import Package
from runtime.sources.raw import LINE, RawTable

__all__ = ["SnapshotSource", "SourceSnapshot", "is_delta"]


@dataclass
class SourceSnapshot:
    """Every field of every file of a source, as text, with the line each came from."""

    version: str
    frames: dict[str, pl.DataFrame] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # entity -> file name

    def encode(self) -> dict[str, bytes]:
        """Per entity, a Parquet blob: compact, typed, fast to store and load."""
        blobs = {}
        for entity, frame in self.frames.items():
            buffer = io.BytesIO()
            frame.write_parquet(buffer, compression="zstd")
            blobs[entity] = buffer.getvalue()
        return blobs

    @classmethod
    def decode(cls, version: str, blobs: dict[str, bytes], files: dict[str, str]
               ) -> SourceSnapshot:
        frames = {e: pl.read_parquet(io.BytesIO(b)) for e, b in blobs.items()}
        return cls(version, frames, files)


def is_delta(package: object) -> bool:
    """Whether a source is a CSV package whose manifest marks any file delta."""
    return isinstance(package, Package) and "delta" in package.modes.values()


def _fields(entity: str) -> tuple[str, ...]:
    return tuple(schema.ENTITIES[entity].fields)


class SnapshotSource:
    """A CSV package read whole, with its deltas applied on ``base``: a ``Source``.

    It reads every field of each file once (so that the next run can apply a delta
    on it) and serves the fields asked for from that; :meth:`snapshot` is what the
    run's state keeps.
    """

    def __init__(self, package: Package, base: SourceSnapshot | None):
        if is_delta(package) and base is None:
            deltas = sorted(s for s, mode in package.modes.items() if mode == "delta")
            raise RunError([Diagnostic(
                "RM419", f"manifest.csv marks {', '.join(deltas)} as delta, and there is no "
                "earlier run to apply the changes to", location=DataLocation("manifest.csv"),
                notes=("help: send a full (bulk) package first; later runs take deltas",
                       "note: runs of the same --tenant and profile share their state"))])
        if base is not None and is_delta(package) and base.version != package.version:
            raise RunError([Diagnostic(
                "RM419", f"this delta package is OneRoster {package.version}, but the stored "
                f"snapshot is {base.version}", location=DataLocation("manifest.csv"),
                notes=("help: send a full (bulk) package to start over",))])
        self.package = package
        self.base = base if is_delta(package) else None
        self.origin = package.origin
        self.version = package.version
        self.warnings = package.warnings
        self._read: dict[str, RawTable] = {}

    @property
    def layout(self) -> str:
        return self.package.layout

    def _mode(self, entity: str) -> str:
        return self.package.modes.get(entity, "bulk" if self.package.has(entity) else "absent")

    def has(self, entity: str) -> bool:
        if self.package.has(entity):
            return True
        return self.base is not None and entity in self.base.frames

    def close(self) -> None:
        self.package.close()

    def read(self, entity: str, fields: Iterable[str]) -> RawTable:
        whole = self._whole(entity)
        wanted = list(dict.fromkeys(fields))
        frame = whole.frame.select(LINE, *wanted)
        return RawTable(entity, whole.file, frame,
                        {f: c for f, c in whole.columns.items() if f in wanted})

    def _whole(self, entity: str) -> RawTable:
        if entity in self._read:
            return self._read[entity]
        every = _fields(entity)
        if not self.package.has(entity):
            assert self.base is not None  # has() said so
            stored = self.base.frames[entity]
            file = self.base.files.get(entity, schema.ENTITIES[entity].file)
            table = RawTable(entity, f"{file} (as of the last run)", stored,
                             {f: f for f in every})
        else:
            table = self.package.read(entity, every)
            if self._mode(entity) == "delta" and self.base is not None:
                table = self._apply(entity, table)
        self._read[entity] = table
        return table

    def _apply(self, entity: str, delta: RawTable) -> RawTable:
        base = self.base.frames.get(entity) if self.base is not None else None
        if base is None:
            base = delta.frame.clear()
        if "sourcedId" not in delta.columns:
            raise RunError([Diagnostic(
                "RM405", f"{delta.file} is a delta but has no sourcedId column",
                location=DataLocation(delta.file, 1, "sourcedId"))])
        status = pl.col("status").str.strip_chars().str.to_lowercase()
        changed = delta.frame.get_column("sourcedId").str.strip_chars()
        kept = base.filter(~pl.col("sourcedId").str.strip_chars().is_in(changed.implode()))
        added = delta.frame.filter(status.fill_null("") != "tobedeleted")
        merged = pl.concat([kept, added], how="vertical_relaxed")
        return RawTable(entity, f"{delta.file} (delta applied)", merged, delta.columns)

    def snapshot(self) -> SourceSnapshot:
        """Every file of the source as this run read it (deltas applied)."""
        entities = set(self.package.files) | (set(self.base.frames) if self.base else set())
        frames, files = {}, {}
        for entity in sorted(entities):
            if entity not in schema.ENTITIES:
                continue
            frames[entity] = self._whole(entity).frame
            files[entity] = self.package.files.get(entity) or (
                self.base.files.get(entity, "") if self.base else "")
        return SourceSnapshot(self.version, frames, files)
