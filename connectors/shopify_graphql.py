"""Shopify GraphQL Admin API orders: cursor pages sorted by UPDATED_AT, cost-based throttling.

Wire facts (DESIGN.md section 5): ``POST /admin/api/<version>/graphql.json`` with header
``X-Shopify-Access-Token``; ``orders(first, after, sortKey: UPDATED_AT, query: "updated_at:>='...'")``
pages through ``pageInfo { hasNextPage endCursor }``. Every answer reports
``extensions.cost`` (requestedQueryCost, actualQueryCost, throttleStatus {maximumAvailable,
currentlyAvailable, restoreRate}); when the bucket cannot pay for the next query we wait for
it to refill, and a ``THROTTLED`` error (HTTP 200) is retried after the same computed wait.
Ids are GIDs (``gid://shopify/Order/123``); we keep the number, the same id the REST API
uses, so a store moved from REST to GraphQL keeps its orders.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from connectors import fields as f
from connectors.client_base import ClientOwner, checked_page_size
from connectors.http import BadResponse, RateLimited, RequestRejected, json_body, make_client, send_with_retry
from connectors.schemas import (
    Address,
    ChannelFulfillment,
    ChannelLine,
    ChannelOrder,
    ChannelReturn,
    FinancialStatus,
    OrderStatus,
    Page,
    Rejection,
)

API_VERSION = "2025-01"
MAX_PAGE_SIZE = 250
SECRETS = ("access token",)
LINES_PER_ORDER = 100

ORDERS_QUERY = """
query Orders($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, sortKey: UPDATED_AT, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id name createdAt updatedAt cancelledAt email phone note tags currencyCode
      displayFinancialStatus displayFulfillmentStatus
      totalPriceSet { shopMoney { amount currencyCode } }
      customer { firstName lastName email phone }
      shippingAddress { name firstName lastName company address1 address2 city provinceCode zip countryCodeV2 phone }
      lineItems(first: 100) {
        pageInfo { hasNextPage }
        nodes { id sku title quantity originalUnitPriceSet { shopMoney { amount currencyCode } } }
      }
      fulfillments(first: 20) {
        id status createdAt
        trackingInfo(first: 1) { company number }
        fulfillmentLineItems(first: 100) { nodes { quantity lineItem { id } } }
      }
      refunds(first: 20) {
        id createdAt note
        refundLineItems(first: 100) { nodes { quantity restockType lineItem { id } } }
      }
    }
  }
}
""".strip()

FINANCIAL_STATUS: Mapping[str, FinancialStatus] = {
    "PENDING": FinancialStatus.PENDING,
    "AUTHORIZED": FinancialStatus.AUTHORIZED,
    "PARTIALLY_PAID": FinancialStatus.PARTIALLY_PAID,
    "PAID": FinancialStatus.PAID,
    "PARTIALLY_REFUNDED": FinancialStatus.PARTIALLY_REFUNDED,
    "REFUNDED": FinancialStatus.REFUNDED,
    "VOIDED": FinancialStatus.VOIDED,
    "EXPIRED": FinancialStatus.VOIDED,  # the authorization lapsed: nothing will be captured
}
# displayFulfillmentStatus -> what it means for the desk (None: the desk decides); cancelledAt overrides.
FULFILLMENT_STATUS: Mapping[str, OrderStatus | None] = {
    "UNFULFILLED": None, "OPEN": None, "IN_PROGRESS": None, "PENDING_FULFILLMENT": None, "ON_HOLD": None,
    "SCHEDULED": None, "REQUEST_DECLINED": None, "RESTOCKED": None,
    "PARTIALLY_FULFILLED": OrderStatus.PARTIALLY_SHIPPED,
    "FULFILLED": OrderStatus.SHIPPED,
}
_DEAD_FULFILLMENTS = frozenset({"CANCELLED", "ERROR", "FAILURE"})
# RefundLineItemRestockType: RETURN (goods come back) and LEGACY_RESTOCK (older refunds that restocked) are
# returns of goods; CANCEL (never shipped) and NO_RESTOCK (money only) are not.
RETURN_RESTOCK_TYPES = frozenset({"RETURN", "LEGACY_RESTOCK"})
_GID = re.compile(r"^gid://shopify/(?P<type>[A-Za-z]+)/(?P<id>\d+)(?:\?.*)?$")


def channel_status(fulfillment: str | None, cancelled_at: object) -> OrderStatus | None:
    """What displayFulfillmentStatus plus cancelledAt mean for an OpsDesk order."""
    if cancelled_at:
        return OrderStatus.CANCELLED
    return FULFILLMENT_STATUS.get(fulfillment or "")


def legacy_id(gid: Any, kind: str, path: str) -> str:
    """The number inside ``gid://shopify/<kind>/<number>``."""
    match = _GID.match(gid) if isinstance(gid, str) else None
    if not match or match["type"] != kind:
        raise f.Invalid(f"{path}: expected gid://shopify/{kind}/<number>, got {str(gid)[:60]!r}")
    return match["id"]


