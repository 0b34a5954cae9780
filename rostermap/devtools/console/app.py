"""``rostermap console``: a local web application over the run states of many tenants.

Starlette (ASGI routing, requests, responses, forms) under uvicorn: both small,
widely used and kept up; no JavaScript, no build step. Pages are Jinja2 templates
with autoescape, styled with report.html's own stylesheet; charts are report.html's
server-rendered SVG. Approve and reject call ``runtime.sync.run.approve`` and
``reject``, the functions behind the commands: the same lock, the same checks and
state transitions, plus who approved and why.

Pages (all but ``/login`` need a session; see ``auth``)::

    GET  /                              every tenant's last run; held runs first
    GET  /t/{state}                     a tenant's runs, reviews and charts
    GET  /t/{state}/run/{run}           a run: its figures, report, change files
    GET  /t/{state}/run/{run}/report    the run's report.html
    GET  /t/{state}/run/{run}/changes/{output}   a change file (keys, actions, columns)
    GET  /t/{state}/run/{run}/review    a held run's review: Approve / Reject
    POST /t/{state}/run/{run}/approve   (CSRF token, optional note)
    POST /t/{state}/run/{run}/reject
    GET  /t/{state}/impact?mapping=M    what mapping M would change for the tenant
"""

from __future__ import annotations

import functools
import ipaddress
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from rostermap.devtools.console.auth import Gate, Session
from rostermap.devtools.console.states import (
    StateRef,
    StateView,
    find_states,
    open_view,
    run_changes,
    run_report,
)
from rostermap.dsl.diagnostics import DiagnosticError, render_all
from rostermap.runtime.errors import RunError
from rostermap.runtime.redact import redact
from rostermap.runtime.report.html_report import history_charts, render_html
from rostermap.runtime.report.impact import render_html as render_impact
from rostermap.runtime.report.impact import report_style
from rostermap.runtime.report.model import Outcome, to_json
from rostermap.runtime.sync.changes import SEP

__all__ = ["COOKIE", "Settings", "make_app"]

COOKIE = "rostermap_session"
PERSONAL = "‹personal›"
_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
MAX_CHANGE_ROWS = 500


@dataclass(frozen=True)
class Settings:
    tenants: Path | None = None  # a tenants file, or
    folder: Path | None = None  # a state folder (default: where syncs keep states)
    show_pii: bool = False
    secure: bool = False  # served over HTTPS (TLS, or a TLS proxy): Secure cookies
    hosts: tuple[str, ...] = ()  # Host headers accepted (app.state.hosts once bound);
    # empty: any (behind a proxy, or on a public address where TLS names the host)


