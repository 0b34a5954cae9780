"""Fetch a mapping's records from a OneRoster REST API, the way providers really behave.

Only the collections the compiled mapping reads (its ``READS``) are requested, with
its ``FILTERS`` pushed down as the ``filter`` parameter where the OneRoster filter
grammar can say them (at most two predicates joined by one AND or OR). Paging is
limit/offset: the first page alone, then up to ``concurrency`` pages ahead. A page
is the last when it is empty, or short and the ``X-Total-Count`` and ``Link``
headers (when sent) do not say there is more; a short page without either header
is confirmed by one more request, so a provider that silently caps the page size
(PowerSchool's plugin default) loses nothing. Offsets advance by the records
received, never by the size asked for.

Requests go through one httpx client (HTTP/1.1 unless asked), bounded in
concurrency and rate per host, with timeouts between bytes and a deadline for the
whole request, and retried with exponential backoff and jitter on connection
errors, truncated or invalid bodies, HTML pages served as 200, 429 and 500/502/
503/504, waiting as long as ``Retry-After`` says. Redirects are followed only to
the same origin or to hosts the settings list, since credentials go along. A
collection that cannot be fetched completely fails the run (RM448 and the cause):
an incomplete roster is never written, so no user silently disappears because a
page failed.

Records are validated and reduced to raw columns page by page as they arrive
(``rest_records``), and handed to ``runtime.engine.tables`` exactly as a CSV package's
are, so the integrity checks and 1.2 role derivation are the same code.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import json
import logging
import random
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import polars as pl

from rostermap.dsl import codes, schema
from rostermap.dsl.diagnostics import Diagnostic
from rostermap.runtime import redact
from rostermap.runtime.errors import RunError, UsageError
from rostermap.runtime.sources.auth import AuthError, OAuth2ClientCredentials, make_auth
from rostermap.runtime.sources.config import FetchOptions, SourceConfig
from rostermap.runtime.sources.raw import LINE, RawTable, is_url
from rostermap.runtime.sources.rest_records import ROLE_FIELDS, Chunk, RecordReader, Reject

__all__ = [
    "EntityStats",
    "FetchObserver",
    "RestSource",
    "check_url",
    "filter_expression",
    "is_url",
    "open_rest",
    "version_of",
]

log = logging.getLogger("rostermap.rest")
USER_AGENT = "rostermap/0.1.0"
RETRYABLE = frozenset({429, 500, 502, 503, 504})
_MAX_REDIRECTS = 5
_VERSION_IN_PATH = re.compile(r"/v1p([12])(?=/|$)")


class FetchObserver(Protocol):
    """Told what fetching does, for a progress display. Every method is optional work."""

    def start(self, entity: str, path: str) -> None: ...

    def total(self, entity: str, records: int) -> None: ...

    def page(self, entity: str, records: int) -> None: ...

    def retry(self, entity: str) -> None: ...

    def done(self, entity: str) -> None: ...


class _Quiet:
    def start(self, entity: str, path: str) -> None: ...

    def total(self, entity: str, records: int) -> None: ...

    def page(self, entity: str, records: int) -> None: ...

    def retry(self, entity: str) -> None: ...

    def done(self, entity: str) -> None: ...


@dataclass
class EntityStats:
    """How one collection was fetched; the ``fetch`` section of report.json."""

    path: str
    filter: str | None = None
    records: int = 0
    rejected: int = 0
    pages: int = 0
    requests: int = 0
    retries: int = 0
    page_size: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "filter": self.filter, "records": self.records,
                "rejected": self.rejected, "pages": self.pages, "requests": self.requests,
                "retries": self.retries, "page_size": self.page_size,
                "seconds": round(self.seconds, 3)}


class _Failed(Exception):
    """A request or collection that cannot complete; carries its diagnostic."""

    def __init__(self, diagnostic: Diagnostic, status: int | None = None):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic
        self.status = status  # the HTTP status that ended it, when one did


# --- URLs --------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str = "--source") -> httpx.URL:
    """The URL, if it is https (or http to a loopback address) and holds no credentials."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise UsageError([codes.invalid_url(what)]) from None
    if parsed.userinfo:
        redact.register(parsed.password)
        raise UsageError([codes.credentials_in_url(what)])
    if parsed.scheme == "https" or (parsed.scheme == "http" and _is_loopback(parsed.host)):
        return parsed
    raise UsageError([codes.not_https(what, parsed.scheme, parsed.host)])


