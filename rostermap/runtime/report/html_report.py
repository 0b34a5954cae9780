"""The run's report.html: report.json laid out for the people who read it.

report.json is for tools; a district's specialist, a product's support desk and
whoever approves a held run read this page instead. It is one self-contained file
(inline CSS, charts as inline SVG, no script, nothing fetched) so that it can be
attached to a ticket, opened offline years later and printed.

Every value in the report is untrusted text: a district names its schools, a
mapping's author writes its rules. The template escapes everything (autoescape on,
no ``|safe``), and CSS classes come from fixed tables here, never from the data.
The page shows only what the report holds (sourcedIds and counts), redacted once
more on the way out like every other exit, and caps every long list so that a huge
district's report still opens at once.

Geometry and wording are worked out here; the template only lays them out.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import jinja2

from rostermap.dsl.cachedir import cache_folder
from rostermap.runtime.redact import redact_data
from rostermap.runtime.report.model import Outcome

__all__ = ["history_charts", "render_html"]

MAX_ROWS = 200  # rejects, warnings and schools shown per list; the rest are counted
MAX_RECORDS = 20  # records named per warning
HIGHLIGHT_SHARE = 0.10  # a school losing more than this share of its rows is highlighted
ROWS_RUNS = 30  # runs in a rows-per-run chart
CHANGE_RUNS = 12  # runs in a changes-per-run chart

ACTIONS = ("create", "update", "deactivate", "delete", "reactivate",
           "unchanged", "missing", "kept", "postponed")
SCHOOL_ACTIONS = ("create", "update", "deactivate", "delete", "reactivate")
CHART_ACTIONS = ("create", "update", "deactivate")

# Chart geometry, in SVG user units: the plot area leaves room for the axis labels.
WIDTH, HEIGHT = 460, 210
LEFT, RIGHT, TOP, BOTTOM = 52, WIDTH - 14, 22, HEIGHT - 44

_PAST = {"create": "created", "update": "updated", "deactivate": "deactivated",
         "delete": "deleted", "reactivate": "reactivated"}

# Outcome -> (badge class, what it means). The strongest outcome found wins, so a run
# the guard held reads "held" whatever the transform stage thought of it.
OUTCOMES: dict[str, tuple[str, str]] = {
    Outcome.HELD: ("held", "held for approval: nothing was published"),
    Outcome.UNPUBLISHED: ("held", "committed, but its files could not be published yet"),
    Outcome.DRY_RUN: ("dry-run", "dry run: nothing was published"),
    Outcome.PARTIAL: ("partial", "some records were rejected"),
    Outcome.SUCCESS: ("success", "every record was written"),
}


@dataclass(frozen=True)
class Capped:
    """The first rows of a long list, and how many were left out."""

    rows: list[Any]
    more: int = 0


@dataclass(frozen=True)
class Limit:
    """One guard limit, checked against this run's changes."""

    output: str
    action: str
    school: str
    count: str
    base: str
    share: str
    limit: str
    exceeded: bool
    sentence: str


@dataclass(frozen=True)
class Guard:
    """The sync guard's verdict: whether it held the run, and how to release it."""

    held: bool
    limits: list[Limit]
    approve: str
    reject: str

    @property
    def exceeded(self) -> list[Limit]:
        return [lim for lim in self.limits if lim.exceeded]


@dataclass(frozen=True)
class SchoolRow:
    """One school's changes, with the share of its rows deactivated."""

    school: str
    before: Any
    counts: list[Any]
    share: str
    over: bool


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str
    current: bool = False


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    title: str
    current: bool


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    action: str  # one of CHART_ACTIONS: also its CSS class
    title: str


@dataclass(frozen=True)
class Chart:
    """An inline SVG chart: axes, then a line of points or stacked bars."""

    title: str
    desc: str
    y_label: str
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    points: list[Point] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    note: Point | None = None  # the value written beside the current run

    width: ClassVar[int] = WIDTH
    height: ClassVar[int] = HEIGHT
    left: ClassVar[int] = LEFT
    right: ClassVar[int] = RIGHT
    top: ClassVar[int] = TOP
    bottom: ClassVar[int] = BOTTOM

    @property
    def line(self) -> str:
        return " ".join(f"{p.x},{p.y}" for p in self.points)


