"""The report of a push: every write, its outcome and what the target said.

report.json (``encode``) and report.html (``render_html``) of ``rostermap push``.
Writes are named by push and record key (sourcedIds), method and path: never by
their bodies, which hold students' scores. The target's messages are redacted and
cut short, since a target may echo a request.
"""

from __future__ import annotations

import enum
import functools
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import jinja2
import msgspec

from rostermap.runtime.redact import redact
from rostermap.runtime.report.template_cache import environment

__all__ = ["PushReport", "Write", "WriteOutcome", "encode", "render_html", "schema"]

MAX_MESSAGE = 500


class WriteOutcome(enum.StrEnum):
    CREATED = "created"  # the target made the record (a `create` request)
    WRITTEN = "written"  # the record was written (a `send` request)
    FAILED = "failed"  # refused, or no answer after the retries
    SKIPPED = "skipped"  # a record it links to has not been written


@dataclass(frozen=True)
class Write:
    push: str
    key: str
    method: str
    path: str
    outcome: WriteOutcome
    status: int | None = None  # the HTTP status of the last attempt
    attempts: int = 0
    message: str = ""  # the target's words (its error body), or why it was skipped
    code: str = ""  # the diagnostic of a write that failed or was skipped (RM491-RM493)

    @staticmethod
    def message_of(text: str) -> str:
        flat = " ".join(redact(text).split())
        return flat[:MAX_MESSAGE] + ("..." if len(flat) > MAX_MESSAGE else "")


@dataclass(frozen=True)
class PushReport:
    """report.json of a push (``kind`` tells it from a run's report)."""

    kind: str  # always "push"
    profile: str
    mapping: str
    source: str
    target: str
    started: str
    finished: str
    outcome: str  # success | partial | dry-run | failed
    dry_run: bool
    # per push: records in the gradebook, unchanged since the last push, written, failed,
    # skipped
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    writes: list[Write] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(1 for w in self.writes if w.outcome is WriteOutcome.FAILED)


def schema() -> dict[str, Any]:
    """A push's report.json JSON Schema (draft 2020-12), as published in docs/: no
    property the classes do not declare, every declared one required."""
    body: dict[str, Any] = msgspec.json.schema(PushReport)
    for definition in body["$defs"].values():
        if "properties" in definition:
            definition["additionalProperties"] = False
            definition["required"] = list(definition["properties"])
    body["$defs"]["PushReport"]["properties"]["kind"] = {"const": "push"}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://rostermap.dev/schemas/push-report.schema.json",
            "title": "rostermap push report.json", **body}


def encode(report: PushReport) -> bytes:
    data = asdict(report)
    return (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode()


@functools.cache
def _page() -> jinja2.Template:
    # Loaded on first use, from the compiled-template cache (``template_cache``).
    return environment("rostermap.runtime.report", "templates",
                       autoescape=True).get_template("push.html.jinja")


def render_html(report: PushReport) -> str:
    columns = ["records", "unchanged", "written", "failed", "skipped"]
    return _page().render(r=report, columns=columns)
