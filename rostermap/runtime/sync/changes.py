"""Change sets: what a run changes against the last committed run, by diffing snapshots.

Deltas are computed by comparing the full output of this run with the rows the
last committed run published, key by key, so they are right whatever the source
sent (a full package, a delta package, an API). Each output's state is a
*snapshot*: a frame with one row per key ever published, holding the row's
columns (prefixed ``c:``) and where it stands:

================  ===================================================================
``schools``       the orgs of the record the row was made from (per-school guards),
                  joined by U+001F: as text, a million-row join costs half the memory
                  of a list column
``state``         present | missing (within grace) | kept | deactivated | deleted
``missing_runs``  runs in a row without it; ``missing_since`` the first (ISO time)
``first_run``     the run that first published it
``c:COLUMN``      the row's values, as the output's columns; secret columns empty
================  ===================================================================

A row's key is its key columns' values (all its columns when the output has no
``key``). Where this run's keys stand where the snapshot has them (the same rows in
the same order, as a source unchanged since the last run makes), rows are compared
where they stand; otherwise keys are matched by one 64-bit hash each, checked value
by value.

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
from collections.abc import Collection, Mapping
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
    "key_text",
    "positions",
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
_STATES = pl.Enum(["present", "missing", "kept", "deactivated", "deleted"])
# What happened to each row, as a small integer per row rather than a text.
_ACTION = pl.Enum([*ACTIONS, *_QUIET])
_STATE: dict[str, Any] = {
    "schools": pl.String,
    "state": _STATES,
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
    forgotten: int = 0  # departed rows past the retention, left out of the snapshot
    unchanged: bool = False  # the snapshot is the stored one: nothing to store again


def _with_secrets(frame: pl.DataFrame, secrets: Mapping[str, str]) -> pl.DataFrame:
    """Rows read back from the state, their secret columns given this run's value.

    The state stores nothing in a secret column (see :func:`current_rows`); the value
    written is always the parameter's current one, in that column and nowhere else.
    """
    present = {c: v for c, v in secrets.items() if c in frame.columns}
    return frame.with_columns(pl.lit(v, pl.String).alias(c) for c, v in present.items())


def current_rows(frame: pl.DataFrame, key: tuple[str, ...], schools: pl.Series,
                 fmt: str, secrets: Collection[str] = (), text_key: bool = True,
                 stored: pl.DataFrame | None = None) -> pl.DataFrame:
    """This run's rows as schools and ``c:`` columns, and with ``text_key`` the key as
    one text (``key``); one row per key, the first of any repeats. In a CSV a missing
    value and empty text are written alike, so they compare equal. Keys that are the
    first keys of ``stored`` (the snapshot compared with), in its order, are as unique
    as the snapshot's: they are not hashed to find out.

    A secret column (one that holds a secret parameter, whole: the compiler allows no
    other use) is stored empty: the state keeps no secret, and rows compare equal
    whatever the secret is, so rotating it updates no row."""
    columns = list(frame.columns)
    values = frame if fmt != "csv" else frame.with_columns(
        pl.col(c).fill_null("") for c, dtype in frame.schema.items() if dtype == pl.String)
    keys = _key_columns(key, [COLUMN + c for c in columns])
    out = values.select(pl.col(c).alias(COLUMN + c) for c in columns).with_columns(
        schools.alias("schools").cast(pl.String))
    here = out.select(_key_values(keys))
    unique = stored is not None and set(keys) <= set(stored.columns) and _same_order(
        here, stored.select(_key_values(keys)))
    # distinct hashes are distinct keys: only a repeated hash needs the exact pass
    if not unique and here.select(pl.struct(pl.all()).hash(seed=0)).to_series().n_unique() \
            < out.height:
        out = out.filter(here.select(pl.struct(pl.all()).is_first_distinct()).to_series())
    if text_key:
        out = out.select(key_text(keys), pl.all())
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
    return _blank(previous.select(  # a key column stored by 0.1 is not read: it is derived
        *(pl.col(c).cast(t) for c, t in _STATE.items()),
        *(pl.col(c).cast(t, strict=False) if c in previous.columns else pl.lit(None, t).alias(c)
          for c, t in wanted.items()),
    ), secrets)


def _act(action: str) -> pl.Expr:
    return pl.lit(action, _ACTION)


def _row_hash(columns: list[str]) -> pl.Expr:
    """One 64-bit value per row for its ``c:`` columns: rows are told apart by it, and
    only the rows it tells apart are compared column by column."""
    return pl.struct(columns).hash(seed=0) if columns else pl.lit(0, pl.UInt64)


def _key_columns(key: tuple[str, ...], columns: list[str]) -> list[str]:
    """The ``c:`` columns that make a row's key: the output's ``key``, else all."""
    return [COLUMN + k for k in key] or columns


def _key_values(columns: list[str]) -> list[pl.Expr]:
    """A key's values as compared: text, a missing value as empty text."""
    return [pl.col(c).cast(pl.String).fill_null("").alias(c) for c in columns]


