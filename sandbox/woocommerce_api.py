"""The WooCommerce REST v3 orders API, served from a simulated World.

What OpsDesk relies on, the way WooCommerce does it: HTTP Basic auth with a consumer key and
secret, ``per_page`` up to 100, ``page``, ``modified_after``/``modified_before`` (strict, in
site time unless ``dates_are_gmt``), ``orderby``/``order``, ``X-WP-Total`` and
``X-WP-TotalPages`` and a ``Link`` header. The world keeps Shopify-shaped orders; this module
translates each one into WooCommerce's order JSON (and breaks it the WooCommerce way when the
world marks it malformed).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from sandbox import Faults, Reply, Request
from sandbox.world import LINE_ID_BASE, ORDER_ID_BASE, REFUND_ID_BASE, OrderRow, World

PREFIX = "/wp-json/wc/v3/"
ORDERS = "/wp-json/wc/v3/orders"
_REFUNDS = re.compile(r"^/wp-json/wc/v3/orders/(?P<id>\d+)/refunds$")
DEFAULT_PER_PAGE, MAX_PER_PAGE = 10, 100
_ORDERBY = {"date": lambda r: (r.created, r.id), "modified": lambda r: (r.updated, r.id),
            "id": lambda r: (r.id, r.id), "include": lambda r: (r.id, r.id)}
STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "trash")


class _BadParam(Exception):
    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param, self.message = param, message


def woo_id(row_id: int) -> int:
    """A small WooCommerce-like post id for a world order."""
    return 1000 + (row_id - ORDER_ID_BASE) // 1013


def woo_status(data: dict[str, Any]) -> str:
    """The WooCommerce status a Shopify-shaped world order is in."""
    if data.get("cancelled_at"):
        return "refunded" if data.get("financial_status") == "refunded" else "cancelled"
    if data.get("fulfillment_status") == "fulfilled":
        return "completed"
    if data.get("financial_status") == "pending":
        return "on-hold"  # bank transfer, awaiting payment
    return "processing"


def _local(ts: str) -> str:
    return ts[:19]  # the world's timestamps carry the shop's offset: drop it for the site-time fields


def _gmt(ts: str) -> str:
    return datetime.fromisoformat(ts).astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def translate(row: OrderRow) -> dict[str, Any]:
    """One world order as WooCommerce's order JSON."""
    data, oid = row.data, woo_id(row.id)
    addr = data.get("shipping_address") or {}
    person = {"first_name": addr.get("first_name") or "", "last_name": addr.get("last_name") or "",
              "company": addr.get("company") or "", "address_1": addr.get("address1") or "",
              "address_2": addr.get("address2") or "", "city": addr.get("city") or "",
              "state": addr.get("province_code") or "", "postcode": addr.get("zip") or "",
              "country": addr.get("country_code") or ""}
    lines = [{"id": _line_id(li["id"]), "name": li["name"], "product_id": li["product_id"] % 10_000,
              "variation_id": 0, "quantity": li["quantity"], "tax_class": "",
              "subtotal": str(Decimal(li["price"]) * li["quantity"]), "subtotal_tax": "0.00",
              "total": str(Decimal(li["price"]) * li["quantity"]), "total_tax": "0.00", "taxes": [],
              "meta_data": [], "sku": li["sku"], "price": float(li["price"])} for li in data["line_items"]]
    tracking = [{"tracking_provider": f["tracking_company"], "custom_tracking_provider": "",
                 "custom_tracking_link": "", "tracking_number": f["tracking_number"],
                 "date_shipped": str(int(datetime.fromisoformat(f["created_at"]).timestamp())),
                 "tracking_id": f"{f['id']:x}"} for f in data["fulfillments"] if f.get("tracking_number")]
    status, paid = woo_status(data), data["financial_status"] in ("paid", "refunded", "partially_refunded")
    return {
        "id": oid, "parent_id": 0, "number": str(oid), "order_key": f"wc_order_{data['token'][:13]}",
        "created_via": "checkout", "version": "9.4.2", "status": status, "currency": data["currency"],
        "date_created": _local(data["created_at"]), "date_created_gmt": _gmt(data["created_at"]),
        "date_modified": _local(data["updated_at"]), "date_modified_gmt": _gmt(data["updated_at"]),
        "discount_total": "0.00", "shipping_total": data["shipping_lines"][0]["price"],
        "total": data["total_price"], "total_tax": data["total_tax"], "prices_include_tax": data["taxes_included"],
        "customer_id": 0, "customer_note": data.get("note") or "",
        "billing": {**person, "email": data["email"], "phone": addr.get("phone") or ""},
        "shipping": {**person, "phone": ""},
        "payment_method": "bacs" if data["financial_status"] == "pending" else "stripe",
        "payment_method_title": "Direct bank transfer" if data["financial_status"] == "pending" else "Credit card",
        "date_paid": _local(data["created_at"]) if paid else None,
        "date_paid_gmt": _gmt(data["created_at"]) if paid else None,
        "date_completed_gmt": _gmt(data["updated_at"]) if status == "completed" else None,
        "meta_data": [{"id": oid * 10, "key": "_wc_shipment_tracking_items", "value": tracking}] if tracking else [],
        "line_items": lines, "tax_lines": [], "shipping_lines": [], "fee_lines": [], "coupon_lines": [],
        # The order shows only each refund's id, reason and (negative) total; the lines are at .../refunds.
        "refunds": [{"id": _refund_id(r["id"]), "reason": r.get("note") or "",
                     "total": f"-{r['transactions'][0]['amount']}"} for r in data.get("refunds", [])],
    }


