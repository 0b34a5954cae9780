"""Explain what a run does with one record: per output, its fate and why.

Explain is a run: the whole mapping runs once, exactly as `rostermap run` runs it
(the same compiled plans, the same engine), and the run keeps its own frames at the
records explained (``engine.execute.Trace``). Nothing is evaluated a second way: a
rule's verdict is the run's boolean column, a column's value is the run's computed
column, and a record's rejects are the run's. Per output the record is

- **written**: every rule passed and no `reject` held; each column's value, with the
  values its expression read;
- **dropped** by a `where` rule: the rule and the values it compared;
- **rejected** by a `reject` rule (or a column that could not be computed): its
  message and the values it read;
- **left out** because a record it depends on was: a rule or `reject` that failed
  tests membership in another output (``class in courses.csv``, or a lookup whose
  records do) and the record tested is not in it, or reads a record of its own
  output (a parent session) that the run rejected; which record, and its own fate
  there, down the chain (a class whose term was rejected, an enrollment of that
  class).

Values of personal fields (names, emails, birth dates...) are hidden unless
``show_pii`` is set; secret values never show.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl
import polars.selectors as cs

from rostermap.dsl import codes, schema
from rostermap.dsl.diagnostics import did_you_mean
from rostermap.runtime.engine.execute import TRACE, OutputResult, Steps, Trace, run_outputs
from rostermap.runtime.engine.plans import Join, Lookup, Member, Output, Step
from rostermap.runtime.engine.tables import LINE, Tables
from rostermap.runtime.errors import UsageError
from rostermap.runtime.run.loader import load_mapping, parse_params, resolve_profile, shown_path
from rostermap.runtime.run.pipeline import load_inputs

__all__ = [
    "ColumnValue",
    "Dependency",
    "Explanation",
    "Fate",
    "OutputVerdict",
    "RejectVerdict",
    "RuleVerdict",
    "as_json",
    "explain",
    "explain_records",
    "private_columns",
    "render",
]

HIDDEN = "‹personal data; --show-pii shows it›"
SECRET = "‹secret›"
_DEPTH = 6  # how far a chain of records left out is followed
_MATCHES = 10  # the records of a lookup shown per dependency, at most

Values = tuple[tuple[str, str], ...]  # what an expression read: (name, value as shown)


class Fate(enum.Enum):
    """What the run did with a record in one output (one row of it, for `for each`)."""

    WRITTEN = "written"
    DROPPED = "dropped"  # by a `where` rule
    REJECTED = "rejected"  # by a `reject` rule or a column that could not be computed
    LEFT_OUT = "left out"  # a rule or reject failed because a record it depends on was
    NO_ROW = "no row"  # `for each` over an empty list
    ABSENT = "not in the source"  # (a dependency only) no record has that sourcedId


@dataclass(frozen=True)
class RuleVerdict:
    """A `where` rule and what the run's own column for it said about the record."""

    line: int
    text: str
    passed: bool
    values: Values


@dataclass(frozen=True)
class RejectVerdict:
    """A `reject` rule that held for the record, or a column that failed on it."""

    line: int
    reason: str  # the message the run lists the reject with
    values: Values


@dataclass(frozen=True)
class Dependency:
    """A record that a failed rule or reject read, and the run left out of an output."""

    record: str  # entity/sourcedId; entity/ when the value tested is missing
    output: str  # the output it was tested against
    written: bool
    fate: Fate  # its fate in ``output``
    why: str  # what left it out: "rejected by line 40: the user has no given name"
    because: tuple[Dependency, ...] = ()  # the records it was left out for, in turn
    values: Values = ()  # what the rule or rejects that left it out read
    through: int = 0  # the mapping line of the lookup that found it; 0: tested directly


@dataclass(frozen=True)
class ColumnValue:
    name: str
    line: int
    value: str
    rejected: str | None = None  # why the column could not be computed
    inputs: Values = ()  # what its expression read, when more than one field as is


