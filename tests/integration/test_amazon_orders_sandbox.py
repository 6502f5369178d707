# ruff: noqa: F811 - pytest fixtures imported from tests.channel_sandbox are redefined as arguments
"""The Amazon Orders v2026-01-01 connector against the sandbox over HTTP on 127.0.0.1, and into the store."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from connectors.amazon_common import LISTING_OVERLAP, MARKETPLACE_CURRENCY, TokenBucket
from connectors.amazon_orders import INCLUDED_DATA, AmazonSearchOrders
from connectors.schemas import Page
from core.channels import add_channel
from core.db import engine_for, new_session
from core.enums import ChannelKind, OrderStatus
from core.models import Order, OrderLine, Shipment, ShipmentLine
from jobs.poll import poll_channel
from sandbox import FaultConfig
from sandbox.amazon_api import MARKETPLACES, amazon_id
from sandbox.amazon_orders_api import served
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

FAST = {"searchOrders": (100.0, 100)}
EVERYWHERE = list(MARKETPLACE_CURRENCY)
ALL = frozenset(INCLUDED_DATA)


def connector(server: SandboxServer, **options: Any) -> AmazonSearchOrders:
    options = {"marketplace_ids": EVERYWHERE, "first_sync_days": 3650, "sleep": lambda s: None, **options}
    return AmazonSearchOrders.connect(server.url, TOKEN, timeout=5.0, **options)


def sync(server: SandboxServer, cursor: str | None = None, **options: Any) -> list[Page]:
    with connector(server, **options) as api:
        return list(api.orders_since(cursor))


def shop(server: SandboxServer, market: str | None = None) -> dict[str, dict[str, Any]]:
    rows = server.worlds["amazon"].rows()
    return {amazon_id(r.id): served(r, ALL) for r in rows
            if market is None or served(r, ALL)["salesChannel"]["marketplaceId"] == market}


def test_a_full_sync_is_one_call_per_page_of_100_orders_with_every_item_and_no_call_per_order(
    sandbox: Callable[..., SandboxServer],
) -> None:
    server = sandbox(amazon_rates=FAST, backlog=230, orders_per_minute=0)
    before = server.stats()["requests"]
    pages = sync(server)
    orders = shop(server)
    assert len(orders) > 200 and len(pages) == -(-len(orders) // 100)
    assert server.stats()["requests"] - before == len(pages)  # v0 needed one more call per order
    assert sorted(external_ids(pages)) == sorted(orders)
    by_id = {o.external_id: o for p in pages for o in p.records}
    assert all([li.sku for li in by_id[k].lines] == [i["product"]["sellerSku"] for i in o["orderItems"]
                                                      if i["quantityOrdered"]] for k, o in orders.items())
    assert [p.cursor is None for p in pages] == [True] * (len(pages) - 1) + [False]
    assert utc(pages[-1].cursor or "") == max(utc(o["lastUpdatedTime"]) for o in orders.values()) - LISTING_OVERLAP


def test_only_the_marketplaces_asked_for_are_fetched(sandbox: Callable[..., SandboxServer]) -> None:
    server = sandbox(amazon_rates=FAST, backlog=60, orders_per_minute=0)
    de = MARKETPLACES["DE"]
    fetched = set(external_ids(sync(server, marketplace_ids=[de], page_size=7)))
    assert fetched == set(shop(server, de)) and 0 < len(fetched) < len(shop(server))


def test_a_resumed_sync_fetches_what_changed_since_the_cursor(sandbox: Callable[..., SandboxServer], clock: Clock) -> None:
    server = sandbox(amazon_rates=FAST, backlog=60, orders_per_minute=0.2)
    cursor = sync(server, page_size=25)[-1].cursor
    before = {k: o["lastUpdatedTime"] for k, o in shop(server).items()}
    clock.advance(hours=4)
    after = shop(server)
    changed = {k for k, o in after.items() if before.get(k) != o["lastUpdatedTime"]}
    assert changed
    pages = sync(server, cursor, page_size=25)
    assert changed <= set(external_ids(pages)) and len(external_ids(pages)) < len(after)
    assert_cursors_only_move_forward(pages)


def test_the_sandbox_refuses_a_page_token_asked_with_other_parameters_as_amazon_does(
    sandbox: Callable[..., SandboxServer],
) -> None:
    server = sandbox(amazon_rates=FAST, backlog=30, orders_per_minute=0)
    query = {"lastUpdatedAfter": "2020-01-01T00:00:00Z", "marketplaceIds": ",".join(EVERYWHERE), "maxResultsPerPage": 5}
    headers = {"x-amz-access-token": TOKEN}
    with httpx.Client(base_url=server.url, headers=headers, timeout=5) as client:
        first = client.get("/orders/2026-01-01/orders", params=query).json()
        token = first["pagination"]["nextToken"]
        moved = client.get("/orders/2026-01-01/orders", params={**query, "lastUpdatedAfter": "2021-01-01T00:00:00Z",
                                                                  "paginationToken": token})
        resized = client.get("/orders/2026-01-01/orders", params={**query, "maxResultsPerPage": 50,
                                                                    "paginationToken": token})
    assert moved.status_code == 400 and moved.json()["errors"][0]["code"] == "InvalidInput"
    assert resized.status_code == 200 and first["orders"] and "buyer" not in first["orders"][0]  # none asked for


def test_quota_429s_wait_the_reported_rate_and_nothing_is_lost(sandbox: Callable[..., SandboxServer]) -> None:
    server = sandbox(amazon_rates={"searchOrders": (20.0, 1)}, backlog=80, orders_per_minute=0)
    bucket = TokenBucket(100.0, 100)  # the client believes it may burst; the sandbox says otherwise
    slept: list[float] = []

    def nap(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    pages = sync(server, page_size=10, bucket=bucket, sleep=nap)
    assert sorted(external_ids(pages)) == sorted(shop(server))
    assert server.stats()["sent_429"] >= 1 and slept and bucket.rate == 20.0


def test_with_429s_5xx_and_broken_records_every_good_order_arrives_and_every_broken_one_is_rejected(
    sandbox: Callable[..., SandboxServer],
) -> None:
    faults = FaultConfig(rate_429=0.2, rate_5xx=0.15, retry_after_s=0.01, malformed_rate=0.1)
    server = sandbox(amazon_rates=FAST, backlog=120, orders_per_minute=0, faults=faults)
    pages = sync(server, page_size=20, max_attempts=12)
    rows = server.worlds["amazon"].rows()
    rejected = {r.external_id for p in pages for r in p.rejected}
    assert sorted(external_ids(pages)) == sorted(amazon_id(r.id) for r in rows if not r.malformed)
    assert rejected == {amazon_id(r.id) for r in rows if r.malformed} != set()
    assert server.stats()["sent_429"] + server.stats()["sent_5xx"] > 0


def test_parcels_amazon_knows_become_shipments_with_their_lines_and_a_second_poll_adds_nothing(
    db_url: str, sandbox: Callable[..., SandboxServer], monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = sandbox(amazon_rates=FAST, backlog=150, orders_per_minute=0)
    monkeypatch.setenv("OPSDESK_DATABASE_URL", db_url)
    monkeypatch.setenv("T_AMAZON_TOKEN", TOKEN)
    with new_session(engine_for(db_url)) as db:
        add_channel(db, "amzn", kind=ChannelKind.AMAZON, base_url=server.url, token_env="T_AMAZON_TOKEN",
                    settings={"orders_api": "2026-01-01", "marketplace_ids": EVERYWHERE, "first_sync_days": 3650})
    first = poll_channel("amzn")
    assert first.error is None and first.result.written == len(server.worlds["amazon"].rows())
    assert poll_channel("amzn").result.written == 0
    parcels = {p["trackingNumber"]: (o["orderId"], p["carrier"], {i["orderItemId"]: i["quantity"] for i in p["packageItems"]})
               for o in shop(server).values() for p in o.get("packages", []) if p.get("trackingNumber")}
    assert parcels
    with new_session(engine_for(db_url)) as db:
        stored = db.execute(select(Shipment.tracking_number, Order.external_id, Shipment.carrier, OrderLine.external_id,
                                   ShipmentLine.quantity)
                            .join(Order, Order.id == Shipment.order_id)
                            .join(ShipmentLine, ShipmentLine.shipment_id == Shipment.id)
                            .join(OrderLine, OrderLine.id == ShipmentLine.order_line_id)).all()
        shipped_orders = set(db.scalars(select(Order.external_id).where(
            Order.status.in_([OrderStatus.SHIPPED, OrderStatus.PARTIALLY_SHIPPED]))))
    got: dict[str, tuple[str, str, dict[str, int]]] = {}
    for tracking, order_id, carrier, line, quantity in stored:
        got.setdefault(tracking, (order_id, carrier, {}))[2][line] = quantity
    assert got == parcels
    assert {order_id for order_id, *_ in parcels.values()} <= shipped_orders


def test_an_order_amazon_cancels_with_zeroed_quantities_is_cancelled_on_the_desk_and_keeps_its_lines(db) -> None:  # type: ignore[no-untyped-def]
    from core.channels import get_channel
    from core.ingest import apply_page
    from tests.unit.test_amazon_orders_parse import _cancelled, order, parsed

    add_channel(db, "amzn", kind=ChannelKind.AMAZON, base_url="http://127.0.0.1:9", token_env=None)
    channel = get_channel(db, "amzn")
    apply_page(db, channel, Page(records=(parsed(order(0)),)))
    result = apply_page(db, channel, Page(records=(parsed(_cancelled(order(0))),)))
    assert (result.written, result.rejected) == (1, 0)
    db.expire_all()
    stored = db.scalar(select(Order).where(Order.external_id == "114-3941689-8772232"))
    assert stored.status is OrderStatus.CANCELLED
    assert sorted((li.sku, li.quantity) for li in stored.lines) == [("BOOT-HIKE-42", 1), ("SOCK-3PK", 2)]


def test_a_channel_whose_settings_name_an_unknown_orders_api_fails_its_poll_in_one_line(
    sqlite_url: str, sandbox: Callable[..., SandboxServer], monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = sandbox(amazon_rates=FAST, backlog=5, orders_per_minute=0)
    monkeypatch.setenv("OPSDESK_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("T_AMAZON_TOKEN", TOKEN)
    with new_session(engine_for(sqlite_url)) as db:
        channel = add_channel(db, "amzn", kind=ChannelKind.AMAZON, base_url=server.url, token_env="T_AMAZON_TOKEN")
        channel.settings = {"orders_api": "2099-01-01"}  # written past core's check, as an old script might
        db.commit()
    report = poll_channel("amzn", respect_breaker=False)
    assert report.error is not None and "\n" not in report.error
    assert "settings.orders_api '2099-01-01' is not one of 2026-01-01, v0" in report.error


def test_an_order_first_seen_already_cancelled_with_zeroed_quantities_is_stored_cancelled_without_lines(db) -> None:  # type: ignore[no-untyped-def]
    from core.channels import get_channel
    from core.ingest import apply_page
    from tests.unit.test_amazon_orders_parse import _cancelled, order, parsed

    add_channel(db, "amzn", kind=ChannelKind.AMAZON, base_url="http://127.0.0.1:9", token_env=None)
    result = apply_page(db, get_channel(db, "amzn"), Page(records=(parsed(_cancelled(order(1))),)))
    assert (result.written, result.rejected) == (1, 0)
    stored = db.scalar(select(Order).where(Order.external_id == "205-7713020-1180344"))
    assert stored.status is OrderStatus.CANCELLED and not stored.is_open and stored.lines == []


def test_sigterm_stops_a_worker_waiting_minutes_for_amazons_quota_at_once_keeping_what_it_stored(
    sqlite_url: str, sandbox: Callable[..., SandboxServer], tmp_path: Any,
) -> None:
    import os
    import signal
    import subprocess
    import sys

    from tests.integration.test_worker import ROOT, _wait

    # Amazon's real searchOrders quota (a call every 178 s after the burst), with a burst of one: the second page waits.
    server = sandbox(amazon_rates={"searchOrders": (0.0056, 1)}, backlog=150, orders_per_minute=0)
    with new_session(engine_for(sqlite_url)) as db:
        add_channel(db, "amzn", kind=ChannelKind.AMAZON, base_url=server.url, token_env="T_AMAZON_TOKEN",
                    settings={"marketplace_ids": EVERYWHERE, "first_sync_days": 3650})
    log = tmp_path / "worker.log"
    env = {**os.environ, "OPSDESK_DATABASE_URL": sqlite_url, "T_AMAZON_TOKEN": TOKEN, "OPSDESK_LOG_LEVEL": "INFO"}
    worker = subprocess.Popen([sys.executable, "-m", "jobs.cli", "worker"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                              stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        def stored() -> int:
            with new_session(engine_for(sqlite_url)) as db:
                return len(db.scalars(select(Order.id)).all())

        assert _wait(lambda: stored() == 100, 60), log.read_text()  # the first page, then the quota wait
        time.sleep(1)
        began = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0, log.read_text()
        assert time.monotonic() - began < 15  # not the 178 s the quota asks for
        assert stored() == 100 and "worker stopped" in log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
