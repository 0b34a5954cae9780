"""The sync report: what was read, what each rule dropped, what was written, what to check.

``report.json`` is for tools and support; the summary is the few lines a
specialist reads on the terminal. Both name records by sourcedId only, never by
name or email: the report travels further than the data. Both pass through
``runtime.redact`` on the way out, so no registered secret reaches them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rostermap.compiler.version import VERSION
from rostermap.dsl import schema
from rostermap.dsl.diagnostics import Diagnostic
from rostermap.runtime.engine.execute import OutputResult
from rostermap.runtime.engine.tables import Tables
from rostermap.runtime.redact import redact
from rostermap.runtime.report.model import (
    DroppedRule,
    EntityCount,
    FetchStats,
    Outcome,
    OutputReport,
    Report,
    ReportWarning,
    SourceReject,
    SourceReport,
    SyncReport,
    TransformReject,
)

__all__ = ["SECRET", "build_report", "summary"]

SECRET = "‹secret›"  # how a secret parameter's value appears in reports


def _warning(d: Diagnostic) -> ReportWarning:
    data = d.to_dict()
    data.pop("severity", None)
    return ReportWarning(**{k: v for k, v in data.items() if v is not None})


def _output_warnings(r: OutputResult) -> list[ReportWarning]:
    warnings = []
    for w in r.warnings:
        named = [f"{r.entity}/{i}" for i in w.examples]
        dropped = w.code == "RM422"  # `where ... else warn`: every record, not examples
        warnings.append(ReportWarning(code=w.code, message=w.message, output=r.name,
                                      line=w.line, count=w.count,
                                      records=named if dropped else None,
                                      examples=None if dropped else named))
    return warnings


def _param(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def build_report(
    *,
    profile: str,
    mapping: str,
    mapping_sha256: str,
    source: str,
    tables: Tables,
    params: Mapping[str, Any],
    results: Iterable[OutputResult],
    started: str,
    finished: str,
    seconds: float,
    warnings: Iterable[Diagnostic] = (),
    secrets: Iterable[str] = (),
    fetch: Mapping[str, FetchStats] | None = None,
    source_rejects: Iterable[SourceReject] = (),
) -> Report:
    """report.json's content.

    ``rejects`` lists every record left out of the outputs, of two kinds: ``source``
    (a REST record that failed the OneRoster JSON Schema: entity, sourcedId, field,
    reason) and ``transform`` (a column or `reject` rule: output, mapping line,
    reason). ``fetch`` says how a REST source was fetched.
    """
    results = list(results)
    hidden = set(secrets)
    rejects: list[SourceReject | TransformReject] = [*source_rejects]
    rejects += [TransformReject(record=j.record, output=j.output, at=f"{mapping}:{j.line}",
                                reason=j.reason)
                for r in results for j in r.rejects]
    return Report(
        rostermap=VERSION,
        profile=profile,
        mapping=mapping,
        mapping_sha256=mapping_sha256,
        source=SourceReport(path=source, oneroster_version=tables.version,
                            fetch=dict(fetch) if fetch is not None else None),
        params={k.lstrip("@"): SECRET if k in hidden else _param(v) for k, v in params.items()},
        started=started,
        finished=finished,
        seconds=round(seconds, 3),
        outcome=Outcome.PARTIAL if rejects else Outcome.SUCCESS,
        entities={entity: EntityCount(file=tables.files[entity], records=tables.count(entity))
                  for entity in sorted(tables.frames)},
        outputs={r.name: OutputReport(
            entity=r.entity, read=r.read, kept=r.kept, rows=r.rows, rejected=r.rejected,
            each=r.each,
            dropped=[DroppedRule(line=c.line, rule=c.text, records=c.dropped) for c in r.rules],
        ) for r in results},
        warnings=[*(_warning(d) for d in warnings),
                  *(w for r in results for w in _output_warnings(r))],
        rejects=rejects,
        counters={r.name: r.counters for r in results if r.counters},
    )


def _read(output: OutputReport) -> str:
    """What an output's ``read`` counts: records of its entity, or for ``for each`` the
    pairs of a record and an item of its list."""
    if output.each is None:
        return output.entity
    entity = schema.ENTITIES.get(output.entity)
    return f"({entity.record if entity else output.entity}, {output.each}) pairs"


def summary(report: Report) -> str:
    """A short human summary of a report."""
    lines = [
        f"rostermap {report.profile}: OneRoster {report.source.oneroster_version} "
        f"from {report.source.path} in {report.seconds:.2f}s",
    ]
    width = max((len(name) for name in report.outputs), default=10)
    for name, o in report.outputs.items():
        dropped = ", ".join(f"{d.records} by line {d.line}" for d in o.dropped if d.records)
        lines.append(f"  {name:<{width}}  {o.rows:>8} rows  from {o.read} {_read(o)}"
                     + (f"  (dropped {dropped})" if dropped else ""))
    for output, counters in report.counters.items():
        figures = ", ".join(f"{label}: {n}" for label, n in counters.items())
        lines.append(f"  {output}: {figures}")
    if report.rejects:
        lines.append(f"  {len(report.rejects)} record(s) rejected (partial run); see rejects "
                     "in report.json:")
        for j in report.rejects[:5]:
            where = j.at if isinstance(j, TransformReject) else f"{j.field}, schema check"
            lines.append(f"    {j.record}: {j.reason} ({where})")
    if report.warnings:
        lines.append(f"  {len(report.warnings)} warning(s):")
        for w in report.warnings[:10]:
            count = f" ({w.count})" if w.count is not None else ""
            lines.append(f"    [{w.code}] {w.message}{count}")
        if len(report.warnings) > 10:
            lines.append(f"    ... and {len(report.warnings) - 10} more in report.json")
    if report.sync is not None:
        lines.extend(_sync_summary(report.sync))
    return redact("\n".join(lines))


_DONE = {"create": "created", "reactivate": "reactivated", "update": "updated",
         "deactivate": "deactivated", "delete": "deleted", "missing": "missing (grace)",
         "kept": "kept", "postponed": "postponed"}


def _sync_summary(sync: SyncReport) -> list[str]:
    """What changed since the last run, and the guard's verdict."""
    base = sync.base_run
    whose = f"tenant {sync.tenant}" if sync.tenant is not None else f"{sync.out}"
    lines = [f"  run {sync.run or '-'} of {whose}, against "
             + (f"run {base}:" if base else "no earlier run (first run):")]
    for late in sync.published_late:
        lines.append(f"  finished publishing run {late} first, which could not publish its "
                     f"files when it ran; its changes are in changes/run-{late}/")
    for output, counts in sync.changes.items():
        done = ", ".join(f"{counts[k]} {word}" for k, word in _DONE.items() if counts.get(k))
        lines.append(f"    {output}: {done or 'no changes'}")
    guard = sync.guard
    if guard.held:
        lines.append("  HELD: over a mass-change limit; nothing was published:")
        for limit in guard.limits:
            if limit.exceeded:
                where = f" of school {limit.school}" if limit.school else ""
                lines.append(f"    {limit.output}: {limit.count} of {limit.base} rows"
                             f"{where} would be {_DONE[limit.action]}, over {limit.limit}")
        if guard.approve:
            lines.append(f"  review report.html in the held folder, then: {guard.approve}")
            lines.append(f"                                           or: {guard.reject}")
    if sync.postponed_note:
        lines.append(f"  note: {sync.postponed_note}")
    return lines
