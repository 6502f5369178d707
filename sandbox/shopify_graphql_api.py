"""The Shopify GraphQL Admin API's ``orders`` connection, served from a simulated World.

Not a GraphQL engine: it answers the one query shape OpsDesk sends (``orders(first, after,
sortKey, query)`` with arguments passed as variables) with the node fields the connector asks
for, the way Shopify does: opaque cursors, ``pageInfo``, ``updated_at:>=`` search filters,
and a cost bucket reported in ``extensions.cost`` that answers a too-expensive query with a
``THROTTLED`` error (HTTP 200). The fault knobs add 429s, 5xx, slowness and malformed nodes.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import json
import re
import threading
import time
from bisect import bisect_right
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sandbox import Faults, Reply, Request
from sandbox.world import OrderRow, World

PATH = re.compile(r"^/admin/api/(?P<version>[^/]+)/graphql\.json$")
_SORT = re.compile(r"sortKey:\s*(\w+)")
_TERM = re.compile(r"(updated_at|created_at):(>=|<=|>|<)'?([^'\s]+)'?")
NODE_COST, CONNECTION_COST = 5, 2
# The standard plan's bucket as the sandbox serves it: 1,000 points (also the most one query may cost), 50 a second.
MAX_QUERY_COST, RESTORE_PER_S = 1000.0, 50.0
_OPS = {">=": lambda v, b: v >= b, ">": lambda v, b: v > b, "<=": lambda v, b: v <= b, "<": lambda v, b: v < b}


def _z(ts: str) -> str:
    return datetime.fromisoformat(ts).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _money(amount: str, currency: str) -> dict[str, Any]:
    return {"shopMoney": {"amount": amount, "currencyCode": currency}}


def translate(row: OrderRow) -> dict[str, Any]:
    """One world order as an ``orders`` node."""
    d, cur = row.data, row.data["currency"]
    addr = d.get("shipping_address")
    fin = (d.get("financial_status") or "").upper() or None
    ful = {"fulfilled": "FULFILLED", "partial": "PARTIALLY_FULFILLED"}.get(d.get("fulfillment_status") or "", "UNFULFILLED")
    return {
        "id": f"gid://shopify/Order/{d['id']}", "name": d["name"], "createdAt": _z(d["created_at"]),
        "updatedAt": _z(d["updated_at"]), "cancelledAt": _z(d["cancelled_at"]) if d.get("cancelled_at") else None,
        "email": d.get("email"), "phone": d.get("phone"), "note": d.get("note"),
        "tags": [t.strip() for t in (d.get("tags") or "").split(",") if t.strip()], "currencyCode": cur,
        "displayFinancialStatus": fin, "displayFulfillmentStatus": ful,
        "totalPriceSet": _money(d["total_price"], cur),
        "customer": {"firstName": d["customer"]["first_name"], "lastName": d["customer"]["last_name"],
                     "email": d["customer"]["email"], "phone": d["customer"]["phone"]},
        "shippingAddress": None if addr is None else {
            "name": addr.get("name"), "firstName": addr.get("first_name"), "lastName": addr.get("last_name"),
            "company": addr.get("company"), "address1": addr.get("address1"), "address2": addr.get("address2"),
            "city": addr.get("city"), "provinceCode": addr.get("province_code"), "zip": addr.get("zip"),
            "countryCodeV2": addr.get("country_code"), "phone": addr.get("phone")},
        "lineItems": {"pageInfo": {"hasNextPage": False}, "nodes": [
            {"id": f"gid://shopify/LineItem/{li['id']}", "sku": li["sku"], "title": li["title"],
             "quantity": li["quantity"], "originalUnitPriceSet": _money(li["price"], cur)} for li in d["line_items"]]},
        "fulfillments": [
            {"id": f"gid://shopify/Fulfillment/{fu['id']}", "status": fu["status"].upper(), "createdAt": _z(fu["created_at"]),
             "trackingInfo": [{"company": fu["tracking_company"], "number": fu["tracking_number"]}]
             if fu.get("tracking_number") else [],
             "fulfillmentLineItems": {"nodes": [{"quantity": li["quantity"],
                                                 "lineItem": {"id": f"gid://shopify/LineItem/{li['id']}"}}
                                                for li in fu["line_items"]]}}
            for fu in d["fulfillments"]],
        "refunds": [
            {"id": f"gid://shopify/Refund/{rf['id']}", "createdAt": _z(rf["created_at"]), "note": rf.get("note"),
             "refundLineItems": {"nodes": [{"quantity": li["quantity"], "restockType": li["restock_type"].upper(),
                                            "lineItem": {"id": f"gid://shopify/LineItem/{li['line_item_id']}"}}
                                           for li in rf["refund_line_items"]]}}
            for rf in d.get("refunds", [])],
    }


def corrupt(node: dict[str, Any], kind: str) -> dict[str, Any]:
    bad = copy.deepcopy(node)
    if kind == "quantity_word":
        bad["lineItems"]["nodes"][0]["quantity"] = "two"
    elif kind == "missing_sku":
        bad["lineItems"]["nodes"][0]["sku"] = None
    elif kind == "bad_total":
        bad["totalPriceSet"]["shopMoney"]["amount"] = "abc"
    elif kind == "missing_created_at":
        del bad["createdAt"]
    return bad


def served(row: OrderRow) -> dict[str, Any]:
    node = translate(row)
    return corrupt(node, row.malformed) if row.malformed else node


class CostBucket:
    """Shopify's query-cost bucket: ``maximum`` points, refilled at ``restore`` points a second."""

    def __init__(self, maximum: float = 1000.0, restore: float = 50.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.maximum, self.restore, self._clock = maximum, restore, clock
        self._available, self._at = maximum, clock()
        self._lock = threading.Lock()

    def _refill(self) -> float:
        now = self._clock()
        self._available = min(self.maximum, self._available + (now - self._at) * self.restore)
        self._at = now
        return self._available

    def status(self) -> dict[str, float]:
        with self._lock:
            return {"maximumAvailable": self.maximum, "currentlyAvailable": round(self._refill()),
                    "restoreRate": self.restore}

    def charge(self, requested: float) -> bool:
        with self._lock:
            if self._refill() < requested:
                return False
            self._available -= requested
            return True

    def refund(self, points: float) -> None:
        with self._lock:
            self._available = min(self.maximum, self._available + points)


class ShopifyGraphqlApi:
    """Handler for ``/admin/api/<version>/graphql.json``."""

    def __init__(self, world: World, faults: Faults, token: str, *, maximum: float = MAX_QUERY_COST,
                 restore: float = RESTORE_PER_S) -> None:
        self.world, self.faults, self._token = world, faults, token
        self.bucket = CostBucket(maximum, restore)

    def __call__(self, req: Request) -> Reply:
        if not PATH.match(req.path):
            return Reply.json(404, {"errors": "Not Found"})
        given = req.header("X-Shopify-Access-Token") or ""
        if not hmac.compare_digest(given.encode(), self._token.encode()):
            return Reply.json(401, {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
        if req.method != "POST":
            return Reply.json(405, {"errors": "Method Not Allowed"}, {"Allow": "POST"})
        self.faults.delay()
        fault = self.faults.draw()
        if fault == 429:
            return Reply.json(429, {"errors": "Too Many Requests"},
                              {"Retry-After": str(round(self.faults.config.retry_after_s, 3))})
        if fault is not None:
            return Reply.json(fault, {"errors": "Internal Server Error"})
        try:
            body = json.loads(req.body or b"{}")
            document, variables = body["query"], body.get("variables") or {}
            if "orders(" not in document:
                raise ValueError("the sandbox answers only the orders connection")
            first = int(variables.get("first") or 0)
            if not 1 <= first <= 250:
                raise ValueError("first must be between 1 and 250")
        except (ValueError, KeyError, TypeError) as exc:
            return Reply.json(200, {"errors": [{"message": f"Parse error: {exc}",
                                                "extensions": {"code": "BAD_REQUEST"}}]})
        requested = CONNECTION_COST + first * NODE_COST
        if requested > self.bucket.maximum:
            return Reply.json(200, {"errors": [{"message": f"Query cost is {requested}, which exceeds the single query "
                                                f"max cost limit ({self.bucket.maximum:g}).",
                                                "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested,
                                                               "maxCost": self.bucket.maximum}}]})
        if not self.bucket.charge(requested):
            return Reply.json(200, {"errors": [{"message": "Throttled", "extensions": {
                "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                "extensions": {"cost": {"requestedQueryCost": requested, "actualQueryCost": None,
                                        "throttleStatus": self.bucket.status()}}})
        try:
            conn = self._orders(document, first, variables)
        except ValueError as exc:
            self.bucket.refund(requested)
            return Reply.json(200, {"errors": [{"message": str(exc), "extensions": {"code": "BAD_REQUEST"}}]})
        actual = CONNECTION_COST + len(conn["nodes"]) * NODE_COST
        self.bucket.refund(requested - actual)  # Shopify charges the requested cost, then refunds the difference
        return Reply.json(200, {"data": {"orders": conn}, "extensions": {"cost": {
            "requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": self.bucket.status()}}})

    def _orders(self, document: str, first: int, variables: dict[str, Any]) -> dict[str, Any]:
        sort = (_SORT.search(document) or [None, "ID"])[1]
        field = {"UPDATED_AT": "updated", "CREATED_AT": "created", "ID": "id"}.get(sort)
        if field is None:
            raise ValueError(f"sortKey {sort} is not supported here")

        def key(r: OrderRow) -> tuple[int, int]:
            return (r.id, r.id) if field == "id" else (int(getattr(r, field).timestamp()), r.id)

        terms = [(name, op, _when(value)) for name, op, value in _TERM.findall(variables.get("query") or "")]
        if field == "id":
            listed = sorted(self.world.rows(), key=key)
            start = 0
        else:  # the shop kept sorted until it changes: later pages start at their cursor, not at the top
            keys, listed = self.world.listing(field)
            start = bisect_right(keys, tuple(_decode(variables["after"]))) if variables.get("after") else 0
        anchor = _decode(variables["after"]) if variables.get("after") else None
        rows: list[OrderRow] = []  # one more than a page, to know whether another follows
        for r in listed[start:]:
            if (anchor is None or key(r) > anchor) and all(
                    _OPS[op](r.updated if name == "updated_at" else r.created, bound) for name, op, bound in terms):
                rows.append(r)
                if len(rows) > first:
                    break
        page = rows[:first]
        end = _encode(key(page[-1])) if page else None
        return {"pageInfo": {"hasNextPage": len(rows) > first, "endCursor": end, "hasPreviousPage": bool(variables.get("after")),
                             "startCursor": _encode(key(page[0])) if page else None},
                "nodes": [served(r) for r in page]}


def _when(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"Invalid date in query: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _encode(anchor: tuple[int, int]) -> str:
    return base64.urlsafe_b64encode(json.dumps({"last_id": anchor[1], "last_value": anchor[0]}).encode()).decode()


def _decode(cursor: str) -> tuple[int, int]:
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return int(state["last_value"]), int(state["last_id"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ValueError(f"Invalid cursor {cursor[:40]!r}") from None


class ShopifyAdmin:
    """The ``/admin/api/`` prefix: GraphQL requests to one handler, REST to the other."""

    def __init__(self, rest: Callable[[Request], Reply], graphql: ShopifyGraphqlApi) -> None:
        self.rest, self.graphql = rest, graphql

    def __call__(self, req: Request) -> Reply:
        return self.graphql(req) if req.path.endswith("/graphql.json") else self.rest(req)