def key_text(columns: list[str]) -> pl.Expr:
    """A key as one text, its values joined by U+001F: how change files are ordered."""
    return pl.concat_str(_key_values(columns), separator=SEP).alias("key")


def positions(keys: pl.DataFrame, stored: pl.DataFrame) -> pl.Series:
    """Per row of ``keys``, the row of ``stored`` with the same key (null: none), keys
    being unique on each side.

    A run whose rows are those of the last run, in the same order (a source unchanged
    since, as when a district exports nightly and the sync runs more often), is told
    by comparing the keys where they stand: no join. Otherwise the keys are joined on
    one 64-bit hash each, three times faster than on the values, then checked against
    the values: on a collision the values themselves are joined."""
    on = list(keys.columns)
    if _same_order(keys, stored):
        return pl.int_range(keys.height, dtype=pl.get_index_type(), eager=True).alias("_at")
    hashed = pl.struct(on).hash(seed=0).alias("_k")
    for left, right, by in ((keys.select(hashed), stored.select(hashed), ["_k"]),
                            (keys, stored, on)):
        at = left.join(right.with_row_index("_at"), on=by, how="left",
                       maintain_order="left").get_column("_at")
        if at.len() == keys.height and all(
                (stored.get_column(c).gather(at).eq_missing(keys.get_column(c))
                 | at.is_null()).all() for c in on):
            return at
    raise AssertionError("keys repeat")  # current_rows and the snapshot keep one each


def _same_order(keys: pl.DataFrame, stored: pl.DataFrame) -> bool:
    """Whether ``keys`` are the first keys of ``stored``, in the same order."""
    return keys.height <= stored.height and all(
        stored.get_column(c).head(keys.height).eq_missing(keys.get_column(c)).all()
        for c in keys.columns)


