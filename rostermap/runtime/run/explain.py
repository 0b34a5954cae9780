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
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from rostermap.dsl import codes, schema
from rostermap.dsl.diagnostics import did_you_mean
from rostermap.runtime.engine.execute import Steps, run_outputs, spread
from rostermap.runtime.engine.plans import Join, Lookup, Member, Output, Step
from rostermap.runtime.engine.tables import LINE, Tables
from rostermap.runtime.errors import UsageError
from rostermap.runtime.run.loader import load_mapping, parse_params, resolve_profile, shown_path
from rostermap.runtime.run.pipeline import load_inputs

__all__ = ["ColumnValue", "Explanation", "OutputVerdict", "RuleVerdict", "explain",
           "private_columns", "render"]

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
    each: str = ""  # `for each`: the item this row is for
    empty: bool = False  # `for each` over an empty list: the record makes no row
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
        if entity not in schema.ENTITIES:  # a table parameter: the product's own records
            return set()
        return {f.name for f in schema.ENTITIES[entity].fields.values() if getattr(f, flag)}

    pii, secret = fields(output.entity, "pii"), fields(output.entity, "sensitive")
    for step in steps:
        if isinstance(step, Join):
            pii |= {c for c, f in step.fields.items() if f in fields(step.entity, "pii")}
            secret |= {c for c, f in step.fields.items() if f in fields(step.entity, "sensitive")}
        elif isinstance(step, Lookup):
            # a table parameter's columns are not in the data model: personal until shown not
            if (step.entity not in schema.ENTITIES
                    or set(step.value.meta.root_names()) & fields(step.entity, "pii")):
                pii.add(step.name)
    return pii, secret


def private_columns(output: Output) -> tuple[frozenset[str], frozenset[str]]:
    """The output's columns whose values are personal data, and those that hold a secret:
    a column is as private as the most private field or step its value reads."""
    every_step = (*output.prelude, *output.before, *output.after)
    pii, secret = _private_columns(output, every_step)
    if output.each is not None and set(output.each[1].meta.root_names()) & pii:
        pii.add(f"each:{output.each[0]}")
    personal, hidden = set(), {column for column, _ in output.secrets}
    for column in output.columns:
        roots = set(column.value.meta.root_names())
        if roots & secret:
            hidden.add(column.name)
        elif roots & pii:
            personal.add(column.name)
    return frozenset(personal - hidden), frozenset(hidden)


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
    params: dict[str, Any], secrets: set[str], show_pii: bool,
) -> list[OutputVerdict]:
    """One verdict per row the record makes: one, or one per item of `for each`."""
    steps = Steps(tables, emitted)
    record = tables.frame(output.entity).filter(pl.col("sourcedId") == sourced_id)
    every_step = (*output.prelude, *output.before, *output.after)
    pii, secret = _private_columns(output, every_step)
    labels = _labels(every_step)
    if output.each is not None:
        name, items = output.each
        if set(items.meta.root_names()) & pii:  # an item of a list of personal data is too
            pii.add(f"each:{name}")
        record = spread(steps.apply(record, output.prelude), output.each)
    rows = steps.apply(record, output.before).collect()
    if output.each is not None and rows.height == 0:
        return [OutputVerdict(output.name, output.line, empty=True)]

    def shown_value(name: str, value: Any, reads: set[str]) -> str:
        text = _show(value)
        if reads & secret or any(s in text for s in secrets):
            return SECRET  # a secret field, or a secret parameter's value
        if reads & pii and not show_pii:
            return HIDDEN
        return text

    verdicts = []
    for i in range(rows.height):
        before = rows.slice(i, 1)
        row = before.row(0, named=True)
        each = ""
        if output.each is not None:
            item = row[f"each:{output.each[0]}"]
            each = f"{output.each[0]} = {_show(item)}"
        verdicts.append(_verdict(output, steps, before, row, each, params, labels, shown_value))
    return verdicts


def _verdict(
    output: Output, steps: Steps, before: pl.DataFrame, row: dict[str, Any], each: str,
    params: dict[str, Any], labels: dict[str, str], shown_value: Any,
) -> OutputVerdict:
    verdict = OutputVerdict(output.name, output.line, each=each)
    for rule in output.rules:
        passed = bool(before.select(rule.test.fill_null(False)).item())
        names = dict.fromkeys(rule.test.meta.root_names())
        read = tuple((labels.get(n, n), shown_value(n, row[n], {n})) for n in names if n in row)
        # Parameters are constants in the plan; the rule's text names the ones it reads.
        read += tuple((name, shown_value(name, value, set())) for name, value in params.items()
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
        failed = next((f.reason for f in column.fails
                       if done.select(f.test.fill_null(False)).item()), None)
        value = shown_value(column.name, values[column.name],
                            set(column.value.meta.root_names()))
        verdict.columns.append(ColumnValue(column.name, column.line, value, failed))
    return verdict


def _near_id(ids: pl.Series, wanted: str) -> str | None:
    """A sourcedId the user may have meant: the same but for case and spaces, else a
    close spelling among those sharing its first characters (a district has millions
    of ids: comparing with all of them would take seconds)."""
    same = ids.filter(ids.str.strip_chars().str.to_lowercase() == wanted.strip().lower())
    if same.len():
        return str(same[0])
    alike = ids.filter(ids.str.starts_with(wanted.strip()[:3])).head(20_000).to_list()
    return did_you_mean(wanted.strip(), alike)


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
        raise UsageError([codes.bad_record_argument(
            record, did_you_mean(entity_name, schema.ENTITIES), sourced_id)])
    loaded = load_mapping(resolve_profile(profile))
    module = loaded.module
    values = parse_params(module.PARAMS, params, today)
    tables = load_inputs(module, source, values, also={entity.name: ("sourcedId",)}).tables
    emitted: dict[str, pl.DataFrame] = {}
    run_outputs(module, tables, values, emitted)
    found = tables.frames[entity.name].filter(pl.col("sourcedId") == sourced_id)
    if found.height == 0:
        hint = _near_id(tables.frames[entity.name].get_column("sourcedId"), sourced_id)
        raise UsageError([codes.record_not_found(tables.files[entity.name], entity.name,
                                                 sourced_id, hint)])
    secrets = {str(values[p.name]) for p in module.PARAMS
               if p.secret and values.get(p.name)}
    outputs = [
        verdict
        for output in (build(dict(values)) for build in module.OUTPUTS)
        if output.entity == entity.name
        for verdict in _verdicts(output, tables, emitted, sourced_id, values, secrets, show_pii)
    ]
    return Explanation(entity.name, sourced_id, tables.files[entity.name],
                       int(found[LINE][0]), shown_path(loaded.path, relative=True), outputs)


def render(e: Explanation) -> str:
    """The explanation as a specialist reads it."""
    lines = [f"{e.entity}/{e.sourced_id}  ({e.file} line {e.line})"]
    if not e.outputs:
        lines.append(f"  no output of {e.mapping} is made from {e.entity}")
    for o in e.outputs:
        lines.append("")
        dropped = o.dropped_by
        if o.empty:
            verdict = "no row (its `for each` list is empty)"
        elif dropped is not None:
            verdict = f"dropped by line {dropped.line}"
        elif any(c.rejected for c in o.columns):
            verdict = "rejected"
        else:
            verdict = "written"
        item = f" for {o.each}" if o.each else ""
        lines.append(f"{o.output}{item}  (mapping line {o.line}): {verdict}")
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