@dataclass(frozen=True)
class OutputVerdict:
    output: str
    line: int
    fate: Fate
    each: str = ""  # `for each`: the item this row is for
    rules: tuple[RuleVerdict, ...] = ()  # up to the first that failed
    rejects: tuple[RejectVerdict, ...] = ()  # every one that held
    columns: tuple[ColumnValue, ...] = ()  # computed: every rule passed
    dependencies: tuple[Dependency, ...] = ()  # the records it was left out for

    @property
    def dropped_by(self) -> RuleVerdict | None:
        return next((r for r in self.rules if not r.passed), None)

    @property
    def empty(self) -> bool:
        return self.fate is Fate.NO_ROW

    def summary(self) -> str:
        """The fate in a phrase: what a specialist reads first."""
        if self.fate is Fate.NO_ROW:
            return "no row (its `for each` list is empty)"
        if self.fate is Fate.WRITTEN:
            return "written"
        removed = (f"dropped by line {self.dropped_by.line}" if self.dropped_by is not None
                   else _rejected_by(self.rejects))
        if self.fate is Fate.LEFT_OUT:
            left = ", ".join(f"{d.record} is not in {d.output}" for d in self.dependencies)
            return f"left out: {left} ({removed})"
        return removed


@dataclass(frozen=True)
class Explanation:
    entity: str
    sourced_id: str
    file: str
    line: int
    mapping: str
    outputs: tuple[OutputVerdict, ...]


def _rejected_by(rejects: Sequence[RejectVerdict]) -> str:
    return "rejected by " + "; ".join(f"line {r.line}: {r.reason}" for r in rejects)


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
    if output.each is not None:
        name, items = output.each
        if set(items.meta.root_names()) & pii:  # an item of a list of personal data is too
            pii.add(f"each:{name}")
    # a column's computed value (what a `reject` may read) is as private as what it reads
    for column in output.columns:
        reads = set(column.value.meta.root_names())
        if reads & pii:
            pii.add(f"out:{column.name}")
        if reads & secret:
            secret.add(f"out:{column.name}")
    secret |= {f"out:{column}" for column, _ in output.secrets}
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


def _steps(output: Output) -> tuple[Step, ...]:
    return (*output.prelude, *output.before, *output.after)


