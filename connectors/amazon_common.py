"""What both Amazon SP-API Orders connectors share: credentials, quotas, marketplaces.

``connectors.amazon`` speaks Orders v0 (getOrders, then getOrderItems per order) and
``connectors.amazon_orders`` Orders v2026-01-01 (searchOrders, items included), which replaces
v0 by March 2027. Both pace themselves with the same process-wide token buckets.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Self

import httpx

from connectors import fields as f
from connectors.amazon_auth import HEADER, LwaAuth, LwaTokens
from connectors.client_base import ClientOwner
from connectors.http import RateLimited, make_client, send_with_retry
from connectors.schemas import ChannelOrder, Page, Rejection

SECRETS = ("access token",)
# Or, as SP-API apps really run, Login with Amazon's three: a fresh access token every hour (amazon_auth).
SECRET_SHAPES = (SECRETS, ("LWA client id", "LWA client secret", "LWA refresh token"))
US_MARKETPLACE = "ATVPDKIKX0DER"
# Documented default quotas per operation: (requests per second, burst).
RATES: Mapping[str, tuple[float, int]] = {
    "getOrders": (0.0167, 20), "getOrderItems": (0.5, 30),  # v0
    "searchOrders": (0.0056, 20),  # v2026-01-01: one call in three minutes, items included
}
# Amazon's order listings are eventually consistent: an update can become searchable after later ones.
# The next sync starts this long before the newest update seen; ingest skips what it already holds.
LISTING_OVERLAP = timedelta(minutes=2)
# Marketplace -> currency, for orders that carry no OrderTotal yet.
MARKETPLACE_CURRENCY: Mapping[str, str] = {
    "ATVPDKIKX0DER": "USD", "A2EUQ1WTGCTBG2": "CAD", "A1AM78C64UM0Y8": "MXN", "A1F83G8C2ARO7P": "GBP",
    "A1PA6795UKMFR9": "EUR", "A13V1IB3VIYZZH": "EUR", "APJ6JRA9NG5V4": "EUR", "A1RKKUPIHCS9HS": "EUR",
    "A1805IZSGTT6HS": "EUR", "A39IBJ37TRP1C6": "AUD", "A1VC38T7YXB528": "JPY",
}


# Set by the worker on SIGTERM (and SIGINT): a poll waiting for Amazon's quota stops instead of sleeping on.
STOPPING = threading.Event()
_WAIT_SLICE_S = 5.0
QUOTA_ROUNDS = 4  # 429s waited out in the bucket before a call gives up (the poll then ends; the cursor stays)
SHORT_WAIT_S = 10.0  # longer waits than this are not slept inside one HTTP call


class QuotaWaitStopped(Exception):
    """The process is stopping: the listing ends here, after the pages already stored."""


class TokenBucket:
    """A client-side quota: ``rate`` tokens a second up to ``burst``; ``acquire`` sleeps until one is free."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self._clock = rate, burst, clock
        self._tokens, self._at = float(burst), clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def acquire(self, sleep: Callable[[float], None]) -> float:
        """Take one token, sleeping as long as needed; returns the time slept.

        Raises QuotaWaitStopped, without taking a token, once ``STOPPING`` is set: searchOrders' quota can
        mean minutes of waiting, and a worker told to stop must not sit them out.
        """
        slept = 0.0
        while True:
            if STOPPING.is_set():
                raise QuotaWaitStopped(f"stopped while waiting {slept:.0f} s for Amazon's quota")
            with self._lock:
                self._refill()
                if self._tokens >= 1:
                    self._tokens -= 1
                    return slept
                wait = (1 - self._tokens) / self.rate
            wait = min(wait, _WAIT_SLICE_S)  # long waits in slices, to notice STOPPING
            sleep(wait)
            slept += wait

    def drain(self, wait_s: float = 0.0) -> None:
        """The server said 429: whatever we thought we had, we have nothing, and the next call waits ``wait_s``
        (at least one period of the rate)."""
        with self._lock:
            self._refill()
            self._tokens = min(0.0, 1.0 - wait_s * self.rate)

    def observe(self, limit: str | None) -> None:
        """Follow the rate Amazon reports in ``x-amzn-RateLimit-Limit``."""
        try:
            rate = float(limit) if limit else 0.0
        except ValueError:
            return
        if rate > 0:
            with self._lock:
                self._refill()
                self.rate = rate


