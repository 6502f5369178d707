"""The Shopify Admin REST orders API, served from the simulated World.

Covers what OpsDesk relies on, the way Shopify does it: access-token auth, a leaky-bucket
call limit (40 calls, 2 leak per second) reported in ``X-Shopify-Shop-Api-Call-Limit``,
``limit`` up to 250, keyset cursor pages behind an opaque ``page_info`` carried in the
``Link`` header, and the filters a sync uses.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

from sandbox import Faults, Reply, Request
from sandbox.world import OrderRow, World

PREFIX = "/admin/api/"
_PATH = re.compile(r"^/admin/api/(?P<version>[^/]+)/(?P<resource>orders\.json|orders/count\.json)$")
_ORDER = re.compile(r"^\s*(created_at|updated_at|processed_at|id)(?:\s+(asc|desc))?\s*$", re.IGNORECASE)
_STATUSES = ("open", "closed", "cancelled", "any")
_TIME_FILTERS = ("created_at_min", "created_at_max", "updated_at_min", "updated_at_max")
_FILTERS = ("status", "since_id", "ids", *_TIME_FILTERS)
# With page_info, Shopify accepts only these; the query itself lives inside the token.
_PAGE_INFO_PARAMS = frozenset({"page_info", "limit", "fields"})
DEFAULT_LIMIT, MAX_LIMIT = 50, 250
THROTTLED = ("Exceeded 2 calls per second for api client. "
             "Reduce request rates to resume uninterrupted service.")


class _BadRequest(Exception):
    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param, self.message = param, message


class LeakyBucket:
    """Shopify's REST call limit: each call adds one, the bucket leaks ``leak_per_s``."""

    def __init__(self, size: int = 40, leak_per_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.size, self.leak_per_s, self._clock = size, leak_per_s, clock
        self._level, self._at = 0.0, clock()
        self._lock = threading.Lock()

    def take(self) -> tuple[bool, int, float]:
        """(allowed, calls now in the bucket, seconds until a call would fit)."""
        with self._lock:
            now = self._clock()
            self._level = max(0.0, self._level - (now - self._at) * self.leak_per_s)
            self._at = now
            if self._level + 1 > self.size:
                return False, self.size, (self._level + 1 - self.size) / self.leak_per_s
            self._level += 1
            return True, math.ceil(self._level), 0.0


class ShopifyApi:
    """Route handler for ``/admin/api/``; call it with a Request."""

    def __init__(self, world: World, faults: Faults, token: str, *, bucket_size: int = 40,
                 leak_per_s: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.world, self.faults, self._token = world, faults, token
        self.bucket = LeakyBucket(bucket_size, leak_per_s, clock)

    def __call__(self, req: Request) -> Reply:
        match = _PATH.match(req.path)
        if not match:
            return Reply.json(404, {"errors": "Not Found"})
        given = req.header("X-Shopify-Access-Token") or ""
        if not hmac.compare_digest(given.encode(), self._token.encode()):
            return Reply.json(401, {"errors": "[API] Invalid API key or access token "
                                              "(unrecognized login or wrong password)"})
        if req.method != "GET":
            return Reply.json(405, {"errors": "Method Not Allowed"}, {"Allow": "GET"})
        self.faults.delay()
        fault = self.faults.draw()
        if fault == 429:
            return self._throttled(self.faults.config.retry_after_s, self.bucket.size)
        allowed, used, wait = self.bucket.take()
        if not allowed:
            return self._throttled(wait, used)
        headers = {"X-Shopify-Shop-Api-Call-Limit": f"{used}/{self.bucket.size}",
                   "X-Shopify-API-Version": match["version"]}
        if fault is not None:
            return _server_error(fault, headers)
        try:
            if match["resource"] == "orders/count.json":
                reply = self._count(req)
            else:
                reply = self._orders(req, match["version"])
        except _BadRequest as exc:
            reply = Reply.json(400, {"errors": {exc.param: exc.message}})
        reply.headers.update(headers)
        return reply

    def _throttled(self, retry_after: float, used: int) -> Reply:
        return Reply.json(429, {"errors": THROTTLED}, {
            "Retry-After": str(round(max(retry_after, 0.0), 3)),  # "2.0" like Shopify, "0.05" in tests
            "X-Shopify-Shop-Api-Call-Limit": f"{used}/{self.bucket.size}"})

    def _count(self, req: Request) -> Reply:
        if req.param("page_info") is not None:
            raise _BadRequest("page_info", "page_info cannot be passed.")
        query = {k: v for k in _FILTERS if (v := req.param(k)) is not None}
        return Reply.json(200, {"count": len(self._matching(query))})

    def _orders(self, req: Request, version: str) -> Reply:
        limit = _limit(req.param("limit"))
        fields = [f.strip() for f in (req.param("fields") or "").split(",") if f.strip()]
        token = req.param("page_info")
        if token is not None:
            extra = sorted(set(req.query) - _PAGE_INFO_PARAMS)
            if extra:
                raise _BadRequest(extra[0], f"{extra[0]} cannot be passed with page_info.")
            state = _decode(token)
            query, order, direction, anchor = state["q"], state["o"], state["d"], tuple(state["k"])
        else:
            query = {k: v for k in _FILTERS if (v := req.param(k)) is not None}
            order, direction, anchor = _parse_order(req.param("order")), "first", None
        field, desc = order
        key = _sort_key(field)
        ordered = sorted(self._matching(query), key=key, reverse=desc)
        # "beyond" the anchor means later in the requested order, whichever direction it runs.
        beyond = (lambda k: k < anchor) if desc else (lambda k: k > anchor)
        if direction == "next":
            rest = [r for r in ordered if beyond(key(r))]
            page, more, earlier = rest[:limit], len(rest) > limit, True
        elif direction == "prev":
            before = [r for r in ordered if key(r) != anchor and not beyond(key(r))]
            page, more, earlier = before[-limit:], True, len(before) > limit
        else:
            page, more, earlier = ordered[:limit], len(ordered) > limit, False
        links = []
        base = f"{req.base_url}{PREFIX}{version}/orders.json?limit={limit}"
        if fields:
            base += "&fields=" + ",".join(fields)
        if earlier and page:
            links.append(f'<{base}&page_info={_encode(query, order, "prev", key(page[0]))}>; rel="previous"')
        if more and page:
            links.append(f'<{base}&page_info={_encode(query, order, "next", key(page[-1]))}>; rel="next"')
        payloads = [r.payload() for r in page]
        if fields:
            payloads = [{k: p[k] for k in fields if k in p} for p in payloads]
        return Reply.json(200, {"orders": payloads}, {"Link": ", ".join(links)} if links else None)

    def _matching(self, query: dict[str, str]) -> list[OrderRow]:
        status = query.get("status", "open").lower()
        if status not in _STATUSES:
            raise _BadRequest("status", f"status must be one of {', '.join(_STATUSES)}.")
        bounds = {name: _time(name, query[name], self.world.tz) for name in _TIME_FILTERS if name in query}
        since_id = _int("since_id", query["since_id"]) if "since_id" in query else None
        ids = {_int("ids", i) for i in query["ids"].split(",") if i.strip()} if query.get("ids") else None
        rows = []
        for r in self.world.rows():
            if status == "open" and (r.closed or r.cancelled) or status == "closed" and not r.closed:
                continue
            if status == "cancelled" and not r.cancelled:
                continue
            if since_id is not None and r.id <= since_id or ids is not None and r.id not in ids:
                continue
            if not all(_within(r, name, bound) for name, bound in bounds.items()):
                continue
            rows.append(r)
        return rows


def _within(row: OrderRow, name: str, bound: datetime) -> bool:
    value = row.created if name.startswith("created") else row.updated
    return value >= bound if name.endswith("_min") else value <= bound


def _sort_key(field: str) -> Callable[[OrderRow], tuple[int, int]]:
    if field == "id":
        return lambda r: (r.id, r.id)
    if field == "updated_at":
        return lambda r: (int(r.updated.timestamp()), r.id)
    return lambda r: (int(r.created.timestamp()), r.id)  # processed_at == created_at here


def _parse_order(value: str | None) -> tuple[str, bool]:
    if value is None:
        return "created_at", True  # Shopify's default: newest first
    match = _ORDER.match(value)
    if not match:
        raise _BadRequest("order", "order must be a field (created_at, updated_at, processed_at, id) "
                                   "optionally followed by asc or desc.")
    return match[1].lower(), (match[2] or "asc").lower() == "desc"


def _limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    limit = _int("limit", value)
    if not 1 <= limit <= MAX_LIMIT:
        raise _BadRequest("limit", f"limit must be between 1 and {MAX_LIMIT}.")
    return limit


def _int(name: str, value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise _BadRequest(name, f"{name} must be an integer.") from None


def _time(name: str, value: str, tz: tzinfo) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _BadRequest(name, f"{name} must be an ISO 8601 date and time.") from None
    # A time without an offset is in the shop's own zone, as in the admin.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def _encode(query: dict[str, str], order: tuple[str, bool], direction: str, anchor: tuple[int, int]) -> str:
    state = {"q": query, "o": list(order), "d": direction, "k": list(anchor)}
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode(token: str) -> dict[str, Any]:
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        field, desc = state["o"]
        query, anchor = state["q"], state["k"]
        if state["d"] not in ("next", "prev") or not isinstance(query, dict) or len(anchor) != 2:
            raise ValueError(token)
        if not all(isinstance(v, str) for v in query.values()) or not all(isinstance(k, int) for k in anchor):
            raise ValueError(token)
        state["o"] = (str(field), bool(desc))
        return state
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise _BadRequest("page_info", "Invalid value.") from None


def _server_error(status: int, headers: dict[str, str]) -> Reply:
    if status in (502, 504):  # gateways answer in HTML, as they do in front of real APIs
        reply = Reply.text(status, f"<html><body><h1>{status} Gateway error</h1></body></html>", "text/html")
    else:
        message = "Internal Server Error" if status == 500 else "Unavailable Shop"
        reply = Reply.json(status, {"errors": message})
    reply.headers.update(headers)
    return reply