class _Run:
    """One run's results and trace, read for the records explained."""

    def __init__(self, trace: Trace, results: list[OutputResult], emitted: dict[str, pl.DataFrame],
                 tables: Tables, params: dict[str, Any], secrets: set[str], show_pii: bool,
                 texts: _Params):
        self.trace = trace
        self.results = {r.name: r for r in results}
        self.emitted = emitted
        self.tables = tables
        self.steps = Steps(tables, emitted)
        self.params = params
        self.secrets = secrets
        self.show_pii = show_pii
        self.texts = texts
        self._written: dict[str, set[str]] = {}
        self._rejects: dict[str, dict[str, list[tuple[int, str]]]] = {}
        self._ids: dict[str, set[str]] = {}
        self._shown: dict[str, Callable[[Any, set[str]], str]] = {}

    # -- what the run did with any record of an output ----------------------------------

    def written(self, output: str) -> set[str]:
        """The sourcedIds an output emitted: what membership in it tests."""
        if output not in self._written:
            self._written[output] = set(self.emitted[output].to_series().to_list())
        return self._written[output]

    def rejects(self, output: str, record: str) -> list[tuple[int, str]]:
        """The run's rejects of a record (entity/sourcedId) in an output: (line, reason)."""
        if output not in self._rejects:
            table: dict[str, list[tuple[int, str]]] = {}
            for r in self.results[output].rejects:
                table.setdefault(r.record, []).append((r.line, r.reason))
            self._rejects[output] = table
        return self._rejects[output].get(record, [])

    def in_source(self, entity: str, sourced_id: str) -> bool:
        if entity not in self._ids:
            frame = self.tables.frames.get(entity)
            self._ids[entity] = set() if frame is None else set(
                frame.get_column("sourcedId").to_list())
        return sourced_id in self._ids[entity]

    # -- showing values ----------------------------------------------------------------

    def shower(self, output: Output) -> Callable[[Any, set[str]], str]:
        """How a value of the output's frame is shown, by the columns it comes from."""
        if output.name in self._shown:
            return self._shown[output.name]
        pii, secret = _private_columns(output, _steps(output))

        def shown(value: Any, reads: set[str]) -> str:
            text = _show(value)
            if reads & secret or any(s in text for s in self.secrets):
                return SECRET  # a secret field, or a secret parameter's value
            if reads & pii and not self.show_pii:
                return HIDDEN
            return text
        self._shown[output.name] = shown
        return shown

    def read(self, output: Output, expr: pl.Expr, row: dict[str, Any],
             params: Iterable[str] = ()) -> Values:
        """What ``expr`` read in ``row``: each column (lookups and membership tests by
        what they are), and the ``params`` it reads (constants in the plan)."""
        labels = _labels(_steps(output)) | {
            f"out:{c.name}": f"{c.name} (column)" for c in output.columns}
        shown = self.shower(output)
        names = [n for n in dict.fromkeys(expr.meta.root_names()) if n in row]
        values = tuple((labels.get(n, n), shown(row[n], {n})) for n in names)
        return values + tuple((name, shown(self.params[name], set())) for name in params
                              if name in self.params)

    # -- dependencies ------------------------------------------------------------------

    def dependencies(self, output: Output, expr: pl.Expr, row: pl.DataFrame, depth: int,
                     seen: frozenset[tuple[str, str]]) -> tuple[Dependency, ...]:
        """The records that ``expr`` (a failed rule or reject) read in ``row`` and the run
        left out: those it tested membership of (directly, or through a lookup's
        records), and those of the same output it read fields of and the run rejected."""
        read = set(expr.meta.root_names())
        found: list[Dependency] = []
        for step in (*output.before, *output.after):
            if isinstance(step, Join):
                # a record of the same output it reads (a parent session): left out for it
                # when that one was rejected there (a parent merely filtered out says
                # nothing of why this one failed)
                if step.entity == output.entity and read & {*step.fields, step.found}:
                    target = row.select(step.on.cast(pl.String)).item()
                    record = f"{output.entity}/{target}"
                    if target is not None and self.rejects(output.name, record):
                        found.append(self.dependency(output.name, target, 0, depth, seen))
                continue
            if step.name not in read or step.name not in row.columns:
                continue
            if isinstance(step, Member):
                target = row.select(step.on.cast(pl.String)).item()
                found.append(self.dependency(step.output, target, 0, depth, seen))
            elif isinstance(step, Lookup):
                members = [s for s in step.steps if isinstance(s, Member)]
                if not members:
                    continue
                matched = self.steps.matches(row.lazy(), step)
                for member in members:
                    targets = matched.select(member.on.cast(pl.String)).to_series()
                    for target in targets.unique(maintain_order=True).head(_MATCHES).to_list():
                        found.append(self.dependency(member.output, target, step.line,
                                                     depth, seen))
        return tuple(d for d in found if not d.written)

    def dependency(self, output: str, sourced_id: str | None, through: int, depth: int,
                   seen: frozenset[tuple[str, str]]) -> Dependency:
        """The fate of one record in an output, and the records it was left out for."""
        plan = self.trace.plans[output]
        record = f"{plan.entity}/{sourced_id or ''}"
        if sourced_id is None:
            return Dependency(record, output, False, Fate.ABSENT, "no record is named",
                              through=through)
        if sourced_id in self.written(output):
            return Dependency(record, output, True, Fate.WRITTEN, "", through=through)
        rejects = self.rejects(output, record)
        key = (output, sourced_id)
        deeper = depth < _DEPTH and key not in seen
        seen = seen | {key}
        if rejects:
            why = _rejected_by([RejectVerdict(line, reason, ()) for line, reason in rejects])
            because: tuple[Dependency, ...] = ()
            values: Values = ()
            rows = self.trace.rejected.get(output)
            row = (rows.filter(pl.col("sourcedId") == sourced_id).head(1)
                   if rows is not None else pl.DataFrame())
            for test_expr in _reject_tests(plan, {line for line, _ in rejects}):
                if row.height:
                    values += self.read(plan, test_expr, row.row(0, named=True))
                    if deeper:
                        because += self.dependencies(plan, test_expr, row, depth + 1, seen)
            fate = Fate.LEFT_OUT if because else Fate.REJECTED
            return Dependency(record, output, False, fate, why, because,
                              tuple(dict.fromkeys(values)), through)
        dropped = self.trace.dropped.get(output)
        row = (dropped.filter(pl.col("sourcedId") == sourced_id).head(1)
               if dropped is not None else pl.DataFrame())
        if row.height:
            flags = row.row(0, named=True)
            rule = next(r for i, r in enumerate(plan.rules) if not flags[f"__rule_{i}"])
            because = (self.dependencies(plan, rule.test, row, depth + 1, seen)
                       if deeper else ())
            fate = Fate.LEFT_OUT if because else Fate.DROPPED
            return Dependency(record, output, False, fate,
                              f"dropped by line {rule.line}: {rule.text}", because,
                              self.read(plan, rule.test, flags, self.texts.read(rule.text)),
                              through)
        if self.in_source(plan.entity, sourced_id):
            return Dependency(record, output, False, Fate.NO_ROW,
                              "it makes no row (its `for each` list is empty)", through=through)
        file = self.tables.files.get(plan.entity, plan.entity)
        return Dependency(record, output, False, Fate.ABSENT, f"{file} holds no such record",
                          through=through)

    # -- the record explained ----------------------------------------------------------

    def verdicts(self, output: Output, sourced_id: str) -> list[OutputVerdict]:
        """One verdict per row the record makes: one, or one per item of `for each`."""
        rows = self.trace.rows[output.name].filter(pl.col("sourcedId") == sourced_id)
        if output.each is not None and rows.height == 0:
            return [OutputVerdict(output.name, output.line, Fate.NO_ROW)]
        computed = self.trace.computed[output.name]
        verdicts = []
        for i in range(rows.height):
            row = rows.slice(i, 1)
            done = computed.filter(pl.col(TRACE) == row.item(0, TRACE))
            verdicts.append(self.verdict(output, row, done))
        return verdicts

    def verdict(self, output: Output, row: pl.DataFrame, done: pl.DataFrame) -> OutputVerdict:
        values = row.row(0, named=True)
        each = ""
        if output.each is not None:
            name = output.each[0]
            each = f"{name} = {self.shower(output)(values[f'each:{name}'], {f'each:{name}'})}"
        rules: list[RuleVerdict] = []
        seen = frozenset({(output.name, str(values["sourcedId"]))})
        for i, rule in enumerate(output.rules):
            passed = bool(values[f"__rule_{i}"])  # the run's own verdict
            rules.append(RuleVerdict(rule.line, rule.text, passed,
                                     self.read(output, rule.test, values,
                                               self.texts.read(rule.text))))
            if not passed:
                left_for = self.dependencies(output, rule.test, row, 0, seen)
                return OutputVerdict(output.name, output.line,
                                     Fate.LEFT_OUT if left_for else Fate.DROPPED, each,
                                     tuple(rules), dependencies=left_for)
        computed = done.row(0, named=True)
        shown = self.shower(output)
        # the run's own verdict on each reject: its columns' failures, then `reject` rules
        failed = self.trace.failed.get(output.name)
        flags = (failed.filter(pl.col(TRACE) == values[TRACE]).head(1)
                 if failed is not None else pl.DataFrame())
        verdicts = iter(flags.select(cs.starts_with("__fail_")).row(0) if flags.height else ())
        rejects: list[RejectVerdict] = []
        deps: tuple[Dependency, ...] = ()
        columns = []
        for column in output.columns:
            fails = [f.reason for f in column.fails if next(verdicts, False)]
            rejects += [RejectVerdict(column.line, reason,
                                      self.read(output, column.value, computed))
                        for reason in fails]
            reads = set(column.value.meta.root_names())
            inputs = () if column.value.meta.is_column() else self.read(
                output, column.value, computed,
                self.texts.at(column.line, rf"{re.escape(column.name)}\s*<-"))
            columns.append(ColumnValue(column.name, column.line,
                                       shown(computed[f"out:{column.name}"], reads),
                                       fails[0] if fails else None, inputs))
        for check in output.checks:
            if not next(verdicts, False):
                continue
            reason = check.reason
            if check.message is not None:
                reason = done.select(check.message.cast(pl.String)).item() or check.reason
            rejects.append(RejectVerdict(check.line, reason, self.read(
                output, check.test, computed, self.texts.at(check.line, "reject"))))
            deps += self.dependencies(output, check.test, done, 0, seen)
        fate = Fate.LEFT_OUT if deps else Fate.REJECTED if rejects else Fate.WRITTEN
        return OutputVerdict(output.name, output.line, fate, each, tuple(rules), tuple(rejects),
                             tuple(columns), deps)


