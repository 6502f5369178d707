"""Login with Amazon (LWA): SP-API access tokens from a refresh token, fetched once an hour, not per call.

Wire facts: ``POST {lwa_url}`` (``https://api.amazon.com/auth/o2/token``), form-encoded
``grant_type=refresh_token``, ``refresh_token``, ``client_id``, ``client_secret``; the answer is
``{"access_token": "Atza|...", "token_type": "bearer", "expires_in": 3600}``; errors are
``{"error": "invalid_grant" | "invalid_client" | ..., "error_description": "..."}`` with 400 or 401.
The access token travels in ``x-amz-access-token``. SP-API answers a token that expired or was
revoked with 403 ``{"errors": [{"code": "Unauthorized", ...}]}``: then we fetch a new one once
and send the call again.

Tokens are kept per (token endpoint, client id, refresh token) for the whole process: the
worker builds a new connector every poll, and a token fetch per poll would be one LWA call
every few seconds for a token that lasts an hour.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

import httpx

from connectors.http import USER_AGENT, AuthError, BadResponse, TransportFailure

LWA_URL = "https://api.amazon.com/auth/o2/token"
HEADER = "x-amz-access-token"
EARLY_S = 60.0  # refresh this long before the token's end: a call in flight must not carry a dead token
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def checked_lwa_url(url: str) -> str:
    """``url`` if the client secret may be posted there: https, or plain http only to this machine (the sandbox)."""
    parsed = httpx.URL(url)
    if parsed.scheme == "https" and parsed.host:
        return url
    if parsed.scheme == "http" and parsed.host in _LOOPBACK:
        return url
    # The form carries the client secret and refresh token: never in clear text over a network.
    raise AuthError(f"Login with Amazon URL {parsed.scheme}://{parsed.host or '?'}... refused: the client secret "
                    "is only sent over https (plain http only to 127.0.0.1)", url=url)


class LwaTokens:
    """A refresh token's current access token: fetched when missing or about to expire, shared by threads."""

    def __init__(self, lwa_url: str, client_id: str, client_secret: str, refresh_token: str, *,
                 clock: Callable[[], float] = time.monotonic, transport: httpx.BaseTransport | None = None) -> None:
        self.lwa_url = checked_lwa_url(lwa_url)
        self._form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id,
                      "client_secret": client_secret}
        self._clock, self._transport = clock, transport
        self._lock = threading.Lock()
        self._token: str | None = None
        self._until, self._early = 0.0, EARLY_S
        self.fetched = 0  # how many tokens this refresh token was exchanged for (tests, logs)

    def current(self) -> str:
        """A token valid for at least ``EARLY_S`` more seconds."""
        with self._lock:
            if self._token is None or self._clock() >= self._until - self._early:
                self._fetch()
            assert self._token is not None
            return self._token

    def renew(self, rejected: str) -> str:
        """A new token after SP-API refused ``rejected`` (unless another thread renewed it meanwhile)."""
        with self._lock:
            if self._token == rejected or self._token is None:
                self._fetch()
            assert self._token is not None
            return self._token

    def _fetch(self) -> None:
        try:
            with httpx.Client(timeout=httpx.Timeout(15.0, connect=5.0), transport=self._transport,
                              follow_redirects=False, headers={"User-Agent": USER_AGENT}) as client:
                resp = client.post(self.lwa_url, data=self._form, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise TransportFailure(f"Login with Amazon ({_host(self.lwa_url)}) did not answer: "
                                   f"{type(exc).__name__}", url=self.lwa_url) from None
        body = _json(resp)
        if resp.status_code in (400, 401):
            code = str(body.get("error") or resp.status_code)
            said = str(body.get("error_description") or "")[:160]
            hint = {"invalid_grant": "the refresh token is wrong, expired or revoked",
                    "invalid_client": "the LWA client id or client secret is wrong",
                    "unauthorized_client": "this LWA client may not use refresh tokens"}.get(code, "check the LWA credentials")
            raise AuthError(f"Login with Amazon refused the token refresh ({code}: {hint}){': ' + said if said else ''}",
                            status_code=resp.status_code, url=self.lwa_url)
        token, lifetime = body.get("access_token"), body.get("expires_in")
        if resp.status_code != 200 or not isinstance(token, str) or not token:
            raise BadResponse(f"Login with Amazon answered {resp.status_code} without an access token",
                              status_code=resp.status_code, url=self.lwa_url)
        seconds = float(lifetime) if isinstance(lifetime, int | float) and not isinstance(lifetime, bool) else 3600.0
        self._token, self._until = token, self._clock() + seconds
        self._early = min(EARLY_S, seconds / 10)
        self.fetched += 1


class LwaAuth(httpx.Auth):
    """Puts the current access token on each SP-API call; a 403 Unauthorized gets one new token and one retry."""

    requires_response_body = True

    def __init__(self, tokens: LwaTokens) -> None:
        self.tokens = tokens

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.tokens.current()
        request.headers[HEADER] = token
        response = yield request
        if response.status_code == 403 and _unauthorized(response):
            request.headers[HEADER] = self.tokens.renew(token)
            yield request


_shared: dict[tuple[str, str, str], LwaTokens] = {}
_shared_lock = threading.Lock()


def shared_tokens(lwa_url: str, client_id: str, client_secret: str, refresh_token: str) -> LwaTokens:
    """The process's LwaTokens for this refresh token (keyed by a digest: no secret is kept as a key)."""
    digest = hashlib.sha256(f"{client_id}\0{client_secret}\0{refresh_token}".encode()).hexdigest()
    key = (lwa_url, client_id, digest)
    with _shared_lock:
        if key not in _shared:
            _shared[key] = LwaTokens(lwa_url, client_id, client_secret, refresh_token)
        return _shared[key]


def _unauthorized(response: httpx.Response) -> bool:
    errors = _json(response).get("errors")
    return isinstance(errors, list) and any(isinstance(e, dict) and e.get("code") == "Unauthorized" for e in errors)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _host(url: str) -> str:
    return httpx.URL(url).host or url
