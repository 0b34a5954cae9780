"""Authentication to a OneRoster REST API: OAuth 2 client credentials and OAuth 1.0a signing.

Both are httpx ``Auth`` flows, so every request (retries included) is authenticated
afresh. The protocol work is authlib's: OAuth 1.0a signature base strings and
``Authorization`` headers (RFC 5849), OAuth 2 client authentication and token
request bodies (RFC 6749). rostermap adds only what authlib's core leaves to the
caller: HMAC-SHA256 (the digest over authlib's base string; 1.1 providers use it
beside HMAC-SHA1), token caching with renewal before expiry, and one renewal on a
401. authlib's own httpx integration is not used: it now targets httpx2 and warns
on httpx, which this project uses.

The server side (``devtools.serve``) verifies signatures with the same functions, so
the two ends of the protocol are tested against each other over real HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

import httpx
from authlib.common.urls import url_decode
from authlib.oauth1 import ClientAuth as OAuth1ClientAuth
from authlib.oauth1.rfc5849.signature import generate_signature_base_string
from authlib.oauth1.rfc5849.util import escape
from authlib.oauth1.rfc5849.wrapper import OAuth1Request
from authlib.oauth2.auth import ClientAuth as OAuth2ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_token_request

from rostermap.runtime import redact
from rostermap.runtime.sources.config import Credentials

__all__ = [
    "AuthError",
    "OAuth1Signer",
    "OAuth2ClientCredentials",
    "hmac_signature",
    "make_auth",
    "verify_oauth1",
]


class AuthError(Exception):
    """Authentication failed. ``retryable``: the token endpoint was busy or unreachable."""

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(redact.redact(message))
        self.retryable = retryable


def hmac_signature(base_string: str, client_secret: str, token_secret: str, method: str) -> str:
    """The RFC 5849 §3.4.2 HMAC signature of a base string, with SHA-1 or SHA-256."""
    key = f"{escape(client_secret)}&{escape(token_secret)}".encode()
    digest = hashlib.sha256 if method == "HMAC-SHA256" else hashlib.sha1
    return base64.b64encode(hmac.new(key, base_string.encode(), digest).digest()).decode()


def _sign_hmac_sha256(client: Any, request: Any) -> str:
    return hmac_signature(generate_signature_base_string(request), client.client_secret or "",
                          client.token_secret or "", "HMAC-SHA256")


class _SigningClient(OAuth1ClientAuth):  # type: ignore[misc]
    """authlib's OAuth 1 client with HMAC-SHA256 beside its HMAC-SHA1.

    A subclass with its own table, so registering the method does not change
    authlib's class for anyone else in the process.
    """

    SIGNATURE_METHODS = {**OAuth1ClientAuth.SIGNATURE_METHODS, "HMAC-SHA256": _sign_hmac_sha256}


class OAuth1Signer(httpx.Auth):
    """Two-legged OAuth 1.0a (consumer key and secret, no token), as 1.1 providers use it."""

    def __init__(self, credentials: Credentials):
        self._client = _SigningClient(credentials.client_id, credentials.client_secret,
                                      signature_method=credentials.signature_method)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        _, headers, _ = self._client.prepare(request.method, str(request.url), {}, b"")
        request.headers["Authorization"] = headers["Authorization"]
        yield request


class OAuth2ClientCredentials(httpx.Auth):
    """OAuth 2 client credentials: a bearer token, cached, renewed before it expires.

    A 401 on a request renews the token once and repeats the request; a second 401
    is the caller's to report. ``clock`` is injectable so expiry is testable.
    """

    def __init__(self, credentials: Credentials, http: httpx.AsyncClient,
                 clock: Callable[[], float] = time.monotonic):
        self._credentials = credentials
        self._http = http
        self._clock = clock
        method = "client_secret_post" if credentials.token_auth == "post" else None
        self._client_auth = OAuth2ClientAuth(credentials.client_id, credentials.client_secret,
                                              method)
        self._token: str | None = None
        self._expires_at = 0.0
        self._leeway = 0.0
        self._lock: asyncio.Lock | None = None
        self.tokens_fetched = 0

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response,
                                                                  None]:
        raise RuntimeError("rostermap fetches with an async client")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request,
                                                                            httpx.Response]:
        token = await self.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            token = await self.token(stale=token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    async def token(self, stale: str | None = None) -> str:
        """The current token; a new one if it expires soon or ``stale`` was refused."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            fresh = self._clock() < self._expires_at - self._leeway
            if self._token is None or self._token == stale or not fresh:
                await self._fetch()
            assert self._token is not None
            return self._token

    async def _fetch(self) -> None:
        c = self._credentials
        body = prepare_token_request("client_credentials", scope=c.scope or None)
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "Accept": "application/json"}
        _, headers, body = self._client_auth.prepare("POST", c.token_url, headers, body)
        try:
            response = await self._http.post(c.token_url, content=body, headers=headers)
        except httpx.TransportError as error:
            raise AuthError(f"the token endpoint could not be reached: "
                            f"{type(error).__name__}", retryable=True) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise AuthError(f"the token endpoint answered {response.status_code}",
                            retryable=True)
        data: dict[str, Any] = {}
        try:
            parsed = response.json()
            data = parsed if isinstance(parsed, dict) else {}
        except ValueError:
            data = dict(url_decode(response.text)) if "=" in response.text else {}
        if response.status_code != 200 or "access_token" not in data:
            reason = data.get("error") or "no access_token in the response"
            raise AuthError(f"the token endpoint refused the client credentials "
                            f"({response.status_code} {str(reason)[:80]})")
        token = str(data["access_token"])
        redact.register(token)
        lifetime = float(data.get("expires_in") or 0) or float("inf")
        now = self._clock()
        self._token, self._expires_at = token, now + lifetime
        self._leeway = min(60.0, lifetime / 10)
        self.tokens_fetched += 1


