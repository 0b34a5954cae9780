"""Explain what a mapping did to one record: each rule's verdict, each column's value.

The whole mapping runs first, as in a real run, because membership tests (``this in
users.csv``) depend on every other record. Then, for each output made from the
record's entity, the record alone goes through the output's plan: the ``where``
rules with the values they read, the rule that dropped it if one did, and the
value of every column with the mapping line that produced it. Values of personal
fields (names, emails, birth dates...) are hidden unless ``show_pii`` is set.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from compiler import schema
from dsl.diagnostics import Diagnostic, did_you_mean
from runtime.errors import UsageError
from runtime.execute import Steps, _spread, run_outputs
from runtime.loader import load_mapping, parse_params, resolve_profile
from runtime.plans import Join, Lookup, Member, Output, Step
from runtime.run import load_inputs
from runtime.tables import LINE, Tables

__all__ = ["ColumnValue", "Explanation", "OutputVerdict", "RuleVerdict", "explain", "render"]

HIDDEN = "‹personal data; --show-pii shows it›"
SECRET = "‹secret›"


@dataclass(frozen=True)
class RuleVerdict:
    line: int
    text: str
    passed: bool
    values: tuple[tuple[str, str], ...]  # what the rule read: (name, value)


@dataclass(frozen=True)
class ColumnValue:
    name: str
    line: int
    value: str
    rejected: str | None = None  # why the column could not be computed


@dataclass
class OutputVerdict:
    output: str
    line: int
    rules: list[RuleVerdict] = field(default_factory=list)
    columns: list[ColumnValue] = field(default_factory=list)

    @property
    def dropped_by(self) -> RuleVerdict | None:
        return next((r for r in self.rules if not r.passed), None)


@dataclass
class Explanation:
    entity: str
    sourced_id: str
    file: str
    line: int
    mapping: str
    outputs: list[OutputVerdict]


def _show(value: Any) -> str:
    if value is None:
        return "(missing)"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return repr(value) if isinstance(value, str) else str(value)


def _private_columns(output: Output, steps: Iterable[Step]) -> tuple[set[str], set[str]]:
    """The frame's columns that hold personal data, and those that hold secrets."""
    def fields(entity: str, flag: str) -> set[str]:
        return {f.name for f in schema.ENTITIES[entity].fields.values() if getattr(f, flag)}

    pii, secret = fields(output.entity, "pii"), fields(output.entity, "sensitive")
    for step in steps:
        if isinstance(step, Join):
            pii |= {c for c, f in step.fields.items() if f in fields(step.entity, "pii")}
            secret |= {c for c, f in step.fields.items() if f in fields(step.entity, "sensitive")}
        elif isinstance(step, Lookup):
            if set(step.value.meta.root_names()) & fields(step.entity, "pii"):
                pii.add(step.name)
    return pii, secret


