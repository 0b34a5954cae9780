"""Run a compiled module's plans over the typed tables.

Each output is computed in three collects at most: the frame with its ``where``
rules as boolean columns (so the report can say how many records each rule
dropped), then the kept records with their columns, then nothing else. Outputs run
in the module's order, and each publishes the sourcedIds it emitted so later
outputs can test membership in it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import polars as pl

from rostermap.dsl import codes
from rostermap.dsl.diagnostics import Diagnostic
from rostermap.runtime.engine.plans import Join, Lookup, Member, Output, Step
from rostermap.runtime.engine.tables import Tables, all_distinct
from rostermap.runtime.errors import RunError

__all__ = [
    "OutputResult",
    "Reject",
    "RuleCount",
    "Steps",
    "Trace",
    "WarningHits",
    "as_text",
    "run_outputs",
    "spread",
]

_ID = "__rostermap_id"
_CARRIED = "__rostermap_carried"
_ON = "__rostermap_on"
_KEY = "__rostermap_key"
_ROW = "__rostermap_row"
TRACE = "__rostermap_trace"  # a followed record's row: its number in the output's frame
_FILL = {"count": 0, "exists": False}


@dataclass(frozen=True)
class RuleCount:
    line: int
    text: str
    dropped: int


@dataclass(frozen=True)
class WarningHits:
    """A warning about some of an output's records, reported with the output's counts:
    a `warn` (RM420), rows that repeat a key (RM421), `where ... else warn` (RM422)."""

    line: int  # the mapping line of the rule, or of the output
    diagnostic: Diagnostic
    count: int
    examples: tuple[str, ...]  # sourcedIds of the records concerned

    @property
    def code(self) -> str:
        return self.diagnostic.code

    @property
    def message(self) -> str:
        return self.diagnostic.message


@dataclass(frozen=True)
class Reject:
    """A record set aside because a column could not be computed for it."""

    output: str
    line: int  # the mapping line of the column rule
    record: str  # entity/sourcedId
    reason: str


@dataclass
class OutputResult:
    name: str
    entity: str
    frame: pl.DataFrame  # the rows to write, every column as text
    read: int
    kept: int
    rules: list[RuleCount] = field(default_factory=list)
    warnings: list[WarningHits] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)  # every one: the contract names each
    rejected: int = 0  # records rejected in all
    counters: dict[str, int] = field(default_factory=dict)  # the mapping's `counter`s
    # `for each NAME in LIST`: NAME; read, kept and the drops count (record, item) pairs
    each: str | None = None
    # the sourcedId of the record each row was made from (row by row; for a distinct
    # output, the first record that made the row): what a contract names rows by
    records: pl.Series = field(default_factory=lambda: pl.Series("sourcedId", [], pl.String))
    # a field of that record, row by row, when the run asked to carry one (``carry``):
    # the org(s) a sync counts each row under
    carried: pl.Series | None = None

    @property
    def rows(self) -> int:
        return self.frame.height


@dataclass
class Trace:
    """What a run keeps for `explain`: the run's own frames, at the records explained.

    ``follow`` names the records to follow (per entity, their sourcedIds). For each
    output made from one of their entities, ``rows`` holds their rows as the rules saw
    them (every derived column, each rule's verdict as ``__rule_I``, the row's number
    as ``TRACE``), ``computed`` their rows the rules kept, with the output's
    columns computed (``out:NAME``) before any record is rejected, and ``failed``
    those of their rows rejected, with each reject's verdict (``__fail_I``: the
    columns' failures in their order, then the `reject` rules). For each output
    that another tests membership in (or whose records reference records of the same
    entity), ``dropped`` holds the records its rules dropped and ``rejected`` those it
    rejected, with the columns that say which records they depend on: what tells why
    a record that depends on them was left out.
    """

    follow: Mapping[str, frozenset[str]]
    rows: dict[str, pl.DataFrame] = field(default_factory=dict)
    computed: dict[str, pl.DataFrame] = field(default_factory=dict)
    failed: dict[str, pl.DataFrame] = field(default_factory=dict)
    dropped: dict[str, pl.DataFrame] = field(default_factory=dict)
    rejected: dict[str, pl.DataFrame] = field(default_factory=dict)
    plans: dict[str, Output] = field(default_factory=dict)
    targets: set[str] = field(default_factory=set)  # outputs tested for membership

    def followed(self, output: Output) -> pl.Expr | None:
        """The test that picks the followed records of the output's entity, if any."""
        ids = self.follow.get(output.entity)
        return pl.col("sourcedId").is_in(sorted(ids)) if ids else None


