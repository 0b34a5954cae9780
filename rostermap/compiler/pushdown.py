"""Which record filters a source may apply before the mapping sees the records.

A REST source can ask the provider for fewer records (``filter=status='active'``),
but only when no part of the mapping could ever read a record the filter leaves
out. This module proves that per entity: every *use* of the entity's records (an
output made from it, a lookup over it) must keep only records whose field holds
one of a few constant values, and no join may read the entity's fields (a join
would turn a filtered-out record into a missing value, changing the output).

The result is a conjunction per entity, ``{"users": {"status": ("", "active")}}``:
every record the mapping uses has a status of "" (missing) or "active". The source
decides what it can express (the REST source drops "" for fields the REST binding
requires, and skips what its filter grammar cannot say). The mapping's own rules
still run on every record, so a provider that ignores the filter changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

from rostermap.compiler import ir
from rostermap.compiler.plan import JoinStep, LookupStep, MemberStep, OutputPlan, Plan, Step
from rostermap.dsl import schema

__all__ = ["Conjunction", "filters"]

# field -> the values a used record may hold there ("" stands for missing)
Conjunction = dict[str, frozenset[str]]


def _conjuncts(e: ir.Expr) -> Iterator[ir.Expr]:
    if isinstance(e, ir.And):
        for operand in e.operands:
            yield from _conjuncts(operand)
    else:
        yield e


def _pushable(entity: str, e: ir.Expr) -> str | None:
    """The field an expression reads, if a source could filter on it."""
    if not (isinstance(e, ir.FieldRead) and e.scope == 0 and e.entity == entity):
        return None
    f = schema.ENTITIES[entity].fields.get(e.name)
    if f is None or f.derived or f.csv is None or f.type.is_list or f.name == "sourcedId":
        return None
    return f.name if f.type.kind == "str" or f.type.enum is not None else None


def _strings(e: ir.Expr) -> frozenset[str] | None:
    if isinstance(e, ir.Const):
        values = e.value if isinstance(e.value, tuple) else (e.value,)
        if all(isinstance(v, str) for v in values):
            return frozenset(values)
    return None


class _Analysis:
    def __init__(self, plan: Plan):
        self.outputs = {o.output.name: o for o in plan.outputs}
        self.uses: dict[str, list[Conjunction]] = {}
        self.blocked: set[str] = set()
        self._output_atoms: dict[str, Conjunction] = {}

    def atoms(self, entity: str, tests: list[ir.Expr], seen: frozenset[str] = frozenset()
              ) -> Conjunction:
        """What the conjunction of ``tests`` says about fields of ``entity``."""
        found: Conjunction = {}

        def add(name: str, values: frozenset[str]) -> None:
            found[name] = found[name] & values if name in found else values

        for test in tests:
            for c in _conjuncts(test):
                match c:
                    case ir.InList(item=item, collection=coll, negated=False):
                        name, values = _pushable(entity, item), _strings(coll)
                        if name and values is not None:
                            add(name, values)
                    case ir.Compare(op="=", left=left, right=right):
                        for a, b in ((left, right), (right, left)):
                            name, values = _pushable(entity, a), _strings(b)
                            if name and values is not None:
                                add(name, values)
                    case ir.Member(item=ir.FieldRead(scope=0, entity=e, name="sourcedId"),
                                   output=out, negated=False) if (
                        e == entity and out in self.outputs and out not in seen
                        and self.outputs[out].output.entity == entity
                    ):
                        # `this in users.csv`: the record passed users.csv's rules
                        for name, values in self.output_atoms(out, seen | {out}).items():
                            add(name, values)
        return found

    def output_atoms(self, name: str, seen: frozenset[str]) -> Conjunction:
        if name not in self._output_atoms:
            o = self.outputs[name]
            self._output_atoms[name] = self.atoms(o.output.entity,
                                                  [r.test for r in o.output.wheres], seen)
        return self._output_atoms[name]

    def visit_steps(self, steps: tuple[Step, ...]) -> None:
        for step in steps:
            if isinstance(step, JoinStep):
                self.blocked.add(step.entity)
            elif isinstance(step, LookupStep):
                tests = [step.where] if step.where is not None else []
                self.uses.setdefault(step.entity, []).append(self.atoms(step.entity, tests))
                self.visit_steps(step.steps)
            else:
                assert isinstance(step, MemberStep)

    def visit_output(self, o: OutputPlan) -> None:
        entity = o.output.entity
        self.uses.setdefault(entity, []).append(
            self.output_atoms(o.output.name, frozenset({o.output.name})))
        self.visit_steps(o.before)
        self.visit_steps(o.after)


def filters(plan: Plan) -> dict[str, Conjunction]:
    """Per entity, the field values every record the plan uses is known to have."""
    analysis = _Analysis(plan)
    for o in plan.outputs:
        analysis.visit_output(o)
    result: dict[str, Conjunction] = {}
    for entity, uses in sorted(analysis.uses.items()):
        if entity in analysis.blocked or not uses:
            continue
        common = set.intersection(*(set(u) for u in uses))
        conjunction = {name: frozenset().union(*(u[name] for u in uses))
                       for name in sorted(common)}
        if conjunction:
            result[entity] = conjunction
    return result

