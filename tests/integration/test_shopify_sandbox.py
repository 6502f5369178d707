"""The real Shopify connector against the real sandbox over HTTP on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors.http import AuthError, RequestRejected, next_link, parse_links, send_with_retry
from connectors.schemas import Page
from connectors.shopify import ShopifyRest
from sandbox import FaultConfig
from sandbox.server import SandboxServer, make_server
from sandbox.world import World

TOKEN = "test-token"
START = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ORDERS = "/admin/api/2025-01/orders.json"


class Clock:
    """The sandbox's simulated time, moved only by the test."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def sandbox(clock: Clock) -> Iterator[Callable[..., SandboxServer]]:
    started: list[SandboxServer] = []

    def start(**options: Any) -> SandboxServer:
        options = {"seed": 7, "token": TOKEN, "now": clock, "orders_per_minute": 6.0, **options}
        server = make_server(**options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def shopify(server: SandboxServer, **options: Any) -> ShopifyRest:
    options = {"page_size": 25, "sleep": lambda s: None, **options}
    return ShopifyRest.connect(server.url, options.pop("token", TOKEN), timeout=5.0, **options)


def sync(server: SandboxServer, cursor: str | None = None, **options: Any) -> list[Page]:
    with shopify(server, **options) as api:
        return list(api.orders_since(cursor))


def ids_of(pages: list[Page]) -> list[int]:
    return [int(o.external_id) for p in pages for o in p.records]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_paging_through_the_sandbox_yields_exactly_its_orders_once(
    sandbox: Callable[..., SandboxServer],
) -> None:
    server = sandbox()
    pages = sync(server)
    snapshot = server.world.orders_snapshot()
    assert len(pages) == -(-len(snapshot) // 25) > 1  # several Link pages of 25
    fetched = ids_of(pages)
    assert len(fetched) == len(set(fetched))
    assert set(fetched) == {o["id"] for o in snapshot}
    assert not any(p.rejected for p in pages)
    cursors = [utc(p.cursor) for p in pages if p.cursor]
    assert cursors == sorted(cursors)
    assert cursors[-1] == max(utc(o["updated_at"]) for o in snapshot)


def test_normalized_orders_match_what_the_sandbox_holds(sandbox: Callable[..., SandboxServer]) -> None:
    server = sandbox()
    by_id = {int(o.external_id): o for p in sync(server) for o in p.records}
    for raw in server.world.orders_snapshot():
        order = by_id[raw["id"]]
        assert order.number == raw["name"]
        assert str(order.total) == raw["total_price"]
        assert [li.sku for li in order.lines] == [li["sku"] for li in raw["line_items"]]
        assert order.updated_at == utc(raw["updated_at"])
        tracked = [f for f in raw["fulfillments"] if f["tracking_number"]]
        assert [f.tracking_number for f in order.fulfillments] == [f["tracking_number"] for f in tracked]


def test_a_resumed_sync_fetches_only_what_changed_since_the_cursor(
    sandbox: Callable[..., SandboxServer], clock: Clock
) -> None:
    server = sandbox()
    first = sync(server)
    cursor = first[-1].cursor
    assert cursor is not None
    before = {o["id"]: o["updated_at"] for o in server.world.orders_snapshot()}
    clock.advance(minutes=45)
    after = server.world.orders_snapshot()
    changed = {o["id"] for o in after if utc(o["updated_at"]) >= utc(cursor)}
    new = {o["id"] for o in after if o["id"] not in before}
    updated = {o["id"] for o in after if o["id"] in before and o["updated_at"] != before[o["id"]]}
    assert new and updated  # the clock brought both new orders and later updates (paid, shipped...)

    resumed = sync(server, cursor)
    fetched = ids_of(resumed)
    assert set(fetched) == changed
    assert new | updated <= set(fetched)
    assert len(fetched) < len(after)
    assert utc(resumed[-1].cursor or "") >= utc(cursor)


def test_a_sync_with_nothing_new_keeps_the_cursor(sandbox: Callable[..., SandboxServer]) -> None:
    server = sandbox(orders_per_minute=0)
    cursor = sync(server)[-1].cursor
    later = (utc(cursor or "") + timedelta(hours=1)).isoformat()
    pages = sync(server, later)
    assert [(len(p.records), p.cursor) for p in pages] == [(0, later)]  # never moves backwards


def test_the_sync_survives_429s_and_still_gets_everything(sandbox: Callable[..., SandboxServer]) -> None:
    server = sandbox(faults=FaultConfig(rate_429=0.3, retry_after_s=0.02))
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # really waits, and remembers how long
        waits.append(seconds)
        time.sleep(seconds)

    fetched = ids_of(sync(server, max_attempts=10, sleep=sleep))
    assert sorted(fetched) == sorted(o["id"] for o in server.world.orders_snapshot())
    assert server.stats()["sent_429"] == len(waits) > 0
    assert set(waits) == {0.02}  # the sandbox's Retry-After, honoured as sent


def test_the_sync_survives_server_errors(sandbox: Callable[..., SandboxServer]) -> None:
    server = sandbox(faults=FaultConfig(rate_5xx=0.3))
    fetched = ids_of(sync(server, max_attempts=10))
    assert sorted(fetched) == sorted(o["id"] for o in server.world.orders_snapshot())
    assert server.stats()["sent_5xx"] > 0


def test_malformed_orders_come_back_as_rejections_while_the_rest_parse(
    sandbox: Callable[..., SandboxServer],
) -> None:
    server = sandbox(faults=FaultConfig(malformed_rate=0.1))
    pages = sync(server)
    snapshot = {o["id"]: o for o in server.world.orders_snapshot()}
    broken = server.world.malformed_ids()
    assert broken
    rejections = [r for p in pages for r in p.rejected]
    assert {int(r.external_id or 0) for r in rejections} == broken
    for rejection in rejections:
        assert rejection.raw == snapshot[int(rejection.external_id or 0)]
        assert rejection.error and "\n" not in rejection.error
    assert set(ids_of(pages)) == set(snapshot) - broken
    assert any(p.rejected and p.records for p in pages)  # one bad record does not sink its page
    assert server.stats()["malformed"] == len(broken)


def test_a_wrong_token_raises_auth_error_without_retrying(sandbox: Callable[..., SandboxServer]) -> None:
    server = sandbox()
    with pytest.raises(AuthError, match="401"):
        sync(server, token="not-the-token")
    assert server.stats()["requests"] == 1


def test_page_info_with_extra_params_is_refused_like_shopify(sandbox: Callable[..., SandboxServer]) -> None:
    server = sandbox()
    with httpx.Client(base_url=server.url, headers={"X-Shopify-Access-Token": TOKEN}) as client:
        first = client.get(ORDERS, params={"limit": 5, "status": "any"})
        follow = next_link(first.headers.get("Link"))
        assert follow is not None and "page_info=" in follow
        assert client.get(follow).status_code == 200
        refused = client.get(follow + "&status=any")
        assert refused.status_code == 400
        assert refused.json() == {"errors": {"status": "status cannot be passed with page_info."}}
        with pytest.raises(RequestRejected, match="400"):
            send_with_retry(client, "GET", follow + "&order=updated_at+asc", sleep=lambda s: None)


def test_previous_links_lead_back_to_the_page_before(sandbox: Callable[..., SandboxServer]) -> None:
    server = sandbox()
    with httpx.Client(base_url=server.url, headers={"X-Shopify-Access-Token": TOKEN}) as client:
        page1 = client.get(ORDERS, params={"limit": 10, "status": "any", "order": "updated_at asc"})
        assert "previous" not in parse_links(page1.headers.get("Link"))
        page2 = client.get(next_link(page1.headers["Link"]) or "")
        back = client.get(parse_links(page2.headers["Link"])["previous"])
    assert [o["id"] for o in back.json()["orders"]] == [o["id"] for o in page1.json()["orders"]]


def test_a_single_page_has_no_link_header(sandbox: Callable[..., SandboxServer]) -> None:
    server = sandbox(backlog=5, orders_per_minute=0)
    with httpx.Client(base_url=server.url, headers={"X-Shopify-Access-Token": TOKEN}) as client:
        resp = client.get(ORDERS, params={"status": "any", "limit": 250})
    assert len(resp.json()["orders"]) == 5
    assert "Link" not in resp.headers


def test_limits_counts_and_call_limit_headers_follow_shopify(sandbox: Callable[..., SandboxServer]) -> None:
    server = sandbox()
    with httpx.Client(base_url=server.url, headers={"X-Shopify-Access-Token": TOKEN}) as client:
        too_big = client.get(ORDERS, params={"limit": 251})
        count = client.get("/admin/api/2025-01/orders/count.json", params={"status": "any"})
        default = client.get(ORDERS, params={"status": "any"})
    assert too_big.status_code == 400 and "limit" in too_big.json()["errors"]
    assert count.json() == {"count": len(server.world.orders_snapshot())}
    assert len(default.json()["orders"]) == 50
    assert default.headers["X-Shopify-Shop-Api-Call-Limit"] == "3/40"


def test_a_full_call_bucket_answers_429_with_retry_after(sandbox: Callable[..., SandboxServer]) -> None:
    server = sandbox(bucket_size=3, leak_per_s=0.5)
    with httpx.Client(base_url=server.url, headers={"X-Shopify-Access-Token": TOKEN}) as client:
        answers = [client.get("/admin/api/2025-01/orders/count.json") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[3].headers["X-Shopify-Shop-Api-Call-Limit"] == "3/3"
    assert 1.5 < float(answers[3].headers["Retry-After"]) <= 2.0


def test_health_and_stats_answer_without_a_token(sandbox: Callable[..., SandboxServer]) -> None:
    server = sandbox()
    assert httpx.get(server.url + "/health").text == "ok"
    stats = httpx.get(server.url + "/_sandbox/stats").json()
    assert stats["orders"] == len(server.world.orders_snapshot())
    assert {"requests", "sent_429", "sent_5xx", "malformed"} <= set(stats)


def test_the_same_seed_and_clock_give_the_same_shop() -> None:
    def shop(seed: int) -> list[dict[str, Any]]:
        return World(seed=seed, now=lambda: START, backlog=60).orders_snapshot()

    assert shop(3) == shop(3)
    assert shop(3) != shop(4)


def test_the_backlog_looks_like_a_real_shop() -> None:
    orders = World(seed=11, now=lambda: START, backlog=600, orders_per_minute=0).orders_snapshot()
    share = lambda pred: sum(1 for o in orders if pred(o)) / len(orders)  # noqa: E731
    assert 0.03 < share(lambda o: float(o["total_price"]) >= 5000) < 0.09
    assert 0.03 < share(lambda o: o["financial_status"] == "pending") < 0.14
    assert 0.01 < share(lambda o: o["cancelled_at"] is not None) < 0.08
    assert 0.18 < share(lambda o: o["fulfillment_status"] is not None) < 0.40
    assert {o["shipping_address"]["country_code"] for o in orders} == {
        "US",
        "CA",
        "GB",
        "DE",
        "FR",
        "AU",
        "NL",
    }
    assert all(utc(o["updated_at"]) >= utc(o["created_at"]) for o in orders)
    ups = [f["tracking_number"] for o in orders for f in o["fulfillments"] if f["tracking_company"] == "UPS"]
    assert ups and all(t.startswith("1Z") and len(t) == 18 for t in ups)
