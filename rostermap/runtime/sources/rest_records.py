"""OneRoster REST JSON records: checked against the JSON Schema, then turned into raw columns.

Each record is validated on its own, so one bad record is one report row (entity,
sourcedId, field, reason) and the rest of the sync goes on. The schemas are package
data: the official 1EdTech 1.2 rostering OpenAPI, unchanged, and a 1.1 schema
written for rostermap (1EdTech publishes none; see its ``$comment``).
fastjsonschema compiles them to Python for the per-record check (about 30 times
faster than interpreting the schema); python-jsonschema explains the few records
that fail. Reasons name the field and the rule, never the value: the report
travels further than the data.

Compatibility mode (``--compat``) keeps only the properties the mapping reads (a flaw
in one it never reads costs no record), repairs what minimal providers send and
validates against a relaxed copy of the schema (only sourcedIds required, no
minimum array sizes, extra properties allowed): booleans as 1/0, "TRUE" or JSON
booleans; GUIDRefs without href/type, with a wrong type, or as bare strings; dates
with a time and date-times without one; nulls for missing values; enumerations in
another case and the retired ``inactive`` status (read as ``tobedeleted``, as the
1.2 schema says); records of the other OneRoster version (a "1.2" provider serving
1.2 users under a 1.1 path).

What comes out is text, as from a CSV file, so ``runtime.engine.validate`` types both
sources the same way; arrays stay lists.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fastjsonschema
import msgspec

from rostermap.dsl import schema
from rostermap.dsl import types as t
from rostermap.runtime.sources.rest_fast import FastPage, Plan, plain, translate

if TYPE_CHECKING:
    import jsonschema

__all__ = ["DTYPES", "Chunk", "Reject", "RecordReader", "other_version"]

SCHEMAS = Path(__file__).resolve().parent / "schemas"
_FILES = {
    "1.1": "oneroster-v1p1-rostering.schema.json",
    "1.2": "onerosterv1p2rostersservice_openapi3_v1p0.json",
}
DTYPES = {
    "orgs": "OrgDType",
    "academicSessions": "AcademicSessionDType",
    "courses": "CourseDType",
    "classes": "ClassDType",
    "enrollments": "EnrollmentDType",
    "users": "UserDType",
    "demographics": "DemographicsDType",
}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_AND_MORE = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ]")
_NAIVE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(:\d{2}(\.\d+)?)?)$")
_USER_ID = re.compile(r"^\{([^:{}]*):(.*)\}$")


def other_version(version: str) -> str:
    return "1.1" if version == "1.2" else "1.2"


@dataclass(frozen=True)
class Reject:
    """One record left out: which, where and why (never the value)."""

    entity: str
    sourcedId: str  # the OneRoster name, as report.json spells it
    field: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"entity": self.entity, "sourcedId": self.sourcedId, "field": self.field,
                "reason": self.reason}


# --- schemas -----------------------------------------------------------------------------


@functools.cache
def _defs(version: str) -> dict[str, Any]:
    document = json.loads((SCHEMAS / _FILES[version]).read_text(encoding="utf-8"))
    if version == "1.2":  # an OpenAPI document: its component schemas are plain JSON Schema
        text = json.dumps(document["components"]["schemas"])
        defs: dict[str, Any] = json.loads(text.replace("#/components/schemas/", "#/$defs/"))
        return defs
    return dict(document["$defs"])


def _relax(node: Any) -> Any:
    """The compatibility copy of a schema: only sourcedIds required, no minimum sizes,
    extra properties allowed."""
    if isinstance(node, list):
        return [_relax(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _relax(v) for k, v in node.items() if k not in ("minItems", "additionalProperties")}
    if "required" in out:
        out["required"] = [r for r in out["required"] if r == "sourcedId"]
    return out


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _explain(error: jsonschema.exceptions.ValidationError) -> tuple[str, str]:
    """(field, reason) for a jsonschema error, without quoting the value."""
    where = list(error.absolute_path)
    rule = error.validator
    expected: Any = error.validator_value
    instance = error.instance
    node: Any = error.schema
    if rule == "required" and isinstance(instance, dict):
        missing = [p for p in expected if p not in instance]
        return _path([*where, missing[0] if missing else "?"]), "required, missing"
    if rule == "additionalProperties" and isinstance(instance, dict):
        known = set(node.get("properties", {}) if isinstance(node, dict) else {})
        extra = sorted(p for p in instance if p not in known)
        return _path([*where, extra[0] if extra else "?"]), "not a property of this record"
    if rule == "enum":
        return _path(where), f"not one of {', '.join(map(str, expected))}"
    if rule == "anyOf":
        allowed = [v for sub in expected for v in sub.get("enum", [])]
        pattern = any("pattern" in sub for sub in expected)
        if allowed:
            return _path(where), (f"not one of {', '.join(map(str, allowed))}"
                                  + (" (or ext:...)" if pattern else ""))
        return _path(where), "matches none of the allowed forms"
    if rule == "type":
        kinds = " or ".join(expected) if isinstance(expected, list) else expected
        return _path(where), f"must be {kinds}"
    if rule == "format":
        return _path(where), f"not a valid {expected}"
    if rule == "minItems":
        return _path(where), f"needs at least {expected} item(s)"
    if rule == "pattern":
        return _path(where), f"does not match {expected}"
    return _path(where), f"fails {rule}"


class _Validator:
    """One record type's check: compiled for speed, interpreted to explain failures.

    Both are made when first needed: a source whose pages all pass the one-pass
    reader (``rest_fast``) never imports python-jsonschema nor compiles a schema."""

    def __init__(self, root: dict[str, Any]):
        self._root = root

    @functools.cached_property
    def _fast(self) -> Callable[[Any], Any]:
        compiled: Callable[[Any], Any] = fastjsonschema.compile(self._root)
        return compiled

    @functools.cached_property
    def _full(self) -> jsonschema.Draft202012Validator:
        import jsonschema

        return jsonschema.Draft202012Validator(
            self._root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)

    def ok(self, record: Any) -> bool:
        try:
            self._fast(record)
        except fastjsonschema.JsonSchemaValueException:
            return False
        return True

    def problem(self, record: Any) -> tuple[str, str] | None:
        try:
            self._fast(record)
            return None
        except fastjsonschema.JsonSchemaValueException as fast:
            import jsonschema.exceptions

            best = jsonschema.exceptions.best_match(self._full.iter_errors(record))
            if best is not None:
                return _explain(best)
            # jsonschema checks fewer formats (date-time needs an extra package)
            where = [p for p in (fast.path or [])[1:]]
            text = fast.message.split(" ", 1)[1] if " " in fast.message else fast.message
            return _path(where), text


@functools.cache
def validator(version: str, entity: str, compat: bool) -> _Validator:
    defs = _defs(version)
    if compat:
        defs = _relax(copy.deepcopy(defs))
    return _Validator({"$ref": f"#/$defs/{DTYPES[entity]}", "$defs": defs})


@functools.cache
def _fast_plan(version: str, entity: str) -> Plan | None:
    """The one-pass decoder and check of a page (``rest_fast``), made once per schema."""
    defs = _defs(version)
    return translate(defs, DTYPES[entity], entity) if DTYPES[entity] in defs else None


# --- compatibility repairs ---------------------------------------------------------------


def _bool_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) and value in (0, 1):
        return "true" if value else "false"
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return "true" if value.strip().lower() in ("true", "1") else "false"
    return value


def _ref(value: Any) -> Any:
    if isinstance(value, str | int):
        return {"sourcedId": str(value)}
    if isinstance(value, dict) and "sourcedId" in value:
        return {"sourcedId": value["sourcedId"]}  # href and type are not read
    return value


def _date(value: Any) -> Any:
    if isinstance(value, str):
        match = _DATE_AND_MORE.match(value.strip())
        if match:
            return match.group(1)
    return value


def _datetime(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if _DATE.match(text):
        return f"{text}T00:00:00Z"
    match = _NAIVE_TIME.match(text)
    if match:
        clock = match.group(2) if match.group(3) else f"{match.group(2)}:00"
        return f"{match.group(1)}T{clock}Z"
    return text


def _enum(name: str) -> Callable[[Any], Any]:
    canonical = {v.lower(): v for v in schema.ENUMS[name]}
    if name == "status":
        canonical["inactive"] = "tobedeleted"  # 1.1 retired it; the 1.2 schema says so

    def repair(value: Any) -> Any:
        return canonical.get(value.strip().lower(), value) if isinstance(value, str) else value

    return repair


def _text(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))
    if isinstance(value, float):
        return str(value)
    return value


def _texts(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return [_text(v) for v in value if v is not None]
    return value


def _user_ids(value: Any) -> Any:
    items = value if isinstance(value, list) else [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        return value
    out: list[Any] = []
    for item in items:
        if isinstance(item, str):
            match = _USER_ID.match(item.strip())
            out.append({"type": match.group(1), "identifier": match.group(2)} if match
                       else {"type": "", "identifier": item})
        elif item is not None:
            out.append(item)
    return out


def _repairs(entity: str) -> dict[str, Callable[[Any], Any]]:
    """Property -> repair, for one entity's records (both versions' spellings)."""
    spec = schema.ENTITIES[entity]
    repairs: dict[str, Callable[[Any], Any]] = {}
    for f in spec.fields.values():
        type_ = f.type
        if type_.is_list:
            item = type_.item
            fix: Callable[[Any], Any] = (
                (lambda v: [_ref(x) for x in v] if isinstance(v, list) else v)
                if item is not None and item.entity else _texts)
        elif type_.entity is not None:
            fix = _ref
        elif type_.kind == "bool":
            fix = _bool_text
        elif type_.kind == "date":
            fix = _date
        elif type_.kind == "datetime":
            fix = _datetime
        elif type_.enum is not None:
            fix = _enum(type_.enum)
        else:
            fix = _text
        repairs[f.rest_name] = fix
    if entity == "users":
        repairs["userIds"] = _user_ids
        repairs["primaryOrg"] = _ref
        role_fixes = {"roleType": _enum("roleType"), "role": _enum("role"), "org": _ref,
                      "beginDate": _date, "endDate": _date}

        def roles(value: Any) -> Any:
            if not isinstance(value, list):
                return value
            return [{k: role_fixes.get(k, _text)(v) for k, v in r.items() if v is not None}
                    if isinstance(r, dict) else r for r in value]

        repairs["roles"] = roles
    return repairs


@functools.cache
def _repair_table(entity: str) -> dict[str, Callable[[Any], Any]]:
    return _repairs(entity)


def repair(entity: str, record: dict[str, Any]) -> dict[str, Any]:
    """A minimal provider's record in the shape the schema describes, where that is plain."""
    table = _repair_table(entity)
    return {k: table.get(k, _identity)(v) for k, v in record.items() if v is not None}