def _in_place(at: pl.Series) -> bool:
    """Whether positions are 0, 1, 2, ...: each row where it stood (see positions)."""
    return not at.len() or (at.null_count() == 0 and at.is_sorted() and at[0] == 0
                            and at[-1] == at.len() - 1)


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
    *,
    key: tuple[str, ...],
    forget: dt.timedelta | None = None,
) -> OutputChanges:
    """This run's ``current`` rows (from :func:`current_rows`) against ``previous``.

    ``frame`` is the output as the run made it (its columns and types), ``key`` its
    key columns (none: all); ``postpone`` (a run with rejects) carries over the rows it
    misses instead of deactivating them. ``secrets`` gives each secret column its
    current value, for the rows read back. A row deactivated or deleted longer than
    ``forget`` ago leaves the snapshot.

    Only narrow frames are joined: this run's keys with the stored keys, by position,
    with their state and one hash per row. The stored rows are read whole only where
    they are what is published (rows carried over or sent departed) or compared
    column by column (rows whose hash differs); the new snapshot takes this run's rows
    as they are.
    """
    secrets = secrets or {}
    prev = _aligned(previous, current, secrets)
    stored = prev.height
    if forget is not None:  # forgotten: unknown from now on, as if never published
        departed_at = pl.col("missing_since").str.to_datetime(time_zone="UTC")
        prev = prev.filter(~(pl.col("state").is_in(["deactivated", "deleted"])
                             & (departed_at < pl.lit(now - forget))).fill_null(False))
    columns = [c for c in current.columns if c.startswith(COLUMN)]
    keys = _key_columns(key, columns)
    status = [c for c in _STATE if c != "schools"]
    # This run's rows, in their order, each with what the state says of its key.
    at = positions(current.select(_key_values(keys)), prev.select(_key_values(keys)))
    stored_rows = prev.select(pl.col("schools").alias("schools_prev"), *status)
    if _in_place(at):
        # Each row against the stored row where it stands, column by column: no hash.
        n = at.len()
        here = pl.concat([current.select("schools", *columns), stored_rows.head(n),
                          prev.head(n).select(pl.col(c).alias(f"{c}_prev") for c in columns)],
                         how="horizontal")
        same = pl.all_horizontal(pl.col(c).eq_missing(pl.col(f"{c}_prev")) for c in columns)
        gone = prev.slice(n)  # the stored rows this run does not make: whole, carried
    else:
        here = pl.concat([current.select("schools", _row_hash(columns).alias("_h")),
                          stored_rows.select(pl.all().gather(at)),
                          prev.select(_row_hash(columns).alias("_h_prev")).select(
                              pl.all().gather(at))], how="horizontal")
        same = pl.col("_h") == pl.col("_h_prev")
        made = pl.Series("made", [], pl.Boolean).extend_constant(False, prev.height)
        gone = prev.filter(~made.scatter(at.drop_nulls(), True))
    here = here.select("schools", *stored_rows.columns, at.alias("_at"), same.alias("_same"))
    del stored_rows
    state, was = pl.col("state"), pl.col("state").is_not_null()
    here = here.with_columns(
        pl.when(~was).then(_act("create"))
        .when(state == "deactivated").then(_act("reactivate"))
        .when(state == "deleted").then(_act("create"))
        .when(~pl.col("_same")).then(_act("update"))
        .otherwise(_act("unchanged")).alias("action"))
    here = _changed(here, current, prev, columns)
    missing_runs = pl.col("missing_runs").fill_null(0) + 1
    since = pl.col("missing_since").fill_null(pl.lit(now.isoformat(timespec="seconds")))
    if policy.unit == "days":
        due = (pl.lit(now) - since.str.to_datetime(time_zone="UTC")) >= pl.duration(
            days=policy.after)
    else:
        due = missing_runs >= policy.after
    gone = gone.with_columns(
        pl.when(state.is_in(["deactivated", "deleted"])).then(_act("gone"))
        .when(pl.lit(postpone)).then(_act("postponed"))
        .when(pl.lit(policy.action == "keep")).then(_act("kept"))
        .when(due).then(_act("kept" if policy.action == "keep" else policy.action))
        .otherwise(_act("missing")).alias("action"))
    a = pl.col("action")
    counting = a.is_in(["missing", "kept", "deactivate", "delete"])
    # what happened to each row, and under which schools (as text: a row's list)
    acted = (here.select("action", "state", "schools", "schools_prev"),
             gone.select("action", "state", pl.lit(None, pl.String).alias("schools"),
                         pl.col("schools").alias("schools_prev")))
    counts = dict.fromkeys((*ACTIONS, *_QUIET), 0)
    for part in acted:
        for action, n in part.group_by(a.cast(pl.String)).len().iter_rows():
            counts[action] += n
    counts.pop("gone", None)
    moved = int(here.select((a == "unchanged") & pl.col("schools").ne_missing(
        pl.col("schools_prev"))).to_series().sum())
    forgotten = stored - prev.height
    # Nothing to store again: the stored snapshot stands (its rows in their order, for
    # the next run to find them in place). Not when a row is back within its grace:
    # it is unchanged, but its state is present again and its grace starts afresh.
    unchanged = previous is not None and not moved and not forgotten and all(
        n == 0 for k, n in counts.items() if k != "unchanged") and bool(
        here.select((pl.col("state") == "present").all()).item())
    snapshot = prev if unchanged else pl.concat([
        pl.concat([here.select(
            "schools", pl.lit("present", _STATES).alias("state"),
            pl.lit(0, pl.Int64).alias("missing_runs"),
            pl.lit(None, pl.String).alias("missing_since"),
            pl.when(was).then(pl.col("first_run")).otherwise(run).cast(pl.Int64)
            .alias("first_run")), current.select(columns)], how="horizontal"),
        gone.select(
            "schools",
            pl.when(a == "deactivate").then(pl.lit("deactivated"))
            .when(a == "delete").then(pl.lit("deleted"))
            .when(a.is_in(["kept", "missing"])).then(a.cast(pl.String))
            .otherwise(state.cast(pl.String)).cast(_STATES)
            .alias("state"),  # gone, postponed: as they were
            pl.when(counting).then(missing_runs).otherwise(pl.col("missing_runs"))
            .cast(pl.Int64).alias("missing_runs"),
            pl.when(counting).then(since).otherwise(pl.col("missing_since"))
            .alias("missing_since"),
            pl.col("first_run").cast(pl.Int64), *columns),
    ], how="vertical")

    def values(rows: pl.DataFrame, departing: bool) -> pl.DataFrame:
        """The output's columns of ``rows`` (which hold the ``c:`` columns), secrets put
        back; departed rows as the policy's ``with`` sets them."""
        picked = rows.select(pl.col(c).alias(c.removeprefix(COLUMN)) for c in columns)
        picked = _with_secrets(picked, secrets).cast(frame.schema, strict=False)
        if departing and policy.sets:
            picked = picked.with_columns(pl.lit(value).cast(frame.schema[column]).alias(column)
                                         for column, value in policy.sets)
        return picked

    carried = gone.filter(a.is_in(list(_CARRIED))).sort(key_text(keys))
    departed = (gone.filter(a.is_in(["deactivate", "delete"])).sort(key_text(keys))
                if policy.sets else gone.clear())
    sent = [values(rows, rows is departed) for rows in (carried, departed) if rows.height]
    full = pl.concat([frame, *sent], how="vertical_relaxed") if sent else frame
    order = {action: i for i, action in enumerate(ACTIONS)}
    new = here.with_row_index("_row").filter(a.is_in(["create", "reactivate", "update"]))
    rows = current[new.get_column("_row")]
    left = gone.filter(a.is_in(["deactivate", "delete"]))
    parts = [
        pl.concat([new.select(a.cast(pl.String), "changed"), rows.select(key_text(keys)),
                   values(rows, False)], how="horizontal"),
        pl.concat([left.select(a.cast(pl.String), pl.lit("").alias("changed"), key_text(keys)),
                   values(left, True)], how="horizontal"),
    ]
    change_rows = (pl.concat(parts, how="vertical_relaxed")
                   .with_columns(a.replace_strict(order, return_dtype=pl.Int64).alias("_order"))
                   .sort(["_order", "key"]).drop("_order", "key"))
    return OutputChanges(name, full, change_rows, snapshot, counts, _per_school(acted),
                         frame.height - current.height, previous is None, moved,
                         departed.height, forgotten, unchanged)


