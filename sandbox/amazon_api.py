"""The Amazon SP-API Orders v0 API (getOrders, getOrderItems), served from a simulated World;
v2026-01-01's searchOrders (``sandbox.amazon_orders_api``) is routed here too, sharing the quotas,
credentials and fault knobs.

What OpsDesk relies on, the way SP-API does it: the ``x-amz-access-token`` header,
``MarketplaceIds`` with exactly one of ``CreatedAfter``/``LastUpdatedAfter``,
``MaxResultsPerPage`` up to 100, opaque ``NextToken`` pages, order items per order (paged
too), a token bucket per operation answering 429 ``QuotaExceeded`` with
``x-amzn-RateLimit-Limit`` (and no Retry-After, like Amazon). The fault knobs add 429s with
Retry-After, 5xx, slowness and malformed records.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import json
import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox import Faults, Reply, Request
from sandbox.lwa_api import LwaIssuer
from sandbox.shopify_api import LeakyBucket
from sandbox.world import ORDER_ID_BASE, OrderRow, World

PREFIX = "/orders/"
V0_ORDERS, V2026_ORDERS = "/orders/v0/orders", "/orders/2026-01-01/orders"
_ITEMS = re.compile(r"^/orders/v0/orders/(?P<id>[^/]+)/orderItems$")
# Documented default quotas: requests per second and burst.
RATES: dict[str, tuple[float, int]] = {"getOrders": (0.0167, 20), "getOrderItems": (0.5, 30), "searchOrders": (0.0056, 20)}
MARKETPLACES = {"US": "ATVPDKIKX0DER", "CA": "A2EUQ1WTGCTBG2", "GB": "A1F83G8C2ARO7P", "DE": "A1PA6795UKMFR9",
                "FR": "A13V1IB3VIYZZH", "NL": "A1805IZSGTT6HS", "AU": "A39IBJ37TRP1C6"}
SALES_CHANNEL = {"US": "Amazon.com", "CA": "Amazon.ca", "GB": "Amazon.co.uk", "DE": "Amazon.de",
                 "FR": "Amazon.fr", "NL": "Amazon.nl", "AU": "Amazon.com.au"}


def amazon_id(row_id: int) -> str:
    """An AmazonOrderId (3-7-7 digits) for a world order."""
    n = (row_id - ORDER_ID_BASE) // 1013
    return f"11{n % 10}-{n:07d}-{(n * 7_654_321 + 1_234_567) % 10**7:07d}"


def amazon_status(data: dict[str, Any]) -> str:
    if data.get("cancelled_at"):
        return "Canceled"
    if data.get("financial_status") == "pending":
        return "Pending"
    return {"fulfilled": "Shipped", "partial": "PartiallyShipped"}.get(data.get("fulfillment_status") or "", "Unshipped")


def _z(ts: str | datetime) -> str:
    value = datetime.fromisoformat(ts) if isinstance(ts, str) else ts
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def translate(row: OrderRow) -> dict[str, Any]:
    """One world order as getOrders' order with its getOrderItems items under ``OrderItems``."""
    data = row.data
    addr, cc = data.get("shipping_address") or {}, (data.get("shipping_address") or {}).get("country_code", "US")
    status, currency = amazon_status(data), data["currency"]
    priced = status != "Pending"  # Amazon shows no prices before payment is authorized
    shipped = {li["id"] for f in data["fulfillments"] for li in f["line_items"]}
    items = []
    for li in data["line_items"]:
        item = {"ASIN": f"B0{li['product_id'] % 10**8:08d}", "SellerSKU": li["sku"],
                "OrderItemId": str(li["id"]), "Title": li["name"], "QuantityOrdered": li["quantity"],
                "QuantityShipped": li["quantity"] if li["id"] in shipped else 0,
                "ProductInfo": {"NumberOfItems": "1"}, "IsGift": "false", "ConditionId": "New"}
        if priced:
            item["ItemPrice"] = {"CurrencyCode": currency, "Amount": str(Decimal(li["price"]) * li["quantity"])}
            item["ItemTax"] = {"CurrencyCode": currency, "Amount": "0.00"}
        items.append(item)
    created = row.created
    order: dict[str, Any] = {
        "AmazonOrderId": amazon_id(row.id), "PurchaseDate": _z(data["created_at"]),
        "LastUpdateDate": _z(data["updated_at"]), "OrderStatus": status, "FulfillmentChannel": "MFN",
        "SalesChannel": SALES_CHANNEL.get(cc, "Amazon.com"), "ShipServiceLevel": "Std Dom",
        "NumberOfItemsShipped": sum(i["QuantityShipped"] for i in items),
        "NumberOfItemsUnshipped": sum(i["QuantityOrdered"] - i["QuantityShipped"] for i in items),
        "PaymentMethod": "Other", "MarketplaceId": MARKETPLACES.get(cc, MARKETPLACES["US"]),
        "ShipmentServiceLevelCategory": "Standard", "OrderType": "StandardOrder",
        "EarliestShipDate": _z(created),
        "LatestShipDate": _z((created + timedelta(days=2)).replace(hour=23, minute=59, second=59)),
        "IsBusinessOrder": bool(addr.get("company")), "IsPrime": row.id % 3 == 0, "IsPremiumOrder": False,
        "IsReplacementOrder": False,
        "BuyerInfo": {"BuyerEmail": f"{row.id:x}@marketplace.amazon.com",
                      "BuyerName": f"{addr.get('first_name', '')} {addr.get('last_name', '')}".strip()},
        "ShippingAddress": {"Name": addr.get("name"), "CompanyName": addr.get("company"),
                            "AddressLine1": addr.get("address1"), "AddressLine2": addr.get("address2"),
                            "City": addr.get("city"), "StateOrRegion": addr.get("province_code"),
                            "PostalCode": addr.get("zip"), "CountryCode": cc, "Phone": addr.get("phone"),
                            "AddressType": "Commercial" if addr.get("company") else "Residential"},
        "OrderItems": items,
    }
    if priced:
        order["OrderTotal"] = {"CurrencyCode": currency, "Amount": data["total_price"]}
    return order


