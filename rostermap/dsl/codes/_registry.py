"""The registry's machinery: a code's entry, the constructors it owns, and the docs.

An entry (:class:`Code`) holds what documents a code: its number, title,
explanation and severity. Used as a decorator, it owns a constructor: a function
that takes the facts of one situation (names, types, spans, a did-you-mean hint)
and words them as a :class:`Draft`. The entry turns the draft into the
:class:`Diagnostic`, adding the code and the severity, so a constructor cannot
report under another code or with a severity the documentation does not list.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec

from rostermap.dsl.diagnostics import DataLocation, Diagnostic, Label, Severity

__all__ = [
    "CODES",
    "ERROR",
    "ERROR_OR_WARNING",
    "WARNING",
    "Code",
    "Draft",
    "code",
    "constructors",
    "lookup",
    "markdown",
]

P = ParamSpec("P")

# The severities a code is reported with: the documentation's severity column, and
# what its constructors may produce.
ERROR: tuple[Severity, ...] = (Severity.ERROR,)
WARNING: tuple[Severity, ...] = (Severity.WARNING,)
ERROR_OR_WARNING: tuple[Severity, ...] = (Severity.ERROR, Severity.WARNING)


@dataclass(frozen=True, slots=True)
class Draft:
    """A diagnostic as a constructor words it, before its entry adds code and severity."""

    message: str
    primary: Label | None = None
    secondary: tuple[Label, ...] = ()
    notes: tuple[str, ...] = ()
    location: DataLocation | None = None
    # Set only by a constructor of an ERROR_OR_WARNING code, where the case decides.
    severity: Severity | None = None


@dataclass(frozen=True, slots=True)
class Code:
    """A registered code. Calling it on a function makes that function a constructor."""

    code: str
    title: str
    explanation: str
    severities: tuple[Severity, ...] = ERROR

    @property
    def severity(self) -> str:
        """The documentation's word: error, warning, or error or warning."""
        return " or ".join(s.value for s in self.severities)

    def __call__(self, word: Callable[P, Draft]) -> Callable[P, Diagnostic]:
        if CODES.get(self.code) is not self:
            raise ValueError(f"{self.code} is not registered; create entries with code()")

        @functools.wraps(word)
        def construct(*args: P.args, **kwargs: P.kwargs) -> Diagnostic:
            return self.diagnostic(word(*args, **kwargs))

        _CONSTRUCTORS.setdefault(self.code, []).append(construct)
        return construct

    def diagnostic(self, draft: Draft) -> Diagnostic:
        """The draft under this code, with the severity the entry documents."""
        severity = draft.severity
        if severity is None:
            if len(self.severities) != 1:
                raise ValueError(f"{self.code} is an error or a warning: the draft must say which")
            severity = self.severities[0]
        elif severity not in self.severities:
            raise ValueError(f"{self.code} is documented as {self.severity}, not {severity.value}")
        return Diagnostic(self.code, draft.message, severity, draft.primary, draft.secondary,
                          draft.notes, draft.location)


CODES: dict[str, Code] = {}
_CONSTRUCTORS: dict[str, list[Callable[..., Diagnostic]]] = {}


def code(number: str, title: str, explanation: str,
         severity: tuple[Severity, ...] = ERROR) -> Code:
    """Register a code. The entry decorates its constructors, one per situation that
    raises it."""
    if number in CODES:
        raise ValueError(f"{number} is registered twice")
    entry = Code(number, title, explanation, severity)
    CODES[number] = entry
    return entry


def lookup(number: str) -> Code:
    """The registered code; an unregistered code is a programming error."""
    return CODES[number]


def constructors(number: str) -> tuple[Callable[..., Diagnostic], ...]:
    """The constructors a code owns, in the order they are defined."""
    return tuple(_CONSTRUCTORS.get(number, ()))


_RANGES = {"1": "Syntax", "2": "Names", "3": "Types and profile rules", "4": "Source data",
           "5": "Run usage"}


def markdown() -> str:
    """docs/diagnostics.md, generated so the documentation cannot miss a code."""
    lines = [
        "# Diagnostic codes",
        "",
        "Every problem rostermap reports has a stable code. Codes are never reused.",
        "This page is generated from `rostermap/dsl/codes/` by `python scripts/update_docs.py`;",
        "a test keeps it in step.",
    ]
    current = ""
    for entry in sorted(CODES.values(), key=lambda e: e.code):
        group = entry.code[2]
        if group != current:
            current = group
            lines += ["", f"## RM{group}xx: {_RANGES[group]}", "",
                      "| code | severity | title | meaning |", "|---|---|---|---|"]
        lines.append(f"| {entry.code} | {entry.severity} | {entry.title} | {entry.explanation} |")
    return "\n".join(lines) + "\n"