def _identity(value: Any) -> Any:
    return value


# --- records to raw columns --------------------------------------------------------------


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return None
    return str(value)


def _ref_id(value: Any) -> str | None:
    if isinstance(value, dict):
        return _as_text(value.get("sourcedId"))
    return _as_text(value)


def _ref_ids(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [i for i in (_ref_id(v) for v in value) if i is not None]


def _text_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [s for s in (_as_text(v) for v in value) if s is not None]
    if isinstance(value, str):
        return value.split(",")
    return []


def _user_id_texts(value: Any) -> list[str]:
    """userIds objects as the CSV binding writes them: ``{type:identifier}``."""
    out = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict):
            kind, ident = _as_text(item.get("type")) or "", _as_text(item.get("identifier")) or ""
            out.append(f"{{{kind}:{ident}}}" if kind else ident)
        elif isinstance(item, str):
            out.append(item)
    return out


def _converter(entity: str, f: schema.Field) -> Callable[[Any], Any]:
    type_: t.Type = f.type
    if type_.kind == "object":
        return _identity  # the metadata object, as the provider sent it
    if entity == "users" and f.name == "userIds":
        return _user_id_texts
    if type_.is_list:
        item = type_.item
        return _ref_ids if item is not None and item.entity else _text_list
    if type_.entity is not None:
        return _ref_id
    return _as_text


