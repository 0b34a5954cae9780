"""What every source hands to validation: one entity's records as raw columns.

A CSV package and a REST API differ in everything but this shape, so that
``runtime.engine.validate`` and ``runtime.engine.tables`` type and check records the same way
whichever source they came from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import polars as pl

from rostermap.dsl.diagnostics import Diagnostic

__all__ = ["LINE", "RawTable", "Source", "is_url"]

LINE = "__line"


def is_url(source: str) -> bool:
    """Whether a --source names an API (a URL) rather than a CSV package (a path).

    Here rather than in rostermap.runtime.sources.rest so that a run from a CSV package never
    imports the HTTP client stack (a fifth of a small district's run time).
    """
    return re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", source) is not None


@dataclass(frozen=True)
class RawTable:
    """One entity's records as text, with the line each came from.

    ``columns`` maps each model field read to the column (CSV) or property (REST)
    it came from, so errors name the field as the source spells it. Values are
    text; a list field may also arrive as a list of text (REST arrays).
    """

    entity: str
    file: str
    frame: pl.DataFrame  # a String (or List(String)) column per field read, plus LINE
    columns: dict[str, str]


class Source(Protocol):
    """An opened source of OneRoster records: a CSV package or a REST API."""

    origin: str
    version: str  # 1.0 | 1.1 | 1.2
    warnings: list[Diagnostic]

    @property
    def layout(self) -> str:
        """1.1 or 1.2: whether users' role and orgs come from roles (1.2)."""
        ...

    def has(self, entity: str) -> bool: ...

    def read(self, entity: str, fields: Iterable[str]) -> RawTable: ...

    def close(self) -> None: ...
