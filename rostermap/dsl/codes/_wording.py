"""Phrases that several constructors share, so that they read the same everywhere."""

from __future__ import annotations

from typing import Protocol

from rostermap.dsl.types import Type

__all__ = ["Signature", "a", "did_you_mean", "signature"]


class Signature(Protocol):
    """What a diagnostic says about a library function (rostermap.runtime's Function)."""

    @property
    def name(self) -> str: ...
    @property
    def params(self) -> tuple[str, ...]: ...
    @property
    def returns(self) -> str: ...
    @property
    def variadic(self) -> bool: ...


def a(word: Type | str) -> str:
    """The word with its article: "an int", "a str", "a reference to users"."""
    text = str(word)
    vowel = text[0] in "aeio" or text.startswith(("un", "in"))
    return f"an {text}" if vowel else f"a {text}"


def did_you_mean(hint: str | None, written: str = "`{}`") -> tuple[str, ...]:
    """The help line for a close spelling, or nothing when none is close."""
    return (f"help: did you mean {written.format(hint)}?",) if hint else ()


def signature(fn: Signature) -> str:
    """``lower(str) -> str``: the note under a call that does not fit."""
    return f"{fn.name}({', '.join(fn.params)}) -> {fn.returns}"

