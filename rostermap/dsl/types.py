"""The types the checker assigns to expressions.

The type system is small on purpose: it exists to catch the mistakes specialists
make (comparing a date with a string, putting a list in a one-value column,
reading a field through something that is not a reference), not to be clever.
References are typed by the entity they point to so that ``school.name`` can be
resolved and ``user in users.csv`` can be checked; at run time a reference is the
referenced record's sourcedId.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "SCALAR_TYPES",
    "TODAY",
    "parse_type",
    "ANY",
    "OBJECT",
    "BOOL",
    "DATE",
    "DATETIME",
    "FLOAT",
    "INT",
    "STR",
    "Type",
    "common",
    "comparable",
    "enum",
    "list_of",
    "ref",
]


@dataclass(frozen=True, slots=True)
class Type:
    kind: str  # str | int | float | bool | date | datetime | ref | list | any
    item: Type | None = None  # the element type of a list
    entity: str | None = None  # the entity a reference points to
    enum: str | None = None  # the enumeration a string field draws from

    def __str__(self) -> str:
        if self.kind == "list":
            return f"list[{self.item}]"
        if self.kind == "ref":
            return f"reference to {self.entity}"
        return self.kind

    @property
    def is_list(self) -> bool:
        return self.kind == "list"

    @property
    def is_text(self) -> bool:
        """Strings, enumerations and references all compare as text."""
        return self.kind in ("str", "ref")

    @property
    def is_number(self) -> bool:
        return self.kind in ("int", "float")


OBJECT = Type("object")  # a nested object of a JSON output (its keys are not typed)
STR = Type("str")
INT = Type("int")
FLOAT = Type("float")
BOOL = Type("bool")
DATE = Type("date")
DATETIME = Type("datetime")
ANY = Type("any")  # the type of an empty list's elements, and of errors already reported


def ref(entity: str) -> Type:
    return Type("ref", entity=entity)


def list_of(item: Type) -> Type:
    return Type("list", item=item)


def enum(name: str) -> Type:
    return Type("str", enum=name)


def comparable(a: Type, b: Type) -> bool:
    """Whether ``a = b`` makes sense (and so ``a in [b, ...]``)."""
    if a.kind == "any" or b.kind == "any":
        return True
    if a.is_text and b.is_text:
        return True
    if a.is_number and b.is_number:
        return True
    if {a.kind, b.kind} <= {"date", "datetime"}:
        return True
    if a.is_list and b.is_list:
        assert a.item is not None and b.item is not None
        return comparable(a.item, b.item)
    return a.kind == b.kind


def common(a: Type, b: Type) -> Type | None:
    """The type both of two branches can be written as, or None when there is none."""
    if a.kind == "any":
        return b
    if b.kind == "any":
        return a
    if a == b:
        return a
    if a.is_text and b.is_text:
        return a if a.kind == b.kind == "ref" and a.entity == b.entity else STR
    if a.is_number and b.is_number:
        return FLOAT
    if a.is_list and b.is_list:
        assert a.item is not None and b.item is not None
        item = common(a.item, b.item)
        return list_of(item) if item else None
    if {a.kind, b.kind} == {"date", "datetime"}:
        return DATETIME
    return None


TODAY = "@today"  # a date parameter's default of today(): the run's date

SCALAR_TYPES = {"str": STR, "int": INT, "float": FLOAT, "bool": BOOL, "date": DATE}


def parse_type(text: str, typevar: Type | None = None) -> Type | None:
    """A type from its written form (``list[str]``); ``T`` stands for ``typevar``."""
    text = text.strip().removesuffix("...")
    if text == "T":
        return typevar
    if text == "any":
        return ANY
    if text.startswith("list[") and text.endswith("]"):
        inner = parse_type(text[5:-1], typevar)
        return list_of(inner) if inner else None
    return SCALAR_TYPES.get(text)
