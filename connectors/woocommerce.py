"""WooCommerce REST v3 orders: fetch pages of orders modified since a cursor, normalized.

Wire facts (DESIGN.md section 5): ``GET /wp-json/wc/v3/orders`` with HTTP Basic auth
(consumer key as user, consumer secret as password), ``per_page`` <= 100, ``page``,
``modified_after`` (strictly after), ``orderby=modified&order=asc``; the totals come in
``X-WP-Total`` / ``X-WP-TotalPages``. Money is a string, ``date_*_gmt`` carry no zone and
are UTC. Parcels come from the Shipment Tracking extension's ``_wc_shipment_tracking_items``
order meta when present (WooCommerce core has no tracking numbers).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from connectors import fields as f
from connectors.client_base import ClientOwner, checked_page_size
from connectors.http import BadResponse, json_body, make_client, send_with_retry
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

ORDERS_PATH = "/wp-json/wc/v3/orders"
REFUND_DETAILS = "refund_details"  # our key: GET .../orders/<id>/refunds, kept inside the raw order
MAX_PAGE_SIZE = 100
# The channel's credential names two environment variables: "KEY_VAR:SECRET_VAR".
SECRETS = ("consumer key", "consumer secret")

# WooCommerce's order status -> (what it means for the desk, what it says about payment).
# None: the desk decides (open, not yet shipped). Unknown words (plugins add their own) keep
# the order open with an unknown payment, which the PAYMENT_PENDING hold then stops.
STATUS: Mapping[str, tuple[OrderStatus | None, FinancialStatus]] = {
    "pending": (None, FinancialStatus.PENDING),  # awaiting payment
    "processing": (None, FinancialStatus.PAID),  # paid, awaiting fulfilment
    "on-hold": (None, FinancialStatus.PENDING),  # awaiting payment confirmation (e.g. bank transfer)
    "completed": (OrderStatus.SHIPPED, FinancialStatus.PAID),
    "cancelled": (OrderStatus.CANCELLED, FinancialStatus.VOIDED),
    "refunded": (OrderStatus.CANCELLED, FinancialStatus.REFUNDED),
    "failed": (None, FinancialStatus.VOIDED),  # payment failed; the buyer may still pay
    "trash": (OrderStatus.CANCELLED, FinancialStatus.UNKNOWN),
}
_UNKNOWN_STATUS = (None, FinancialStatus.UNKNOWN)
_TRACKING_META = "_wc_shipment_tracking_items"


def channel_status(word: str | None) -> tuple[OrderStatus | None, FinancialStatus]:
    """What a WooCommerce status word means for an OpsDesk order and its payment."""
    return STATUS.get(word or "", _UNKNOWN_STATUS)


def parse_order(raw: Any) -> ChannelOrder | Rejection:
    """Normalize one order from WooCommerce's JSON; a broken one becomes a Rejection, never an exception."""
    return f.guarded(_order, raw, f.readable_id(raw, "id"))


def _order(raw: dict[str, Any]) -> ChannelOrder:
    if raw.get("id") is None:
        raise f.Invalid("id: missing")
    lines = f.items(raw, "line_items")
    if not lines:
        raise f.Invalid("line_items: an order needs at least one line")
    word = raw.get("status") if isinstance(raw.get("status"), str) else None
    target, financial = channel_status(word)
    modified = f.when(raw.get("date_modified_gmt"), "date_modified_gmt", naive_is_utc=True)
    billing = f.obj(raw, "billing") or {}
    shipping = f.obj(raw, "shipping")
    cancelled = target is OrderStatus.CANCELLED
    fields = {
        "external_id": str(raw["id"]),
        "number": f"#{f.text(raw.get('number')) or raw['id']}",
        "channel_status": target,
        "financial_status": financial,
        "raw_financial_status": word,
        "raw_fulfillment_status": word,
        "placed_at": f.when(raw.get("date_created_gmt"), "date_created_gmt", naive_is_utc=True),
        "updated_at": modified,
        "cancelled_at": modified if cancelled else None,  # WooCommerce keeps no cancel time of its own
        "customer_name": f.clip(f.joined(billing.get("first_name"), billing.get("last_name"))
                                or (f.joined(shipping.get("first_name"), shipping.get("last_name")) if shipping else ""), 200),
        "email": f.text(billing.get("email")),
        "phone": f.first_text((shipping or {}).get("phone"), billing.get("phone")),
        "ship_to": _address(shipping) if shipping and f.text(shipping.get("address_1")) else None,
        "total": f.money(raw.get("total"), "total"),
        "currency": raw.get("currency"),
        "note": f.clip(f.text(raw.get("customer_note")), 2000),
        "lines": tuple(_line(item, i) for i, item in enumerate(lines)),
        "fulfillments": tuple(_parcels(raw)),
        "returns": tuple(r for r in (_return(x, i) for i, x in enumerate(f.items(raw, REFUND_DETAILS)))
                         if r is not None),
    }
    names = {"external_id": "id", "placed_at": "date_created_gmt", "customer_name": "billing",
             "ship_to": "shipping", "lines": "line_items"}
    return f.build(ChannelOrder, fields, "", names)