def _statement(lines: list[str], line: int, starts: str) -> str | None:
    """The text of the statement at mapping ``line`` (its continuation lines are indented
    deeper), without comments; None when that line does not start with ``starts``."""
    at = line - 1
    if not 0 <= at < len(lines) or not re.match(rf"\s*{starts}", lines[at]):
        return None
    indent = len(lines[at]) - len(lines[at].lstrip())
    text = [lines[at]]
    for more in lines[at + 1:]:
        if not more.strip() or len(more) - len(more.lstrip()) <= indent:
            break
        text.append(more)
    return " ".join(t.partition("#")[0] for t in text)


class _Params:
    """Which parameters a rule, column or reject reads, from the mapping's text: the
    plan holds their values as constants. A `define` or named `rule` it names reads
    what its body reads (from any file the mapping is made of)."""

    def __init__(self, names: Iterable[str], main: str, sources: Iterable[str]):
        self.names = list(names)
        self.lines = main.splitlines()
        self.bodies: dict[str, str] = {}
        for text in sources:
            lines = text.splitlines()
            for i, line in enumerate(lines, 1):
                found = re.match(r"(?:define|rule)\s+(\w+)", line)
                if found:
                    self.bodies[found.group(1)] = _statement(lines, i, "") or ""

    def read(self, text: str) -> list[str]:
        seen: set[str] = set()
        todo = [text]
        while todo:
            body = todo.pop()
            words = set(re.findall(r"\w+", body))
            for name in words & self.bodies.keys() - seen:
                seen.add(name)
                todo.append(self.bodies[name])
            seen |= words
        return [name for name in self.names if name in seen]

    def at(self, line: int, starts: str) -> list[str]:
        text = _statement(self.lines, line, starts)
        return [] if text is None else self.read(text)


