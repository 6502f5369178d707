# ruff: noqa: F811 - the clock fixture imported from tests.channel_sandbox is redefined as an argument
"""WooCommerce refunds reach the store whole or not at all: one RMA per refund of units, never a partial order."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from connectors.http import BadResponse, ConnectorError, ServerError, make_client
from connectors.woocommerce import REFUND_DETAILS, WooCommerce
from core.ingest import apply_page
from core.models import Channel, DeadLetter, Order, OrderLine, Return, ReturnLine
from core.runs import cursor_of
from sandbox import FaultConfig
from sandbox.server import WOO_KEY, SandboxServer, make_server
from sandbox.woocommerce_api import refunds_of, woo_id
from tests.channel_sandbox import TOKEN, Clock, clock  # noqa: F401 - clock is a fixture
from tests.factories import make_channel

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "woocommerce"
SHOP = "https://shop.test"
ONE_BOTTLE = ("4790", "4805", [("1050", 1)])  # refund 4805 of order 4790: one unit of line 1050


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def refunded_order() -> dict[str, Any]:
    """Order 4790 (two bottles, shipped) as the order list shows it after one refund of units and one of money."""
    return dict(fixture("completed_with_tracking"), refunds=[
        {"id": 4811, "reason": "Goodwill: late delivery", "total": "-0.00"},
        {"id": 4805, "reason": "Dented on arrival", "total": "-24.00"}])


def shop_of(orders: list[dict[str, Any]], refunds: Callable[[], httpx.Response]) -> httpx.MockTransport:
    """A one-page WooCommerce shop whose refunds endpoint answers with ``refunds()``."""
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/refunds"):
            return refunds()
        return httpx.Response(200, json=orders, headers={"X-WP-Total": str(len(orders)), "X-WP-TotalPages": "1"})
    return httpx.MockTransport(handle)


def poll(db, channel: Channel, transport: httpx.BaseTransport) -> None:  # type: ignore[no-untyped-def]
    """One poll as the job does it: each page stored (with its cursor) in its own transaction."""
    api = WooCommerce(make_client(SHOP, transport=transport), max_attempts=3, sleep=lambda s: None)
    for page in api.orders_since(cursor_of(db, channel.id)):
        apply_page(db, channel, page)


def rmas(db) -> list[tuple[str, str, list[tuple[str, int]]]]:  # type: ignore[no-untyped-def]
    """(order external id, refund id, [(order line external id, units)]) of every channel RMA."""
    db.commit()
    out = []
    for rma in db.scalars(select(Return).order_by(Return.id)):
        order = db.scalar(select(Order.external_id).where(Order.id == rma.order_id))
        lines = db.execute(select(OrderLine.external_id, ReturnLine.qty_authorised)
                           .join(OrderLine, OrderLine.id == ReturnLine.order_line_id)
                           .where(ReturnLine.return_id == rma.id).order_by(OrderLine.external_id)).all()
        out.append((order, rma.external_id, [tuple(x) for x in lines]))
    return out


def stored_orders(db) -> set[str]:  # type: ignore[no-untyped-def]
    db.commit()
    return set(db.scalars(select(Order.external_id)))


def test_a_recorded_refund_of_units_becomes_one_rma_with_its_line_and_a_re_poll_adds_nothing(db):
    channel = make_channel(db)
    details = (FIXTURES / "refunds_of_4790.json").read_text(encoding="utf-8")
    shop = shop_of([refunded_order()], lambda: httpx.Response(200, text=details))
    poll(db, channel, shop)
    # The money-only refund 4811 opens nothing; 4805 brings back one of the two bottles (line 1050).
    assert rmas(db) == [ONE_BOTTLE]
    assert "Dented on arrival" in db.scalar(select(Return.note))  # the refund's reason travels with it
    poll(db, channel, shop)
    assert rmas(db) == [ONE_BOTTLE]


@pytest.mark.parametrize(("answer", "error"), [
    (lambda: httpx.Response(503, text="upstream down"), ServerError),
    (lambda: httpx.Response(200, json={"code": "woocommerce_rest_cannot_view"}), BadResponse),
    (lambda: httpx.Response(200, text="<html>maintenance</html>"), BadResponse),
], ids=["5xx-after-retries", "an-object", "not-json"])
def test_a_refunds_answer_that_cannot_be_read_stores_no_order_without_its_refunds(db, answer, error):
    channel = make_channel(db)
    plain = fixture("processing_multiline")
    with pytest.raises(error):
        poll(db, channel, shop_of([plain, refunded_order()], answer))
    # The page never reached the store: no order 4790 without its RMA, no cursor moved past it.
    assert "4790" not in stored_orders(db) and rmas(db) == []
    assert cursor_of(db, channel.id) is None

    details = (FIXTURES / "refunds_of_4790.json").read_text(encoding="utf-8")
    poll(db, channel, shop_of([plain, refunded_order()], lambda: httpx.Response(200, text=details)))
    assert stored_orders(db) == {str(plain["id"]), "4790"}  # the next poll takes the same page again, whole
    assert rmas(db) == [ONE_BOTTLE]


def test_a_refund_with_an_unreadable_line_dead_letters_its_order_whole_and_keeps_the_rest_of_the_page(db):
    channel = make_channel(db)
    plain = fixture("processing_multiline")
    broken = fixture("refunds_of_4790")
    broken[1]["line_items"][0]["quantity"] = "one"
    poll(db, channel, shop_of([plain, refunded_order()], lambda: httpx.Response(200, json=broken)))
    assert stored_orders(db) == {str(plain["id"])}  # 4790 is not stored at all rather than without its return
    assert rmas(db) == []
    letter = db.scalar(select(DeadLetter))
    assert "refund_details[1].line_items[0].quantity" in letter.error
    assert json.loads(letter.raw)[REFUND_DETAILS] == broken  # the replay parses exactly what the poll saw


# --- Against the simulated shop -------------------------------------------------------------------------


class BreakRefunds(httpx.BaseTransport):
    """Passes requests to the sandbox, but answers 503 on every ``.../refunds`` while ``broken``."""

    def __init__(self) -> None:
        self.inner, self.broken, self.refused = httpx.HTTPTransport(), True, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.broken and request.url.path.endswith("/refunds"):
            self.refused += 1
            return httpx.Response(503, text="refunds are down")
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def server(clock: Clock) -> Iterator[SandboxServer]:
    started = make_server(seed=9, token=TOKEN, now=clock, orders_per_minute=0.5, backlog=120,
                          faults=FaultConfig()).start()
    yield started
    started.stop()


def sandbox_poll(db, server: SandboxServer, channel: Channel, transport: httpx.BaseTransport) -> None:  # type: ignore[no-untyped-def]
    basic = base64.b64encode(f"{WOO_KEY}:{TOKEN}".encode()).decode()
    client = make_client(server.url, {"Authorization": f"Basic {basic}"}, transport=transport)
    api = WooCommerce(client, page_size=20, max_attempts=2, sleep=lambda s: None)
    for page in api.orders_since(cursor_of(db, channel.id)):
        apply_page(db, channel, page)


def shop_refunds(server: SandboxServer) -> dict[str, list[tuple[str, list[tuple[str, int]]]]]:
    """Order id -> [(refund id, [(line id, units)])] for every shop order with a refund of units."""
    out: dict[str, list[tuple[str, list[tuple[str, int]]]]] = {}
    for row in server.worlds["woocommerce"].rows():
        if row.malformed:  # dead-lettered by the desk whatever its refunds say
            continue
        for refund in refunds_of(row):
            lines = sorted((next(m["value"] for m in li["meta_data"] if m["key"] == "_refunded_item_id"),
                            -li["quantity"]) for li in refund["line_items"])
            if lines:
                out.setdefault(str(woo_id(row.id)), []).append((str(refund["id"]), lines))
    return {order: sorted(refunds) for order, refunds in out.items()}


def desk_refunds(db) -> dict[str, list[tuple[str, list[tuple[str, int]]]]]:  # type: ignore[no-untyped-def]
    out: dict[str, list[tuple[str, list[tuple[str, int]]]]] = {}
    for order, refund, lines in rmas(db):
        out.setdefault(order, []).append((refund, sorted(lines)))
    return {order: sorted(refunds) for order, refunds in out.items()}


def test_while_the_shops_refunds_endpoint_is_down_no_refunded_order_is_stored_without_its_rmas(db, server, clock):
    channel = make_channel(db)
    clock.at += timedelta(days=2)  # the backlog ships and some of it is refunded
    expected = shop_refunds(server)
    assert expected, "the shop refunded nothing: the scenario needs refunds"
    breaker = BreakRefunds()

    with pytest.raises(ConnectorError):
        sandbox_poll(db, server, channel, breaker)
    assert breaker.refused > 0
    stored = stored_orders(db)
    assert not stored & set(expected)  # at most the pages before the first refunded order
    assert rmas(db) == []

    breaker.broken = False  # the endpoint is back: the next poll resumes from the cursor and completes
    sandbox_poll(db, server, channel, breaker)
    assert desk_refunds(db) == expected  # each refund of units once, with its lines and units
    assert db.scalar(select(func.count()).select_from(DeadLetter)) == 0
    sandbox_poll(db, server, channel, breaker)  # re-polling duplicates nothing
    assert desk_refunds(db) == expected


def test_the_sandbox_fault_knobs_apply_to_the_refunds_endpoint(server, clock):
    clock.at += timedelta(days=2)
    order_id = next(iter(shop_refunds(server)))
    basic = base64.b64encode(f"{WOO_KEY}:{TOKEN}".encode()).decode()
    url = f"{server.url}/wp-json/wc/v3/orders/{order_id}/refunds"
    get = lambda: httpx.get(url, headers={"Authorization": f"Basic {basic}"}, timeout=5)  # noqa: E731
    assert get().status_code == 200
    server.faults.config.rate_5xx = 1.0  # a live knob, as on the sandbox's control endpoint
    assert get().status_code >= 500
    server.faults.config.rate_5xx, server.faults.config.rate_429 = 0.0, 1.0
    refused = get()
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    server.faults.config.rate_429 = 0.0
    assert isinstance(get().json(), list)