def _return(raw: Any, i: int) -> ChannelReturn | None:
    """A refund that names refunded line quantities, as goods coming back; None for a money-only refund.

    WooCommerce does not say whether the goods travel back; a refund of units is opened as a
    return the desk receives, and what never arrives is recorded as missing there.
    """
    where = f"{REFUND_DETAILS}[{i}]"
    if not isinstance(raw, dict) or raw.get("id") is None:
        raise f.Invalid(f"{where}.id: missing")
    quantities: dict[str, int] = {}
    for j, item in enumerate(f.items(raw, "line_items", where)):
        at = f"{where}.line_items[{j}]"
        if not isinstance(item, dict):
            raise f.Invalid(f"{at}: expected an object")
        qty = item.get("quantity")
        if isinstance(qty, bool) or not isinstance(qty, int):
            raise f.Invalid(f"{at}.quantity: expected a whole number")
        line_id = next((m.get("value") for m in item.get("meta_data") or []
                        if isinstance(m, dict) and m.get("key") == "_refunded_item_id"), None)
        if line_id is None or str(line_id).strip() == "":
            raise f.Invalid(f"{at}.meta_data: no _refunded_item_id naming the order's line")
        if qty:  # WooCommerce writes refunded units as negative quantities
            quantities[str(line_id)] = quantities.get(str(line_id), 0) + abs(qty)
    if not quantities:
        return None
    fields = {"external_id": str(raw["id"]),
              "created_at": f.when(raw.get("date_created_gmt"), f"{where}.date_created_gmt", naive_is_utc=True),
              "note": f.clip(f.text(raw.get("reason")), 2000),
              "lines": tuple({"line_external_id": k, "quantity": q} for k, q in quantities.items())}
    return f.build(ChannelReturn, fields, where, {"external_id": "id", "lines": "line_items"})


def _line(item: Any, i: int) -> ChannelLine:
    where = f"line_items[{i}]"
    if not isinstance(item, dict):
        raise f.Invalid(f"{where}: expected an object")
    if item.get("id") is None:
        raise f.Invalid(f"{where}.id: missing")
    sku = item.get("sku")
    if not isinstance(sku, str) or not sku.strip():
        # Without a SKU the desk cannot allocate stock: dead-letter it rather than guess.
        raise f.Invalid(f"{where}.sku: missing (every line needs a SKU)")
    quantity = item.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise f.Invalid(f"{where}.quantity: Input should be a valid integer")
    # ``subtotal`` is the exact line amount before discounts; ``price`` is a float per unit.
    if item.get("subtotal") is not None and quantity > 0:
        unit = f.cents(f.money(item["subtotal"], f"{where}.subtotal") / quantity)
    else:
        unit = f.cents(f.money(item.get("price"), f"{where}.price"))
    fields = {"external_id": str(item["id"]), "sku": sku, "title": f.clip(f.text(item.get("name")) or "", 300),
              "quantity": quantity, "unit_price": unit}
    return f.build(ChannelLine, fields, where, {"external_id": "id", "title": "name", "unit_price": "subtotal"})


def _parcels(raw: dict[str, Any]) -> Iterator[ChannelFulfillment]:
    """Parcels recorded by the Shipment Tracking extension (one per tracking number)."""
    for meta in f.items(raw, "meta_data"):
        if not isinstance(meta, dict) or meta.get("key") != _TRACKING_META:
            continue
        value = meta.get("value")
        for j, item in enumerate(value if isinstance(value, list) else []):
            where = f"meta_data.{_TRACKING_META}[{j}]"
            if not isinstance(item, dict) or not f.text(item.get("tracking_number")):
                continue
            shipped = item.get("date_shipped")  # a Unix timestamp, as a string
            try:
                shipped_at = datetime.fromtimestamp(int(str(shipped)), UTC)
            except (TypeError, ValueError, OverflowError):
                raise f.Invalid(f"{where}.date_shipped: expected a Unix timestamp") from None
            # The extension tracks whole orders: no per-line quantities (the desk then ships every line).
            yield f.build(ChannelFulfillment, {
                "external_id": f.text(item.get("tracking_id")) or f.text(item["tracking_number"]),
                "carrier": f.first_text(item.get("tracking_provider"), item.get("custom_tracking_provider")) or "Other",
                "tracking_number": f.text(item["tracking_number"]), "shipped_at": shipped_at,
            }, where, {"carrier": "tracking_provider", "shipped_at": "date_shipped"})


def _address(raw: dict[str, Any]) -> Address:
    fields = {"name": f.joined(raw.get("first_name"), raw.get("last_name")), "company": f.text(raw.get("company")),
              "address1": f.text(raw.get("address_1")) or "", "address2": f.text(raw.get("address_2")),
              "city": f.text(raw.get("city")) or "", "region": f.text(raw.get("state")),
              "postal_code": f.text(raw.get("postcode")), "country_code": f.text(raw.get("country")),
              "phone": f.text(raw.get("phone"))}
    return f.build(Address, fields, "shipping", {"region": "state", "postal_code": "postcode",
                                                 "country_code": "country", "address1": "address_1"})


