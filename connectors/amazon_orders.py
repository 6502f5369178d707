"""Amazon SP-API Orders v2026-01-01: orders updated since a cursor, items and parcels included, normalized.

Wire facts: ``GET /orders/2026-01-01/orders`` (searchOrders) with exactly one of ``createdAfter`` /
``lastUpdatedAfter``, ``marketplaceIds`` (comma-separated), ``maxResultsPerPage`` up to 100 and
``includedData``; later pages repeat every parameter and add ``paginationToken`` (the answer's
``pagination.nextToken``; absent on the last page). The answer is ``{"orders": [...]}`` with no
``payload`` wrapper. Every order carries its ``orderItems`` (``product.sellerSku``,
``product.price.unitPrice`` - the price of one unit, not of the line); buyer, recipient,
proceeds, fulfillment status and packages come only when ``includedData`` names them. Money is
``{"amount": "12.34", "currencyCode": "USD"}``. ``fulfillment.shipByWindow.latestDateTime`` is the
seller's ship-by; ``packages`` (seller-fulfilled orders) are parcels with carrier and tracking number.

Where v0 needed one getOrderItems call per order (0.5 a second), this is one call per 100
orders - the reason Amazon replaces v0 by March 2027. searchOrders' own quota is tight (0.0056
requests a second, burst 20), paced by the same process-wide token buckets as v0.

The raw record (what a dead letter keeps and a replay parses) is the order exactly as searchOrders sent it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from connectors import fields as f
from connectors.amazon_common import (
    MARKETPLACE_CURRENCY,
    SHORT_WAIT_S,
    US_MARKETPLACE,
    AmazonClient,
    QuotaWaitStopped,
    TokenBucket,
    last_page,
    listing_page,
    rate_period,
    shared_bucket,
)
from connectors.client_base import checked_page_size
from connectors.http import BadResponse, json_body
from connectors.schemas import (
    Address,
    ChannelFulfillment,
    ChannelLine,
    ChannelOrder,
    FinancialStatus,
    OrderStatus,
    Page,
    Rejection,
)
from core.enums import AmazonOrdersApi

API_VERSION = AmazonOrdersApi.V2026.value
ORDERS_PATH = f"/orders/{API_VERSION}/orders"
MAX_PAGE_SIZE = 100
OPERATION = "searchOrders"
# What each order must carry for the desk; items are always included.
INCLUDED_DATA = ("BUYER", "RECIPIENT", "PROCEEDS", "FULFILLMENT", "PACKAGES")

# Amazon's fulfillmentStatus -> (what it means for the desk, what it says about payment).
STATUS: Mapping[str, tuple[OrderStatus | None, FinancialStatus]] = {
    "PENDING_AVAILABILITY": (None, FinancialStatus.PENDING),  # pre-order, not yet payable
    "PENDING": (None, FinancialStatus.PENDING),  # placed, payment not authorized yet
    "UNSHIPPED": (None, FinancialStatus.AUTHORIZED),  # ready to ship: the desk's work
    "PARTIALLY_SHIPPED": (OrderStatus.PARTIALLY_SHIPPED, FinancialStatus.AUTHORIZED),
    "SHIPPED": (OrderStatus.SHIPPED, FinancialStatus.PAID),
    "CANCELLED": (OrderStatus.CANCELLED, FinancialStatus.VOIDED),
    "UNFULFILLABLE": (OrderStatus.CANCELLED, FinancialStatus.VOIDED),  # multi-channel fulfilment gave up
}
# Orders Amazon sends without prices yet: their total is 0 until payment is authorized.
_UNPRICED = frozenset({"PENDING_AVAILABILITY", "PENDING", "CANCELLED"})
# Parcels that will never travel: nothing for the desk to watch.
_DEAD_PACKAGES = frozenset({"CANCELLED"})
_DEAD_LABELS = frozenset({"LABEL_CANCELLED"})  # packageStatus.detailedStatus
_UNKNOWN_CARRIER = "Other"
_TAGS = {"PRIME": "prime", "AMAZON_BUSINESS": "business"}


def channel_status(word: str | None) -> tuple[OrderStatus | None, FinancialStatus] | None:
    """What an Amazon fulfillmentStatus means for an OpsDesk order and its payment; None for an unknown word."""
    return STATUS.get(word or "")


def is_v2026(raw: Any) -> bool:
    """Whether a raw record has v2026-01-01's shape (``orderId``) rather than v0's (``AmazonOrderId``)."""
    return isinstance(raw, dict) and "orderId" in raw and "AmazonOrderId" not in raw


def parse_order(raw: Any) -> ChannelOrder | Rejection:
    """Normalize one searchOrders order; a broken one becomes a Rejection."""
    return f.guarded(_order, raw, f.readable_id(raw, "orderId"))


def _order(raw: dict[str, Any]) -> ChannelOrder:
    order_id = f.text(raw.get("orderId"))
    if not order_id:
        raise f.Invalid("orderId: missing")
    fulfillment = f.obj(raw, "fulfillment")
    if fulfillment is None:
        raise f.Invalid("fulfillment: missing (asked for with includedData=FULFILLMENT)")
    word = fulfillment.get("fulfillmentStatus")
    meaning = channel_status(word if isinstance(word, str) else None)
    if meaning is None:
        raise f.Invalid(f"fulfillment.fulfillmentStatus: unknown status {str(word)[:40]!r}")
    target, financial = meaning
    updated = f.when(raw.get("lastUpdatedTime"), "lastUpdatedTime")
    proceeds = f.obj(raw, "proceeds") or {}
    grand = f.obj(proceeds, "grandTotal", "proceeds")
    if grand is None and word not in _UNPRICED:
        raise f.Invalid("proceeds.grandTotal: missing")
    market = (f.obj(raw, "salesChannel") or {}).get("marketplaceId")
    currency = (grand or {}).get("currencyCode") or MARKETPLACE_CURRENCY.get(str(market))
    lines = tuple(line for i, item in enumerate(f.items(raw, "orderItems")) if (line := _line(item, i, word)))
    if not lines and target is not OrderStatus.CANCELLED:  # cancelled: Amazon zeroes every quantity
        raise f.Invalid("orderItems: an order needs at least one item with a quantity")
    buyer = f.obj(raw, "buyer") or {}
    address = f.obj(f.obj(raw, "recipient") or {}, "deliveryAddress", "recipient")
    programs = [p for p in f.items(raw, "programs") if isinstance(p, str)]
    tags = [_TAGS[p] for p in programs if p in _TAGS] + (["fba"] if fulfillment.get("fulfilledBy") == "AMAZON" else [])
    window = f.obj(fulfillment, "shipByWindow", "fulfillment") or {}
    parcels = (_package(p, i) for i, p in enumerate(f.items(raw, "packages")))
    fields = {
        "external_id": order_id, "number": order_id, "channel_status": target, "financial_status": financial,
        "raw_financial_status": word, "raw_fulfillment_status": word,
        "placed_at": f.when(raw.get("createdTime"), "createdTime"), "updated_at": updated,
        "cancelled_at": updated if target is OrderStatus.CANCELLED else None,
        "ship_by": f.when(window.get("latestDateTime"), "fulfillment.shipByWindow.latestDateTime", required=False),
        "customer_name": f.clip(f.first_text(buyer.get("buyerName"), (address or {}).get("name")) or "", 200),
        "email": f.text(buyer.get("buyerEmail")),
        "phone": f.text((address or {}).get("phone")),
        "ship_to": _address(address) if address is not None else None,
        "total": f.money(grand.get("amount"), "proceeds.grandTotal.amount") if grand else Decimal(0),
        "currency": currency, "tags": tuple(tags), "lines": lines,
        "fulfillments": tuple(p for p in parcels if p is not None),
    }
    names = {"external_id": "orderId", "placed_at": "createdTime", "total": "proceeds.grandTotal.amount",
             "currency": "proceeds.grandTotal.currencyCode", "ship_to": "recipient.deliveryAddress",
             "lines": "orderItems", "fulfillments": "packages"}
    return f.build(ChannelOrder, fields, "", names)


def _line(item: Any, i: int, word: Any) -> ChannelLine | None:
    where = f"orderItems[{i}]"
    if not isinstance(item, dict):
        raise f.Invalid(f"{where}: expected an object")
    if not f.text(item.get("orderItemId")):
        raise f.Invalid(f"{where}.orderItemId: missing")
    product = f.obj(item, "product", where) or {}
    sku = product.get("sellerSku")
    if not isinstance(sku, str) or not sku.strip():
        raise f.Invalid(f"{where}.product.sellerSku: missing (every line needs a SKU)")
    quantity = item.get("quantityOrdered")
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise f.Invalid(f"{where}.quantityOrdered: Input should be a valid integer")
    if quantity == 0:
        return None  # a cancelled item: nothing to ship
    unit = f.obj(f.obj(product, "price", f"{where}.product") or {}, "unitPrice", f"{where}.product.price")
    if unit is None and word not in _UNPRICED:
        raise f.Invalid(f"{where}.product.price.unitPrice: missing")
    fields = {"external_id": str(item["orderItemId"]), "sku": sku,
              "title": f.clip(f.text(product.get("title")) or "", 300), "quantity": quantity,
              "unit_price": f.money(unit.get("amount"), f"{where}.product.price.unitPrice.amount") if unit else Decimal(0)}
    return f.build(ChannelLine, fields, where, {"external_id": "orderItemId", "sku": "product.sellerSku",
                                                "quantity": "quantityOrdered", "unit_price": "product.price.unitPrice"})


def _package(raw: Any, i: int) -> ChannelFulfillment | None:
    """A parcel with a tracking number that has left, or None for one that is not (or never will be) on its way."""
    where = f"packages[{i}]"
    if not isinstance(raw, dict):
        raise f.Invalid(f"{where}: expected an object")
    state = f.obj(raw, "packageStatus", where) or {}
    if state.get("status") in _DEAD_PACKAGES or state.get("detailedStatus") in _DEAD_LABELS:
        return None
    tracking, shipped = f.text(raw.get("trackingNumber")), f.when(raw.get("shipTime"), f"{where}.shipTime", required=False)
    if not tracking or shipped is None:
        return None  # a label not yet handed to the carrier
    quantities: dict[str, int] = {}
    for j, item in enumerate(f.items(raw, "packageItems", where)):
        qty = item.get("quantity") if isinstance(item, dict) else None
        if not isinstance(item, dict) or not f.text(item.get("orderItemId")):
            raise f.Invalid(f"{where}.packageItems[{j}].orderItemId: missing")
        if isinstance(qty, bool) or not isinstance(qty, int):
            raise f.Invalid(f"{where}.packageItems[{j}].quantity: Input should be a valid integer")
        quantities[str(item["orderItemId"])] = quantities.get(str(item["orderItemId"]), 0) + qty
    fields = {"external_id": f.text(raw.get("packageReferenceId")) or "", "tracking_number": tracking,
              "carrier": f.text(raw.get("carrier")) or _UNKNOWN_CARRIER, "service": f.text(raw.get("shippingService")),
              "shipped_at": shipped, "line_quantities": quantities}
    return f.build(ChannelFulfillment, fields, where, {"external_id": "packageReferenceId",
                                                       "tracking_number": "trackingNumber", "shipped_at": "shipTime"})


def _address(raw: dict[str, Any]) -> Address:
    fields = {"name": f.text(raw.get("name")) or "", "company": f.text(raw.get("companyName")),
              "address1": f.text(raw.get("addressLine1")) or "",
              "address2": f.joined(raw.get("addressLine2"), raw.get("addressLine3")) or None,
              "city": f.text(raw.get("city")) or "", "region": f.text(raw.get("stateOrRegion")),
              "postal_code": f.text(raw.get("postalCode")), "country_code": f.text(raw.get("countryCode")),
              "phone": f.text(raw.get("phone"))}
    return f.build(Address, fields, "recipient.deliveryAddress",
                   {"address1": "addressLine1", "region": "stateOrRegion", "postal_code": "postalCode",
                    "country_code": "countryCode"})


class AmazonSearchOrders(AmazonClient):
    """Orders of one seller in some marketplaces through searchOrders; the injected client carries base_url,
    the access token (or Login with Amazon) and timeouts."""

    def __init__(self, client: httpx.Client, *, marketplace_ids: Sequence[str] = (US_MARKETPLACE,),
                 page_size: int = MAX_PAGE_SIZE, first_sync_days: float = 30.0,
                 bucket: TokenBucket | None = None, max_attempts: int = 5, max_wait_s: float = SHORT_WAIT_S,
                 sleep: Callable[[float], None] = time.sleep,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.page_size = checked_page_size(page_size, MAX_PAGE_SIZE)
        if not marketplace_ids:
            raise ValueError("at least one marketplace id is needed")
        self._client, self._sleep, self._now = client, sleep, now
        self.marketplace_ids = tuple(marketplace_ids)
        self.first_sync = timedelta(days=first_sync_days)
        self.bucket = bucket or shared_bucket(str(client.base_url), OPERATION)
        # A 429 without Retry-After waits one period of the reported rate (three minutes at Amazon's default), in
        # the bucket when it is longer than max_wait_s.
        self._retry = {"max_attempts": max_attempts, "max_wait_s": max_wait_s, "sleep": sleep,
                       "rate_limit_wait": rate_period}

    def _search(self, params: dict[str, Any]) -> dict[str, Any]:
        resp = self._paced(self.bucket, ORDERS_PATH, params)
        body = json_body(resp)
        if not isinstance(body, dict) or not isinstance(body.get("orders"), list):
            raise BadResponse(f"GET {ORDERS_PATH} answered without orders", status_code=resp.status_code,
                              url=str(resp.request.url))
        return body

    def orders_since(self, cursor: str | None) -> Iterator[Page]:
        """Yield one Page per searchOrders page of orders updated at or after ``cursor``.

        As with v0, Amazon promises no order within a listing, so only the last page carries a
        cursor (two minutes before the newest lastUpdatedTime seen, for updates that become
        searchable late); an interrupted sync starts again from the old one.
        """
        start = f.parse_cursor(cursor)
        after = start or self._now() - self.first_sync
        query: dict[str, Any] = {"lastUpdatedAfter": after.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                 "marketplaceIds": ",".join(self.marketplace_ids),
                                 "includedData": ",".join(INCLUDED_DATA), "maxResultsPerPage": self.page_size}
        params, high = dict(query), start
        while True:
            try:
                body = self._search(params)
            except QuotaWaitStopped:
                return  # the process is stopping: the pages stored so far stand, the cursor stays
            page, high = listing_page(body["orders"], parse_order, "lastUpdatedTime", high)
            pagination = body.get("pagination")
            token = pagination.get("nextToken") if isinstance(pagination, dict) else None
            last = not token
            yield last_page(page, start, high) if last else page
            if last:
                return
            params = {**query, "paginationToken": token}  # every other parameter repeated, as Amazon requires

