"""The mapping language's syntax tree: small frozen dataclasses, each with its span.

Nodes say what the specialist wrote, nothing more: names are not yet resolved and
nothing is typed (that is the checker's job, in ``compiler.check``). The module is
called ``nodes`` rather than ``ast`` because code generation uses the standard
library's ``ast``.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

from rostermap.dsl.span import Span

__all__ = [
    "Arith",
    "Arm",
    "Attr",
    "BoolOp",
    "Call",
    "Comment",
    "Compare",
    "CounterDecl",
    "DefineDecl",
    "ExpectDecl",
    "Expectation",
    "Expr",
    "FieldRule",
    "ForEach",
    "Ident",
    "If",
    "In",
    "Index",
    "IsEmpty",
    "LibraryDecl",
    "ListExpr",
    "Literal",
    "Lookup",
    "Mapping",
    "Match",
    "Name",
    "Neg",
    "Node",
    "ObjectExpr",
    "Not",
    "Output",
    "PushDecl",
    "RequestDecl",
    "CaptureDecl",
    "LinkDecl",
    "ParamDecl",
    "ParamNaming",
    "ProfileDecl",
    "Quantified",
    "Reference",
    "RejectDecl",
    "RequireDecl",
    "RuleDecl",
    "This",
    "TypeRef",
    "VersionsDecl",
    "WarnDecl",
    "Where",
]

LiteralValue = str | int | float | bool


@dataclass(frozen=True, slots=True)
class Node:
    span: Span


@dataclass(frozen=True, slots=True)
class Ident(Node):
    """A name as written, kept with its own span so diagnostics can underline it."""

    name: str


@dataclass(frozen=True, slots=True)
class Comment(Node):
    text: str


# --- expressions ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expr(Node):
    pass


@dataclass(frozen=True, slots=True)
class Literal(Expr):
    value: LiteralValue


@dataclass(frozen=True, slots=True)
class ListExpr(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class ObjectExpr(Expr):
    """``{sourcedId: school.sourcedId, type: "org"}``: a nested object, for JSON outputs."""

    entries: tuple[tuple[Ident, Expr], ...]


@dataclass(frozen=True, slots=True)
class Name(Expr):
    """A bare name: a field of the current record, a parameter, a rule or an output."""

    name: str


@dataclass(frozen=True, slots=True)
class This(Expr):
    """The record being read (inside a lookup: the outer record)."""


@dataclass(frozen=True, slots=True)
class Attr(Expr):
    obj: Expr
    attr: Ident


@dataclass(frozen=True, slots=True)
class Index(Expr):
    obj: Expr
    index: int


@dataclass(frozen=True, slots=True)
class Call(Expr):
    func: Ident
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Lookup(Expr):
    """``value of entity where test``: the values of related records."""

    value: Expr
    entity: Ident
    where: Expr | None


@dataclass(frozen=True, slots=True)
class Compare(Expr):
    op: str  # one of = != < <= > >=
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class In(Expr):
    item: Expr
    collection: Expr
    negated: bool


@dataclass(frozen=True, slots=True)
class IsEmpty(Expr):
    operand: Expr
    negated: bool


@dataclass(frozen=True, slots=True)
class Quantified(Expr):
    """``any of xs in ys`` / ``all of xs in ys`` / ``none of xs in ys``."""

    quantifier: str
    items: Expr
    collection: Expr


@dataclass(frozen=True, slots=True)
class BoolOp(Expr):
    op: str  # "and" | "or"
    operands: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Not(Expr):
    operand: Expr


@dataclass(frozen=True, slots=True)
class Arith(Expr):
    op: str  # "+" | "-"
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Neg(Expr):
    operand: Expr


@dataclass(frozen=True, slots=True)
class If(Expr):
    test: Expr
    then: Expr
    orelse: Expr


@dataclass(frozen=True, slots=True)
class Arm(Node):
    patterns: tuple[Literal, ...]
    value: Expr


@dataclass(frozen=True, slots=True)
class Match(Expr):
    subject: Expr
    arms: tuple[Arm, ...]
    default: Expr | None


# --- declarations and statements ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class TypeRef(Node):
    """A parameter's type: ``int``, ``list[str]``, ``"a" | "b"`` (one of these texts),
    or ``table(id, email)`` (a CSV file given on the command line, with these columns)."""

    name: str
    args: tuple[TypeRef, ...] = ()
    choices: tuple[str, ...] = ()  # name == "choice"
    columns: tuple[str, ...] = ()  # name == "table"

    def __str__(self) -> str:
        if self.choices:
            return " | ".join(json.dumps(c, ensure_ascii=False) for c in self.choices)
        if self.columns:
            return f"table({', '.join(self.columns)})"
        inner = ", ".join(str(a) for a in self.args)
        return f"{self.name}[{inner}]" if self.args else self.name


@dataclass(frozen=True, slots=True)
class ProfileDecl(Node):
    name: Ident
    title: str | None


@dataclass(frozen=True, slots=True)
class VersionsDecl(Node):
    versions: tuple[Ident, ...]


@dataclass(frozen=True, slots=True)
class ParamNaming(Node):
    """``naming orgs by sourcedId, identifier``: each value of the parameter names a
    record of ``entity`` by one of ``fields``; a value that names none is a typo the
    run warns about."""

    entity: Ident
    fields: tuple[Ident, ...]
    ignore_case: bool


@dataclass(frozen=True, slots=True)
class ParamDecl(Node):
    name: Ident
    type: TypeRef
    default: Expr | None
    naming: ParamNaming | None = None


@dataclass(frozen=True, slots=True)
class RuleDecl(Node):
    """``rule active = status in ("", "active")``: a named condition, reused by name."""

    name: Ident
    body: Expr


@dataclass(frozen=True, slots=True)
class DefineDecl(Node):
    """``define full_name(first, last) = concat(first, " ", last)``: a helper, expanded
    where it is called, its parameters standing for the arguments."""

    name: Ident
    params: tuple[Ident, ...]
    body: Expr


@dataclass(frozen=True, slots=True)
class Reference(Node):
    """``extends X`` / ``import X``: another mapping file, by name or by path."""

    kind: str  # "extends" | "import"
    target: Ident


@dataclass(frozen=True, slots=True)
class RequireDecl(Node):
    """``require manifest, bulk, orgs``: what the source must hold, checked up front."""

    items: tuple[Ident, ...]


@dataclass(frozen=True, slots=True)
class BundleDecl(Node):
    """``bundle NAME.zip``: the run also writes the import files zipped, for products
    that take one upload."""

    name: Ident


@dataclass(frozen=True, slots=True)
class LibraryDecl(Node):
    name: Ident


@dataclass(frozen=True, slots=True)
class Where(Node):
    test: Expr
    report: str | None = None  # `else warn "..."`: each dropped record is reported


@dataclass(frozen=True, slots=True)
class FieldRule(Node):
    column: Ident
    value: Expr


@dataclass(frozen=True, slots=True)
class WarnDecl(Node):
    """``warn "message" if test``: report each emitted record for which test holds."""

    message: str
    test: Expr


@dataclass(frozen=True, slots=True)
class ForEach(Node):
    """``for each parent in agents``: the output has a row per item of a list."""

    name: Ident
    items: Expr


@dataclass(frozen=True, slots=True)
class CounterDecl(Node):
    """``counter "label" if test``: how many emitted rows pass test, in the report."""

    label: str
    test: Expr | None


@dataclass(frozen=True, slots=True)
class RejectDecl(Node):
    """``reject "reason" if test``: records for which test holds are rejected. The
    reason is a text literal, or a text expression worked out for each record."""

    reason: Expr
    test: Expr


@dataclass(frozen=True, slots=True)
class MissingSet(Node):
    """``status = "deleted"`` in ``when missing ... with``: a column of the departed row."""

    column: Ident
    value: Literal


@dataclass(frozen=True, slots=True)
class MissingDecl(Node):
    """``when missing ACTION [after N runs|days] [with COLUMN = VALUE, ...]``: the
    output's deactivation policy.

    A row that a later run no longer makes is deactivated, deleted, or kept; with a
    grace period, only once it has been missing for N runs or N days. With ``with``,
    the departed row is sent with those columns set, in the change file and, once,
    in the full file: for products that learn of a departure from a row that says so
    (``status=deleted``) rather than from the row's absence.
    """

    action: Ident
    after: int | None = None
    unit: Ident | None = None
    sets: tuple[MissingSet, ...] = ()


@dataclass(frozen=True, slots=True)
class LimitDecl(Node):
    """``limit ACTION AMOUNT[%] [per school]``: a mass-change threshold.

    A run that would create, update or deactivate more rows than this (a count, or a
    share of the rows of the last run, of the output or of each school) is held.
    """

    action: Ident
    amount: float
    percent: bool
    per: Ident | None = None


class Expectation(enum.StrEnum):
    """What an ``expect`` line demands of the file an output writes."""

    ALLOWED = "in"  # every value of the columns is one of the listed texts
    FILLED = "is not empty"  # no value of the columns is empty
    UNIQUE = "unique"  # no two rows share the values of the columns, together
    COUNT = "rows"  # the number of rows compares as written (`expect rows > 0`)


@dataclass(frozen=True, slots=True)
class ExpectDecl(Node):
    """``expect COLUMN, ... EXPECTATION``: a contract the written file must meet, checked
    when the run has made the rows; a run whose file breaks it writes nothing.

    ``values`` are the allowed texts (ALLOWED); ``op`` and ``amount`` the comparison of
    the row count (COUNT, whose one column is the word ``rows``).
    """

    columns: tuple[Ident, ...]
    kind: Expectation
    values: tuple[str, ...] = ()
    op: str = ""
    amount: int = 0


@dataclass(frozen=True, slots=True)
class RequestDecl(Node):
    """``send METHOD "PATH"`` or ``create METHOD "PATH"``: a push output's request.
    ``{NAME}`` in the path stands for a column's value, or for a capture of the
    record's earlier write."""

    kind: str  # send | create
    method: Ident
    path: str