@functools.cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([
            jinja2.PackageLoader("rostermap.devtools.console", "templates"),
            # report.html's chart macro, imported by the history page
            jinja2.PackageLoader("rostermap.runtime.report", "templates"),
        ]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["style"] = report_style()
    env.filters["num"] = lambda v: f"{v:,}" if isinstance(v, int) else ("–" if v is None else v)
    return env


def _page(name: str, status: int = 200, **values: Any) -> HTMLResponse:
    text = _templates().get_template(name).render(**values)
    return HTMLResponse(redact(text), status_code=status)


def _refused(status: int, why: str) -> Response:
    return _page("message.html.jinja", status, title="Refused", message=why, session=None)


class Console:
    """The application's state: the gate, the settings, and the states it found."""

    def __init__(self, settings: Settings, gate: Gate):
        self.settings = settings
        self.gate = gate
        self.refs = {r.id: r for r in find_states(settings.tenants, settings.folder)}

    def refresh(self) -> None:
        """New tenants since the start: a tenants file or folder read again."""
        self.refs = {r.id: r for r in find_states(self.settings.tenants, self.settings.folder)}

    def ref(self, request: Request) -> StateRef | None:
        return self.refs.get(str(request.path_params.get("state", "")))


def _same_origin(request: Request) -> bool:
    """A POST from a page of this console: its Origin (or Referer) is this host, or
    the browser sent neither (SameSite=Strict still keeps the cookie away)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


def _guarded(console: Console, handler: Callable[[Request, Session], Awaitable[Response]],
             write: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """A page that needs a session; a write also needs the session's CSRF token."""

    async def endpoint(request: Request) -> Response:
        session = console.gate.session(request.cookies.get(COOKIE))
        if session is None:
            if request.method != "GET":
                return _refused(403, "No session: log in first.")
            return RedirectResponse("/login", status_code=303)
        if write:
            form = await request.form()
            token = form.get("csrf")
            if not _same_origin(request) or not console.gate.csrf_ok(
                    session, token if isinstance(token, str) else None):
                return _refused(403, "This form did not come from this console (no valid "
                                "CSRF token): nothing was done.")
        try:
            return await handler(request, session)
        except (RunError, DiagnosticError) as error:  # a state that cannot be read
            return _page("message.html.jinja", 500, session=session, title="Cannot show this",
                         message=redact(render_all(error.diagnostics)))
        except (sqlite3.Error, OSError) as error:
            return _page("message.html.jinja", 500, session=session, title="Cannot show this",
                         message=redact(f"the state could not be read: {error}"))

    return endpoint


def _summary(view: StateView) -> dict[str, Any]:
    last = view.last
    changes: dict[str, int] = {}
    if last is not None:
        for counts in last.changes.values():
            for action, n in counts.items():
                changes[action] = changes.get(action, 0) + n
    return {"ref": view.ref, "last": last, "held": view.held,
            "rows": sum(last.rows.values()) if last else None,
            "changes": changes}


def make_app(settings: Settings, gate: Gate) -> Starlette:
    console = Console(settings, gate)
    show_pii = settings.show_pii

    def key_text(key: str) -> str:
        return key.replace(SEP, ", ") if show_pii else PERSONAL

    async def login_page(request: Request) -> Response:
        return _page("login.html.jinja", session=None, failed=False,
                     password=gate.password is not None)

    async def login(request: Request) -> Response:
        if not _same_origin(request):
            return _refused(403, "This login did not come from this console.")
        from starlette.concurrency import run_in_threadpool

        form = await request.form()
        secret, who = form.get("secret"), form.get("who")
        # scrypt takes tens of milliseconds: off the event loop, which serves the pages
        session = await run_in_threadpool(gate.login, secret if isinstance(secret, str) else "",
                                          who if isinstance(who, str) else "")
        if session is None:
            return _page("login.html.jinja", 403, session=None, failed=True,
                         password=gate.password is not None)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, session.id, max_age=12 * 3600, httponly=True,
                            samesite="strict", secure=settings.secure, path="/")
        return response

    async def logout(request: Request, session: Session) -> Response:
        gate.logout(session.id)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    async def tenants(request: Request, session: Session) -> Response:
        console.refresh()
        views = [_summary(open_view(ref, 5)) for ref in console.refs.values()]
        views.sort(key=lambda v: (not v["held"], v["ref"].profile, v["ref"].label))
        return _page("tenants.html.jinja", session=session, views=views)

    async def tenant(request: Request, session: Session) -> Response:
        ref = console.ref(request)
        if ref is None:
            return _refused(404, "No such tenant.")
        view = open_view(ref, 60)
        history = [{"run": r.id, "started": r.started, "outcome": r.outcome, "rows": r.rows,
                    "changes": r.changes} for r in reversed(view.runs)
                   if r.outcome is not Outcome.RUNNING]
        outputs = list(view.last.rows) if view.last else []
        rows_charts, change_charts = history_charts(history, outputs)
        done = request.query_params.get("done")
        return _page("tenant.html.jinja", session=session, view=view, rows_charts=rows_charts,
                     change_charts=change_charts,
                     done=done if done in ("approved", "rejected") else None,
                     done_run=request.query_params.get("run", "")[:12])

    def _run(request: Request) -> tuple[StateRef, StateView, Any] | None:
        ref = console.ref(request)
        if ref is None:
            return None
        view = open_view(ref, 1000)
        wanted = request.path_params["run"]
        record = next((r for r in view.runs if r.id == wanted), None)
        return None if record is None else (ref, view, record)

    async def run_page(request: Request, session: Session) -> Response:
        found = _run(request)
        if found is None:
            return _refused(404, "No such run.")
        ref, view, record = found
        report = run_report(ref, record.id)
        return _page("run.html.jinja", session=session, view=view, run=record,
                     review=view.reviews.get(record.id), report=report,
                     changes=sorted(run_changes(ref, record.id)))

    async def report_page(request: Request, session: Session) -> Response:
        found = _run(request)
        report = run_report(found[0], found[2].id) if found else None
        if report is None:
            return _refused(404, "This run has no report.")
        return HTMLResponse(redact(render_html(to_json(report))))

    async def changes_page(request: Request, session: Session) -> Response:
        found = _run(request)
        if found is None:
            return _refused(404, "No such run.")
        ref, view, record = found
        frame = run_changes(ref, record.id).get(request.path_params["output"])
        if frame is None:
            return _refused(404, "No such change file.")
        rows = [(key_text(k), a, c) for k, a, c in
                frame.head(MAX_CHANGE_ROWS).select("key", "action", "changed").iter_rows()]
        return _page("changes.html.jinja", session=session, view=view, run=record,
                     output=request.path_params["output"], rows=rows, total=frame.height,
                     counts=frame.get_column("action").value_counts(sort=True).rows(),
                     show_pii=show_pii)

    async def review_page(request: Request, session: Session) -> Response:
        found = _run(request)
        if found is None:
            return _refused(404, "No such run.")
        ref, view, record = found
        report = run_report(ref, record.id)
        return _page("review.html.jinja", session=session, view=view, run=record,
                     report=report, review=view.reviews.get(record.id),
                     held=record.outcome is Outcome.HELD,
                     changes=sorted(run_changes(ref, record.id)))

    def _decide(approve: bool) -> Callable[[Request, Session], Awaitable[Response]]:
        async def decide(request: Request, session: Session) -> Response:
            from starlette.concurrency import run_in_threadpool

            from rostermap.runtime.sync.run import SyncOptions
            from rostermap.runtime.sync.run import approve as approve_run
            from rostermap.runtime.sync.run import reject as reject_run

            found = _run(request)
            if found is None:
                return _refused(404, "No such run.")
            ref, view, record = found
            form = await request.form()
            note = form.get("note")
            options = SyncOptions(state=ref.path, tenant=ref.tenant)
            mapping = record.mapping if Path(record.mapping).is_file() else ref.profile
            act = approve_run if approve else reject_run
            try:
                await run_in_threadpool(act, mapping, record.id, options, session.who,
                                        (note if isinstance(note, str) else "")[:1000])
            except (RunError, DiagnosticError) as error:
                return _page("message.html.jinja", 409, session=session, title="Not done",
                             message=redact(render_all(error.diagnostics)))
            return RedirectResponse(f"/t/{ref.id}?done={'approved' if approve else 'rejected'}"
                                    f"&run={record.id}", status_code=303)

        return decide

    async def impact_page(request: Request, session: Session) -> Response:
        from starlette.concurrency import run_in_threadpool

        from rostermap.runtime.run.loader import find_profiles
        from rostermap.runtime.sync.impact import impact
        from rostermap.runtime.sync.run import SyncOptions

        ref = console.ref(request)
        if ref is None:
            return _refused(404, "No such tenant.")
        mapping = request.query_params.get("mapping", "").strip()
        if not mapping:
            return _page("impact_form.html.jinja", session=session, ref=ref,
                         profiles=sorted(find_profiles()))
        if mapping not in find_profiles() and not mapping.endswith(".rmap"):
            return _refused(400, "Name a profile, or a mapping file ending in .rmap.")
        view = open_view(ref, 50)
        current = next((r.mapping for r in view.runs if r.outcome.committed
                        and Path(r.mapping).is_file()), ref.profile)
        try:
            found = await run_in_threadpool(
                impact, current, mapping, None, SyncOptions(state=ref.path, tenant=ref.tenant),
                (), None, show_pii)
        except (RunError, DiagnosticError) as error:
            return _page("message.html.jinja", 409, session=session, title="No impact",
                         message=redact(render_all(error.diagnostics,
                                                   getattr(error, "source", None))))
        return HTMLResponse(redact(render_impact(found.impact)))

    def page(handler: Callable[[Request, Session], Awaitable[Response]]
             ) -> Callable[[Request], Awaitable[Response]]:
        return _guarded(console, handler)

    routes = [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", _guarded(console, logout, write=True), methods=["POST"]),
        Route("/", page(tenants)),
        Route("/t/{state}", page(tenant)),
        Route("/t/{state}/impact", page(impact_page)),
        Route("/t/{state}/run/{run:int}", page(run_page)),
        Route("/t/{state}/run/{run:int}/report", page(report_page)),
        Route("/t/{state}/run/{run:int}/changes/{output}", page(changes_page)),
        Route("/t/{state}/run/{run:int}/review", page(review_page)),
        Route("/t/{state}/run/{run:int}/approve", _guarded(console, _decide(True), write=True),
              methods=["POST"]),
        Route("/t/{state}/run/{run:int}/reject", _guarded(console, _decide(False), write=True),
              methods=["POST"]),
    ]
    async def headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]
                      ) -> Response:
        host = request.headers.get("host", "")
        hosts = getattr(request.app.state, "hosts", settings.hosts)
        if hosts and host not in hosts:  # DNS rebinding: a page of another site
            return _refused(421, "This console answers to its own address only.")
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = _CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"  # "no-referrer" nulls Origin
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    return Starlette(routes=routes, middleware=[Middleware(BaseHTTPMiddleware,
                                                           dispatch=headers)])


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
