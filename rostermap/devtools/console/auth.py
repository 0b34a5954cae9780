"""Who may use the console: sessions from a one-time token or a password, and CSRF.

The console can publish a district's roster, so every request but the login page
needs a session. A session starts from the one-time token printed when the console
starts (used once, then void: a token seen later in a terminal's scrollback opens
nothing), or from a password whose scrypt hash is in
``$ROSTERMAP_CONSOLE_PASSWORD_HASH``. The session id is a random cookie (HttpOnly,
SameSite=Strict, Secure over HTTPS) naming a session held in memory only: a restart
logs everyone out. Each session has its own CSRF token, which every form that
changes something carries and every POST must return.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

from rostermap.dsl import codes
from rostermap.runtime.errors import UsageError

__all__ = ["Gate", "Session", "hash_password", "parse_hash"]

SESSION_SECONDS = 12 * 3600
_SCRYPT = (2**14, 8, 1)  # n, r, p: about 16 MB and 50 ms a guess


@dataclass(frozen=True)
class Session:
    id: str
    who: str
    csrf: str
    expires: float


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64), for ``$ROSTERMAP_CONSOLE_PASSWORD_HASH``."""
    n, r, p = _SCRYPT
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${n}${r}${p}${b64(salt).decode()}${b64(digest).decode()}"


@dataclass(frozen=True)
class _Hash:
    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes

    def matches(self, password: str) -> bool:
        found = hashlib.scrypt(password.encode(), salt=self.salt, n=self.n, r=self.r, p=self.p,
                               dklen=len(self.digest), maxmem=256 * 1024 * 1024)
        return hmac.compare_digest(found, self.digest)


def parse_hash(text: str) -> _Hash:
    parts = text.strip().split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise UsageError([codes.console_password_hash_bad("not scrypt$N$r$p$salt$hash")])
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt, digest = base64.b64decode(parts[4], validate=True), base64.b64decode(
            parts[5], validate=True)
    except ValueError as error:
        raise UsageError([codes.console_password_hash_bad(str(error))]) from None
    if n < 2**14 or n & (n - 1) or not 1 <= r <= 64 or not 1 <= p <= 16 or len(salt) < 16 \
            or len(digest) < 16:
        raise UsageError([codes.console_password_hash_bad(
            "too weak: N must be a power of two of at least 16384, the salt 16 bytes")])
    return _Hash(n, r, p, salt, digest)


@dataclass
class Gate:
    """The console's logins and sessions. Thread-safe: uvicorn serves from one loop,
    but tests and the CLI read it from other threads."""

    password: _Hash | None = None
    token: str | None = field(default_factory=lambda: secrets.token_urlsafe(24))
    _sessions: dict[str, Session] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def login(self, secret: str, who: str) -> Session | None:
        """A new session if ``secret`` is the unused token or the password."""
        ok = False
        with self._lock:
            if self.token is not None and hmac.compare_digest(secret.encode(),
                                                              self.token.encode()):
                self.token = None  # one time only
                ok = True
        if not ok and self.password is not None and secret:
            ok = self.password.matches(secret)
        if not ok:
            return None
        session = Session(secrets.token_urlsafe(32), who.strip()[:80] or "console user",
                          secrets.token_urlsafe(32), time.time() + SESSION_SECONDS)
        with self._lock:
            self._sessions[session.id] = session
        return session

    def session(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and session.expires < time.time():
                del self._sessions[session_id]
                return None
        return session

    def logout(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    @staticmethod
    def csrf_ok(session: Session, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(session.csrf.encode(), str(given).encode())