def corrupt(order: dict[str, Any], kind: str) -> dict[str, Any]:
    bad = copy.deepcopy(order)
    if kind == "quantity_word":
        bad["OrderItems"][0]["QuantityOrdered"] = "two"
    elif kind == "missing_sku":
        del bad["OrderItems"][0]["SellerSKU"]
    elif kind == "bad_total":
        bad.setdefault("OrderTotal", {"CurrencyCode": "USD"})["Amount"] = "abc"
    elif kind == "missing_created_at":
        del bad["PurchaseDate"]
    return bad


def served(row: OrderRow) -> dict[str, Any]:
    """A world order as a connector puts it together (order + items), broken if the world says so."""
    order = translate(row)
    return corrupt(order, row.malformed) if row.malformed else order


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply.json(status, {"errors": [{"code": code, "message": message, "details": ""}]}, headers)


class AmazonApi:
    """Route handler for ``/orders/`` (v0, and v2026-01-01's searchOrders when given); call it with a Request."""

    def __init__(self, world: World, faults: Faults, token: str, *,
                 rates: dict[str, tuple[float, int]] | None = None, items_page_size: int = 100,
                 lwa: LwaIssuer | None = None, search: Callable[[World, Request], Reply] | None = None) -> None:
        self.world, self.faults, self._token, self.lwa, self.search = world, faults, token, lwa, search
        self.rates = {**RATES, **(rates or {})}
        # A token bucket is a leaky bucket seen from the other side: size = burst, leak = rate.
        self.buckets = {op: LeakyBucket(burst, rate) for op, (rate, burst) in self.rates.items()}
        self.items_page_size = items_page_size

    def _refusal(self, token: str) -> Reply | None:
        """None for the fixed token or a live LWA one; SP-API's 403 otherwise, saying why as Amazon does."""
        if hmac.compare_digest(token.encode(), self._token.encode()):
            return None
        state = self.lwa.state(token) if self.lwa is not None else None
        if state == "valid":
            return None
        details = ("The access token you provided has expired." if state == "expired"
                   else "The access token you provided is revoked, malformed or invalid.")
        return Reply.json(403, {"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied.",
                                            "details": details}]})

    def __call__(self, req: Request) -> Reply:
        if req.path.rstrip("/") == V0_ORDERS:
            operation = "getOrders"
        elif req.path.rstrip("/") == V2026_ORDERS and self.search is not None:
            operation = "searchOrders"
        elif _ITEMS.match(req.path):
            operation = "getOrderItems"
        else:
            return _error(404, "NotFound", "Resource not found.")
        refused = self._refusal(req.header("x-amz-access-token") or "")
        if refused is not None:
            return refused
        self.faults.delay()
        fault = self.faults.draw()
        limit = {"x-amzn-RateLimit-Limit": f"{self.rates[operation][0]:g}",
                 "x-amzn-RequestId": f"sandbox-{self.world.now().timestamp():.0f}"}
        if fault == 429:
            return _error(429, "QuotaExceeded", "You exceeded your quota for the requested resource.",
                          {**limit, "Retry-After": str(round(self.faults.config.retry_after_s, 3))})
        if fault is not None:
            return _error(fault, "InternalFailure", "We encountered an internal error. Please try again.", limit)
        if not self.buckets[operation].take()[0]:
            return _error(429, "QuotaExceeded", "You exceeded your quota for the requested resource.", limit)
        try:
            if operation == "searchOrders":
                reply = self.search(self.world, req)  # type: ignore[misc]
            else:
                reply = self._orders(req) if operation == "getOrders" else self._items(req)
        except ValueError as exc:
            reply = _error(400, "InvalidInput", str(exc))
        reply.headers.update(limit)
        return reply

    def _orders(self, req: Request) -> Reply:
        markets = {m.strip() for m in (req.param("MarketplaceIds") or "").split(",") if m.strip()}
        if not markets:
            raise ValueError("MarketplaceIds is required.")
        token = req.param("NextToken")
        if token is not None:
            state = _decode(token)
            after, field, size, anchor = _time(state["after"]), state["field"], state["size"], tuple(state["k"])
        else:
            given = [n for n in ("CreatedAfter", "LastUpdatedAfter") if req.param(n)]
            if len(given) != 1:
                raise ValueError("Exactly one of CreatedAfter and LastUpdatedAfter must be specified.")
            field, after, anchor = given[0], _time(req.param(given[0]) or ""), None
            size = int(req.param("MaxResultsPerPage") or 100)
            if not 1 <= size <= 100:
                raise ValueError("MaxResultsPerPage must be between 1 and 100.")
        by = "created" if field == "CreatedAfter" else "updated"
        keys, listed = self.world.listing(by)
        first = bisect_left(keys, (math.floor(after.timestamp()), 0))
        if anchor is not None:
            first = max(first, bisect_right(keys, (int(anchor[0]), int(anchor[1]))))
        picked = []  # positions in the listing, one more than a page to know whether another follows
        for i in range(first, len(listed)):
            if getattr(listed[i], by) >= after and _market(listed[i]) in markets:
                picked.append(i)
                if len(picked) > size:
                    break
        page, more = picked[:size], len(picked) > size
        orders = [{k: v for k, v in served(listed[i]).items() if k != "OrderItems"} for i in page]
        payload: dict[str, Any] = {"Orders": orders, "LastUpdatedBefore": _z(self.world.now())}
        if more:
            payload["NextToken"] = _encode({"after": _z(after), "field": field, "size": size, "k": list(keys[page[-1]])})
        return Reply.json(200, {"payload": payload})

    def _items(self, req: Request) -> Reply:
        wanted = _ITEMS.match(req.path)["id"]  # type: ignore[index]
        row = self.world.find("amazon", amazon_id, wanted)
        if row is None:
            return _error(404, "NotFound", f"Order {wanted} not found.")
        items = served(row)["OrderItems"]
        start = int(_decode(req.param("NextToken") or "")["i"]) if req.param("NextToken") else 0
        chunk = items[start:start + self.items_page_size]
        payload: dict[str, Any] = {"AmazonOrderId": wanted, "OrderItems": chunk}
        if start + self.items_page_size < len(items):
            payload["NextToken"] = _encode({"i": start + self.items_page_size})
        return Reply.json(200, {"payload": payload})


def _market(row: OrderRow) -> str:
    return MARKETPLACES.get((row.data.get("shipping_address") or {}).get("country_code", "US"), MARKETPLACES["US"])


def _time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"Invalid date {value!r}: use ISO 8601.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _encode(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def _decode(token: str) -> dict[str, Any]:
    try:
        state = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not isinstance(state, dict):
            raise ValueError(token)
        return state
    except (ValueError, binascii.Error):
        raise ValueError("Invalid NextToken.") from None
