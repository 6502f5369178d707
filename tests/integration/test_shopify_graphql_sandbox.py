# ruff: noqa: F811 - pytest fixtures imported from tests.channel_sandbox are redefined as arguments
"""The real Shopify GraphQL connector against the sandbox over HTTP on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from connectors.schemas import Page
from connectors.shopify_graphql import ORDERS_QUERY, ShopifyGraphql
from sandbox import FaultConfig
from sandbox.server import SandboxServer
from sandbox.shopify_graphql_api import served
from tests.channel_sandbox import (  # noqa: F401 - clock and sandbox are fixtures
    TOKEN,
    Clock,
    assert_cursors_only_move_forward,
    clock,
    external_ids,
    sandbox,
    utc,
)

GRAPHQL = "/admin/api/2025-01/graphql.json"


def graphql(server: SandboxServer, **options: Any) -> ShopifyGraphql:
    options = {"page_size": 25, "sleep": lambda s: None, **options}
    return ShopifyGraphql.connect(server.url, TOKEN, timeout=5.0, **options)


def sync(server: SandboxServer, cursor: str | None = None, **options: Any) -> list[Page]:
    with graphql(server, **options) as api:
        return list(api.orders_since(cursor))


def shop(server: SandboxServer) -> dict[str, dict[str, Any]]:
    return {str(r.id): served(r) for r in server.worlds["shopify_graphql"].rows()}


def test_cursor_pages_yield_every_order_once_oldest_update_first(sandbox: Callable[..., SandboxServer]) -> None:
    server = sandbox()
    pages = sync(server)
    orders = shop(server)
    assert len(pages) == -(-len(orders) // 25) > 1
    fetched = external_ids(pages)
    assert sorted(fetched) == sorted(orders)
    updated = [o.updated_at for p in pages for o in p.records]
    assert updated == sorted(updated)  # sortKey: UPDATED_AT
    assert_cursors_only_move_forward(pages)
    assert utc(pages[-1].cursor or "") == max(utc(o["updatedAt"]) for o in orders.values())


def test_a_resumed_sync_filters_with_updated_at_and_gets_what_changed(
    sandbox: Callable[..., SandboxServer], clock: Clock
) -> None:
    server = sandbox(graphql_bucket=(20_000.0, 5_000.0))  # this test is about filters, not throttling
    cursor = sync(server)[-1].cursor
    before = {k: o["updatedAt"] for k, o in shop(server).items()}
    clock.advance(hours=2)
    after = shop(server)
    changed = {k for k, o in after.items() if before.get(k) != o["updatedAt"]}
    fetched = set(external_ids(sync(server, cursor)))
    assert changed and changed <= fetched and len(fetched) < len(after)


def test_a_drained_cost_bucket_answers_throttled_and_the_sync_waits_and_recovers(
    sandbox: Callable[..., SandboxServer],
) -> None:
    server = sandbox(graphql_bucket=(300.0, 400.0), backlog=80, orders_per_minute=0)  # 127 points a page of 25
    with httpx.Client(base_url=server.url, headers={"X-Shopify-Access-Token": TOKEN}) as client:
        drain = client.post(GRAPHQL, json={"query": ORDERS_QUERY, "variables": {"first": 50}}).json()
        assert drain["extensions"]["cost"]["requestedQueryCost"] == 252
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    with graphql(server, sleep=sleep) as api:
        fetched = [o.external_id for p in api.orders_since(None) for o in p.records]
        cost = api.last_cost
    assert sorted(fetched) == sorted(shop(server))
    assert waits and all(0 < w <= 1.0 for w in waits)  # THROTTLED at first, then paced by extensions.cost
    assert cost is not None and cost["throttleStatus"]["maximumAvailable"] == 300.0


def test_a_throttled_answer_looks_like_shopifys(sandbox: Callable[..., SandboxServer]) -> None:
    server = sandbox(graphql_bucket=(300.0, 1.0))
    with httpx.Client(base_url=server.url, headers={"X-Shopify-Access-Token": TOKEN}) as client:
        answers = [client.post(GRAPHQL, json={"query": ORDERS_QUERY, "variables": {"first": 50}}) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]
    body = answers[1].json()
    assert body["errors"][0]["extensions"]["code"] == "THROTTLED" and "data" not in body
    status = body["extensions"]["cost"]["throttleStatus"]
    assert status["currentlyAvailable"] < 252 and status["restoreRate"] == 1.0


def test_429s_5xx_and_malformed_nodes_are_survived(sandbox: Callable[..., SandboxServer]) -> None:
    server = sandbox(faults=FaultConfig(rate_429=0.2, rate_5xx=0.15, retry_after_s=0.01, malformed_rate=0.1))
    pages = sync(server, page_size=10, max_attempts=12, sleep=time.sleep)
    orders = shop(server)
    broken = {str(r.id) for r in server.worlds["shopify_graphql"].rows() if r.malformed}
    rejections = [r for p in pages for r in p.rejected]
    assert broken and {r.external_id for r in rejections} == broken
    assert all(r.raw == orders[r.external_id or ""] for r in rejections)
    assert set(external_ids(pages)) == set(orders) - broken
    stats = server.stats()
    assert stats["sent_429"] > 0 and stats["sent_5xx"] > 0
