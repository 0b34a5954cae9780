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

import datetime as dt
import hashlib
import inspect
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
    category: str = "text"
    fails: Callable[..., pl.Expr] | None = None  # true where a record's value can't be used
    constant: tuple[int, ...] = ()  # argument positions that must be literals (patterns)
    compiled: bool = False  # the compiler writes calls out (as lookups); never called
    # Given the literal arguments (in `constant` order): the index among them of one
    # polars would refuse, and why; checked by the compiler (RM318), not at run time.
    check: Callable[..., tuple[int, str] | None] | None = None

    @property
    def variadic(self) -> bool:
        return bool(self.params) and self.params[-1].endswith("...")

    @property
    def arguments(self) -> tuple[str, ...]:
        """Each parameter as ``name: type``, named as the implementation names it."""
        names = list(inspect.signature(self.impl).parameters)
        return tuple(f"{name}: {type_}" for name, type_ in zip(names, self.params, strict=False))

    @property
    def call(self) -> str:
        """``name(param: type, ...)``: the signature as the reference and editors show it."""
        return f"{self.name}({', '.join(self.arguments)})"

    @property
    def summary(self) -> str:
        """The first paragraph of the documentation, on one line, in Markdown."""
        return " ".join(self.doc.split("\n\n")[0].split()).replace("``", "`")


REGISTRY: dict[str, Function] = {}


def lit(value: Any) -> pl.Expr:
    """A value as an expression; expressions pass through."""
    return value if isinstance(value, pl.Expr) else pl.lit(value)


_CATEGORY = ["text"]


def _register(
    params: tuple[str, ...],
    returns: str,
    examples: tuple[tuple[str, Any], ...] = (),
    aggregate: str | None = None,
    name: str | None = None,
    fails: Callable[..., pl.Expr] | None = None,
    constant: tuple[int, ...] = (),
    compiled: bool = False,
    check: Callable[..., tuple[int, str] | None] | None = None,
) -> Callable[[Callable[..., pl.Expr]], Callable[..., pl.Expr]]:
    def wrap(impl: Callable[..., pl.Expr]) -> Callable[..., pl.Expr]:
        fname = name or impl.__name__.rstrip("_")
        REGISTRY[fname] = Function(
            fname, params, returns, impl, (impl.__doc__ or "").strip(), examples, aggregate,
            _CATEGORY[0], fails, constant, compiled, check,
        )
        return impl

    return wrap


def _category(name: str) -> None:
    """Functions registered after this call belong to ``name`` (for the reference)."""
    _CATEGORY[0] = name


# --- text -------------------------------------------------------------------------------
_category("text")


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


def _each(values: Any, change: Callable[[pl.Expr], pl.Expr]) -> Any:
    """A text function applied to each item: of a parameter's list, or a list column."""
    if isinstance(values, list | tuple):
        return pl.select(change(pl.lit(pl.Series(values, dtype=pl.String)))).to_series(
        ).to_list()
    return lit(values).list.eval(change(pl.element()))


@_register(("list[str]",), "list[str]", (('lower_each(["A", "b"])', ["a", "b"]),))
def lower_each(values: Any) -> Any:
    """Each text in lower case; ``lower(a_list)`` means this."""
    return _each(values, lambda v: v.str.to_lowercase())


@_register(("list[str]",), "list[str]", (('upper_each(["a"])', ["A"]),))
def upper_each(values: Any) -> Any:
    """Each text in upper case; ``upper(a_list)`` means this."""
    return _each(values, lambda v: v.str.to_uppercase())


@_register(("list[str]",), "list[str]", (('trim_each([" a "])', ["a"]),))
def trim_each(values: Any) -> Any:
    """Each text without spaces at either end; ``trim(a_list)`` means this."""
    return _each(values, lambda v: v.str.strip_chars())


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


def _pad_problem(length: int, fill: str) -> tuple[int, str] | None:
    if length < 0:
        return 0, f"pad to {length} characters: a length is 0 or more"
    if len(fill) != 1:
        return 1, f"pad fills with one character, not {fill!r}"
    return None