def make_auth(credentials: Credentials, http: httpx.AsyncClient) -> httpx.Auth | None:
    """The auth flow for the configured method; None for ``none``."""
    if credentials.method == "oauth2":
        return OAuth2ClientCredentials(credentials, http)
    if credentials.method == "oauth1":
        return OAuth1Signer(credentials)
    return None


def verify_oauth1(method: str, uri: str, headers: dict[str, str], client_id: str,
                  client_secret: str, max_skew: float = 300.0) -> tuple[str | None, str]:
    """(why a two-legged OAuth 1.0a request is refused or None, its timestamp:nonce).

    ``uri`` is the full request URI as the client addressed it. The caller keeps
    the recent nonces and refuses one seen before (a replayed request).
    """
    try:
        request = OAuth1Request(method, uri, body=b"", headers=headers)
    except Exception:  # authlib raises ValueError and its own errors on malformed headers
        return "malformed OAuth header", ""
    params = request.oauth_params
    nonce = f"{params.get('oauth_timestamp', '')}:{params.get('oauth_nonce', '')}"
    if not params:
        return "no OAuth 1.0a signature", nonce
    if params.get("oauth_consumer_key") != client_id:
        return "unknown consumer key", nonce
    signature_method = params.get("oauth_signature_method", "")
    if signature_method not in ("HMAC-SHA1", "HMAC-SHA256"):
        return f"unsupported signature method {signature_method[:20]!r}", nonce
    try:
        skew = abs(time.time() - int(params.get("oauth_timestamp", "")))
    except ValueError:
        return "bad timestamp", nonce
    if skew > max_skew:
        return "timestamp too far from the server's clock", nonce
    expected = hmac_signature(generate_signature_base_string(request), client_secret, "",
                              signature_method)
    if not hmac.compare_digest(expected, params.get("oauth_signature", "")):
        return "signature mismatch", nonce
    return None, nonce
