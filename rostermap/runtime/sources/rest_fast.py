"""A page of OneRoster records decoded, checked and turned into columns in one pass.

The JSON Schema of each record type (the same document ``rest_records`` checks
records against) is translated once per version and entity into msgspec types:
types, required properties, enumerations, ``additionalProperties: false``, minimum
array sizes and the ``anyOf`` alternatives the schemas use. msgspec decodes a whole
page into those types in C, checking as it goes; the string formats and patterns
(dates, date-times, URIs, ``ext:`` vocabularies) are checked afterwards, column by
column, with fastjsonschema's own regular expressions.

The fast path only ever says "every record of this page is valid": a page it
declines (one record the schema refuses, JSON msgspec does not read, a schema
construct it does not translate) goes through the per-record path unchanged, which
rejects, explains and reports exactly as before. So the translation may be stricter
than the schema (it only costs speed) but never looser, and a page's outcome never
depends on which path read it.
"""

from __future__ import annotations

import keyword
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

import fastjsonschema
import msgspec
from fastjsonschema.draft04 import DOLLAR_FINDER

__all__ = ["FastPage", "Plan", "plain", "translate"]

_UNSET = msgspec.UNSET
# fastjsonschema's format expressions, as its generator for these schemas uses them
# (with ``match``); the schemas' ``$schema`` picks the same generator class.
_FORMATS: dict[str, str] = dict(fastjsonschema._get_code_generator_class({}).FORMAT_REGEXS)
# Formats whose expression (between ``^`` and ``\Z``) never matches a line break, so a
# column is checked by one match over its values joined by line breaks.
_LINE_FORMATS = frozenset({"date", "date-time", "uri"})


class _Unsupported(Exception):
    """A schema construct the translation does not cover: that entity reads per record."""


@dataclass(frozen=True)
class _Check:
    """One string format or pattern, over every value at a path in the page's records.

    ``path`` names struct attributes; ``None`` steps into a list's items.
    """

    path: tuple[str | None, ...]
    test: Callable[[str], object]  # the exact per-value test (match or search)
    lines: re.Pattern[str] | None  # the whole column at once, where that is exact

    def ok(self, records: list[Any]) -> bool:
        values: list[Any] = records
        for step in self.path:
            if step is None:
                values = [x for v in values if v is not _UNSET and v is not None for x in v]
            else:
                values = [getattr(v, step) for v in values if v is not _UNSET and v is not None]
        texts = list({v for v in values if isinstance(v, str)})  # each value once
        if not texts:
            return True
        if self.lines is not None:
            joined = "\n".join(texts)
            # exact: no value holds a line break, and no value's match can cross one
            if joined.count("\n") == len(texts) - 1 and self.lines.fullmatch(joined + "\n"):
                return True
        return all(self.test(text) for text in texts)


@dataclass(frozen=True)
class _Field:
    attr: str  # the struct attribute for the JSON property
    type: Any  # its msgspec type
    required: bool


@dataclass(frozen=True)
class _Record:
    """The translated record type: its struct and what describes its properties."""

    struct: Any
    fields: dict[str, _Field]  # JSON property -> attribute, type


