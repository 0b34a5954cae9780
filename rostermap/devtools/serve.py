"""``rostermap serve``: any OneRoster CSV package as a OneRoster 1.1 or 1.2 REST API.

For tests (the suite starts it on a free loopback port and fetches from it over
real HTTP) and for specialists who want to try a profile against "an API" without
a district's credentials. It serves the rostering collections with limit/offset
paging, ``X-Total-Count`` and ``Link`` headers, ``filter``, ``sort``/``orderBy`` and
``fields``, singletons, and the GUIDRef shapes of each version; it authenticates
with OAuth 2 client credentials (its own token endpoint) or OAuth 1.0a signatures
(HMAC-SHA1 and HMAC-SHA256), accepting the credentials in the same environment
variables the client reads.

A 1.1 package is served as 1.2 and the other way round: users' ``role`` and
``orgs`` become a ``roles`` array (each org's role primary there, the first org the
primaryOrg) or are derived from ``roles`` as ``runtime.engine.tables`` derives them;
blank bulk-file statuses become ``active`` and the retired ``inactive``
``tobedeleted``, as the 1.2 schema says; values outside 1.2's vocabularies get
its ``ext:`` prefix. The payloads are valid against the schemas rostermap checks.

It also takes gradebook writes, for push profiles (``rostermap push``): OneRoster's
``PUT /lineItems/{id}``, ``/results/{id}`` and ``/categories/{id}`` (under the 1.1
base and the 1.2 gradebook service's), and PowerSchool SIS's assignment and score
writes (``POST /ws/xte/section/assignment``, which makes the assignment's id,
``PUT /ws/xte/section/assignment/{id}``, ``PUT /ws/xte/score``, a score per
assignment and student, overwritten). What it stored is ``Server.gradebook``; the
status faults and ``reset`` strike writes as they strike reads (``entity=`` the
collection: lineItems, results, categories, assignment, score).

Faults and quirks are switchable, to test clients against real provider behaviour:
``429`` (with Retry-After), ``500``/``502``/``503``/``504``, ``slow`` responses,
``truncate``d bodies and ``bad-json``, connection ``reset``, a body that ``stall``s
half-way with the connection open, or ``trickle``s in a byte at a time (each byte
in time, the whole never), an ``html`` error page with status 200, a ``redirect``
to another host name (``localhost`` for ``127.0.0.1``), ``expire-token`` (early),
``ignore-filter``, ``reject-filter`` (400), ``ignore-offset``, ``cap-page``,
``vary-page`` (each page a size of its own, offsets honoured), ``drop-after-paging``
(a page sliced from the whole collection, then every fifth record left out, as a
provider that filters after paging does) and ``no-count`` headers; and the
shapes of minimal providers (``json-booleans``, ``int-booleans``, ``bare-guidrefs``,
``empty-arrays``, ``datetime-dates``, ``missing-required``, ``nulls``, ``v11-paths``). Built on the
standard library's ThreadingHTTPServer: a web framework would add a dependency and
hide the HTTP details the faults are about.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import json
import logging
import re
import secrets
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rostermap.dsl import codes, schema
from rostermap.runtime.engine.tables import load_tables
from rostermap.runtime.errors import RunError, UsageError
from rostermap.runtime.sources.auth import verify_oauth1
from rostermap.runtime.sources.config import Credentials
from rostermap.runtime.sources.csv_package import open_package
from rostermap.runtime.sources.rest_records import DTYPES, _defs

__all__ = ["FAULTS", "QUIRKS", "Fault", "Gradebook", "Server", "base_path"]

log = logging.getLogger("rostermap.serve")

FAULTS = ("429", "500", "502", "503", "504", "slow", "truncate", "bad-json", "reset",
          "stall", "trickle", "html", "redirect", "expire-token", "ignore-filter",
          "reject-filter", "ignore-offset", "cap-page", "no-count", "vary-page",
          "drop-after-paging")
_STATUS_FAULTS = ("429", "500", "502", "503", "504")
_REQUEST_FAULTS = (*_STATUS_FAULTS, "slow", "truncate", "bad-json", "reset", "stall", "trickle",
                   "html", "redirect")
QUIRKS = ("json-booleans", "int-booleans", "bare-guidrefs", "empty-arrays", "datetime-dates",
          "missing-required", "nulls", "v11-paths")
TOKEN_PATH = "/oauth/token"
# collection -> (the entity it serves, the (property, value) a record of a sub-collection
# such as /students has); the envelope key is the entity's name
_COLLECTIONS: dict[str, tuple[str, tuple[str, str] | None]] = {
    "orgs": ("orgs", None),
    "schools": ("orgs", ("type", "school")),
    "academicSessions": ("academicSessions", None),
    "terms": ("academicSessions", ("type", "term")),
    "gradingPeriods": ("academicSessions", ("type", "gradingPeriod")),
    "courses": ("courses", None),
    "classes": ("classes", None),
    "enrollments": ("enrollments", None),
    "users": ("users", None),
    "students": ("users", ("role", "student")),
    "teachers": ("users", ("role", "teacher")),
    "demographics": ("demographics", None),
}
_PREDICATE = re.compile(r"^\s*([A-Za-z][\w.]*)\s*(!=|>=|<=|=|>|<|~)\s*'([^']*)'\s*$")


def base_path(version: str) -> str:
    return "/ims/oneroster/v1p1" if version == "1.1" else "/ims/oneroster/rostering/v1p2"


@dataclass
class Fault:
    """A switchable fault. ``times``: per distinct request, how many times it strikes
    (0: always); ``value``: Retry-After or delay seconds, page cap, token lifetime."""

    kind: str
    value: float | None = None
    entity: str | None = None
    times: int = 1
    offset: int | None = None  # only the page at this offset

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """``KIND[=VALUE][,entity=NAME][,offset=N][,times=N]``, e.g.
        ``503,entity=users,times=0``."""
        head, *options = [part.strip() for part in spec.split(",")]
        kind, _, value = head.partition("=")
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; faults: {', '.join(FAULTS)}")
        fault = cls(kind, float(value) if value else None)
        for option in options:
            key, _, text = option.partition("=")
            if key == "entity":
                fault.entity = text
            elif key == "times":
                fault.times = int(text)
            elif key == "offset":
                fault.offset = int(text)
            else:
                raise ValueError(f"unknown fault option {key!r} (entity=, offset=, times=)")
        return fault

    def __str__(self) -> str:
        text = self.kind + (f"={self.value:g}" if self.value is not None else "")
        text += f",entity={self.entity}" if self.entity else ""
        text += f",offset={self.offset}" if self.offset is not None else ""
        return text + (f",times={self.times}" if self.times != 1 else "")


# --- records -----------------------------------------------------------------------------


def _vocabulary(version: str, dtype: str, prop: str) -> set[str] | None:
    """The values of an extensible 1.2 enumeration (others take the ``ext:`` prefix)."""
    if version != "1.2":
        return None
    spec: dict[str, Any] = _defs(version)[dtype]["properties"].get(prop, {})
    if "anyOf" not in spec:
        return None
    return {v for sub in spec["anyOf"] for v in sub.get("enum", [])}


def _timestamp(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class _Builder:
    """Typed CSV tables to the JSON records of one OneRoster version."""

    def __init__(self, version: str, base_url: str, served_at: str, quirks: frozenset[str]):
        self.version = version
        self.base_url = base_url
        self.served_at = served_at
        self.quirks = quirks

    def ref(self, entity: str, sourced_id: str) -> dict[str, Any]:
        if "bare-guidrefs" in self.quirks:
            return {"sourcedId": sourced_id}
        return {"href": f"{self.base_url}/{entity}/{sourced_id}", "sourcedId": sourced_id,
                "type": schema.REST_TYPES[entity]}

    def boolean(self, value: bool) -> Any:
        if "int-booleans" in self.quirks:
            return 1 if value else 0
        if "json-booleans" in self.quirks or self.version == "1.1":
            return value
        return "true" if value else "false"

    def date(self, value: dt.date) -> str:
        text = value.isoformat()
        return f"{text}T00:00:00.000Z" if "datetime-dates" in self.quirks else text

    def value(self, entity: str, f: schema.Field, value: Any) -> Any:
        type_ = f.type
        if type_.is_list:
            item = type_.item
            if item is not None and item.entity:
                return [self.ref(item.entity, v) for v in value]
            if entity == "users" and f.name == "userIds":
                out = []
                for text in value:
                    match = re.match(r"^\{([^:{}]*):(.*)\}$", text)
                    out.append({"type": match.group(1), "identifier": match.group(2)} if match
                               else {"type": "", "identifier": text})
                return out
            return list(value)
        if type_.entity is not None:
            return self.ref(type_.entity, value)
        if type_.kind == "bool":
            return self.boolean(value)
        if type_.kind == "date":
            return self.date(value)
        if type_.kind == "datetime":
            return _timestamp(value)
        if type_.kind == "int":
            return str(value)
        if type_.enum is not None:
            allowed = _vocabulary(self.version, DTYPES[entity], f.rest_name)
            if allowed is not None and value not in allowed and not value.startswith("ext:"):
                return f"ext:{value}"
        return value

    def record(self, entity: str, row: dict[str, Any]) -> dict[str, Any]:
        spec = schema.ENTITIES[entity]
        status = row.get("status") or "active"
        out: dict[str, Any] = {
            "sourcedId": row["sourcedId"],
            "status": "tobedeleted" if status == "inactive" else status,
            "dateLastModified": (_timestamp(row["dateLastModified"])
                                 if row.get("dateLastModified") else self.served_at),
        }
        if "datetime-dates" in self.quirks:
            out["dateLastModified"] = out["dateLastModified"][:10]
        for f in spec.fields.values():
            if f.name in ("sourcedId", "status", "dateLastModified"):
                continue
            if self.version not in f.versions or (entity == "users"
                                                  and f.name in ("role", "orgs", "primaryOrg")):
                continue
            value = row.get(f.name)
            if value is None or (isinstance(value, list) and not value):
                if "empty-arrays" in self.quirks and f.type.is_list:
                    out[f.rest_name if self.version == "1.2" else f.name] = []
                elif "nulls" in self.quirks:
                    out[f.rest_name if self.version == "1.2" else f.name] = None
                continue
            key = f.rest_name if self.version == "1.2" else f.name
            out[key] = self.value(entity, f, value)
        if "missing-required" in self.quirks:
            out.pop("dateLastModified", None)
            out.pop("identifier" if entity == "orgs" else "courseCode", None)
        return out

    def user(self, row: dict[str, Any], roles: list[dict[str, Any]] | None) -> dict[str, Any]:
        out = self.record("users", row)
        orgs: list[str] = row.get("orgs") or []
        if self.version == "1.1":
            if row.get("role"):
                out["role"] = row["role"]
            out["orgs"] = [self.ref("orgs", o) for o in orgs]
            return out
        if roles is None:  # a 1.1 package: each org's (only) role is the primary one there
            roles = [{"roleType": "primary", "role": row.get("role"), "org": o} for o in orgs]
        allowed = _vocabulary("1.2", "RoleDType", "role") or set()
        served = []
        for r in roles:
            role = r.get("role") or ""
            item: dict[str, Any] = {
                "roleType": r.get("roleType") or "primary",
                "role": role if role in allowed or role.startswith("ext:") else f"ext:{role}",
                "org": self.ref("orgs", r["org"]),
            }
            for key in ("beginDate", "endDate"):
                if r.get(key) is not None:
                    item[key] = self.date(r[key])
            served.append(item)
        if served or "empty-arrays" in self.quirks:
            out["roles"] = served
        primary = row.get("primaryOrg") or (orgs[0] if orgs else None)
        if primary:
            out["primaryOrg"] = self.ref("orgs", primary)
        return out


def build_records(
    package_path: Path, version: str, base_url: str, quirks: frozenset[str] = frozenset()
) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    """(the package's version, JSON records per entity) for serving as ``version``."""
    package = open_package(package_path)
    try:
        reads = {e: tuple(schema.ENTITIES[e].fields) for e in _entities(package.files)}
        tables = load_tables(package, reads)
        roles_by_user: dict[str, list[dict[str, Any]]] | None = None
        if package.layout == "1.2" and package.has("roles"):
            roles = load_tables(package, {"roles": tuple(schema.ENTITIES["roles"].fields)})
            roles_by_user = {}
            for r in roles.frames["roles"].sort("sourcedId").iter_rows(named=True):
                if (r.get("status") or "") != "tobedeleted":
                    roles_by_user.setdefault(r["user"], []).append(r)
    finally:
        package.close()
    served_at = _timestamp(dt.datetime.now(dt.UTC))
    builder = _Builder(version, base_url, served_at, quirks)
    records: dict[str, list[dict[str, Any]]] = {}
    for entity, frame in tables.frames.items():
        if version not in schema.ENTITIES[entity].versions:
            continue
        rows = frame.drop("__line").iter_rows(named=True)
        if entity == "users":
            records[entity] = [
                builder.user(row, roles_by_user.get(row["sourcedId"], [])
                             if roles_by_user is not None else None) for row in rows]
        else:
            records[entity] = [builder.record(entity, row) for row in rows]
    return package.version, records


def _entities(files: Iterable[str]) -> list[str]:
    return [e for e in files if e in schema.REST_TYPES]


# --- queries -----------------------------------------------------------------------------


class _BadRequest(Exception):
    def __init__(self, minor: str, description: str):
        super().__init__(description)
        self.minor = minor


def _values(record: Any, path: list[str]) -> Iterator[str]:
    """The text values at a dotted path; lists are searched item by item."""
    if not path:
        if isinstance(record, list):
            for item in record:
                yield from _values(item, path)
        elif isinstance(record, bool):
            yield "true" if record else "false"
        elif record is not None:
            yield str(record)
        return
    if isinstance(record, list):
        for item in record:
            yield from _values(item, path)
    elif isinstance(record, dict) and path[0] in record:
        yield from _values(record[path[0]], path[1:])


def _holds(op: str, actual: str, wanted: str) -> bool:
    if op == "=":
        return actual == wanted
    if op == "!=":
        return actual != wanted
    if op == "~":
        return wanted.lower() in actual.lower()
    return {">": actual > wanted, ">=": actual >= wanted, "<": actual < wanted,
            "<=": actual <= wanted}[op]


def _parse_filter(text: str, known: set[str]) -> tuple[str, list[tuple[list[str], str, str]]]:
    """(AND|OR, predicates) of a OneRoster filter: at most two predicates, one operator."""
    joiner = "AND" if " AND " in text else "OR" if " OR " in text else "AND"
    parts = text.split(f" {joiner} ")
    if len(parts) > 2 or (" AND " in text and " OR " in text):
        raise _BadRequest("invalid_filter_field", "at most two predicates, joined by AND or OR")
    predicates = []
    for part in parts:
        match = _PREDICATE.match(part)
        if match is None:
            raise _BadRequest("invalid_filter_field", "a predicate is <field><op>'<value>'")
        path = match.group(1).split(".")
        if path[0] not in known:
            raise _BadRequest("invalid_filter_field", f"unknown field {path[0]}")
        predicates.append((path, match.group(2), match.group(3)))
    return joiner, predicates


def _matches(record: dict[str, Any], joiner: str,
             predicates: list[tuple[list[str], str, str]]) -> bool:
    results = []
    for path, op, wanted in predicates:
        values = list(_values(record, path))
        hit = (all(_holds(op, v, wanted) for v in values) and bool(values)) if op == "!=" else (
            any(_holds(op, v, wanted) for v in values))
        results.append(hit)
    return all(results) if joiner == "AND" else any(results)


# --- the server ---------------------------------------------------------------------------


@dataclass
class _Dataset:
    records: list[dict[str, Any]]
    encoded: list[bytes]
    known: set[str]
    views: dict[tuple[str, ...], list[int]] = field(default_factory=dict)


@dataclass
class Gradebook:
    """What push clients wrote: OneRoster records by collection and sourcedId, and
    PowerSchool assignments by the id this server made, scores by (assignment, student)."""

    oneroster: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    assignments: dict[str, dict[str, Any]] = field(default_factory=dict)
    scores: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    next_id: int = 5001


# collection -> the body's root, for OneRoster gradebook writes
_GRADEBOOK_WRITES = {"lineItems": "lineItem", "results": "result", "categories": "category"}
_GRADEBOOK_BASES = ("/ims/oneroster/v1p1/", "/ims/oneroster/gradebook/v1p2/")
_MAX_WRITE_BYTES = 1024**2


@dataclass
class RequestLog:
    method: str
    path: str
    query: dict[str, str]
    status: int


class Server:
    """The API over one package, on 127.0.0.1. Use as a context manager, or start/stop."""

    def __init__(
        self,
        package: Path,
        version: str | None = None,
        auth: str = "oauth2",
        credentials: Credentials | None = None,
        port: int = 0,
        faults: Iterable[Fault] = (),
        quirks: Iterable[str] = (),
        token_lifetime: float = 3600.0,
    ):
        credentials = credentials or Credentials()
        if auth != "none" and not (credentials.client_id and credentials.client_secret):
            raise UsageError([codes.serve_needs_credentials(auth)])
        unknown = [q for q in quirks if q not in QUIRKS]
        if unknown:
            raise UsageError([codes.unknown_quirk(unknown[0], QUIRKS)])
        self.auth = auth
        self.credentials = credentials
        self.faults: list[Fault] = list(faults)
        self.quirks = frozenset(quirks)
        self.token_lifetime = token_lifetime
        self.requests: list[RequestLog] = []
        self.gradebook = Gradebook()
        self.tokens_issued = 0
        self._lock = threading.Lock()
        self._hits: Counter[tuple[int, str]] = Counter()
        self._tokens: dict[str, tuple[float, float]] = {}  # token -> (expires, issued)
        self._nonces: set[str] = set()
        try:
            self._httpd = _HTTPServer(("127.0.0.1", port), _Handler)
        except OSError as error:
            raise UsageError([codes.cannot_listen(port, error.strerror)]) from None
        self._httpd.app = self
        self.port = self._httpd.server_address[1]
        self.root = f"http://127.0.0.1:{self.port}"
        try:
            self.version = version or _package_version(package)
            self.path = base_path("1.1" if "v11-paths" in self.quirks else self.version)
            self.package_version, records = build_records(package, self.version,
                                                          self.root + self.path, self.quirks)
        except RunError:
            self._httpd.server_close()
            raise
        self.data = {
            e: _Dataset(rs, [json.dumps(r, ensure_ascii=False, separators=(",", ":")).encode()
                             for r in rs], {k for r in rs for k in r})
            for e, rs in records.items()
        }
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return self.root + self.path

    @property
    def token_url(self) -> str:
        return self.root + TOKEN_PATH

    def start(self) -> Server:
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def serve_forever(self) -> None:
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- state shared by the handler threads --------------------------------------------
    def fault(self, kinds: Iterable[str], entity: str | None, key: str,
              offset: str | None) -> Fault | None:
        with self._lock:
            for number, fault in enumerate(self.faults):
                if fault.kind not in kinds or (fault.entity and fault.entity != entity):
                    continue
                if fault.offset is not None and str(fault.offset) != (offset or "0"):
                    continue
                self._hits[(number, key)] += 1
                if fault.times == 0 or self._hits[(number, key)] <= fault.times:
                    return fault
        return None

    def active(self, kind: str, entity: str | None) -> Fault | None:
        for fault in self.faults:
            if fault.kind == kind and (fault.entity is None or fault.entity == entity):
                return fault
        return None

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(24)
        now = time.monotonic()
        with self._lock:
            self._tokens[token] = (now + self.token_lifetime, now)
            self.tokens_issued += 1
        return token

    def token_ok(self, token: str) -> bool:
        """Whether a bearer token is good: issued here and not expired. The
        ``expire-token`` fault revokes tokens that many seconds after issue, early
        (a provider restart, a revocation): the client sees a 401 mid-sync."""
        expiry = self.active("expire-token", None)
        with self._lock:
            state = self._tokens.get(token)
        if state is None:
            return False
        expires = state[0]
        if expiry is not None:
            expires = min(expires, state[1] + (expiry.value if expiry.value is not None
                                               else 1.0))
        return time.monotonic() < expires

    def nonce_fresh(self, nonce: str) -> bool:
        with self._lock:
            if nonce in self._nonces:
                return False
            self._nonces.add(nonce)
            return True

    def record(self, entry: RequestLog) -> None:
        with self._lock:
            self.requests.append(entry)

    def view(self, entity: str, data: _Dataset, params: dict[str, str], collection_test:
             tuple[str, str] | None) -> list[int]:
        """The indices of the records a query selects, in the order it asks for."""
        text = params.get("filter", "")
        if text and self.active("reject-filter", entity):
            raise _BadRequest("invalid_filter_field", "this provider does not support filter")
        if self.active("ignore-filter", entity):
            text = ""
        key = (collection_test[1] if collection_test else "", text, params.get("sort", ""),
               params.get("orderBy", ""))
        with self._lock:
            cached = data.views.get(key)
        if cached is not None:
            return cached
        indices = list(range(len(data.records)))
        if collection_test is not None:
            prop, wanted = collection_test
            indices = [i for i in indices if _role_or_type(data.records[i], prop) == wanted]
        if text:
            joiner, predicates = _parse_filter(text, data.known)
            indices = [i for i in indices if _matches(data.records[i], joiner, predicates)]
        if params.get("sort"):
            path = params["sort"].split(".")
            if path[0] not in data.known:
                raise _BadRequest("invalid_sort_field", f"unknown field {path[0]}")
            indices.sort(key=lambda i: next(_values(data.records[i], path), ""),
                         reverse=params.get("orderBy") == "desc")
        with self._lock:
            data.views[key] = indices
        return indices


def _role_or_type(record: dict[str, Any], prop: str) -> str | None:
    if prop == "role" and "roles" in record:  # 1.2: the primary role
        for r in record["roles"]:
            if r.get("roleType") == "primary":
                return str(r.get("role"))
        return None
    value = record.get(prop)
    return str(value) if value is not None else None


def _package_version(path: Path) -> str:
    package = open_package(path)
    package.close()
    return package.version if package.version != "1.0" else "1.1"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
    app: Server

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a timeout during a `slow` fault) is not an error here;
        # anything else is a bug of the server, logged with its traceback.
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            log.debug("connection from %s ended abruptly", client_address)
        else:
            log.exception("request from %s failed", client_address)


