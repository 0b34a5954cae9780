"""Plan each output as columnar steps: joins, lookups and membership before filtering.

Every expression that needs another record becomes a *derived column* added to the
output's frame by one step: a left join to the referenced entity (``school.name``),
a filtered group-by joined back on its key (a lookup), or a semi-join against the
rows another output emitted (``user in users.csv``). Steps the ``where`` rules need
run before the filter; the rest run after it, on the records that were kept.
Identical expressions share one derived column, and the entities and fields each
plan reads are collected so the runtime loads nothing else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from rostermap.compiler import ir
from rostermap.dsl import schema
from rostermap.dsl import types as t
from rostermap.runtime.engine.functions import REGISTRY

__all__ = [
    "ColumnRead",
    "Failed",
    "Failure",
    "Missing",
    "JoinStep",
    "LookupStep",
    "MemberStep",
    "OutputPlan",
    "Plan",
    "Step",
    "describe",
    "plan",
]


@dataclass(frozen=True, slots=True)
class ColumnRead(ir.Expr):
    """A derived column that an earlier step added to the frame."""

    name: str


@dataclass(frozen=True, slots=True)
class Missing(ir.Expr):
    """True where ``ref`` names a record that the join to its entity did not find."""

    ref: ir.Expr
    found: str  # the join's marker column


@dataclass(frozen=True, slots=True)
class Failed(ir.Expr):
    """True where a fallible function (date, number) cannot read the record's value."""

    call: ir.Call


@dataclass(frozen=True, slots=True)
class Failure:
    """A way a column can fail on a record, which then goes to the report's rejects."""

    test: ir.Expr
    reason: str


@dataclass(frozen=True, slots=True)
class JoinStep:
    """Left-join ``entity`` on ``on`` = its sourcedId, adding ``fields`` as columns
    and ``found`` (true where a record was found)."""

    on: ir.Expr
    entity: str
    fields: tuple[tuple[str, str], ...]  # (derived column name, field of entity)
    found: str


@dataclass(frozen=True, slots=True)
class LookupStep:
    """Group ``entity``'s records that pass ``where`` by ``key``; join back on ``on``."""

    name: str
    line: int
    entity: str
    steps: tuple[Step, ...]  # derived columns of the looked-up records
    where: ir.Expr | None
    key: ir.Expr
    on: ir.Expr
    value: ir.Expr
    aggregate: str  # list | first | last | min | max | count | exists
    text: str
    explode: str = ""  # "outer" / "inner": that key is a list matched item by item
    carry: tuple[tuple[str, ir.Expr], ...] = ()  # outer values the correlated test reads
    correlated: ir.Expr | None = None  # a test reading both records (carried values)


@dataclass(frozen=True, slots=True)
class MemberStep:
    """Whether ``on`` is the sourcedId of a record that ``output`` emitted."""

    name: str
    output: str
    on: ir.Expr


Step = JoinStep | LookupStep | MemberStep


@dataclass(frozen=True, slots=True)
class OutputPlan:
    output: ir.CheckedOutput
    before: tuple[Step, ...]
    rules: tuple[ir.WhereRule, ...]
    after: tuple[Step, ...]
    columns: tuple[ir.ColumnRule, ...]
    warns: tuple[ir.WarnRule, ...]
    failures: tuple[tuple[Failure, ...], ...]  # for each column, how it can fail
    counters: tuple[ir.CounterRule, ...] = ()
    rejects: tuple[ir.RejectRule, ...] = ()
    # `for each NAME in LIST`: the steps LIST needs, then the list to spread a row per item
    prelude: tuple[Step, ...] = ()
    each: tuple[str, ir.Expr] | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    mapping: ir.CheckedMapping
    outputs: tuple[OutputPlan, ...]
    reads: dict[str, tuple[str, ...]]  # OneRoster entity -> the fields the plans read
    tables: dict[str, tuple[str, ...]]  # table parameter -> its columns


def describe(e: ir.Expr) -> str:
    """A short, faithful text of an expression: derived column names and explain output."""
    match e:
        case ir.FieldRead(name=name, scope=scope):
            return name if scope == 0 else f"this.{name}"
        case ColumnRead(name=name):
            return name
        case ir.Deref(ref=ref, name=name):
            return f"{describe(ref)}.{name}"
        case ir.Index(list=lst, index=i):
            return f"{describe(lst)}[{i}]"
        case ir.Const(value=value):
            return repr(value)
        case ir.ParamRead(name=name):
            return name
        case ir.Call(function=fname, args=args):
            return f"{fname}({', '.join(describe(a) for a in args)})"
        case ir.ItemRead(name=name):
            return name
        case ir.Lookup(entity=entity, value=value):
            return f"{describe(value)} of {entity}"
        case _:
            return f"<{type(e).__name__.lower()}@{e.span.line}:{e.span.column}>"