def parse_order(raw: Any) -> ChannelOrder | Rejection:
    """Normalize one order node; a broken one becomes a Rejection, never an exception."""
    external = None
    if isinstance(raw, dict):
        match = _GID.match(raw["id"]) if isinstance(raw.get("id"), str) else None
        external = match["id"] if match else None
    return f.guarded(_order, raw, external)


def _money_of(raw: Mapping[str, Any], key: str, where: str) -> tuple[Any, Any]:
    shop = (f.obj(raw, key, where) or {}).get("shopMoney")
    if not isinstance(shop, dict):
        raise f.Invalid(f"{where + '.' if where else ''}{key}.shopMoney: missing")
    return f.money(shop.get("amount"), f"{where + '.' if where else ''}{key}.shopMoney.amount"), shop.get("currencyCode")


def _order(raw: dict[str, Any]) -> ChannelOrder:
    external_id = legacy_id(raw.get("id"), "Order", "id")
    line_conn = f.obj(raw, "lineItems") or {}
    if (line_conn.get("pageInfo") or {}).get("hasNextPage"):
        raise f.Invalid(f"lineItems: more than {LINES_PER_ORDER} lines; not taken in part")
    items = f.items(line_conn, "nodes", "lineItems")
    if not items:
        raise f.Invalid("lineItems: an order needs at least one line")
    cancelled_at = f.when(raw.get("cancelledAt"), "cancelledAt", required=False)
    fin, ful = raw.get("displayFinancialStatus"), raw.get("displayFulfillmentStatus")
    total, currency = _money_of(raw, "totalPriceSet", "")
    customer = f.obj(raw, "customer") or {}
    shipping = f.obj(raw, "shippingAddress")
    parcels = (_fulfillment(p, i) for i, p in enumerate(f.items(raw, "fulfillments")))
    tags = raw.get("tags") or []
    if not isinstance(tags, list):
        raise f.Invalid("tags: expected a list")
    fields = {
        "external_id": external_id, "number": raw.get("name"),
        "channel_status": channel_status(ful if isinstance(ful, str) else None, cancelled_at),
        "financial_status": FINANCIAL_STATUS.get(fin if isinstance(fin, str) else "", FinancialStatus.UNKNOWN),
        "raw_financial_status": fin if isinstance(fin, str) else None,
        "raw_fulfillment_status": ful if isinstance(ful, str) else None,
        "placed_at": f.when(raw.get("createdAt"), "createdAt"), "updated_at": f.when(raw.get("updatedAt"), "updatedAt"),
        "cancelled_at": cancelled_at,
        "customer_name": f.clip(f.joined(customer.get("firstName"), customer.get("lastName"))
                                or (f.text((shipping or {}).get("name")) or ""), 200),
        "email": f.first_text(raw.get("email"), customer.get("email")),
        "phone": f.first_text(raw.get("phone"), (shipping or {}).get("phone"), customer.get("phone")),
        "ship_to": _address(shipping) if shipping is not None else None,
        "total": total, "currency": raw.get("currencyCode") or currency,
        "tags": tuple(t for t in (f.text(x) for x in tags) if t),
        "note": f.clip(f.text(raw.get("note")), 2000),
        "lines": tuple(_line(item, i) for i, item in enumerate(items)),
        "fulfillments": tuple(p for p in parcels if p is not None),
        "returns": tuple(r for r in (_refund(x, i) for i, x in enumerate(f.items(raw, "refunds"))) if r is not None),
    }
    names = {"placed_at": "createdAt", "total": "totalPriceSet", "ship_to": "shippingAddress", "lines": "lineItems",
             "currency": "currencyCode", "number": "name"}
    return f.build(ChannelOrder, fields, "", names)


def _line(item: Any, i: int) -> ChannelLine:
    where = f"lineItems.nodes[{i}]"
    if not isinstance(item, dict):
        raise f.Invalid(f"{where}: expected an object")
    sku = item.get("sku")
    if not isinstance(sku, str) or not sku.strip():
        raise f.Invalid(f"{where}.sku: missing (every line needs a SKU)")
    price, _ = _money_of(item, "originalUnitPriceSet", where)
    fields = {"external_id": legacy_id(item.get("id"), "LineItem", f"{where}.id"), "sku": sku,
              "title": f.clip(f.text(item.get("title")) or "", 300), "quantity": item.get("quantity"),
              "unit_price": price}
    return f.build(ChannelLine, fields, where, {"unit_price": "originalUnitPriceSet"})


