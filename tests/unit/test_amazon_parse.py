"""The Amazon SP-API connector on recorded payloads (tests/fixtures/amazon), its quotas and its paging."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.amazon import STATUS, AmazonOrders, TokenBucket, channel_status, parse_order
from connectors.http import make_client
from connectors.schemas import ChannelOrder, Rejection
from core.enums import FinancialStatus, OrderStatus

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "amazon"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def parsed(name: str) -> ChannelOrder:
    result = parse_order(load(name))
    assert isinstance(result, ChannelOrder), result
    return result


def test_an_unshipped_order_maps_every_field_and_its_latest_ship_date_is_the_ship_by() -> None:
    order = parsed("unshipped_prime")
    assert (order.external_id, order.number) == ("113-5829016-3371442", "113-5829016-3371442")
    assert order.channel_status is None and order.financial_status is FinancialStatus.AUTHORIZED
    assert order.ship_by == datetime(2026, 11, 24, 7, 59, 59, tzinfo=UTC)
    assert order.placed_at == datetime(2026, 11, 21, 14, 2, 31, tzinfo=UTC)
    assert order.updated_at == datetime(2026, 11, 21, 14, 33, 5, tzinfo=UTC)
    assert (order.customer_name, order.email, order.phone) == (
        "Priya Patel", "7xk2m9q4p1n8r3t@marketplace.amazon.com", "+1 720-555-0187")
    assert order.tags == ("prime",)
    assert order.ship_to is not None and order.ship_to.model_dump() == {
        "name": "Priya Patel", "company": None, "address1": "1208 Pearl St", "address2": "Unit 4",
        "city": "Denver", "region": "CO", "postal_code": "80203-1122", "country_code": "US",
        "phone": "+1 720-555-0187"}


def test_item_price_is_the_line_total_so_the_unit_price_is_divided_by_the_quantity() -> None:
    order = parsed("unshipped_prime")
    assert [(li.external_id, li.sku, li.quantity, li.unit_price) for li in order.lines] == [
        ("68125940381042", "BOOT-HIKE-42", 1, Decimal("189.00")),
        ("68125940381043", "SOCK-3PK", 2, Decimal("12.99")),
    ]
    assert (order.total, order.currency) == (Decimal("214.98"), "USD")
    assert sum(li.unit_price * li.quantity for li in order.lines) == order.total


def test_a_pending_order_without_prices_is_taken_with_a_zero_total_in_the_marketplace_currency() -> None:
    order = parsed("pending_unpriced")
    assert (order.total, order.currency) == (Decimal("0"), "GBP")
    assert order.financial_status is FinancialStatus.PENDING  # so PAYMENT_PENDING holds it
    assert order.lines[0].unit_price == Decimal("0")
    assert order.ship_to is None and order.customer_name == ""


def test_a_shipped_business_order_is_shipped_and_paid() -> None:
    order = parsed("shipped_business")
    assert (order.channel_status, order.financial_status) == (OrderStatus.SHIPPED, FinancialStatus.PAID)
    assert order.tags == ("business",)
    assert order.ship_to is not None and order.ship_to.company == "Müller Werkstatt GmbH"


def test_a_cancelled_order_drops_its_zero_quantity_items() -> None:
    order = parsed("canceled")
    assert order.channel_status is OrderStatus.CANCELLED and order.cancelled_at == order.updated_at
    assert [li.sku for li in order.lines] == ["CAP-NVY"]
    assert order.currency == "CAD"


@pytest.mark.parametrize(("word", "expected"), [
    ("PendingAvailability", (None, FinancialStatus.PENDING)),
    ("Pending", (None, FinancialStatus.PENDING)),
    ("Unshipped", (None, FinancialStatus.AUTHORIZED)),
    ("PartiallyShipped", (OrderStatus.PARTIALLY_SHIPPED, FinancialStatus.AUTHORIZED)),
    ("Shipped", (OrderStatus.SHIPPED, FinancialStatus.PAID)),
    ("InvoiceUnconfirmed", (OrderStatus.SHIPPED, FinancialStatus.PAID)),
    ("Canceled", (OrderStatus.CANCELLED, FinancialStatus.VOIDED)),
    ("Unfulfillable", (OrderStatus.CANCELLED, FinancialStatus.VOIDED)),
    ("Teleported", None),
])
def test_every_amazon_status_has_one_meaning(word: str, expected: tuple | None) -> None:
    assert channel_status(word) == expected
    assert len(STATUS) == 8


@pytest.mark.parametrize(("breakage", "message"), [
    (lambda o: o["OrderItems"][0].update(QuantityOrdered="two"), "OrderItems[0].QuantityOrdered: Input should be a valid integer"),
    (lambda o: o["OrderItems"][0].pop("SellerSKU"), "OrderItems[0].SellerSKU: missing (every line needs a SKU)"),
    (lambda o: o["OrderTotal"].update(Amount="abc"), "OrderTotal.Amount: not an amount ('abc')"),
    (lambda o: o.pop("PurchaseDate"), "PurchaseDate: missing"),
    (lambda o: o.pop("OrderTotal"), "OrderTotal: missing"),
    (lambda o: o.update(OrderStatus="Teleported"), "OrderStatus: unknown status 'Teleported'"),
    (lambda o: o.update(OrderItems=[]), "OrderItems: an order needs at least one item with a quantity"),
    (lambda o: o.update(LatestShipDate="2026-11-24 07:59"), "LatestShipDate: has no time zone"),
])
def test_a_malformed_order_becomes_a_rejection_with_the_raw_payload(breakage: Any, message: str) -> None:
    broken = copy.deepcopy(load("unshipped_prime"))
    breakage(broken)
    result = parse_order(broken)
    assert isinstance(result, Rejection)
    assert (result.error, result.external_id, result.raw) == (message, "113-5829016-3371442", broken)


class FakeTime:
    def __init__(self) -> None:
        self.now, self.slept = 0.0, []

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


def test_the_token_bucket_lets_a_burst_through_then_paces_at_the_rate() -> None:
    t = FakeTime()
    bucket = TokenBucket(0.5, 3, clock=lambda: t.now)
    for _ in range(5):
        bucket.acquire(t.sleep)
    assert t.slept == [2.0, 2.0]  # three free, then one every 1/0.5 s
    bucket.drain()
    bucket.acquire(t.sleep)
    assert t.slept[-1] == 2.0


def _api(handler: Any, t: FakeTime, **options: Any) -> AmazonOrders:
    client = make_client("https://sellingpartnerapi-na.amazon.com", {"x-amz-access-token": "Atza|tok"},
                         transport=httpx.MockTransport(handler))
    buckets = {"getOrders": TokenBucket(0.0167, 20, clock=lambda: t.now),
               "getOrderItems": TokenBucket(0.5, 30, clock=lambda: t.now)}
    return AmazonOrders(client, buckets=buckets, sleep=t.sleep, **options)


def test_orders_since_pages_with_next_token_fetches_items_and_sets_the_cursor_only_at_the_end() -> None:
    first, second = load("unshipped_prime"), load("shipped_business")
    items = {o["AmazonOrderId"]: o.pop("OrderItems") for o in (first, second)}
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.headers["x-amz-access-token"] == "Atza|tok"
        path, params = request.url.path, request.url.params
        if path == "/orders/v0/orders":
            if "NextToken" not in params:
                return httpx.Response(200, json={"payload": {"Orders": [first], "NextToken": "page-2"}})
            return httpx.Response(200, json={"payload": {"Orders": [second]}})
        order_id = path.split("/")[4]
        lines = items[order_id]
        if len(lines) > 1 and "NextToken" not in params:  # items come in pages too
            return httpx.Response(200, json={"payload": {"AmazonOrderId": order_id, "OrderItems": lines[:1],
                                                         "NextToken": "items-2"}})
        rest = lines[1:] if "NextToken" in params else lines
        return httpx.Response(200, json={"payload": {"AmazonOrderId": order_id, "OrderItems": rest}})

    t = FakeTime()
    with _api(handler, t, marketplace_ids=["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"]) as api:
        pages = list(api.orders_since("2026-11-18T00:00:00+00:00"))
    first_call = dict(seen[0].url.params)
    assert first_call == {"MarketplaceIds": "ATVPDKIKX0DER,A2EUQ1WTGCTBG2", "MaxResultsPerPage": "100",
                          "LastUpdatedAfter": "2026-11-18T00:00:00Z"}
    later = [dict(r.url.params) for r in seen if r.url.path == "/orders/v0/orders"][1]
    assert later == {"MarketplaceIds": "ATVPDKIKX0DER,A2EUQ1WTGCTBG2", "NextToken": "page-2"}
    assert [len(p.records[0].lines) for p in pages] == [2, 1]
    assert [p.cursor for p in pages] == [None, "2026-11-21T14:31:05+00:00"]  # two minutes before the newest


def test_a_429_without_retry_after_waits_one_period_of_the_reported_rate() -> None:
    answers = iter([httpx.Response(429, headers={"x-amzn-RateLimit-Limit": "0.5"},
                                   json={"errors": [{"code": "QuotaExceeded", "message": "You exceeded your quota"}]}),
                    httpx.Response(200, json={"payload": {"Orders": []}}, headers={"x-amzn-RateLimit-Limit": "0.0167"})])
    t = FakeTime()
    api = _api(lambda request: next(answers), t)
    pages = list(api.orders_since("2026-11-18T00:00:00+00:00"))
    assert t.slept == [2.0]  # 1 / 0.5 requests per second
    assert pages[0].cursor == "2026-11-18T00:00:00+00:00"  # nothing new: the cursor stays
    assert api.buckets["getOrders"].rate == 0.0167  # follows x-amzn-RateLimit-Limit
