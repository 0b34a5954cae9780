"""Settings of a REST source: credentials and fetch options, from the environment and a file.

Credentials never come from command-line arguments (they would show in ``ps``,
shell history and CI logs): only from ``ROSTERMAP_*`` environment variables or the
``[source]`` table of a TOML config file (``--config`` or ``$ROSTERMAP_CONFIG``).
Fetch options may also be given on the command line. Precedence: command line,
then environment, then config file, then defaults. Every secret read here is
registered with ``runtime.redact`` before anything else can print it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from rostermap.dsl import codes
from rostermap.dsl.diagnostics import did_you_mean
from rostermap.runtime import redact
from rostermap.runtime.errors import UsageError

__all__ = [
    "AUTH_METHODS",
    "ENV",
    "SIGNATURE_METHODS",
    "Credentials",
    "FetchOptions",
    "SourceConfig",
    "load_config",
]

AUTH_METHODS = ("oauth2", "oauth1", "none")
SIGNATURE_METHODS = ("HMAC-SHA1", "HMAC-SHA256")
TOKEN_AUTH_METHODS = ("basic", "post")

# setting -> environment variable
ENV: dict[str, str] = {
    "client_id": "ROSTERMAP_CLIENT_ID",
    "client_secret": "ROSTERMAP_CLIENT_SECRET",
    "token_url": "ROSTERMAP_TOKEN_URL",
    "scope": "ROSTERMAP_SCOPE",
    "auth": "ROSTERMAP_AUTH",
    "signature_method": "ROSTERMAP_SIGNATURE_METHOD",
    "token_auth": "ROSTERMAP_TOKEN_AUTH",
    "version": "ROSTERMAP_ONEROSTER_VERSION",
}
CONFIG_ENV = "ROSTERMAP_CONFIG"


@dataclass(frozen=True)
class Credentials:
    """How to authenticate. ``client_secret`` is left out of repr on purpose."""

    method: str = "none"  # oauth2 | oauth1 | none
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    token_url: str = ""
    scope: str = ""
    signature_method: str = "HMAC-SHA1"  # OAuth 1: ClassLink's; HMAC-SHA256 for others
    token_auth: str = "basic"  # OAuth 2 client authentication: HTTP Basic or form fields


@dataclass(frozen=True)
class FetchOptions:
    """How to fetch. Defaults suit a real SIS; tests and benchmarks tighten them."""

    page_size: int = 1000  # PowerSchool's plugin must be raised to 1000; capped sizes are detected
    concurrency: int = 4  # requests in flight at once (Infinite Campus asks for <= 5)
    rate: float = 10.0  # requests per second per host; 0: no limit
    timeout: float = 30.0  # seconds to connect, and between bytes of a response
    deadline: float = 300.0  # seconds a whole request may take, however it trickles in
    retries: int = 5  # further attempts of a request after the first
    backoff: float = 0.5  # seconds before the first retry; doubles each time, with jitter
    max_backoff: float = 30.0
    max_retry_after: float = 120.0  # a longer Retry-After fails the request instead of waiting
    max_rejected: float = 0.5  # fail when a larger share of a collection is rejected
    max_records: int = 20_000_000  # records of one collection (--max-records)
    filter: bool = True  # push the mapping's FILTERS down as the `filter` parameter
    compat: bool = False  # accept minimal providers' shapes (see docs/rest.md)
    http2: bool = False
    version: str = ""  # the OneRoster version, when the URL does not say (v1p1, v1p2)
    redirect_hosts: str = ""  # other hosts a redirect may lead to, comma-separated: none


@dataclass(frozen=True)
class SourceConfig:
    credentials: Credentials
    options: FetchOptions


_OPTION_TYPES: dict[str, type] = {f.name: type(f.default) for f in fields(FetchOptions)}
_CREDENTIAL_KEYS = {f.name for f in fields(Credentials)} - {"method"} | {"auth"}


def _check_mode(path: Path, section: Mapping[str, Any]) -> None:
    """Refuse a config file others may change, or read when it holds the secret.

    A file anyone can write could point token_url at another host and collect the
    secret from the environment; one anyone can read gives the secret away.
    """
    if os.name != "posix":
        return  # Windows permissions are ACLs, not mode bits
    mode = path.stat().st_mode
    if mode & 0o002:
        others: Literal["write", "read"] = "write"
    elif mode & 0o004 and "client_secret" in section:
        others = "read"
    else:
        return
    raise UsageError([codes.config_file_open(path, mode & 0o777, others)])


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError([codes.config_file_missing(path)]) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        # TOMLDecodeError names a line and column, never the value: safe to show.
        raise UsageError([codes.config_not_toml(path, str(error))]) from None
    section = data.get("source", {})
    if not isinstance(section, dict):
        raise UsageError([codes.source_not_a_table(path)])
    _check_mode(path, section)
    return section


def _convert(key: str, value: Any, origin: str) -> Any:
    """A setting's value in its type; text from the environment is parsed."""
    kind = _OPTION_TYPES.get(key, str)
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
        raise UsageError([codes.setting_not_boolean(origin, key)])
    if kind in (int, float):
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise UsageError([codes.setting_not_a_number(origin, key)]) from None
        least = 1 if key in ("page_size", "concurrency") else 0
        if number < least:
            raise UsageError([codes.setting_too_small(origin, key, least)])
        return number
    if not isinstance(value, str):
        raise UsageError([codes.setting_not_text(origin, key)])
    return value.strip()


def load_config(
    config: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> SourceConfig:
    """The settings of a REST source, merged from file, environment and ``overrides``.

    ``overrides`` holds fetch options given on the command line (None: not given).
    """
    environ = os.environ if environ is None else environ
    merged: dict[str, tuple[Any, str]] = {}  # key -> (value, where it came from)
    path = config or (Path(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else None)
    if path is not None:
        known = set(_OPTION_TYPES) | _CREDENTIAL_KEYS
        for key, value in _read_file(path).items():
            if key not in known:
                raise UsageError([codes.unknown_setting(path, key, did_you_mean(key, known),
                                                        known)])
            merged[key] = (value, str(path))
    for key, variable in ENV.items():
        if environ.get(variable, "").strip():
            merged[key] = (environ[variable], variable)
    for key, value in (overrides or {}).items():
        if value is not None:
            merged[key] = (value, f"--{key.replace('_', '-')}")
    values = {key: _convert(key, value, origin) for key, (value, origin) in merged.items()}
    redact.register(values.get("client_secret"))

    options = replace(FetchOptions(), **{k: v for k, v in values.items() if k in _OPTION_TYPES})
    if options.version and options.version not in ("1.1", "1.2"):
        raise UsageError([codes.unknown_version_setting(merged["version"][1], options.version)])
    method = (values.get("auth") or "").lower() or ("oauth2" if values.get("token_url") else
                                    "oauth1" if values.get("client_id") else "none")
    credentials = Credentials(
        method=method,
        client_id=values.get("client_id", ""),
        client_secret=values.get("client_secret", ""),
        token_url=values.get("token_url", ""),
        scope=values.get("scope", ""),
        signature_method=(values.get("signature_method") or "HMAC-SHA1").upper(),
        token_auth=(values.get("token_auth") or "basic").lower(),
    )
    for value, allowed, key in ((credentials.method, AUTH_METHODS, "auth"),
                                (credentials.signature_method, SIGNATURE_METHODS,
                                 "signature_method"),
                                (credentials.token_auth, TOKEN_AUTH_METHODS, "token_auth")):
        if value not in allowed:
            raise UsageError([codes.setting_not_allowed(merged[key][1], key, value, allowed)])
    return SourceConfig(credentials, options)
