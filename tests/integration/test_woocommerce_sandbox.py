# ruff: noqa: F811 - pytest fixtures imported from tests.channel_sandbox are redefined as arguments
"""The real WooCommerce connector against the sandbox over HTTP on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from connectors.http import AuthError
from connectors.schemas import Page
from connectors.woocommerce import WooCommerce
from sandbox import FaultConfig
from sandbox.server import WOO_KEY, SandboxServer
from sandbox.woocommerce_api import served, woo_id
from tests.channel_sandbox import (  # noqa: F401 - fixtures
    TOKEN,
    Clock,
    assert_cursors_only_move_forward,
    clock,
    external_ids,
    sandbox,
    utc,
)


def woo(server: SandboxServer, **options: Any) -> WooCommerce:
    options = {"page_size": 20, "sleep": lambda s: None, **options}
    return WooCommerce.connect(server.url, WOO_KEY, options.pop("secret", TOKEN), timeout=5.0, **options)


def sync(server: SandboxServer, cursor: str | None = None, **options: Any) -> list[Page]:
    with woo(server, **options) as api:
        return list(api.orders_since(cursor))


def shop(server: SandboxServer) -> dict[str, dict[str, Any]]:
    """The WooCommerce shop's orders as served, by external id."""
    return {str(woo_id(r.id)): served(r) for r in server.worlds["woocommerce"].rows()}


def test_paging_yields_every_order_of_the_shop_exactly_once(sandbox: Callable[..., SandboxServer]) -> None:
    server = sandbox()
    pages = sync(server)
    orders = shop(server)
    assert len(pages) >= len(orders) // 20 > 1
    fetched = external_ids(pages)
    assert len(fetched) == len(set(fetched))
    assert set(fetched) == set(orders)
    assert_cursors_only_move_forward(pages)
    assert utc(pages[-1].cursor or "") == max(utc(o["date_modified_gmt"] + "Z") for o in orders.values())


def test_the_woocommerce_shop_is_not_the_shopify_shop(sandbox: Callable[..., SandboxServer]) -> None:
    server = sandbox()
    woo_emails = {o.email for p in sync(server) for o in p.records}
    shopify_emails = {r.data["email"] for r in server.world.rows()}
    assert len(woo_emails & shopify_emails) < len(woo_emails) / 4  # its own stream of customers


def test_a_resumed_sync_fetches_only_what_changed_since_the_cursor(
    sandbox: Callable[..., SandboxServer], clock: Clock
) -> None:
    server = sandbox()
    cursor = sync(server)[-1].cursor
    before = {k: o["date_modified_gmt"] for k, o in shop(server).items()}
    clock.advance(hours=4)
    after = shop(server)
    changed = {k for k, o in after.items() if before.get(k) != o["date_modified_gmt"]}
    assert changed - set(before) and changed & set(before)  # new orders and updated ones
    fetched = set(external_ids(sync(server, cursor)))
    assert changed <= fetched
    assert fetched <= changed | {k for k, o in after.items() if utc(o["date_modified_gmt"] + "Z") >= utc(cursor or "")}
    assert len(fetched) < len(after)


def test_an_order_changed_in_the_middle_of_a_sync_is_not_skipped(
    sandbox: Callable[..., SandboxServer], clock: Clock
) -> None:
    server = sandbox(orders_per_minute=0)
    seen: list[str] = []
    with woo(server, page_size=10) as api:
        for number, page in enumerate(api.orders_since(None)):
            seen += [o.external_id for o in page.records]
            if number == 0:
                clock.advance(hours=6)  # pays, ships and cancels orders the sync has not reached yet
    assert set(seen) == set(shop(server))


def test_the_sync_survives_429s_with_retry_after_and_server_errors(sandbox: Callable[..., SandboxServer]) -> None:
    server = sandbox(faults=FaultConfig(rate_429=0.25, rate_5xx=0.15, retry_after_s=0.02))
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    fetched = external_ids(sync(server, page_size=5, max_attempts=12, sleep=sleep))
    assert sorted(fetched) == sorted(shop(server))
    stats = server.stats()
    assert stats["sent_429"] > 0 and stats["sent_5xx"] > 0
    assert waits.count(0.02) == stats["sent_429"]  # every 429 waited exactly its Retry-After


def test_malformed_orders_come_back_as_rejections_while_the_rest_parse(
    sandbox: Callable[..., SandboxServer],
) -> None:
    server = sandbox(faults=FaultConfig(malformed_rate=0.1))
    pages = sync(server)
    orders = shop(server)
    broken = {str(woo_id(r.id)) for r in server.worlds["woocommerce"].rows() if r.malformed}
    assert broken
    rejections = [r for p in pages for r in p.rejected]
    assert {r.external_id for r in rejections} == broken
    assert all(r.raw == orders[r.external_id or ""] for r in rejections)
    assert set(external_ids(pages)) == set(orders) - broken
    assert any(p.rejected and p.records for p in pages)


def test_a_wrong_secret_raises_auth_error_without_retrying(sandbox: Callable[..., SandboxServer]) -> None:
    server = sandbox()
    with pytest.raises(AuthError, match="401"):
        sync(server, secret="cs_wrong")
    assert server.stats()["requests"] == 1


def test_the_api_speaks_woocommerce_paging_and_limits(sandbox: Callable[..., SandboxServer]) -> None:
    server = sandbox()
    with httpx.Client(base_url=server.url, auth=(WOO_KEY, TOKEN)) as client:
        first = client.get("/wp-json/wc/v3/orders", params={"per_page": 7})
        too_big = client.get("/wp-json/wc/v3/orders", params={"per_page": 101})
        beyond = client.get("/wp-json/wc/v3/orders", params={"per_page": 100, "page": 99})
    total = len(shop(server))
    assert first.headers["X-WP-Total"] == str(total)
    assert first.headers["X-WP-TotalPages"] == str(-(-total // 7))
    assert 'rel="next"' in first.headers["Link"] and len(first.json()) == 7
    assert too_big.status_code == 400 and too_big.json()["code"] == "rest_invalid_param"
    assert beyond.status_code == 400
