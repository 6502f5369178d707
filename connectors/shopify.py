"""Shopify Admin REST orders: fetch pages of orders updated since a cursor, normalized.

Wire facts (DESIGN.md section 5): ``GET /admin/api/<version>/orders.json``, header
``X-Shopify-Access-Token``, ``limit`` <= 250, cursor pages through the ``Link`` header
(a page_info request may add nothing but limit/fields), money as strings, timestamps with
offsets, ``tags`` as one comma-separated string.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import AwareDatetime, TypeAdapter, ValidationError

from connectors.client_base import ClientOwner, checked_page_size
from connectors.fields import Invalid as _Invalid
from connectors.fields import build as _build
from connectors.fields import clip as _clip
from connectors.fields import first_text as _first_text
from connectors.fields import guarded, joined, parse_cursor, readable_id, utc_iso
from connectors.fields import items as _list
from connectors.fields import obj as _dict_or_none
from connectors.fields import text as _text
from connectors.http import BadResponse, json_body, make_client, next_link, send_with_retry
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

# Shopify's financial_status words -> OpsDesk's. Anything else (or null) is UNKNOWN, kept raw.
FINANCIAL_STATUS: Mapping[str, FinancialStatus] = {
    "pending": FinancialStatus.PENDING,
    "authorized": FinancialStatus.AUTHORIZED,
    "partially_paid": FinancialStatus.PARTIALLY_PAID,
    "paid": FinancialStatus.PAID,
    "partially_refunded": FinancialStatus.PARTIALLY_REFUNDED,
    "refunded": FinancialStatus.REFUNDED,
    "voided": FinancialStatus.VOIDED,
}

# Shopify's fulfillment_status -> what it means for the desk. None: the desk decides
# (unfulfilled, or "restocked": items went back to stock, nothing is on its way).
# A set cancelled_at overrides this table (see channel_status).
FULFILLMENT_STATUS: Mapping[str | None, OrderStatus | None] = {
    None: None,
    "fulfilled": OrderStatus.SHIPPED,
    "partial": OrderStatus.PARTIALLY_SHIPPED,
    "restocked": None,
}

# A refund line's restock_type: "return" (goods come back) and "legacy_restock" (older refunds that
# restocked) are returns of goods; "cancel" (never shipped) and "no_restock" (refund only) are not.
RETURN_RESTOCK_TYPES = frozenset({"return", "legacy_restock"})

# Fulfillments in these states never left (or were withdrawn): they are not parcels.
_DEAD_FULFILLMENT_STATES = frozenset({"cancelled", "error", "failure"})
# Shopify's own word for a tracking number whose carrier it does not know.
_UNKNOWN_CARRIER = "Other"
_AWARE = TypeAdapter(AwareDatetime)


def channel_status(fulfillment_status: str | None, cancelled_at: object) -> OrderStatus | None:
    """What Shopify's fulfillment_status plus cancelled_at mean for an OpsDesk order."""
    if cancelled_at:
        return OrderStatus.CANCELLED
    return FULFILLMENT_STATUS.get(fulfillment_status)


def parse_order(raw: Any) -> ChannelOrder | Rejection:
    """Normalize one order from Shopify's REST JSON; a broken one becomes a Rejection, never an exception."""
    return guarded(_order, raw, readable_id(raw, "id"))


