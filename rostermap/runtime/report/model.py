"""report.json as typed data: built once from a run's results, written as JSON.

Tools, support desks and the run state read these reports for years, so their
shape is a published contract: ``docs/report.schema.json`` is generated from these
classes (``python scripts/update_docs.py``), and the tests validate every report they
write against it. ``REPORT_VERSION`` changes when a field changes its meaning or goes
away; a new optional field keeps it.

msgspec encodes and decodes the classes and writes their JSON Schema, so the
classes, the JSON and the schema cannot drift apart.
"""

from __future__ import annotations

import enum
import json
from typing import Any

import msgspec

from rostermap.runtime.errors import HELD, PARTIAL, UNPUBLISHED
from rostermap.runtime.redact import redact_data

__all__ = ["REPORT_VERSION", "DroppedRule", "EntityCount", "FetchStats", "Guard",
           "GuardLimit", "HistoryEntry", "Outcome", "OutputReport", "Report", "ReportWarning",
           "SourceReject", "SourceReport", "SyncReport", "TransformReject", "decode",
           "encode", "schema", "to_json"]

REPORT_VERSION = 1


class Outcome(enum.StrEnum):
    """How a run ended, as report.json, the run history and ``run-many`` say it."""

    SUCCESS = "success"  # every record written
    PARTIAL = "partial"  # written, without the records that were rejected
    HELD = "held"  # over a mass-change limit: nothing published until approved
    DRY_RUN = "dry-run"  # computed and compared, nothing written
    APPROVED = "approved"  # a held run, published by a person
    REJECTED = "rejected"  # a held run, dropped by a person
    SUPERSEDED = "superseded"  # a held run a later run replaced
    UNPUBLISHED = "unpublished"  # committed, but its files could not be moved into --out
    FAILED = "failed"  # stopped by an error; nothing written
    INTERRUPTED = "interrupted"  # killed; nothing written
    RUNNING = "running"  # in the run history only, while it runs

    @property
    def exit_code(self) -> int:
        """What ``rostermap run`` exits with after a run that ended so."""
        return {Outcome.PARTIAL: PARTIAL, Outcome.HELD: HELD, Outcome.UNPUBLISHED: UNPUBLISHED,
                Outcome.FAILED: 1, Outcome.INTERRUPTED: 1}.get(self, 0)

    @property
    def committed(self) -> bool:
        """Whether the run's state is the one the next run compares with."""
        return self in (Outcome.SUCCESS, Outcome.PARTIAL, Outcome.APPROVED, Outcome.UNPUBLISHED)


class _Part(msgspec.Struct, kw_only=True, frozen=True):
    """A part of the report: built by keyword, immutable (``msgspec.structs.replace``
    makes a changed copy). Each class repeats ``kw_only`` and ``frozen`` for mypy, which
    does not inherit them. Every field is in the JSON, null or empty when unset, except
    in the parts whose shape varies (``omit_defaults``: warnings, the sync section)."""


class FetchStats(_Part, kw_only=True, frozen=True):
    """How one collection was fetched from a REST API."""

    path: str
    filter: str | None = None
    records: int
    rejected: int
    pages: int
    requests: int
    retries: int
    page_size: int | None = None
    seconds: float


class SourceReport(_Part, kw_only=True, frozen=True):
    path: str  # the package's path, or the API's URL without credentials
    oneroster_version: str
    fetch: dict[str, FetchStats] | None = None  # per entity, for a REST source


class EntityCount(_Part, kw_only=True, frozen=True):
    file: str
    records: int


class DroppedRule(_Part, kw_only=True, frozen=True):
    """A `where` rule of an output and how many records it dropped."""

    line: int
    rule: str
    records: int


class OutputReport(_Part, kw_only=True, frozen=True):
    entity: str
    read: int  # records of the entity
    kept: int  # past the `where` rules
    rows: int  # in the file: kept, less rejected, plus carried and departed
    rejected: int
    dropped: list[DroppedRule]
    carried: int = 0  # rows of earlier runs kept in the file (grace periods, keep)
    departed: int = 0  # rows sent for records that left (`when missing ... with`)
    # `for each NAME in LIST`: NAME; then read, kept and dropped count (record, item)
    # pairs, not records
    each: str | None = None


class ReportWarning(_Part, kw_only=True, frozen=True, omit_defaults=True):
    """A warning: of the source or the mapping (a diagnostic), or of an output's rule."""

    code: str
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    end_line: int | None = None
    end_column: int | None = None
    label: str | None = None
    field: str | None = None
    notes: list[str] = []
    output: str | None = None  # the output whose rule matched
    count: int | None = None  # records it matched
    records: list[str] | None = None  # `where ... else warn`: every record it dropped
    examples: list[str] | None = None  # `warn`: the first records it matched