_BUCKETS: dict[tuple[str, str], TokenBucket] = {}
_BUCKETS_LOCK = threading.Lock()


def shared_bucket(endpoint: str, operation: str) -> TokenBucket:
    """The process-wide bucket of one operation at one seller endpoint."""
    with _BUCKETS_LOCK:
        if (endpoint, operation) not in _BUCKETS:
            _BUCKETS[(endpoint, operation)] = TokenBucket(*RATES[operation])
        return _BUCKETS[(endpoint, operation)]


def next_cursor(start: datetime | None, newest: datetime | None) -> datetime | None:
    """Where the sync after this one starts: the overlap before the newest update seen, never before ``start``."""
    if newest is None:
        return start
    later = newest - LISTING_OVERLAP
    return later if start is None or later > start else start


def listing_page(raws: list[Any], parse: Callable[[Any], ChannelOrder | Rejection], updated_key: str,
                 newest: datetime | None) -> tuple[Page, datetime | None]:
    """One page of a listing, parsed, and the newest update seen so far (broken records' stamps count too).

    The page carries no cursor: Amazon promises no order within a listing, so only its end may move it.
    """
    records: list[ChannelOrder] = []
    rejected: list[Rejection] = []
    for raw in raws:
        parsed = parse(raw)
        (records if isinstance(parsed, ChannelOrder) else rejected).append(parsed)
        stamp = parsed.updated_at if isinstance(parsed, ChannelOrder) else _updated_of(raw, updated_key)
        if stamp is not None and (newest is None or stamp > newest):
            newest = stamp
    return Page(records=tuple(records), rejected=tuple(rejected)), newest


def last_page(page: Page, start: datetime | None, newest: datetime | None) -> Page:
    """The listing's last page, carrying where the next sync starts (none when nothing is known yet)."""
    cursor = next_cursor(start, newest)
    return page.model_copy(update={"cursor": f.utc_iso(cursor) if cursor else None})


def _updated_of(raw: Any, key: str) -> datetime | None:
    try:
        return f.when(raw.get(key), key, required=False)
    except (f.Invalid, AttributeError):
        return None


def rate_period(resp: httpx.Response) -> float | None:
    """How long a 429 without Retry-After asks us to wait: one period of the rate in ``x-amzn-RateLimit-Limit``."""
    try:
        rate = float(resp.headers.get("x-amzn-RateLimit-Limit", ""))
    except ValueError:
        return None
    return 1 / rate if rate > 0 else None


class AmazonClient(ClientOwner):
    """An SP-API connector over one injected ``httpx.Client``, built with a fixed token or through Login with Amazon.

    Subclasses set ``_client``, ``_sleep`` and ``_retry`` (send_with_retry's options, with a short ``max_wait_s``).
    """

    _sleep: Callable[[float], None]
    _retry: dict[str, Any]

    def __init__(self, client: httpx.Client, **options: Any) -> None:
        raise NotImplementedError  # each API's connector takes the client and its own options

    def _paced(self, bucket: TokenBucket, url: str, params: dict[str, Any]) -> httpx.Response:
        """One GET within ``bucket``'s quota. A 429 asking for a longer wait than send_with_retry sits out
        (searchOrders: three minutes) is waited in the bucket instead, where a stopping worker can end it."""
        for round_ in range(1, QUOTA_ROUNDS + 1):
            bucket.acquire(self._sleep)
            try:
                resp = send_with_retry(self._client, "GET", url, params=params, **self._retry)
            except RateLimited as exc:
                if exc.retry_after is None or round_ == QUOTA_ROUNDS:
                    bucket.drain()
                    raise
                bucket.drain(exc.retry_after)
                continue
            bucket.observe(resp.headers.get("x-amzn-RateLimit-Limit"))
            return resp
        raise AssertionError("unreachable: the last round returns or raises")

    @classmethod
    def connect(cls, base_url: str, token: str, timeout: float = 20.0, **options: Any) -> Self:
        """Build the client for a seller endpoint with a fixed LWA access token."""
        return cls(make_client(base_url, {HEADER: token}, timeout=timeout), **options)

    @classmethod
    def connect_lwa(cls, base_url: str, tokens: LwaTokens, timeout: float = 20.0, **options: Any) -> Self:
        """Build the client for a seller endpoint that fetches and renews its access tokens through ``tokens``."""
        client = make_client(base_url, timeout=timeout)
        client.auth = LwaAuth(tokens)
        return cls(client, **options)