def _modified_of(raw: Any) -> datetime | None:
    """A record's date_modified_gmt when readable (rejected ones too, so the cursor moves past them)."""
    try:
        return f.when(raw.get("date_modified_gmt"), "date_modified_gmt", required=False, naive_is_utc=True)
    except (f.Invalid, AttributeError):
        return None


def _wc_time(value: datetime) -> str:
    """WooCommerce's filter format: a zone-less ISO time, read as UTC because we send dates_are_gmt."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


class WooCommerce(ClientOwner):
    """Orders from one WooCommerce store over REST v3; the injected client carries base_url, auth and timeouts."""

    def __init__(self, client: httpx.Client, *, page_size: int = MAX_PAGE_SIZE, max_attempts: int = 5,
                 max_wait_s: float = 30.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self.page_size = checked_page_size(page_size, MAX_PAGE_SIZE)
        self._retry = {"max_attempts": max_attempts, "max_wait_s": max_wait_s, "sleep": sleep}

    @classmethod
    def connect(cls, base_url: str, key: str, secret: str, timeout: float = 10.0, **options: Any) -> WooCommerce:
        """Build the client for ``base_url`` with Basic auth from the consumer key and secret."""
        basic = base64.b64encode(f"{key}:{secret}".encode()).decode()
        return cls(make_client(base_url, {"Authorization": f"Basic {basic}"}, timeout=timeout), **options)

    def orders_since(self, cursor: str | None) -> Iterator[Page]:
        """Yield one Page per response of orders modified at or after ``cursor``, oldest first.

        Plain page numbers over a list sorted by modification time skip records when an order
        changes mid-sync (everything after it shifts one place left). So each time a page moves
        the newest time seen forward, the next request starts again at page 1 from that time
        (one second earlier, because ``modified_after`` is strict and times have whole seconds);
        pages only advance while a whole page shares one second. Records already yielded in
        this sync are dropped, so nothing is fetched twice for the store.
        """
        high = f.parse_cursor(cursor)
        anchor, page, seen = high, 1, set()
        while True:
            params: dict[str, Any] = {"status": "any", "orderby": "modified", "order": "asc",
                                      "per_page": self.page_size, "page": page, "dates_are_gmt": "true"}
            if anchor is not None:
                params["modified_after"] = _wc_time(anchor - timedelta(seconds=1))
            resp = send_with_retry(self._client, "GET", ORDERS_PATH, params=params, **self._retry)
            body = json_body(resp)
            if not isinstance(body, list):
                raise BadResponse(f"GET {ORDERS_PATH} answered without a list of orders",
                                  status_code=resp.status_code, url=str(resp.request.url))
            records: list[ChannelOrder] = []
            rejected: list[Rejection] = []
            for raw in body:
                key = _identity(raw)
                if key in seen:
                    continue
                seen.add(key)
                raw = self._with_refund_details(raw)
                parsed = parse_order(raw)
                (records if isinstance(parsed, ChannelOrder) else rejected).append(parsed)
                stamp = parsed.updated_at if isinstance(parsed, ChannelOrder) else _modified_of(raw)
                if stamp is not None and (high is None or stamp > high):
                    high = stamp
            yield Page(records=tuple(records), rejected=tuple(rejected), cursor=f.utc_iso(high) if high else None)
            if not body or page >= _total_pages(resp) or len(body) < self.page_size:
                return
            if high is not None and (anchor is None or high > anchor):
                anchor, page = high, 1
            else:
                page += 1


    def _with_refund_details(self, raw: Any) -> Any:
        """The order with its refunds' line items under ``refund_details`` - fetched only when it lists refunds.

        The raw record keeps them, so a dead letter's replay parses exactly what the poll saw.
        """
        if not isinstance(raw, dict) or not raw.get("refunds") or f.readable_id(raw, "id") is None:
            return raw
        url = f"{ORDERS_PATH}/{quote(str(raw['id']), safe='')}/refunds"
        body = json_body(send_with_retry(self._client, "GET", url, **self._retry))
        if not isinstance(body, list):
            raise BadResponse(f"GET {url} answered without a list of refunds")
        return {**raw, REFUND_DETAILS: body}


def _identity(raw: Any) -> str:
    """What makes a record 'already yielded in this sync': its id and modification time (or its whole text)."""
    if isinstance(raw, dict) and f.readable_id(raw, "id") is not None:
        return f"{raw['id']}@{raw.get('date_modified_gmt')}"
    return json.dumps(raw, sort_keys=True, default=str)


def _total_pages(resp: httpx.Response) -> int:
    try:
        return int(resp.headers.get("X-WP-TotalPages", "1"))
    except ValueError:
        raise BadResponse(f"GET {ORDERS_PATH} sent an unreadable X-WP-TotalPages header") from None


def connect_channel(base_url: str, secrets: Sequence[str], settings: Mapping[str, Any]) -> WooCommerce:
    """The connector for a stored channel: ``secrets`` are the consumer key and secret, in that order."""
    key, secret = secrets
    return WooCommerce.connect(base_url, key, secret, **_options(settings))


def _options(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {"page_size": int(settings["page_size"])} if settings.get("page_size") else {}
