"""The simulated Shopify shop behind GraphQL refunds shipped goods later; polling it opens those returns as RMAs,
once each, the same way the REST connector does (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from connectors.shopify_graphql import ShopifyGraphql
from core.enums import ReturnStatus
from core.ingest import IngestResult, apply_page
from core.models import Channel, Order, OrderLine, Return, ReturnLine
from sandbox.server import SandboxServer, make_server
from tests.factories import make_channel
from tests.integration.test_shopify_refund_sandbox import TOKEN, Clock, clock  # noqa: F401 - clock is a fixture


@pytest.fixture
def server(clock: Clock) -> Iterator[SandboxServer]:  # noqa: F811
    started = make_server(seed=7, token=TOKEN, now=clock, orders_per_minute=0.5, backlog=120,
                          graphql_bucket=(100_000.0, 100_000.0)).start()
    yield started
    started.stop()


def poll(db, server: SandboxServer, channel: Channel, cursor: str | None) -> tuple[IngestResult, str | None]:  # type: ignore[no-untyped-def]
    total = IngestResult()
    with ShopifyGraphql.connect(server.url, TOKEN, timeout=5.0, page_size=50, sleep=lambda s: None) as shop:
        for page in shop.orders_since(cursor):
            total += apply_page(db, channel, page)
            cursor = page.cursor or cursor
    return total, cursor


def shop_returns(server: SandboxServer) -> dict[tuple[str, str], dict[str, int]]:
    """(order id, refund id) -> line id -> units, of every refund in the GraphQL shop that sends goods back."""
    out: dict[tuple[str, str], dict[str, int]] = {}
    for o in server.worlds["shopify_graphql"].orders_snapshot():
        for r in o.get("refunds", []):
            units = {str(li["line_item_id"]): li["quantity"] for li in r["refund_line_items"]
                     if li.get("restock_type") == "return"}
            if units:
                out[(str(o["id"]), str(r["id"]))] = units
    return out


def desk_returns(db) -> dict[tuple[str, str], dict[str, int]]:  # type: ignore[no-untyped-def]
    db.commit()
    out: dict[tuple[str, str], dict[str, int]] = {}
    for order, rma, line, qty in db.execute(
            select(Order.external_id, Return.external_id, OrderLine.external_id, ReturnLine.qty_authorised)
            .join(Return, Return.order_id == Order.id).join(ReturnLine, ReturnLine.return_id == Return.id)
            .join(OrderLine, OrderLine.id == ReturnLine.order_line_id).where(Return.external_id.is_not(None))):
        out.setdefault((order, rma), {})[line] = qty
    return out


def test_polling_the_graphql_shop_finds_its_refunds_as_rmas_once(db, server: SandboxServer, clock: Clock) -> None:  # noqa: F811
    channel = make_channel(db)
    clock.at += timedelta(days=2)  # the backlog ships, and some customers send things back
    _, cursor = poll(db, server, channel, None)
    expected = shop_returns(server)
    assert expected, "the shop refunded nothing: the scenario needs returns"
    assert desk_returns(db) == expected
    assert {r.status for r in db.scalars(select(Return))} == {ReturnStatus.REQUESTED}

    _, cursor = poll(db, server, channel, cursor)  # the boundary orders again: nothing new
    assert desk_returns(db) == expected

    clock.at += timedelta(days=3)  # more refunds on orders the desk already holds
    poll(db, server, channel, cursor)
    later = shop_returns(server)
    assert later.keys() > expected.keys()
    assert desk_returns(db) == later  # each once, including the ones polled before