def _rule_names(output: Output) -> list[str]:
    return [f"__rule_{i}" for i in range(len(output.rules))]


def dependency_columns(output: Output) -> set[str]:
    """The columns that say why a record was left out and which records it depends on:
    what its rules and rejects read; of other outputs, the membership tests (and
    lookups holding one) and the values they test; of its own output, the references
    to records of its own entity (a parent session); and `for each`'s item."""
    columns = {"sourcedId", TRACE, *_rule_names(output)}
    for rule in output.rules:  # what each rule compared, to say why it dropped a record
        columns |= set(rule.test.meta.root_names())
    for check in output.checks:
        columns |= set(check.test.meta.root_names())
    if output.each is not None:
        columns.add(f"each:{output.each[0]}")
    for step in (*output.before, *output.after):
        if isinstance(step, Join) and step.entity == output.entity:
            columns |= set(step.on.meta.root_names())  # a parent record, of the same output
        elif isinstance(step, Member) or (
                isinstance(step, Lookup) and any(isinstance(s, Member) for s in step.steps)):
            columns.add(step.name)
            columns |= set(step.on.meta.root_names())
            if isinstance(step, Lookup):
                for expr in step.carry.values():
                    columns |= set(expr.meta.root_names())
    return columns


_ROWS = object()  # a test's value that depends on the row


def _truth(node: Any) -> Any:
    """The value of a serialized boolean expression (``Expr.meta.serialize``) when
    literals alone decide it: True, False or None (missing), in polars' three-valued
    logic; ``_ROWS`` when the rows decide, or the node is not one of the few read."""
    if not isinstance(node, dict) or len(node) != 1:
        return _ROWS
    ((kind, body),) = node.items()
    if not isinstance(body, dict):
        return _ROWS
    if kind == "Literal":
        scalar = body.get("Scalar")
        if isinstance(scalar, dict) and isinstance(scalar.get("Boolean"), bool):
            return scalar["Boolean"]
        return None if isinstance(scalar, dict) and "Null" in scalar else _ROWS
    if kind == "BinaryExpr" and body.get("op") in ("And", "Or"):
        values = [_truth(body.get("left")), _truth(body.get("right"))]
        return _all(values) if body["op"] == "And" else _any(values)
    if kind != "Function" or not isinstance(body.get("input"), list):
        return _ROWS
    values = [_truth(i) for i in body["input"]]
    function = body.get("function")
    if function == {"Boolean": "AllHorizontal"}:
        return _all(values)
    if function == {"Boolean": "AnyHorizontal"}:
        return _any(values)
    if function == {"Boolean": "Not"} and len(values) == 1:
        return values[0] if values[0] is None or values[0] is _ROWS else not values[0]
    if function == "FillNull" and len(values) == 2:
        return values[1] if values[0] is None else values[0]
    return _ROWS


def _all(values: list[Any]) -> Any:
    if False in values:
        return False
    return _ROWS if _ROWS in values else (None if None in values else True)


def _any(values: list[Any]) -> Any:
    if True in values:
        return True
    return _ROWS if _ROWS in values else (None if None in values else False)


def settled(test: pl.Expr) -> bool | None:
    """Whether ``test`` holds for every row (True) or for none (False, a missing value
    counting as false) when its parameters alone decide, as in `generate_logins and
    ...` with the parameter off; None when the rows decide.

    polars evaluates ``false & x`` and ``true | x`` in full, x and all: a rule, check
    or lookup that a parameter turns off or on still costs every row's test (on a
    1M-student district, a second each among users.csv's lookups and rejects).
    """
    try:
        tree = json.loads(test.meta.serialize(format="json"))
    except (pl.exceptions.PolarsError, ValueError, TypeError):
        return None
    value = _truth(tree)
    return None if value is _ROWS else value is True