def _fulfillment(raw: Any, i: int) -> ChannelFulfillment | None:
    where = f"fulfillments[{i}]"
    if not isinstance(raw, dict):
        raise f.Invalid(f"{where}: expected an object")
    if raw.get("status") in _DEAD_FULFILLMENTS:
        return None
    tracking = next((t for t in f.items(raw, "trackingInfo", where) if isinstance(t, dict) and f.text(t.get("number"))), None)
    if tracking is None:
        return None  # nothing the desk can follow
    quantities: dict[str, int] = {}
    for j, node in enumerate(f.items(f.obj(raw, "fulfillmentLineItems", where) or {}, "nodes")):
        path = f"{where}.fulfillmentLineItems.nodes[{j}]"
        if not isinstance(node, dict) or isinstance(node.get("quantity"), bool) or not isinstance(node.get("quantity"), int):
            raise f.Invalid(f"{path}.quantity: Input should be a valid integer")
        line_id = legacy_id((node.get("lineItem") or {}).get("id"), "LineItem", f"{path}.lineItem.id")
        quantities[line_id] = node["quantity"]
    fields = {"external_id": legacy_id(raw.get("id"), "Fulfillment", f"{where}.id"),
              "carrier": f.text(tracking.get("company")) or "Other", "tracking_number": f.text(tracking["number"]),
              "shipped_at": f.when(raw.get("createdAt"), f"{where}.createdAt"), "line_quantities": quantities}
    return f.build(ChannelFulfillment, fields, where, {"shipped_at": "createdAt"})


def _refund(raw: Any, i: int) -> ChannelReturn | None:
    """A refund whose lines send goods back (restockType RETURN), or None for a money-only refund or a cancellation."""
    where = f"refunds[{i}]"
    if not isinstance(raw, dict):
        raise f.Invalid(f"{where}: expected an object")
    refund_id = legacy_id(raw.get("id"), "Refund", f"{where}.id")
    quantities: dict[str, int] = {}
    for j, node in enumerate(f.items(f.obj(raw, "refundLineItems", where) or {}, "nodes")):
        path = f"{where}.refundLineItems.nodes[{j}]"
        qty = node.get("quantity") if isinstance(node, dict) else None
        if isinstance(qty, bool) or not isinstance(qty, int) or qty < 0:
            raise f.Invalid(f"{path}.quantity: expected a whole number of 0 or more")
        # A restockType Shopify adds later is not a known return: skipped, not a reason to lose the order.
        if node.get("restockType") in RETURN_RESTOCK_TYPES and qty:
            line_id = legacy_id((node.get("lineItem") or {}).get("id"), "LineItem", f"{path}.lineItem.id")
            quantities[line_id] = quantities.get(line_id, 0) + qty
    if not quantities:
        return None
    fields = {"external_id": refund_id, "created_at": f.when(raw.get("createdAt"), f"{where}.createdAt"),
              "note": f.clip(f.text(raw.get("note")), 2000),
              "lines": tuple({"line_external_id": k, "quantity": q} for k, q in quantities.items())}
    return f.build(ChannelReturn, fields, where, {"external_id": "id", "lines": "refundLineItems"})


def _address(raw: dict[str, Any]) -> Address:
    fields = {"name": f.text(raw.get("name")) or f.joined(raw.get("firstName"), raw.get("lastName")),
              "company": f.text(raw.get("company")), "address1": f.text(raw.get("address1")) or "",
              "address2": f.text(raw.get("address2")), "city": f.text(raw.get("city")) or "",
              "region": f.text(raw.get("provinceCode")), "postal_code": f.text(raw.get("zip")),
              "country_code": f.text(raw.get("countryCodeV2")), "phone": f.text(raw.get("phone"))}
    return f.build(Address, fields, "shippingAddress", {"region": "provinceCode", "postal_code": "zip",
                                                         "country_code": "countryCodeV2"})


def throttle_wait(cost: Any, needed: float | None = None) -> float:
    """Seconds until the bucket in ``extensions.cost`` holds ``needed`` points (default: the requested cost)."""
    if not isinstance(cost, dict):
        return 0.0
    status = cost.get("throttleStatus") or {}
    try:
        available = float(status["currentlyAvailable"])
        restore = float(status["restoreRate"])
        want = float(needed if needed is not None else cost["requestedQueryCost"])
    except (KeyError, TypeError, ValueError):
        return 0.0
    if restore <= 0 or available >= want:
        return 0.0
    return (want - available) / restore


