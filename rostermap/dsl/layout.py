"""Documents that know where they may break, laid out to a width.

The formatter describes each statement as a document: text, the places a line may
break (``Line``), and groups whose breaks are all taken or none. Laying it out
takes a group flat when it fits in what is left of the line, up to the next place
the rest could break, and otherwise breaks it and lays out its inner groups the
same way: the loosest structure breaks first (Wadler's "prettier printer", as in
Prettier). A node type describes its own document once; where lines go follows
from the width, so a statement is never joined into a line longer than the width
when it could be broken, and never broken when it fits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

__all__ = ["Align", "Concat", "Doc", "Group", "Indent", "Line", "Text", "concat", "flat",
           "group", "hard_line", "join", "line", "render"]


@dataclass(frozen=True, slots=True)
class Text:
    """Text that never breaks."""

    text: str


@dataclass(frozen=True, slots=True)
class Line:
    """A place the line may break: ``flat`` is printed when its group stays on one line.

    A ``hard`` line always breaks (and so does every group around it), but still
    reads as ``flat`` where a document is printed on one line on purpose.
    """

    flat: str = " "
    hard: bool = False


@dataclass(frozen=True, slots=True)
class Concat:
    parts: tuple[Doc, ...]


@dataclass(frozen=True, slots=True)
class Group:
    """Breaks all its own lines, or none; ``broken``: all, whatever the width (a
    group the author broke over lines stays so)."""

    doc: Doc
    broken: bool = False


@dataclass(frozen=True, slots=True)
class Align:
    """Lines broken inside start at the column where this document starts."""

    doc: Doc


@dataclass(frozen=True, slots=True)
class Indent:
    """Lines broken inside start ``by`` columns right of the enclosing ones."""

    by: int
    doc: Doc


Doc = Text | Line | Concat | Group | Align | Indent


def concat(*parts: Doc | str) -> Concat:
    return Concat(tuple(Text(p) if isinstance(p, str) else p for p in parts))


def line(flat: str = " ") -> Line:
    return Line(flat)


def hard_line() -> Line:
    return Line(" ", hard=True)


def group(*parts: Doc | str, broken: bool = False) -> Group:
    return Group(concat(*parts), broken)


def join(separator: Doc | str, docs: Iterable[Doc]) -> Concat:
    parts: list[Doc | str] = []
    for i, d in enumerate(docs):
        if i:
            parts.append(separator)
        parts.append(d)
    return concat(*parts)


class _Mode(Enum):
    FLAT = "flat"
    BREAK = "break"


_Command = tuple[int, _Mode, Doc]  # (indentation, mode, document)


def render(doc: Doc, width: int, column: int = 0) -> str:
    """The document laid out to ``width`` columns, its first line starting at ``column``.

    Lines after the first carry their own indentation; the first does not (the
    caller has already written ``column`` characters before it).
    """
    out: list[str] = []
    position = column
    stack: list[_Command] = [(column, _Mode.BREAK, doc)]
    while stack:
        indent, mode, d = stack.pop()
        match d:
            case Text(text=text):
                out.append(text)
                position += len(text)
            case Concat(parts=parts):
                stack.extend((indent, mode, p) for p in reversed(parts))
            case Align(doc=inner):
                stack.append((position, mode, inner))
            case Indent(by=by, doc=inner):
                stack.append((indent + by, mode, inner))
            case Group(doc=inner, broken=broken):
                flat_ok = mode is _Mode.FLAT or not broken and _fits(
                    (indent, _Mode.FLAT, inner), stack, width - position)
                stack.append((indent, _Mode.FLAT if flat_ok else _Mode.BREAK, inner))
            case Line(flat=text, hard=hard):
                if mode is _Mode.FLAT and not hard:
                    out.append(text)
                    position += len(text)
                else:
                    out.append("\n" + " " * indent)
                    position = indent
    return "\n".join(part.rstrip() for part in "".join(out).split("\n"))


def _fits(first: _Command, rest: list[_Command], room: int) -> bool:
    """Whether ``first``, flat, and what follows it up to the next line break fit."""
    pending: list[_Command] = [first]
    following = len(rest)
    while room >= 0:
        if not pending:
            if following == 0:
                return True
            following -= 1
            pending.append(rest[following])
        indent, mode, d = pending.pop()
        match d:
            case Text(text=text):
                room -= len(text)
            case Concat(parts=parts):
                pending.extend((indent, mode, p) for p in reversed(parts))
            case Group(doc=inner, broken=True) if mode is _Mode.FLAT:
                return False
            case Align(doc=inner) | Indent(doc=inner) | Group(doc=inner):
                pending.append((indent, mode, inner))
            case Line(flat=text, hard=hard):
                if mode is _Mode.BREAK:
                    return True
                if hard:
                    return False  # a group holding a hard line cannot be flat
                room -= len(text)
    return False


def flat(doc: Doc) -> str:
    """The document on one line, every break as its flat text."""
    match doc:
        case Text(text=text):
            return text
        case Line(flat=text):
            return text
        case Concat(parts=parts):
            return "".join(flat(p) for p in parts)
        case Group(doc=inner) | Align(doc=inner) | Indent(doc=inner):
            return flat(inner)
    raise TypeError(f"not a document: {type(doc).__name__}")