@dataclass
class _Frame:
    """The steps of one frame while it is being planned."""

    entity: str
    reads: dict[str, set[str]]
    counter: list[int]
    steps: list[Step] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # expression text -> derived column

    def read(self, entity: str, name: str) -> None:
        self.reads.setdefault(entity, {"sourcedId"}).add(name)

    def fresh(self, prefix: str) -> str:
        self.counter[0] += 1
        return f"{prefix}_{self.counter[0]}"

    def join_field(self, on: ir.Expr, entity: str, name: str) -> str:
        column = f"{describe(on)}.{name}"
        if column in self.names:
            return self.names[column]
        self.read(entity, name)
        for i, step in enumerate(self.steps):
            if (isinstance(step, JoinStep) and step.entity == entity
                    and describe(step.on) == describe(on)):
                self.steps[i] = dataclasses.replace(step, fields=(*step.fields, (column, name)))
                break
        else:
            self.steps.append(JoinStep(on, entity, ((column, name),), f"{describe(on)}:found"))
        self.names[column] = column
        return column

    def found(self, on: ir.Expr) -> str:
        """The marker column of the join made on ``on``."""
        return next(s.found for s in self.steps
                    if isinstance(s, JoinStep) and describe(s.on) == describe(on))


class _Planner:
    def __init__(self, mapping: ir.CheckedMapping):
        self.mapping = mapping
        self.reads: dict[str, set[str]] = {}
        self.counter = [0]
        self.failures: list[Failure] | None = None  # collecting, while a column is lowered

    def frame(self, entity: str) -> _Frame:
        self.reads.setdefault(entity, {"sourcedId"})
        return _Frame(entity, self.reads, self.counter)

    def lower(self, e: ir.Expr, frame: _Frame) -> ir.Expr:
        """``e`` with every cross-record read replaced by a derived column of ``frame``."""
        match e:
            case ir.FieldRead(entity=entity, name=name):
                frame.read(entity, name)
                return e
            case ir.Deref(ref=ref, entity=entity, name=name):
                on = self.lower(ref, frame)
                column = frame.join_field(on, entity, name)
                if self.failures is not None:
                    target = schema.ENTITIES.get(entity)
                    record, file = (target.record, target.file) if target else (entity, entity)
                    reason = (f"{describe(on)} names {_a(record)} that the source's {file} "
                              "does not hold")
                    failure = Failure(Missing(t.BOOL, e.span, on, frame.found(on)), reason)
                    if failure.reason not in {f.reason for f in self.failures}:
                        self.failures.append(failure)
                return ColumnRead(e.type, e.span, column)
            case ir.Call(function=fname, args=(ir.Lookup() as lookup,)) if (
                _aggregate(fname) is not None
            ):
                return self.lookup(lookup, frame, _aggregate(fname) or "list", e.type)
            case ir.Lookup():
                return self.lookup(e, frame, "list", e.type)
            case ir.Member(item=item, output=output):
                on = self.lower(item, frame)
                text = f"{describe(on)} in {output}"
                if text not in frame.names:
                    name = frame.fresh("member")
                    frame.steps.append(MemberStep(name, output, on))
                    frame.names[text] = name
                member = ColumnRead(t.BOOL, e.span, frame.names[text])
                return ir.Not(t.BOOL, e.span, member) if e.negated else member
        lowered = _map_children(e, lambda child: self.lower(child, frame))
        if isinstance(lowered, ir.Call) and self.failures is not None:
            fn = REGISTRY[lowered.function]
            if fn.fails is not None:
                args = ", ".join(describe(a) for a in lowered.args)
                reason = f"{fn.name}({args}) cannot read the record's value"
                self.failures.append(Failure(Failed(t.BOOL, e.span, lowered), reason))
        return lowered

    def lookup(self, e: ir.Lookup, frame: _Frame, aggregate: str, type_: t.Type) -> ir.Expr:
        inner = self.frame(e.entity)
        collecting, self.failures = self.failures, None  # looked-up records are not rejected
        value = self.lower(e.value, inner)
        where = self.lower(e.filter, inner) if e.filter is not None else None
        key = self.lower(e.inner_key, inner)
        carried: list[tuple[str, ir.Expr]] = []
        correlated = (self.carry(e.correlated, inner, frame, carried)
                      if e.correlated is not None else None)
        self.failures = collecting
        on = self.lower(e.outer_key, frame)
        inner.read(e.entity, "sourcedId")
        # Two lookups share a column only when they are the same lookup: the same place
        # in the mapping with the same arguments. A `define` is expanded at each call,
        # and the span alone would give calls with different arguments one column.
        text = f"{aggregate}({describe(e.value)} of {e.entity}) @{e.span.start} " + _shape(
            (e.filter, e.inner_key, e.outer_key, e.correlated))
        if text not in frame.names:
            name = frame.fresh("lookup")
            frame.steps.append(
                LookupStep(name, e.span.line, e.entity, tuple(inner.steps), where, key, on,
                           value, aggregate,
                           f"{aggregate}({e.text or f'{describe(e.value)} of {e.entity}'})",
                           e.explode, tuple(carried), correlated)
            )
            frame.names[text] = name
        return ColumnRead(type_, e.span, frame.names[text])

    def carry(self, e: ir.Expr, inner: _Frame, outer: _Frame,
              carried: list[tuple[str, ir.Expr]]) -> ir.Expr:
        """A condition reading both records, over the looked-up records' frame.

        The parts that read only the outer record are computed on the outer frame
        and carried along with each pair as ``outer:N`` columns.
        """
        read = ir.scopes(e)
        if read == {1}:
            alias = f"outer:{self.counter[0]}.{len(carried)}"
            carried.append((alias, self.lower(ir.shift(e, -1), outer)))
            return ColumnRead(e.type, e.span, alias)
        if 1 not in read:
            return self.lower(e, inner)
        return _map_children(e, lambda child: self.carry(child, inner, outer, carried))

    def plan_output(self, out: ir.CheckedOutput) -> OutputPlan:
        frame = self.frame(out.entity)
        each = None
        if out.each is not None:
            each = (out.each[0], self.lower(out.each[1], frame))
        prelude = len(frame.steps)
        rules = tuple(dataclasses.replace(w, test=self.lower(w.test, frame)) for w in out.wheres)
        before = len(frame.steps)
        columns, failures = [], []
        for c in out.columns:
            self.failures = []
            columns.append(dataclasses.replace(c, value=self.lower(c.value, frame)))
            failures.append(tuple(self.failures))
            self.failures = None
        warns = tuple(dataclasses.replace(w, test=self.lower(w.test, frame)) for w in out.warns)
        counters = tuple(
            dataclasses.replace(c, test=None if c.test is None else self.lower(c.test, frame))
            for c in out.counters
        )
        rejects = tuple(dataclasses.replace(
            r, test=self.lower(r.test, frame),
            message=None if r.message is None else self.lower(r.message, frame))
            for r in out.rejects)
        steps = tuple(frame.steps)  # joins first made for rules may have grown new fields
        return OutputPlan(out, steps[prelude:before], rules, steps[before:], tuple(columns),
                          warns, tuple(failures), counters, rejects, steps[:prelude], each)