class ShopifyGraphql(ClientOwner):
    """Orders from one Shopify store over the GraphQL Admin API; the client carries base_url, token and timeouts."""

    def __init__(self, client: httpx.Client, *, api_version: str = API_VERSION, page_size: int = 50,
                 max_attempts: int = 5, max_wait_s: float = 60.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self._client, self.api_version = client, api_version
        self.page_size = checked_page_size(page_size, MAX_PAGE_SIZE)
        self._sleep, self.max_attempts, self.max_wait_s = sleep, max_attempts, max_wait_s
        self._retry = {"max_attempts": max_attempts, "max_wait_s": max_wait_s, "sleep": sleep, "idempotent": True}
        self.last_cost: dict[str, Any] | None = None

    @classmethod
    def connect(cls, base_url: str, token: str, timeout: float = 10.0, **options: Any) -> ShopifyGraphql:
        return cls(make_client(base_url, {"X-Shopify-Access-Token": token}, timeout=timeout), **options)

    def query(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        """Run one query and return its ``data``, pacing by the cost bucket and retrying THROTTLED."""
        url, waited = f"/admin/api/{self.api_version}/graphql.json", 0.0
        for attempt in range(1, self.max_attempts + 1):
            pause = throttle_wait(self.last_cost)  # the previous query's cost is our best estimate
            if pause > 0:
                self._sleep(pause)
                waited += pause
            resp = send_with_retry(self._client, "POST", url, json={"query": document, "variables": variables},
                                   **self._retry)
            body = json_body(resp)
            if not isinstance(body, dict):
                raise BadResponse(f"POST {url} answered without a JSON object")
            cost = (body.get("extensions") or {}).get("cost")
            if isinstance(cost, dict):
                self.last_cost = cost
            errors = body.get("errors") or []
            codes = {((e.get("extensions") or {}).get("code")) for e in errors if isinstance(e, dict)}
            if "THROTTLED" in codes:
                wait = max(throttle_wait(cost), 0.5)
                if attempt == self.max_attempts or waited + wait > self.max_wait_s:
                    raise RateLimited(f"POST {url} stayed THROTTLED (cost bucket empty)", retry_after=wait, url=url)
                self._sleep(wait)
                waited += wait
                self.last_cost = None  # we just waited for exactly what it asked
                continue
            if errors or not isinstance(body.get("data"), dict):
                first = errors[0] if errors and isinstance(errors[0], dict) else {}
                raise RequestRejected(f"POST {url} was refused: {str(first.get('message') or errors)[:200]}", url=url)
            return body["data"]
        raise RateLimited(f"POST {url} stayed THROTTLED", url=url)  # pragma: no cover - loop always returns or raises

    def orders_since(self, cursor: str | None) -> Iterator[Page]:
        """Yield one Page per response of orders updated at or after ``cursor``, oldest first (cursor as in REST)."""
        high = f.parse_cursor(cursor)
        search = f"updated_at:>='{f.utc_iso(high).replace('+00:00', 'Z')}'" if high else None
        after: str | None = None
        while True:
            data = self.query(ORDERS_QUERY, {"first": self.page_size, "after": after, "query": search})
            conn = data.get("orders")
            if not isinstance(conn, dict) or not isinstance(conn.get("nodes"), list):
                raise BadResponse("orders query answered without orders.nodes")
            records: list[ChannelOrder] = []
            rejected: list[Rejection] = []
            for raw in conn["nodes"]:
                parsed = parse_order(raw)
                (records if isinstance(parsed, ChannelOrder) else rejected).append(parsed)
                stamp = parsed.updated_at if isinstance(parsed, ChannelOrder) else _updated_of(raw)
                if stamp is not None and (high is None or stamp > high):
                    high = stamp
            yield Page(records=tuple(records), rejected=tuple(rejected), cursor=f.utc_iso(high) if high else None)
            info = conn.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return
            after = info.get("endCursor")
            if not after:
                raise BadResponse("orders query said hasNextPage without an endCursor")


def _updated_of(raw: Any) -> datetime | None:
    try:
        return f.when(raw.get("updatedAt"), "updatedAt", required=False)
    except (f.Invalid, AttributeError):
        return None


def connect_channel(base_url: str, secrets: Sequence[str], settings: Mapping[str, Any]) -> ShopifyGraphql:
    """The connector for a stored channel (``secrets``: the access token)."""
    return ShopifyGraphql.connect(base_url, secrets[0])
