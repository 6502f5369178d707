"""Login with Amazon's token endpoint (``POST /auth/o2/token``), so the Amazon connector's refresh flow runs locally.

It exchanges a refresh token for an access token the way LWA does: form-encoded
``grant_type=refresh_token``, ``refresh_token``, ``client_id``, ``client_secret``; the answer
``{"access_token", "token_type": "bearer", "expires_in"}``; refusals ``{"error", "error_description"}``
with 400 (``invalid_grant``, ``unsupported_grant_type``, ``invalid_request``) or 401
(``invalid_client``). The SP-API routes ask ``state(token)`` whether a token is good, expired
or unknown. Token lifetimes run on the real clock (``lifetime_s``, an hour by default) so a
test can make them expire in a second.
"""

from __future__ import annotations

import hmac
import itertools
import threading
import time
from collections.abc import Callable
from urllib.parse import parse_qs

from sandbox import Reply, Request

PATH = "/auth/o2/token"
CLIENT_ID = "amzn1.application-oa2-client.sandbox"
REFRESH_TOKEN = "Atzr|sandbox-refresh-token"


class LwaIssuer:
    """Hands out access tokens for one LWA client and refresh token, and remembers until when each is good."""

    def __init__(self, client_secret: str, *, client_id: str = CLIENT_ID, refresh_token: str = REFRESH_TOKEN,
                 lifetime_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._client_id, self._client_secret, self._refresh = client_id, client_secret, refresh_token
        self.lifetime_s, self._clock = lifetime_s, clock
        self._issued: dict[str, float] = {}
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._revoke_in: int | None = None
        self.issued = 0
        self.refused = 0  # SP-API calls refused because their token was expired, revoked or unknown

    def state(self, token: str) -> str | None:
        """'valid' or 'expired' for a token this issuer handed out, None for any other."""
        with self._lock:
            if self._revoke_in is not None:
                self._revoke_in -= 1
                if self._revoke_in < 0:
                    self._issued.clear()
                    self._revoke_in = None
            until = self._issued.get(token)
            good = until is not None and self._clock() < until
            self.refused += not good
        if until is None:
            return None
        return "valid" if good else "expired"

    def revoke_after(self, calls: int) -> None:
        """Let ``calls`` more SP-API calls through, then revoke every token: a refresh forced in the middle of a poll."""
        with self._lock:
            self._revoke_in = calls

    def revoke_all(self) -> None:
        """Forget every token handed out (as when a seller revokes the app): SP-API refuses them from now on."""
        with self._lock:
            self._issued.clear()

    def __call__(self, req: Request) -> Reply:
        if req.method != "POST":
            return Reply.json(405, {"error": "invalid_request", "error_description": "POST only"})
        form = {k: v[-1] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "refresh_token":
            return _refuse(400, "unsupported_grant_type", "The authorization grant type is not supported")
        if not (_same(form.get("client_id"), self._client_id) and _same(form.get("client_secret"), self._client_secret)):
            return _refuse(401, "invalid_client", "Client authentication failed")
        if not _same(form.get("refresh_token"), self._refresh):
            return _refuse(400, "invalid_grant", "The request has an invalid grant parameter : refresh_token")
        with self._lock:
            token = f"Atza|sandbox-{next(self._numbers)}-{time.time_ns() % 10**9}"
            self._issued[token] = self._clock() + self.lifetime_s
            self.issued += 1
        return Reply.json(200, {"access_token": token, "refresh_token": self._refresh, "token_type": "bearer",
                                "expires_in": int(self.lifetime_s) if self.lifetime_s >= 1 else self.lifetime_s})


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _refuse(status: int, error: str, description: str) -> Reply:
    return Reply.json(status, {"error_description": description, "error": error})
