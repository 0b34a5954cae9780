"""Give raw text columns their OneRoster types, column by column, and say where they fail.

Validation is vectorised: each field is parsed as a whole column with polars, and
only the rows that failed are looked at, to report their lines. Lenient where real
exports are untidy but the meaning is plain (``TRUE``, ``Scheduled``, a date with a
time, spaces after commas in lists), strict where a guess could be wrong
(``yes`` for a boolean, ``1/05/2023`` for a date: day or month first?). Messages
quote a refused value only from files that hold no personal data: in users.csv a
shifted row puts a name in any column, and in demographics.csv the line says
whose birth date or ethnicity it is.
"""

from __future__ import annotations

import polars as pl

from rostermap.dsl import codes, schema
from rostermap.dsl import types as t
from rostermap.dsl.diagnostics import Diagnostic
from rostermap.runtime.sources.csv_package import LINE, RawTable

__all__ = ["CHECKED", "MAX_EXAMPLES", "dtype", "typed"]

MAX_EXAMPLES = 5
_TRUE = ("true", "1")
_FALSE = ("false", "0")
# A date, or the date part of an ISO date-time (a time after T or a space, then a zone).
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"


def dtype(type_: t.Type) -> pl.DataType:
    """The polars type a field of this type is held in."""
    if type_.is_list:
        return pl.List(pl.String)
    return {
        "int": pl.Int64(),
        "float": pl.Float64(),
        "bool": pl.Boolean(),
        "date": pl.Date(),
        "datetime": pl.Datetime("us", "UTC"),
        "object": pl.Null(),  # no extension columns: nothing
    }.get(type_.kind, pl.String())


def _text(column: str) -> pl.Expr:
    # replace("", None) rather than when/then/otherwise: the same values, in half the
    # time on a million records.
    return pl.col(column).str.strip_chars().replace("", None)


def _parse(column: str, type_: t.Type, listed: bool = False) -> pl.Expr:
    """The typed column; a value that fails to parse becomes null (checked after).

    ``listed``: a list field that arrives as a list already (a REST array), whose
    items are not split on commas.
    """
    if type_.kind == "object":
        return pl.col(column)  # extension data, passed on as it came
    if type_.is_list:
        if listed:
            parts = pl.col(column).list.eval(pl.element().str.strip_chars())
        else:
            parts = _text(column).str.split(",").list.eval(pl.element().str.strip_chars())
        return parts.list.eval(pl.element().filter(pl.element() != "")).fill_null([])
    value = _text(column)
    if type_.enum is not None:
        canonical = {v.lower(): v for v in schema.ENUMS[type_.enum]}
        lowered = value.str.to_lowercase()
        return pl.when(lowered.is_in(list(canonical))).then(
            lowered.replace_strict(canonical, default=None, return_dtype=pl.String)
        ).otherwise(value)
    if type_.kind == "bool":
        lowered = value.str.to_lowercase()
        return pl.when(lowered.is_in(_TRUE)).then(True).when(lowered.is_in(_FALSE)).then(False)
    if type_.kind == "int":
        return value.str.to_integer(strict=False)
    if type_.kind == "float":
        return value.cast(pl.Float64, strict=False)
    if type_.kind == "date":
        well_formed = value.str.contains(_ISO_DATE)
        return pl.when(well_formed).then(value.str.slice(0, 10).str.to_date("%Y-%m-%d",
                                                                           strict=False))
    if type_.kind == "datetime":
        return pl.coalesce(
            value.str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", strict=False, time_zone="UTC"),
            value.str.to_datetime("%Y-%m-%dT%H:%M:%SZ", strict=False, time_zone="UTC"),
            value.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_zone="UTC"),
            value.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_zone="UTC"),
            value.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us", "UTC")),
        )
    return value


# The kinds of field whose text can fail to parse: a value that does is reported (RM407).
CHECKED = frozenset({"bool", "int", "float", "date", "datetime"})


# Kinds of field whose values repeat a lot (a status, a role, a flag, a date): such a
# column is typed by typing its distinct values once and mapping every record's
# value to the result, which on a million-enrollment file is several times faster
# than parsing each record (lower-casing, trimming, matching). Above _FEW distinct
# values the column is parsed record by record as usual.
_REPEATING = frozenset({"bool", "date", "datetime"})
_FEW = 4096


def _by_value(frame: pl.DataFrame, f: str, type_: t.Type) -> tuple[pl.Expr, list[str]] | None:
    """The typed column as a mapping from each distinct raw value, and the raw values
    that did not parse; None when the column is not worth it."""
    if not (type_.enum is not None or type_.kind in _REPEATING) or type_.is_list:
        return None
    if frame.schema[f] != pl.String:
        return None
    distinct = frame.select(pl.col(f).unique().drop_nulls().head(_FEW + 1))
    if distinct.height > _FEW:
        return None
    values = distinct.select(pl.col(f), _parse(f, type_).cast(dtype(type_)).alias("typed"),
                             _text(f).is_not_null().alias("given"))
    mapping = dict(zip(values[f].to_list(), values["typed"].to_list(), strict=True))
    bad = values.filter(pl.col("typed").is_null() & pl.col("given"))[f].to_list()
    return pl.col(f).replace_strict(mapping, default=None, return_dtype=dtype(type_)), bad


def typed(raw: RawTable) -> tuple[pl.DataFrame, list[Diagnostic]]:
    """The raw table with each field in its type, and one error per bad column."""
    spec = schema.ENTITIES[raw.entity]
    fields = [c for c in raw.frame.columns if c != LINE]
    listed = {f for f in fields if isinstance(raw.frame.schema[f], pl.List)}
    exprs: dict[str, pl.Expr] = {}
    checked: dict[str, pl.Expr] = {}  # a test per field that can fail: true where it does
    for f in fields:
        type_ = spec.fields[f].type
        mapped = _by_value(raw.frame, f, type_) if f not in listed else None
        if mapped is not None:
            exprs[f], bad = mapped
            if bad and type_.kind in CHECKED:
                checked[f] = pl.col(f).is_in(bad)
            continue
        exprs[f] = _parse(f, type_, f in listed)
        if type_.kind in CHECKED:
            checked[f] = exprs[f].is_null() & _text(f).is_not_null()
    frame = raw.frame.select(
        pl.col(LINE),
        *(exprs[f].alias(f) if spec.fields[f].type.kind == "object"
          else exprs[f].cast(dtype(spec.fields[f].type)).alias(f) for f in fields),
    )
    problems: list[Diagnostic] = []
    # A file of personal records (users, demographics) quotes none of its values: a
    # shifted row puts a name or an email in any column.
    personal = any(field.pii for field in spec.fields.values())
    for f, test in checked.items():
        kind = spec.fields[f].type.kind
        bad_rows = raw.frame.filter(test)
        if bad_rows.height == 0:
            continue
        column = raw.columns.get(f, f)
        lines = bad_rows[LINE].head(MAX_EXAMPLES).to_list()
        problems.append(codes.invalid_values(
            raw.file, column, kind, bad_rows.height, lines, bad_rows[f].head(1).to_list()[0],
            hidden=personal or spec.fields[f].sensitive))
    return frame, problems