@dataclass(frozen=True, slots=True)
class CaptureDecl(Node):
    """``capture NAME from "a/b"``: the value at that path of a write's JSON response,
    kept in the push state for the record's later writes and for other pushes' links."""

    name: Ident
    path: str


@dataclass(frozen=True, slots=True)
class LinkDecl(Node):
    """``link COLUMN to PUSH.CAPTURE``: the column holds the key of a record of another
    push; the write sends that record's captured value instead."""

    column: Ident
    push: Ident
    capture: Ident


@dataclass(frozen=True, slots=True)
class PushDecl(Node):
    """What makes an output block a push: its rows become API writes, not a file.

    ``span`` is the ``push`` line's."""

    send: RequestDecl | None = None
    create: RequestDecl | None = None
    captures: tuple[CaptureDecl, ...] = ()
    after: tuple[Ident, ...] = ()
    body: Ident | None = None
    links: tuple[LinkDecl, ...] = ()


@dataclass(frozen=True, slots=True)
class Output(Node):
    """One output file and the entity whose records become its rows.

    ``span`` covers the ``output`` line only, which is what diagnostics about the
    whole block should underline.
    """

    file: Ident
    entity: Ident
    wheres: tuple[Where, ...]
    fields: tuple[FieldRule, ...]
    warns: tuple[WarnDecl, ...] = ()
    key: tuple[Ident, ...] = ()
    sort: tuple[Ident, ...] = ()
    distinct: Span | None = None  # where `distinct` was written, when it was
    counters: tuple[CounterDecl, ...] = ()
    rejects: tuple[RejectDecl, ...] = ()
    each: ForEach | None = None
    missing: MissingDecl | None = None
    limits: tuple[LimitDecl, ...] = ()
    allow_empty: Span | None = None  # `allow empty`: the run does not stop on an empty file
    expects: tuple[ExpectDecl, ...] = ()
    push: PushDecl | None = None  # a push output: API writes, not a file


@dataclass(frozen=True, slots=True)
class Mapping(Node):
    profile: ProfileDecl | None
    versions: VersionsDecl | None
    params: tuple[ParamDecl, ...]
    rules: tuple[RuleDecl, ...]
    outputs: tuple[Output, ...]
    comments: tuple[Comment, ...] = ()
    defines: tuple[DefineDecl, ...] = ()
    library: LibraryDecl | None = None
    extends: Reference | None = None
    imports: tuple[Reference, ...] = ()
    requires: tuple[RequireDecl, ...] = ()
    bundle: BundleDecl | None = None
