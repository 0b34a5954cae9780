"""Change sets: what a run changes against the last committed run, by diffing snapshots.

Deltas are computed by comparing the full output of this run with the rows the
last committed run published, key by key, so they are right whatever the source
sent (a full package, a delta package, an API). Each output's state is a
*snapshot*: a frame with one row per key ever published, holding the row's
columns (prefixed ``c:``) and where it stands:

================  ===================================================================
``key``           the row's key columns joined by U+001F (all columns when no ``key``)
``schools``       the orgs of the record the row was made from (per-school guards),
                  joined by U+001F: as text, a million-row join costs half the memory
                  of a list column
``state``         present | missing (within grace) | kept | deactivated | deleted
``missing_runs``  runs in a row without it; ``missing_since`` the first (ISO time)
``first_run``     the run that first published it
``c:COLUMN``      the row's values, as the output's columns; secret columns empty
================  ===================================================================

Rows are compared column by column, so an update names the columns that changed,
and a column the mapping gained since the last run reads as missing there.

A row the source no longer makes follows the output's ``when missing`` policy:
carried over unchanged (in the full file too) while within its grace period or when
the policy is ``keep``, then deactivated or deleted. A run with rejected records
(an incomplete source) never deactivates: the rows it misses are carried over and
counted as *postponed*. A row that comes back after being deactivated is
*reactivated*.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from rostermap.runtime.engine.plans import Missing

__all__ = [
    "ACTIONS",
    "SEP",
    "OutputChanges",
    "current_rows",
    "diff",
    "history_rows",
    "summary_line",
]

# Change rows a product applies, in the order a change file lists them.
ACTIONS = ("create", "reactivate", "update", "deactivate", "delete")
# What happened to each key, besides the changes: not a row of a change file.
_QUIET = ("unchanged", "missing", "kept", "postponed", "gone")
_CARRIED = ("missing", "kept", "postponed")  # still published: carried into the full file
_PRESENT = ("create", "reactivate", "update", "unchanged")
SEP = "\x1f"
COLUMN = "c:"
_STATE: dict[str, Any] = {
    "key": pl.String,
    "schools": pl.String,
    "state": pl.String,
    "missing_runs": pl.Int64,
    "missing_since": pl.String,
    "first_run": pl.Int64,
}


@dataclass
class OutputChanges:
    """One output's run against its snapshot."""

    output: str
    full: pl.DataFrame  # the rows to publish: this run's, plus those carried over
    changes: pl.DataFrame  # action, changed, then the output's columns
    snapshot: pl.DataFrame  # the new state of every key
    counts: dict[str, int]  # per action and quiet outcome
    # school -> {"before": rows of the last run, action: count}
    schools: dict[str, dict[str, int]] = field(default_factory=dict)
    duplicates: int = 0  # rows sharing a key with an earlier row: not tracked apart
    first: bool = False  # no snapshot before this run
    moved: int = 0  # rows unchanged but now of other schools
    departed: int = 0  # rows sent in the full file for records that left (`with`)

    @property
    def unchanged(self) -> bool:
        """Whether the snapshot is the same as before (nothing to store again)."""
        return not self.first and not self.moved and all(
            n == 0 for k, n in self.counts.items() if k != "unchanged")


def _with_secrets(frame: pl.DataFrame, secrets: Mapping[str, str]) -> pl.DataFrame:
    """Rows read back from the state, their secret columns given this run's value.

    The state stores nothing in a secret column (see :func:`current_rows`); the value
    written is always the parameter's current one, in that column and nowhere else.
    """
    present = {c: v for c, v in secrets.items() if c in frame.columns}
    return frame.with_columns(pl.lit(v, pl.String).alias(c) for c, v in present.items())


def current_rows(frame: pl.DataFrame, key: tuple[str, ...], schools: pl.Series,
                 fmt: str, secrets: Collection[str] = ()) -> pl.DataFrame:
    """This run's rows as key, schools and ``c:`` columns; one per key, the first of
    any repeats. In a CSV a missing value and empty text are written alike, so they
    compare equal.

    A secret column (one that holds a secret parameter, whole: the compiler allows no
    other use) is stored empty: the state keeps no secret, and rows compare equal
    whatever the secret is, so rotating it updates no row."""
    columns = list(frame.columns)
    values = frame if fmt != "csv" else frame.with_columns(
        pl.col(c).fill_null("") for c, dtype in frame.schema.items() if dtype == pl.String)
    keys = list(key) or columns
    out = values.select(
        pl.concat_str([pl.col(k).cast(pl.String).fill_null("") for k in keys],
                      separator=SEP).alias("key"),
        *(pl.col(c).alias(COLUMN + c) for c in columns),
    ).with_columns(schools.alias("schools").cast(pl.String))
    if out.get_column("key").n_unique() < out.height:  # hashing once beats unique()
        out = out.unique(subset="key", keep="first", maintain_order=True)
    return _blank(out, secrets)


