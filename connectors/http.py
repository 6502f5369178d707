"""The HTTP plumbing every connector shares: one error hierarchy, bounded retries, Link parsing.

Channel-agnostic on purpose: Shopify, WooCommerce, Amazon and the carriers all speak
429/Retry-After, 5xx and RFC 8288 Link headers, so they reuse this module unchanged.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

log = logging.getLogger(__name__)

USER_AGENT = "OpsDesk/0.1 (+internal operations desk)"
# Methods a server must treat as safe to repeat (RFC 9110 9.2.2): only these are retried
# after the request may have reached the server (5xx, read timeouts).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class ConnectorError(Exception):
    """Base of every connector failure; ``str(error)`` is one line meant for people."""

    def __init__(self, message: str, *, status_code: int | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.url = url


class AuthError(ConnectorError):
    """The channel refused our credentials (401) or their scope (403); retrying will not help."""


class RateLimited(ConnectorError):
    """The channel kept answering 429; ``retry_after`` says when it would accept us again."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(ConnectorError):
    """The channel kept failing with 5xx."""


class TransportFailure(ConnectorError):
    """No usable answer at all: timeout, refused connection, broken stream."""


class BadResponse(ConnectorError):
    """The channel answered, but not with something we can read."""


class RequestRejected(ConnectorError):
    """The channel refused the request itself (400, 404, 422 ...): a bug or a config error on our side."""