def _branch(value: pl.Expr) -> pl.Expr | None:
    """The branch an `if` takes for every row when parameters alone settle its
    condition (`if login_generated then ... else username`, the parameter off); None
    when the rows decide, or ``value`` is not an `if`."""
    try:
        tree = json.loads(value.meta.serialize(format="json"))
    except (pl.exceptions.PolarsError, ValueError, TypeError):
        return None
    if not isinstance(tree, dict) or not isinstance(tree.get("Ternary"), dict):
        return None
    truth = _truth(tree["Ternary"].get("predicate"))
    if truth is _ROWS:
        return None
    taken = tree["Ternary"].get("truthy" if truth is True else "falsy")  # missing: else
    for part in value.meta.pop():  # the condition and both branches, found by their form
        try:
            form = json.loads(part.meta.serialize(format="json"))
        except (pl.exceptions.PolarsError, ValueError, TypeError):
            continue
        if form == taken:
            further = _branch(part)  # an `if` in the branch taken
            return part if further is None else further
    return None


def _column(value: pl.Expr, frame: pl.LazyFrame) -> pl.Expr:
    """A column's value: the branch taken when parameters settle an `if`, so that the
    other is not computed for every row (polars computes both), in the type the whole
    `if` has."""
    branch = _branch(value)
    if branch is None:
        return value
    return branch.cast(frame.select(value.alias("v")).collect_schema()["v"])


def _test(test: pl.Expr) -> pl.Expr:
    """A test as a row's verdict (missing: false), a literal when parameters decide it."""
    known = settled(test)
    return test.fill_null(False) if known is None else pl.lit(known)


