"""``rostermap push``: a push profile's outputs written to an API, incrementally.

The stages: the mapping runs over the gradebook like any profile (``run.pipeline``,
nothing written), giving each push output's rows; then, push by push in the order
their ``after`` lines make, each row becomes a request (``dsl.push.PushSpec``: the
method and path, the JSON body nested from the columns' ``a/b/c`` names, links
replaced by the captures they name) and is compared with what the push state
(``sync.push_state``) says the record last sent. Only a record whose request
content differs, or whose last write failed, is sent. Each write is retried on 429
and 5xx with backoff, is committed to the state as soon as it succeeds, and a
failed one does not stop the others. ``--dry-run`` prints the requests instead.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import random
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rostermap.dsl import codes
from rostermap.dsl.push import PushSpec, Request, decode, path_fields
from rostermap.runtime.errors import UsageError
from rostermap.runtime.redact import MASK, redact
from rostermap.runtime.report.push_report import PushReport, Write, WriteOutcome, render_html
from rostermap.runtime.report.push_report import encode as encode_report
from rostermap.runtime.run.loader import load_mapping, resolve_profile
from rostermap.runtime.run.pipeline import run
from rostermap.runtime.sources.config import FetchOptions, SourceConfig, load_config
from rostermap.runtime.sync.push_state import PushStore, open_push_state, push_state_path
from rostermap.runtime.sync.state import lock

if TYPE_CHECKING:
    import httpx

__all__ = ["PushOptions", "PushResult", "fingerprint", "push", "push_order", "watch"]

_RETRY = frozenset({429, 500, 502, 503, 504})
# Answers that say the request was not acted on: the only ones a create (a POST, which
# makes a record each time it is acted on) is retried on, lest a 500 that created the
# record anyway, or a lost answer, make it twice.
_NOT_DONE = frozenset({429, 503})


@dataclass(frozen=True)
class PushOptions:
    target: str
    state: Path | None = None
    tenant: str | None = None
    dry_run: bool = False
    out: Path | None = None  # where report.json and report.html go


@dataclass(frozen=True)
class PushResult:
    report: PushReport
    files: list[Path] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # a dry run's requests, as printed

    @property
    def exit_code(self) -> int:
        return 3 if self.report.outcome == "partial" else 0


def push_order(specs: Iterable[PushSpec]) -> list[PushSpec]:
    """The pushes, each after those its ``after`` names (the checker refused cycles)."""
    by_name = {s.name: s for s in specs}
    done: dict[str, PushSpec] = {}

    def visit(spec: PushSpec) -> None:
        if spec.name in done:
            return
        for name in spec.after:
            if name in by_name:
                visit(by_name[name])
        done[spec.name] = spec

    for spec in by_name.values():
        visit(spec)
    return list(done.values())


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


def body_of(spec: PushSpec, row: dict[str, Any]) -> dict[str, Any]:
    """The JSON body: the columns under the root (all, without one), nested at each
    ``/`` of their names. A missing value leaves its field out."""
    body: dict[str, Any] = {}
    prefix = f"{spec.body}/" if spec.body else ""
    for column, value in row.items():
        if not column.startswith(prefix) or value is None:
            continue
        parts = ([spec.body] if spec.body else []) + column[len(prefix):].split("/")
        node = body
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = _json_value(value)
    return body


def _fill(path: str, row: dict[str, Any], captures: dict[str, str]) -> str:
    """The path with each ``{NAME}`` replaced by the row's value or a capture, quoted."""
    out = path
    for name in path_fields(path):
        value = captures[name] if name in captures else row.get(name)
        text = "" if value is None else str(_json_value(value))
        out = out.replace("{" + name + "}", urllib.parse.quote(text, safe=""))
    return out


def _capture(response: Any, path: str) -> str | int | float | None:
    """The value at a capture's path, as the target typed it (an id may be a number)."""
    node = response
    for part in path.split("/"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, str | int | float) and not isinstance(node, bool) else None