def _order(raw: dict[str, Any]) -> ChannelOrder:
    if raw.get("id") is None:
        raise _Invalid("id: missing")
    items = _list(raw, "line_items")
    if not items:
        raise _Invalid("line_items: an order needs at least one line")
    cancelled_at = _when(raw, "cancelled_at", "cancelled_at", required=False)
    fin_word, ful_word = _word(raw.get("financial_status")), _word(raw.get("fulfillment_status"))
    shipping = _dict_or_none(raw, "shipping_address")
    billing = _dict_or_none(raw, "billing_address")
    customer = _dict_or_none(raw, "customer") or {}
    parcels = (_fulfillment(f, i) for i, f in enumerate(_list(raw, "fulfillments")))
    fields = {
        "external_id": str(raw["id"]),
        "number": raw.get("name") or (f"#{raw['order_number']}" if raw.get("order_number") else None),
        "channel_status": channel_status(ful_word, cancelled_at),
        "financial_status": FINANCIAL_STATUS.get(fin_word or "", FinancialStatus.UNKNOWN),
        "raw_financial_status": fin_word,
        "raw_fulfillment_status": ful_word,
        "placed_at": _when(raw, "created_at", "created_at"),
        "updated_at": _when(raw, "updated_at", "updated_at"),
        "cancelled_at": cancelled_at,
        "customer_name": _clip(_customer_name(customer, shipping, billing), 200),
        "email": _first_text(raw.get("email"), raw.get("contact_email"), customer.get("email")),
        "phone": _first_text(raw.get("phone"), (shipping or {}).get("phone"), customer.get("phone")),
        "ship_to": _address(shipping) if shipping is not None else None,
        "total": raw.get("total_price"),
        "currency": raw.get("currency"),
        "tags": _tags(raw.get("tags")),
        "note": _clip(_text(raw.get("note")), 2000),
        "lines": tuple(_line(item, i) for i, item in enumerate(items)),
        "fulfillments": tuple(p for p in parcels if p is not None),
        "returns": tuple(r for r in (_refund(f, i) for i, f in enumerate(_list(raw, "refunds"))) if r is not None),
    }
    # Shopify key for each model field, so errors name what is actually wrong in the payload.
    names = {"external_id": "id", "number": "name", "placed_at": "created_at", "total": "total_price",
             "customer_name": "customer", "ship_to": "shipping_address", "lines": "line_items"}
    return _build(ChannelOrder, fields, "", names)


def _line(item: Any, i: int) -> ChannelLine:
    where = f"line_items[{i}]"
    if not isinstance(item, dict):
        raise _Invalid(f"{where}: expected an object")
    if item.get("id") is None:
        raise _Invalid(f"{where}.id: missing")
    sku = item.get("sku")
    if sku is not None and not isinstance(sku, str):
        raise _Invalid(f"{where}.sku: expected a string")
    if not (sku or "").strip():
        # Without a SKU the desk cannot allocate stock: dead-letter it rather than guess.
        raise _Invalid(f"{where}.sku: missing (every line needs a SKU)")
    fields = {"external_id": str(item["id"]), "sku": sku, "title": _clip(_text(item.get("title")) or "", 300),
              "quantity": item.get("quantity"), "unit_price": item.get("price")}
    return _build(ChannelLine, fields, where, {"external_id": "id", "unit_price": "price"})


def _fulfillment(raw: Any, i: int) -> ChannelFulfillment | None:
    """A parcel with tracking, or None for fulfillments that are not (yet) trackable parcels."""
    where = f"fulfillments[{i}]"
    if not isinstance(raw, dict):
        raise _Invalid(f"{where}: expected an object")
    if raw.get("status") in _DEAD_FULFILLMENT_STATES:
        return None
    numbers = raw.get("tracking_numbers") or []
    tracking = _text(raw.get("tracking_number")) or next((n.strip() for n in numbers
                                                          if isinstance(n, str) and n.strip()), None)
    if not tracking:
        return None  # local delivery / manual without tracking: nothing for the desk to watch
    quantities: dict[str, int] = {}
    for j, li in enumerate(_list(raw, "line_items", where)):
        if not isinstance(li, dict) or li.get("id") is None:
            raise _Invalid(f"{where}.line_items[{j}].id: missing")
        qty = li.get("quantity")
        if isinstance(qty, bool) or not isinstance(qty, int):
            raise _Invalid(f"{where}.line_items[{j}].quantity: Input should be a valid integer")
        quantities[str(li["id"])] = qty
    fields = {"external_id": str(raw.get("id") or ""),
              "carrier": _text(raw.get("tracking_company")) or _UNKNOWN_CARRIER,
              "service": _text(raw.get("service")), "tracking_number": tracking,
              "shipped_at": _when(raw, "created_at", f"{where}.created_at"), "line_quantities": quantities}
    names = {"external_id": "id", "carrier": "tracking_company", "shipped_at": "created_at"}
    return _build(ChannelFulfillment, fields, where, names)


