"""The sync report: what was read, what each rule dropped, what was written, what to check.

``report.json`` is for tools and support; the summary is the few lines a
specialist reads on the terminal. Both name records by sourcedId only, never by
name or email: the report travels further than the data. Both pass through
``runtime.redact`` on the way out, so no registered secret reaches them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rostermap.dsl.diagnostics import Diagnostic
from rostermap.runtime.engine.execute import OutputResult
from rostermap.runtime.engine.tables import Tables
from rostermap.runtime.redact import redact, redact_data

__all__ = ["SECRET", "build_report", "summary"]

SECRET = "‹secret›"  # how a secret parameter's value appears in reports


def _warning(d: Diagnostic) -> dict[str, Any]:
    out = d.to_dict()
    out.pop("severity", None)
    return out


def build_report(
    *,
    profile: str,
    mapping: str,
    mapping_sha256: str,
    source: str,
    tables: Tables,
    params: dict[str, Any],
    results: Iterable[OutputResult],
    started: str,
    finished: str,
    seconds: float,
    warnings: Iterable[Diagnostic] = (),
    secrets: Iterable[str] = (),
    fetch: dict[str, Any] | None = None,
    source_rejects: Iterable[dict[str, str]] = (),
) -> dict[str, Any]:
    """report.json's content.

    ``rejects`` lists every record left out of the outputs, of two kinds: ``source``
    (a REST record that failed the OneRoster JSON Schema: entity, sourcedId, field,
    reason) and ``transform`` (a column or `reject` rule: output, mapping line,
    reason). ``fetch`` says how a REST source was fetched.
    """
    results = list(results)
    hidden = set(secrets)
    report_warnings = [_warning(d) for d in warnings]
    for r in results:
        for w in r.warnings:
            named = "records" if w.code == "RM422" else "examples"
            report_warnings.append({
                "code": w.code, "message": w.message, "output": r.name, "line": w.line,
                "count": w.count, named: [f"{r.entity}/{i}" for i in w.examples],
            })
    rejects = [
        {"kind": "source", "record": f"{j['entity']}/{j['sourcedId']}", **j}
        for j in source_rejects
    ] + [
        {"kind": "transform", "record": j.record, "output": j.output,
         "at": f"{mapping}:{j.line}", "reason": j.reason}
        for r in results for j in r.rejects
    ]
    source_section: dict[str, Any] = {"path": source, "oneroster_version": tables.version}
    if fetch is not None:
        source_section["fetch"] = fetch
    report = {
        "rostermap": "0.1.0",
        "profile": profile,
        "mapping": mapping,
        "mapping_sha256": mapping_sha256,
        "source": source_section,
        "params": {k.lstrip("@"): SECRET if k in hidden else
                   (v.isoformat() if hasattr(v, "isoformat") else v)
                   for k, v in params.items()},
        "started": started,
        "finished": finished,
        "seconds": round(seconds, 3),
        "outcome": "partial" if rejects else "success",
        "entities": {
            entity: {"file": tables.files[entity], "records": tables.count(entity)}
            for entity in sorted(tables.frames)
        },
        "outputs": {
            r.name: {
                "entity": r.entity,
                "read": r.read,
                "kept": r.kept,
                "rows": r.rows,
                "rejected": r.rejected,
                "dropped": [
                    {"line": c.line, "rule": c.text, "records": c.dropped} for c in r.rules
                ],
            }
            for r in results
        },
        "warnings": report_warnings,
        "rejects": rejects,
        "counters": {r.name: r.counters for r in results if r.counters},
    }
    redacted: dict[str, Any] = redact_data(report)
    return redacted


def summary(report: dict[str, Any]) -> str:
    """A short human summary of a report."""
    lines = [
        f"rostermap {report['profile']}: OneRoster {report['source']['oneroster_version']} "
        f"from {report['source']['path']} in {report['seconds']:.2f}s",
    ]
    width = max((len(name) for name in report["outputs"]), default=10)
    for name, o in report["outputs"].items():
        dropped = ", ".join(f"{d['records']} by line {d['line']}" for d in o["dropped"]
                            if d["records"])
        lines.append(f"  {name:<{width}}  {o['rows']:>8} rows  from {o['read']} {o['entity']}"
                     + (f"  (dropped {dropped})" if dropped else ""))
    for output, counters in report["counters"].items():
        figures = ", ".join(f"{label}: {n}" for label, n in counters.items())
        lines.append(f"  {output}: {figures}")
    rejects = report["rejects"]
    if rejects:
        lines.append(f"  {len(rejects)} record(s) rejected (partial run); see rejects in "
                     "report.json:")
        for j in rejects[:5]:
            where = j.get("at") or f"{j['field']}, schema check"
            lines.append(f"    {j['record']}: {j['reason']} ({where})")
    warnings = report["warnings"]
    if warnings:
        lines.append(f"  {len(warnings)} warning(s):")
        for w in warnings[:10]:
            count = f" ({w['count']})" if "count" in w else ""
            lines.append(f"    [{w['code']}] {w['message']}{count}")
        if len(warnings) > 10:
            lines.append(f"    ... and {len(warnings) - 10} more in report.json")
    if "sync" in report:
        lines.extend(_sync_summary(report["sync"]))
    return redact("\n".join(lines))


_DONE = {"create": "created", "reactivate": "reactivated", "update": "updated",
         "deactivate": "deactivated", "delete": "deleted", "missing": "missing (grace)",
         "kept": "kept", "postponed": "postponed"}


def _sync_summary(sync: dict[str, Any]) -> list[str]:
    """What changed since the last run, and the guard's verdict."""
    base = sync.get("base_run")
    lines = [f"  run {sync.get('run') or '-'} of tenant {sync['tenant']}, against "
             + (f"run {base}:" if base else "no earlier run (first run):")]
    for output, counts in sync["changes"].items():
        done = ", ".join(f"{counts[k]} {word}" for k, word in _DONE.items() if counts.get(k))
        lines.append(f"    {output}: {done or 'no changes'}")
    guard = sync["guard"]
    if guard["held"]:
        lines.append("  HELD: over a mass-change limit; nothing was published:")
        for limit in guard["limits"]:
            if limit["exceeded"]:
                where = f" of school {limit['school']}" if limit["school"] else ""
                lines.append(f"    {limit['output']}: {limit['count']} of {limit['base']} rows"
                             f"{where} would be {_DONE[limit['action']]}, over "
                             f"{limit['limit']}")
        if "approve" in guard:
            lines.append(f"  review report.html in the held folder, then: {guard['approve']}")
            lines.append(f"                                           or: {guard['reject']}")
    if sync.get("postponed_note"):
        lines.append(f"  note: {sync['postponed_note']}")
    return lines
