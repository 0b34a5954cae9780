"""impact.json and impact.html: what an edited mapping changes, before it ships.

``rostermap impact`` runs a profile's mapping and an edited one on the same records
and compares their outputs row by row (``runtime.sync.impact``); these classes are
its result as data. Like report.json they are frozen msgspec structs, so that the
JSON, the page and the published schema (``schema()``) cannot drift apart. Sample
rows are masked before they get here: secrets always, personal values unless the
command was asked to show them.
"""

from __future__ import annotations

import enum
import functools
import json
import re
from typing import Any

import jinja2
import msgspec

from rostermap.runtime.redact import redact, redact_data
from rostermap.runtime.report.template_cache import environment

__all__ = ["IMPACT_VERSION", "ColumnChange", "Impact", "ImpactRow", "ManyImpact",
           "OutputImpact", "RejectChange", "RowKind", "RuleChange", "TenantImpact",
           "WarningChange", "encode", "encode_many", "render_html", "render_many_html",
           "schema", "summary", "summary_many"]

IMPACT_VERSION = 1
PERSONAL = "‹personal›"
SECRET = "‹secret›"


class RowKind(enum.StrEnum):
    APPEARS = "appears"  # a key only the edited mapping writes
    DISAPPEARS = "disappears"  # a key only the current mapping writes
    CHANGES = "changes"  # the same key, other values


class _Part(msgspec.Struct, kw_only=True, frozen=True):
    """A part of impact.json: built by keyword, immutable."""


class ColumnChange(_Part, kw_only=True, frozen=True):
    column: str
    rows: int  # rows of the same key whose value in this column differs


class ImpactRow(_Part, kw_only=True, frozen=True):
    """A sample row, masked: values before (current) and after (edited)."""

    kind: RowKind
    key: str
    before: dict[str, str | None] | None = None
    after: dict[str, str | None] | None = None
    changed: list[str] = []


class OutputImpact(_Part, kw_only=True, frozen=True):
    output: str
    key: list[str]  # the columns rows are matched by; empty: whole rows
    before: int  # rows the current mapping writes
    after: int  # rows the edited mapping writes
    appears: int
    disappears: int
    changes: int
    unchanged: int
    share: float  # (appears + disappears + changes) / max(before, 1)
    columns: list[ColumnChange] = []
    added_columns: list[str] = []
    removed_columns: list[str] = []
    samples: list[ImpactRow] = []
    only: str | None = None  # "current" or "edited": an output one mapping lacks


class RuleChange(_Part, kw_only=True, frozen=True):
    """A `where` rule whose drop count moved; None where a mapping lacks the rule."""

    output: str
    rule: str
    before: int | None
    after: int | None


class WarningChange(_Part, kw_only=True, frozen=True):
    code: str
    message: str
    output: str | None = None
    before: int  # how many records it matched (1 for a diagnostic without a count)
    after: int


class RejectChange(_Part, kw_only=True, frozen=True):
    """A record rejected by one mapping only."""

    record: str
    output: str
    reason: str
    new: bool  # True: the edited mapping rejects it; False: it no longer does


class Impact(_Part, kw_only=True, frozen=True):
    """impact.json."""

    impact_version: int = IMPACT_VERSION
    rostermap: str
    profile: str
    current: str  # the mapping files compared
    current_sha256: str
    edited: str
    edited_sha256: str
    source: str  # a package's path, or the state whose records were read
    tenant: str | None = None
    run: int | None = None  # the stored run whose records were read
    today: str
    pii_shown: bool = False
    outputs: list[OutputImpact]
    rules: list[RuleChange] = []
    warnings: list[WarningChange] = []
    rejects: list[RejectChange] = []
    share: float  # the largest output's share of rows that differ
    fail_over: float | None = None  # --fail-over, percent
    over: bool = False  # share above fail_over: the command exits non-zero


class TenantImpact(_Part, kw_only=True, frozen=True):
    tenant: str
    impact: Impact | None = None
    error: str | None = None  # why the tenant could not be compared


class ManyImpact(_Part, kw_only=True, frozen=True):
    """`run-many --impact`: one Impact per tenant of the profile."""

    impact_version: int = IMPACT_VERSION
    rostermap: str
    profile: str
    edited: str
    tenants: list[TenantImpact]
    fail_over: float | None = None
    over: bool = False


def _data(value: Impact | ManyImpact) -> Any:
    return redact_data(msgspec.to_builtins(value))


def encode(impact: Impact) -> str:
    """impact.json's text, every registered secret masked."""
    return json.dumps(_data(impact), indent=2) + "\n"