class Steps:
    """Applies plan steps: the one implementation of joins, lookups and membership."""

    def __init__(self, tables: Tables, emitted: Mapping[str, pl.DataFrame]):
        self.tables = tables
        self.emitted = emitted

    def apply(self, frame: pl.LazyFrame, steps: tuple[Step, ...]) -> pl.LazyFrame:
        for step in steps:
            if isinstance(step, Join):
                frame = self.join(frame, step)
            elif isinstance(step, Lookup):
                frame = self.lookup(frame, step)
            else:
                frame = self.member(frame, step)
        return frame

    @staticmethod
    def _left(frame: pl.LazyFrame, on: pl.Expr, right: pl.LazyFrame) -> pl.LazyFrame:
        return (
            frame.with_columns(on.cast(pl.String).alias(_ON))
            .join(right, left_on=_ON, right_on=_KEY, how="left", maintain_order="left")
            .drop(_ON)
        )

    def join(self, frame: pl.LazyFrame, step: Join) -> pl.LazyFrame:
        right = self.tables.frame(step.entity).select(
            pl.col("sourcedId").alias(_KEY),
            *(pl.col(source).alias(column) for column, source in step.fields.items()),
            pl.lit(True).alias(step.found),
        )
        return self._left(frame, step.on, right)

    def inner(self, step: Lookup) -> pl.LazyFrame:
        """The records a lookup reads: its entity's, with its steps, that pass its `where`."""
        records = self.tables.frame(step.entity)
        if step.where is not None and settled(step.where) is False:
            records = records.clear()  # no record passes: none is read
        inner = self.apply(records, step.steps)
        return inner if step.where is None else inner.filter(step.where)

    def matches(self, frame: pl.LazyFrame, step: Lookup) -> pl.DataFrame:
        """The records the lookup reduces for each row of ``frame``, each with the row's
        number (``_ROW``): the same join as :meth:`lookup`, before the reduction."""
        inner = self.inner(step)
        if step.explode or step.also is not None:
            return self._joined(frame.with_row_index(_ROW), step, inner).collect()
        outer = frame.with_row_index(_ROW).select(_ROW, step.on.cast(pl.String).alias(_ON))
        right = inner.with_columns(step.key.cast(pl.String).alias(_KEY))
        return outer.join(right, left_on=_ON, right_on=_KEY, how="inner").collect()

    def lookup(self, frame: pl.LazyFrame, step: Lookup) -> pl.LazyFrame:
        inner = self.inner(step)
        value = step.value
        aggregate: pl.Expr = {
            "list": value.sort_by(pl.col("sourcedId")),
            "first": value.sort_by(pl.col("sourcedId")).first(),
            "last": value.sort_by(pl.col("sourcedId")).last(),
            "min": value.min(),
            "max": value.max(),
            "count": pl.len(),
            "exists": pl.len() > 0,
        }[step.aggregate]
        if step.explode or step.also is not None:
            joined = self._pairs(frame, step, inner, aggregate)
        else:
            grouped = inner.group_by(step.key.cast(pl.String).alias(_KEY)).agg(
                aggregate.alias(step.name)
            ).collect()
            if grouped.height:
                joined = self._left(frame, step.on, grouped.lazy())
            else:
                # Nothing to find (a table parameter left out, a `where` that a parameter
                # turns off): no record finds any, and no join copies the frame for it.
                missing = pl.lit(None, dtype=grouped.schema[step.name]).alias(step.name)
                joined = frame.with_columns(missing)
        if step.aggregate in _FILL:
            return joined.with_columns(pl.col(step.name).fill_null(_FILL[step.aggregate]))
        if step.aggregate == "list":
            return joined.with_columns(pl.col(step.name).fill_null([]))
        return joined

    @staticmethod
    def _pairs(frame: pl.LazyFrame, step: Lookup, inner: pl.LazyFrame,
               aggregate: pl.Expr) -> pl.LazyFrame:
        """A lookup through a list of keys, or with a condition on both records: join the
        pairs of records, keep those that pass, and reduce them per outer record."""
        outer = frame.with_row_index(_ROW)
        grouped = Steps._joined(outer, step, inner).group_by(_ROW).agg(
            aggregate.alias(step.name))
        return outer.join(grouped, on=_ROW, how="left", maintain_order="left").drop(_ROW)

    @staticmethod
    def _joined(outer: pl.LazyFrame, step: Lookup, inner: pl.LazyFrame) -> pl.LazyFrame:
        """The pairs of an outer row (numbered ``_ROW``) and a record it finds."""
        pairs = outer.select(pl.col(_ROW), step.on.alias(_ON),
                             *(expr.alias(alias) for alias, expr in step.carry.items()))
        if step.explode == "outer":
            pairs = pairs.explode(_ON)
        right = inner.with_columns(step.key.alias(_KEY))
        if step.explode == "inner":
            right = right.explode(_KEY)
        joined = pairs.with_columns(pl.col(_ON).cast(pl.String)).join(
            right.with_columns(pl.col(_KEY).cast(pl.String)), left_on=_ON, right_on=_KEY,
            how="inner")
        return joined if step.also is None else joined.filter(step.also.fill_null(False))

    def member(self, frame: pl.LazyFrame, step: Member) -> pl.LazyFrame:
        # A hash lookup (is_in) rather than a left join: it adds one boolean column,
        # where a join gathers a copy of every column of the frame (on a 1M-student
        # district's 6.5M enrollments, 600 MB per membership test). Outputs
        # publish their ids as they come, duplicates and all.
        ids = self.emitted[step.output].get_column(_ID).implode()
        test = step.on.cast(pl.String).is_in(ids).fill_null(False)
        return frame.with_columns(test.alias(step.name))


def as_json(name: str, dtype: pl.DataType) -> pl.Expr:
    """How a value is written to a JSON output: as itself, date-times as OneRoster
    writes them (UTC, milliseconds, Z)."""
    column = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        return column.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
    return column


def as_text(name: str, dtype: pl.DataType) -> pl.Expr:
    """How a value is written to an output file: text, with missing as empty."""
    column = pl.col(name)
    if dtype == pl.Boolean:
        text = pl.when(column).then(pl.lit("true")).otherwise(pl.lit("false"))
        return pl.when(column.is_null()).then(pl.lit("")).otherwise(text)
    if isinstance(dtype, pl.Datetime):
        return column.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").fill_null("")
    return column.cast(pl.String).fill_null("")