def _blank(rows: pl.DataFrame, secrets: Collection[str]) -> pl.DataFrame:
    """Rows with their secret ``c:`` columns empty."""
    stored = [COLUMN + c for c in secrets if COLUMN + c in rows.columns]
    return rows.with_columns(pl.lit(None, rows.schema[c]).alias(c) for c in stored)


def _aligned(previous: pl.DataFrame | None, current: pl.DataFrame,
             secrets: Collection[str] = ()) -> pl.DataFrame:
    """The snapshot with exactly this run's columns: new ones missing, old ones gone,
    secret ones empty (whatever an older state kept there)."""
    wanted = {c: t for c, t in current.schema.items() if c.startswith(COLUMN)}
    if previous is None:
        return pl.DataFrame(schema={**_STATE, **wanted})
    if previous.schema["schools"] != pl.String:  # a state written before 0.1.0's release
        previous = previous.with_columns(pl.col("schools").list.join(SEP))
    return _blank(previous.select(
        *(pl.col(c) for c in _STATE),
        *(pl.col(c).cast(t, strict=False) if c in previous.columns else pl.lit(None, t).alias(c)
          for c, t in wanted.items()),
    ), secrets)


def diff(
    name: str,
    previous: pl.DataFrame | None,
    frame: pl.DataFrame,
    current: pl.DataFrame,
    policy: Missing,
    run: int,
    now: dt.datetime,
    postpone: bool,
    secrets: Mapping[str, str] | None = None,
) -> OutputChanges:
    """This run's ``current`` rows (from :func:`current_rows`) against ``previous``.

    ``frame`` is the output as the run made it (its columns and types); ``postpone``
    (a run with rejects) carries over the rows it misses instead of deactivating them.
    ``secrets`` gives each secret column its current value, for the rows read back.
    """
    secrets = secrets or {}
    prev = _aligned(previous, current, secrets)
    columns = [c for c in current.columns if c.startswith(COLUMN)]
    # In no particular order (keeping one costs a third of the diff): whatever leaves
    # here in rows is sorted by key first.
    j = (current.with_columns(pl.lit(True).alias("_here"))
         .join(prev.with_columns(pl.lit(True).alias("_was")), on="key", how="full",
               coalesce=True, suffix="_prev"))
    here, was = pl.col("_here").fill_null(False), pl.col("_was").fill_null(False)
    state = pl.col("state")
    missing_runs = pl.col("missing_runs").fill_null(0) + 1
    since = pl.col("missing_since").fill_null(pl.lit(now.isoformat(timespec="seconds")))
    if policy.unit == "days":
        due = (pl.lit(now) - since.str.to_datetime(time_zone="UTC")) >= pl.duration(
            days=policy.after)
    else:
        due = missing_runs >= policy.after
    differs = [pl.col(c).ne_missing(pl.col(f"{c}_prev")) for c in columns]
    changed_row = pl.any_horizontal(differs) if differs else pl.lit(False)
    action = (
        pl.when(here & ~was).then(pl.lit("create"))
        .when(here & (state == "deactivated")).then(pl.lit("reactivate"))
        .when(here & (state == "deleted")).then(pl.lit("create"))
        .when(here & changed_row).then(pl.lit("update"))
        .when(here).then(pl.lit("unchanged"))
        .when(state.is_in(["deactivated", "deleted"])).then(pl.lit("gone"))
        .when(pl.lit(postpone)).then(pl.lit("postponed"))
        .when(pl.lit(policy.action == "keep")).then(pl.lit("kept"))
        .when(due).then(pl.lit(policy.action))
        .otherwise(pl.lit("missing"))
    )
    changed = pl.concat_str([pl.when(d).then(pl.lit(c.removeprefix(COLUMN)))
                             for d, c in zip(differs, columns, strict=True)],
                            separator=";", ignore_nulls=True) if differs else pl.lit("")
    j = j.with_columns(action.alias("action"))
    a = pl.col("action")
    j = j.with_columns(pl.when(a.is_in(["update", "reactivate"])).then(changed.fill_null(""))
                       .otherwise(pl.lit("")).alias("changed"))
    present = a.is_in(list(_PRESENT))
    counting = a.is_in(["missing", "kept", "deactivate", "delete"])
    snapshot = j.select(
        "key",
        pl.when(present).then(pl.col("schools")).otherwise(pl.col("schools_prev"))
        .alias("schools"),
        pl.when(present).then(pl.lit("present"))
        .when(a == "deactivate").then(pl.lit("deactivated"))
        .when(a == "delete").then(pl.lit("deleted"))
        .when(a.is_in(["kept", "missing"])).then(a)
        .otherwise(state).alias("state"),  # gone, postponed: as they were
        pl.when(present).then(0).when(counting).then(missing_runs)
        .otherwise(pl.col("missing_runs")).cast(pl.Int64).alias("missing_runs"),
        pl.when(present).then(pl.lit(None, pl.String)).when(counting).then(since)
        .otherwise(pl.col("missing_since")).alias("missing_since"),
        pl.when(~was).then(run).otherwise(pl.col("first_run")).cast(pl.Int64)
        .alias("first_run"),
        *(pl.when(present).then(pl.col(c)).otherwise(pl.col(f"{c}_prev")).alias(c)
          for c in columns),
    )
    counts = dict.fromkeys((*ACTIONS, *_QUIET), 0)
    counts.update(dict(j.group_by("action").len().iter_rows()))
    counts.pop("gone", None)

    def values(rows: pl.DataFrame, suffix: str) -> pl.DataFrame:
        """The output's columns of ``rows``, from this run's or the stored values."""
        picked = rows.select(pl.col(f"{c}{suffix}").alias(c.removeprefix(COLUMN))
                             for c in columns)
        picked = _with_secrets(picked, secrets).cast(frame.schema, strict=False)
        if suffix == "_prev" and policy.sets:  # a departed row is sent as `with` says
            departing = rows.get_column("action").is_in(["deactivate", "delete"])
            picked = picked.with_columns(
                pl.when(departing).then(pl.lit(value)).otherwise(pl.col(column))
                .cast(frame.schema[column]).alias(column)
                for column, value in policy.sets)
        return picked

    carried = j.filter(a.is_in(list(_CARRIED))).sort("key")
    departed = (j.filter(a.is_in(["deactivate", "delete"])).sort("key") if policy.sets
                else j.clear())
    sent = [values(rows, "_prev") for rows in (carried, departed) if rows.height]
    full = pl.concat([frame, *sent], how="vertical_relaxed") if sent else frame
    moved = j.select((a == "unchanged") & pl.col("schools").ne_missing(pl.col("schools_prev"))
                     ).to_series().sum()
    return OutputChanges(name, full, _change_rows(j, values), snapshot, counts,
                         _per_school(j), frame.height - current.height, previous is None,
                         int(moved), departed.height)