def _refund(raw: Any, i: int) -> ChannelReturn | None:
    """A refund that sends goods back as a return, or None for a money-only refund or a cancellation."""
    where = f"refunds[{i}]"
    if not isinstance(raw, dict):
        raise _Invalid(f"{where}: expected an object")
    if raw.get("id") is None:
        raise _Invalid(f"{where}.id: missing")
    legacy = raw.get("restock")  # the older API's refund-wide flag, used when a line has no restock_type
    if legacy is not None and not isinstance(legacy, bool):
        raise _Invalid(f"{where}.restock: expected true or false")
    quantities: dict[str, int] = {}
    for j, li in enumerate(_list(raw, "refund_line_items", where)):
        at = f"{where}.refund_line_items[{j}]"
        if not isinstance(li, dict):
            raise _Invalid(f"{at}: expected an object")
        kind = li.get("restock_type")
        # A word Shopify adds later is not a known return: skipped, not a reason to lose the order.
        if kind is not None and not isinstance(kind, str):
            raise _Invalid(f"{at}.restock_type: expected a string")
        if li.get("line_item_id") is None:
            raise _Invalid(f"{at}.line_item_id: missing")
        qty = li.get("quantity")
        if isinstance(qty, bool) or not isinstance(qty, int) or qty < 0:
            raise _Invalid(f"{at}.quantity: expected a whole number of 0 or more")
        if (kind in RETURN_RESTOCK_TYPES or (kind is None and legacy)) and qty:
            key = str(li["line_item_id"])
            quantities[key] = quantities.get(key, 0) + qty
    if not quantities:
        return None
    fields = {"external_id": str(raw["id"]), "created_at": _when(raw, "created_at", f"{where}.created_at"),
              "note": _clip(_text(raw.get("note")), 2000),
              "lines": tuple({"line_external_id": k, "quantity": q} for k, q in quantities.items())}
    return _build(ChannelReturn, fields, where, {"external_id": "id", "lines": "refund_line_items"})


def _address(raw: dict[str, Any]) -> Address:
    fields = {"name": _text(raw.get("name")) or _full_name(raw), "company": _text(raw.get("company")),
              "address1": _text(raw.get("address1")) or "", "address2": _text(raw.get("address2")),
              "city": _text(raw.get("city")) or "", "region": _text(raw.get("province_code")),
              "postal_code": _text(raw.get("zip")), "country_code": raw.get("country_code"),
              "phone": _text(raw.get("phone"))}
    return _build(Address, fields, "shipping_address", {"region": "province_code", "postal_code": "zip"})