class _Translator:
    def __init__(self, defs: dict[str, Any]):
        self.defs = defs
        self.structs: dict[str, _Record] = {}
        self.checks: list[_Check] = []

    def record(self, name: str) -> _Record:
        found = self.structs.get(name)
        if found is None:
            node = self.defs[name]
            if node.get("type") != "object" or not node.get("properties"):
                raise _Unsupported(name)
            found = self._struct(name, node, ())
            self.structs[name] = found
        return found

    def _struct(self, name: str, node: dict[str, Any], path: tuple[str | None, ...]) -> _Record:
        props: dict[str, Any] = node["properties"]
        required = set(node.get("required", ()))
        if not required <= set(props):
            raise _Unsupported(f"{name}: required properties it does not describe")
        extra = node.get("additionalProperties", True)
        if extra not in (True, False):
            raise _Unsupported(f"{name}: additionalProperties as a schema")
        fields: dict[str, _Field] = {}
        spec: list[tuple[str, Any] | tuple[str, Any, Any]] = []
        rename: dict[str, str] = {}
        for prop, sub in props.items():
            attr = prop if prop.isidentifier() and not keyword.iskeyword(prop) else f"{prop}_"
            if not attr.isidentifier() or attr in rename:
                raise _Unsupported(f"{name}.{prop}: not a name")
            rename[attr] = prop
            type_ = self.type(sub, (*path, attr), f"{name}_{attr}")
            fields[prop] = _Field(attr, type_, prop in required)
            spec.append((attr, type_) if prop in required else (attr, type_, _UNSET))
        spec.sort(key=len)  # required (no default) first, as a struct needs
        struct = msgspec.defstruct(name, spec, rename=rename, forbid_unknown_fields=not extra)
        return _Record(struct, fields)

    def type(self, node: Any, path: tuple[str | None, ...], name: str) -> Any:
        if not isinstance(node, dict) or len(path) > 16:  # a reference cycle, too
            raise _Unsupported(str(node))
        node = {k: v for k, v in node.items() if k not in ("description", "$comment")}
        if "$ref" in node:
            if len(node) != 1 or not node["$ref"].startswith("#/$defs/"):
                raise _Unsupported(str(node))
            target = node["$ref"].removeprefix("#/$defs/")
            body = self.defs[target]
            if body.get("type") == "object" and body.get("properties"):
                # a nested record type: its own formats are checked at this path
                return self._struct(f"{name}_{target}", body, path).struct
            return self.type(body, path, name)
        if "anyOf" in node:
            return self._any_of(node, path)
        kind = node.get("type")
        if kind == "string":
            return self._string(node, path)
        if kind == "boolean" and set(node) == {"type"}:
            return bool
        if kind == "integer" and set(node) == {"type"}:
            return int
        if kind == "number" and set(node) == {"type"}:
            return Union[int, float]  # noqa: UP007 - a runtime type for msgspec: ints stay ints
        if kind == "array" and set(node) <= {"type", "items", "minItems"}:
            item = self.type(node.get("items", {}), (*path, None), name) if node.get(
                "items") else Any
            if "minItems" in node:
                return Annotated[list[item], msgspec.Meta(min_length=int(node["minItems"]))]  # type: ignore[valid-type]
            return list[item]  # type: ignore[valid-type]
        if kind == "object":
            if node.get("properties"):
                return self._struct(name, node, path).struct
            if set(node) <= {"type", "properties", "additionalProperties"} and node.get(
                    "additionalProperties", True) is True:
                return dict[str, Any]
        if not node:
            return Any
        raise _Unsupported(str(node)[:80])

    def _string(self, node: dict[str, Any], path: tuple[str | None, ...]) -> Any:
        keys = set(node) - {"type"}
        if keys == {"enum"} and all(isinstance(v, str) for v in node["enum"]):
            return Literal[tuple(node["enum"])]
        if keys == {"format"}:
            fmt = node["format"]
            if fmt in _FORMATS:
                expression = re.compile(_FORMATS[fmt])
                lines = None
                text = _FORMATS[fmt]
                if fmt in _LINE_FORMATS and text.startswith("^") and text.endswith("\\Z"):
                    lines = re.compile(f"(?:{text[1:-2]}\\n)*")
                self.checks.append(_Check(path, expression.match, lines))
            return str  # a format fastjsonschema does not know is not checked by it either
        if keys == {"pattern"}:
            expression = re.compile(DOLLAR_FINDER.sub(r"\\Z", node["pattern"]))
            self.checks.append(_Check(path, expression.search, None))
            return str
        if not keys:
            return str
        raise _Unsupported(str(node)[:80])

    def _any_of(self, node: dict[str, Any], path: tuple[str | None, ...]) -> Any:
        if set(node) != {"anyOf"}:
            raise _Unsupported(str(node)[:80])
        branches = [{k: v for k, v in b.items() if k not in ("description", "$comment")}
                    for b in node["anyOf"]]
        if all(b.get("type") == "string" for b in branches):
            # a vocabulary or its extension: one string, one test of either form
            forms = []
            for b in branches:
                keys = set(b) - {"type"}
                if keys == {"enum"} and all(isinstance(v, str) for v in b["enum"]):
                    forms.append(r"\A(?:" + "|".join(re.escape(v) for v in b["enum"]) + r")\Z")
                elif keys == {"pattern"}:
                    forms.append("(?:" + DOLLAR_FINDER.sub(r"\\Z", b["pattern"]) + ")")
                else:
                    raise _Unsupported(str(b)[:80])
            self.checks.append(_Check(path, re.compile("|".join(forms)).search, None))
            return str
        kinds = [str(b.get("type")) for b in branches]
        if sorted(kinds) == ["boolean", "string"] and all(
                set(b) == {"type"} or (b["type"] == "string" and set(b) == {"type", "enum"})
                for b in branches):
            text = next(b for b in branches if b["type"] == "string")
            return Union[bool, self._string(text, path)]  # noqa: UP007 - a runtime type
        raise _Unsupported(str(node)[:80])


# --- pages to columns ----------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A decoded value as ``json.loads`` gives it: structs as dicts of the properties
    the record has (absent ones, UNSET, are left out)."""
    if isinstance(value, msgspec.Struct | list):
        return msgspec.to_builtins(value)
    return value


@dataclass
class FastPage:
    """A valid page: its records as structs, and how to read their properties."""

    records: list[Any]
    fields: dict[str, _Field]

    def column(self, prop: str) -> list[Any]:
        """A property's values as ``record.get(prop)`` gives them on ``json.loads`` records
        (absent: None), nested structs as dicts."""
        found = self.fields.get(prop)
        if found is None:
            return [None] * len(self.records)
        values = list(map(operator.attrgetter(found.attr), self.records))
        if not found.required:
            values = [None if v is _UNSET else v for v in values]
        return values

    def present(self, prop: str) -> list[bool]:
        """Whether each record has the property (``prop in record``)."""
        found = self.fields.get(prop)
        if found is None:
            return [False] * len(self.records)
        get = operator.attrgetter(found.attr)
        return [get(r) is not _UNSET for r in self.records]


@dataclass(frozen=True)
class Plan:
    decoder: msgspec.json.Decoder[Any]
    record: _Record
    checks: tuple[_Check, ...]

    def page(self, body: bytes) -> FastPage | None:
        try:
            decoded = self.decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        records: list[Any] = decoded.records
        for check in self.checks:
            if not check.ok(records):
                return None
        return FastPage(records, self.record.fields)


def translate(defs: dict[str, Any], dtype: str, collection: str) -> Plan | None:
    """The fast path for pages of ``collection`` holding ``dtype`` records, or None if
    the schema uses what the translation does not cover."""
    translator = _Translator(defs)
    try:
        record = translator.record(dtype)
    except _Unsupported:
        return None
    # the collection's key holds the records; the body's other keys are not read
    page = msgspec.defstruct(f"{dtype}Page", [("records", list[record.struct])],  # type: ignore[name-defined]
                             rename={"records": collection})
    return Plan(msgspec.json.Decoder(page), record, tuple(translator.checks))