def render_html(report: Mapping[str, Any]) -> str:
    """report.html's content for a run's report (report.json's dict).

    Tolerates every part of ``sync`` being absent (a stateless run has none), and
    any other part of the report missing: a support desk opens old reports too.
    """
    return _template().render(page=_page(_trimmed(report)))


def history_charts(history: Iterable[Mapping[str, Any]], outputs: Iterable[str] = ()
                   ) -> tuple[list[Chart], list[Chart]]:
    """Rows and changes per output over runs (HistoryEntry dicts, oldest first), drawn as
    report.html draws them, the last run marked: for pages of a tenant's history."""
    runs = [dict(_dict(h)) for h in history]
    for i, h in enumerate(runs):
        h["_current"] = i == len(runs) - 1
    names = {name: None for name in outputs}
    return _rows_charts(runs, names), _change_charts(runs, names)


@functools.cache
def _template() -> jinja2.Template:
    # The compiled template is kept in the user's private cache folder (jinja2 checks
    # it against the template's source and Python's version): compiling it costs every
    # run about 45 ms otherwise.
    folder = cache_folder("templates")
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("rostermap.runtime.report", "templates"),
        bytecode_cache=None if folder is None else jinja2.FileSystemBytecodeCache(str(folder)),
        autoescape=True,  # the name ends in .jinja, so select_autoescape would not
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = _num
    return env.get_template("report.html.jinja")


def _trimmed(report: Mapping[str, Any]) -> dict[str, Any]:
    """The report with its long lists cut to what the page shows, then redacted.

    Cutting first keeps a report of a million rejects as fast as a small one; the
    full lengths go along under ``_total``.
    """
    out = dict(report)
    rejects, warnings = _list(report.get("rejects")), _list(report.get("warnings"))
    out["_total"] = {"rejects": len(rejects), "warnings": len(warnings)}
    out["rejects"] = rejects[:MAX_ROWS]
    out["warnings"] = []
    for w in warnings[:MAX_ROWS]:
        w = dict(w) if isinstance(w, Mapping) else {"message": str(w)}
        for key in ("records", "examples"):
            if key in w:
                named = _list(w[key])
                w[key], w[f"_{key}_more"] = named[:MAX_RECORDS], len(named) - MAX_RECORDS
        out["warnings"].append(w)
    trimmed: dict[str, Any] = redact_data(out)
    return trimmed


def _page(report: dict[str, Any]) -> dict[str, Any]:
    """What the template shows, every part checked for its shape and worded."""
    sync = _dict(report.get("sync"))
    source = _dict(report.get("source"))
    outputs = _dict(report.get("outputs"))
    outcome = _outcome(report, sync)
    history = _history(report, sync, outputs)
    sha = _text(report.get("mapping_sha256"))
    return {
        "profile": _text(report.get("profile")) or "rostermap run",
        "source": _text(source.get("path")),
        "version": _text(source.get("oneroster_version")),
        "started": _when(report.get("started")),
        "finished": _when(report.get("finished")),
        "seconds": report.get("seconds"),
        "outcome": outcome,
        "outcome_class": OUTCOMES[outcome][0] if outcome in OUTCOMES else "other",
        "outcome_text": OUTCOMES[outcome][1] if outcome in OUTCOMES else "",
        "sync": bool(sync),
        "run": sync.get("run"),
        "base_run": sync.get("base_run"),
        "tenant": _text(sync.get("tenant")),
        "state": _text(sync.get("state")),
        "guard": _guard(sync.get("guard")),
        "entities": [(name, _dict(e).get("file") or name, _dict(e).get("records"))
                     for name, e in _dict(report.get("entities")).items()],
        "outputs": [_output(name, _dict(o)) for name, o in outputs.items()],
        "changes": _changes(sync.get("changes")),
        "schools": [(name, _schools(rows)) for name, rows in _dict(sync.get("schools")).items()],
        "rejects": Capped([_reject(_dict(j)) for j in report["rejects"]],
                          report["_total"]["rejects"] - len(report["rejects"])),
        "warnings": Capped([_warning(w) for w in report["warnings"]],
                           report["_total"]["warnings"] - len(report["warnings"])),
        "counters": [(name, list(_dict(c).items()))
                     for name, c in _dict(report.get("counters")).items()],
        "history_runs": len(history),
        "rows_charts": _rows_charts(history, outputs),
        "change_charts": _change_charts(history, outputs),
        "rostermap": _text(report.get("rostermap")),
        "mapping": _text(report.get("mapping")),
        "sha_short": sha[:12],
        "sha": sha,
        "params": [(name, _param(v)) for name, v in _dict(report.get("params")).items()],
    }