def _failure(output: Output, error: Exception, frame: pl.LazyFrame) -> RunError:
    """Name the mapping line whose rule failed, by trying each rule on its own."""
    culprit = output.line
    for line, expr in [*((r.line, r.test) for r in output.rules),
                       *((c.line, c.value) for c in output.columns)]:
        try:
            frame.select(expr).head(1000).collect()
        except pl.exceptions.PolarsError:
            culprit = line
            break
    # polars' first line says what failed; the rest is hints about its own API and the
    # plan. Values it quotes (a failed cast lists some) may be students' names: masked.
    first = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
    first = re.sub(r"\[[^\]]*\]", "[…]", re.sub(r'"[^"]*"', '"…"', first))
    message = first[:300] or type(error).__name__
    return RunError([codes.transform_failed(output.name, culprit, output.line, message)])


def _reject(output: Output, done: pl.DataFrame
            ) -> tuple[pl.DataFrame, list[Reject], pl.DataFrame | None]:
    """Set aside the records a column failed on, or a `reject` rule named; the rest go on
    to the output, and the rows set aside are returned too."""
    checks: list[tuple[int, str, pl.Expr, pl.Expr | None]] = [
        (column.line, fail.reason, fail.test, None) for column in output.columns
        for fail in column.fails]
    checks += [(check.line, check.reason, check.test, check.message) for check in output.checks]
    if not checks:
        return done, [], None
    flags = [_test(test).alias(f"__fail_{i}") for i, (_, _, test, _) in
             enumerate(checks)]
    # Lazily, not on the frame: a lazy query evaluates the tests' common subexpressions
    # once (the rules of a profile share many), where an eager one repeats each.
    flagged = done.lazy().with_columns(flags).collect()
    names = [f"__fail_{i}" for i in range(len(checks))]
    failing = flagged.filter(pl.any_horizontal(names))
    rejects: list[Reject] = []
    for name, (line, reason, _, message) in zip(names, checks, strict=True):
        hits = failing.filter(pl.col(name))
        # A reason worked out per record: its value, or the reason as written when empty.
        why = (message.cast(pl.String).fill_null("").alias("__why") if message is not None
               else pl.lit("").alias("__why"))
        rows = hits.select(pl.col("sourcedId"), why).sort("sourcedId")
        for record, text in rows.iter_rows():
            rejects.append(Reject(output.name, line, f"{output.entity}/{record}", text or reason))
    if not failing.height:  # the usual case: every record kept, and nothing copied
        return done, rejects, failing
    kept = flagged.filter(~pl.any_horizontal(names)).drop(names)
    return kept, rejects, failing


_LEAN_ROWS = 1_000_000  # from this many rows on, sort one column at a time
_PEEK = 10_000


def _sorted(held: list[pl.DataFrame], order: list[str]) -> pl.DataFrame:
    """The frame in ``held`` (which is emptied) sorted stably on ``order``, nulls last.

    DataFrame.sort gathers every column at once while the unsorted ones are still
    held: on a 1M-student district's rosters, 0.9 GB on top of the output. For large
    frames the caller hands the only reference over, and columns are gathered one at
    a time, each unsorted one let go as soon as its sorted copy exists.
    Rows alike keep their order through the row number as the last key, which is
    twice as fast as asking polars for a stable sort (maintain_order).
    """
    frame = held.pop()
    keys: list[str | pl.Expr] = [*order, pl.int_range(pl.len(), dtype=pl.UInt32)]
    first = frame.get_column(order[0])
    # No two rows alike in the first key (an id): it alone decides. Two alike among the
    # first rows already say no, without hashing the whole column.
    if first.head(_PEEK).n_unique() == min(_PEEK, frame.height) and all_distinct(first):
        keys = [order[0]]
    index = frame.select(pl.arg_sort_by(keys, nulls_last=True)).to_series()
    if frame.height < _LEAN_ROWS:  # small enough: gather every column at once, in parallel
        return frame.rechunk().select(pl.all().gather(index))
    columns = frame.get_columns()
    del frame, first
    gathered = []
    while columns:
        # Each column in one piece first: gathering from a column of many pieces (a
        # collect gives one per morsel) looks each index up among them, four times
        # slower than the copy costs; one column's copy at a time is what it adds.
        gathered.append(columns.pop(0).rechunk().gather(index))
    return pl.DataFrame(gathered)


