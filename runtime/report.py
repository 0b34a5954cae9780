"""The sync report: what was read, what each rule dropped, what was written, what to check.

``report.json`` is for tools and support; the summary is the few lines a
specialist reads on the terminal. Both name records by sourcedId only, never by
name or email: the report travels further than the data. Both pass through
``runtime.redact`` on the way out, so no registered secret reaches them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dsl.diagnostics import Diagnostic
from runtime.execute import OutputResult
from runtime.redact import redact, redact_data
from runtime.tables import Tables

__all__ = ["build_report", "summary"]


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
    fetch: dict[str, Any] | None = None,
    rejects: Iterable[dict[str, str]] = (),
) -> dict[str, Any]:
    """report.json's content. ``fetch``: how a REST source was fetched; ``rejects``:
    the records its JSON Schema check left out (entity, sourcedId, field, reason)."""
    results = list(results)
    report_warnings = [_warning(d) for d in warnings]
    for r in results:
        for w in r.warnings:
            report_warnings.append({
                "code": "RM420", "message": w.message, "output": r.name, "line": w.line,
                "count": w.count, "examples": list(w.examples),
            })
    source_section: dict[str, Any] = {"path": source, "oneroster_version": tables.version}
    if fetch is not None:
        source_section["fetch"] = fetch
    report = {
        "rostermap": "0.1.0",
        "profile": profile,
        "mapping": mapping,
        "mapping_sha256": mapping_sha256,
        "source": source_section,
        "params": {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in
                   params.items()},
        "started": started,
        "finished": finished,
        "seconds": round(seconds, 3),
        "outcome": "success",
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
                "dropped": [
                    {"line": c.line, "rule": c.text, "records": c.dropped} for c in r.rules
                ],
            }
            for r in results
        },
        "warnings": report_warnings,
        "rejects": list(rejects),
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
    warnings = report["warnings"]
    if warnings:
        lines.append(f"  {len(warnings)} warning(s):")
        for w in warnings[:10]:
            count = f" ({w['count']})" if "count" in w else ""
            lines.append(f"    [{w['code']}] {w['message']}{count}")
        if len(warnings) > 10:
            lines.append(f"    ... and {len(warnings) - 10} more in report.json")
    rejects = report.get("rejects", [])
    if rejects:
        lines.append(f"  {len(rejects)} record(s) rejected by schema validation "
                     "(listed in report.json)")
    return redact("\n".join(lines))