def _outcome(report: Mapping[str, Any], sync: Mapping[str, Any]) -> str:
    """The run's outcome: the strongest of the report's, the sync stage's and the guard's."""
    found = [_text(report.get("outcome")), _text(sync.get("outcome"))]
    if _dict(sync.get("guard")).get("held"):
        found.append(Outcome.HELD)
    for outcome in OUTCOMES:  # strongest first
        if outcome in found:
            return outcome
    return next((o for o in found if o), "unknown")


def _guard(value: Any) -> Guard | None:
    guard = _dict(value)
    if not guard:
        return None
    return Guard(
        held=bool(guard.get("held")),
        limits=[_limit(_dict(lim)) for lim in _list(guard.get("limits"))],
        approve=_text(guard.get("approve")),
        reject=_text(guard.get("reject")),
    )


def _limit(lim: Mapping[str, Any]) -> Limit:
    """One limit, with the sentence that explains it to someone deciding to approve.

    "users.csv: 12 of 40 rows of school sch-1 would be deactivated (30%), over the
    limit of 20% per school".
    """
    output, action = _text(lim.get("output")), _text(lim.get("action"))
    school, limit = _text(lim.get("school")), _text(lim.get("limit"))
    count, base = lim.get("count"), lim.get("base")
    share, n, of_n = _number(lim.get("share")), _number(count), _number(base)
    if share is None and n is not None and of_n:
        share = n / of_n
    share_text = _percent(share) if share is not None else ""
    exceeded = bool(lim.get("exceeded"))
    of = f"{_num(count)} of {_num(base)}" if base is not None else _num(count)
    sentence = (
        f"{output + ': ' if output else ''}{of} rows"
        f"{f' of school {school}' if school else ''} would be "
        f"{_PAST.get(action, action or 'changed')}"
        f"{f' ({share_text})' if share_text else ''}, "
        f"{'over' if exceeded else 'within'} the limit of {limit or 'the guard'}"
    )
    return Limit(output, action, school, _num(count), _num(base), share_text, limit,
                 exceeded, sentence)


def _output(name: str, o: Mapping[str, Any]) -> dict[str, Any]:
    """One output's counts, and the rules that dropped records (the others counted)."""
    rules = [_dict(d) for d in _list(o.get("dropped"))]
    dropping = [{"line": d.get("line"), "rule": _text(d.get("rule")), "records": d["records"]}
                for d in rules if (_number(d.get("records")) or 0) > 0]
    return {"name": name, "entity": _text(o.get("entity")), "read": o.get("read"),
            "kept": o.get("kept"), "rejected": o.get("rejected"), "rows": o.get("rows"),
            "dropped": dropping, "quiet": len(rules) - len(dropping)}


def _changes(value: Any) -> tuple[list[str], list[tuple[str, list[Any]]]]:
    """The change table: the known actions in their order, then any newer ones."""
    changes = {name: _dict(c) for name, c in _dict(value).items()}
    extra = sorted({a for c in changes.values() for a in c} - set(ACTIONS))
    columns = list(ACTIONS) + extra
    return columns, [(name, [c.get(a) for a in columns]) for name, c in changes.items()]


def _schools(value: Any) -> Capped:
    rows = []
    for school, counts in list(_dict(value).items())[:MAX_ROWS]:
        counts = _dict(counts)
        before, gone = counts.get("before"), _number(counts.get("deactivate"))
        rows_before = _number(before)
        share = gone / rows_before if gone is not None and rows_before else None
        rows.append(SchoolRow(
            school=_text(school),
            before=before,
            counts=[counts.get(a) for a in SCHOOL_ACTIONS],
            share=_percent(share) if share is not None else "",
            over=share is not None and share > HIGHLIGHT_SHARE,
        ))
    return Capped(rows, max(0, len(_dict(value)) - MAX_ROWS))