def spread(frame: pl.LazyFrame, each: tuple[str, pl.Expr]) -> pl.LazyFrame:
    """`for each NAME in LIST`: a row per item of the list, the item as each:NAME."""
    name, items = each
    column = f"each:{name}"
    return (frame.with_columns(items.alias(column)).explode(column)
            .filter(pl.col(column).is_not_null()))


def _run_output(output: Output, tables: Tables, emitted: dict[str, pl.DataFrame],
                steps: Steps | None = None, done_with: Callable[[], None] | None = None,
                trace: Trace | None = None, carry: str | None = None) -> OutputResult:
    """One output; ``done_with`` is called once its records are computed, before they are
    sorted: the tables no later output reads can go then. ``trace`` keeps what
    `explain` reads of this run's frames. ``carry`` names a field of the output's
    entity that each row keeps from its record, sorted along with the row."""
    steps = steps or Steps(tables, emitted)
    base = tables.frame(output.entity)
    if carry is not None and carry not in base.collect_schema():
        carry = None  # not read (a table parameter, a field the source lacks)
    carried = [] if carry is None else [pl.col(carry).alias(_CARRIED)]
    if output.each is not None:
        base = spread(steps.apply(base, output.prelude), output.each)
    if trace is not None:
        base = base.with_row_index(TRACE)
    base = steps.apply(base, output.before)
    checks = [_test(rule.test).alias(f"__rule_{i}") for i, rule in
              enumerate(output.rules)]
    try:
        evaluated = base.with_columns(checks).collect()
    except pl.exceptions.PolarsError as error:
        raise _failure(output, error, base) from None
    names = _rule_names(output)
    followed = trace.followed(output) if trace is not None else None
    if trace is not None:
        trace.plans[output.name] = output
        if followed is not None:
            trace.rows[output.name] = evaluated.filter(followed)
        if output.name in trace.targets and names:
            keep = [c for c in evaluated.columns if c in dependency_columns(output)]
            trace.dropped[output.name] = evaluated.filter(
                ~pl.all_horizontal(names)).select(keep)
    dropped: list[pl.Expr] = []
    for i, name in enumerate(names):
        passed_before = pl.all_horizontal(names[:i]) if i else pl.lit(True)
        dropped.append((passed_before & ~pl.col(name)).sum().alias(name))
    counts = evaluated.select(dropped).row(0) if names else ()
    warnings = []
    for i, rule in enumerate(output.rules):
        if rule.report is None:
            continue  # `where ... else warn "..."`: every record the rule drops is named
        passed_before = pl.all_horizontal(names[:i]) if i else pl.lit(True)
        ids = evaluated.filter(passed_before & ~pl.col(names[i]))["sourcedId"].sort()
        if ids.len():
            warnings.append(WarningHits(rule.line, codes.records_dropped(rule.report), ids.len(),
                                        tuple(ids.to_list())))
    read = evaluated.height
    kept = read - sum(int(c) for c in counts)  # a record dropped counts for one rule
    kept_frame = evaluated.lazy()
    kept_frame = kept_frame.filter(pl.all_horizontal(names)).drop(names) if names else kept_frame
    # Intermediate frames are let go as soon as they are used: on a large district
    # each is hundreds of megabytes, and holding them all set the run's peak memory.
    del evaluated, base

    after = steps.apply(kept_frame, output.after)
    computed = after.with_columns(*(_column(c.value, after).alias(f"out:{c.name}")
                                    for c in output.columns))
    write = as_text if output.format == "csv" else as_json
    rejects: list[Reject] = []
    rejected = 0
    if trace is not None and followed is not None:
        try:
            trace.computed[output.name] = computed.filter(followed).collect()
        except pl.exceptions.PolarsError as error:
            raise _failure(output, error, after) from None
    counters: dict[str, int] = {}
    plain = not (output.checks or output.warns or output.counters
                 or any(c.fails for c in output.columns))
    try:
        if plain:
            # Nothing reads the computed records but the output itself: filter, compute
            # and write as text in one plan, so that only the output's columns are ever
            # materialised (peak memory on large districts).
            schema = computed.collect_schema()
            result = computed.select(
                pl.col("sourcedId").alias(_ID), *carried,
                *(write(f"out:{c.name}", schema[f"out:{c.name}"]).alias(c.name)
                  for c in output.columns),
            ).collect()
        else:
            done = computed.collect()
    except pl.exceptions.PolarsError as error:
        raise _failure(output, error, after) from None
    del after, computed, kept_frame
    if not plain:
        done, rejects, failing = _reject(output, done)
        rejected = 0 if failing is None else failing.height
        if trace is not None and failing is not None and followed is not None:
            trace.failed[output.name] = failing.filter(followed)
        if trace is not None and failing is not None and output.name in trace.targets:
            keep = [c for c in failing.columns if c in dependency_columns(output)]
            trace.rejected[output.name] = failing.select(keep)
        del failing
        for warn in output.warns:
            hits = done.filter(warn.test.fill_null(False)).select("sourcedId").sort("sourcedId")
            if hits.height:
                warnings.append(WarningHits(warn.line, codes.mapping_warning(warn.message),
                                            hits.height,
                                            tuple(hits["sourcedId"].head(10).to_list())))
        # Every counter in one lazy query (their common subexpressions once); one whose
        # test the parameters settle counts every record or none.
        known = [None if c.test is None else settled(c.test) for c in output.counters]
        counted = done.lazy().select(
            c.test.fill_null(False).sum().alias(f"__count_{i}")
            for i, (c, k) in enumerate(zip(output.counters, known, strict=True))
            if c.test is not None and k is None).collect()
        counters = {
            c.label: int(counted.get_column(f"__count_{i}").item()) if c.test is not None
            and k is None else done.height if c.test is None or k else 0
            for i, (c, k) in enumerate(zip(output.counters, known, strict=True))
        }
        schema = done.schema
        result = done.select(
            pl.col("sourcedId").alias(_ID), *carried,
            *(write(f"out:{c.name}", schema[f"out:{c.name}"]).alias(c.name)
              for c in output.columns),
        )
        del done
    if done_with is not None:
        done_with()
    emitted[output.name] = result.select(_ID)  # what Steps.member tests membership in
    columns = [c.name for c in output.columns]
    scalar = [c for c in columns if not result.schema[c].is_nested()]
    order = list(dict.fromkeys([*output.sort, *scalar]))
    if order:
        # Sort first, stably: rows are then in their final order, rows alike are
        # neighbours (in file order), and `distinct` and the key check below are one
        # linear pass each instead of hashing every row (on a million-student
        # district's rosters, unique() and is_duplicated() cost more than the sort).
        held = [result]
        del result
        result = _sorted(held, order)
    if output.distinct:
        if set(order) == set(columns):  # every column sorted on: equal rows are neighbours
            first = pl.int_range(pl.len()) == 0
            result = result.filter(first | pl.any_horizontal(
                pl.col(c).ne_missing(pl.col(c).shift(1)) for c in columns))
        else:
            result = result.unique(subset=columns, keep="first", maintain_order=True)
    if output.key:
        key = list(output.key)
        if order[:len(key)] == key:  # sorted on the key first: equal keys are neighbours
            # the first row has none before it (shift's null would equal a null key)
            same = (pl.int_range(pl.len()) > 0) & pl.all_horizontal(
                pl.col(k).eq_missing(pl.col(k).shift(1)) for k in key)
            shared = same | same.shift(-1, fill_value=False)
        else:
            shared = pl.struct(key).is_duplicated()
        repeated = result.filter(shared)
        if repeated.height:
            warnings.append(WarningHits(
                output.line, codes.repeated_key(repeated.height, output.key), repeated.height,
                tuple(repeated[_ID].sort().head(10).to_list())))
    return OutputResult(
        name=output.name,
        entity=output.entity,
        frame=result.drop(_ID, _CARRIED, strict=False),
        records=result.get_column(_ID).alias("sourcedId"),
        carried=result.get_column(_CARRIED).alias(carry) if carry is not None else None,
        read=read,
        kept=kept,
        rules=[RuleCount(r.line, r.text, int(c)) for r, c in zip(output.rules, counts,
                                                                 strict=True)],
        warnings=warnings,
        rejects=rejects,
        rejected=rejected,
        counters=counters,
        each=output.each[0] if output.each is not None else None,
    )


