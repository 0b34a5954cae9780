"""The run history, for people: ``rostermap runs`` and ``rostermap diff``.

``diff A B`` folds the change rows of the committed runs after A up to B, key by
key: a row created and deactivated in between is no change; a row updated twice is
one update, with every column that changed. It names rows by their key and changes
by column name, never by value: keys are what the product identifies rows by, and
the values are students' data.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from rostermap.dsl import codes
from rostermap.runtime.errors import UsageError
from rostermap.runtime.sync.changes import SEP
from rostermap.runtime.sync.run import SyncOptions, state_for
from rostermap.runtime.sync.state import Review, RunRecord, Store, guarded

__all__ = ["NetChange", "net_changes", "open_state", "render_diff", "runs_table"]

_CREATED = ("create", "reactivate")
_GONE = ("deactivate", "delete")
_ORDER = ("create", "update", "deactivate", "delete")


@contextlib.contextmanager
def open_state(profile: str, options: SyncOptions) -> Iterator[Store]:
    """The state of a profile and tenant, for reading; it must exist."""
    name, path = state_for(profile, options)
    if not path.exists():
        raise UsageError([codes.no_runs_yet(name, options.named(), str(path))])
    with guarded(path):
        store = Store(path, name, options.tenant)
    try:
        yield store
    finally:
        store.close()


def runs_table(records: Iterable[RunRecord], reviews: Mapping[int, Review] | None = None
               ) -> str:
    """One line per run, newest first; a reviewed held run says who decided, when, why."""
    lines = [f"{'run':>5}  {'started':<25}  {'outcome':<12}  {'rows':>9}  changes"]
    for r in records:
        rows = sum(r.rows.values())
        totals: dict[str, int] = {}
        for counts in r.changes.values():
            for action, n in counts.items():
                totals[action] = totals.get(action, 0) + n
        changes = ", ".join(f"{n} {a}" for a, n in totals.items() if n) or "-"
        note = f"  ({r.error})" if r.error else ""
        review = (reviews or {}).get(r.id)
        if review is not None:
            note += f"  ({review.action} by {review.who}, {review.at}"
            note += f": {review.note})" if review.note else ")"
        lines.append(f"{r.id:>5}  {r.started:<25}  {r.outcome:<12}  {rows:>9}  {changes}{note}")
    return "\n".join(lines)


@dataclass(frozen=True)
class NetChange:
    key: str
    action: str  # create | update | deactivate | delete
    changed: tuple[str, ...]  # for an update: the columns that changed


def net_changes(store: Store, first: int, second: int, only: Iterable[str] = ()
                ) -> dict[str, list[NetChange]]:
    """Per output, what the committed runs after ``first`` up to ``second`` changed."""
    if first >= second:
        raise UsageError([codes.runs_out_of_order(first, second)])
    for run_id in (first, second):
        if store.run(run_id) is None:
            raise UsageError([codes.no_such_run(run_id, str(store.path))])
    wanted = set(only)
    folded: dict[str, dict[str, tuple[str, str, set[str]]]] = {}
    between = [r for r in reversed(store.runs(10_000))
               if first < r.id <= second and r.outcome.committed]
    for record in between:
        for output, frame in store.changes(record.id).items():
            if wanted and output not in wanted:
                continue
            keys = folded.setdefault(output, {})
            for key, action, changed in frame.select("key", "action", "changed").iter_rows():
                columns = set(filter(None, (changed or "").split(";")))
                if key in keys:
                    start, _, seen = keys[key]
                    keys[key] = (start, action, seen | columns)
                else:
                    keys[key] = (action, action, columns)
    result: dict[str, list[NetChange]] = {}
    for output, keys in sorted(folded.items()):
        net = []
        for key, (start, end, columns) in sorted(keys.items()):
            was_there = start not in _CREATED
            is_there = end not in _GONE
            if not was_there and is_there:
                net.append(NetChange(key, "create", ()))
            elif was_there and not is_there:
                net.append(NetChange(key, end, ()))
            elif was_there and is_there and columns:
                net.append(NetChange(key, "update", tuple(sorted(columns))))
        result[output] = net
    return result


def render_diff(changes: dict[str, list[NetChange]], first: int, second: int,
                limit: int = 200) -> str:
    """The net changes as a person reads them; long lists are cut at ``limit`` rows."""
    if not any(changes.values()):
        return f"no changes between run {first} and run {second}"
    lines = [f"changes from run {first} to run {second}:"]
    for output, net in changes.items():
        if not net:
            continue
        net = sorted(net, key=lambda c: (_ORDER.index(c.action), c.key))
        counts = {a: sum(c.action == a for c in net) for a in _ORDER}
        summary = ", ".join(f"{n} {a}" for a, n in counts.items() if n)
        lines.append(f"  {output}: {summary}")
        for change in net[:limit]:
            key = change.key.replace(SEP, ", ")
            columns = f" ({', '.join(change.changed)})" if change.changed else ""
            lines.append(f"    {change.action:<10} {key}{columns}")
        if len(net) > limit:
            lines.append(f"    ... and {len(net) - limit} more")
    return "\n".join(lines)