@_register(("str", "int", "str"), "str", (('pad("42", 5, "0")', "00042"),),
           constant=(1, 2), check=_pad_problem)
def pad(value: pl.Expr, length: int, fill: str) -> pl.Expr:
    """The text padded on the left with ``fill`` to ``length`` characters (ids, codes)."""
    return lit(value).str.pad_start(length, fill)


@_register(("str", "int"), "str", (('left("Jones", 3)', "Jon"),))
def left(value: pl.Expr, count: int) -> pl.Expr:
    """The first ``count`` characters."""
    return lit(value).str.head(count)


@_register(("str", "int"), "str", (('right("2026-27", 2)', "27"),))
def right(value: pl.Expr, count: int) -> pl.Expr:
    """The last ``count`` characters."""
    return lit(value).str.tail(count)


@_register(("str",), "int", (('length("Zoë")', 3),))
def length(value: pl.Expr) -> pl.Expr:
    """How many characters the text has."""
    return lit(value).str.len_chars()


@_register(("str", "str"), "bool", (('contains("Reading, Writing", "Writing")', True),
                                    ('contains("Reading", "read")', False)))
def contains(value: pl.Expr, part: Any) -> pl.Expr:
    """Whether the text contains ``part`` (exactly: lower() both to ignore case)."""
    return lit(value).str.contains(part, literal=True).fill_null(False)


def regex_problem(pattern: str) -> tuple[int, str] | None:
    """Why polars' regex engine (Rust's regex syntax, which runs the rule) refuses a
    pattern. The engine itself is asked, not Python's re: the two disagree both ways
    (re accepts look-around, `\\Z`, `a{,3}`; polars accepts `\\p{L}`)."""
    try:
        pl.Series([""], dtype=pl.String).str.contains(pattern)
    except pl.exceptions.PolarsError as error:
        lines = str(error).splitlines()
        reason = next((line.removeprefix("error: ") for line in lines
                       if line.startswith("error: ")), lines[0] if lines else "invalid")
        carets = next((line for line in lines if line.strip() and set(line.strip()) == {"^"}),
                      "")
        start = len(carets) - len(carets.lstrip()) - 4  # the pattern is quoted indented by 4
        found = pattern[start:start + len(carets.strip())] if carets and start >= 0 else ""
        return 0, f"invalid pattern: {reason}" + (f" (at `{found}`)" if found else "")
    return None


@_register(("str", "str"), "bool", (('matches("ALG-101", "^[A-Z]{3}-[0-9]+$")', True),
                                    ('matches("Reading", "(?i)^read")', True)),
           constant=(1,), check=regex_problem)
def matches(value: pl.Expr, pattern: str) -> pl.Expr:
    """Whether the text matches a regular expression (anywhere, unless anchored).

    Patterns use the common syntax (``^ $ . * + ? [a-z] (a|b) \\d``); ``(?i)`` at the
    start ignores case.
    """
    return lit(value).str.contains(pattern).fill_null(False)


@_register(("str", "str"), "str", (('extract("Room 2-B", "([0-9]+)")', "2"),),
           constant=(1,), check=regex_problem)
def extract(value: pl.Expr, pattern: str) -> pl.Expr:
    """The part of the text that the pattern's first group matches (else the whole match)."""
    groups = pl.Series([""], dtype=pl.String).str.extract_groups(pattern).struct.fields
    group = 1 if groups else 0
    return lit(value).str.extract(pattern, group)


_category("email")


@_register(("str",), "str", (('domain("Ada@Example.org")', "example.org"),))
def domain(email: pl.Expr) -> pl.Expr:
    """The domain of an email address, in lower case (domains ignore case)."""
    return lit(email).str.extract(r"@([^@]*)$", 1).str.to_lowercase()


@_register(("str",), "str", (('local_part("ada.l@example.org")', "ada.l"),))
def local_part(email: pl.Expr) -> pl.Expr:
    """The part of an email address before the last ``@``."""
    return lit(email).str.extract(r"^(.*)@[^@]*$", 1)


# --- numbers -----------------------------------------------------------------------------
_category("numbers")