def make_client(
    base_url: str,
    headers: Mapping[str, str] | None = None,
    *,
    timeout: float = 10.0,
    connect_timeout: float = 5.0,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """Build an ``httpx.Client`` with explicit connect/read/write/pool timeouts.

    ``transport`` lets tests pass ``httpx.MockTransport``. Redirects are not followed: a
    channel that redirects an API call is misconfigured, and following it could leak the
    auth header to another host.
    """
    all_headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
    return httpx.Client(
        base_url=base_url,
        headers=all_headers,
        timeout=httpx.Timeout(timeout, connect=min(connect_timeout, timeout)),
        follow_redirects=False,
        transport=transport,
    )


def send_with_retry(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    json: Any = None,
    max_attempts: int = 5,
    max_wait_s: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    backoff_s: float = 0.5,
    idempotent: bool | None = None,
    rate_limit_wait: Callable[[httpx.Response], float | None] | None = None,
) -> httpx.Response:
    """Send one request, retrying what is worth retrying, and return the 2xx response.

    - 429: waits ``Retry-After`` (seconds or an HTTP date), else exponential backoff with jitter.
    - 5xx and transport failures: exponential backoff with jitter, for idempotent methods
      only (a POST that timed out may have been applied); connection failures are always
      retried because the request never left.
    - 401/403 raise ``AuthError`` at once; other 4xx (and redirects, which are not followed)
      raise ``RequestRejected`` at once.
    - The total sleep per call never exceeds ``max_wait_s``: when the server asks for a
      longer wait than the budget left, we stop and raise ``RateLimited`` with
      ``retry_after`` so the caller (a scheduled job) can come back later instead.
    - ``rate_limit_wait`` reads how long to wait from a 429 that has no Retry-After (Amazon
      sends its current rate in ``x-amzn-RateLimit-Limit`` instead).
    """
    method = method.upper()
    if idempotent is None:
        idempotent = method in IDEMPOTENT_METHODS
    waited = 0.0
    attempt = 0
    while True:
        attempt += 1
        outcome, wait = _attempt(client, method, url, params, json, idempotent, attempt, backoff_s, rate_limit_wait)
        if isinstance(outcome, httpx.Response):
            return outcome
        budget = max_wait_s - waited
        if wait is None or attempt >= max_attempts or budget <= 0:
            raise outcome
        asked = outcome.retry_after if isinstance(outcome, RateLimited) else None
        if asked is not None and asked > budget:
            raise outcome  # sleeping less than the server asked would only earn another 429
        wait = min(wait, budget)
        log.info("retrying %s %s in %.2fs after: %s (attempt %d/%d)",
                 method, _path(url), wait, outcome, attempt, max_attempts)
        sleep(wait)
        waited += wait


def _attempt(
    client: httpx.Client,
    method: str,
    url: str,
    params: Mapping[str, Any] | None,
    json: Any,
    idempotent: bool,
    attempt: int,
    backoff_s: float,
    rate_limit_wait: Callable[[httpx.Response], float | None] | None = None,
) -> tuple[httpx.Response | ConnectorError, float | None]:
    """One try: the response if usable, else the error and how long to wait (None: do not retry)."""
    backoff = _backoff(attempt, backoff_s)
    try:
        resp = client.request(method, url, params=params, json=json)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        return TransportFailure(f"could not connect to {_host(url, client)}: {_why(exc)}", url=url), backoff
    except httpx.TimeoutException as exc:
        err = TransportFailure(f"{method} {_path(url)} timed out ({type(exc).__name__})", url=url)
        return err, backoff if idempotent else None
    except httpx.TransportError as exc:
        err = TransportFailure(f"{method} {_path(url)} failed in transit: {_why(exc)}", url=url)
        return err, backoff if idempotent else None
    except httpx.DecodingError as exc:
        return BadResponse(f"{method} {_path(url)} returned an undecodable body: {_why(exc)}", url=url), None

    status, where = resp.status_code, f"{method} {_path(url)}"
    if status < 300:
        return resp, None
    kw: dict[str, Any] = {"status_code": status, "url": str(resp.request.url)}
    if status < 400:
        moved = resp.headers.get("Location", "elsewhere")
        msg = f"{where} was redirected ({status}) to {moved}: check the base URL"
        return RequestRejected(msg, **kw), None
    if status in (401, 403):
        word = "unauthorized" if status == 401 else "forbidden"
        msg = f"{where} was refused ({status} {word}): check the access token and its scopes"
        return AuthError(msg, **kw), None
    if status == 429:
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        if retry_after is None and rate_limit_wait is not None:
            retry_after = rate_limit_wait(resp)
        if retry_after is None:
            return RateLimited(f"{where} is rate limited (429)", **kw), backoff
        msg = f"{where} is rate limited (429), retry after {retry_after:g}s"
        return RateLimited(msg, retry_after=retry_after, **kw), retry_after
    if status >= 500:
        return ServerError(f"{where} failed on the server ({status})", **kw), backoff if idempotent else None
    return RequestRejected(f"{where} was rejected ({status}): {_snippet(resp)}", **kw), None


def _backoff(attempt: int, base: float) -> float:
    """Exponential backoff with 'equal jitter': between half and all of base * 2^(n-1), capped at 30 s."""
    ceiling = min(30.0, base * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds (floats allowed) or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN / inf
        return None
    return max(0.0, seconds)


def json_body(resp: httpx.Response) -> Any:
    """The decoded JSON body, or ``BadResponse`` when the channel sent something else."""
    try:
        return resp.json()
    except ValueError as exc:
        where = f"{resp.request.method} {_path(str(resp.request.url))}"
        raise BadResponse(f"{where} returned a body that is not JSON: {_snippet(resp)}",
                          status_code=resp.status_code, url=str(resp.request.url)) from exc


# RFC 8288: link-value = "<" URI-Reference ">" *( OWS ";" OWS link-param ), separated by commas.
_LINK_VALUE = re.compile(r'<([^>]*)>((?:\s*;\s*[^;,="\s]+\s*(?:=\s*(?:"(?:[^"\\]|\\.)*"|[^;,\s]*))?)*)')
_LINK_PARAM = re.compile(r';\s*([^;,="\s]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*))?')


def parse_links(link_header: str | None) -> dict[str, str]:
    """Map each relation type (lower-cased) to its URI; the first link wins for a repeated rel."""
    links: dict[str, str] = {}
    for match in _LINK_VALUE.finditer(link_header or ""):
        uri, params = match.group(1).strip(), match.group(2)
        for name, raw in _LINK_PARAM.findall(params):
            if name.lower() != "rel":
                continue
            value = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw
            for rel in value.lower().split():  # rel may list several relation types
                links.setdefault(rel, uri)
    return links


def next_link(link_header: str | None) -> str | None:
    """The rel="next" URI of an RFC 8288 Link header, or None when there is no next page."""
    return parse_links(link_header).get("next")


def _path(url: str) -> str:
    """The URL without its query string: page tokens and filters make log lines unreadable."""
    return url.split("?", 1)[0]


def _host(url: str, client: httpx.Client) -> str:
    parsed = httpx.URL(url)
    return parsed.host or client.base_url.host or url


def _why(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _snippet(resp: httpx.Response, limit: int = 160) -> str:
    try:
        text = " ".join(resp.text.split())
    except Exception:  # an undecodable body is still worth a message, not a crash
        text = ""
    return (text[:limit] + "...") if len(text) > limit else (text or "<empty body>")
