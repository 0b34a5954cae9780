"""``rostermap console``: the operator console, a local web application over run states.

``app`` holds the pages, ``auth`` the sessions and CSRF tokens, ``states`` reads the
states; this module starts uvicorn with them. See docs/console.md.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

from rostermap.devtools.console.app import Settings, is_loopback, make_app
from rostermap.devtools.console.auth import Gate, hash_password, parse_hash
from rostermap.dsl import codes
from rostermap.runtime.errors import UsageError

__all__ = ["PASSWORD_ENV", "Console", "Settings", "hash_password"]

PASSWORD_ENV = "ROSTERMAP_CONSOLE_PASSWORD_HASH"


@dataclass(frozen=True)
class Tls:
    cert: Path
    key: Path


def _tls(cert: Path | None, key: Path | None) -> Tls | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise UsageError([codes.console_tls_unreadable(cert or key, "give both --tls-cert "
                                                                    "and --tls-key")])
    for path in (cert, key):
        if not os.access(path, os.R_OK) or not path.is_file():
            raise UsageError([codes.console_tls_unreadable(path, "not a readable file")])
    return Tls(cert, key)


class Console:
    """The console bound to its socket (so the port is known before it serves), ready
    to serve in this thread (``serve``) or another (``start``, for tests)."""

    def __init__(self, settings: Settings, host: str = "127.0.0.1", port: int = 8484,
                 tls_cert: Path | None = None, tls_key: Path | None = None,
                 behind_proxy: bool = False, password_hash: str | None = None):
        import uvicorn

        tls = _tls(tls_cert, tls_key)
        if not is_loopback(host) and tls is None and not behind_proxy:
            raise UsageError([codes.console_exposed(host)])
        text = password_hash if password_hash is not None else os.environ.get(PASSWORD_ENV)
        self.gate = Gate(password=parse_hash(text) if text else None)
        self.app = make_app(Settings(settings.tenants, settings.folder, settings.show_pii,
                                     secure=tls is not None or behind_proxy), self.gate)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind((host, port))
        except OSError:
            self.socket.close()
            raise
        self.port = self.socket.getsockname()[1]
        self.scheme = "https" if tls else "http"
        shown = f"[{host}]" if ":" in host else host
        self.url = f"{self.scheme}://{shown}:{self.port}"
        if is_loopback(host) and not behind_proxy:  # the Host names a page may come from
            self.app.state.hosts = (f"{shown}:{self.port}", f"localhost:{self.port}")
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off",
            ssl_certfile=str(tls.cert) if tls else None,
            ssl_keyfile=str(tls.key) if tls else None,
            proxy_headers=behind_proxy, forwarded_allow_ips="127.0.0.1" if behind_proxy
            else None)
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def token(self) -> str | None:
        """The one-time login token, until it is used."""
        return self.gate.token

    def serve(self) -> None:
        self.server.run(sockets=[self.socket])

    def start(self) -> None:
        """Serve in a thread; return once it accepts connections."""
        self._thread = threading.Thread(target=self.serve, daemon=True)
        self._thread.start()
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the console did not start")
            self._thread.join(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self.socket.close()
