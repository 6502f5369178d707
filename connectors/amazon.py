"""Amazon SP-API Orders v0: orders updated since a cursor, each with its items, normalized.

Wire facts (DESIGN.md section 5): ``GET /orders/v0/orders`` with ``MarketplaceIds`` and
``LastUpdatedAfter`` (or only ``NextToken`` and ``MarketplaceIds`` for later pages), answer
``payload.Orders`` / ``payload.NextToken``; then ``GET /orders/v0/orders/{AmazonOrderId}/orderItems``
per order (with its own ``NextToken``). Header ``x-amz-access-token``. Money is
``{"CurrencyCode", "Amount": "12.34"}``; ``ItemPrice`` is the line total, not the unit price.
``LatestShipDate`` is the seller's ship-by and becomes the order's.

Rate limits are tight (getOrders 0.0167 req/s burst 20, getOrderItems 0.5 req/s burst 30), so
each operation has a client-side token bucket, shared by every connector in the process for
the same seller endpoint (a poll builds a new connector; the quota does not reset with it).
A 429 drains the bucket and waits ``Retry-After`` or, as Amazon sends, one period of the
rate in ``x-amzn-RateLimit-Limit``.

The raw record (what a dead letter keeps and a replay parses) is the getOrders order with its
items under ``OrderItems``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from connectors import amazon_orders
from connectors import fields as f
from connectors.amazon_auth import LWA_URL, shared_tokens
from connectors.amazon_common import (  # noqa: F401 - SECRETS, SECRET_SHAPES and RATES are this kind's registry facts
    MARKETPLACE_CURRENCY,
    RATES,
    SECRET_SHAPES,
    SECRETS,
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
    ChannelLine,
    ChannelOrder,
    FinancialStatus,
    OrderStatus,
    Page,
    Rejection,
)
from core.enums import AmazonOrdersApi

ORDERS_PATH = "/orders/v0/orders"
MAX_PAGE_SIZE = 100
OPERATIONS = ("getOrders", "getOrderItems")

# Amazon's OrderStatus -> (what it means for the desk, what it says about payment).
STATUS: Mapping[str, tuple[OrderStatus | None, FinancialStatus]] = {
    "PendingAvailability": (None, FinancialStatus.PENDING),  # pre-order, not yet payable
    "Pending": (None, FinancialStatus.PENDING),  # placed, payment not authorized yet
    "Unshipped": (None, FinancialStatus.AUTHORIZED),  # ready to ship: the desk's work
    "PartiallyShipped": (OrderStatus.PARTIALLY_SHIPPED, FinancialStatus.AUTHORIZED),
    "Shipped": (OrderStatus.SHIPPED, FinancialStatus.PAID),
    "InvoiceUnconfirmed": (OrderStatus.SHIPPED, FinancialStatus.PAID),  # shipped, invoice not confirmed
    "Canceled": (OrderStatus.CANCELLED, FinancialStatus.VOIDED),
    "Unfulfillable": (OrderStatus.CANCELLED, FinancialStatus.VOIDED),  # multi-channel fulfilment gave up
}
# Orders Amazon sends without prices yet: their total is 0 until payment is authorized.
_UNPRICED = frozenset({"PendingAvailability", "Pending", "Canceled"})


def channel_status(word: str | None) -> tuple[OrderStatus | None, FinancialStatus] | None:
    """What an Amazon OrderStatus means for an OpsDesk order and its payment; None for an unknown word."""
    return STATUS.get(word or "")


def parse_order(raw: Any) -> ChannelOrder | Rejection:
    """Normalize one order, as v0 (getOrders order + ``OrderItems``) or v2026-01-01 (searchOrders) sent it;
    a broken one becomes a Rejection. Letters kept before a channel moved to v2026 still replay."""
    if amazon_orders.is_v2026(raw):
        return amazon_orders.parse_order(raw)
    return f.guarded(_order, raw, f.readable_id(raw, "AmazonOrderId"))


def _order(raw: dict[str, Any]) -> ChannelOrder:
    order_id = f.text(raw.get("AmazonOrderId"))
    if not order_id:
        raise f.Invalid("AmazonOrderId: missing")
    word = raw.get("OrderStatus")
    meaning = channel_status(word if isinstance(word, str) else None)
    if meaning is None:
        raise f.Invalid(f"OrderStatus: unknown status {str(word)[:40]!r}")
    target, financial = meaning
    updated = f.when(raw.get("LastUpdateDate"), "LastUpdateDate")
    total_raw = f.obj(raw, "OrderTotal")
    if total_raw is None and word not in _UNPRICED:
        raise f.Invalid("OrderTotal: missing")
    currency = (total_raw or {}).get("CurrencyCode") or MARKETPLACE_CURRENCY.get(str(raw.get("MarketplaceId")))
    items = f.items(raw, "OrderItems")
    lines = tuple(line for i, item in enumerate(items) if (line := _line(item, i, word)) is not None)
    if not lines and target is not OrderStatus.CANCELLED:  # cancelled: Amazon zeroes every quantity
        raise f.Invalid("OrderItems: an order needs at least one item with a quantity")
    buyer = f.obj(raw, "BuyerInfo") or {}
    shipping = f.obj(raw, "ShippingAddress")
    tags = [t for t, on in (("prime", raw.get("IsPrime")), ("business", raw.get("IsBusinessOrder")),
                            ("fba", raw.get("FulfillmentChannel") == "AFN")) if on is True]
    fields = {
        "external_id": order_id, "number": order_id, "channel_status": target, "financial_status": financial,
        "raw_financial_status": word, "raw_fulfillment_status": word,
        "placed_at": f.when(raw.get("PurchaseDate"), "PurchaseDate"), "updated_at": updated,
        "cancelled_at": updated if target is OrderStatus.CANCELLED else None,
        "ship_by": f.when(raw.get("LatestShipDate"), "LatestShipDate", required=False),
        "customer_name": f.clip(f.first_text(buyer.get("BuyerName"), (shipping or {}).get("Name")) or "", 200),
        "email": f.text(buyer.get("BuyerEmail")),
        "phone": f.text((shipping or {}).get("Phone")),
        "ship_to": _address(shipping) if shipping is not None else None,
        "total": f.money(total_raw.get("Amount"), "OrderTotal.Amount") if total_raw else Decimal(0),
        "currency": currency, "tags": tuple(tags), "lines": lines,
    }
    names = {"external_id": "AmazonOrderId", "placed_at": "PurchaseDate", "total": "OrderTotal.Amount",
             "currency": "OrderTotal.CurrencyCode", "ship_to": "ShippingAddress", "lines": "OrderItems"}
    return f.build(ChannelOrder, fields, "", names)


def _line(item: Any, i: int, word: Any) -> ChannelLine | None:
    where = f"OrderItems[{i}]"
    if not isinstance(item, dict):
        raise f.Invalid(f"{where}: expected an object")
    if not f.text(item.get("OrderItemId")):
        raise f.Invalid(f"{where}.OrderItemId: missing")
    sku = item.get("SellerSKU")
    if not isinstance(sku, str) or not sku.strip():
        raise f.Invalid(f"{where}.SellerSKU: missing (every line needs a SKU)")
    quantity = item.get("QuantityOrdered")
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise f.Invalid(f"{where}.QuantityOrdered: Input should be a valid integer")
    if quantity == 0:
        return None  # a cancelled item: nothing to ship
    price = f.obj(item, "ItemPrice", where)
    if price is None and word not in _UNPRICED:
        raise f.Invalid(f"{where}.ItemPrice: missing")
    # ItemPrice is the price of the whole line (unit price x quantity).
    unit = f.cents(f.money(price.get("Amount"), f"{where}.ItemPrice.Amount") / quantity) if price else Decimal(0)
    fields = {"external_id": str(item["OrderItemId"]), "sku": sku, "title": f.clip(f.text(item.get("Title")) or "", 300),
              "quantity": quantity, "unit_price": unit}
    return f.build(ChannelLine, fields, where, {"external_id": "OrderItemId", "sku": "SellerSKU",
                                                "quantity": "QuantityOrdered", "unit_price": "ItemPrice"})


def _address(raw: dict[str, Any]) -> Address:
    fields = {"name": f.text(raw.get("Name")) or "", "company": f.text(raw.get("CompanyName")),
              "address1": f.text(raw.get("AddressLine1")) or "",
              "address2": f.joined(raw.get("AddressLine2"), raw.get("AddressLine3")) or None,
              "city": f.text(raw.get("City")) or "", "region": f.text(raw.get("StateOrRegion")),
              "postal_code": f.text(raw.get("PostalCode")), "country_code": f.text(raw.get("CountryCode")),
              "phone": f.text(raw.get("Phone"))}
    return f.build(Address, fields, "ShippingAddress", {"address1": "AddressLine1", "region": "StateOrRegion",
                                                         "postal_code": "PostalCode", "country_code": "CountryCode"})


class AmazonOrders(AmazonClient):
    """Orders of one seller in some marketplaces; the injected client carries base_url, the access token and timeouts."""

    def __init__(self, client: httpx.Client, *, marketplace_ids: Sequence[str] = (US_MARKETPLACE,),
                 page_size: int = MAX_PAGE_SIZE, first_sync_days: float = 30.0,
                 buckets: Mapping[str, TokenBucket] | None = None, max_attempts: int = 5,
                 max_wait_s: float = SHORT_WAIT_S, sleep: Callable[[float], None] = time.sleep,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.page_size = checked_page_size(page_size, MAX_PAGE_SIZE)
        if not marketplace_ids:
            raise ValueError("at least one marketplace id is needed")
        self._client, self._sleep, self._now = client, sleep, now
        self.marketplace_ids = tuple(marketplace_ids)
        self.first_sync = timedelta(days=first_sync_days)
        endpoint = str(client.base_url)
        self.buckets = dict(buckets) if buckets else {op: shared_bucket(endpoint, op) for op in OPERATIONS}
        self._retry = {"max_attempts": max_attempts, "max_wait_s": max_wait_s, "sleep": sleep,
                       "rate_limit_wait": rate_period}

    def _get(self, operation: str, url: str, params: dict[str, Any]) -> dict[str, Any]:
        resp = self._paced(self.buckets[operation], url, params)
        body = json_body(resp)
        payload = body.get("payload") if isinstance(body, dict) else None
        if not isinstance(payload, dict):
            raise BadResponse(f"GET {url} answered without a payload", status_code=resp.status_code,
                              url=str(resp.request.url))
        return payload

    def order_items(self, order_id: str) -> list[Any]:
        """Every item of one order, following its NextToken."""
        url, items, token = f"{ORDERS_PATH}/{quote(order_id, safe='')}/orderItems", [], None
        while True:
            payload = self._get("getOrderItems", url, {"NextToken": token} if token else {})
            page = payload.get("OrderItems")
            if not isinstance(page, list):
                raise BadResponse(f"GET {url} answered without OrderItems")
            items += page
            token = payload.get("NextToken")
            if not token:
                return items

    def _listing_page(self, params: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
        """One getOrders page and its orders, each with its items under ``OrderItems``."""
        payload = self._get("getOrders", ORDERS_PATH, params)
        orders = payload.get("Orders")
        if not isinstance(orders, list):
            raise BadResponse(f"GET {ORDERS_PATH} answered without payload.Orders")
        raws = []
        for order in orders:
            order_id = f.readable_id(order, "AmazonOrderId")
            raws.append({**order, "OrderItems": self.order_items(order_id)} if order_id else order)
        return payload, raws

    def orders_since(self, cursor: str | None) -> Iterator[Page]:
        """Yield one Page per getOrders page of orders updated at or after ``cursor``, with their items.

        Amazon does not promise any order within a listing, so the pages before the last carry
        no cursor; the last carries two minutes before the newest LastUpdateDate seen (updates can
        become searchable late; ingest skips what it already holds). An interrupted sync starts
        again from the old cursor (ingest is an upsert), and nothing is ever skipped.
        """
        start = f.parse_cursor(cursor)
        after = start or self._now() - self.first_sync
        markets = ",".join(self.marketplace_ids)
        params: dict[str, Any] = {"MarketplaceIds": markets, "MaxResultsPerPage": self.page_size,
                                  "LastUpdatedAfter": after.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        high = start
        while True:
            try:
                payload, raws = self._listing_page(params)
            except QuotaWaitStopped:
                return  # the process is stopping: the pages stored so far stand, this one is read again next time
            page, high = listing_page(raws, parse_order, "LastUpdateDate", high)
            token = payload.get("NextToken")
            last = not token
            yield last_page(page, start, high) if last else page
            if last:
                return
            params = {"MarketplaceIds": markets, "NextToken": token}



def connect_channel(base_url: str, secrets: Sequence[str], settings: Mapping[str, Any]) -> AmazonClient:
    """The connector for a stored channel: ``secrets`` is an access token, or the LWA client id, client
    secret and refresh token (tokens then come from ``settings["lwa_url"]``, default Amazon's); settings
    may name ``orders_api`` (``2026-01-01``, or ``v0`` - what channels added before it existed keep),
    ``marketplace_ids`` (a list or comma-separated; default the US marketplace) and ``first_sync_days``."""
    markets = settings.get("marketplace_ids") or [US_MARKETPLACE]
    if isinstance(markets, str):
        markets = [m.strip() for m in markets.split(",") if m.strip()]
    options: dict[str, Any] = {"marketplace_ids": markets}
    if settings.get("first_sync_days"):
        try:
            options["first_sync_days"] = float(settings["first_sync_days"])
        except (TypeError, ValueError):
            raise ValueError(f"settings.first_sync_days {str(settings['first_sync_days'])[:20]!r} is not a number") from None
    wanted = settings.get("orders_api") or AmazonOrdersApi.V0.value  # unset: a channel older than v2026
    if wanted not in [v.value for v in AmazonOrdersApi]:
        raise ValueError(f"settings.orders_api {str(wanted)[:20]!r} is not one of {', '.join(AmazonOrdersApi)}")
    api = AmazonOrdersApi(wanted)
    kind: type[AmazonClient] = amazon_orders.AmazonSearchOrders if api is AmazonOrdersApi.V2026 else AmazonOrders
    if len(secrets) == 3:
        tokens = shared_tokens(str(settings.get("lwa_url") or LWA_URL), *secrets)
        return kind.connect_lwa(base_url, tokens, **options)
    return kind.connect(base_url, secrets[0], **options)