def _write_route(method: str, path: str) -> tuple[str, str | None] | None:
    """(collection, id) of a gradebook write, or None for no such endpoint."""
    for base in _GRADEBOOK_BASES:
        if path.startswith(base):
            parts = path[len(base):].split("/")
            if method == "PUT" and len(parts) == 2 and parts[0] in _GRADEBOOK_WRITES and parts[1]:
                return parts[0], urllib.parse.unquote(parts[1])
            return None
    if method == "POST" and path == "/ws/xte/section/assignment":
        return "assignment", None
    if method == "PUT" and path.startswith("/ws/xte/section/assignment/"):
        return "assignment", urllib.parse.unquote(path.rsplit("/", 1)[1])
    if method == "PUT" and path == "/ws/xte/score":
        return "score", None
    return None


def _store_write(book: Gradebook, collection: str, sourced_id: str | None,
                 body: Any) -> tuple[int, Any, dict[str, str]]:
    """Store one write; (status, answer or error text, headers)."""
    if collection in _GRADEBOOK_WRITES:
        root = _GRADEBOOK_WRITES[collection]
        record = body.get(root) if isinstance(body, dict) else None
        if not isinstance(record, dict):
            return 400, f"the body is not {{\"{root}\": {{...}}}}", {}
        if record.get("sourcedId") != sourced_id:
            return 400, "the body's sourcedId is not the path's", {}
        if collection == "results":
            line_item = (record.get("lineItem") or {}).get("sourcedId")
            if line_item not in book.oneroster.get("lineItems", {}):
                return 404, f"no lineItem {line_item}", {}
        stored = book.oneroster.setdefault(collection, {})
        status = 200 if sourced_id in stored else 201
        stored[str(sourced_id)] = record
        return status, {root: record}, {}
    if collection == "assignment":
        record = body.get("assignment") if isinstance(body, dict) else None
        if not isinstance(record, dict):
            return 400, 'the body is not {"assignment": {...}}', {}
        if sourced_id is None:
            made = str(book.next_id)
            book.next_id += 1
            book.assignments[made] = record
            return 201, {"assignment": {"assignmentid": int(made)}}, {
                "Location": f"/ws/xte/section/assignment/{made}"}
        if sourced_id not in book.assignments:
            return 404, f"no assignment {sourced_id}", {}
        book.assignments[sourced_id] = record
        return 200, {"assignment": {"assignmentid": int(sourced_id)}}, {}
    record = body.get("score") if isinstance(body, dict) else None
    if not isinstance(record, dict):
        return 400, 'the body is not {"score": {...}}', {}
    assignment = str(record.get("assignment_id"))
    if assignment not in book.assignments:
        return 404, f"no assignment {assignment}", {}
    book.scores[(assignment, str(record.get("student_id")))] = record
    return 200, {"score": record}, {}


