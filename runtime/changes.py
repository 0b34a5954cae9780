"""Change sets: what a run changes against the last committed run, by diffing snapshots.

Deltas are computed by comparing the full output of this run with the rows the
last committed run published, key by key, so they are right whatever the source
sent (a full package, a delta package, an API). Each output's state is a
*snapshot*: a frame with one row per key ever published, holding the row as JSON
and where it stands:

==============  =====================================================================
``key``         the row's key columns joined by U+001F (all columns when no ``key``)
``row``         the row as a JSON object, in the output's column order
``schools``     the orgs of the record the row was made from (per-school guards)
``state``       present | missing (within grace) | kept | deactivated | deleted
``missing_runs`` runs in a row without it; ``missing_since`` the first of them (ISO time)
``first_run``   the run that first published it
==============  =====================================================================

A row the source no longer makes follows the output's ``when missing`` policy:
carried over unchanged (in the full file too) while within its grace period or when
the policy is ``keep``, then deactivated or deleted. A run with rejected records
(an incomplete source) never deactivates: the rows it misses are carried over and
counted as *postponed*. A row that comes back after being deactivated is
*reactivated*.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from runtime.plans import Missing

__all__ = [
    "ACTIONS",
    "SNAPSHOT_SCHEMA",
    "OutputChanges",
    "current_rows",
    "diff",
    "empty_snapshot",
    "encode_changes",
    "mask",
    "rows_of",
]

# Change rows a product applies, in the order a change file lists them.
ACTIONS = ("create", "reactivate", "update", "deactivate", "delete")
# What happened to each key, besides the changes: not a row of a change file.
_QUIET = ("unchanged", "missing", "kept", "postponed", "gone")
SEP = "\x1f"

SNAPSHOT_SCHEMA: dict[str, Any] = {
    "key": pl.String,
    "row": pl.String,
    "schools": pl.List(pl.String),
    "state": pl.String,
    "missing_runs": pl.Int64,
    "missing_since": pl.String,
    "first_run": pl.Int64,
}
_CARRIED = ("missing", "kept", "postponed")  # still published: carried into the full file


def empty_snapshot() -> pl.DataFrame:
    return pl.DataFrame(schema=SNAPSHOT_SCHEMA)


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

    @property
    def unchanged(self) -> bool:
        """Whether the snapshot is the same as before (nothing to store again)."""
        return not self.first and not self.moved and all(
            n == 0 for k, n in self.counts.items() if k != "unchanged")


def _placeholder(i: int) -> str:
    return f"\u2039secret {i}\u203a"


def mask(rows: pl.Expr, secrets: tuple[str, ...]) -> pl.Expr:
    """Secret parameters' values (a default password) out of stored JSON rows.

    The state keeps no secret: a stored row holds a placeholder, put back from the
    parameter when the row is written again. Rows then compare equal whatever the
    secret is, so changing a default password does not update every user.
    """
    for i, secret in enumerate(secrets):
        rows = rows.str.replace_all(json.dumps(secret)[1:-1], _placeholder(i), literal=True)
    return rows


def current_rows(frame: pl.DataFrame, key: tuple[str, ...], schools: pl.Series,
                 fmt: str, secrets: tuple[str, ...] = ()) -> pl.DataFrame:
    """This run's rows as (key, row, schools); one per key, the first of any repeats.

    In a CSV a missing value and empty text are written alike, so they compare equal.
    """
    columns = list(frame.columns)
    values = frame if fmt != "csv" else frame.with_columns(
        pl.col(c).fill_null("") for c, dtype in frame.schema.items() if dtype == pl.String)
    keys = list(key) or columns
    row = pl.struct(columns).struct.json_encode() if columns else pl.lit("{}")
    out = values.select(
        pl.concat_str([pl.col(k).cast(pl.String).fill_null("") for k in keys],
                      separator=SEP).alias("key"),
        mask(row, secrets).alias("row"),
    ).with_columns(schools.alias("schools").cast(pl.List(pl.String)))
    return out.unique(subset="key", keep="first", maintain_order=True)


def rows_of(rows: pl.Series, like: pl.DataFrame, secrets: tuple[str, ...] = ()
            ) -> pl.DataFrame:
    """JSON rows back into the output's columns and types (``like``'s schema), with
    the secrets put back. A column the stored row lacks (the mapping gained it since)
    is missing."""
    if rows.len() == 0:
        return like.clear()
    for i, secret in enumerate(secrets):
        rows = rows.str.replace_all(_placeholder(i), json.dumps(secret)[1:-1], literal=True)
    dtype = pl.Struct(dict(like.schema))
    return rows.str.json_decode(dtype).struct.unnest().select(like.columns)


def _changed(old: pl.Series, new: pl.Series, like: pl.DataFrame) -> pl.Series:
    """For each pair of JSON rows, the columns whose values differ, joined by ;."""
    if old.len() == 0:
        return pl.Series("changed", [], pl.String)
    before, after = rows_of(old, like), rows_of(new, like)
    flags = [pl.when(before[c].ne_missing(after[c])).then(pl.lit(c)) for c in like.columns]
    both = pl.DataFrame({"_": range(old.len())})
    return both.select(pl.concat_str(flags, separator=";", ignore_nulls=True)
                       .fill_null("").alias("changed")).to_series()


def diff(
    name: str,
    previous: pl.DataFrame | None,
    frame: pl.DataFrame,
    current: pl.DataFrame,
    policy: Missing,
    run: int,
    now: dt.datetime,
    postpone: bool,
    secrets: tuple[str, ...] = (),
) -> OutputChanges:
    """This run's ``current`` rows (from :func:`current_rows`) against ``previous``.

    ``frame`` is the output as the run made it (its columns and types); ``postpone``
    (a run with rejects) carries over the rows it misses instead of deactivating them.
    """
    prev = empty_snapshot() if previous is None else previous
    duplicates = frame.height - current.height
    j = current.join(prev.rename({"row": "row_prev", "schools": "schools_prev"}), on="key",
                     how="full", coalesce=True, maintain_order="left_right")
    here, was = pl.col("row").is_not_null(), pl.col("row_prev").is_not_null()
    state = pl.col("state")
    missing_runs = pl.col("missing_runs").fill_null(0) + 1
    since = pl.col("missing_since").fill_null(pl.lit(now.isoformat(timespec="seconds")))
    if policy.unit == "days":
        first_missing = since.str.to_datetime(time_zone="UTC")
        due = (pl.lit(now) - first_missing) >= pl.duration(days=policy.after)
    else:
        due = missing_runs >= policy.after
    gone_for_good = state.is_in(["deactivated", "deleted"])
    action = (
        pl.when(here & ~was).then(pl.lit("create"))
        .when(here & (state == "deactivated")).then(pl.lit("reactivate"))
        .when(here & (state == "deleted")).then(pl.lit("create"))
        .when(here & (pl.col("row") != pl.col("row_prev"))).then(pl.lit("update"))
        .when(here).then(pl.lit("unchanged"))
        .when(gone_for_good).then(pl.lit("gone"))
        .when(pl.lit(postpone)).then(pl.lit("postponed"))
        .when(pl.lit(policy.action == "keep")).then(pl.lit("kept"))
        .when(due).then(pl.lit(policy.action))
        .otherwise(pl.lit("missing"))
    )
    j = j.with_columns(action.alias("action"))
    a = pl.col("action")
    present = a.is_in(["create", "reactivate", "update", "unchanged"])
    new_state = (
        pl.when(present).then(pl.lit("present"))
        .when(a == "deactivate").then(pl.lit("deactivated"))
        .when(a == "delete").then(pl.lit("deleted"))
        .when(a == "kept").then(pl.lit("kept"))
        .when(a == "missing").then(pl.lit("missing"))
        .otherwise(state)  # gone, postponed: as they were
    )
    counting = a.is_in(["missing", "kept", "deactivate", "delete"])
    snapshot = j.select(
        "key",
        pl.when(present).then(pl.col("row")).otherwise(pl.col("row_prev")).alias("row"),
        pl.when(present).then(pl.col("schools")).otherwise(pl.col("schools_prev"))
        .alias("schools"),
        new_state.alias("state"),
        pl.when(present).then(0).when(counting).then(missing_runs)
        .otherwise(pl.col("missing_runs")).cast(pl.Int64).alias("missing_runs"),
        pl.when(present).then(pl.lit(None, pl.String)).when(counting).then(since)
        .otherwise(pl.col("missing_since")).alias("missing_since"),
        pl.when(a.is_in(["create"]) & ~was).then(run).otherwise(pl.col("first_run"))
        .fill_null(run).cast(pl.Int64).alias("first_run"),
    )
    counts = dict.fromkeys((*ACTIONS, *_QUIET), 0)
    counts.update(dict(j.group_by("action").len().iter_rows()))
    counts.pop("gone", None)

    carried = j.filter(a.is_in(list(_CARRIED)))
    full = frame if carried.height == 0 else pl.concat(
        [frame, rows_of(carried.get_column("row_prev"), frame, secrets)],
        how="vertical_relaxed")
    changes = _change_rows(j, frame, secrets)
    moved = j.select((a == "unchanged") & pl.col("schools").ne_missing(pl.col("schools_prev"))
                     ).to_series().sum()
    return OutputChanges(name, full, changes, snapshot, counts, _per_school(j), duplicates,
                         previous is None, int(moved))


def _change_rows(j: pl.DataFrame, frame: pl.DataFrame, secrets: tuple[str, ...]
                 ) -> pl.DataFrame:
    """The change file: one row per create, reactivate, update, deactivate or delete."""
    a = pl.col("action")
    listed = j.filter(a.is_in(list(ACTIONS)))
    order = {action: i for i, action in enumerate(ACTIONS)}
    listed = listed.with_columns(a.replace_strict(order, return_dtype=pl.Int64).alias("_order"))
    listed = listed.sort(["_order", "key"])
    uses_new = listed.get_column("action").is_in(["create", "reactivate", "update"])
    rows = listed.select(pl.when(uses_new).then(pl.col("row")).otherwise(pl.col("row_prev")))
    values = rows_of(rows.to_series(), frame, secrets)
    compared = listed.get_column("action").is_in(["update", "reactivate"])
    changed = pl.Series("changed", [""] * listed.height, pl.String)
    if compared.any():
        pairs = listed.filter(compared)
        found = _changed(pairs.get_column("row_prev"), pairs.get_column("row"), frame)
        changed = changed.scatter(compared.arg_true(), found)
    return pl.concat([listed.select("action"), changed.to_frame(), values], how="horizontal")


def _per_school(j: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Per school: the rows the last run published, and this run's changes."""
    before = (j.filter(pl.col("state").is_in(["present", "missing", "kept"]))
              .select(pl.col("schools_prev").alias("school")).explode("school")
              .drop_nulls().group_by("school").len())
    schools: dict[str, dict[str, int]] = {
        s: {"before": n, **dict.fromkeys(ACTIONS, 0)} for s, n in before.iter_rows()}
    a = pl.col("action")
    acted = j.filter(a.is_in(list(ACTIONS))).select(
        a, pl.when(a.is_in(["deactivate", "delete"])).then(pl.col("schools_prev"))
        .otherwise(pl.col("schools")).alias("school"),
    ).explode("school").drop_nulls().group_by("school", "action").len()
    for school, action, n in acted.iter_rows():
        schools.setdefault(school, {"before": 0, **dict.fromkeys(ACTIONS, 0)})[action] = n
    return dict(sorted(schools.items()))


def encode_changes(changes: pl.DataFrame, key: tuple[str, ...], secrets: tuple[str, ...] = ()
                   ) -> pl.DataFrame:
    """A change file as stored for ``rostermap diff``: key, action, changed, row (JSON)."""
    columns = [c for c in changes.columns if c not in ("action", "changed")]
    keys = list(key) or columns
    return changes.select(
        pl.concat_str([pl.col(k).cast(pl.String).fill_null("") for k in keys],
                      separator=SEP).alias("key"),
        "action", "changed",
        mask(pl.struct(columns).struct.json_encode() if columns else pl.lit("{}"), secrets)
        .alias("row"),
    )


def summary_line(counts: dict[str, int]) -> str:
    """``+3 created, ~5 updated, -14 deactivated`` for a log or a terminal."""
    words = {"create": "created", "reactivate": "reactivated", "update": "updated",
             "deactivate": "deactivated", "delete": "deleted", "missing": "missing (grace)",
             "kept": "kept", "postponed": "postponed"}
    parts = [f"{counts[k]} {w}" for k, w in words.items() if counts.get(k)]
    return ", ".join(parts) or "no changes"


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
