"""The diff against a model of it in plain Python, over arbitrary sequences of runs.

``changes.diff`` joins on key hashes, compares rows by one hash each and reads the
stored rows whole only where it must; the model compares dicts. Over any sequence
of runs (rows appearing, changing, leaving and coming back, under each policy), the
change rows, the full file and the counts of both agree.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from rostermap.runtime.engine.plans import Missing
from rostermap.runtime.sync.changes import ACTIONS, current_rows, diff

KEYS = [f"k{i}" for i in range(8)]
COLUMNS = ("id", "a", "b")
START = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)

Run = dict[str, tuple[str, str]]  # key -> (a, b)
runs = st.lists(st.dictionaries(st.sampled_from(KEYS),
                                st.tuples(st.sampled_from(["", "x", "y"]),
                                          st.sampled_from(["", "1", "2"]))),
                min_size=1, max_size=6)
policies = st.builds(Missing, action=st.sampled_from(["deactivate", "delete", "keep"]),
                     after=st.integers(0, 2),
                     sets=st.sampled_from([(), (("b", "gone"),)]))


class Model:
    """What each run should do, written out: a key's state, runs missing, last row."""

    def __init__(self, policy: Missing):
        self.policy = policy
        self.rows: dict[str, tuple[str, str]] = {}
        self.state: dict[str, str] = {}
        self.missing: dict[str, int] = {}

    def step(self, run: Run, postpone: bool) -> tuple[list[tuple[str, str, str]],
                                                      list[tuple[str, ...]]]:
        changes, carried = [], []
        for key, row in run.items():
            state = self.state.get(key)
            if state is None or state == "deleted":
                changes.append(("create", key, ""))
            elif state == "deactivated" or row != self.rows[key]:
                changed = ";".join(c for c, old, new in zip(COLUMNS[1:], self.rows[key], row,
                                                             strict=True) if old != new)
                changes.append(("reactivate" if state == "deactivated" else "update", key,
                                changed))
            self.rows[key], self.state[key], self.missing[key] = row, "present", 0
        departed = []
        for key in sorted(set(self.state) - set(run)):
            state = self.state[key]
            if state in ("deactivated", "deleted"):
                continue
            if postpone:
                carried.append((key, *self.rows[key]))
                continue
            self.missing[key] += 1
            if self.policy.action == "keep":
                self.state[key] = "kept"
                carried.append((key, *self.rows[key]))
            elif self.missing[key] >= self.policy.after:
                action = self.policy.action
                self.state[key] = action + "d"
                changes.append((action, key, ""))
                if self.policy.sets:
                    departed.append((key, self.rows[key][0], "gone"))
            else:
                self.state[key] = "missing"
                carried.append((key, *self.rows[key]))
        order = {a: i for i, a in enumerate(ACTIONS)}
        return sorted(changes, key=lambda c: (order[c[0]], c[1])), [*carried, *departed]


@settings(max_examples=150, deadline=None)
@given(runs, policies, st.lists(st.booleans(), min_size=6, max_size=6))
def test_the_diff_does_what_the_model_does(sequence: list[Run], policy: Missing,
                                           postpones: list[bool]) -> None:
    model, snapshot = Model(policy), None
    for number, (run, postpone) in enumerate(zip(sequence, postpones, strict=False), 1):
        frame = pl.DataFrame([(k, *v) for k, v in sorted(run.items())], schema=dict.fromkeys(COLUMNS, pl.String),
                             orient="row")
        schools = pl.Series([f"s{k[-1]}" for k in sorted(run)], dtype=pl.String)
        step = diff("o", snapshot, frame, current_rows(frame, ("id",), schools, "csv"),
                    policy, number, START + dt.timedelta(days=number), postpone, key=("id",))
        expected, carried = model.step(run, postpone)
        got = [(r["action"], r["id"], r["changed"]) for r in step.changes.iter_rows(named=True)]
        assert got == expected, number
        assert step.full.rows() == [*frame.rows(), *carried], number
        counted = {a: n for a, n in step.counts.items() if a in ACTIONS and n}
        assert counted == {a: sum(1 for c in expected if c[0] == a)
                           for a in ACTIONS if any(c[0] == a for c in expected)}
        snapshot = step.snapshot