ROLE_FIELDS = ("sourcedId", "status", "user", "roleType", "role", "beginDate", "endDate", "org",
               "userProfile")


@dataclass
class Chunk:
    """The records of one page: kept ones as raw columns, rejected ones as report rows."""

    count: int  # records in the page, kept or not
    first: str | None = None  # the first record's sourcedId, kept or not
    index: list[int] = field(default_factory=list)  # position in the page of each kept record
    columns: dict[str, list[Any]] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)
    # users: 1.1-shaped records carry role and orgs, 1.2-shaped ones roles (None: other shape)
    role: list[str | None] = field(default_factory=list)
    orgs: list[list[str] | None] = field(default_factory=list)
    primary_org: list[str | None] = field(default_factory=list)
    roles: list[list[dict[str, str | None]] | None] = field(default_factory=list)
    statuses: list[str | None] = field(default_factory=list)


class RecordReader:
    """Validates one entity's records and extracts the model fields a mapping reads."""

    def __init__(self, entity: str, fields: Iterable[str], version: str, compat: bool):
        self.entity = entity
        self.version = version
        self.compat = compat
        spec = schema.ENTITIES[entity]
        wanted = dict.fromkeys(["sourcedId", *fields])
        self.fields = [spec.fields[name] for name in wanted if name in spec.fields]
        # users' role and orgs come from the record's shape (1.1: role, orgs; 1.2: roles)
        plain = [f for f in self.fields if not (entity == "users" and f.name in ("role", "orgs"))]
        self._plain = [(f.name, f.rest_name, _converter(entity, f)) for f in plain]
        self._check = validator(version, entity, compat)  # compiled when first used
        self._other = validator(other_version(version), entity, compat) if compat else None
        # --compat checks only what the mapping reads: a minimal provider's flaw in a
        # field no rule looks at (a relative href in orgs.children) loses no record.
        self._read = {"sourcedId", "status", "dateLastModified",
                      *(f.rest_name for f in self.fields)}
        if entity == "users":
            self._read |= {"role", "roles", "orgs", "primaryOrg"}

    def read_page(self, body: bytes) -> Chunk | None:
        """A page's chunk in one pass, when its body is JSON whose records are all valid;
        else None, and the page is read with ``read`` (which rejects and explains).

        The chunk is the one ``read`` makes of the same records."""
        if self.compat:
            return None  # repairs come before the check: record by record
        plan = _fast_plan(self.version, self.entity)
        page = plan.page(body) if plan is not None else None
        if page is None:
            return None
        n = len(page.records)
        chunk = Chunk(n, index=list(range(n)))
        if n:
            chunk.first = _as_text(page.column("sourcedId")[0])
        for name, key, convert in self._plain:
            chunk.columns[name] = _fast_column(page, key, convert)
        chunk.statuses = _fast_column(page, "status", _as_text)
        if self.entity == "users":
            self._fast_user_shape(page, chunk)
        return chunk

    def read(self, records: list[Any]) -> Chunk:
        chunk = Chunk(len(records), columns={name: [] for name, _, _ in self._plain})
        if records and isinstance(records[0], dict):
            chunk.first = _as_text(records[0].get("sourcedId"))
        users = self.entity == "users"
        for position, record in enumerate(records):
            if not isinstance(record, dict):
                chunk.rejects.append(Reject(self.entity, "", "", "not a JSON object"))
                continue
            if self.compat:
                record = repair(self.entity, {k: v for k, v in record.items()
                                              if k in self._read})
            problem = self._check.problem(record)
            if problem is not None and self._other is not None and self._other.ok(record):
                problem = None  # the other version's shape, served under this version's path
            if problem is not None:
                ident = record.get("sourcedId")
                chunk.rejects.append(Reject(self.entity, ident if isinstance(ident, str) else "",
                                            *problem))
                continue
            chunk.index.append(position)
            for name, key, convert in self._plain:
                chunk.columns[name].append(convert(record.get(key)))
            chunk.statuses.append(_as_text(record.get("status")))
            if users:
                self._user_shape(record, chunk)
        return chunk

    @staticmethod
    def _user_shape(record: dict[str, Any], chunk: Chunk) -> None:
        roles = record.get("roles")
        if isinstance(roles, list) and "role" not in record:
            chunk.roles.append(_role_rows(roles))
            chunk.role.append(None)
            chunk.orgs.append(None)
            chunk.primary_org.append(_ref_id(record.get("primaryOrg")))
        else:
            orgs = _ref_ids(record.get("orgs"))
            chunk.roles.append(None)
            chunk.role.append(_as_text(record.get("role")))
            chunk.orgs.append(orgs)
            chunk.primary_org.append(orgs[0] if orgs else None)

    @staticmethod
    def _fast_user_shape(page: FastPage, chunk: Chunk) -> None:
        """``_user_shape`` of every record of a valid page, column by column."""
        roles = page.column("roles")
        has_role = page.present("role")
        role = _fast_column(page, "role", _as_text)
        orgs = _fast_column(page, "orgs", _ref_ids)
        primary = _fast_column(page, "primaryOrg", _ref_id)
        for i, listed in enumerate(roles):
            if isinstance(listed, list) and not has_role[i]:
                chunk.roles.append(_role_rows(plain(listed)))
                chunk.role.append(None)
                chunk.orgs.append(None)
                chunk.primary_org.append(primary[i])
            else:
                chunk.roles.append(None)
                chunk.role.append(role[i])
                chunk.orgs.append(orgs[i])
                chunk.primary_org.append(orgs[i][0] if orgs[i] else None)