def _reject_tests(output: Output, lines: set[int]) -> list[pl.Expr]:
    """The tests of the rejects and failing columns at these mapping lines."""
    tests = [check.test for check in output.checks if check.line in lines]
    tests += [fail.test for column in output.columns if column.line in lines
              for fail in column.fails]
    return tests


def _near_id(ids: pl.Series, wanted: str) -> str | None:
    """A sourcedId the user may have meant: the same but for case and spaces, else a
    close spelling among those sharing its first characters (a district has millions
    of ids: comparing with all of them would take seconds)."""
    same = ids.filter(ids.str.strip_chars().str.to_lowercase() == wanted.strip().lower())
    if same.len():
        return str(same[0])
    alike = ids.filter(ids.str.starts_with(wanted.strip()[:3])).head(20_000).to_list()
    return did_you_mean(wanted.strip(), alike)


def _parse_record(record: str) -> tuple[str, str]:
    entity_name, _, sourced_id = record.partition("/")
    entity = schema.entity(entity_name)
    if entity is None or not sourced_id:
        raise UsageError([codes.bad_record_argument(
            record, did_you_mean(entity_name, schema.ENTITIES), sourced_id)])
    return entity.name, sourced_id


def explain_records(
    profile: str,
    source: Path,
    records: Sequence[str],
    params: Iterable[str] = (),
    today: dt.date | None = None,
    show_pii: bool = False,
) -> list[Explanation]:
    """What one run of the profile over ``source`` does with each of ``records``
    (``entity/sourcedId``)."""
    wanted = [_parse_record(r) for r in records]
    loaded = load_mapping(resolve_profile(profile))
    module = loaded.module
    values = parse_params(module.PARAMS, params, today)
    also = {entity: ("sourcedId",) for entity, _ in wanted}
    tables = load_inputs(module, source, values, also=also).tables
    for entity, sourced_id in wanted:
        ids = tables.frames[entity].get_column("sourcedId")
        if not ids.is_in([sourced_id]).any():
            raise UsageError([codes.record_not_found(tables.files[entity], entity, sourced_id,
                                                     _near_id(ids, sourced_id))])
    follow: dict[str, set[str]] = {}
    for entity, sourced_id in wanted:
        follow.setdefault(entity, set()).add(sourced_id)
    trace = Trace({e: frozenset(ids) for e, ids in follow.items()})
    emitted: dict[str, pl.DataFrame] = {}
    results = run_outputs(module, tables, values, emitted, trace=trace)
    secrets = {str(values[p.name]) for p in module.PARAMS if p.secret and values.get(p.name)}
    texts = _Params([p.name for p in module.PARAMS if not p.columns], loaded.compiled.source.text,
                    [source.text for source in loaded.compiled.sources])
    run = _Run(trace, results, emitted, tables, values, secrets, show_pii, texts)
    mapping = shown_path(loaded.path, relative=True)
    explanations = []
    for entity, sourced_id in wanted:
        found = tables.frames[entity].filter(pl.col("sourcedId") == sourced_id)
        verdicts = tuple(
            verdict
            for output in trace.plans.values() if output.entity == entity
            for verdict in run.verdicts(output, sourced_id)
        )
        explanations.append(Explanation(entity, sourced_id, tables.files[entity],
                                        int(found[LINE][0]), mapping, verdicts))
    return explanations