def _digest(spec: PushSpec, row: dict[str, Any], body: dict[str, Any]) -> str:
    """What a record's write says, minus the target's own ids: the body (links
    resolved) and the ``send`` path with the row's values. A create and the updates
    after it have the same digest when the record has not changed."""
    shown = {name: "{" + name + "}" for name in (c.name for c in spec.captures)}
    text = json.dumps({"path": _fill(spec.send.path, row, shown), "body": body},
                      sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class _Planned:
    spec: PushSpec
    key: str
    request: Request
    path: str
    body: dict[str, Any]
    digest: str
    creating: bool


@dataclass
class _Push:
    """One push run's facts: the target, the state, what was sent and printed."""

    target: str
    store: PushStore
    options: FetchOptions
    dry_run: bool
    auth_header: str = ""
    writes: list[Write] = field(default_factory=list)
    printed: list[str] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def plan(self, spec: PushSpec, row: dict[str, Any]) -> _Planned | Write | None:
        """The write a row needs: None when unchanged, a skipped Write when a record it
        links to has no capture yet."""
        key = "/".join(str(_json_value(row.get(k))) for k in spec.key)
        prior = self.store.get(spec.name, key)
        row = dict(row)
        for link in spec.links:
            linked = row.get(link.column)
            linked_key = "" if linked is None else str(_json_value(linked))
            value: Any = self.store.capture(link.push, linked_key, link.capture)
            if value is None and self.dry_run:
                value = f"<{link.push}.{link.capture} of {linked_key}>"
            if value is None:
                waiting = codes.dependency_failed(spec.name, key, link.push, linked_key)
                return Write(spec.name, key, spec.send.method, spec.send.path,
                             WriteOutcome.SKIPPED, message=waiting.message, code=waiting.code)
            row[link.column] = value
        body = body_of(spec, row)
        digest = _digest(spec, row, body)
        creating = spec.create is not None and not all(
            c.name in prior.captures for c in spec.captures)
        if digest == prior.digest and prior.outcome != "failed" and not creating:
            return None
        request = spec.create if creating and spec.create is not None else spec.send
        return _Planned(spec, key, request, _fill(request.path, row, prior.captures), body,
                        digest, creating)

    def url(self, path: str) -> str:
        return self.target.rstrip("/") + path

    def show(self, p: _Planned) -> None:
        lines = [f"{p.request.method} {self.url(p.path)}"]
        if self.auth_header:
            lines.append(f"Authorization: {self.auth_header} {MASK}")
        lines.append(json.dumps(p.body, indent=1, sort_keys=True))
        self.printed.append(redact("\n".join(lines)))

    async def send(self, http: httpx.AsyncClient, p: _Planned) -> Write:
        import httpx

        attempts, status, message = 0, None, ""
        o = self.options
        while True:
            attempts += 1
            retry_after: float | None = None
            # a PUT may be repeated; a create only when it cannot have been acted on
            again = _RETRY if p.request.method == "PUT" else _NOT_DONE
            try:
                response = await http.request(p.request.method, self.url(p.path), json=p.body)
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:  # never sent
                status, message, retryable = None, f"{type(error).__name__}: {error}", True
            except (httpx.HTTPError, OSError) as error:
                status, message = None, f"{type(error).__name__}: {error}"
                retryable = p.request.method == "PUT"
            except Exception as error:  # an auth flow's failure (token endpoint)
                retryable = bool(getattr(error, "retryable", False))
                status, message = None, str(error)
            else:
                status = response.status_code
                if status < 300:
                    return self.succeeded(p, response, attempts)
                message = response.text
                retryable = status in again
                header = response.headers.get("Retry-After", "")
                retry_after = float(header) if header.replace(".", "", 1).isdigit() else None
            if not retryable or attempts > o.retries or (
                    retry_after is not None and retry_after > o.max_retry_after):
                break
            delay = retry_after if retry_after is not None else min(
                o.max_backoff, o.backoff * 2 ** (attempts - 1) * (0.5 + random.random()))
            await asyncio.sleep(delay)
        self.store.failed(p.spec.name, p.key)
        shown = "no answer" if status is None else str(status)
        failure = codes.write_failed(p.spec.name, p.key, shown, message)
        return Write(p.spec.name, p.key, p.request.method, p.path, WriteOutcome.FAILED, status,
                     attempts, Write.message_of(failure.message), failure.code)

    def succeeded(self, p: _Planned, response: httpx.Response, attempts: int) -> Write:
        captures: dict[str, str | int | float] = {}
        missing = []
        if p.spec.captures:
            try:
                answer = response.json()
            except ValueError:
                answer = None
            for c in p.spec.captures:
                value = _capture(answer, c.path)
                if value is not None:
                    captures[c.name] = value
                elif not self.store.get(p.spec.name, p.key).captures.get(c.name):
                    missing.append(c)
        outcome = WriteOutcome.CREATED if p.creating else WriteOutcome.WRITTEN
        if missing:
            # written, but what later writes need is not known: the state keeps no digest,
            # so the next push tries again
            self.store.failed(p.spec.name, p.key)
            c = missing[0]
            lacking = codes.capture_missing(p.spec.name, p.key, c.name, c.path)
            return Write(p.spec.name, p.key, p.request.method, p.path, WriteOutcome.FAILED,
                         response.status_code, attempts, Write.message_of(lacking.message),
                         lacking.code)
        self.store.succeeded(p.spec.name, p.key, p.digest, captures, outcome.value)
        return Write(p.spec.name, p.key, p.request.method, p.path, outcome,
                     response.status_code, attempts)

    async def run(self, specs: list[PushSpec], rows: dict[str, list[dict[str, Any]]],
                  client: Callable[[], httpx.AsyncClient] | None) -> None:
        http = client() if client is not None else None
        try:
            for spec in specs:
                count = self.counts.setdefault(spec.name, dict.fromkeys(
                    ("records", "unchanged", "written", "failed", "skipped"), 0))
                for row in rows.get(spec.name, []):
                    count["records"] += 1
                    planned = self.plan(spec, row)
                    if planned is None:
                        count["unchanged"] += 1
                        continue
                    if isinstance(planned, Write):
                        count["skipped"] += 1
                        self.writes.append(planned)
                        continue
                    if http is None:
                        self.show(planned)
                        count["written"] += 1
                        continue
                    write = await self.send(http, planned)
                    self.writes.append(write)
                    count["failed" if write.outcome is WriteOutcome.FAILED else "written"] += 1
        finally:
            if http is not None:
                await http.aclose()


def _client(config: SourceConfig) -> Callable[[], httpx.AsyncClient]:
    def make() -> httpx.AsyncClient:
        import httpx

        from rostermap.runtime.sources.auth import make_auth
        from rostermap.runtime.sources.rest import USER_AGENT

        o = config.options
        timeout = httpx.Timeout(o.timeout)
        token_http = httpx.AsyncClient(timeout=timeout, headers={"User-Agent": USER_AGENT})
        http = httpx.AsyncClient(
            timeout=timeout, headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            auth=make_auth(config.credentials, token_http))
        close = http.aclose

        async def aclose() -> None:
            await close()
            await token_http.aclose()

        http.aclose = aclose  # type: ignore[method-assign]
        return http
    return make


def _write_reports(out: Path, report: PushReport) -> list[Path]:
    """report.json and report.html, each written aside and moved into place."""
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for name, data in (("report.json", encode_report(report)),
                       ("report.html", render_html(report).encode())):
        target = out / name
        staged = out / f".{name}.{os.getpid()}"
        staged.write_bytes(data)
        staged.chmod(0o600)
        staged.replace(target)
        files.append(target)
    return files


def push(profile: str, source: Path | str, options: PushOptions, params: Iterable[str] = (),
         config: SourceConfig | None = None, today: dt.date | None = None) -> PushResult:
    """Push a profile's push outputs, made from ``source``, to ``options.target``."""
    from rostermap.runtime.sources.rest import check_url

    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    target = str(check_url(options.target, "--target"))
    config = config or load_config()
    loaded = load_mapping(resolve_profile(profile))
    specs = decode(getattr(loaded.module, "PUSHES", "[]"))
    if not specs:
        raise UsageError([codes.not_a_push_profile(loaded.module.PROFILE)])
    result = run(loaded, source, None, params, today=today, allow_empty=True, pushing=True)
    rows = {r.name: r.frame.to_dicts() for r in result.outputs}
    state = options.state or push_state_path(loaded.module.PROFILE, options.tenant,
                                             options.out)
    method = config.credentials.method
    # one push at a time per state: two would both create what neither has captured yet
    with lock(state), open_push_state(state, loaded.module.PROFILE, options.tenant) as store:
        job = _Push(target, store, config.options, options.dry_run,
                    {"oauth2": "Bearer", "oauth1": "OAuth"}.get(method, ""))
        push_id = None if options.dry_run else store.begin(redact(target))
        try:
            asyncio.run(job.run(push_order(specs), rows,
                                None if options.dry_run else _client(config)))
        except KeyboardInterrupt:
            if push_id is not None:
                store.finish(push_id, "interrupted", len(job.writes), 0)
            raise
        failed = sum(1 for w in job.writes if w.outcome is WriteOutcome.FAILED)
        skipped = sum(1 for w in job.writes if w.outcome is WriteOutcome.SKIPPED)
        outcome = "dry-run" if options.dry_run else ("partial" if failed or skipped
                                                     else "success")
        if push_id is not None:
            store.finish(push_id, outcome, len(job.writes) - skipped, failed)
    report = PushReport(
        kind="push", profile=loaded.module.PROFILE, mapping=str(loaded.path),
        source=redact(str(source)), target=redact(target), started=started,
        finished=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), outcome=outcome,
        dry_run=options.dry_run, counts=job.counts, writes=job.writes)
    files = _write_reports(options.out, report) if options.out is not None else []
    return PushResult(report, files, job.printed)



def fingerprint(source: Path | str) -> tuple[tuple[str, int, int], ...]:
    """What tells a changed gradebook export from the last one pushed: each file's
    name, size and modification time (the files, not their contents: a poll of a
    large export must cost next to nothing)."""
    path = Path(source)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return tuple((str(f), (st := f.stat()).st_size, st.st_mtime_ns) for f in files)


def watch(profile: str, source: Path | str, options: PushOptions, every: float,
          pushed: Callable[[PushResult], None], params: Iterable[str] = (),
          config: SourceConfig | None = None, stop: Callable[[], bool] = lambda: False) -> None:
    """Push now, then again each time the source changes (looked at every ``every``
    seconds) until ``stop`` says so or the process is interrupted: "Grade Push
    Frequency: Immediate" for a product that exports its gradebook as it changes.
    A push that fails to run (a gradebook caught half-written) is tried again at the
    next change; a failed write, at the next push, as always."""
    import time

    last: tuple[tuple[str, int, int], ...] | None = None
    while not stop():
        current = fingerprint(source)
        if current != last:
            pushed(push(profile, source, options, params, config))
            last = current
        if not stop():
            time.sleep(every)
