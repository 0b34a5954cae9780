"""Diagnostics as data, rendered in one place.

Every stage reports problems as :class:`Diagnostic` values instead of raising, so a
single run can show all of a file's problems. Rendering follows rustc and VRL: a
stable code, ``file:line:col``, the source line, carets under the span, then
``help:`` and ``note:`` lines. Source-data problems (a bad CSV cell) carry a
:class:`DataLocation` instead of a span, because they point into a district's file,
not into the mapping.
"""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rostermap.dsl.span import Source, Span

__all__ = [
    "DataLocation",
    "Diagnostic",
    "DiagnosticError",
    "Label",
    "Severity",
    "did_you_mean",
    "has_errors",
    "printable",
    "render",
    "render_all",
]


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Label:
    """A span with a short message printed beside its carets."""

    span: Span
    message: str = ""


@dataclass(frozen=True, slots=True)
class DataLocation:
    """A place in a source-data file: the file, the 1-based line, and the column name."""

    file: str
    line: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return where if self.column is None else f"{where} (column {self.column})"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem: a registered code, a one-line message, and where it is."""

    code: str
    message: str
    severity: Severity = Severity.ERROR
    primary: Label | None = None
    secondary: tuple[Label, ...] = ()
    notes: tuple[str, ...] = ()
    location: DataLocation | None = None

    def __post_init__(self) -> None:
        # Imported here: the registry's constructors build Diagnostics, so it imports
        # this module. Unregistered codes are a bug, caught by the first test that hits it.
        from rostermap.dsl.codes import lookup

        lookup(self.code)

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def to_dict(self, source: Source | None = None) -> dict[str, Any]:
        """A JSON-ready form for ``--format json`` and the sync report."""
        out: dict[str, Any] = {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
        }
        if self.primary is not None:
            span = self.primary.span
            source = span.source or source
            out["file"] = source.name if source else None
            out["line"], out["column"] = span.line, span.column
            out["end_line"], out["end_column"] = span.end_line, span.end_column
            if self.primary.message:
                out["label"] = self.primary.message
        if self.location is not None:
            out["file"] = self.location.file
            out["line"] = self.location.line
            out["field"] = self.location.column
        if self.notes:
            out["notes"] = list(self.notes)
        return out


class DiagnosticError(Exception):
    """Raised at a stage boundary when diagnostics include errors.

    Stages themselves collect diagnostics; only the driver that chains them raises,
    so that callers see every problem at once.
    """

    def __init__(self, diagnostics: Sequence[Diagnostic], source: Source | None = None):
        self.diagnostics = tuple(diagnostics)
        self.source = source
        super().__init__(render_all(self.diagnostics, source))


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to a misspelt name, or None when nothing is close.

    Case is ignored when matching because the commonest slip in mapping files is
    ``givenname`` for ``givenName``.
    """
    pool = sorted(set(candidates))
    by_lower = {c.lower(): c for c in pool}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    hits = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[hits[0]] if hits else None


# Characters that would act on a terminal instead of showing: control characters
# (escape sequences, carriage returns, bells) and the bidirectional overrides that
# make text read differently from what it is ("Trojan Source").
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e"
                          "\u2066-\u2069\u2028\u2029]")


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: every control character escaped (\\x1b),
    line breaks and tabs kept. Source data and mapping text reach messages; a
    hostile file must not be able to rewrite the screen it is reported on."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _marks(text: str, span: Span, line: int) -> tuple[int, int]:
    """Display columns ``[start, end)`` that underline ``span`` on ``line``."""
    start = span.column - 1 if line == span.line else len(text) - len(text.lstrip())
    end = span.end_column - 1 if line == span.end_line else len(text)
    end = max(end, start + 1)
    pad = len(text[:start].expandtabs())
    width = max(1, len(text[start:end].expandtabs()))
    return pad, pad + width


_WIDTH = 160  # characters of a source line shown; longer lines are cut around the marks


def _snippet(source: Source, labels: list[tuple[Label, str]], gutter: int) -> list[str]:
    """Source lines with their underlines, rustc style: labels on one line share it."""
    out: list[str] = []
    by_line: dict[int, list[tuple[Label, str]]] = {}
    for label, mark in labels:
        by_line.setdefault(label.span.line, []).append((label, mark))
    blank = f"{' ' * gutter} |"
    for number in sorted(by_line):
        text = source.line_text(number)
        placed = sorted(
            ((*_marks(text, lbl.span, number), lbl.message, mark) for lbl, mark in by_line[number]),
            key=lambda item: item[0],
        )
        shown = text.expandtabs()
        if len(shown) > _WIDTH:  # a window around the marks: a line can be megabytes long
            low = max(0, placed[0][0] - _WIDTH // 4)
            high = min(len(shown), low + _WIDTH)
            cut = "…" if low else ""
            shown = cut + shown[low:high] + ("…" if high < len(shown) else "")
            placed = [(max(s - low, 0) + len(cut), max(min(e, high) - low, 1) + len(cut), m, k)
                      for s, e, m, k in placed]
        out.append(f"{number:>{gutter}} | {shown}")
        row = [" "] * max(end for _, end, _, _ in placed)
        for start, end, _, mark in placed:
            row[start:end] = mark * (end - start)
        last_message = placed[-1][2]
        out.append(f"{blank} {''.join(row)}{' ' + last_message if last_message else ''}".rstrip())
        for start, _, message, _ in reversed(placed[:-1]):
            if message:
                bars = [" "] * start
                for other, _, msg, _ in placed[:-1]:
                    if other < start and msg:
                        bars[other] = "|"
                out.append(f"{blank} {''.join(bars)}|")
                out.append(f"{blank} {''.join(bars)}{message}")
    return out


def render(diagnostic: Diagnostic, source: Source | None = None) -> str:
    """The human form of one diagnostic, ending without a newline."""
    head = f"{diagnostic.severity.value}[{diagnostic.code}]: {diagnostic.message}"
    lines = [head]
    labels = [(diagnostic.primary, "^")] if diagnostic.primary else []
    labels += [(label, "-") for label in diagnostic.secondary]
    # Labels may be in several files (a mapping and the profile it extends): one
    # snippet per file, the primary label's file first, the others after `:::`.
    files: dict[Source, list[tuple[Label, str]]] = {}
    for label, mark in labels:
        owner = label.span.source or source
        if owner is not None:
            files.setdefault(owner, []).append((label, mark))
    if files:
        gutter = len(str(max(lbl.span.line for lbl, _ in labels)))
        for i, (owner, group) in enumerate(files.items()):
            first = group[0][0].span
            arrow = "-->" if i == 0 else ":::"
            lines.append(f"{' ' * gutter}{arrow} {owner.name}:{first.line}:{first.column}")
            lines.append(f"{' ' * gutter} |")
            lines += _snippet(owner, group, gutter)
        lines.append(f"{' ' * gutter} |")
        indent = " " * gutter
    elif diagnostic.location is not None:
        lines.append(f"  --> {diagnostic.location}")
        indent = " "
    else:
        indent = " "
    for note in diagnostic.notes:
        lines.append(f"{indent} = {note}")
    return printable("\n".join(lines))


def render_all(diagnostics: Iterable[Diagnostic], source: Source | None = None) -> str:
    """Every diagnostic in source order, separated by blank lines."""
    ordered = sorted(diagnostics, key=lambda d: d.primary.span.start if d.primary else 0)
    return "\n\n".join(render(d, source) for d in ordered)