def _shape(value: Any) -> str:
    """An expression's structure as text, without its spans: what it computes."""
    if isinstance(value, ir.Expr):
        fields = (f.name for f in dataclasses.fields(value) if f.name != "span")
        return f"{type(value).__name__}({', '.join(_shape(getattr(value, f)) for f in fields)})"
    if isinstance(value, tuple):
        return f"({', '.join(_shape(v) for v in value)})"
    return repr(value)


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeio" else f"a {word}"


def _aggregate(function: str) -> str | None:
    fn = REGISTRY.get(function)
    return fn.aggregate if fn is not None else None


def _map_children(e: ir.Expr, f: Any) -> ir.Expr:
    changes: dict[str, Any] = {}
    for fld in dataclasses.fields(e):
        value = getattr(e, fld.name)
        if isinstance(value, ir.Expr):
            changes[fld.name] = f(value)
        elif isinstance(value, tuple) and value:
            items = []
            for item in value:
                if isinstance(item, ir.Expr):
                    items.append(f(item))
                elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], ir.Expr):
                    items.append((item[0], f(item[1])))  # a match arm
                else:
                    items.append(item)
            changes[fld.name] = tuple(items)
    return dataclasses.replace(e, **changes) if changes else e


def plan(mapping: ir.CheckedMapping) -> Plan:
    """The columnar plan of every output, in the mapping's dependency order."""
    planner = _Planner(mapping)
    outputs = tuple(planner.plan_output(o) for o in mapping.outputs)
    tables = {p.name: p.columns for p in mapping.params if p.type.kind == "table"}
    for p in mapping.params:  # the records a parameter's values name are checked
        if p.names:
            planner.reads.setdefault(p.names, {"sourcedId"}).update(p.names_by)
    for entity, fields in planner.reads.items():
        known = set(tables[entity]) | {"sourcedId"} if entity in tables else set(
            schema.ENTITIES[entity].fields)
        assert fields <= known, (entity, fields - known)
    reads = {entity: tuple(sorted(fields)) for entity, fields in sorted(planner.reads.items())
             if entity not in tables}
    return Plan(mapping, outputs, reads, tables)