def _labels(steps: Iterable[Step]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for step in steps:
        if isinstance(step, Lookup):
            labels[step.name] = step.text
        elif isinstance(step, Member):
            labels[step.name] = f"in {step.output}"
    return labels


def _verdicts(
    output: Output, tables: Tables, emitted: dict[str, pl.DataFrame], sourced_id: str,
    params: dict[str, Any], show_pii: bool, secrets: frozenset[str],
) -> list[OutputVerdict]:
    """The record's verdict in ``output``; with `for each`, one per row it gives."""
    steps = Steps(tables, emitted)
    record = tables.frame(output.entity).filter(pl.col("sourcedId") == sourced_id)
    if output.each is None:
        return [_verdict(output, output.name, steps, record, params, show_pii, secrets)]
    name = output.each[0]
    rows = _spread(steps.apply(record, output.prelude), output.each).collect()
    if rows.height == 0:
        empty = RuleVerdict(output.line, f"for each {name}: the list is empty", False, ())
        return [OutputVerdict(output.name, output.line, [empty])]
    return [_verdict(output, f"{output.name} (row {i + 1} of {rows.height}, for each {name})",
                     steps, rows.slice(i, 1).lazy(), params, show_pii, secrets)
            for i in range(rows.height)]


def _verdict(
    output: Output, label: str, steps: Steps, record: pl.LazyFrame, params: dict[str, Any],
    show_pii: bool, secrets: frozenset[str],
) -> OutputVerdict:
    before = steps.apply(record, output.before).collect()
    every_step = (*output.prelude, *output.before, *output.after)
    pii, secret = _private_columns(output, every_step)
    labels = _labels(every_step)
    if output.each is not None:  # the item read from a list of personal data is personal
        name, items = output.each
        if set(items.meta.root_names()) & pii:
            pii.add(f"each:{name}")

    def shown(names: Iterable[str], row: dict[str, Any]) -> tuple[tuple[str, str], ...]:
        out = []
        for name in dict.fromkeys(names):
            if name not in row:
                continue
            if name in secret:
                value = SECRET
            elif name in pii and not show_pii:
                value = HIDDEN
            else:
                value = _show(row[name])
            out.append((labels.get(name, name), value))
        return tuple(out)

    verdict = OutputVerdict(label, output.line)
    row = before.row(0, named=True)
    for rule in output.rules:
        passed = bool(before.select(rule.test.fill_null(False)).item())
        read = shown(rule.test.meta.root_names(), row)
        # Parameters are constants in the plan; the rule's text names the ones it reads.
        read += tuple((name, SECRET if name in secrets else _show(value))
                      for name, value in params.items()
                      if re.search(rf"\b{re.escape(name)}\b", rule.text))
        verdict.rules.append(RuleVerdict(rule.line, rule.text, passed, read))
        if not passed:
            return verdict
    after = steps.apply(before.lazy(), output.after)
    computed = after.with_columns(*(c.value.alias(f"out:{c.name}") for c in output.columns))
    done = computed.collect()
    # Typed values, so that 6 (a number) and '6' (text) look different.
    values = done.select(*(pl.col(f"out:{c.name}").alias(c.name) for c in output.columns)
                         ).row(0, named=True)
    for column in output.columns:
        reads = set(column.value.meta.root_names())
        failed = next((f.reason for f in column.fails
                       if done.select(f.test.fill_null(False)).item()), None)
        if reads & secret:
            value = SECRET
        elif reads & pii and not show_pii:
            value = HIDDEN
        else:
            value = _show(values[column.name])
        verdict.columns.append(ColumnValue(column.name, column.line, value, failed))
    return verdict


def explain(
    profile: str,
    source: Path,
    record: str,
    params: Iterable[str] = (),
    today: dt.date | None = None,
    show_pii: bool = False,
) -> Explanation:
    """What the profile does with ``record`` (``entity/sourcedId``) of ``source``."""
    entity_name, _, sourced_id = record.partition("/")
    entity = schema.entity(entity_name)
    if entity is None or not sourced_id:
        hint = did_you_mean(entity_name, schema.ENTITIES)
        raise UsageError([Diagnostic(
            "RM505", f"--record `{record}` is not <entity>/<sourcedId>",
            notes=(f"help: did you mean `{hint}/{sourced_id or '<sourcedId>'}`?",) if hint else
            ("help: e.g. --record users/stu-42",))])
    loaded = load_mapping(resolve_profile(profile))
    module = loaded.module
    values = parse_params(module.PARAMS, params, today)
    tables = load_inputs(module, source, values, also={entity.name: ("sourcedId",)}).tables
    emitted: dict[str, pl.DataFrame] = {}
    run_outputs(module, tables, values, emitted)
    found = tables.frames[entity.name].filter(pl.col("sourcedId") == sourced_id)
    if found.height == 0:
        raise UsageError([Diagnostic(
            "RM505", f"{tables.files[entity.name]} has no record with sourcedId `{sourced_id}`")])
    outputs = [
        verdict
        for output in (build(dict(values)) for build in module.OUTPUTS)
        if output.entity == entity.name
        for verdict in _verdicts(output, tables, emitted, sourced_id, values, show_pii,
                                 frozenset(p.name for p in module.PARAMS if p.secret))
    ]
    mapping = Path(os.path.relpath(loaded.path)) if loaded.path.is_absolute() else loaded.path
    return Explanation(entity.name, sourced_id, tables.files[entity.name],
                       int(found[LINE][0]), str(mapping), outputs)


def render(e: Explanation) -> str:
    """The explanation as a specialist reads it."""
    lines = [f"{e.entity}/{e.sourced_id}  ({e.file} line {e.line})"]
    if not e.outputs:
        lines.append(f"  no output of {e.mapping} is made from {e.entity}")
    for o in e.outputs:
        lines.append("")
        dropped = o.dropped_by
        if dropped is not None:
            verdict = f"dropped by line {dropped.line}"
        elif any(c.rejected for c in o.columns):
            verdict = "rejected"
        else:
            verdict = "written"
        lines.append(f"{o.output}  (mapping line {o.line}): {verdict}")
        for r in o.rules:
            mark = "pass" if r.passed else "FAIL"
            lines.append(f"  {mark}  {e.mapping}:{r.line}  {r.text}")
            for name, value in r.values:
                lines.append(f"          {name} = {value}")
        if o.columns:
            width = max(len(c.name) for c in o.columns)
            for c in o.columns:
                tail = f"  REJECTED: {c.rejected}" if c.rejected else ""
                lines.append(f"  {c.name:<{width}} = {c.value}  ({e.mapping}:{c.line}){tail}")
    return "\n".join(lines)