def _when(raw: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> datetime | None:
    """A Shopify timestamp (with offset) as an aware UTC datetime."""
    value = raw.get(key)
    if value is None or value == "":
        if required:
            raise _Invalid(f"{path}: missing")
        return None
    try:
        return _AWARE.validate_python(value).astimezone(UTC)
    except ValidationError as exc:
        raise _Invalid(f"{path}: {exc.errors(include_url=False)[0]['msg']}") from None
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00: before the first instant UTC can hold
        raise _Invalid(f"{path}: out of range ({str(value)[:40]!r})") from None


def _customer_name(customer: Mapping[str, Any], *addresses: Mapping[str, Any] | None) -> str:
    """The customer's own name, else the name on the first address that has one."""
    full = _full_name(customer)
    for address in addresses:
        if full:
            break
        full = (_text(address.get("name")) or _full_name(address)) if address else ""
    return full


def _full_name(record: Mapping[str, Any]) -> str:
    return joined(record.get("first_name"), record.get("last_name"))


def _tags(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):  # GraphQL and some exports send a list: accept it too
        parts = [str(v) for v in value]
    elif isinstance(value, str):
        parts = value.split(",")
    else:
        raise _Invalid("tags: expected a comma-separated string")
    return tuple(t for t in (p.strip() for p in parts) if t)


def _word(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class ShopifyRest(ClientOwner):
    """Orders from one Shopify store over the Admin REST API.

    The injected client carries base_url (``https://<shop>.myshopify.com``), the
    ``X-Shopify-Access-Token`` header and timeouts; this class never builds auth itself
    except in the ``connect`` convenience.
    """

    def __init__(
        self,
        client: httpx.Client,
        *,
        api_version: str = API_VERSION,
        page_size: int = MAX_PAGE_SIZE,
        max_attempts: int = 5,
        max_wait_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self.api_version = api_version
        self.page_size = checked_page_size(page_size, MAX_PAGE_SIZE)
        self._retry = {"max_attempts": max_attempts, "max_wait_s": max_wait_s, "sleep": sleep}

    @classmethod
    def connect(cls, base_url: str, token: str, timeout: float = 10.0, **options: Any) -> ShopifyRest:
        """Build the client for ``base_url`` with the access token; close it with ``close()`` or ``with``."""
        return cls(make_client(base_url, {"X-Shopify-Access-Token": token}, timeout=timeout), **options)

    def orders_since(self, cursor: str | None) -> Iterator[Page]:
        """Yield one Page per response of orders updated at or after ``cursor``, oldest first.

        ``updated_at_min`` is inclusive, so a resumed sync sees the boundary orders again;
        ingest is an upsert, which makes that harmless and guarantees nothing is skipped.
        Each page's cursor is the latest ``updated_at`` seen so far (rejected records
        included), never earlier than the input cursor.
        """
        high = parse_cursor(cursor)
        url: str | None = f"/admin/api/{self.api_version}/orders.json"
        params: dict[str, Any] | None = {"status": "any", "limit": self.page_size, "order": "updated_at asc"}
        if high is not None:
            params["updated_at_min"] = utc_iso(high)
        while url:
            resp = send_with_retry(self._client, "GET", url, params=params, **self._retry)
            records, rejected, high = self._parse_page(resp, high)
            yield Page(records=tuple(records), rejected=tuple(rejected),
                       cursor=utc_iso(high) if high else None)
            # The next URL already carries page_info and limit; Shopify refuses anything else.
            url, params = self._checked_next(next_link(resp.headers.get("Link"))), None

    def _parse_page(
        self, resp: httpx.Response, high: datetime | None
    ) -> tuple[list[ChannelOrder], list[Rejection], datetime | None]:
        body = json_body(resp)
        orders = body.get("orders") if isinstance(body, dict) else None
        if not isinstance(orders, list):
            raise BadResponse(f"GET {resp.request.url.path} answered without an 'orders' list",
                              status_code=resp.status_code, url=str(resp.request.url))
        records: list[ChannelOrder] = []
        rejected: list[Rejection] = []
        for raw in orders:
            parsed = parse_order(raw)
            if isinstance(parsed, ChannelOrder):
                records.append(parsed)
                seen: datetime | None = parsed.updated_at
            else:
                rejected.append(parsed)
                seen = _updated_at_of(raw)
            if seen is not None and (high is None or seen > high):
                high = seen
        return records, rejected, high

    def _checked_next(self, url: str | None) -> str | None:
        """Refuse a next link to another host: the client would send it our access token."""
        if url is None:
            return None
        target, base = httpx.URL(url), self._client.base_url
        if target.is_absolute_url and base.host and (
            (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port)
        ):
            where = f"{target.scheme}://{target.host}"
            raise BadResponse(f"next page link points elsewhere ({where}); refusing to follow")
        return url


def _updated_at_of(raw: Any) -> datetime | None:
    """A rejected record's updated_at when it is still readable, so the cursor moves past it."""
    if not isinstance(raw, dict):
        return None
    try:
        return _when(raw, "updated_at", "updated_at", required=False)
    except _Invalid:
        return None


# What a channel's credential names for this kind: one environment variable with the access token.
SECRETS = ("access token",)


def connect_channel(base_url: str, secrets: Sequence[str], settings: Mapping[str, Any]) -> ShopifyRest:
    """The connector for a stored channel (``secrets``: the access token)."""
    return ShopifyRest.connect(base_url, secrets[0])
