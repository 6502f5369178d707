"""The simulated Shopify shop refunds shipped goods later; polling it opens those returns as RMAs, once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from connectors.shopify import ShopifyRest
from core.enums import ReturnStatus
from core.ingest import IngestResult, apply_page
from core.models import Channel, Order, Return
from sandbox.server import SandboxServer, make_server
from tests.factories import make_channel

TOKEN = "test-token"


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 21, 12, 0, tzinfo=UTC))


@pytest.fixture
def server(clock: Clock) -> Iterator[SandboxServer]:
    started = make_server(seed=7, token=TOKEN, now=clock, orders_per_minute=0.5, backlog=120,
                          bucket_size=10_000).start()
    yield started
    started.stop()


def poll(db, server: SandboxServer, channel: Channel, cursor: str | None) -> tuple[IngestResult, str | None]:  # type: ignore[no-untyped-def]
    total = IngestResult()
    with ShopifyRest.connect(server.url, TOKEN, timeout=5.0, page_size=50, sleep=lambda s: None) as shop:
        for page in shop.orders_since(cursor):
            total += apply_page(db, channel, page)
            cursor = page.cursor or cursor
    return total, cursor


def shop_returns(server: SandboxServer) -> set[tuple[str, str]]:
    """(order id, refund id) of every refund in the shop that sends goods back."""
    return {(str(o["id"]), str(r["id"])) for o in server.world.orders_snapshot() for r in o.get("refunds", [])
            if any(li.get("restock_type") == "return" for li in r["refund_line_items"])}


def desk_returns(db) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    db.commit()
    return [(o, r) for o, r in db.execute(select(Order.external_id, Return.external_id).join(Order)
                                          .where(Return.external_id.is_not(None)))]


def test_polling_the_shop_finds_its_refunds_as_rmas_once(db, server: SandboxServer, clock: Clock) -> None:
    channel = make_channel(db)
    clock.at += timedelta(days=2)  # the backlog ships, and some customers send things back
    _, cursor = poll(db, server, channel, None)
    expected = shop_returns(server)
    assert expected, "the shop refunded nothing: the scenario needs returns"
    assert sorted(desk_returns(db)) == sorted(expected)
    assert {r.status for r in db.scalars(select(Return))} == {ReturnStatus.REQUESTED}
    assert {r.created_by for r in db.scalars(select(Return))} == {"channel:test-shop"}

    _, cursor = poll(db, server, channel, cursor)  # the boundary orders again: nothing new
    assert sorted(desk_returns(db)) == sorted(expected)

    clock.at += timedelta(days=3)  # more refunds on orders the desk already holds
    poll(db, server, channel, cursor)
    later = shop_returns(server)
    assert later > expected
    assert sorted(desk_returns(db)) == sorted(later)  # each once, including the ones polled before