def _reject(j: Mapping[str, Any]) -> dict[str, str]:
    at, field_ = _text(j.get("at")), _text(j.get("field"))
    where = at.replace("\\", "/").rsplit("/", 1)[-1] if at else (
        f"field {field_}" if field_ else "")
    return {"record": _text(j.get("record")), "kind": _text(j.get("kind")),
            "output": _text(j.get("output") or j.get("entity")),
            "reason": _text(j.get("reason")), "where": where, "at": at}


def _warning(w: Mapping[str, Any]) -> dict[str, Any]:
    # An output's warning points at a line of the mapping; a source warning, of its file.
    line, field_ = w.get("line"), _text(w.get("field"))
    if w.get("output"):
        place, at = _text(w.get("output")), f"mapping line {line}" if line is not None else ""
    else:
        place, at = _text(w.get("file")), f"line {line}" if line is not None else ""
    where = ", ".join(p for p in (place, at, field_) if p)
    key = "records" if "records" in w else "examples"
    return {
        "code": _text(w.get("code")), "message": _text(w.get("message")), "where": where,
        "count": w.get("count"), "notes": [_text(n) for n in _list(w.get("notes"))[:5]],
        "named": [_text(r) for r in _list(w.get(key))], "named_label": key,
        "more": max(0, w.get(f"_{key}_more", 0)),
    }


