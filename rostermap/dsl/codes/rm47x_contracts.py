"""RM470-RM479: output contracts (`expect`) that a run's rows break.

A contract is checked on the rows a run made, before anything is written; a broken one
fails the run (nothing published, the state unchanged). Each diagnostic names the
output file, the rows by their line in it and the record each was made from, and the
mapping line of the contract.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from rostermap.dsl.codes._registry import Draft, code
from rostermap.dsl.diagnostics import DataLocation

__all__ = [
    "BadRow",
    "contract_empty_values",
    "contract_repeated_values",
    "contract_row_count",
    "contract_values_outside",
]

_SHOWN = 5  # rows named in full; the rest are counted


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that breaks a contract: its line in the output file (the header is line 1),
    the record it was made from (entity/sourcedId), and the value at fault when it may
    be shown (None for personal data)."""

    line: int
    record: str
    value: str | None = None


def _rows(rows: Sequence[BadRow], values: bool) -> str:
    def one(r: BadRow) -> str:
        shown = (f" {json.dumps(r.value, ensure_ascii=False)}"
                 if values and r.value is not None else "")
        return f"line {r.line} ({r.record}){shown}"

    listed = "; ".join(one(r) for r in rows[:_SHOWN])
    more = f"; and {len(rows) - _SHOWN:,} more" if len(rows) > _SHOWN else ""
    return f"note: rows: {listed}{more}"


def _count(rows: Sequence[BadRow], has: str, have: str) -> str:
    """"1 row of F has", "3 rows of F have": the subject of a message."""
    return f"1 row {has}" if len(rows) == 1 else f"{len(rows):,} rows {have}"


def _contract(mapping: str, line: int, text: str) -> str:
    return f"note: the contract is {mapping}:{line}: {text}"


def _first(output: str, rows: Sequence[BadRow], column: str | None) -> DataLocation:
    return DataLocation(output, rows[0].line if rows else None, column)


@code("RM470", "value outside the contract",
      "An `expect COLUMN in (...)` contract lists the values a column may hold; rows hold "
      "another. The run writes nothing: a product would refuse the file, or misread it.")
def contract_values_outside(output: str, column: str, allowed: Sequence[str],
                            rows: Sequence[BadRow], mapping: str, line: int,
                            text: str) -> Draft:
    listed = ", ".join(f'"{v}"' for v in allowed)
    subject = _count(rows, f"of {output} has", f"of {output} have")
    return Draft(f"{subject} a {column} other than {listed}",
                 location=_first(output, rows, column),
                 notes=(_rows(rows, values=True), _contract(mapping, line, text)))


@code("RM471", "empty value the contract requires",
      "An `expect COLUMN is not empty` contract requires a value in every row; rows have "
      "none. The run writes nothing.")
def contract_empty_values(output: str, column: str, rows: Sequence[BadRow], mapping: str,
                          line: int, text: str) -> Draft:
    return Draft(f"{_count(rows, f'of {output} has', f'of {output} have')} an empty {column}",
                 location=_first(output, rows, column),
                 notes=(_rows(rows, values=False), _contract(mapping, line, text)))


@code("RM472", "repeated value the contract forbids",
      "An `expect COLUMN, ... unique` contract forbids two rows with the same values of "
      "those columns; rows share them (the values are not shown: they may be personal "
      "data). The run writes nothing.")
def contract_repeated_values(output: str, columns: Sequence[str], rows: Sequence[BadRow],
                             mapping: str, line: int, text: str) -> Draft:
    what = ", ".join(columns)
    subject = _count(rows, f"of {output} repeats", f"of {output} repeat")
    return Draft(f"{subject} the {what} of another row",
                 location=_first(output, rows, columns[0] if len(columns) == 1 else None),
                 notes=(_rows(rows, values=False), _contract(mapping, line, text)))


@code("RM473", "row count outside the contract",
      "An `expect rows ...` contract bounds the number of rows an output writes; the run "
      "made a number outside it. The run writes nothing.")
def contract_row_count(output: str, rows: int, op: str, amount: int, mapping: str,
                       line: int, text: str) -> Draft:
    return Draft(f"{output} has {rows:,} rows; the contract wants rows {op} {amount}",
                 location=DataLocation(output),
                 notes=(_contract(mapping, line, text),
                        "help: a roster with fewer rows than usual is often an export cut "
                        "short; look at the source before relaxing the contract"))