def version_of(url: httpx.URL, options: FetchOptions) -> str:
    """The OneRoster version: from the URL's ``v1p1``/``v1p2``, or the ``version`` setting."""
    if options.version:
        return options.version
    found = _VERSION_IN_PATH.findall(url.path)
    if found:
        return f"1.{found[-1]}"
    raise UsageError([codes.version_not_in_url(url.path)])


def filter_expression(entity: str, conjunction: Mapping[str, Iterable[str]]) -> str | None:
    """The OneRoster ``filter`` for a FILTERS conjunction, or None if it cannot be said.

    A missing status cannot be filtered for, but the REST binding requires status,
    so "" is dropped there; for other fields a missing value leaves the field out.
    The grammar allows two predicates with one AND or OR: single values are ANDed
    (status first), else one field's two values are ORed.
    """
    spec = schema.ENTITIES[entity]
    atoms: list[tuple[str, list[str]]] = []
    for name in sorted(conjunction, key=lambda n: (n != "status", n)):
        values = sorted(set(conjunction[name]) - ({""} if name == "status" else set()))
        if not values or "" in values or any("'" in v for v in values):
            continue
        atoms.append((spec.fields[name].rest_name, values))
    singles = [f"{key}='{values[0]}'" for key, values in atoms if len(values) == 1]
    if singles:
        return " AND ".join(singles[:2])
    pairs = [(key, values) for key, values in atoms if len(values) == 2]
    if pairs:
        key, values = pairs[0]
        return " OR ".join(f"{key}='{v}'" for v in values)
    return None


# --- one request, retried ---------------------------------------------------------------


class _RateLimiter:
    """At most ``rate`` request starts per second (0: no limit), spaced evenly."""

    def __init__(self, rate: float):
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self._interval:
            return
        loop = asyncio.get_running_loop()
        async with self._lock:
            now = loop.time()
            slot = max(now, self._next)
            self._next = slot + self._interval
        if slot > now:
            await asyncio.sleep(slot - now)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _is_html(response: httpx.Response) -> bool:
    """A web page where JSON was expected: a login, error or maintenance page."""
    kind = response.headers.get("Content-Type", "").lower()
    return "html" in kind or response.content.lstrip()[:1] == b"<"