def number_failed(value: pl.Expr) -> pl.Expr:
    text = lit(value).str.strip_chars()
    return (text.fill_null("") != "") & text.str.to_integer(strict=False).is_null()


@_register(("str",), "int", (('number(" 042 ")', 42),), fails=number_failed)
def number(value: pl.Expr) -> pl.Expr:
    """The whole number a text holds; a record whose text is not a number is rejected."""
    return lit(value).str.strip_chars().str.to_integer(strict=False)


# --- dates ------------------------------------------------------------------------------
_category("dates")

# The formats real exports use for dates, tried in order: ISO date, ISO date-time,
# and the slash and compact forms that carry the year first (never ambiguous).
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d")


def _parse_date(text: pl.Expr, fmt: str | None) -> pl.Expr:
    value = text.str.strip_chars()
    if fmt is not None:
        return value.str.to_date(fmt, strict=False)
    head = value.str.slice(0, 10)
    return pl.coalesce(
        *(head.str.to_date(f, strict=False) for f in _DATE_FORMATS[:2]),
        value.str.to_date(_DATE_FORMATS[2], strict=False),
    )


def date_failed(value: pl.Expr, fmt: str | None = None) -> pl.Expr:
    text = lit(value).cast(pl.String)
    return (text.str.strip_chars().fill_null("") != "") & _parse_date(text, fmt).is_null()


@_register(("str",), "date", (('date("2026-01-05T08:00:00Z")', dt.date(2026, 1, 5)),
                              ('date("2026/01/05")', dt.date(2026, 1, 5))),
           fails=date_failed)
def date(value: pl.Expr) -> pl.Expr:
    """A date read from text: YYYY-MM-DD, an ISO date-time, YYYY/MM/DD or YYYYMMDD.

    Day-first and month-first forms (1/05/2023) are ambiguous; read them with
    date_as(text, "%m/%d/%Y"). A record whose text is not a date is rejected.
    """
    return _parse_date(lit(value).cast(pl.String), None)


def _format_problem(fmt: str) -> tuple[int, str] | None:
    """A strftime format polars cannot use (an unknown code, a lone %)."""
    try:
        pl.Series([dt.date(2026, 1, 5)]).dt.strftime(fmt)
    except pl.exceptions.PolarsError:
        return 0, f"invalid date format {fmt!r}: use strftime codes such as %Y, %m, %d, %b"
    return None


@_register(("str", "str"), "date", (('date_as("1/05/2026", "%m/%d/%Y")', dt.date(2026, 1, 5)),),
           fails=date_failed, constant=(1,), check=_format_problem)
def date_as(value: pl.Expr, fmt: str) -> pl.Expr:
    """A date read with an explicit format (strftime codes: %d %m %Y %y %b)."""
    return _parse_date(lit(value).cast(pl.String), fmt)


@_register(("date", "str"), "str", (('format_date(date("2026-01-05"), "%m/%d/%Y")',
                                     "01/05/2026"),), constant=(1,), check=_format_problem)
def format_date(value: pl.Expr, fmt: str) -> pl.Expr:
    """The date written with a format (strftime codes)."""
    return lit(value).dt.strftime(fmt)


@_register((), "date", (("today() = today()", True),))
def today() -> pl.Expr:
    """The date of the run: the day it runs, or --today for a reproducible run."""
    return pl.lit(dt.date.today())


@_register(("date", "date", "date"), "bool",
           (('in_period(date("2026-06-15"), date("2025-08-15"), date("2026-06-15"))', False),
            ('in_period(date("2026-06-14"), date("2025-08-15"), date("2026-06-15"))', True)))
def in_period(day: Any, start: Any, end: Any) -> pl.Expr:
    """Whether ``day`` falls in a period from ``start`` (included) to ``end`` (excluded),
    as OneRoster dates mean them; a missing start or end leaves that side open."""
    when = lit(day)
    after_start = lit(start).is_null() | (lit(start) <= when)
    before_end = lit(end).is_null() | (when < lit(end))
    return (after_start & before_end).fill_null(False)


