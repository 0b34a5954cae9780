"""The checked mapping: names resolved, types known, rules inlined.

The checker turns syntax nodes into these expressions. Each expression knows its
type and the span it came from; a field read knows which record it reads (``scope``
0 is the record being read, 1 the record around a lookup), so the planner never
has to resolve a name again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rostermap.dsl.nodes import LiteralValue
from rostermap.dsl.push import PushSpec
from rostermap.dsl.span import Span
from rostermap.dsl.types import Type

__all__ = [
    "children",
    "scopes",
    "shift",
    "And",
    "Arith",
    "Call",
    "CheckedMapping",
    "CheckedOutput",
    "MissingPolicy",
    "ColumnRule",
    "CounterRule",
    "Compare",
    "Const",
    "Contract",
    "Deref",
    "Expr",
    "FieldRead",
    "IfElse",
    "InList",
    "ItemRead",
    "ObjectOf",
    "Index",
    "IsEmpty",
    "ListOf",
    "Lookup",
    "MatchMap",
    "Member",
    "Neg",
    "Not",
    "Or",
    "OutColumn",
    "ParamRead",
    "ParamSpec",
    "RejectRule",
    "Quant",
    "WarnRule",
    "WhereRule",
]


@dataclass(frozen=True, slots=True)
class Expr:
    type: Type
    span: Span


@dataclass(frozen=True, slots=True)
class Const(Expr):
    value: Any  # str | int | float | bool | tuple of those (a constant list)


@dataclass(frozen=True, slots=True)
class ListOf(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class ParamRead(Expr):
    name: str


@dataclass(frozen=True, slots=True)
class FieldRead(Expr):
    """A field of the record in ``scope`` (0: the record read; 1: around a lookup)."""

    scope: int
    entity: str
    name: str


@dataclass(frozen=True, slots=True)
class Deref(Expr):
    """A field of the record that ``ref`` points to: ``school.name``."""

    ref: Expr
    entity: str
    name: str


@dataclass(frozen=True, slots=True)
class Index(Expr):
    list: Expr
    index: int


@dataclass(frozen=True, slots=True)
class Compare(Expr):
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class InList(Expr):
    item: Expr
    collection: Expr
    negated: bool


@dataclass(frozen=True, slots=True)
class Member(Expr):
    """``user in users.csv``: whether the referenced record became a row of an output."""

    item: Expr
    output: str
    negated: bool


@dataclass(frozen=True, slots=True)
class IsEmpty(Expr):
    operand: Expr
    negated: bool


@dataclass(frozen=True, slots=True)
class Quant(Expr):
    quantifier: str  # any | all | none
    items: Expr
    collection: Expr


@dataclass(frozen=True, slots=True)
class And(Expr):
    operands: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or(Expr):
    operands: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Not(Expr):
    operand: Expr


@dataclass(frozen=True, slots=True)
class Arith(Expr):
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Neg(Expr):
    operand: Expr


@dataclass(frozen=True, slots=True)
class IfElse(Expr):
    test: Expr
    then: Expr
    orelse: Expr


@dataclass(frozen=True, slots=True)
class MatchMap(Expr):
    subject: Expr
    arms: tuple[tuple[tuple[Any, ...], Expr], ...]  # (pattern values, value)
    default: Expr | None


@dataclass(frozen=True, slots=True)
class Call(Expr):
    function: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Lookup(Expr):
    """``value of entity where filter``, tied to the outer record by a key.

    ``inner_key`` (read from the looked-up record) equals ``outer_key`` (read from the
    outer record), or is one of its items (``explode``); the rest of the condition is
    ``filter``, and ``correlated`` for what also reads the outer record. The planner
    compiles this to a filtered group-by joined back on the key (or, when a list or
    the outer record is involved, to a join of the pairs, filtered and grouped),
    never to a loop.
    """

    entity: str
    value: Expr
    filter: Expr | None
    inner_key: Expr
    outer_key: Expr
    explode: str = ""  # "outer" / "inner": that key is a list, matched item by item
    correlated: Expr | None = None  # conditions that read both records (scope 0 and 1)
    text: str = ""  # as written (`x of entity where ...`): what explain calls it


@dataclass(frozen=True, slots=True)
class ObjectOf(Expr):
    """``{key: value, ...}``: a nested object (JSON outputs only)."""

    entries: tuple[tuple[str, Expr], ...]


@dataclass(frozen=True, slots=True)
class ItemRead(Expr):
    """The item an output's ``for each NAME in ...`` gives each row."""

    name: str


@dataclass(frozen=True, slots=True)
class OutColumn(Expr):
    """In a `warn` rule: the value the output gives a column."""

    name: str


# --- walking expressions --------------------------------------------------------------------


def children(e: Expr) -> Iterator[Expr]:
    """The expressions directly inside ``e`` (match arms' values included)."""
    for f in dataclasses.fields(e):
        value = getattr(e, f.name)
        if isinstance(value, Expr):
            yield value
        elif isinstance(value, tuple):
            for item in value:
                if isinstance(item, Expr):
                    yield item
                elif isinstance(item, tuple):  # match arms
                    yield from (x for x in item if isinstance(x, Expr))


