"""The vocabulary compiled modules are written in.

A compiled mapping is a Python module that describes, for each output, a plan made
of these small records holding polars expressions: the steps that add derived
columns, the ``where`` rules, the columns and the warnings. Keeping the vocabulary
declarative keeps generated code short and readable, and puts the one
implementation of each step in ``runtime.engine.execute``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

__all__ = [
    "Check",
    "Column",
    "Counter",
    "Expect",
    "Fail",
    "Join",
    "Limit",
    "Lookup",
    "Member",
    "Missing",
    "Output",
    "Param",
    "Rule",
    "Step",
    "Warn",
    "col",
]


def col(name: str) -> pl.Expr:
    """A column of the frame: a OneRoster field, or a derived column a step added."""
    return pl.col(name)


@dataclass(frozen=True)
class Missing:
    """``when missing ACTION after N UNIT``: what a run does with a row that is gone.

    ``deactivate`` emits a deactivate change, ``delete`` a delete change, ``keep``
    nothing (the row stays in the full file: additive only). With ``after``, the row
    is carried over unchanged until it has been missing for that many runs or days.
    ``sets`` (``with status = "deleted"``) are columns of the departed row as it is
    sent: in its change row and, in the run it departs, in the full file.
    """

    action: str = "deactivate"
    after: int = 0
    unit: str = "runs"  # runs | days
    sets: tuple[tuple[str, str | int | float | bool], ...] = ()


@dataclass(frozen=True)
class Limit:
    """``limit ACTION AMOUNT[%] [per school]``: more changes than this hold the run.

    ``action`` is create, update or deactivate (deactivate counts deletions too). A
    percent is of the rows of the last committed run: of the output, or of each school.
    """

    action: str
    amount: float
    percent: bool = False
    per_school: bool = False

    def __str__(self) -> str:
        amount = f"{self.amount:g}{'%' if self.percent else ''}"
        return f"{self.action} {amount}" + (" per school" if self.per_school else "")


@dataclass(frozen=True, eq=False)
class Param:
    name: str
    type: str  # str | int | float | bool | date | list[...] | "a" | "b" | table(...)
    required: bool
    default: Any
    line: int
    choices: tuple[str, ...] = ()  # the texts a choice parameter, or each item of a list, takes
    columns: tuple[str, ...] = ()  # a table parameter's columns
    secret: bool = False  # from the environment (ROSTERMAP_<NAME>), never shown
    # `naming ENTITY by FIELDS [ignoring case]`: each value names a record of the entity
    names: str = ""
    names_by: tuple[str, ...] = ()
    ignore_case: bool = False


@dataclass(frozen=True, eq=False)
class Join:
    """Left-join ``entity`` where ``on`` equals its sourcedId; ``fields`` maps new
    column names to the entity's fields; ``found`` marks the rows that found one."""

    entity: str
    on: pl.Expr
    fields: dict[str, str]
    found: str


@dataclass(frozen=True, eq=False)
class Lookup:
    """The records of ``entity`` that pass ``where``, grouped by ``key``, reduced with
    ``aggregate`` over ``value``, and joined back where ``on`` equals the key.

    With ``explode`` (a key that is a list) or ``also`` (a condition that reads both
    records), pairs of records are joined first, filtered, then grouped per outer
    record."""

    name: str
    line: int
    text: str
    entity: str
    key: pl.Expr
    on: pl.Expr
    value: pl.Expr
    aggregate: str
    where: pl.Expr | None = None
    steps: tuple[Step, ...] = ()
    explode: str = ""  # "outer" / "inner": that key is a list, matched item by item
    carry: dict[str, pl.Expr] = field(default_factory=dict)  # outer values `also` reads
    also: pl.Expr | None = None  # a condition on each pair of records


@dataclass(frozen=True, eq=False)
class Member:
    """Whether ``on`` names a record that ``output`` emitted (a semi-join)."""

    name: str
    output: str
    on: pl.Expr


Step = Join | Lookup | Member


@dataclass(frozen=True, eq=False)
class Rule:
    line: int
    text: str
    test: pl.Expr
    report: str | None = None  # report each record this rule drops, with this message


@dataclass(frozen=True, eq=False)
class Fail:
    """A way a column fails on a record: where ``test`` holds, the record is rejected."""

    test: pl.Expr
    reason: str


@dataclass(frozen=True, eq=False)
class Column:
    name: str
    line: int
    value: pl.Expr
    fails: tuple[Fail, ...] = ()


@dataclass(frozen=True, eq=False)
class Warn:
    line: int
    message: str
    test: pl.Expr


@dataclass(frozen=True, eq=False)
class Check:
    """``reject "reason" if test``: a record for which test holds is rejected. With a
    ``message`` (a reason written as an expression), the reason is its value for the
    record, and ``reason`` (the expression as written) only when it has none."""

    line: int
    reason: str
    test: pl.Expr
    message: pl.Expr | None = None


@dataclass(frozen=True, eq=False)
class Counter:
    """``counter "label" if test``: how many rows the output writes (that pass test)."""

    label: str
    line: int
    test: pl.Expr | None = None


@dataclass(frozen=True)
class Expect:
    """``expect ...``: a contract on the rows an output writes (as text), checked before
    anything is written; a broken one fails the run.

    ``kind``: ``in`` (every value of ``columns`` is one of ``values``), ``is not empty``,
    ``unique`` (no two rows share the values of ``columns`` together) or ``rows`` (the
    row count compares with ``amount`` by ``op``). ``personal``: the values are personal
    data, never shown in a diagnostic.
    """

    kind: str
    line: int
    text: str
    columns: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    op: str = ""
    amount: int = 0
    personal: bool = False


@dataclass(frozen=True, eq=False)
class Output:
    """One output file's plan. ``before`` steps feed the rules; ``after`` steps run on
    the records the rules kept."""

    name: str
    entity: str
    line: int
    columns: tuple[Column, ...]
    rules: tuple[Rule, ...] = ()
    before: tuple[Step, ...] = ()
    after: tuple[Step, ...] = ()
    warns: tuple[Warn, ...] = ()
    key: tuple[str, ...] = ()
    sort: tuple[str, ...] = ()
    distinct: bool = False
    depends_on: tuple[str, ...] = field(default=())
    checks: tuple[Check, ...] = ()
    counters: tuple[Counter, ...] = ()
    format: str = "csv"  # csv | jsonl | json
    # `for each NAME in LIST`: after the prelude steps, a row per item of LIST, the item
    # in the column each:NAME.
    prelude: tuple[Step, ...] = ()
    each: tuple[str, pl.Expr] | None = None
    missing: Missing = field(default_factory=Missing)
    limits: tuple[Limit, ...] = ()  # as declared; rostermap.runtime.sync.guard adds the defaults
    # Columns that hold a secret parameter, whole: the run state stores nothing of them
    # and compares rows without them, so no secret is kept and rotating one updates no row.
    secrets: tuple[tuple[str, str], ...] = ()  # (column, the secret parameter it holds)
    allow_empty: bool = False  # `allow empty`: the file may be empty while its entity is not
    expects: tuple[Expect, ...] = ()  # contracts on the written rows