def _change_rows(j: pl.DataFrame, values: Callable[[pl.DataFrame, str], pl.DataFrame]
                 ) -> pl.DataFrame:
    """The change file: one row per create, reactivate, update, deactivate or delete.

    New rows carry this run's values (secrets put back, as in the full file); gone
    rows the values last published."""
    a = pl.col("action")
    order = {action: i for i, action in enumerate(ACTIONS)}
    listed = (j.filter(a.is_in(list(ACTIONS)))
              .with_columns(a.replace_strict(order, return_dtype=pl.Int64).alias("_order")))
    new = a.is_in(["create", "reactivate", "update"])
    parts = [
        pl.concat([rows.select("action", "changed", "_order", "key"), values(rows, suffix)],
                  how="horizontal")
        for rows, suffix in ((listed.filter(new), ""), (listed.filter(~new), "_prev"))
    ]
    return (pl.concat(parts, how="vertical_relaxed").sort(["_order", "key"])
            .drop("_order", "key"))


def _per_school(j: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Per school: the rows the last run published, and this run's changes."""
    before = (j.filter(pl.col("state").is_in(["present", "missing", "kept"]))
              .select(pl.col("schools_prev").str.split(SEP).alias("school")).explode("school")
              .drop_nulls().group_by("school").len())
    schools: dict[str, dict[str, int]] = {
        s: {"before": n, **dict.fromkeys(ACTIONS, 0)} for s, n in before.iter_rows()}
    a = pl.col("action")
    acted = j.filter(a.is_in(list(ACTIONS))).select(
        a, pl.when(a.is_in(["deactivate", "delete"])).then(pl.col("schools_prev"))
        .otherwise(pl.col("schools")).str.split(SEP).alias("school"),
    ).explode("school").drop_nulls().group_by("school", "action").len()
    for school, action, n in acted.iter_rows():
        schools.setdefault(school, {"before": 0, **dict.fromkeys(ACTIONS, 0)})[action] = n
    return dict(sorted(schools.items()))


def history_rows(changes: OutputChanges, key: tuple[str, ...]) -> pl.DataFrame:
    """A change file as kept for ``rostermap diff``: key, action and changed columns
    only (no values: the history names rows and columns, never students' data)."""
    frame = changes.changes
    columns = [c for c in frame.columns if c not in ("action", "changed")]
    keys = list(key) or columns
    return frame.select(
        pl.concat_str([pl.col(k).cast(pl.String).fill_null("") for k in keys],
                      separator=SEP).alias("key"),
        "action", "changed")


def summary_line(counts: dict[str, int]) -> str:
    """``3 created, 5 updated, 14 deactivated`` for a log or a terminal."""
    words = {"create": "created", "reactivate": "reactivated", "update": "updated",
             "deactivate": "deactivated", "delete": "deleted", "missing": "missing (grace)",
             "kept": "kept", "postponed": "postponed"}
    parts = [f"{counts[k]} {w}" for k, w in words.items() if counts.get(k)]
    return ", ".join(parts) or "no changes"

