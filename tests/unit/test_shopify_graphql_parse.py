"""The Shopify GraphQL connector on recorded payloads (tests/fixtures/shopify_graphql) and its cost throttling."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.http import RateLimited, make_client
from connectors.schemas import ChannelOrder, Rejection
from connectors.shopify_graphql import (
    FINANCIAL_STATUS,
    FULFILLMENT_STATUS,
    ShopifyGraphql,
    channel_status,
    parse_order,
    throttle_wait,
)
from core.enums import FinancialStatus, OrderStatus

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "shopify_graphql"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def parsed(name: str) -> ChannelOrder:
    result = parse_order(load(name))
    assert isinstance(result, ChannelOrder), result
    return result


def test_a_partially_fulfilled_order_maps_every_field_with_numeric_ids_like_rest() -> None:
    order = parsed("partially_fulfilled")
    assert (order.external_id, order.number) == ("5612345678955", "#1077")  # the REST API's id
    assert order.channel_status is OrderStatus.PARTIALLY_SHIPPED
    assert order.financial_status is FinancialStatus.PAID
    assert (order.customer_name, order.email, order.phone) == ("Sofia Rossi", "sofia.rossi@proton.me", "+1 416-555-0177")
    assert order.tags == ("gift", "vip")
    assert (order.total, order.currency) == (Decimal("272.34"), "CAD")
    assert [(li.external_id, li.sku, li.quantity, li.unit_price) for li in order.lines] == [
        ("14212345679001", "HOOD-GRY-M", 2, Decimal("59.00")), ("14212345679002", "JKT-RAIN-L", 1, Decimal("123.00"))]
    assert order.ship_to is not None and (order.ship_to.region, order.ship_to.country_code) == ("ON", "CA")


def test_only_live_fulfillments_with_tracking_become_parcels() -> None:
    (parcel,) = parsed("partially_fulfilled").fulfillments  # the cancelled one is not a parcel
    assert (parcel.external_id, parcel.carrier, parcel.tracking_number) == ("4712345678001", "UPS", "1Z999AA10123456784")
    assert parcel.line_quantities == {"14212345679001": 2}
    assert parcel.shipped_at == datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


def test_a_cancelled_order_is_cancelled_whatever_its_fulfilment_says() -> None:
    order = parsed("cancelled_voided")
    assert (order.channel_status, order.financial_status) == (OrderStatus.CANCELLED, FinancialStatus.VOIDED)
    assert order.placed_at == datetime(2026, 11, 21, 9, 0, tzinfo=UTC)  # the offset is honoured
    assert order.customer_name == "Léa Dubois"  # no customer: the address name


@pytest.mark.parametrize(("word", "cancelled", "expected"), [
    ("UNFULFILLED", None, None), ("FULFILLED", None, OrderStatus.SHIPPED),
    ("PARTIALLY_FULFILLED", None, OrderStatus.PARTIALLY_SHIPPED), ("ON_HOLD", None, None),
    ("FULFILLED", "2026-11-21T12:00:00Z", OrderStatus.CANCELLED), (None, None, None),
])
def test_fulfilment_words_map_through_one_table(word: str | None, cancelled: str | None, expected: Any) -> None:
    assert channel_status(word, cancelled) == expected


def test_every_display_financial_status_is_mapped() -> None:
    assert set(FINANCIAL_STATUS) == {"PENDING", "AUTHORIZED", "PARTIALLY_PAID", "PAID", "PARTIALLY_REFUNDED",
                                     "REFUNDED", "VOIDED", "EXPIRED"}
    assert "RESTOCKED" in FULFILLMENT_STATUS and FULFILLMENT_STATUS["RESTOCKED"] is None


@pytest.mark.parametrize(("breakage", "message"), [
    (lambda o: o["lineItems"]["nodes"][0].update(quantity="two"), "lineItems.nodes[0].quantity: Input should be a valid integer, unable to parse string as an integer"),
    (lambda o: o["lineItems"]["nodes"][0].update(sku=None), "lineItems.nodes[0].sku: missing (every line needs a SKU)"),
    (lambda o: o["totalPriceSet"]["shopMoney"].update(amount="abc"), "totalPriceSet.shopMoney.amount: not an amount ('abc')"),
    (lambda o: o.pop("createdAt"), "createdAt: missing"),
    (lambda o: o["lineItems"]["pageInfo"].update(hasNextPage=True), "lineItems: more than 100 lines; not taken in part"),
    (lambda o: o["fulfillments"][0]["fulfillmentLineItems"]["nodes"][0]["lineItem"].update(id="gid://shopify/Order/1"),
     "fulfillments[0].fulfillmentLineItems.nodes[0].lineItem.id: expected gid://shopify/LineItem/<number>, "
     "got 'gid://shopify/Order/1'"),
])
def test_a_malformed_node_becomes_a_rejection_with_the_raw_payload(breakage: Any, message: str) -> None:
    broken = copy.deepcopy(load("partially_fulfilled"))
    breakage(broken)
    result = parse_order(broken)
    assert isinstance(result, Rejection)
    assert (result.error, result.external_id, result.raw) == (message, "5612345678955", broken)


def test_a_node_without_a_readable_gid_is_rejected_without_an_id() -> None:
    result = parse_order({**load("cancelled_voided"), "id": 5612345678990})
    assert isinstance(result, Rejection) and result.external_id is None and result.error.startswith("id: expected gid://shopify/Order/<number>")


def cost(available: float, requested: float = 252, restore: float = 50) -> dict[str, Any]:
    return {"requestedQueryCost": requested, "actualQueryCost": 102,
            "throttleStatus": {"maximumAvailable": 1000.0, "currentlyAvailable": available, "restoreRate": restore}}


def test_the_wait_is_what_the_bucket_lacks_divided_by_the_restore_rate() -> None:
    assert throttle_wait(cost(52)) == 4.0  # (252 - 52) / 50
    assert throttle_wait(cost(900)) == 0.0
    assert throttle_wait(None) == 0.0


def test_throttled_is_retried_after_the_computed_wait_and_a_low_bucket_paces_the_next_query() -> None:
    answers = iter([
        {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
         "extensions": {"cost": {**cost(152), "actualQueryCost": None}}},
        {"data": {"orders": {"pageInfo": {"hasNextPage": True, "endCursor": "c1"}, "nodes": [load("cancelled_voided")]}},
         "extensions": {"cost": cost(2)}},
        {"data": {"orders": {"pageInfo": {"hasNextPage": False, "endCursor": None}, "nodes": []}},
         "extensions": {"cost": cost(900)}},
    ])
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=next(answers))

    slept: list[float] = []
    api = ShopifyGraphql(make_client("https://s.example", transport=httpx.MockTransport(handler)),
                         page_size=50, sleep=slept.append)
    pages = list(api.orders_since("2026-11-21T00:00:00+00:00"))
    assert slept == [2.0, 5.0]  # THROTTLED: (252-152)/50; then the bucket at 2 must refill to 252 first
    assert bodies[0]["variables"] == {"first": 50, "after": None, "query": "updated_at:>='2026-11-21T00:00:00Z'"}
    assert "sortKey: UPDATED_AT" in bodies[0]["query"] and bodies[2]["variables"]["after"] == "c1"
    assert [len(p.records) for p in pages] == [1, 0]
    assert pages[-1].cursor == "2026-11-21T12:15:00+00:00"


def test_a_bucket_that_never_refills_gives_up_with_rate_limited() -> None:
    throttled = {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                 "extensions": {"cost": cost(0, restore=1)}}
    api = ShopifyGraphql(make_client("https://s.example", transport=httpx.MockTransport(
        lambda r: httpx.Response(200, json=throttled))), sleep=lambda s: None, max_wait_s=60)
    with pytest.raises(RateLimited):
        list(api.orders_since(None))


def test_a_refund_with_restock_type_return_is_a_return_and_cancel_or_no_restock_ones_are_not() -> None:
    order = parsed("refunded_return")
    assert [(r.external_id, r.created_at, r.note, [(li.line_external_id, li.quantity) for li in r.lines])
            for r in order.returns] == [
        ("920000000017", datetime(2026, 11, 25, 16, 2, 11, tzinfo=UTC), "Too small, customer sent one back",
         [("14212345679001", 1)])]


def test_a_legacy_restock_refund_counts_as_goods_coming_back() -> None:
    raw = load("refunded_return")
    raw["refunds"][2]["refundLineItems"]["nodes"][0]["restockType"] = "LEGACY_RESTOCK"
    result = parse_order(raw)
    assert isinstance(result, ChannelOrder) and [r.external_id for r in result.returns] == ["920000000017", "920000000051"]


@pytest.mark.parametrize(("change", "said"), [
    (lambda r: r["refunds"][0].update(id="gid://shopify/Order/1"), "refunds[0].id: expected gid://shopify/Refund/"),
    (lambda r: r["refunds"][0]["refundLineItems"]["nodes"][0].update(quantity="one"),
     "refunds[0].refundLineItems.nodes[0].quantity"),
    (lambda r: r["refunds"][0].pop("createdAt"), "refunds[0].createdAt"),
])
def test_an_unreadable_refund_dead_letters_the_order_whole(change: Any, said: str) -> None:
    raw = load("refunded_return")
    change(raw)
    result = parse_order(raw)
    assert isinstance(result, Rejection) and said in result.error and result.raw == raw
