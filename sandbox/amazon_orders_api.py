"""Amazon SP-API Orders v2026-01-01 searchOrders, served from the same simulated Amazon shop as v0.

What OpsDesk relies on, the way SP-API documents it: ``GET /orders/2026-01-01/orders`` with
exactly one of ``createdAfter`` / ``lastUpdatedAfter``, optional ``marketplaceIds`` and
``fulfillmentStatuses`` (comma-separated), ``maxResultsPerPage`` 1-100, ``includedData`` naming
the datasets beyond the order and its items, and ``paginationToken`` pages that must repeat every
other parameter (``maxResultsPerPage`` and ``includedData`` may change). The answer is
``{"orders": [...], "pagination": {"nextToken"}, "lastUpdatedBefore"}``; money is
``{"amount", "currencyCode"}``; seller-fulfilled parcels come as ``packages``.
"""

from __future__ import annotations

import copy
import math
from bisect import bisect_left, bisect_right
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sandbox import Reply, Request
from sandbox.amazon_api import MARKETPLACES, _decode, _encode, _market, _time, _z, amazon_id, amazon_status
from sandbox.world import OrderRow, World

PATH = "/orders/2026-01-01/orders"
DATASETS = ("BUYER", "RECIPIENT", "PROCEEDS", "EXPENSE", "PROMOTION", "CANCELLATION", "FULFILLMENT",
            "PACKAGES", "TAX", "PAYMENT", "FULFILLMENT_ORDERS")
# v0's OrderStatus (what sandbox.amazon_api computes) -> v2026's fulfillmentStatus.
STATUS = {"Pending": "PENDING", "Unshipped": "UNSHIPPED", "PartiallyShipped": "PARTIALLY_SHIPPED",
          "Shipped": "SHIPPED", "Canceled": "CANCELLED"}
FULFILLMENT_STATUSES = ("PENDING_AVAILABILITY", "PENDING", "UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED",
                        "CANCELLED", "UNFULFILLABLE")


def _money(amount: Any, currency: str) -> dict[str, str]:
    return {"amount": str(amount), "currencyCode": currency}


def translate(row: OrderRow, included: frozenset[str] = frozenset(DATASETS)) -> dict[str, Any]:
    """One world order as searchOrders answers it with ``included`` datasets."""
    data = row.data
    addr = data.get("shipping_address") or {}
    cc, currency = addr.get("country_code", "US"), data["currency"]
    word = STATUS[amazon_status(data)]
    priced = word not in ("PENDING", "CANCELLED")  # Amazon shows no prices before payment is authorized
    shipped: dict[int, int] = {}
    for parcel in data["fulfillments"]:
        for li in parcel["line_items"]:
            shipped[li["id"]] = shipped.get(li["id"], 0) + li["quantity"]
    items = []
    for li in data["line_items"]:
        product: dict[str, Any] = {"asin": f"B0{li['product_id'] % 10**8:08d}", "title": li["name"],
                                   "sellerSku": li["sku"], "condition": {"conditionType": "NEW"}}
        if priced:
            product["price"] = {"unitPrice": _money(li["price"], currency)}
        item: dict[str, Any] = {"orderItemId": str(li["id"]), "quantityOrdered": li["quantity"], "product": product}
        if "PROCEEDS" in included and priced:
            item["proceeds"] = {"proceedsTotal": _money(Decimal(li["price"]) * li["quantity"], currency)}
        if "FULFILLMENT" in included:
            done = min(shipped.get(li["id"], 0), li["quantity"])
            item["fulfillment"] = {"quantityFulfilled": done, "quantityUnfulfilled": li["quantity"] - done}
        items.append(item)
    order: dict[str, Any] = {
        "orderId": amazon_id(row.id), "createdTime": _z(data["created_at"]), "lastUpdatedTime": _z(data["updated_at"]),
        "programs": [p for p, on in (("PRIME", row.id % 3 == 0), ("AMAZON_BUSINESS", bool(addr.get("company")))) if on],
        "salesChannel": {"channelName": "AMAZON", "marketplaceId": MARKETPLACES.get(cc, MARKETPLACES["US"])},
        "orderItems": items,
    }
    if "BUYER" in included:
        order["buyer"] = {"buyerName": f"{addr.get('first_name', '')} {addr.get('last_name', '')}".strip(),
                          "buyerEmail": f"{row.id:x}@marketplace.amazon.com"}
    if "RECIPIENT" in included:
        order["recipient"] = {"deliveryAddress": {
            "name": addr.get("name"), "companyName": addr.get("company"), "addressLine1": addr.get("address1"),
            "addressLine2": addr.get("address2"), "city": addr.get("city"), "stateOrRegion": addr.get("province_code"),
            "postalCode": addr.get("zip"), "countryCode": cc, "phone": addr.get("phone"),
            "addressType": "COMMERCIAL" if addr.get("company") else "RESIDENTIAL"}}
    if "PROCEEDS" in included and priced:
        order["proceeds"] = {"grandTotal": _money(data["total_price"], currency)}
    if "FULFILLMENT" in included:
        created = row.created
        order["fulfillment"] = {
            "fulfillmentStatus": word, "fulfilledBy": "MERCHANT", "fulfillmentServiceLevel": "STANDARD",
            "shipByWindow": {"earliestDateTime": _z(created),
                             "latestDateTime": _z((created + timedelta(days=2)).replace(hour=23, minute=59, second=59))}}
    if "PACKAGES" in included and data["fulfillments"]:
        order["packages"] = [_package(parcel) for parcel in data["fulfillments"]]
    return order


