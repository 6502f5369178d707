"""The WooCommerce connector on recorded payloads (tests/fixtures/woocommerce): parse_order, then orders_since."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.http import make_client
from connectors.schemas import ChannelOrder, Rejection
from connectors.woocommerce import STATUS, WooCommerce, channel_status, parse_order
from core.enums import FinancialStatus, OrderStatus

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "woocommerce"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def parsed(name: str) -> ChannelOrder:
    result = parse_order(load(name))
    assert isinstance(result, ChannelOrder), result
    return result


def rejected(raw: Any) -> Rejection:
    result = parse_order(raw)
    assert isinstance(result, Rejection), result
    return result


def test_a_processing_order_maps_every_field() -> None:
    order = parsed("processing_multiline")
    assert order.external_id == "4821"
    assert order.number == "#4821"
    assert order.channel_status is None  # paid and waiting: the desk decides
    assert order.financial_status is FinancialStatus.PAID
    assert order.raw_financial_status == "processing"
    assert order.customer_name == "Lena Fischer"
    assert order.email == "lena.fischer@web.de"
    assert order.phone == "+49 30 5550123"  # shipping phone is blank: the billing phone is used
    assert order.note == "Bitte beim Nachbarn abgeben"
    assert order.currency == "EUR"
    assert [(li.external_id, li.sku, li.title, li.quantity, li.unit_price) for li in order.lines] == [
        ("1107", "JKT-RAIN-L", "Packable Rain Jacket - Olive / L", 1, Decimal("125.21")),
        ("1108", "SOCK-3PK", "Merino Socks 3-Pack - M", 3, Decimal("12.57")),
    ]
    assert order.fulfillments == ()


def test_money_is_exact_and_never_goes_through_a_float() -> None:
    order = parsed("processing_multiline")
    assert order.total == Decimal("193.90") and str(order.total) == "193.90"
    # ``price`` is 12.573333 as a float; the unit price comes from the exact subtotal instead.
    assert order.lines[1].unit_price == Decimal("12.57")


def test_gmt_dates_without_a_zone_are_read_as_utc() -> None:
    order = parsed("processing_multiline")
    assert order.placed_at == datetime(2026, 11, 21, 15, 15, tzinfo=UTC)  # not the local 16:15
    assert order.updated_at == datetime(2026, 11, 21, 15, 16, 42, tzinfo=UTC)


def test_the_shipping_address_maps_onto_address() -> None:
    ship_to = parsed("processing_multiline").ship_to
    assert ship_to is not None
    assert ship_to.model_dump() == {
        "name": "Lena Fischer", "company": "Fischer Design", "address1": "Hauptstraße 12",
        "address2": "Hinterhaus", "city": "Berlin", "region": "BE", "postal_code": "10115",
        "country_code": "DE", "phone": None,
    }


def test_a_blank_shipping_address_is_no_address_at_all() -> None:
    order = parsed("on_hold_bank_transfer")
    assert order.ship_to is None  # ADDRESS_INVALID's business, not a rejection
    assert order.financial_status is FinancialStatus.PENDING
    assert order.channel_status is None


def test_a_completed_order_is_shipped_with_its_tracked_parcel() -> None:
    order = parsed("completed_with_tracking")
    assert order.channel_status is OrderStatus.SHIPPED
    assert order.financial_status is FinancialStatus.PAID
    assert order.customer_name == "Marcus O'Connor"
    (parcel,) = order.fulfillments
    assert (parcel.external_id, parcel.carrier, parcel.tracking_number) == ("a1b2c3d4e5", "UPS", "1Z999AA10123456784")
    assert parcel.shipped_at == datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
    assert parcel.line_quantities == {}  # whole order


def test_a_refunded_order_is_cancelled_and_refunded() -> None:
    order = parsed("refunded")
    assert (order.channel_status, order.financial_status) == (OrderStatus.CANCELLED, FinancialStatus.REFUNDED)
    assert order.cancelled_at == order.updated_at


@pytest.mark.parametrize(("word", "expected"), [
    ("pending", (None, FinancialStatus.PENDING)),
    ("processing", (None, FinancialStatus.PAID)),
    ("on-hold", (None, FinancialStatus.PENDING)),
    ("completed", (OrderStatus.SHIPPED, FinancialStatus.PAID)),
    ("cancelled", (OrderStatus.CANCELLED, FinancialStatus.VOIDED)),
    ("refunded", (OrderStatus.CANCELLED, FinancialStatus.REFUNDED)),
    ("failed", (None, FinancialStatus.VOIDED)),
    ("trash", (OrderStatus.CANCELLED, FinancialStatus.UNKNOWN)),
    ("checkout-draft", (None, FinancialStatus.UNKNOWN)),  # a plugin's own word: open, payment unknown
    (None, (None, FinancialStatus.UNKNOWN)),
])
def test_every_woocommerce_status_has_one_meaning(word: str | None, expected: tuple) -> None:
    assert channel_status(word) == expected


def test_the_status_table_covers_the_documented_words() -> None:
    documented = {"pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "trash"}
    assert set(STATUS) == documented


@pytest.mark.parametrize(("breakage", "message"), [
    (lambda o: o["line_items"][0].update(quantity="two"), "line_items[0].quantity: Input should be a valid integer"),
    (lambda o: o["line_items"][0].update(sku=""), "line_items[0].sku: missing (every line needs a SKU)"),
    (lambda o: o.update(total="abc"), "total: not an amount ('abc')"),
    (lambda o: o.pop("date_created_gmt"), "date_created_gmt: missing"),
    (lambda o: o.update(line_items=[]), "line_items: an order needs at least one line"),
    (lambda o: o.update(date_modified_gmt="yesterday"), "date_modified_gmt: not an ISO 8601 date and time ('yesterday')"),
    (lambda o: o.update(currency="EURO"), "currency: String should have at most 3 characters"),
])
def test_a_malformed_order_becomes_a_rejection_with_the_raw_payload(breakage: Any, message: str) -> None:
    raw = load("processing_multiline")
    broken = copy.deepcopy(raw)
    breakage(broken)
    rejection = rejected(broken)
    assert rejection.error == message
    assert rejection.external_id == "4821"
    assert rejection.raw == broken


def test_a_record_that_is_not_an_object_is_rejected() -> None:
    assert rejected(["not", "an", "order"]).error == "order: expected a JSON object, got list"


def _transport(pages: list[list[dict[str, Any]]], seen: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        number = int(request.url.params["page"])
        body = pages[number - 1] if number <= len(pages) else []
        return httpx.Response(200, json=body, headers={"X-WP-Total": str(sum(map(len, pages))),
                                                       "X-WP-TotalPages": str(len(pages))})
    return httpx.MockTransport(handler)


def test_orders_since_sends_basic_auth_and_the_documented_filters() -> None:
    seen: list[httpx.Request] = []
    basic = base64.b64encode(b"ck_live:cs_live").decode()
    client = make_client("https://shop.example", {"Authorization": f"Basic {basic}"},
                         transport=_transport([[load("processing_multiline")]], seen))
    with WooCommerce(client, page_size=50) as api:
        pages = list(api.orders_since("2026-11-21T15:00:00+00:00"))
    (request,) = seen
    assert request.url.path == "/wp-json/wc/v3/orders"
    assert request.headers["Authorization"] == f"Basic {basic}"
    params = dict(request.url.params)
    assert params == {"status": "any", "orderby": "modified", "order": "asc", "per_page": "50", "page": "1",
                      "dates_are_gmt": "true", "modified_after": "2026-11-21T14:59:59"}  # strict: one second back
    assert pages[0].cursor == "2026-11-21T15:16:42+00:00"


def test_a_page_that_moves_time_forward_restarts_at_page_one_from_that_time() -> None:
    first, second = load("on_hold_bank_transfer"), load("processing_multiline")
    seen: list[httpx.Request] = []
    client = make_client("https://shop.example", transport=_transport([[second], [first]], seen))
    with WooCommerce(client, page_size=1) as api:
        list(api.orders_since(None))
    assert [(r.url.params["page"], r.url.params.get("modified_after")) for r in seen][:2] == [
        ("1", None), ("1", "2026-11-21T15:16:41")]


def test_a_refund_of_units_becomes_a_return_and_a_money_only_refund_does_not() -> None:
    raw = dict(load("completed_with_tracking"), refunds=[{"id": 4811, "reason": "Goodwill: late delivery",
                                                         "total": "-0.00"},
                                                        {"id": 4805, "reason": "Dented on arrival", "total": "-24.00"}])
    raw["refund_details"] = json.loads((FIXTURES / "refunds_of_4790.json").read_text(encoding="utf-8"))
    order = parse_order(raw)
    assert isinstance(order, ChannelOrder), order
    assert [(r.external_id, r.note, r.created_at, [(x.line_external_id, x.quantity) for x in r.lines])
            for r in order.returns] == [
        ("4805", "Dented on arrival", datetime(2026, 11, 21, 14, 2, 40, tzinfo=UTC), [("1050", 1)])]


def test_a_refund_line_without_its_order_line_is_a_dead_letter_naming_the_path() -> None:
    raw = dict(load("completed_with_tracking"), refunds=[{"id": 4805, "reason": "", "total": "-24.00"}])
    details = json.loads((FIXTURES / "refunds_of_4790.json").read_text(encoding="utf-8"))
    details[1]["line_items"][0]["meta_data"] = []
    raw["refund_details"] = details
    assert rejected(raw).error == "refund_details[1].line_items[0].meta_data: no _refunded_item_id naming the order's line"


def test_orders_since_fetches_refund_lines_only_for_orders_that_list_refunds() -> None:
    plain = load("processing_multiline")
    refunded = dict(load("completed_with_tracking"), refunds=[{"id": 4805, "reason": "Dented", "total": "-24.00"}])
    asked: list[str] = []

    def shop(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        if request.url.path.endswith("/refunds"):
            return httpx.Response(200, text=(FIXTURES / "refunds_of_4790.json").read_text(encoding="utf-8"))
        return httpx.Response(200, json=[plain, refunded], headers={"X-WP-TotalPages": "1"})

    api = WooCommerce(make_client("https://shop.test", transport=httpx.MockTransport(shop)), sleep=lambda s: None)
    pages = list(api.orders_since(None))
    assert asked == ["/wp-json/wc/v3/orders", "/wp-json/wc/v3/orders/4790/refunds"]
    returns = {r.external_id: r.returns for r in pages[0].records}
    assert returns[str(plain["id"])] == () and [r.external_id for r in returns["4790"]] == ["4805"]