def _entities(steps: tuple[Step, ...]) -> set[str]:
    """The entities ``steps`` read records of. A lookup whose `where` no record passes
    reads none (Steps.inner), so its tables may go before it runs: a released table
    keeps its columns, empty."""
    found: set[str] = set()
    for step in steps:
        if isinstance(step, Join):
            found.add(step.entity)
        elif isinstance(step, Lookup):
            if step.where is not None and settled(step.where) is False:
                continue
            found |= {step.entity, *_entities(step.steps)}
    return found


def _reads(output: Output) -> tuple[set[str], set[str]]:
    """The entities an output reads records of, and the outputs it tests membership in."""
    steps = (*output.prelude, *output.before, *output.after)
    members = {s.output for s in steps if isinstance(s, Member)}
    nested = [s for s in steps if isinstance(s, Lookup)]
    while nested:
        lookup = nested.pop()
        members |= {s.output for s in lookup.steps if isinstance(s, Member)}
        nested += [s for s in lookup.steps if isinstance(s, Lookup)]
    return {output.entity, *_entities(steps)}, members


def run_outputs(
    module: ModuleType,
    tables: Tables,
    params: Mapping[str, Any],
    emitted: dict[str, pl.DataFrame] | None = None,
    release: bool = False,
    trace: Trace | None = None,
    plans: Sequence[Output] | None = None,
    carry: Mapping[str, str] | None = None,
) -> list[OutputResult]:
    """Every output of a compiled module, in its order.

    ``emitted`` receives, per output, the sourcedIds of the records it emitted (what
    membership tests read); explain passes a dict to look at them afterwards.
    ``release`` empties each entity's table (``Tables.release``) and forgets each
    output's ids once no later output reads them: a run's peak memory is then that of
    its largest output, not of every table at once. ``trace`` keeps what `explain`
    reads of the run's frames (see :class:`Trace`). ``plans`` are the module's
    outputs already built for ``params``, when the caller needs them too. ``carry``
    names, per entity, a field each row of its outputs keeps from the record it was
    made from (``OutputResult.carried``): read then, and nothing to look up afterwards.
    """
    emitted = {} if emitted is None else emitted
    steps = Steps(tables, emitted)
    outputs: list[Output] = (list(plans) if plans is not None
                             else [build(dict(params)) for build in module.OUTPUTS])
    last: dict[str, int] = {}  # entity or "output:NAME" -> the last output that reads it
    for i, output in enumerate(outputs):
        entities, members = _reads(output)
        last.update({e: i for e in entities} | {f"output:{m}": i for m in members})
        if trace is not None:
            trace.targets |= members
            if any(isinstance(s, Join) and s.entity == output.entity
                   for s in (*output.before, *output.after)):
                trace.targets.add(output.name)  # its records may depend on one another
    results = []
    for i, output in enumerate(outputs):

        def done_with(i: int = i) -> None:
            for name, at in last.items():
                if at == i and name.startswith("output:"):
                    emitted.pop(name.removeprefix("output:"), None)
                elif at == i:
                    tables.release(name)

        results.append(_run_output(output, tables, emitted, steps,
                                   done_with if release else None, trace,
                                   (carry or {}).get(output.entity)))
        if release and last.get(f"output:{output.name}", i) <= i:
            emitted.pop(output.name, None)  # no later output tests membership in it
    return results