def _midnights(days: pl.Series, zones: pl.Series) -> pl.Series:
    """For each day, the moment it starts in its zone, as UTC text; null where the day
    is missing or the zone is not a time zone polars knows."""
    out = pl.Series("midnight", [None] * len(days), dtype=pl.String)
    for zone in zones.drop_nulls().unique().to_list():
        rows = (zones == zone).fill_null(False).arg_true()
        try:
            text = (days.gather(rows).cast(pl.Datetime("us"))
                    .dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
                    .dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        except pl.exceptions.PolarsError:
            continue  # not a zone: left null, and the record rejected (see _zone_failed)
        out = out.scatter(rows, text)
    return out


def _pair(day: Any, zone: Any) -> pl.Expr:
    return pl.struct(lit(day).cast(pl.Date).alias("day"), lit(zone).cast(pl.String)
                     .alias("zone"))


def _zone_failed(day: Any, zone: Any) -> pl.Expr:
    return _pair(day, zone).map_batches(
        lambda s: s.struct.field("day").is_not_null() & _midnights(
            s.struct.field("day"), s.struct.field("zone")).is_null(),
        return_dtype=pl.Boolean)


@_register(("date", "str"), "str",
           (('utc_midnight(date("2026-08-15"), "America/Chicago")', "2026-08-15T05:00:00Z"),
            ('utc_midnight(date("2026-01-15"), "Europe/London")', "2026-01-15T00:00:00Z")),
           fails=_zone_failed)
def utc_midnight(day: Any, zone: Any) -> pl.Expr:
    """The moment ``day`` starts in a time zone (an IANA name such as America/Chicago),
    in UTC as YYYY-MM-DDTHH:MM:SSZ: for products that take timestamps, not dates. A
    record is rejected when the zone is not a time zone."""
    return _pair(day, zone).map_batches(
        lambda s: _midnights(s.struct.field("day"), s.struct.field("zone")),
        return_dtype=pl.String)


@_register(("date",), "date", (('last_day(date("2026-06-15"))', dt.date(2026, 6, 14)),))
def last_day(end: Any) -> pl.Expr:
    """The last day of a period whose end date is excluded (OneRoster's endDate)."""
    return lit(end) - pl.duration(days=1)


@_register(("date", "int"), "date", (('add_days(date("2026-01-05"), -14)',
                                      dt.date(2025, 12, 22)),))
def add_days(value: pl.Expr, days: Any) -> pl.Expr:
    """The date so many days later (earlier for a negative number)."""
    return lit(value) + pl.duration(days=lit(days))


@_register(("date", "date"), "int", (('days_between(date("2026-01-01"), date("2026-01-15"))',
                                      14),))
def days_between(start: pl.Expr, end: pl.Expr) -> pl.Expr:
    """How many days from ``start`` to ``end`` (negative when ``end`` is earlier)."""
    return (lit(end) - lit(start)).dt.total_days()


@_register(("date",), "int", (('year(date("2026-01-05"))', 2026),))
def year(value: pl.Expr) -> pl.Expr:
    """The year of a date."""
    return lit(value).dt.year().cast(pl.Int64)


# --- grades -----------------------------------------------------------------------------
_category("grades")

# CEDS / OneRoster 1.1 grade codes and their order. Pre-kindergarten years come
# before KG; 13 is a post-secondary year some states use.
_GRADE_NUMBERS = {"IT": -3, "PR": -2, "PK": -1, "TK": 0, "KG": 0, **{f"{n:02d}": n for n in
                                                                    range(1, 14)}}
_GRADE_CODES = {-3: "IT", -2: "PR", -1: "PK", 0: "KG", **{n: f"{n:02d}" for n in range(1, 14)}}


@_register(("str",), "int", (('grade_number("KG")', 0), ('grade_number("09")', 9),
                             ('grade_number("PK")', -1), ('grade_number("9")', 9)))
def grade_number(code: pl.Expr) -> pl.Expr:
    """A grade code as a number: KG and TK are 0, PK -1, 01-13 their number."""
    text = lit(code).str.strip_chars().str.to_uppercase()
    padded = pl.when(text.str.contains(r"^[0-9]$")).then("0" + text).otherwise(text)
    return padded.replace_strict(_GRADE_NUMBERS, default=None, return_dtype=pl.Int64)


@_register(("int",), "str", (("grade_code(0)", "KG"), ("grade_code(9)", "09")))
def grade_code(number_: pl.Expr) -> pl.Expr:
    """A grade number as its OneRoster code: 0 is KG, 9 is 09."""
    return lit(number_).replace_strict(_GRADE_CODES, default=None, return_dtype=pl.String)


@_register(("str", "int"), "int", (('graduation_year("09", 2026)', 2029),
                                   ('graduation_year("KG", 2026)', 2038)))
def graduation_year(grade: pl.Expr, school_year: Any) -> pl.Expr:
    """The year a student in ``grade`` during ``school_year`` (the year it ends) graduates."""
    return lit(school_year) + 12 - grade_number(grade)


# --- lists ------------------------------------------------------------------------------
_category("lists")


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


# --- missing values and identifiers ---------------------------------------------------
_category("values")


@_register(("any",), "str", (("text(2026)", "2026"), ("text(true)", "true")))
def text(value: Any) -> pl.Expr:
    """The value as text, written the way output files write it."""
    expr = lit(value)
    return expr.cast(pl.String)



@_register(("T", "T..."), "T", (('coalesce("", "b")', "b"),))
def coalesce(*values: Any) -> pl.Expr:
    """The first value that is neither missing nor empty text."""
    present = [
        pl.when(lit(v).cast(pl.String, strict=False).fill_null("") != "").then(lit(v))
        for v in values
    ]
    return pl.coalesce(present)


@_register(("ref",), "object", (), compiled=True)
def guidref(reference: Any, kind: str = "", many: bool = False) -> pl.Expr:
    """A OneRoster GUIDRef, ``{"sourcedId": ..., "type": ...}``, for JSON outputs; for a
    list of references, a list of them. The compiler adds the type (org, user...)."""
    def one(ref: pl.Expr) -> pl.Expr:
        return pl.struct(ref.alias("sourcedId"), pl.lit(kind).alias("type"))

    value = lit(reference)
    if many:
        return value.list.eval(one(pl.element()))
    return pl.when(value.is_not_null()).then(one(value))


@_register(("any",), "bool", (), compiled=True)
def resolves(reference: Any) -> pl.Expr:
    """Whether a reference names a record the source holds (for a list: every one).

    ``reject "the class's school is missing" if not resolves(school)``. The compiler
    writes it as a lookup; this function is never called itself.
    """
    raise NotImplementedError("resolves() is compiled to a lookup")


@_register(("T", "T"), "T", (('default("", "none")', "none"), ('default("x", "none")', "x")))
def default(value: Any, fallback: Any) -> pl.Expr:
    """The value, or ``fallback`` when the value is missing or empty text."""
    return coalesce(value, fallback)


def _sha(values: pl.Series) -> pl.Series:
    unique = values.unique().drop_nulls()
    digests = {v: hashlib.sha256(v.encode("utf-8")).hexdigest()[:16] for v in unique.to_list()}
    return values.replace_strict(digests, default=None, return_dtype=pl.String)


@_register(("str",), "str", (('stable_id("stu-42")', "647b620c7012e603"),))
def stable_id(value: pl.Expr) -> pl.Expr:
    """A 16-hex-digit id derived from the text (SHA-256): the same text, the same id,
    in every run and on every machine."""
    return lit(value).cast(pl.String).map_batches(_sha, return_dtype=pl.String)


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


def _example_value(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_example_value(v) for v in value) + "]"
    if isinstance(value, dt.date):
        return f'date("{value.isoformat()}")'
    return str(value)


def reference_markdown() -> str:
    """The function reference of docs/language.md, generated from the registry."""
    lines = ["| function | what it gives | example |", "|---|---|---|"]
    current = ""
    for fn in REGISTRY.values():
        if fn.category != current:
            current = fn.category
            lines.append(f"| **{current}** | | |")
        example = "; ".join(f"`{expr}` = `{_example_value(v)}`" for expr, v in fn.examples[:2])
        lines.append(f"| `{fn.call}` → {fn.returns} | {fn.summary} | {example} |")
    return "\n".join(lines) + "\n"