def _role_rows(roles: list[Any]) -> list[dict[str, str | None]]:
    """A 1.2 user's ``roles`` array as role rows (items that are not objects left out)."""
    return [{"roleType": _as_text(r.get("roleType")), "role": _as_text(r.get("role")),
             "org": _ref_id(r.get("org")), "beginDate": _as_text(r.get("beginDate")),
             "endDate": _as_text(r.get("endDate")),
             "userProfile": _as_text(r.get("userProfile"))}
            for r in roles if isinstance(r, dict)]


def _fast_column(page: FastPage, key: str, convert: Callable[[Any], Any]) -> list[Any]:
    """``[convert(record.get(key)) for record in records]`` for a valid page's structs:
    where the schema's type already makes the conversion a copy (text, a reference's
    sourcedId), without calling it per value."""
    found = page.fields.get(key)
    if found is None:  # not a property of this version's records: absent in every one
        empty = convert(None)
        n = len(page.records)
        return [None] * n if empty is None else [convert(None) for _ in range(n)]
    values = page.column(key)
    kind = _kind(found.type)
    if convert is _identity and kind in ("text", "builtin", "flag"):
        return values
    if convert is _as_text and kind == "text":
        return values
    if convert is _as_text and kind == "flag":
        return [("true" if v else "false") if v.__class__ is bool else v for v in values]
    if convert is _ref_id and kind == "ref":
        return [None if v is None else v.sourcedId for v in values]
    if convert is _ref_ids and kind == "refs":
        return [[] if v is None else [x.sourcedId for x in v] for v in values]
    if convert is _text_list and kind == "texts":
        return [[] if v is None else v for v in values]
    if kind in ("text", "texts", "builtin", "flag"):  # holds no struct: as json.loads made it
        return [convert(v) for v in values]
    return [convert(plain(v)) for v in values]


def _kind(type_: Any) -> str | None:
    """What a translated type guarantees about a value (None: nothing useful here).

    text: a string; flag: a boolean or a string; ref: a struct with a required text
    sourcedId; texts, refs: a list of those; builtin: an object of JSON values."""
    origin = typing.get_origin(type_)
    if origin is typing.Annotated:
        return _kind(typing.get_args(type_)[0])
    if type_ is str or (origin is typing.Literal
                        and all(isinstance(a, str) for a in typing.get_args(type_))):
        return "text"
    if origin is typing.Union:
        kinds = {"flag" if a is bool else _kind(a) for a in typing.get_args(type_)}
        return "flag" if kinds == {"flag", "text"} else None
    if origin is dict and typing.get_args(type_) == (str, Any):
        return "builtin"
    if isinstance(type_, type) and issubclass(type_, msgspec.Struct):
        fields = {f.encode_name: f for f in msgspec.structs.fields(type_)}
        ident = fields.get("sourcedId")
        if ident is not None and ident.required and ident.type is str:
            return "ref"
        return None
    if origin is list:
        item = _kind(typing.get_args(type_)[0])
        return {"text": "texts", "ref": "refs"}.get(item or "")
    return None
