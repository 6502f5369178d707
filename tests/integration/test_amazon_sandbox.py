# ruff: noqa: F811 - pytest fixtures imported from tests.channel_sandbox are redefined as arguments
"""The real Amazon SP-API connector against the sandbox over HTTP on 127.0.0.1 (and into the store)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from connectors.amazon import MARKETPLACE_CURRENCY, AmazonOrders, TokenBucket
from connectors.amazon_common import LISTING_OVERLAP
from connectors.http import AuthError
from connectors.schemas import Page
from core.channels import add_channel
from core.db import engine_for, new_session
from core.enums import ChannelKind
from core.models import Order
from jobs.poll import poll_channel
from sandbox import FaultConfig
from sandbox.amazon_api import MARKETPLACES, amazon_id, served
from sandbox.server import SandboxServer
from tests.channel_sandbox import (  # noqa: F401 - clock and sandbox are fixtures
    TOKEN,
    Clock,
    assert_cursors_only_move_forward,
    clock,
    external_ids,
    sandbox,
    utc,
)

FAST = {"getOrders": (50.0, 50), "getOrderItems": (200.0, 200)}
EVERYWHERE = list(MARKETPLACE_CURRENCY)


def amazon(server: SandboxServer, **options: Any) -> AmazonOrders:
    options = {"marketplace_ids": EVERYWHERE, "page_size": 20, "first_sync_days": 3650,
               "sleep": lambda s: None, **options}
    return AmazonOrders.connect(server.url, options.pop("token", TOKEN), timeout=5.0, **options)


def sync(server: SandboxServer, cursor: str | None = None, **options: Any) -> list[Page]:
    with amazon(server, **options) as api:
        return list(api.orders_since(cursor))


def shop(server: SandboxServer, market: str | None = None) -> dict[str, dict[str, Any]]:
    rows = server.worlds["amazon"].rows()
    return {amazon_id(r.id): served(r) for r in rows if market is None or served(r)["MarketplaceId"] == market}


def test_paging_yields_every_order_with_all_its_items_and_a_cursor_only_at_the_end(
    sandbox: Callable[..., SandboxServer],
) -> None:
    server = sandbox(amazon_rates=FAST, amazon_items_page_size=1, backlog=50)  # every extra item is one more NextToken
    pages = sync(server)
    orders = shop(server)
    assert len(pages) == -(-len(orders) // 20) > 1
    fetched = external_ids(pages)
    assert sorted(fetched) == sorted(orders)
    by_id = {o.external_id: o for p in pages for o in p.records}
    assert all([li.sku for li in by_id[k].lines] == [i["SellerSKU"] for i in o["OrderItems"]] for k, o in orders.items())
    assert [p.cursor is None for p in pages] == [True] * (len(pages) - 1) + [False]
    # Two minutes before the newest update: late-searchable updates are read again next time.
    assert utc(pages[-1].cursor or "") == max(utc(o["LastUpdateDate"]) for o in orders.values()) - LISTING_OVERLAP


def test_only_the_marketplaces_asked_for_are_fetched(sandbox: Callable[..., SandboxServer]) -> None:
    server = sandbox(amazon_rates=FAST, backlog=50)
    us = MARKETPLACES["US"]
    fetched = set(external_ids(sync(server, marketplace_ids=[us])))
    assert fetched == set(shop(server, us)) and 0 < len(fetched) < len(shop(server))


def test_a_resumed_sync_fetches_what_changed_since_the_cursor(
    sandbox: Callable[..., SandboxServer], clock: Clock
) -> None:
    server = sandbox(amazon_rates=FAST, backlog=50, orders_per_minute=0.2)
    cursor = sync(server)[-1].cursor
    before = {k: o["LastUpdateDate"] for k, o in shop(server).items()}
    clock.advance(hours=4)
    after = shop(server)
    changed = {k for k, o in after.items() if before.get(k) != o["LastUpdateDate"]}
    assert changed
    pages = sync(server, cursor)
    assert changed <= set(external_ids(pages)) and len(external_ids(pages)) < len(after)
    assert_cursors_only_move_forward(pages)


def test_the_quota_is_respected_429s_wait_the_reported_rate_and_nothing_is_lost(
    sandbox: Callable[..., SandboxServer],
) -> None:
    # The sandbox's getOrderItems allows a burst of 2 at 10/s; the client starts with Amazon's burst of 30.
    server = sandbox(amazon_rates={"getOrders": (50.0, 50), "getOrderItems": (10.0, 2)}, backlog=15,
                     orders_per_minute=0)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    buckets = {"getOrders": TokenBucket(50.0, 50), "getOrderItems": TokenBucket(0.5, 30)}
    fetched = external_ids(sync(server, sleep=sleep, buckets=buckets, max_attempts=10))
    assert sorted(fetched) == sorted(shop(server))
    sent = server.stats()["sent_429"]
    assert sent > 0
    assert waits.count(0.1) >= sent  # each QuotaExceeded waited 1 / 10 s, as x-amzn-RateLimit-Limit said
    assert buckets["getOrderItems"].rate == 10.0  # and the client now paces at the reported rate


def test_fault_knobs_429_with_retry_after_and_5xx_are_survived(sandbox: Callable[..., SandboxServer]) -> None:
    server = sandbox(amazon_rates=FAST, backlog=40, faults=FaultConfig(rate_429=0.2, rate_5xx=0.1, retry_after_s=0.01))
    fetched = external_ids(sync(server, max_attempts=12, sleep=time.sleep))
    assert sorted(fetched) == sorted(shop(server))
    stats = server.stats()
    assert stats["sent_429"] > 0 and stats["sent_5xx"] > 0


def test_malformed_orders_come_back_as_rejections_with_their_items(sandbox: Callable[..., SandboxServer]) -> None:
    server = sandbox(amazon_rates=FAST, backlog=60, faults=FaultConfig(malformed_rate=0.1))
    pages = sync(server)
    orders = shop(server)
    broken = {amazon_id(r.id) for r in server.worlds["amazon"].rows() if r.malformed}
    rejections = [r for p in pages for r in p.rejected]
    assert broken and {r.external_id for r in rejections} == broken
    assert all(r.raw == orders[r.external_id or ""] for r in rejections)  # order and items, whole
    assert set(external_ids(pages)) == set(orders) - broken


def test_a_wrong_token_is_refused_and_a_bad_request_is_not_retried(sandbox: Callable[..., SandboxServer]) -> None:
    server = sandbox(amazon_rates=FAST)
    with pytest.raises(AuthError, match="403"):
        sync(server, token="Atza|wrong")
    with httpx.Client(base_url=server.url, headers={"x-amz-access-token": TOKEN}) as client:
        neither = client.get("/orders/v0/orders", params={"MarketplaceIds": MARKETPLACES["US"]})
        assert neither.status_code == 400 and neither.json()["errors"][0]["code"] == "InvalidInput"
        assert neither.headers["x-amzn-RateLimit-Limit"] == "50"


def test_latest_ship_date_becomes_the_stored_ship_by(
    db_url: str, sandbox: Callable[..., SandboxServer], monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = sandbox(amazon_rates=FAST, orders_per_minute=0, backlog=40)
    monkeypatch.setenv("OPSDESK_DATABASE_URL", db_url)
    monkeypatch.setenv("T_AMAZON_TOKEN", TOKEN)
    with new_session(engine_for(db_url)) as session:
        add_channel(session, "amzn", kind=ChannelKind.AMAZON, base_url=server.url, token_env="T_AMAZON_TOKEN",
                    settings={"orders_api": "v0", "marketplace_ids": EVERYWHERE, "first_sync_days": 3650},
                    sla_policy={"handling_days": 5, "cutoff": "09:00", "timezone": "UTC"})
    report = poll_channel("amzn")
    assert report.error is None and report.result.written == len(shop(server))
    with new_session(engine_for(db_url)) as session:
        stored = {o.external_id: o for o in session.scalars(select(Order))}
    for ext, raw in shop(server).items():
        order = stored[ext]
        assert order.ship_by_source == "channel"
        assert utc(order.ship_by.isoformat() if order.ship_by.tzinfo else order.ship_by.isoformat() + "Z") == utc(
            raw["LatestShipDate"])
