# ruff: noqa: F811 - the clock fixture imported from tests.channel_sandbox is redefined as an argument
"""The simulated WooCommerce shop refunds shipped goods later; polling it opens those returns as RMAs, once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from connectors.woocommerce import WooCommerce
from core.enums import ReturnStatus
from core.ingest import IngestResult, apply_page
from core.models import Channel, Order, OrderLine, Return, ReturnLine
from sandbox import FaultConfig
from sandbox.server import WOO_KEY, SandboxServer, make_server
from sandbox.woocommerce_api import refunds_of, woo_id
from tests.channel_sandbox import TOKEN, Clock, clock  # noqa: F401 - clock is a fixture
from tests.factories import make_channel


@pytest.fixture
def server(clock: Clock) -> Iterator[SandboxServer]:
    started = make_server(seed=9, token=TOKEN, now=clock, orders_per_minute=0.5, backlog=120,
                          faults=FaultConfig(rate_429=0.1, rate_5xx=0.05, retry_after_s=0.01)).start()
    yield started
    started.stop()


def poll(db, server: SandboxServer, channel: Channel, cursor: str | None) -> tuple[IngestResult, str | None]:  # type: ignore[no-untyped-def]
    total = IngestResult()
    with WooCommerce.connect(server.url, WOO_KEY, TOKEN, timeout=5.0, page_size=50, sleep=lambda s: None) as shop:
        for page in shop.orders_since(cursor):
            total += apply_page(db, channel, page)
            cursor = page.cursor or cursor
    return total, cursor


def shop_returns(server: SandboxServer) -> dict[tuple[str, str], dict[str, int]]:
    """(order id, refund id) -> {order line id: units} of every refund of units in the WooCommerce shop."""
    out = {}
    for row in server.worlds["woocommerce"].rows():
        if row.malformed:
            continue
        for refund in refunds_of(row):
            units = {next(m["value"] for m in li["meta_data"] if m["key"] == "_refunded_item_id"): -li["quantity"]
                     for li in refund["line_items"]}
            out[(str(woo_id(row.id)), str(refund["id"]))] = units
    return out


def desk_returns(db) -> dict[tuple[str, str], dict[str, int]]:  # type: ignore[no-untyped-def]
    db.commit()
    out: dict[tuple[str, str], dict[str, int]] = {}
    for order, rma, line, units in db.execute(
            select(Order.external_id, Return.external_id, ReturnLine.order_line_id, ReturnLine.qty_authorised)
            .join(Order, Order.id == Return.order_id).join(ReturnLine, ReturnLine.return_id == Return.id)
            .where(Return.external_id.is_not(None))):
        ext = db.scalar(select(OrderLine.external_id).where(OrderLine.id == line))
        out.setdefault((order, rma), {})[ext] = units
    return out


def test_polling_the_woocommerce_shop_opens_its_refunds_as_rmas_once(db, server: SandboxServer, clock: Clock) -> None:
    channel = make_channel(db)
    clock.at += timedelta(days=2)  # the backlog ships, and some customers send things back
    _, cursor = poll(db, server, channel, None)
    expected = shop_returns(server)
    assert expected, "the shop refunded nothing: the scenario needs returns"
    assert desk_returns(db) == expected  # the right orders, refunds, lines and units
    assert {r.status for r in db.scalars(select(Return))} == {ReturnStatus.REQUESTED}

    _, cursor = poll(db, server, channel, cursor)  # the boundary orders again: nothing new
    assert desk_returns(db) == expected

    clock.at += timedelta(days=3)  # more refunds on orders the desk already holds
    poll(db, server, channel, cursor)
    later = shop_returns(server)
    assert set(later) > set(expected)
    assert desk_returns(db) == later  # each once, including the ones polled before
    assert server.stats()["sent_429"] + server.stats()["sent_5xx"] > 0  # and through the faults
