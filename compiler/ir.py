"""The checked mapping: names resolved, types known, rules inlined.

The checker turns syntax nodes into these expressions. Each expression knows its
type and the span it came from; a field read knows which record it reads (``scope``
0 is the record being read, 1 the record around a lookup), so the planner never
has to resolve a name again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compiler.types import Type
from dsl.span import Span

__all__ = [
    "And",
    "Arith",
    "Call",
    "CheckedMapping",
    "CheckedOutput",
    "ColumnRule",
    "Compare",
    "Const",
    "Deref",
    "Expr",
    "FieldRead",
    "IfElse",
    "InList",
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
    """``value of entity where filter``, tied to the outer record by a key equality.

    ``inner_key`` (read from the looked-up record) equals ``outer_key`` (read from the
    outer record); the rest of the condition is ``filter``. The planner compiles this
    to a filtered group-by joined back on the key, never to a loop.
    """

    entity: str
    value: Expr
    filter: Expr | None
    inner_key: Expr
    outer_key: Expr


@dataclass(frozen=True, slots=True)
class OutColumn(Expr):
    """In a `warn` rule: the value the output gives a column."""

    name: str


# --- the checked mapping ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParamSpec:
    name: str
    type: Type
    default: Any  # a Python value; None with required=True means "no default"
    required: bool
    line: int


@dataclass(frozen=True, slots=True)
class WhereRule:
    line: int
    text: str
    test: Expr


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


@dataclass(frozen=True, slots=True)
class CheckedMapping:
    profile: str
    title: str
    versions: tuple[str, ...]
    params: tuple[ParamSpec, ...]
    outputs: tuple[CheckedOutput, ...]  # in an order where each output follows those it uses
    source_name: str
