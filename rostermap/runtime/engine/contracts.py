"""Output contracts: what an output's `expect` lines demand of the rows it writes.

Checked on the rows as text, as the file will hold them, once every output is made and
before anything is written: a broken contract is an error of the run, so nothing is
published and a sync commits nothing. Each diagnostic names the rows by their line in
the file and the record each was made from.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Sequence

import polars as pl

from rostermap.dsl import codes
from rostermap.dsl.codes import BadRow
from rostermap.dsl.diagnostics import Diagnostic
from rostermap.runtime.engine.execute import OutputResult
from rostermap.runtime.engine.plans import Expect, Output

__all__ = ["check_contracts"]

_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}


def _first_line(output: Output) -> int:
    """The file line of the first row: CSV has a header line, JSON Lines none."""
    return 2 if output.format == "csv" else 1


def _bad_rows(result: OutputResult, output: Output, mask: pl.Series,
              values: pl.Series | None) -> list[BadRow]:
    at = _first_line(output)
    records = result.records.to_list()
    shown = values.to_list() if values is not None else None
    return [BadRow(i + at, f"{result.entity}/{records[i] if i < len(records) else '?'}",
                   None if shown is None else (shown[i] or ""))
            for i in mask.arg_true().to_list()]


def _text(result: OutputResult, column: str) -> pl.Series:
    return result.frame.get_column(column).cast(pl.String).fill_null("")


def _check(result: OutputResult, output: Output, expect: Expect,
           mapping: str) -> Iterator[Diagnostic]:
    frame = result.frame
    if expect.kind == "rows":
        if not _COMPARE[expect.op](frame.height, expect.amount):
            yield codes.contract_row_count(result.name, frame.height, expect.op, expect.amount,
                                           mapping, expect.line, expect.text)
        return
    if expect.kind == "unique":
        repeated = frame.select(expect.columns).is_duplicated()
        if frame.height and repeated.any():
            yield codes.contract_repeated_values(result.name, expect.columns,
                                                 _bad_rows(result, output, repeated, None),
                                                 mapping, expect.line, expect.text)
        return
    for column in expect.columns:  # `in` and `is not empty`: column by column
        values = _text(result, column)
        if expect.kind == "in":
            outside = ~values.is_in(list(expect.values))
            if outside.any():
                shown = None if expect.personal else values
                yield codes.contract_values_outside(
                    result.name, column, expect.values,
                    _bad_rows(result, output, outside, shown), mapping, expect.line,
                    expect.text)
        else:
            empty = values.str.strip_chars() == ""
            if empty.any():
                yield codes.contract_empty_values(
                    result.name, column, _bad_rows(result, output, empty, None), mapping,
                    expect.line, expect.text)


def check_contracts(outputs: Sequence[Output], results: Sequence[OutputResult],
                    mapping: str) -> list[Diagnostic]:
    """The contracts ``results`` break, in the order of the outputs and their lines;
    ``mapping`` is the mapping file's name, which the diagnostics point into."""
    plans = {o.name: o for o in outputs}
    problems: list[Diagnostic] = []
    for result in results:
        output = plans.get(result.name)
        if output is None:
            continue
        for expect in output.expects:
            problems += _check(result, output, expect, mapping)
    return problems