def _imsx(response: httpx.Response) -> str | None:
    """The provider's own words about a failure (imsx_description), shortened."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict):
        text = body.get("imsx_description") or body.get("error_description") or body.get("error")
        if isinstance(text, str) and text.strip():
            return text.strip()[:120]
    return None


@dataclass
class _Page:
    offset: int
    limit: int
    chunk: Chunk
    total: int | None  # X-Total-Count
    has_next: bool | None  # a Link rel="next" (None: no Link header)

    @property
    def n(self) -> int:
        return self.chunk.count

    def final(self, end: int) -> bool:
        """Whether a short page ending at ``end`` is the last one."""
        if self.total is None and self.has_next is None:
            return False  # no header to agree with: confirm with one more request
        more = (self.total is not None and self.total > end) or bool(self.has_next)
        return not more


class _Client:
    """The HTTP side of one source: client, auth, concurrency, rate, retries."""

    def __init__(self, base: httpx.URL, config: SourceConfig, observer: FetchObserver):
        self.base = base
        self.options = config.options
        self.observer = observer
        o = self.options
        timeout = httpx.Timeout(o.timeout)
        limits = httpx.Limits(max_connections=o.concurrency,
                              max_keepalive_connections=o.concurrency)
        try:
            self.token_http = httpx.AsyncClient(timeout=timeout, http2=o.http2,
                                                headers={"User-Agent": USER_AGENT})
        except ImportError:
            raise UsageError([codes.http2_unavailable()]) from None
        self.auth = make_auth(config.credentials, self.token_http)
        self.http = httpx.AsyncClient(
            auth=self.auth, timeout=timeout, limits=limits, http2=o.http2,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
        )
        self.semaphore = asyncio.Semaphore(o.concurrency)
        self.limiter = _RateLimiter(o.rate)

    async def close(self) -> None:
        await self.http.aclose()
        await self.token_http.aclose()

    def _origin(self) -> str:
        base = httpx.URL(str(self.base))
        return f"{base.host}:{base.port}" if base.port else str(base.host)

    def _where(self, url: str, params: Mapping[str, Any]) -> str:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        path = url[len(str(self.base).rstrip("/")):] or "/"
        return f"GET {path}?{query}" if query else f"GET {path}"

    async def _fetch(self, url: str, params: Mapping[str, Any], where: str) -> httpx.Response:
        """One GET, whole within the deadline, following only the redirects allowed:
        to the same origin, or to a host listed in ``redirect_hosts``, over https (or
        http to a loopback address). Anywhere else the request's credentials would
        follow it, so the request fails (RM456) instead."""
        o = self.options
        allowed = {h.strip().lower() for h in o.redirect_hosts.split(",") if h.strip()}
        async with asyncio.timeout(o.deadline):
            response = await self.http.get(url, params=params)
            for _ in range(_MAX_REDIRECTS):
                if not response.is_redirect:
                    return response
                here = response.url
                target = here.join(response.headers["Location"])
                same = (target.scheme, target.host, target.port) == (here.scheme, here.host,
                                                                      here.port)
                safe = target.scheme == "https" or (target.scheme == "http"
                                                    and _is_loopback(target.host))
                if not (same or target.host.lower() in allowed) or not safe or target.userinfo:
                    raise _Failed(codes.redirect_refused(where, target.scheme, target.host))
                response = await self.http.get(target)
        raise _Failed(codes.too_many_redirects(where, _MAX_REDIRECTS))

    async def get(self, entity: str, url: str, params: Mapping[str, Any],
                  stats: EntityStats, reader: RecordReader) -> tuple[Chunk, httpx.Headers]:
        """The collection's records on one page, read by ``reader``, retried until the
        page comes or cannot.

        Each failed attempt words the diagnostic the request ends with if it is the
        last; the retry's log line says the same.
        """
        o = self.options
        where = self._where(url, params)
        attempt = 0
        while True:
            attempt += 1
            wait: float | None = None
            try:
                async with self.semaphore:
                    await self.limiter.wait()
                    stats.requests += 1
                    response = await self._fetch(url, params, where)
            except TimeoutError:  # the deadline, not httpx's timeout between bytes
                failed = codes.no_complete_response(where, attempt, o.deadline)
            except AuthError as error:
                if not error.retryable:
                    raise _Failed(codes.token_refused(where, str(error))) from None
                # the token endpoint is unreachable or busy
                failed = codes.token_endpoint_unavailable(where, attempt, str(error))
            except httpx.TimeoutException as error:
                failed = codes.timed_out(where, attempt, type(error).__name__)
            except httpx.RemoteProtocolError:
                failed = codes.response_cut_short(where, attempt)
            except httpx.TransportError as error:
                failed = codes.cannot_connect(where, attempt, self._origin(),
                                              type(error).__name__)
            else:
                status = response.status_code
                if status == 200 and _is_html(response):
                    failed = codes.html_page(where, attempt)
                elif status == 200:
                    # a valid page in one pass; anything else record by record, as JSON
                    # the standard library reads (it decides what is invalid JSON)
                    chunk = reader.read_page(response.content)
                    if chunk is not None:
                        return chunk, response.headers
                    try:
                        body = json.loads(response.content)
                    except ValueError:
                        failed = codes.invalid_json(where, attempt)
                    else:
                        records = body.get(entity) if isinstance(body, dict) else None
                        if isinstance(records, list):
                            return reader.read(records), response.headers
                        raise _Failed(codes.no_collection(where, entity))
                elif status in (401, 403):
                    raise _Failed(codes.credentials_refused(where, status, _imsx(response)))
                elif status == 404:
                    raise _Failed(codes.collection_not_found(where, entity))
                elif status in RETRYABLE:
                    failed = codes.provider_busy(where, attempt, status, _imsx(response))
                    wait = _retry_after(response)
                else:
                    raise _Failed(codes.request_refused(where, status, _imsx(response)), status)
            if attempt > o.retries:
                raise _Failed(failed)
            if wait is not None and wait > o.max_retry_after:
                raise _Failed(codes.retry_after_too_long(where, wait, o.max_retry_after))
            if wait is None:
                step = min(o.max_backoff, o.backoff * 2 ** (attempt - 1))
                wait = step / 2 + random.uniform(0, step / 2)
            stats.retries += 1
            self.observer.retry(entity)
            log.info("%s; retry %d of %d in %.2fs", failed.message, attempt, o.retries, wait)
            await asyncio.sleep(wait)


# --- one collection -----------------------------------------------------------------------


@dataclass
class _Collected:
    entity: str
    pages: list[_Page]
    stats: EntityStats
    warnings: list[Diagnostic] = field(default_factory=list)


async def _collection(client: _Client, entity: str, reader: RecordReader,
                      filter_: str | None, stats: EntityStats) -> _Collected:
    """Every page of one collection; without the filter if the provider refuses it.

    Some providers answer 400 to a ``filter`` they do not support: the filter only
    saves bandwidth (the rules filter anyway), so the collection is read without it.
    """
    client.observer.start(entity, stats.path)
    try:
        return await _pages(client, entity, reader, filter_, stats)
    except _Failed as failure:
        if filter_ is None or failure.status != 400 or stats.pages:
            raise
    stats.filter = None
    collected = await _pages(client, entity, reader, None, stats)
    collected.warnings.append(codes.filter_refused(stats.path, filter_))
    return collected


async def _pages(client: _Client, entity: str, reader: RecordReader,
                 filter_: str | None, stats: EntityStats) -> _Collected:
    """Every page of one collection, in order; see the module docstring for the rules."""
    o = client.options
    url = f"{str(client.base).rstrip('/')}/{entity}"
    base_params: dict[str, Any] = {"filter": filter_} if filter_ else {}
    limit = o.page_size
    warnings: list[Diagnostic] = []
    received: dict[int, _Page] = {}
    running: dict[int, asyncio.Task[_Page]] = {}
    chain: list[_Page] = []
    frontier, total, short_before = 0, None, None
    firsts: dict[str, int] = {}  # first sourcedId of each page -> its offset
    started = time.perf_counter()

    async def fetch(offset: int, size: int) -> _Page:
        params = {**base_params, "limit": size, "offset": offset}
        chunk, headers = await client.get(entity, url, params, stats, reader)
        count = headers.get("X-Total-Count")
        links = headers.get("Link")
        has_next = None
        if links is not None:
            has_next = any('rel="next"' in part or "rel=next" in part
                           for part in links.split(","))
        stats.pages += 1
        client.observer.page(entity, chunk.count)
        total = int(count) if count is not None and count.strip().isdigit() else None
        return _Page(offset, size, chunk, total, has_next)

    try:
        while True:
            done = False
            while frontier in received:
                page = received.pop(frontier)
                chain.append(page)
                if page.chunk.first is not None:
                    seen = firsts.setdefault(page.chunk.first, page.offset)
                    if seen != page.offset:  # else the loop would never see an empty page
                        raise _Failed(codes.offset_ignored(stats.path, seen, page.offset))
                if page.total is not None:
                    if total is None:
                        client.observer.total(entity, page.total)
                    total = page.total
                if page.n == 0:
                    done = True
                    break
                if short_before is not None:  # a short page, and records after it: a cap
                    if short_before < limit:
                        warnings.append(codes.page_size_capped(stats.path, short_before, limit))
                        limit = short_before
                    short_before = None
                frontier += page.n
                if frontier > o.max_records:  # a provider that pages on for ever
                    raise _Failed(codes.too_many_fetched(stats.path, o.max_records))
                if page.n < page.limit:
                    if page.final(frontier):
                        done = True
                        break
                    short_before = page.n
            if done:
                break
            wanted = [frontier]
            if chain:  # after the first page, fetch ahead
                ahead = frontier + limit
                while len(wanted) < o.concurrency and (total is None or ahead < total):
                    wanted.append(ahead)
                    ahead += limit
            for offset in wanted:
                if offset not in running and offset not in received:
                    running[offset] = asyncio.create_task(fetch(offset, limit))
            finished, _ = await asyncio.wait(running.values(),
                                             return_when=asyncio.FIRST_COMPLETED)
            for offset, task in list(running.items()):
                if task in finished:
                    del running[offset]
                    received[offset] = task.result()
    finally:
        for task in running.values():
            task.cancel()
        await asyncio.gather(*running.values(), return_exceptions=True)
    fetched = sum(p.n for p in chain)
    if total is not None and fetched < total:
        raise _Failed(codes.fewer_than_announced(stats.path, total, fetched))
    _served_once(chain, stats.path)
    stats.records = fetched
    stats.rejected = sum(len(p.chunk.rejects) for p in chain)
    stats.page_size = limit
    stats.seconds = time.perf_counter() - started
    client.observer.done(entity)
    return _Collected(entity, chain, stats, warnings)


def _served_once(chain: list[_Page], path: str) -> None:
    """Refuse a collection whose pages repeat a record: a provider whose pages overlap
    (a page size it changes, a filter applied after paging) skips records as readily,
    so the collection is not whole, whatever the count says."""
    ids = pl.Series("id", [i for page in chain for i in page.chunk.columns["sourcedId"]],
                    pl.String)
    if ids.is_unique().all():
        return
    positions = [page.offset + i for page in chain for i in page.chunk.index]
    repeated = ids.filter(ids.is_duplicated())[0]
    first, again = (positions[int(i)] for i in (ids == repeated).arg_true()[:2])
    raise _Failed(codes.served_twice(path, str(repeated), first + 1, again + 1))


# --- the source ----------------------------------------------------------------------------


def _frame(columns: Mapping[str, list[Any]], lines: list[int], entity: str) -> pl.DataFrame:
    spec = schema.ENTITIES[entity]
    data: dict[str, pl.Series] = {LINE: pl.Series(LINE, lines, dtype=pl.Int64)}
    for name, values in columns.items():
        dtype = pl.List(pl.String) if spec.fields[name].type.is_list else pl.String
        data[name] = pl.Series(name, values, dtype=dtype)
    return pl.DataFrame(data)


@dataclass
class RestSource:
    """A fetched REST source, read like a CSV package by ``runtime.engine.tables``."""

    origin: str
    version: str
    layout_: str
    tables: dict[str, RawTable]
    files: dict[str, str]
    stats: dict[str, EntityStats]
    rejects: list[Reject]
    filtered: frozenset[str]
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def layout(self) -> str:
        return self.layout_

    def has(self, entity: str) -> bool:
        return entity in self.tables

    def read(self, entity: str, fields: Iterable[str]) -> RawTable:
        raw = self.tables[entity]
        wanted = list(dict.fromkeys(fields))
        frame = raw.frame.select(
            pl.col(LINE),
            *(pl.col(f) if f in raw.frame.columns else pl.lit(None, dtype=pl.String).alias(f)
              for f in wanted),
        )
        return RawTable(entity, raw.file, frame,
                        {f: c for f, c in raw.columns.items() if f in wanted})

    def close(self) -> None:
        return None

    def report(self) -> dict[str, Any]:
        return {entity: s.to_dict() for entity, s in sorted(self.stats.items())}


def _assemble(collected: _Collected, reader: RecordReader, layout: str,
              tables: dict[str, RawTable]) -> None:
    """The raw tables of one fetched collection (users: also roles, in the 1.2 layout)."""
    entity = collected.entity
    path = collected.stats.path
    lines: list[int] = []
    columns: dict[str, list[Any]] = {f.name: [] for f in reader.fields}
    shape: dict[str, list[Any]] = {"role": [], "orgs": [], "primary_org": [], "roles": []}
    start = 0
    for page in collected.pages:
        chunk = page.chunk
        lines.extend(start + i + 1 for i in chunk.index)
        for name, values in chunk.columns.items():
            columns[name].extend(values)
        for key in shape:
            shape[key].extend(getattr(chunk, key))
        start += chunk.count
    names = {f.name: f.rest_name for f in reader.fields}
    if entity == "users":
        for derived in ("role", "orgs"):
            columns.pop(derived, None)
        if layout == "1.1":
            wanted = {f.name for f in reader.fields}
            if "role" in wanted:
                columns["role"] = shape["role"]
            if "orgs" in wanted:
                columns["orgs"] = [o or [] for o in shape["orgs"]]
        else:
            names = {n: r for n, r in names.items() if n not in ("role", "orgs")}
            columns["primaryOrg"] = shape["primary_org"]
            names["primaryOrg"] = "primaryOrg"
            tables["roles"] = _roles(columns["sourcedId"], lines, shape, path)
    tables[entity] = RawTable(entity, path, _frame(columns, lines, entity),
                              {n: names.get(n, n) for n in columns})


def _roles(users: list[str | None], lines: list[int], shape: Mapping[str, list[Any]],
           path: str) -> RawTable:
    """1.2 roles from users' ``roles`` arrays (1.1-shaped users: one primary role per org).

    Roles have no sourcedId in the REST binding; each gets ``<user>/roles/<n>``, which
    sorts in array order, so ties are broken as a CSV package's roles.csv order would.
    """
    out: dict[str, list[Any]] = {f: [] for f in ROLE_FIELDS}
    role_lines: list[int] = []
    for user, line, role, orgs, roles in zip(users, lines, shape["role"], shape["orgs"],
                                             shape["roles"], strict=True):
        rows = roles if roles is not None else [
            {"roleType": "primary", "role": role, "org": org, "beginDate": None,
             "endDate": None, "userProfile": None} for org in (orgs or [])]
        for i, row in enumerate(rows):
            out["sourcedId"].append(f"{user}/roles/{i:05d}")
            out["status"].append(None)
            out["user"].append(user)
            for key in ("roleType", "role", "beginDate", "endDate", "org", "userProfile"):
                out[key].append(row.get(key))
            role_lines.append(line)
    columns = {f: f for f in ROLE_FIELDS}
    return RawTable("roles", f"{path} (roles)", _frame(out, role_lines, "roles"), columns)


def _too_many_rejected(collected: Mapping[str, _Collected], version: str,
                       options: FetchOptions) -> None:
    """Fail when most of a collection is rejected: writing the rest would drop users
    wholesale because of a shape problem (a minimal provider, the wrong version)."""
    problems = []
    for got in collected.values():
        s = got.stats
        if s.records and s.rejected / s.records > options.max_rejected:
            first = next(r for p in got.pages for r in p.chunk.rejects)
            problems.append(codes.most_records_rejected(s.path, version, s.rejected, s.records,
                                                        first, options.max_rejected))
    if problems:
        raise RunError(problems)


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """The exceptions of a group, nested groups flattened."""
    return [leaf for e in group.exceptions
            for leaf in (_leaves(e) if isinstance(e, BaseExceptionGroup) else [e])]


async def _fetch_all(base: httpx.URL, version: str, wanted: Mapping[str, tuple[str, ...]],
                     filters: Mapping[str, str | None], config: SourceConfig,
                     observer: FetchObserver) -> tuple[dict[str, _Collected],
                                                       dict[str, RecordReader]]:
    client = _Client(base, config, observer)
    readers = {e: RecordReader(e, fields, version, config.options.compat)
               for e, fields in wanted.items()}
    stats = {e: EntityStats(f"/{e}", filters.get(e)) for e in wanted}
    try:
        async with asyncio.TaskGroup() as group:
            tasks = {e: group.create_task(_collection(client, e, readers[e], filters.get(e),
                                                      stats[e]))
                     for e in wanted}
    except BaseExceptionGroup as group:
        # Not `except*`: before CPython 3.11.4 an exception raised inside `except*` left
        # as a new group, and the command printed a traceback instead of RM448.
        failures, others = group.split(_Failed)
        if others is not None or failures is None:
            raise
        problems = [f.diagnostic for f in _leaves(failures) if isinstance(f, _Failed)]
        summary = codes.fetch_incomplete()
        if not any(p.code == summary.code for p in problems):  # else said, with its cause
            problems.append(summary)
        raise RunError(problems) from None
    finally:
        await client.close()
    if isinstance(client.auth, OAuth2ClientCredentials):
        log.debug("OAuth 2 tokens fetched: %d", client.auth.tokens_fetched)
    return {e: task.result() for e, task in tasks.items()}, readers


def open_rest(
    url: str,
    reads: Mapping[str, tuple[str, ...]],
    filters: Mapping[str, Mapping[str, Iterable[str]]],
    config: SourceConfig,
    observer: FetchObserver | None = None,
) -> RestSource:
    """Fetch the collections ``reads`` needs from a OneRoster API; RunError if incomplete."""
    redact.install_log_redaction()
    base = check_url(url)
    c = config.credentials
    if c.method in ("oauth1", "oauth2") and not (c.client_id and c.client_secret):
        raise UsageError([codes.missing_client_credentials(c.method)])
    if c.method == "oauth2":
        if not c.token_url:
            raise UsageError([codes.missing_token_url()])
        check_url(c.token_url, "the token URL")
    version = version_of(base, config.options)
    wanted: dict[str, tuple[str, ...]] = {}
    for entity, fields in reads.items():
        spec = schema.ENTITIES[entity]
        if entity in schema.REST_EMBEDDED:
            continue
        if version not in spec.versions:
            continue
        more = ("primaryOrg",) if entity == "users" else ()
        wanted[entity] = tuple(dict.fromkeys((*fields, *more)))
    if any(e in schema.REST_EMBEDDED for e in reads) and "users" not in wanted:
        wanted["users"] = ("sourcedId", "primaryOrg")
    pushed = {e: filter_expression(e, filters[e]) if config.options.filter and e in filters
              else None for e in wanted}
    collected, readers = asyncio.run(_fetch_all(base, version, wanted, pushed, config,
                                                observer or _Quiet()))
    users = collected.get("users")
    layout = version
    if users is not None:
        shaped = [r is not None for p in users.pages for r in p.chunk.roles]
        layout = "1.2" if any(shaped) else "1.1"
    tables: dict[str, RawTable] = {}
    warnings: list[Diagnostic] = []
    rejects: list[Reject] = []
    _too_many_rejected(collected, version, config.options)
    for entity, got in collected.items():
        _assemble(got, readers[entity], layout, tables)
        warnings.extend(got.warnings)
        rejected = [r for p in got.pages for r in p.chunk.rejects]
        if rejected:
            warnings.append(codes.records_rejected(got.stats.path, version, rejected))
            rejects.extend(rejected)
        expression = got.stats.filter
        if expression:
            allowed = {v for v in filters[entity].get("status", ()) if v}
            outside = sum(1 for p in got.pages for s in p.chunk.statuses
                          if allowed and s is not None and s not in allowed)
            if outside:
                warnings.append(codes.filter_ignored(got.stats.path, expression, outside))
    if layout != version:
        warnings.append(codes.other_version_users(layout, version))
    files = {e: raw.file for e, raw in tables.items()}
    filtered = frozenset(e for e, got in collected.items() if got.stats.filter)
    origin = redact.redact(str(base))
    stats = {e: got.stats for e, got in collected.items()}
    return RestSource(origin, version, layout, tables, files, stats, rejects, filtered,
                      warnings)