class SourceReject(_Part, kw_only=True, frozen=True, tag_field="kind", tag="source"):
    """A REST record left out: it failed the OneRoster JSON Schema."""

    record: str  # entity/sourcedId
    entity: str
    sourcedId: str  # noqa: N815 - OneRoster's own spelling, as the record has it
    field: str
    reason: str


class TransformReject(_Part, kw_only=True, frozen=True, tag_field="kind", tag="transform"):
    """A record left out of an output: a column could not be computed, or a reject rule."""

    record: str
    output: str
    at: str  # mapping file:line
    reason: str


class GuardLimit(_Part, kw_only=True, frozen=True):
    """One mass-change limit measured against the run's changes."""

    output: str
    action: str
    limit: str
    school: str | None = None  # a per-school limit's school
    count: int
    base: int
    share: float
    exceeded: bool


class Guard(_Part, kw_only=True, frozen=True, omit_defaults=True):
    held: bool
    limits: list[GuardLimit]
    approve: str | None = None  # the commands that release a held run
    reject: str | None = None


class HistoryEntry(_Part, kw_only=True, frozen=True, omit_defaults=True):
    run: int | None
    started: str
    outcome: Outcome
    rows: dict[str, int] | None = None
    changes: dict[str, dict[str, int]] | None = None


class SyncReport(_Part, kw_only=True, frozen=True, omit_defaults=True):
    """What changed since the tenant's last committed run, and the guard's verdict."""

    state: str
    tenant: str | None  # None: the state follows the output folder
    out: str | None = None  # the output folder
    run: int | None
    base_run: int | None
    outcome: Outcome
    changes: dict[str, dict[str, int]]  # per output, per action
    schools: dict[str, dict[str, dict[str, int]]]  # per output, per school, per action
    guard: Guard
    history: list[HistoryEntry]
    repeated_keys: dict[str, int] = {}  # per output, rows sharing a key with an earlier row
    postponed_note: str | None = None
    published_late: list[int] = []  # earlier runs whose files this command published


class Report(_Part, kw_only=True, frozen=True):
    """report.json."""

    report_version: int = REPORT_VERSION
    rostermap: str
    profile: str
    mapping: str
    mapping_sha256: str
    source: SourceReport
    params: dict[str, Any]  # secrets as ‹secret›
    started: str
    finished: str
    seconds: float
    outcome: Outcome
    entities: dict[str, EntityCount]
    outputs: dict[str, OutputReport]
    warnings: list[ReportWarning] = []
    rejects: list[SourceReject | TransformReject] = []
    counters: dict[str, dict[str, int]] = {}
    sync: SyncReport | None = None


def to_json(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data, every registered secret masked."""
    data: dict[str, Any] = redact_data(msgspec.to_builtins(report))
    return data


def encode(report: Report) -> str:
    """report.json's text: indented, keys in the classes' order, secrets masked."""
    return dumps(to_json(report))


def dumps(data: dict[str, Any]) -> str:
    """JSON data (``to_json``'s) as report.json's text, as ``json.dumps(indent=2)``
    writes it: encoded by json's C encoder and indented by msgspec's formatter, six
    times faster than json's own indenting, which is pure Python (a 1M-student
    district's report, with its per-school figures, is 2 MB). What the formatter
    cannot read back (NaN, a path's undecodable bytes) is written by json alone."""
    try:
        return msgspec.json.format(json.dumps(data, allow_nan=False), indent=2) + "\n"
    except (ValueError, msgspec.DecodeError):
        return json.dumps(data, indent=2) + "\n"


def decode(data: dict[str, Any] | str | bytes) -> Report:
    """A report read back (from the run state, or a report.json), checked for its shape."""
    if isinstance(data, dict):
        return msgspec.convert(data, Report)
    return msgspec.json.decode(data, type=Report)


def schema() -> dict[str, Any]:
    """report.json's JSON Schema (draft 2020-12), as published in docs/.

    Stricter than msgspec writes it: no property a class does not declare, and every
    property required where the class always writes it (all but the parts whose
    shape varies), so that a report with a field missing or misspelt fails.
    """
    body: dict[str, Any] = msgspec.json.schema(Report)
    classes = {cls.__name__: cls for cls in _Part.__subclasses__()}
    for name, definition in body["$defs"].items():
        if "properties" not in definition:
            continue  # the Outcome enumeration
        definition["additionalProperties"] = False
        if not classes[name].__struct_config__.omit_defaults:
            definition["required"] = list(definition["properties"])
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://rostermap.dev/schemas/report.schema.json",
            "title": "rostermap report.json", **body}
