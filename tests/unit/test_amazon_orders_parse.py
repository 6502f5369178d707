"""The Amazon Orders v2026-01-01 connector on a recorded searchOrders answer (tests/fixtures/amazon_2026)
and over httpx.MockTransport: mapping, parcels, rejections, paging with every parameter repeated."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors import amazon
from connectors.amazon_common import TokenBucket
from connectors.amazon_orders import INCLUDED_DATA, STATUS, AmazonSearchOrders, channel_status, parse_order
from connectors.http import BadResponse, make_client
from connectors.schemas import ChannelOrder, Rejection
from core.enums import AmazonOrdersApi, FinancialStatus, OrderStatus

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def page() -> dict[str, Any]:
    return json.loads((FIXTURES / "amazon_2026" / "search_orders_page.json").read_text(encoding="utf-8"))


def order(i: int) -> dict[str, Any]:
    return page()["orders"][i]


def parsed(raw: dict[str, Any]) -> ChannelOrder:
    result = parse_order(raw)
    assert isinstance(result, ChannelOrder), result
    return result


def test_an_unshipped_order_maps_every_field_and_the_ship_by_window_end_is_the_ship_by() -> None:
    got = parsed(order(0))
    assert (got.external_id, got.number) == ("114-3941689-8772232", "114-3941689-8772232")
    assert got.channel_status is None and got.financial_status is FinancialStatus.AUTHORIZED
    assert got.raw_fulfillment_status == "UNSHIPPED"
    assert got.ship_by == datetime(2026, 11, 24, 7, 59, 59, tzinfo=UTC)
    assert (got.placed_at, got.updated_at) == (datetime(2026, 11, 21, 14, 2, 31, tzinfo=UTC),
                                               datetime(2026, 11, 21, 14, 33, 5, tzinfo=UTC))
    assert (got.customer_name, got.email, got.phone) == (
        "Priya Patel", "7xk2m9q4p1n8r3t@marketplace.amazon.com", "+1 720-555-0187")
    assert got.tags == ("prime",) and got.fulfillments == ()
    assert got.ship_to is not None and got.ship_to.model_dump() == {
        "name": "Priya Patel", "company": None, "address1": "1208 Pearl St", "address2": "Unit 4", "city": "Denver",
        "region": "CO", "postal_code": "80203-1122", "country_code": "US", "phone": "+1 720-555-0187"}


def test_the_unit_price_is_taken_as_sent_and_the_lines_add_up_to_the_grand_total() -> None:
    got = parsed(order(0))
    assert [(li.external_id, li.sku, li.quantity, li.unit_price) for li in got.lines] == [
        ("68125940381042", "BOOT-HIKE-42", 1, Decimal("189.00")), ("68125940381043", "SOCK-3PK", 2, Decimal("12.99"))]
    assert (got.total, got.currency) == (Decimal("214.98"), "USD")
    assert sum(li.unit_price * li.quantity for li in got.lines) == got.total


def test_a_partly_shipped_business_order_brings_its_travelling_parcel_and_drops_cancelled_items_and_parcels() -> None:
    got = parsed(order(1))
    assert got.channel_status is OrderStatus.PARTIALLY_SHIPPED and got.tags == ("business",)
    assert [li.sku for li in got.lines] == ["HELM-CYC-M", "JKT-RAIN-L"]  # the cap's quantity went to 0
    assert got.ship_to is not None and got.ship_to.company == "Fischer Werkstatt GmbH"
    # The cancelled package never travels; the pending one has no tracking number and no ship time yet.
    assert [(p.external_id, p.carrier, p.service, p.tracking_number, p.shipped_at, p.line_quantities)
            for p in got.fulfillments] == [
        ("1", "DHL", "DHL Paket", "00340434161094042557", datetime(2026, 11, 20, 16, 38, tzinfo=UTC),
         {"30455116722011": 2})]


def test_a_pending_order_without_prices_is_taken_with_a_zero_total_in_its_marketplace_currency() -> None:
    got = parsed(order(2))
    assert got.financial_status is FinancialStatus.PENDING and got.channel_status is None
    assert (got.total, got.currency) == (Decimal(0), "GBP")
    assert [(li.sku, li.quantity, li.unit_price) for li in got.lines] == [("MUG-CER-12", 3, Decimal(0))]
    assert got.email is None and got.ship_by is None


@pytest.mark.parametrize("word", sorted(STATUS))
def test_every_fulfillment_status_maps_through_the_one_table(word: str) -> None:
    raw = order(0)
    raw["fulfillment"]["fulfillmentStatus"] = word
    got = parsed(raw)
    assert (got.channel_status, got.financial_status) == STATUS[word] == channel_status(word)
    assert (got.cancelled_at is not None) == (STATUS[word][0] is OrderStatus.CANCELLED)


def _broken(change: Any) -> Rejection:
    raw = order(0)
    change(raw)
    result = parse_order(raw)
    assert isinstance(result, Rejection), result
    assert result.raw == raw and result.external_id == "114-3941689-8772232" and "\n" not in result.error
    return result


@pytest.mark.parametrize(("change", "said"), [
    (lambda r: r.pop("fulfillment"), "fulfillment: missing (asked for with includedData=FULFILLMENT)"),
    (lambda r: r["fulfillment"].update(fulfillmentStatus="SHIPPING_SOON"), "unknown status 'SHIPPING_SOON'"),
    (lambda r: r["orderItems"][0].update(quantityOrdered="two"), "orderItems[0].quantityOrdered"),
    (lambda r: r["orderItems"][1]["product"].pop("sellerSku"), "orderItems[1].product.sellerSku: missing"),
    (lambda r: r["proceeds"]["grandTotal"].update(amount="abc"), "proceeds.grandTotal.amount"),
    (lambda r: r.pop("proceeds"), "proceeds.grandTotal: missing"),
    (lambda r: r["orderItems"][0]["product"].pop("price"), "orderItems[0].product.price.unitPrice: missing"),
    (lambda r: r.pop("createdTime"), "createdTime"),
    (lambda r: r.update(packages=[{"packageReferenceId": "9", "trackingNumber": "1Z9", "shipTime": "2026-11-22T10:00:00Z",
                                   "packageItems": [{"orderItemId": "68125940381042", "quantity": "1"}]}]),
     "packages[0].packageItems[0].quantity"),
])
def test_a_broken_order_is_rejected_whole_with_the_path_of_its_first_problem(change: Any, said: str) -> None:
    assert said in _broken(change).error


def test_the_amazon_kind_replays_either_shape_so_letters_kept_under_v0_still_parse() -> None:
    v2026 = amazon.parse_order(order(0))
    v0 = amazon.parse_order(json.loads((FIXTURES / "amazon" / "unshipped_prime.json").read_text(encoding="utf-8")))
    assert isinstance(v2026, ChannelOrder) and v2026.external_id == "114-3941689-8772232"
    assert isinstance(v0, ChannelOrder) and v0.external_id == "113-5829016-3371442"


def test_a_channel_polls_v2026_when_its_settings_say_so_and_v0_when_older_settings_say_nothing() -> None:
    settings = {"marketplace_ids": "ATVPDKIKX0DER"}
    with amazon.connect_channel("https://sp.example.com", ["tok"], settings) as old, \
            amazon.connect_channel("https://sp.example.com", ["tok"], {**settings, "orders_api": "2026-01-01"}) as new:
        assert type(old) is amazon.AmazonOrders and type(new) is AmazonSearchOrders
    with pytest.raises(ValueError):
        amazon.connect_channel("https://sp.example.com", ["tok"], {"orders_api": "v1"})
    assert AmazonOrdersApi.V2026.value == "2026-01-01"


class Recorder:
    """A searchOrders server over MockTransport: two pages of the recorded orders, then whatever ``after`` says."""

    def __init__(self, answers: list[httpx.Response]) -> None:
        self.answers, self.requests = answers, []  # type: list[httpx.Request]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers[len(self.requests) - 1]


def _connector(recorder: Recorder, **options: Any) -> AmazonSearchOrders:
    client = make_client("https://sellingpartnerapi-na.amazon.com", {"x-amz-access-token": "t"},
                         transport=httpx.MockTransport(recorder))
    return AmazonSearchOrders(client, marketplace_ids=["ATVPDKIKX0DER", "A1PA6795UKMFR9"], sleep=lambda s: None,
                              bucket=TokenBucket(100.0, 100), now=lambda: datetime(2026, 11, 22, 4, 0, tzinfo=UTC),
                              **options)


def test_later_pages_repeat_every_parameter_with_the_token_and_only_the_last_page_moves_the_cursor() -> None:
    first, last = page(), page()
    last.pop("pagination")
    last["orders"] = [copy.deepcopy(last["orders"][1])]
    recorder = Recorder([httpx.Response(200, json=first), httpx.Response(200, json=last)])
    with _connector(recorder, page_size=3) as api:
        pages = list(api.orders_since("2026-11-01T00:00:00+00:00"))
    asked = [dict(r.url.params) for r in recorder.requests]
    assert asked[0] == {"lastUpdatedAfter": "2026-11-01T00:00:00Z", "marketplaceIds": "ATVPDKIKX0DER,A1PA6795UKMFR9",
                        "includedData": ",".join(INCLUDED_DATA), "maxResultsPerPage": "3"}
    assert asked[1] == {**asked[0], "paginationToken": first["pagination"]["nextToken"]}
    assert all(r.url.path == "/orders/2026-01-01/orders" for r in recorder.requests)
    # The cursor is two minutes before the newest lastUpdatedTime of the whole listing (on its first page here),
    # given at its end: updates that become searchable late are read again by the next sync.
    assert [len(p.records) for p in pages] == [3, 1] and [p.cursor for p in pages] == [None, "2026-11-22T03:09:47+00:00"]


def test_a_first_sync_starts_first_sync_days_ago_and_an_answer_without_orders_is_a_bad_response() -> None:
    recorder = Recorder([httpx.Response(200, json={"payload": {"Orders": []}})])
    with _connector(recorder, first_sync_days=10) as api, pytest.raises(BadResponse, match="without orders"):
        list(api.orders_since(None))
    assert recorder.requests[0].url.params["lastUpdatedAfter"] == "2026-11-12T04:00:00Z"


def test_a_429_with_amazons_rate_header_waits_one_period_and_the_page_still_arrives() -> None:
    slept: list[float] = []
    throttled = httpx.Response(429, headers={"x-amzn-RateLimit-Limit": "0.5"},
                               json={"errors": [{"code": "QuotaExceeded", "message": "You exceeded your quota."}]})
    done = page()
    done.pop("pagination")
    recorder = Recorder([throttled, httpx.Response(200, json=done, headers={"x-amzn-RateLimit-Limit": "0.0056"})])
    client = make_client("https://sellingpartnerapi-na.amazon.com", {"x-amz-access-token": "t"},
                         transport=httpx.MockTransport(recorder))
    bucket = TokenBucket(100.0, 100)
    with AmazonSearchOrders(client, sleep=slept.append, bucket=bucket) as api:
        pages = list(api.orders_since("2026-11-01T00:00:00+00:00"))
    assert len(pages[0].records) == 3 and len(recorder.requests) == 2
    assert 2.0 in slept  # 1 / 0.5 requests a second
    assert bucket.rate == pytest.approx(0.0056)  # and it now paces at the rate Amazon reported


def _cancelled(raw: dict[str, Any]) -> dict[str, Any]:
    """What Amazon sends once an order is cancelled: the status, every quantity zeroed, no prices."""
    raw["fulfillment"]["fulfillmentStatus"] = "CANCELLED"
    raw.pop("proceeds")
    for item in raw["orderItems"]:
        item["quantityOrdered"] = 0
        item["product"].pop("price")
    raw["lastUpdatedTime"] = "2026-11-21T18:00:00Z"
    return raw


def test_a_cancelled_order_with_every_quantity_zeroed_is_taken_as_a_cancellation_without_lines() -> None:
    got = parsed(_cancelled(order(0)))
    assert got.channel_status is OrderStatus.CANCELLED and got.lines == ()
    assert got.cancelled_at == datetime(2026, 11, 21, 18, 0, tzinfo=UTC) and got.total == 0


def test_an_open_order_without_any_quantity_is_still_rejected() -> None:
    raw = order(0)
    for item in raw["orderItems"]:
        item["quantityOrdered"] = 0
    assert "orderItems: an order needs at least one item" in _broken_raw(raw).error


def _broken_raw(raw: dict[str, Any]) -> Rejection:
    result = parse_order(raw)
    assert isinstance(result, Rejection), result
    return result


def test_a_label_cancelled_package_is_no_parcel_even_with_a_tracking_number() -> None:
    raw = order(1)
    raw["packages"][0]["packageStatus"] = {"status": "SHIPPED", "detailedStatus": "LABEL_CANCELLED"}
    assert parsed(raw).fulfillments == ()


def test_v0_takes_a_cancelled_order_with_zeroed_quantities_the_same_way() -> None:
    raw = json.loads((FIXTURES / "amazon" / "unshipped_prime.json").read_text(encoding="utf-8"))
    raw.update(OrderStatus="Canceled", LastUpdateDate="2026-11-21T18:00:00Z")
    raw.pop("OrderTotal", None)
    for item in raw["OrderItems"]:
        item.update(QuantityOrdered=0)
        item.pop("ItemPrice", None)
    got = amazon.parse_order(raw)
    assert isinstance(got, ChannelOrder) and got.channel_status is OrderStatus.CANCELLED and got.lines == ()


@pytest.fixture
def stopping() -> Any:
    from connectors.amazon_common import STOPPING

    yield STOPPING
    STOPPING.clear()


def test_a_long_quota_wait_sleeps_in_slices_and_stops_when_the_process_does(stopping: Any) -> None:
    from connectors.amazon_common import QuotaWaitStopped

    bucket, slept = TokenBucket(0.0056, 1, clock=lambda: 0.0), []
    bucket.acquire(slept.append)  # the burst: free
    with pytest.raises(QuotaWaitStopped):
        bucket.acquire(lambda s: (slept.append(s), len(slept) == 3 and stopping.set()))
    assert slept == [5.0, 5.0, 5.0]  # 178 s to wait, in slices, and it gave up at the first after the stop


def test_a_listing_stopped_while_waiting_for_the_quota_ends_after_the_pages_it_stored(stopping: Any) -> None:
    recorder = Recorder([httpx.Response(200, json=page())])  # a first page that promises a second
    client = make_client("https://sellingpartnerapi-na.amazon.com", {"x-amz-access-token": "t"},
                         transport=httpx.MockTransport(recorder))
    api = AmazonSearchOrders(client, bucket=TokenBucket(0.0056, 1), sleep=lambda s: stopping.set())
    with api:
        pages = list(api.orders_since("2026-11-01T00:00:00+00:00"))
    assert len(recorder.requests) == 1 and [len(p.records) for p in pages] == [3]
    assert pages[0].cursor is None  # the cursor stays where it was: the next poll reads the listing again


def test_a_429_asking_for_minutes_is_waited_in_the_bucket_in_slices_then_the_call_is_made_again() -> None:
    throttled = httpx.Response(429, headers={"x-amzn-RateLimit-Limit": "0.0056"},
                               json={"errors": [{"code": "QuotaExceeded", "message": "You exceeded your quota."}]})
    done = page()
    done.pop("pagination")
    recorder = Recorder([throttled, httpx.Response(200, json=done)])
    client = make_client("https://sellingpartnerapi-na.amazon.com", {"x-amz-access-token": "t"},
                         transport=httpx.MockTransport(recorder))
    slept: list[float] = []
    clock = [0.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    bucket = TokenBucket(0.0056, 20, clock=lambda: clock[0])
    with AmazonSearchOrders(client, sleep=sleep, bucket=bucket) as api:
        pages = list(api.orders_since("2026-11-01T00:00:00+00:00"))
    assert len(recorder.requests) == 2 and len(pages[0].records) == 3
    assert max(slept) <= 5.0 and sum(slept) == pytest.approx(1 / 0.0056, abs=5.1)  # one period, in slices