def refunds_of(row: OrderRow) -> list[dict[str, Any]]:
    """``GET /orders/<id>/refunds``: the order's refunds with their line items (quantities and totals negative)."""
    out = []
    for r in reversed(row.data.get("refunds", [])):  # newest first, as WooCommerce lists them
        items = []
        for k, li in enumerate(r["refund_line_items"]):
            item, amount = li["line_item"], li["subtotal"]
            items.append({"id": _refund_id(r["id"]) + 1 + k, "name": item["title"], "product_id": 0,
                          "variation_id": 0, "quantity": -li["quantity"], "tax_class": "", "subtotal": f"-{amount}",
                          "subtotal_tax": "0.00", "total": f"-{amount}", "total_tax": "0.00", "taxes": [],
                          "meta_data": [{"id": _refund_id(r["id"]) + 50 + k, "key": "_refunded_item_id",
                                         "value": str(_line_id(li["line_item_id"]))}],
                          "sku": item["sku"], "price": -float(item["price"])})
        out.append({"id": _refund_id(r["id"]), "date_created": _local(r["created_at"]),
                    "date_created_gmt": _gmt(r["created_at"]), "amount": r["transactions"][0]["amount"],
                    "reason": r.get("note") or "", "refunded_by": 1, "refunded_payment": True, "meta_data": [],
                    "line_items": items})
    return out


def _line_id(world_line_id: int) -> int:
    return (world_line_id - LINE_ID_BASE) // 31


def _refund_id(world_refund_id: int) -> int:
    return (world_refund_id - REFUND_ID_BASE) // 17 + 9000


def corrupt(order: dict[str, Any], kind: str) -> dict[str, Any]:
    """A WooCommerce order broken the way the world says (same kinds as the Shopify feed)."""
    bad = copy.deepcopy(order)
    if kind == "quantity_word":
        bad["line_items"][0]["quantity"] = "two"
    elif kind == "missing_sku":
        bad["line_items"][0]["sku"] = ""
    elif kind == "bad_total":
        bad["total"] = "abc"
    elif kind == "missing_created_at":
        del bad["date_created_gmt"]
    return bad


def served(row: OrderRow) -> dict[str, Any]:
    order = translate(row)
    return corrupt(order, row.malformed) if row.malformed else order


