"""The function library that mappings call, as polars expressions.

Each function is declared once, with its signature in the mapping language's
types, so the compiler can check calls, and with examples that the test suite runs,
so the documentation cannot drift from the behaviour. Compiled modules call these
functions by name (``fn.lower(col("email"))``): the generated code stays readable
and the semantics (how a missing value behaves, what "first" means) live here.

Conventions: a missing value stays missing (null) unless the function says
otherwise; text functions treat a missing value as empty text where the answer is
text anyway (``concat``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

__all__ = ["REGISTRY", "Function", "lit"]


@dataclass(frozen=True, slots=True)
class Function:
    """A library function: its signature, its implementation, and examples.

    ``params`` and ``returns`` use the mapping language's type names; ``T`` is any
    type, consistent within one call; a trailing ``...`` makes the last parameter
    repeatable. ``aggregate`` says how the function reduces a lookup's records
    inside the group-by, so ``min(x of enrollments where ...)`` needs no list.
    """

    name: str
    params: tuple[str, ...]
    returns: str
    impl: Callable[..., pl.Expr]
    doc: str
    examples: tuple[tuple[str, Any], ...] = ()
    aggregate: str | None = None

    @property
    def variadic(self) -> bool:
        return bool(self.params) and self.params[-1].endswith("...")


REGISTRY: dict[str, Function] = {}


def lit(value: Any) -> pl.Expr:
    """A value as an expression; expressions pass through."""
    return value if isinstance(value, pl.Expr) else pl.lit(value)


def _register(
    params: tuple[str, ...],
    returns: str,
    examples: tuple[tuple[str, Any], ...] = (),
    aggregate: str | None = None,
    name: str | None = None,
) -> Callable[[Callable[..., pl.Expr]], Callable[..., pl.Expr]]:
    def wrap(impl: Callable[..., pl.Expr]) -> Callable[..., pl.Expr]:
        fname = name or impl.__name__.rstrip("_")
        REGISTRY[fname] = Function(
            fname, params, returns, impl, (impl.__doc__ or "").strip(), examples, aggregate
        )
        return impl

    return wrap


# --- text -------------------------------------------------------------------------------


@_register(("str",), "str", (('lower("Ada@Example.ORG")', "ada@example.org"),))
def lower(value: pl.Expr) -> pl.Expr:
    """The text in lower case."""
    return lit(value).str.to_lowercase()


@_register(("str",), "str", (('upper("kg")', "KG"),))
def upper(value: pl.Expr) -> pl.Expr:
    """The text in upper case."""
    return lit(value).str.to_uppercase()


@_register(("str",), "str", (('trim("  Ada ")', "Ada"),))
def trim(value: pl.Expr) -> pl.Expr:
    """The text without spaces at either end."""
    return lit(value).str.strip_chars()


@_register(("str", "str", "str"), "str", (('replace("a-b-c", "-", "/")', "a/b/c"),))
def replace(value: pl.Expr, old: str, new: str) -> pl.Expr:
    """Every occurrence of ``old`` replaced by ``new`` (plain text, not a pattern)."""
    return lit(value).str.replace_all(old, new, literal=True)


@_register(("str", "str"), "list[str]", (('split("09,10", ",")', ["09", "10"]),))
def split(value: pl.Expr, separator: str) -> pl.Expr:
    """The text cut at each separator."""
    return lit(value).str.split(separator)


@_register(("any...",), "str", (('concat("Algebra", " (", "ALG-1", ")")', "Algebra (ALG-1)"),))
def concat(*values: Any) -> pl.Expr:
    """The values written one after the other; a missing value adds nothing."""
    return pl.concat_str([lit(v).cast(pl.String) for v in values], ignore_nulls=True)


@_register(("str",), "str", (('domain("Ada@Example.org")', "example.org"),))
def domain(email: pl.Expr) -> pl.Expr:
    """The domain of an email address, in lower case (domains ignore case)."""
    return lit(email).str.extract(r"@([^@]*)$", 1).str.to_lowercase()


@_register(("str",), "str", (('local_part("ada.l@example.org")', "ada.l"),))
def local_part(email: pl.Expr) -> pl.Expr:
    """The part of an email address before the last ``@``."""
    return lit(email).str.extract(r"^(.*)@[^@]*$", 1)


@_register(("any",), "str", (("text(2026)", "2026"), ("text(true)", "true")))
def text(value: Any) -> pl.Expr:
    """The value as text, written the way output files write it."""
    expr = lit(value)
    return expr.cast(pl.String)


# --- lists ------------------------------------------------------------------------------


@_register(("list[str]", "str"), "str", (('join(["09", "10"], ",")', "09,10"),))
def join(values: pl.Expr, separator: str) -> pl.Expr:
    """The list's items written with a separator between them."""
    return lit(values).list.join(separator, ignore_nulls=True)


