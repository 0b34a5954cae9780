"""RM440-RM459: fetching from a OneRoster REST API, its settings, and `rostermap serve`.

The call sites are in rostermap.runtime.sources (rest, config) and rostermap.devtools
(serve). ``where`` is the request as rest.py names it (``GET /users?limit=100``),
``path`` a collection's path (``/users``), ``origin`` where a setting came from (the
config file, an environment variable, an option).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, Protocol

from rostermap.dsl.codes._registry import WARNING, Draft, code
from rostermap.dsl.codes._wording import did_you_mean
from rostermap.dsl.diagnostics import DataLocation

__all__ = [
    "served_twice",
    "cannot_connect",
    "cannot_listen",
    "collection_not_found",
    "config_file_missing",
    "config_file_open",
    "config_not_toml",
    "credentials_in_url",
    "credentials_refused",
    "fetch_incomplete",
    "fewer_than_announced",
    "filter_ignored",
    "filter_refused",
    "html_page",
    "http2_unavailable",
    "invalid_json",
    "invalid_url",
    "missing_client_credentials",
    "missing_token_url",
    "most_records_rejected",
    "no_collection",
    "no_complete_response",
    "not_https",
    "offset_ignored",
    "other_version_users",
    "page_size_capped",
    "provider_busy",
    "records_rejected",
    "redirect_refused",
    "request_refused",
    "response_cut_short",
    "retry_after_too_long",
    "serve_needs_credentials",
    "setting_not_a_number",
    "setting_not_allowed",
    "setting_not_boolean",
    "setting_not_text",
    "setting_too_small",
    "source_not_a_table",
    "timed_out",
    "token_endpoint_unavailable",
    "token_refused",
    "too_many_redirects",
    "unknown_quirk",
    "unknown_setting",
    "unknown_version_setting",
    "version_not_in_url",
]


class SchemaReject(Protocol):
    """What a diagnostic says about a record the JSON Schema refused (rest_records' Reject)."""

    @property
    def sourcedId(self) -> str: ...  # noqa: N802 -- the OneRoster name, as Reject spells it
    @property
    def field(self) -> str: ...
    @property
    def reason(self) -> str: ...


def _said(text: str | None) -> str:
    """The provider's own words about a failure (its imsx_description), after the status."""
    return f": {text}" if text else ""


def _gave_up(where: str, attempts: int, problem: str) -> Draft:
    """A request that kept failing: the last attempt's problem, and how many were made."""
    tries = f"{attempts} attempt{'' if attempts == 1 else 's'}"
    return Draft(f"{where} failed after {tries}: {problem}",
                 notes=("help: the provider may be down or overloaded; try again later, "
                        "or raise `retries` in [source]",))


_UNREACHABLE = code("RM440", "source unreachable",
                    "Connecting to the REST source or its token endpoint kept failing after "
                    "every retry (refused, reset, timed out, busy), or no response came whole "
                    "within the deadline.")


@_UNREACHABLE
def no_complete_response(where: str, attempts: int, deadline: float) -> Draft:
    """``deadline`` is the seconds a whole request may take, not the timeout between bytes."""
    return _gave_up(where, attempts, f"no complete response within {deadline:g}s")


@_UNREACHABLE
def token_endpoint_unavailable(where: str, attempts: int, reason: str) -> Draft:
    """``reason`` is the auth flow's (the token endpoint answered 503)."""
    return _gave_up(where, attempts, reason)


@_UNREACHABLE
def timed_out(where: str, attempts: int, error: str) -> Draft:
    """``error`` is httpx's exception name (ReadTimeout)."""
    return _gave_up(where, attempts, f"timed out ({error})")


@_UNREACHABLE
def cannot_connect(where: str, attempts: int, host: str, error: str) -> Draft:
    """``host`` is host:port, ``error`` httpx's exception name (ConnectError)."""
    return _gave_up(where, attempts, f"cannot connect to {host} ({error})")


_AUTH_FAILED = code("RM441", "authentication failed",
                    "The provider or its token endpoint refused the credentials (401 or 403), "
                    "also after one fresh token.")


@_AUTH_FAILED
def token_refused(where: str, reason: str) -> Draft:
    """``reason`` is the auth flow's (the token endpoint refused the client credentials)."""
    return Draft(f"{reason}, asked for a token to {where}",
                 notes=("help: check the client id and secret (ROSTERMAP_CLIENT_ID, "
                        "ROSTERMAP_CLIENT_SECRET) and the token URL (ROSTERMAP_TOKEN_URL), "
                        "or the [source] section of --config",))


@_AUTH_FAILED
def credentials_refused(where: str, status: int, said: str | None) -> Draft:
    return Draft(f"{where}: the provider answered {status}{_said(said)}",
                 notes=("help: check the client id and secret, and that the credentials' "
                        "scope covers this collection",))


_REQUEST_FAILED = code("RM442", "request failed",
                       "A request kept failing (429, 500, 502, 503, 504) after every retry, "
                       "was refused outright (any other status), or the provider asked to wait "
                       "longer than max_retry_after.")


@_REQUEST_FAILED
def provider_busy(where: str, attempts: int, status: int, said: str | None) -> Draft:
    """``status`` is one a request is retried on (429, 5xx)."""
    return _gave_up(where, attempts, f"the provider answered {status}{_said(said)}")


@_REQUEST_FAILED
def request_refused(where: str, status: int, said: str | None) -> Draft:
    return Draft(f"{where}: the provider answered {status}{_said(said)}")


@_REQUEST_FAILED
def retry_after_too_long(where: str, wait: float, limit: float) -> Draft:
    return Draft(f"{where}: the provider asks to wait {wait:.0f}s (Retry-After), longer than "
                 f"max_retry_after ({limit:.0f}s)")


_MALFORMED = code("RM443", "malformed response",
                  "A page kept coming back incomplete (cut short, invalid JSON, an HTML page) "
                  "after every retry, or came without the collection's list of records.")


@_MALFORMED
def response_cut_short(where: str, attempts: int) -> Draft:
    return _gave_up(where, attempts, "the connection closed before the response was complete")


@_MALFORMED
def html_page(where: str, attempts: int) -> Draft:
    return _gave_up(where, attempts, "the provider answered 200 with an HTML page, not JSON "
                                     "(a login, error or maintenance page?)")


@_MALFORMED
def invalid_json(where: str, attempts: int) -> Draft:
    return _gave_up(where, attempts, "the body is not complete JSON")


@_MALFORMED
def no_collection(where: str, entity: str) -> Draft:
    return Draft(f"{where}: the response has no `{entity}` list",
                 notes=(f"note: a OneRoster collection answers {{\"{entity}\": [...]}}",))


_INSECURE_URL = code("RM444", "insecure source URL",
                     "The source URL and the token URL are valid URLs over https://, or plain "
                     "http:// to a loopback address; credentials never go in a URL.")


@_INSECURE_URL
def invalid_url(what: str) -> Draft:
    """``what`` names the URL: --source, the token URL."""
    return Draft(f"{what} is not a valid URL")


@_INSECURE_URL
def credentials_in_url(what: str) -> Draft:
    return Draft(f"{what} holds credentials, which would show in logs and reports",
                 notes=("help: set ROSTERMAP_CLIENT_ID and ROSTERMAP_CLIENT_SECRET instead",))


@_INSECURE_URL
def not_https(what: str, scheme: str, host: str) -> Draft:
    return Draft(f"{what} `{scheme}://{host}` is not https",
                 notes=("help: rostermap sends roster data and credentials only over https; "
                        "plain http is accepted for loopback addresses (a local test server)",))


_MISSING_CREDENTIALS = code("RM445", "missing credentials",
                            "The auth method needs ROSTERMAP_CLIENT_ID and "
                            "ROSTERMAP_CLIENT_SECRET (and ROSTERMAP_TOKEN_URL for OAuth 2), from "
                            "the environment or the [source] section of the config file; "
                            "`rostermap serve` needs the id and secret it accepts.")


@_MISSING_CREDENTIALS
def missing_client_credentials(method: str) -> Draft:
    """``method`` is oauth1 or oauth2."""
    return Draft(f"{method} needs a client id and secret",
                 notes=("note: unless `auth` says otherwise, a token URL means OAuth 2 and a "
                        "client id without one OAuth 1.0a",
                        "help: set ROSTERMAP_CLIENT_ID and ROSTERMAP_CLIENT_SECRET (and "
                        "ROSTERMAP_TOKEN_URL for OAuth 2), or the same in the [source] section "
                        "of --config"))


@_MISSING_CREDENTIALS
def missing_token_url() -> Draft:
    return Draft("oauth2 needs the provider's token URL",
                 notes=("help: set ROSTERMAP_TOKEN_URL, or token_url in [source]",))


@_MISSING_CREDENTIALS
def serve_needs_credentials(auth: str) -> Draft:
    return Draft(f"serving with {auth} needs the client id and secret it accepts",
                 notes=("help: set ROSTERMAP_CLIENT_ID and ROSTERMAP_CLIENT_SECRET; the "
                        "client reads the same variables",))


@code("RM446", "record rejected",
      "Records failed JSON Schema validation; they are left out and listed in report.json "
      "`rejects` (entity, sourcedId, field, reason), one warning per collection.", WARNING)
def records_rejected(path: str, version: str, rejects: Sequence[SchemaReject]) -> Draft:
    first = rejects[0]
    return Draft(f"{path}: {len(rejects)} record(s) rejected by the OneRoster {version} schema, "
                 f"first {first.sourcedId!r} ({first.field}: {first.reason})",
                 location=DataLocation(path),
                 notes=("note: each is listed in report.json `rejects`; the rest of the sync "
                        "went on",
                        "help: if the provider is a minimal implementation, try --compat"))


@code("RM447", "endpoint not found",
      "The provider answered 404 for a collection the mapping reads.")
def collection_not_found(where: str, entity: str) -> Draft:
    return Draft(f"{where}: the provider has no such collection (404)",
                 notes=(f"help: check the base URL, and that the provider serves /{entity}",))


_INCOMPLETE = code("RM448", "incomplete fetch",
                   "A collection could not be fetched completely (the cause is reported "
                   "beside it), or the provider pages wrongly: it ignores `offset`, or serves "
                   "fewer records than X-Total-Count announced. The run stops and writes "
                   "nothing, so no record silently disappears.")


@_INCOMPLETE
def fetch_incomplete() -> Draft:
    """Said after the diagnostics of the collections that failed."""
    return Draft("the fetch from the OneRoster API is incomplete; nothing was written",
                 notes=("note: an incomplete roster would look complete to the product and "
                        "drop the users it lacks",))


@_INCOMPLETE
def offset_ignored(path: str, first: int, again: int) -> Draft:
    """The pages at offsets ``first`` and ``again`` start with the same record."""
    return Draft(f"{path}: the provider serves the same records at offset {first} and offset "
                 f"{again}: its pages do not follow `offset`", location=DataLocation(path),
                 notes=("note: it ignores `offset`, or thins its pages after cutting them (a "
                        "filter applied after paging): records are repeated or skipped",
                        "help: ask the provider to support limit/offset paging, or raise "
                        "page_size above the collection's size"))


@_INCOMPLETE
def served_twice(path: str, ident: str, first: int, again: int) -> Draft:
    """Record ``ident`` is the ``first``-th and the ``again``-th of the collection (1-based)."""
    return Draft(f"{path}: the provider serves record {ident!r} twice, as record {first:,} "
                 f"and record {again:,} of the collection", location=DataLocation(path),
                 notes=("note: pages that repeat records skip others as often (a page size "
                        "or filter applied after paging): the collection cannot be trusted "
                        "whole",
                        "help: try another page_size, or filter = false in [source]; or ask "
                        "the provider to page in a stable order"))


@_INCOMPLETE
def fewer_than_announced(path: str, total: int, fetched: int) -> Draft:
    return Draft(f"{path}: the provider announced {total} records (X-Total-Count) but served "
                 f"{fetched}", location=DataLocation(path),
                 notes=("note: records may have changed during the sync, or the provider stops "
                        "paging early; nothing was written",
                        "help: run again; if the count is known to be wrong, set filter = false"))


_FILTER_IGNORED = code("RM449", "filter ignored",
                       "The provider refused the filter it was sent (400), or returned records "
                       "outside it; the mapping's rules filter them instead.", WARNING)


@_FILTER_IGNORED
def filter_refused(path: str, filter_: str) -> Draft:
    return Draft(f"{path}: the provider refused filter={filter_} (400); the collection was read "
                 "without it", location=DataLocation(path),
                 notes=("note: the mapping's rules filtered the records instead; set filter = "
                        "false to stop sending it",))


@_FILTER_IGNORED
def filter_ignored(path: str, filter_: str, outside: int) -> Draft:
    """``outside`` records came back with a status the filter excludes."""
    return Draft(f"{path}: the provider ignored filter={filter_}: {outside} record(s) outside it",
                 location=DataLocation(path),
                 notes=("note: the mapping's rules filtered them instead; set filter = false "
                        "to stop sending it",))


@code("RM450", "page size capped",
      "The provider returned fewer records per page than asked; paging goes on at the "
      "provider's size.", WARNING)
def page_size_capped(path: str, size: int, asked: int) -> Draft:
    return Draft(f"{path}: the provider returns at most {size} records per page (asked for "
                 f"{asked})", location=DataLocation(path),
                 notes=("note: paging went on at the provider's size",))


_BAD_CONFIGURATION = code("RM451", "bad source configuration",
                          "The config file cannot be read, or a setting in it, the environment "
                          "or on the command line is unknown or has an invalid value; or the "
                          "OneRoster version is neither in the URL nor set.")


def _setting(origin: str, message: str, notes: tuple[str, ...] = ()) -> Draft:
    """A setting's problem, located where the setting came from."""
    return Draft(message, location=DataLocation(origin), notes=notes)


@_BAD_CONFIGURATION
def config_file_missing(path: Path) -> Draft:
    return _setting(str(path), f"config file `{path}` does not exist")


@_BAD_CONFIGURATION
def config_not_toml(path: Path, reason: str) -> Draft:
    """``reason`` is tomllib's (it names a line and column, never the value) or the OS's."""
    return _setting(str(path), f"config file `{path}` is not valid TOML: {reason}")


@_BAD_CONFIGURATION
def source_not_a_table(path: Path) -> Draft:
    return _setting(str(path), f"{path}: `source` must be a table ([source])")


@_BAD_CONFIGURATION
def unknown_setting(path: Path, key: str, hint: str | None, known: Iterable[str]) -> Draft:
    return _setting(str(path), f"{path}: unknown setting `{key}` in [source]",
                    did_you_mean(hint) or (f"help: settings: {', '.join(sorted(known))}",))


@_BAD_CONFIGURATION
def setting_not_boolean(origin: str, key: str) -> Draft:
    return _setting(origin, f"{origin}: `{key}` takes true or false")


@_BAD_CONFIGURATION
def setting_not_a_number(origin: str, key: str) -> Draft:
    return _setting(origin, f"{origin}: `{key}` takes a number")


@_BAD_CONFIGURATION
def setting_too_small(origin: str, key: str, least: int) -> Draft:
    """The setting is below ``least``: 1 for counts such as page_size, 0 for the rest."""
    return _setting(origin, f"{origin}: `{key}` must be "
                            f"{'0 or more' if least == 0 else f'at least {least}'}")


@_BAD_CONFIGURATION
def setting_not_text(origin: str, key: str) -> Draft:
    return _setting(origin, f"{origin}: `{key}` takes text")


@_BAD_CONFIGURATION
def unknown_version_setting(origin: str, version: str) -> Draft:
    return _setting(origin, f"{origin}: OneRoster version `{version}` is not 1.1 or 1.2")


@_BAD_CONFIGURATION
def setting_not_allowed(origin: str, key: str, value: str, allowed: Iterable[str]) -> Draft:
    return _setting(origin, f"{origin}: `{key}` is `{value}`, not one of {', '.join(allowed)}")


@_BAD_CONFIGURATION
def version_not_in_url(path: str) -> Draft:
    """``path`` is the source URL's path, without v1p1 or v1p2 in it."""
    return Draft(f"the OneRoster version cannot be told from the URL path `{path}`",
                 notes=("help: set version = \"1.1\" or \"1.2\" in [source], or "
                        "ROSTERMAP_ONEROSTER_VERSION",))


@_BAD_CONFIGURATION
def http2_unavailable() -> Draft:
    return Draft("http2 needs the h2 package", notes=("help: pip install 'httpx[http2]'",))


_CANNOT_SERVE = code("RM452", "cannot serve",
                     "`rostermap serve` could not start: a --quirk it does not know, or a port "
                     "it cannot listen on.")


@_CANNOT_SERVE
def unknown_quirk(quirk: str, quirks: Iterable[str]) -> Draft:
    return Draft(f"unknown quirk {quirk!r}", notes=(f"note: quirks: {', '.join(quirks)}",))


@_CANNOT_SERVE
def cannot_listen(port: int, reason: str | None) -> Draft:
    """``reason`` is the operating system's (Address already in use)."""
    return Draft(f"cannot listen on 127.0.0.1:{port}: {reason}",
                 notes=("help: choose another --port, or --port 0 for any free one",))


@code("RM453", "records of the other version",
      "The provider serves OneRoster records of the other version under this URL (1.2 "
      "users under /v1p1); they are read as what they are.", WARNING)
def other_version_users(layout: str, version: str) -> Draft:
    """``layout`` is the version the users' records have, ``version`` the URL's."""
    return Draft(f"/users: OneRoster {layout} users served under a {version} URL; read as "
                 f"{layout} records", location=DataLocation("/users"))


@code("RM454", "most records rejected",
      "More of a collection's records failed validation than max_rejected allows: a sign "
      "of a provider shape problem, not of a few bad records; nothing is written.")
def most_records_rejected(path: str, version: str, rejected: int, records: int,
                          first: SchemaReject, allowed: float) -> Draft:
    """``allowed`` is max_rejected, the share of a collection that may be rejected."""
    return Draft(f"{path}: {rejected} of {records} records fail the OneRoster {version} schema, "
                 f"first {first.sourcedId!r} ({first.field}: {first.reason})",
                 location=DataLocation(path),
                 notes=("note: so many rejects mean the provider's JSON is not the shape the "
                        "schema describes, not a few bad records; nothing was written",
                        "help: if the provider is a minimal implementation, try --compat; "
                        f"max_rejected in [source] is the share allowed ({allowed:g})"))


@code("RM455", "config file open to others",
      "A config file that others can write, or that holds the client secret and others "
      "can read, is refused: chmod 600 it.")
def config_file_open(path: Path, mode: int, others: Literal["write", "read"]) -> Draft:
    """``mode`` is the file's permission bits (0o644); ``others`` what other users may do."""
    verb, why = (("changed", "says where the credentials are sent") if others == "write"
                 else ("read", "holds the client secret"))
    return Draft(f"config file `{path}` can be {verb} by other users of this machine",
                 location=DataLocation(str(path)),
                 notes=(f"note: its mode is {mode:03o}, and it {why}", f"help: chmod 600 {path}"))


_REDIRECT = code("RM456", "redirect not followed",
                 "The provider redirected a request to another host (or to plain http), or "
                 "too many times in a row; the credentials would go along, so the fetch stops "
                 "unless the host is listed in redirect_hosts.")


@_REDIRECT
def redirect_refused(where: str, scheme: str, host: str) -> Draft:
    return Draft(f"{where}: the provider redirects to {scheme}://{host}, which rostermap does "
                 "not follow",
                 notes=("note: the request's credentials would go to that host",
                        "help: if it is the provider's own host, list it in redirect_hosts in "
                        "[source] (https only)"))


@_REDIRECT
def too_many_redirects(where: str, limit: int) -> Draft:
    return Draft(f"{where}: more than {limit} redirects")