class WooCommerceApi:
    """Route handler for ``/wp-json/wc/v3/``; call it with a Request."""

    def __init__(self, world: World, faults: Faults, key: str, secret: str) -> None:
        self.world, self.faults = world, faults
        self._listing: tuple[tuple[Any, ...], list[OrderRow]] | None = None
        self._basic = base64.b64encode(f"{key}:{secret}".encode()).decode()

    def __call__(self, req: Request) -> Reply:
        refunds = _REFUNDS.match(req.path.rstrip("/"))
        if req.path.rstrip("/") != ORDERS and refunds is None:
            return Reply.json(404, {"code": "rest_no_route", "message": "No route was found matching the URL "
                                    "and request method.", "data": {"status": 404}})
        scheme, _, given = (req.header("Authorization") or "").partition(" ")
        if scheme.lower() != "basic" or not _same(given.strip(), self._basic):
            return Reply.json(401, {"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list "
                                    "resources.", "data": {"status": 401}})
        if req.method != "GET":
            return Reply.json(405, {"code": "rest_no_route", "message": "Method not allowed.", "data": {"status": 405}})
        self.faults.delay()
        fault = self.faults.draw()
        if fault == 429:
            return Reply.json(429, {"code": "too_many_requests", "message": "Too many requests.",
                                    "data": {"status": 429}},
                              {"Retry-After": str(round(self.faults.config.retry_after_s, 3))})
        if fault is not None:
            return Reply.json(fault, {"code": "internal_server_error", "message": "There has been a critical "
                                      "error on this website.", "data": {"status": fault}})
        try:
            return self._refunds(int(refunds["id"])) if refunds else self._orders(req)
        except _BadParam as exc:
            return Reply.json(400, {"code": "rest_invalid_param", "message": f"Invalid parameter(s): {exc.param}",
                                    "data": {"status": 400, "params": {exc.param: exc.message}}})

    def _orders(self, req: Request) -> Reply:
        per_page = _int(req, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
        page = _int(req, "page", 1, 1, 10**6)
        orderby = req.param("orderby") or "date"
        if orderby not in _ORDERBY:
            raise _BadParam("orderby", f"orderby is not one of {', '.join(_ORDERBY)}.")
        order = (req.param("order") or "desc").lower()
        if order not in ("asc", "desc"):
            raise _BadParam("order", "order is not one of asc, desc.")
        gmt = (req.param("dates_are_gmt") or "").lower() in ("1", "true")
        bounds = {name: self._time(req, name, gmt) for name in ("after", "before", "modified_after", "modified_before")}
        wanted = [s.strip() for s in (req.param("status") or "any").split(",") if s.strip()]
        rows = self._matching(wanted, bounds, orderby, order)
        total, pages = len(rows), max(1, math.ceil(len(rows) / per_page))
        if total and page > pages:
            return Reply.json(400, {"code": "woocommerce_rest_invalid_page_number", "message": "The page number "
                                    "requested is larger than the number of pages available.", "data": {"status": 400}})
        chunk = rows[(page - 1) * per_page: page * per_page]
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
        links = []
        query = {k: v[-1] for k, v in req.query.items()}
        for rel, number in (("prev", page - 1), ("next", page + 1)):
            if 1 <= number <= pages:
                links.append(f'<{req.base_url}{ORDERS}?{urlencode({**query, "page": number})}>; rel="{rel}"')
        if links:
            headers["Link"] = ", ".join(links)
        return Reply.json(200, [served(r) for r in chunk], headers)

    def _matching(self, wanted: list[str], bounds: dict[str, datetime | None], orderby: str, order: str) -> list[OrderRow]:
        """The orders a listing matches, in its order; kept until the shop changes, so that reading page 2, 3, ...
        of the same listing does not filter and sort the whole shop again."""
        shop = self.world.rows()  # brings the shop up to now
        key = (self.world.version, tuple(wanted), tuple(sorted(bounds.items())), orderby, order)
        cached = self._listing
        if cached is not None and cached[0] == key:
            return cached[1]
        rows = [row for row in shop if _matches(row, wanted, bounds)]
        rows.sort(key=_ORDERBY[orderby], reverse=order == "desc")
        self._listing = (key, rows)
        return rows

    def _refunds(self, order_id: int) -> Reply:
        row = self.world.find("woocommerce", woo_id, order_id)
        if row is None:
            return Reply.json(404, {"code": "woocommerce_rest_order_invalid_id", "message": "Invalid order ID.",
                                    "data": {"status": 404}})
        return Reply.json(200, refunds_of(row), {"X-WP-Total": str(len(row.data.get("refunds", []))),
                                                 "X-WP-TotalPages": "1"})

    def _time(self, req: Request, name: str, gmt: bool) -> datetime | None:
        value = req.param(name)
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise _BadParam(name, f"{name} is not a valid date.") from None
        if parsed.tzinfo is None:  # site time, unless the client says it sends GMT
            parsed = parsed.replace(tzinfo=UTC if gmt else self.world.tz)
        return parsed


def _matches(row: OrderRow, wanted: list[str], bounds: dict[str, datetime | None]) -> bool:
    status = woo_status(row.data)
    if "any" not in wanted and status not in wanted:
        return False
    checks: list[tuple[datetime | None, datetime, Callable[[datetime, datetime], bool]]] = [
        (bounds["after"], row.created, lambda v, b: v > b), (bounds["before"], row.created, lambda v, b: v < b),
        (bounds["modified_after"], row.updated, lambda v, b: v > b),
        (bounds["modified_before"], row.updated, lambda v, b: v < b)]
    return all(bound is None or test(value, bound) for bound, value, test in checks)


def _int(req: Request, name: str, default: int, low: int, high: int) -> int:
    value = req.param(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise _BadParam(name, f"{name} is not of type integer.") from None
    if not low <= number <= high:
        raise _BadParam(name, f"{name} must be between {low} ({low} included) and {high} ({high} included).")
    return number


def _same(given: str, expected: str) -> bool:
    try:
        return hmac.compare_digest(base64.b64decode(given, validate=True), base64.b64decode(expected))
    except (binascii.Error, ValueError):
        return False