@_register(("list[T]",), "T", (('first(["a", "b"])', "a"),), aggregate="first")
def first(values: pl.Expr) -> pl.Expr:
    """The first item; for a lookup, the item of the record with the smallest sourcedId."""
    return lit(values).list.first()


@_register(("list[T]",), "T", (('last(["a", "b"])', "b"),), aggregate="last")
def last(values: pl.Expr) -> pl.Expr:
    """The last item; for a lookup, the item of the record with the largest sourcedId."""
    return lit(values).list.last()


@_register(("list[T]",), "T", (('min(["b", "a"])', "a"),), aggregate="min")
def min_(values: pl.Expr) -> pl.Expr:
    """The smallest item (text compares letter by letter)."""
    return lit(values).list.min()


@_register(("list[T]",), "T", (('max(["b", "a"])', "b"),), aggregate="max")
def max_(values: pl.Expr) -> pl.Expr:
    """The largest item."""
    return lit(values).list.max()


@_register(("list[T]",), "int", (('count(["a", "b"])', 2),), aggregate="count")
def count(values: pl.Expr) -> pl.Expr:
    """How many items; for a lookup, how many records matched."""
    return lit(values).list.len().fill_null(0)


@_register(("list[T]",), "bool", (('exists(["a"])', True), ("exists([])", False)),
           aggregate="exists")
def exists(values: pl.Expr) -> pl.Expr:
    """Whether there is at least one item (for a lookup: one matching record)."""
    return lit(values).list.len().fill_null(0) > 0


@_register(("list[T]",), "list[T]", (('unique(["b", "a", "b"])', ["b", "a"]),))
def unique(values: pl.Expr) -> pl.Expr:
    """The items without repeats, in their first order."""
    return lit(values).list.unique(maintain_order=True)


@_register(("list[T]",), "list[T]", (('sort(["b", "a"])', ["a", "b"]),))
def sort(values: pl.Expr) -> pl.Expr:
    """The items in ascending order."""
    return lit(values).list.sort()


@_register(("T", "T..."), "T", (('coalesce("", "b")', "b"),))
def coalesce(*values: Any) -> pl.Expr:
    """The first value that is neither missing nor empty text."""
    present = [
        pl.when(lit(v).cast(pl.String, strict=False).fill_null("") != "").then(lit(v))
        for v in values
    ]
    return pl.coalesce(present)


# --- helpers the generated code uses for the language's own operators -------------------


def blank(value: pl.Expr) -> pl.Expr:
    """Text with a missing value read as empty, so ``status = ""`` holds for blanks."""
    return value.fill_null("")


def is_blank(value: pl.Expr) -> pl.Expr:
    return value.fill_null("") == ""


def is_empty_list(value: pl.Expr) -> pl.Expr:
    return value.list.len().fill_null(0) == 0


def _as_list(collection: Any) -> pl.Expr:
    if isinstance(collection, pl.Expr):
        return collection
    return pl.lit(list(collection), dtype=pl.List(pl.String))


def any_in(items: pl.Expr, collection: Any) -> pl.Expr:
    """Whether some item of ``items`` is in ``collection``."""
    common = items.list.set_intersection(_as_list(collection))
    return common.list.len().fill_null(0) > 0


def all_in(items: pl.Expr, collection: Any) -> pl.Expr:
    """Whether every item of ``items`` is in ``collection`` (true for no items)."""
    rest = items.list.set_difference(_as_list(collection))
    return rest.list.len().fill_null(0) == 0


def none_in(items: pl.Expr, collection: Any) -> pl.Expr:
    return ~any_in(items, collection)
