"""Source text and spans: every node and diagnostic points back into the mapping file."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

__all__ = ["Source", "Span"]


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open range of characters, with 1-based line and column of both ends.

    Positions are kept alongside offsets because diagnostics print lines and columns
    while the formatter and the caret renderer slice by offset.
    """

    start: int
    end: int
    line: int
    column: int
    end_line: int
    end_column: int
    # The file the span is in. Mappings can extend and import other files, so a
    # diagnostic must be able to show the right file's line; spans compare without it.
    source: Source | None = field(default=None, compare=False, hash=False, repr=False)

    def to(self, other: Span) -> Span:
        """The span covering ``self`` through ``other``."""
        return Span(self.start, other.end, self.line, self.column, other.end_line,
                    other.end_column, self.source)

    def __repr__(self) -> str:
        return f"{self.line}:{self.column}-{self.end_line}:{self.end_column}"


@dataclass(frozen=True, eq=False)
class Source:
    """A mapping file's text and the name it is reported under."""

    text: str
    name: str = "<mapping>"
    _line_starts: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        starts = [0]
        for i, char in enumerate(self.text):
            if char == "\n":
                starts.append(i + 1)
        object.__setattr__(self, "_line_starts", tuple(starts))

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its line ending."""
        if not 1 <= line <= len(self._line_starts):
            return ""
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        text = self.text[start:] if end < 0 else self.text[start:end]
        return text.rstrip("\r")

    def position(self, offset: int) -> tuple[int, int]:
        """The 1-based (line, column) of a character offset."""
        index = bisect.bisect_right(self._line_starts, offset) - 1
        return index + 1, offset - self._line_starts[index] + 1

    def span(self, start: int, end: int) -> Span:
        """A span from offsets, with positions computed here."""
        line, column = self.position(start)
        end_line, end_column = self.position(end)
        return Span(start, end, line, column, end_line, end_column, self)