def _status_body(minor: str, description: str) -> bytes:
    return json.dumps({
        "imsx_codeMajor": "failure", "imsx_severity": "error",
        "imsx_description": description,
        "imsx_CodeMinor": {"imsx_codeMinorField": [
            {"imsx_codeMinorFieldName": "TargetEndSystem", "imsx_codeMinorFieldValue": minor}]},
    }).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm the second waits
    # for the client's delayed ACK (40 ms a response on Linux).
    disable_nagle_algorithm = True
    server: _HTTPServer
    server_version = "rostermap-serve/0.1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        log.info("%s %s", self.address_string(), format % args)

    @property
    def app(self) -> Server:
        return self.server.app

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, minor: str, description: str,
               headers: dict[str, str] | None = None) -> None:
        self._send(status, _status_body(minor, description), headers)

    def _log(self, status: int) -> None:
        split = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        self.app.record(RequestLog(self.command, split.path, query, status))

    # --- token endpoint -------------------------------------------------------------
    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        if urllib.parse.urlsplit(self.path).path != TOKEN_PATH:
            self._write()
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        if self.app.auth != "oauth2":
            self._log(404)
            self._error(404, "unknownobject", "no such endpoint")
            return
        form = dict(urllib.parse.parse_qsl(body))
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        header = self.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:]).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ":"
            client_id, _, client_secret = decoded.partition(":")
            client_id = urllib.parse.unquote(client_id)
            client_secret = urllib.parse.unquote(client_secret)
        c = self.app.credentials
        good = hmac.compare_digest(client_id, c.client_id) and hmac.compare_digest(
            client_secret, c.client_secret)
        if form.get("grant_type") != "client_credentials":
            self._log(400)
            self._send(400, b'{"error":"unsupported_grant_type"}')
        elif not good:
            self._log(401)
            self._send(401, b'{"error":"invalid_client"}',
                       {"WWW-Authenticate": 'Basic realm="rostermap"'})
        else:
            token = self.app.issue_token()
            self._log(200)
            self._send(200, json.dumps({
                "access_token": token, "token_type": "bearer",
                "expires_in": int(self.app.token_lifetime),
                "scope": form.get("scope", ""),
            }).encode(), {"Cache-Control": "no-store"})

    # --- gradebook writes ------------------------------------------------------------
    def do_PUT(self) -> None:  # noqa: N802 - the stdlib's name
        self._write()

    def _write(self) -> None:
        """A push client's write: routed, authorized, faulted, checked, then stored."""
        app = self.app
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_WRITE_BYTES:
            self.close_connection = True
            self._log(413)
            self._error(413, "invaliddata", "the body is too large")
            return
        raw = self.rfile.read(length)
        path = urllib.parse.urlsplit(self.path).path
        route = _write_route(self.command, path)
        if route is None:
            self._log(404)
            self._error(404, "unknownobject", f"no write endpoint {self.command} {path}")
            return
        why = self._authorized()
        if why is not None:
            self._log(401)
            self._error(401, "unauthorisedrequest", why)
            return
        collection, sourced_id = route
        fault = app.fault((*_STATUS_FAULTS, "reset"), collection, f"{self.command} {path}",
                          None)
        if fault is not None and self._inject(fault):
            return
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            self._log(400)
            self._error(400, "invaliddata", "the body is not JSON")
            return
        with app._lock:
            status, answer, headers = _store_write(app.gradebook, collection, sourced_id, body)
        self._log(status)
        if status >= 400:
            self._error(status, "invaliddata" if status == 400 else "unknownobject",
                        str(answer))
        else:
            self._send(status, json.dumps(answer).encode(), headers)

    # --- data endpoints -------------------------------------------------------------
    def _authorized(self) -> str | None:
        """Why the request is not authorized, or None."""
        app = self.app
        header = self.headers.get("Authorization", "")
        if app.auth == "oauth2":
            if not header.lower().startswith("bearer "):
                return "a bearer token is required"
            return None if app.token_ok(header[7:].strip()) else "the token is invalid or expired"
        if app.auth == "oauth1":
            uri = f"http://{self.headers.get('Host', f'127.0.0.1:{app.port}')}{self.path}"
            c = app.credentials
            why, nonce = verify_oauth1(self.command, uri, {"Authorization": header},
                                       c.client_id, c.client_secret)
            if why is not None:
                return why
            if not app.nonce_fresh(nonce):
                return "the nonce was used before"
        return None

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        try:
            self._get()
        except _BadRequest as error:
            self._log(400)
            self._error(400, error.minor, str(error))

    def _get(self) -> None:
        app = self.app
        split = urllib.parse.urlsplit(self.path)
        params = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        if not split.path.startswith(app.path + "/"):
            self._log(404)
            self._error(404, "unknownobject", "no such endpoint")
            return
        parts = split.path[len(app.path) + 1:].split("/")
        collection = parts[0]
        if collection not in _COLLECTIONS or len(parts) > 2:
            self._log(404)
            self._error(404, "unknownobject", f"no collection {collection}")
            return
        entity, test = _COLLECTIONS[collection]
        why = self._authorized()
        if why is not None:
            self._log(401)
            self._error(401, "unauthorisedrequest", why,
                        {"WWW-Authenticate": 'Bearer error="invalid_token"'}
                        if app.auth == "oauth2" else None)
            return
        key = f"{split.path}?{urllib.parse.urlencode(sorted(params.items()))}"
        fault = app.fault(_REQUEST_FAULTS, entity, key, params.get("offset"))
        if fault is not None and self._inject(fault):
            return
        data = app.data.get(entity)
        if data is None:
            self._log(404)
            self._error(404, "unknownobject", f"this package has no {entity}")
            return
        if len(parts) == 2:
            self._singleton(entity, data, parts[1])
            return
        self._collection(entity, collection, data, params, test)

    def _inject(self, fault: Fault) -> bool:
        """Apply a request fault; False when the request then goes on (``slow``)."""
        if fault.kind in _STATUS_FAULTS:
            headers = {"Retry-After": f"{fault.value:g}"} if fault.value is not None else (
                {"Retry-After": "1"} if fault.kind == "429" else {})
            self._log(int(fault.kind))
            minor = "server_busy" if fault.kind == "429" else "internal_server_error"
            self._error(int(fault.kind), minor, f"injected fault {fault.kind}", headers)
            return True
        if fault.kind == "slow":
            time.sleep(fault.value if fault.value is not None else 2.0)
            return False
        if fault.kind == "redirect":  # the same request, on another host name
            self._log(302)
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{self.app.port}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return True
        self._log(200)
        if fault.kind == "html":  # a proxy's or a portal's error page, with status 200
            page = (b"<!DOCTYPE html>\n<html><head><title>Down for maintenance</title></head>"
                    b"<body><h1>We'll be back soon</h1></body></html>\n")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return True
        if fault.kind == "reset":
            self.close_connection = True
            return True
        body = b'{"users":[{"sourcedId":"x","status":"active"},' * 50
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        if fault.kind == "truncate":  # the body stops half-way and the connection closes
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
        elif fault.kind in ("stall", "trickle"):
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            if fault.kind == "stall":  # then nothing, the connection open, for VALUE seconds
                time.sleep(fault.value if fault.value is not None else 30.0)
            else:  # then a byte every VALUE seconds: each in time, the body never complete
                for i in range(len(body) // 2, len(body) - 1):
                    time.sleep(fault.value if fault.value is not None else 0.1)
                    self.wfile.write(body[i: i + 1])
                    self.wfile.flush()
            self.close_connection = True
        else:  # bad-json: a complete response whose JSON is cut short
            self.send_header("Content-Length", str(len(body) // 2))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
        return True

    def _singleton(self, entity: str, data: _Dataset, sourced_id: str) -> None:
        wanted = urllib.parse.unquote(sourced_id)
        for record, encoded in zip(data.records, data.encoded, strict=True):
            if record.get("sourcedId") == wanted:
                key = schema.REST_TYPES[entity]
                self._log(200)
                self._send(200, b'{"' + key.encode() + b'":' + encoded + b"}")
                return
        self._log(404)
        self._error(404, "unknownobject", f"no {schema.REST_TYPES[entity]} {wanted}")

    def _collection(self, entity: str, collection: str, data: _Dataset,
                    params: dict[str, str], test: tuple[str, str] | None) -> None:
        app = self.app
        try:
            limit = int(params.get("limit", "100"))
            offset = int(params.get("offset", "0"))
        except ValueError:
            raise _BadRequest("invaliddata", "limit and offset are whole numbers") from None
        if limit < 1 or offset < 0:
            raise _BadRequest("invaliddata", "limit >= 1 and offset >= 0")
        if app.active("ignore-offset", entity):
            offset = 0
        cap = app.active("cap-page", entity)
        if cap is not None:
            limit = min(limit, int(cap.value or 100))
        if app.active("vary-page", entity) is not None:
            limit = max(1, min(limit, (offset * 7919 + 13) % limit + 1))  # fixed, not random
        indices = app.view(entity, data, params, test)
        chosen = indices[offset: offset + limit]
        if app.active("drop-after-paging", entity) is not None:
            chosen = [i for n, i in enumerate(chosen) if (offset + n) % 5 != 4]
        if params.get("fields"):
            names = [n.strip() for n in params["fields"].split(",") if n.strip()]
            unknown = [n for n in names if n not in data.known]
            if unknown:
                raise _BadRequest("invalid_selection_field", f"unknown field {unknown[0]}")
            items = [json.dumps({n: data.records[i][n] for n in names if n in data.records[i]},
                                separators=(",", ":")).encode() for i in chosen]
        else:
            items = [data.encoded[i] for i in chosen]
        body = b'{"' + entity.encode() + b'":[' + b",".join(items) + b"]}"
        headers: dict[str, str] = {}
        if app.active("no-count", entity) is None:
            headers["X-Total-Count"] = str(len(indices))
            links = []
            here = f"{app.root}{app.path}/{collection}"
            others = {k: v for k, v in params.items() if k not in ("limit", "offset")}

            def link(at: int, rel: str) -> str:
                query = urllib.parse.urlencode({**others, "limit": limit, "offset": at})
                return f'<{here}?{query}>; rel="{rel}"'

            if offset + limit < len(indices):
                links.append(link(offset + limit, "next"))
                last = ((len(indices) - 1) // limit) * limit
                links.append(link(last, "last"))
            if offset > 0:
                links.append(link(max(0, offset - limit), "prev"))
            links.append(link(0, "first"))
            headers["Link"] = ", ".join(links)
        self._log(200)
        self._send(200, body, headers)