def _history(report: Mapping[str, Any], sync: Mapping[str, Any],
             outputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The runs to chart, oldest first, this run included.

    The sync stage's history may or may not list the current run; if it does not,
    this run's entry is made from the report itself, so the charts always end at it.
    """
    runs = [_dict(h) for h in _list(sync.get("history")) if isinstance(h, Mapping)]
    if all(isinstance(h.get("run"), int) for h in runs):
        runs.sort(key=lambda h: h["run"])
    current = sync.get("run")
    if current is not None and not any(h.get("run") == current for h in runs):
        changes = _dict(sync.get("changes"))
        runs.append({
            "run": current, "outcome": _outcome(report, sync),
            "rows": {name: _dict(o).get("rows") for name, o in outputs.items()},
            "changes": {name: {a: _dict(c).get(a, 0) for a in CHART_ACTIONS}
                        for name, c in changes.items()},
        })
    for h in runs:
        h["_current"] = current is not None and h.get("run") == current
    return runs


def _chart_outputs(history: Sequence[Mapping[str, Any]], key: str,
                   outputs: Iterable[str]) -> list[str]:
    """The outputs some run has figures for: the report's order first, then the rest."""
    seen = {name for h in history for name in _dict(h.get(key))}
    ordered = [name for name in outputs if name in seen]
    return ordered + sorted(seen - set(ordered))


def _y_axis(high_value: float) -> tuple[int, list[Tick]]:
    """The y axis' round top and its ticks, from 0 (a shorter axis would exaggerate)."""
    high, step = _scale(high_value)
    return high, [Tick(_y(v, high), _num(v)) for v in range(0, high + 1, step)]


def _y(value: float, high: float) -> float:
    return round(BOTTOM - (BOTTOM - TOP) * value / high, 1)


def _x_ticks(xs: Sequence[float], runs: Sequence[Mapping[str, Any]]) -> list[Tick]:
    """Run numbers under the x axis: at most about ten, always the current run's."""
    every = max(1, math.ceil(len(runs) / 10))
    last = len(runs) - 1
    return [Tick(x, _text(h.get("run")), bool(h["_current"]))
            for i, (x, h) in enumerate(zip(xs, runs, strict=True))
            if (last - i) % every == 0 or h["_current"]]


def _rows_charts(history: list[dict[str, Any]], outputs: Mapping[str, Any]) -> list[Chart]:
    runs = history[-ROWS_RUNS:]
    charts = []
    for name in _chart_outputs(runs, "rows", outputs):
        values = [_number(_dict(h.get("rows")).get(name)) for h in runs]
        high = max((v for v in values if v is not None), default=0)
        high, y_ticks = _y_axis(high)
        pad = 16
        xs = ([round((LEFT + RIGHT) / 2, 1)] if len(runs) == 1 else
              [round(LEFT + pad + i * (RIGHT - LEFT - 2 * pad) / (len(runs) - 1), 1)
               for i in range(len(runs))])
        points = [
            Point(x, _y(v, high),
                  f"run {_text(h.get('run'))}{_status(h)}: {_num(v)} rows", bool(h["_current"]))
            for x, v, h in zip(xs, values, runs, strict=True) if v is not None
        ]
        charts.append(Chart(
            title=f"{name}: rows per run",
            desc="; ".join(p.title for p in points),
            y_label="rows",
            y_ticks=y_ticks, x_ticks=_x_ticks(xs, runs), points=points,
            note=next((Point(p.x, p.y, _num(v), True)
                       for p, v in zip(points, [v for v in values if v is not None], strict=True)
                       if p.current), None),
        ))
    return charts


def _change_charts(history: list[dict[str, Any]], outputs: Mapping[str, Any]) -> list[Chart]:
    runs = history[-CHANGE_RUNS:]
    charts = []
    for name in _chart_outputs(runs, "changes", outputs):
        counts = [[_count(_dict(_dict(h.get("changes")).get(name)).get(a)) for a in CHART_ACTIONS]
                  for h in runs]
        high = max((sum(c) for c in counts), default=0)
        high, y_ticks = _y_axis(high)
        slot = (RIGHT - LEFT) / len(runs)
        width = round(min(30.0, slot * 0.6), 1)
        xs = [round(LEFT + slot * (i + 0.5), 1) for i in range(len(runs))]
        bars, note, lines = [], None, []
        for x, h, c in zip(xs, runs, counts, strict=True):
            run = f"run {_text(h.get('run'))}{_status(h)}"
            base = 0
            for action, n in zip(CHART_ACTIONS, c, strict=True):
                if n:
                    y0, y1 = _y(base, high), _y(base + n, high)
                    bars.append(Bar(round(x - width / 2, 1), y1, width, round(y0 - y1, 1),
                                    action, f"{run}: {_num(n)} {_PAST[action]}"))
                base += n
            lines.append(f"{run}: " + ", ".join(
                f"{_num(n)} {_PAST[a]}" for a, n in zip(CHART_ACTIONS, c, strict=True)))
            if h["_current"]:
                note = Point(x, _y(base, high), f"{_num(base)}", True)
        charts.append(Chart(
            title=f"{name}: changes per run",
            desc="; ".join(lines),
            y_label="records",
            y_ticks=y_ticks, x_ticks=_x_ticks(xs, runs), bars=bars, note=note,
        ))
    return charts


def _status(h: Mapping[str, Any]) -> str:
    parts = ["this run"] if h.get("_current") else []
    outcome = _text(h.get("outcome"))
    if outcome and outcome != Outcome.SUCCESS:
        parts.append(outcome)
    return f" ({', '.join(parts)})" if parts else ""


def _scale(high: float) -> tuple[int, int]:
    """A round top for an axis from 0 to ``high``, and a step giving at most 5 ticks."""
    if high <= 0:
        return 1, 1
    rough = high / 4
    magnitude = 10 ** max(0, math.floor(math.log10(rough))) if rough >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough)
    return step * math.ceil(high / step), step


# Small helpers: the report is JSON from disk, so every part is checked for its shape.

def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _number(value: Any) -> float | None:
    """``value`` if it is a number (JSON's true is not), else None."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _num(value: Any) -> str:
    """A number with thousands separators; anything else as text; nothing as a dash."""
    if value is None or value == "":
        return "–"
    if _number(value) is not None:
        return format(value, ",")
    return str(value)


def _percent(share: float) -> str:
    """0.3 -> "30%", 0.117 -> "11.7%"."""
    return f"{share * 100:.1f}".rstrip("0").rstrip(".") + "%"


def _when(value: Any) -> tuple[str, str]:
    """An ISO timestamp as (machine value, readable text); shown as given otherwise."""
    text = _text(value)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text, text
    offset = moment.utcoffset()
    zone = "" if offset is None else "UTC" if not offset else moment.strftime("%z")
    return text, f"{moment:%Y-%m-%d %H:%M:%S} {zone}".rstrip()


def _param(value: Any) -> str:
    """A parameter's value as written in a mapping: text as is, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
