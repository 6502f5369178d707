"""The Shopify connector on recorded payloads (tests/fixtures/shopify): parse_order, then orders_since."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.http import BadResponse, make_client
from connectors.schemas import ChannelOrder, Rejection
from connectors.shopify import FINANCIAL_STATUS, ShopifyRest, channel_status, parse_order
from core.enums import FinancialStatus, OrderStatus

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "shopify"


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


def test_a_paid_multi_line_order_maps_every_field() -> None:
    order = parsed("paid_unfulfilled_multiline")
    assert order.external_id == "5612345678901"
    assert order.number == "#1042"
    assert order.financial_status is FinancialStatus.PAID
    assert order.raw_financial_status == "paid"
    assert order.channel_status is None  # unfulfilled and open: the desk decides
    assert order.customer_name == "Jordan Reyes"
    assert order.email == "jordan.reyes@example.com"
    assert order.phone == "+1 303-555-0142"  # the order has none: taken from the shipping address
    assert order.note == "Please leave at the back door"
    assert order.currency == "USD"
    assert [(li.external_id, li.sku, li.title, li.quantity, li.unit_price) for li in order.lines] == [
        ("14212345678901", "JKT-RAIN-L", "Packable Rain Jacket", 2, Decimal("149.00")),
        ("14212345678902", "HELM-CYC-M", "Commuter Cycling Helmet", 1, Decimal("89.90")),
    ]
    assert order.fulfillments == ()
    assert order.risk_level is None  # orders.json carries no risk: nothing invented


def test_money_stays_exact_to_the_cent() -> None:
    order = parsed("paid_unfulfilled_multiline")
    assert order.total == Decimal("409.94")
    assert str(order.total) == "409.94"
    assert sum(li.unit_price * li.quantity for li in order.lines) == Decimal("387.90")


def test_timestamps_with_offsets_become_utc() -> None:
    order = parsed("paid_unfulfilled_multiline")
    assert order.placed_at == datetime(2026, 11, 21, 15, 15, tzinfo=UTC)
    assert order.placed_at.utcoffset().total_seconds() == 0
    assert order.updated_at == datetime(2026, 11, 21, 15, 16, 42, tzinfo=UTC)
    berlin = parsed("pending_guest")
    assert berlin.placed_at == datetime(2026, 11, 21, 17, 59, 59, tzinfo=UTC)


def test_the_shipping_address_maps_onto_address() -> None:
    ship_to = parsed("paid_unfulfilled_multiline").ship_to
    assert ship_to is not None
    assert ship_to.model_dump() == {
        "name": "Jordan Reyes",
        "company": "Reyes Design LLC",
        "address1": "1600 Pearl St",
        "address2": "Suite 300",
        "city": "Denver",
        "region": "CO",
        "postal_code": "80203",
        "country_code": "US",
        "phone": "+1 303-555-0142",
    }


def test_tags_are_split_stripped_and_blanks_dropped() -> None:
    assert parsed("paid_unfulfilled_multiline").tags == ("vip", "gift", "repeat")
    assert parsed("pending_guest").tags == ("b2b", "pre-order")
    assert parsed("cancelled").tags == ()


def test_a_cancelled_order_is_cancelled_whatever_its_fulfillment_says() -> None:
    order = parsed("cancelled")
    assert order.channel_status is OrderStatus.CANCELLED
    assert order.cancelled_at == datetime(2026, 11, 20, 19, 5, 33, tzinfo=UTC)
    assert order.financial_status is FinancialStatus.REFUNDED
    assert (
        order.ship_to is not None and order.ship_to.region is None and order.ship_to.postal_code == "M1 1AE"
    )


def test_a_fulfilled_order_brings_its_tracked_parcels_only() -> None:
    order = parsed("fulfilled_with_tracking")
    assert order.channel_status is OrderStatus.SHIPPED
    assert order.raw_fulfillment_status == "fulfilled"
    # The cancelled FedEx fulfillment is not a parcel; the USPS one has its number only in the list.
    assert [(f.external_id, f.carrier, f.tracking_number) for f in order.fulfillments] == [
        ("4712345679202", "UPS", "1Z999AA10123456784"),
        ("4712345679203", "USPS", "9400111899223344556677"),
    ]
    ups = order.fulfillments[0]
    assert ups.shipped_at == datetime(2026, 11, 19, 15, 12, 45, tzinfo=UTC)
    assert ups.service == "manual"
    assert ups.line_quantities == {"14212345679301": 2}
    assert order.note is None  # an empty note is no note


def test_a_guest_checkout_takes_name_from_the_address_and_email_from_contact_email() -> None:
    order = parsed("pending_guest")
    assert order.financial_status is FinancialStatus.PENDING
    assert order.customer_name == "Lena Müller"
    assert order.email == "l.muller@example.de"
    assert order.phone == "+49 30 1234567"
    assert order.total == Decimal("5023.95")
    assert order.ship_to is not None and order.ship_to.country_code == "DE"
    assert order.ship_to.address2 is None


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("pending", FinancialStatus.PENDING),
        ("authorized", FinancialStatus.AUTHORIZED),
        ("partially_paid", FinancialStatus.PARTIALLY_PAID),
        ("paid", FinancialStatus.PAID),
        ("partially_refunded", FinancialStatus.PARTIALLY_REFUNDED),
        ("refunded", FinancialStatus.REFUNDED),
        ("voided", FinancialStatus.VOIDED),
        ("expired", FinancialStatus.UNKNOWN),
        (None, FinancialStatus.UNKNOWN),
    ],
)
def test_financial_status_words_map_through_one_table(word: str | None, expected: FinancialStatus) -> None:
    raw = load("paid_unfulfilled_multiline")
    raw["financial_status"] = word
    order = parse_order(raw)
    assert isinstance(order, ChannelOrder)
    assert order.financial_status is expected
    assert order.raw_financial_status == word


def test_every_documented_financial_status_is_in_the_table() -> None:
    documented = {
        "pending",
        "authorized",
        "partially_paid",
        "paid",
        "partially_refunded",
        "refunded",
        "voided",
    }
    assert set(FINANCIAL_STATUS) == documented


@pytest.mark.parametrize(
    ("fulfillment", "cancelled_at", "expected"),
    [
        (None, None, None),
        ("fulfilled", None, OrderStatus.SHIPPED),
        ("partial", None, OrderStatus.PARTIALLY_SHIPPED),
        ("restocked", None, None),
        ("fulfilled", "2026-11-20T10:00:00Z", OrderStatus.CANCELLED),
        (None, "2026-11-20T10:00:00Z", OrderStatus.CANCELLED),
    ],
)
def test_fulfillment_status_and_cancellation_give_the_channel_status(
    fulfillment: str | None, cancelled_at: str | None, expected: OrderStatus | None
) -> None:
    assert channel_status(fulfillment, cancelled_at) is expected


@pytest.mark.parametrize(
    ("breakage", "error"),
    [
        (
            lambda o: o["line_items"][0].update(quantity="two"),
            "line_items[0].quantity: Input should be a valid integer",
        ),
        (
            lambda o: o["line_items"][1].update(sku=None),
            "line_items[1].sku: missing (every line needs a SKU)",
        ),
        (lambda o: o["line_items"][0].update(sku="   "), "line_items[0].sku: missing"),
        (lambda o: o.update(total_price="abc"), "total_price: Input should be a valid decimal"),
        (lambda o: o.pop("created_at"), "created_at: missing"),
        (lambda o: o.update(updated_at="yesterday"), "updated_at: Input should be a valid datetime"),
        (lambda o: o.update(created_at="2026-11-21T10:15:00"), "created_at: Input should have timezone info"),
        (
            lambda o: o["line_items"][0].update(price="149.005"),
            "line_items[0].price: Decimal input should have no more than 2 decimal places",
        ),
        (
            lambda o: o["line_items"][0].update(quantity=0),
            "line_items[0].quantity: Input should be greater than 0",
        ),
        (lambda o: o.update(line_items=[]), "line_items: an order needs at least one line"),
        (lambda o: o.update(line_items="none"), "line_items: expected a list"),
        (
            lambda o: o["shipping_address"].update(country_code=123),
            "shipping_address.country_code: Input should be a valid string",
        ),
        (lambda o: o.update(currency=None), "currency: Input should be a valid string"),
        (lambda o: o.update(tags=7), "tags: expected a comma-separated string"),
    ],
)
def test_a_broken_order_becomes_a_rejection_with_a_one_line_reason(breakage: Any, error: str) -> None:
    raw = load("paid_unfulfilled_multiline")
    breakage(raw)
    kept = copy.deepcopy(raw)
    rejection = rejected(raw)
    assert rejection.error.startswith(error), rejection.error
    assert "\n" not in rejection.error
    assert rejection.raw == kept  # the whole payload, untouched, for the dead-letter table
    assert rejection.external_id == "5612345678901"


def test_a_rejection_without_a_readable_id_still_carries_the_payload() -> None:
    raw = load("cancelled")
    del raw["id"]
    rejection = rejected(raw)
    assert rejection.error == "id: missing"
    assert rejection.external_id is None
    assert rejection.raw["name"] == "#1043"


@pytest.mark.parametrize("raw", [None, [], "order", 42])
def test_something_that_is_not_an_order_object_is_rejected_not_raised(raw: Any) -> None:
    assert rejected(raw).error.startswith("order: expected a JSON object")


def test_a_fulfillment_without_any_tracking_number_is_skipped() -> None:
    raw = load("fulfilled_with_tracking")
    raw["fulfillments"][1]["tracking_number"] = None
    raw["fulfillments"][1]["tracking_numbers"] = []
    order = parse_order(raw)
    assert isinstance(order, ChannelOrder)
    assert [f.tracking_number for f in order.fulfillments] == ["9400111899223344556677"]


def test_a_tracking_number_without_a_carrier_is_kept_as_other() -> None:
    raw = load("fulfilled_with_tracking")
    raw["fulfillments"][1]["tracking_company"] = None
    order = parse_order(raw)
    assert isinstance(order, ChannelOrder)
    assert order.fulfillments[0].carrier == "Other"


def test_an_order_without_a_shipping_address_has_no_ship_to() -> None:
    raw = load("paid_unfulfilled_multiline")
    raw["shipping_address"] = None
    order = parse_order(raw)
    assert isinstance(order, ChannelOrder)
    assert order.ship_to is None
    assert order.customer_name == "Jordan Reyes"
    assert order.phone is None


def test_an_overlong_note_is_clipped_rather_than_rejecting_the_order() -> None:
    raw = load("paid_unfulfilled_multiline")
    raw["note"] = "x" * 5000
    order = parse_order(raw)
    assert isinstance(order, ChannelOrder)
    assert order.note is not None and len(order.note) == 2000


# orders_since over recorded exchanges (httpx.MockTransport): request shape and cursor rules.


def recorded_shop(
    *bodies: dict[str, Any], link: str | None = None
) -> tuple[ShopifyRest, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    answers = iter(bodies)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = next(answers)
        headers = {"Link": link} if link and len(seen) == 1 else {}
        return httpx.Response(200, json=body, headers=headers)

    client = make_client(
        "https://demo.myshopify.com", {"X-Shopify-Access-Token": "t"}, transport=httpx.MockTransport(handler)
    )
    return ShopifyRest(client, page_size=2, sleep=lambda s: None), seen


def test_the_first_request_asks_for_every_status_oldest_update_first_from_the_cursor_in_utc() -> None:
    next_url = "https://demo.myshopify.com/admin/api/2025-01/orders.json?limit=2&page_info=abc"
    api, seen = recorded_shop(
        {"orders": [load("cancelled")]}, {"orders": []}, link=f'<{next_url}>; rel="next"'
    )
    list(api.orders_since("2026-11-20T09:00:00-05:00"))
    first, second = seen
    assert first.url.path == "/admin/api/2025-01/orders.json"
    assert dict(first.url.params) == {
        "status": "any",
        "limit": "2",
        "order": "updated_at asc",
        "updated_at_min": "2026-11-20T14:00:00+00:00",
    }
    assert str(second.url) == next_url  # page_info and limit only, exactly as linked
    assert first.headers["X-Shopify-Access-Token"] == "t"


def test_rejected_records_still_move_the_cursor_forward() -> None:
    broken = load("pending_guest")
    broken["line_items"][0]["quantity"] = "two"
    api, _ = recorded_shop({"orders": [load("cancelled"), broken]})
    (page,) = api.orders_since(None)
    assert len(page.records) == 1 and len(page.rejected) == 1
    assert page.cursor == "2026-11-21T18:00:03+00:00"  # the broken order's updated_at, the latest


def test_the_cursor_never_moves_backwards_from_the_input() -> None:
    api, _ = recorded_shop({"orders": [load("cancelled")]})
    (page,) = api.orders_since("2026-12-01T00:00:00+00:00")
    assert page.cursor == "2026-12-01T00:00:00+00:00"


def test_a_next_link_to_another_host_is_not_followed() -> None:
    evil = '<https://collector.example/steal?page_info=x>; rel="next"'
    api, seen = recorded_shop({"orders": []}, {"orders": []}, link=evil)
    with pytest.raises(BadResponse, match="elsewhere"):
        list(api.orders_since(None))
    assert len(seen) == 1


def test_a_body_without_an_orders_list_is_a_bad_response() -> None:
    api, _ = recorded_shop({"errors": "Not Found"})
    with pytest.raises(BadResponse, match="orders"):
        list(api.orders_since(None))


def test_an_address_without_a_country_still_lands_for_the_address_hold_to_judge() -> None:
    raw = load("paid_unfulfilled_multiline")
    raw["shipping_address"]["country_code"] = None
    order = parse_order(raw)
    assert isinstance(order, ChannelOrder) and order.ship_to is not None
    assert order.ship_to.country_code is None