def _changed(here: pl.DataFrame, current: pl.DataFrame, prev: pl.DataFrame,
             columns: list[str]) -> pl.DataFrame:
    """``here`` with ``changed``: per updated or reactivated row, the names of the
    columns that differ, joined by ``;``, compared value by value (the rows are found
    by position, no join). A row whose hash differs while its values do not (a float's
    zero signs) is unchanged after all."""
    a = pl.col("action")
    compared = here.with_row_index("_row").filter(a.is_in(["update", "reactivate"]))
    if not compared.height or not columns:
        return here.with_columns(pl.lit("").alias("changed"))
    pairs = pl.concat([
        current[compared.get_column("_row")].select(columns),
        prev[compared.get_column("_at")].select(pl.col(c).alias(f"{c}_prev")
                                                for c in columns),
    ], how="horizontal")
    differs = [pl.col(c).ne_missing(pl.col(f"{c}_prev")) for c in columns]
    names = pairs.select(pl.concat_str(
        [pl.when(d).then(pl.lit(c.removeprefix(COLUMN))) for d, c in zip(differs, columns,
                                                                          strict=True)],
        separator=";", ignore_nulls=True).fill_null("")).to_series()
    changed = (pl.Series("changed", [], pl.String).extend_constant("", here.height)
               .scatter(compared.get_column("_row"), names))
    return here.with_columns(changed).with_columns(
        pl.when((a == "update") & (pl.col("changed") == "")).then(_act("unchanged"))
        .otherwise(a).alias("action"))


def _per_school(parts: tuple[pl.DataFrame, ...]) -> dict[str, dict[str, int]]:
    """Per school: the rows the last run published, and this run's changes."""
    schools: dict[str, dict[str, int]] = {}

    def row(school: str) -> dict[str, int]:
        return schools.setdefault(school, {"before": 0, **dict.fromkeys(ACTIONS, 0)})

    a = pl.col("action")
    for part in parts:
        # counted per distinct list of schools first (a district has few, and rows
        # many), then only the lists of rows that were published kept
        before = (part.group_by(pl.col("schools_prev").alias("school"), "state").len()
                  .filter(pl.col("state").is_in(["present", "missing", "kept"]))
                  .select(pl.col("school").str.split(SEP), "len").explode("school")
                  .drop_nulls("school"))
        for school, n in before.iter_rows():
            row(school)["before"] += n
        acted = part.filter(a.is_in(list(ACTIONS))).select(
            a.cast(pl.String), pl.when(a.is_in(["deactivate", "delete"]))
            .then(pl.col("schools_prev")).otherwise(pl.col("schools")).str.split(SEP)
            .alias("school"),
        ).explode("school").drop_nulls().group_by("school", "action").len()
        for school, action, n in acted.iter_rows():
            row(school)[action] += n
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