def _package(parcel: dict[str, Any]) -> dict[str, Any]:
    package: dict[str, Any] = {
        "packageReferenceId": str(parcel["id"]), "createdTime": _z(parcel["created_at"]),
        "packageStatus": {"status": "SHIPPED"}, "shippingService": "Standard",
        "packageItems": [{"orderItemId": str(li["id"]), "quantity": li["quantity"]} for li in parcel["line_items"]],
    }
    if parcel.get("tracking_number"):
        package.update(carrier=parcel["tracking_company"], trackingNumber=parcel["tracking_number"],
                       shipTime=_z(parcel["created_at"]))
    return package


def corrupt(order: dict[str, Any], kind: str) -> dict[str, Any]:
    """The order broken the way the world says (the same four faults as every channel)."""
    bad = copy.deepcopy(order)
    if kind == "quantity_word":
        bad["orderItems"][0]["quantityOrdered"] = "two"
    elif kind == "missing_sku":
        del bad["orderItems"][0]["product"]["sellerSku"]
    elif kind == "bad_total":
        bad.setdefault("proceeds", {}).setdefault("grandTotal", {"currencyCode": "USD"})["amount"] = "abc"
    elif kind == "missing_created_at":
        del bad["createdTime"]
    return bad


def served(row: OrderRow, included: frozenset[str] = frozenset(DATASETS)) -> dict[str, Any]:
    """A world order as searchOrders serves it, broken if the world says so."""
    order = translate(row, included)
    return corrupt(order, row.malformed) if row.malformed else order


def _listed(value: str | None, allowed: tuple[str, ...], name: str) -> list[str]:
    words = sorted({w.strip() for w in (value or "").split(",") if w.strip()})
    unknown = [w for w in words if w not in allowed]
    if unknown:
        raise ValueError(f"Invalid {name}: {unknown[0][:40]}.")
    return words


def search_orders(world: World, req: Request) -> Reply:
    """searchOrders: one page of the shop's orders matching the request (ValueError: a 400)."""
    given = [n for n in ("createdAfter", "lastUpdatedAfter") if req.param(n)]
    if len(given) != 1:
        raise ValueError("Exactly one of createdAfter and lastUpdatedAfter must be specified.")
    field = given[0]
    after = _time(req.param(field) or "")
    markets = sorted({m.strip() for m in (req.param("marketplaceIds") or "").split(",") if m.strip()})
    if len(markets) > 50:
        raise ValueError("marketplaceIds takes at most 50 marketplaces.")
    statuses = _listed(req.param("fulfillmentStatuses"), FULFILLMENT_STATUSES, "fulfillmentStatuses")
    included = frozenset(_listed(req.param("includedData"), DATASETS, "includedData"))
    size = int(req.param("maxResultsPerPage") or 100)
    if not 1 <= size <= 100:
        raise ValueError("maxResultsPerPage must be between 1 and 100.")
    query = {"field": field, "after": _z(after), "m": markets, "s": statuses}
    anchor = None
    if req.param("paginationToken") is not None:
        state = _decode(req.param("paginationToken") or "")
        if state.get("q") != query:  # Amazon: every parameter but maxResultsPerPage and includedData repeated
            raise ValueError("paginationToken does not belong to these search parameters; repeat them unchanged.")
        anchor = tuple(state.get("k") or ())
        if len(anchor) != 2:
            raise ValueError("Invalid paginationToken.")
    by = "created" if field == "createdAfter" else "updated"
    keys, rows = world.listing(by)
    first = bisect_left(keys, (math.floor(after.timestamp()), 0))
    if anchor is not None:
        first = max(first, bisect_right(keys, (int(anchor[0]), int(anchor[1]))))
    picked: list[int] = []  # positions in the listing, one more than a page to know whether another follows
    for i in range(first, len(rows)):
        r = rows[i]
        if getattr(r, by) >= after and (not markets or _market(r) in markets) \
                and (not statuses or STATUS[amazon_status(r.data)] in statuses):
            picked.append(i)
            if len(picked) > size:
                break
    page = picked[:size]
    body: dict[str, Any] = {"orders": [served(rows[i], included) for i in page],
                            "lastUpdatedBefore" if field == "lastUpdatedAfter" else "createdBefore": _z(world.now())}
    if len(picked) > size:
        body["pagination"] = {"nextToken": _encode({"q": query, "k": list(keys[page[-1]])})}
    return Reply.json(200, body)
