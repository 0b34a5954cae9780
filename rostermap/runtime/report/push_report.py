"""The report of a push: every write, its outcome and what the target said.

report.json (``encode``) and report.html (``render_html``) of ``rostermap push``.
Writes are named by push and record key (sourcedIds), method and path: never by
their bodies, which hold students' scores. The target's messages are redacted and
cut short, since a target may echo a request.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import jinja2
import msgspec

from rostermap.runtime.redact import redact

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


_PAGE = jinja2.Environment(autoescape=True).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rostermap push: {{ r.profile }}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; max-width: 72em; margin: 2em auto; padding: 0 1em; }
table { border-collapse: collapse; width: 100%; margin: 1em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; }
.failed { color: #a40000; } .skipped { color: #8a6d00; }
code { font-size: 13px; }
</style></head><body>
<h1>Push {{ r.profile }}: {{ r.outcome }}</h1>
<p>{{ r.source }} &rarr; <code>{{ r.target }}</code>, {{ r.started }} to {{ r.finished }}
{%- if r.dry_run %} (dry run: nothing was sent){% endif %}</p>
<table><tr><th>push</th>{% for k in columns %}<th>{{ k }}</th>{% endfor %}</tr>
{% for name, c in r.counts.items() %}<tr><td>{{ name }}</td>
{% for k in columns %}<td>{{ c.get(k, 0) }}</td>{% endfor %}</tr>
{% endfor %}</table>
<h2>Writes</h2>
{% if not r.writes %}<p>Nothing changed since the last push: nothing was sent.</p>{% else %}
<table><tr><th>push</th><th>record</th><th>request</th><th>outcome</th><th>status</th>
<th>attempts</th><th>message</th></tr>
{% for w in r.writes %}<tr class="{{ w.outcome }}"><td>{{ w.push }}</td><td>{{ w.key }}</td>
<td><code>{{ w.method }} {{ w.path }}</code></td><td>{{ w.outcome }}</td>
<td>{{ w.status or "" }}</td><td>{{ w.attempts }}</td><td>{{ w.message }}</td></tr>
{% endfor %}</table>{% endif %}
</body></html>
""")


def render_html(report: PushReport) -> str:
    columns = ["records", "unchanged", "written", "failed", "skipped"]
    return _PAGE.render(r=report, columns=columns)
