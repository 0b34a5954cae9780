"""Keep secrets out of everything rostermap prints, logs or writes.

Client secrets and access tokens are registered here the moment they are read or
received; every path that turns text into output (diagnostics on stderr, the
summary on stdout, report.json, progress lines, log records) passes it through
:func:`redact`. Redacting at the exits, rather than trusting each message to leave
secrets out, also covers the text rostermap does not write itself: an exception
from the HTTP stack, a provider's error body that echoes the request.
"""

from __future__ import annotations

import logging
import threading
import urllib.parse
from typing import Any

__all__ = ["MASK", "forget_all", "install_log_redaction", "redact", "redact_data", "register"]

MASK = "[redacted]"
_MIN_LENGTH = 4  # shorter values would mask ordinary words; such secrets are refused upstream

_lock = threading.Lock()
_secrets: set[str] = set()


def register(secret: str | None) -> None:
    """Mask ``secret`` (and its URL-encoded forms) in all output from now on."""
    if not secret or len(secret) < _MIN_LENGTH:
        return
    forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    with _lock:
        _secrets.update(forms)


def forget_all() -> None:
    """Drop every registered secret (tests that plant several use this between runs)."""
    with _lock:
        _secrets.clear()


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by a mask, longest first."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_data(value: Any) -> Any:
    """A JSON-like value (dicts, lists, strings) with every string redacted: a copy.
    The secrets are looked up once for the whole value (a large district's report
    holds tens of thousands of strings)."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    return _redacted(value, secrets)


def _redacted(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {_redacted(k, secrets): _redacted(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v, secrets) for v in value]
    return value


_installed = False


def install_log_redaction() -> None:
    """Redact every log record any library creates from now on (idempotent).

    A record factory rather than a filter: filters attach to one logger or handler,
    and the HTTP stack logs through loggers and handlers rostermap does not own.
    """
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error path
            return record
        record.msg, record.args = redact(message), None
        return record

    logging.setLogRecordFactory(factory)