def scopes(e: Expr) -> set[int]:
    """The record scopes an expression reads (lookups are closed over their own)."""
    if isinstance(e, FieldRead):
        return {e.scope}
    if isinstance(e, Lookup):
        # Its value and filter read the looked-up records (its scope 0); what it reads
        # of the record around it (its scope 1) is scope 0 from outside.
        around = scopes(e.correlated) if e.correlated is not None else set()
        return scopes(e.outer_key) | {s - 1 for s in around if s >= 1}
    out: set[int] = set()
    for child in children(e):
        out |= scopes(child)
    return out


def shift(e: Expr, by: int = -1) -> Expr:
    """Re-express an expression ``by`` record scopes out (-1) or in (+1).

    -1: an outer-record expression seen from the outer record itself (lookup keys);
    +1: an argument of a `define` seen from inside a lookup in its body.
    """
    return _shift(e, by, 0)


def _shift(e: Expr, by: int, base: int) -> Expr:
    """``shift`` of the scopes from ``base`` on; those below are a lookup's own records.

    A lookup reads its own records as its scope 0 wherever it is read: only what it
    reads of the records around it moves (its outer key, and its correlated test's
    scopes from 1 on), or ``scopes`` would take its own records for the outer one.
    """
    if isinstance(e, FieldRead):
        return dataclasses.replace(e, scope=e.scope + by) if e.scope >= base else e

    def inside(value: Any, level: int) -> Any:
        if isinstance(value, Expr):
            return _shift(value, by, level)
        if isinstance(value, tuple):  # lists of expressions, match arms
            return tuple(inside(v, level) for v in value)
        return value

    own = ("value", "filter", "inner_key", "correlated") if isinstance(e, Lookup) else ()
    changes = {f.name: inside(getattr(e, f.name), base + 1 if f.name in own else base)
               for f in dataclasses.fields(e) if f.name not in ("type", "span")}
    return dataclasses.replace(e, **changes)


# --- the checked mapping ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParamSpec:
    name: str
    type: Type
    default: Any  # a Python value; None with required=True means "no default"
    required: bool
    line: int
    choices: tuple[str, ...] = ()  # a text parameter that takes one of these
    columns: tuple[str, ...] = ()  # a table parameter: a CSV file with these columns
    secret: bool = False  # read from the environment, never shown
    names: str = ""  # `naming ENTITY by FIELDS`: the entity each value names a record of
    names_by: tuple[str, ...] = ()
    ignore_case: bool = False


@dataclass(frozen=True, slots=True)
class WhereRule:
    line: int
    text: str
    test: Expr
    report: str | None = None  # each record this rule drops is reported with this


@dataclass(frozen=True, slots=True)
class ColumnRule:
    name: str
    line: int
    text: str
    value: Expr


@dataclass(frozen=True, slots=True)
class WarnRule:
    line: int
    message: str
    test: Expr


@dataclass(frozen=True, slots=True)
class CounterRule:
    label: str
    line: int
    test: Expr | None


@dataclass(frozen=True, slots=True)
class RejectRule:
    reason: str  # the literal reason, or the reason's expression as written
    line: int
    test: Expr
    message: Expr | None = None  # a reason worked out per record (text)


@dataclass(frozen=True, slots=True)
class MissingPolicy:
    """``when missing ACTION after N UNIT with COLUMN = VALUE, ...``, checked."""

    action: str  # deactivate | delete | keep
    after: int = 0
    unit: str = "runs"  # runs | days
    sets: tuple[tuple[str, LiteralValue], ...] = ()  # columns of the departed row


@dataclass(frozen=True, slots=True)
class Contract:
    """``expect ...``, checked: what the written rows must meet, or the run fails.

    ``kind`` is the expectation's word (in, is not empty, unique, rows); ``personal``
    says a column reads personal data, so a diagnostic does not show its values.
    """

    kind: str
    line: int
    text: str
    columns: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    op: str = ""
    amount: int = 0
    personal: bool = False


@dataclass(frozen=True, slots=True)
class CheckedOutput:
    name: str
    entity: str
    line: int
    wheres: tuple[WhereRule, ...]
    columns: tuple[ColumnRule, ...]
    warns: tuple[WarnRule, ...]
    key: tuple[str, ...]
    sort: tuple[str, ...]
    distinct: bool
    depends_on: tuple[str, ...]
    counters: tuple[CounterRule, ...] = ()
    rejects: tuple[RejectRule, ...] = ()
    each: tuple[str, Expr] | None = None  # `for each NAME in LIST`
    format: str = "csv"  # csv | jsonl | json, from the file name
    missing: MissingPolicy | None = None
    limits: tuple[tuple[str, float, bool, bool], ...] = ()  # action, amount, %, per school
    secrets: tuple[tuple[str, str], ...] = ()  # (column, secret parameter) it holds whole
    allow_empty: bool = False  # `allow empty`: an empty file from a non-empty entity is fine
    contracts: tuple[Contract, ...] = ()  # `expect` lines
    push: PushSpec | None = None  # a push output: its rows are API writes

@dataclass(frozen=True, slots=True)
class CheckedMapping:
    profile: str
    title: str
    versions: tuple[str, ...]
    params: tuple[ParamSpec, ...]
    outputs: tuple[CheckedOutput, ...]  # in an order where each output follows those it uses
    source_name: str
    requires: tuple[str, ...] = ()  # manifest, bulk, and entities the source must hold
    bundle: str | None = None  # `bundle NAME.zip`: the import files zipped, one upload