def encode_many(many: ManyImpact) -> str:
    return json.dumps(_data(many), indent=2) + "\n"


def schema() -> dict[str, Any]:
    """impact.json's JSON Schema, as msgspec writes it from these classes."""
    body: dict[str, Any] = msgspec.json.schema(Impact)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://rostermap.dev/schemas/impact.schema.json",
            "title": "rostermap impact.json", **body}


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%"


def summary(impact: Impact) -> str:
    """The terminal summary: per output, the rows that appear, disappear and change."""
    lines = [f"rostermap impact {impact.profile}: {impact.edited} against {impact.current}",
             f"  records: {impact.source}" + (f" (run {impact.run})" if impact.run else "")]
    width = max((len(o.output) for o in impact.outputs), default=10)
    for o in impact.outputs:
        if o.only is not None:
            lines.append(f"  {o.output:<{width}}  only in the {o.only} mapping "
                         f"({o.before or o.after} rows)")
            continue
        lines.append(f"  {o.output:<{width}}  +{o.appears} -{o.disappears} ~{o.changes} "
                     f"of {o.before} rows ({_pct(o.share)})")
        for c in o.columns:
            lines.append(f"  {'':<{width}}    {c.column}: {c.rows} row(s) changed")
        for what, columns in (("new column", o.added_columns),
                              ("column gone", o.removed_columns)):
            for column in columns:
                lines.append(f"  {'':<{width}}    {what}: {column}")
    for r in impact.rules:
        before = "-" if r.before is None else str(r.before)
        after = "-" if r.after is None else str(r.after)
        lines.append(f"  rule `{r.rule}` ({r.output}): drops {before} -> {after}")
    for w in impact.warnings:
        lines.append(f"  warning [{w.code}] {w.message}: {w.before} -> {w.after}")
    new = sum(j.new for j in impact.rejects)
    if impact.rejects:
        lines.append(f"  rejects: {new} new, {len(impact.rejects) - new} no longer")
    verdict = f"  largest change: {_pct(impact.share)} of an output's rows"
    if impact.fail_over is not None:
        verdict += (f", over --fail-over {impact.fail_over:g}%" if impact.over
                    else f", within --fail-over {impact.fail_over:g}%")
    lines.append(verdict)
    return redact("\n".join(lines))


def summary_many(many: ManyImpact) -> str:
    rows = [("tenant", "appears", "disappears", "changes", "largest", "")]
    for t in many.tenants:
        if t.impact is None:
            rows.append((t.tenant, "-", "-", "-", "-", f"failed: {t.error or ''}"))
            continue
        i = t.impact
        rows.append((t.tenant, str(sum(o.appears for o in i.outputs)),
                     str(sum(o.disappears for o in i.outputs)),
                     str(sum(o.changes for o in i.outputs)), _pct(i.share),
                     "over" if i.over else ""))
    widths = [max(len(r[c]) for r in rows) for c in range(5)]
    lines = ["  ".join([r[0].ljust(widths[0]), *(r[c].rjust(widths[c]) for c in range(1, 5)),
                        r[5]]).rstrip() for r in rows]
    failed = sum(t.impact is None for t in many.tenants)
    over = sum(t.impact is not None and t.impact.over for t in many.tenants)
    lines.append(f"{len(many.tenants)} tenant(s) of {many.profile}: {failed} failed"
                 + (f", {over} over --fail-over {many.fail_over:g}%"
                    if many.fail_over is not None else ""))
    return redact("\n".join(lines))


@functools.cache
def _environment() -> jinja2.Environment:
    env = environment(
        "rostermap.runtime.report", "templates",
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = _pct
    env.globals["style"] = report_style()
    return env


@functools.cache
def report_style() -> str:
    """report.html's stylesheet, read from its template: one look for every page."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("rostermap.runtime.report",
                                                         "templates"))
    assert env.loader is not None
    text = env.loader.get_source(env, "report.html.jinja")[0]
    found = re.search(r"<style>(.*?)</style>", text, re.S)
    return found.group(1) if found else ""


def render_html(impact: Impact) -> str:
    """impact.html: one self-contained page."""
    page = _environment().get_template("impact.html.jinja")
    return page.render(many=None, impacts=[(None, _data(impact))])


def render_many_html(many: ManyImpact) -> str:
    page = _environment().get_template("impact.html.jinja")
    return page.render(many=_data(many), impacts=[
        (t.tenant, _data(t.impact) if t.impact else {"error": redact(t.error or "")})
        for t in many.tenants])