def explain(
    profile: str,
    source: Path,
    record: str,
    params: Iterable[str] = (),
    today: dt.date | None = None,
    show_pii: bool = False,
) -> Explanation:
    """What the profile does with ``record`` (``entity/sourcedId``) of ``source``."""
    return explain_records(profile, source, [record], params, today, show_pii)[0]


def as_json(e: Explanation) -> dict[str, Any]:
    """The explanation as JSON values: each dataclass an object, each fate its name
    (``written``, ``dropped``, ``rejected``, ``left out``...), values as shown."""
    def plain(value: Any) -> Any:
        if isinstance(value, Fate):
            return value.value
        if isinstance(value, dict):
            return {k: [{"name": n, "value": v} for n, v in item] if k in ("values", "inputs")
                    else plain(item) for k, item in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value
    return {**plain(asdict(e)), "outputs": [
        {**plain(asdict(o)), "summary": o.summary()} for o in e.outputs]}


_SHOWN = 12  # the values of one rule the terminal shows; --format json has them all


def _values(lines: list[str], values: Values, indent: str) -> None:
    for name, value in values[:_SHOWN]:
        lines.append(f"{indent}{name} = {value}")
    if len(values) > _SHOWN:
        lines.append(f"{indent}... and {len(values) - _SHOWN} more (--format json lists them)")


def _dependency(lines: list[str], d: Dependency, indent: str) -> None:
    via = f" (found by the lookup of line {d.through})" if d.through else ""
    lines.append(f"{indent}{d.record} is not in {d.output}{via}: {d.why}")
    _values(lines, d.values, indent + "    ")
    for deeper in d.because:
        _dependency(lines, deeper, indent + "  ")


def render(e: Explanation) -> str:
    """The explanation as a specialist reads it."""
    lines = [f"{e.entity}/{e.sourced_id}  ({e.file} line {e.line})"]
    if not e.outputs:
        lines.append(f"  no output of {e.mapping} is made from {e.entity}")
    for o in e.outputs:
        lines.append("")
        item = f" for {o.each}" if o.each else ""
        lines.append(f"{o.output}{item}  (mapping line {o.line}): {o.summary()}")
        for r in o.rules:
            mark = "pass" if r.passed else "FAIL"
            lines.append(f"  {mark}  {e.mapping}:{r.line}  {r.text}")
            _values(lines, r.values, " " * 10)
        for j in o.rejects:
            lines.append(f"  REJECT  {e.mapping}:{j.line}  {j.reason}")
            _values(lines, j.values, " " * 10)
        if o.dependencies:
            lines.append("  because:")
            for d in o.dependencies:
                _dependency(lines, d, "    ")
        if o.columns:
            if o.fate is not Fate.WRITTEN:
                lines.append("  the row it would have made:")
            width = max(len(c.name) for c in o.columns)
            for c in o.columns:
                tail = f"  REJECTED: {c.rejected}" if c.rejected else ""
                lines.append(f"  {c.name:<{width}} = {c.value}  ({e.mapping}:{c.line}){tail}")
                _values(lines, c.inputs, " " * 10)
    return "\n".join(lines)
