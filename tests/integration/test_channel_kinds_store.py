# ruff: noqa: F811 - pytest fixtures imported from tests.channel_sandbox are redefined as arguments
"""Each non-REST channel kind end to end: sandbox -> connector -> poll job -> store, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import func, select

from connectors.amazon import MARKETPLACE_CURRENCY
from connectors.amazon_orders import INCLUDED_DATA
from connectors.parsers import parser_for
from connectors.schemas import ChannelOrder, Page
from core.channels import add_channel, get_channel
from core.db import engine_for, new_session
from core.enums import ChannelKind
from core.ingest import apply_page
from core.models import DeadLetter, Order
from jobs.poll import PollReport, poll_channel
from sandbox import FaultConfig
from sandbox import amazon_api as amazon
from sandbox import amazon_orders_api as amazon_2026
from sandbox import shopify_graphql_api as gql
from sandbox import woocommerce_api as woo
from sandbox.server import WOO_KEY, SandboxServer
from sandbox.world import OrderRow
from tests.channel_sandbox import TOKEN, Clock, clock, sandbox  # noqa: F401 - fixtures


@dataclass(frozen=True)
class Kind:
    kind: ChannelKind
    world: str  # which of the sandbox's shops its API sells from
    served: Callable[[OrderRow], dict[str, Any]]  # a world order exactly as the API serves it
    external_id: Callable[[OrderRow], str]
    secrets: dict[str, str]  # environment variable -> value, in the order the credential names them
    settings: dict[str, Any] = field(default_factory=dict)
    sandbox: dict[str, Any] = field(default_factory=dict)  # options for make_server

    @property
    def token_env(self) -> str:
        return ":".join(self.secrets)


KINDS = {
    "woocommerce": Kind(ChannelKind.WOOCOMMERCE, "woocommerce", woo.served, lambda r: str(woo.woo_id(r.id)),
                        {"T_WOO_KEY": WOO_KEY, "T_WOO_SECRET": TOKEN}),
    "shopify_graphql": Kind(ChannelKind.SHOPIFY_GRAPHQL, "shopify_graphql", gql.served, lambda r: str(r.id),
                            {"T_SHOPIFY_TOKEN": TOKEN}),
    "amazon": Kind(ChannelKind.AMAZON, "amazon", amazon.served, lambda r: amazon.amazon_id(r.id),
                   {"T_AMAZON_TOKEN": TOKEN},
                   {"orders_api": "v0", "marketplace_ids": list(MARKETPLACE_CURRENCY), "first_sync_days": 3650},
                   {"amazon_rates": {"getOrders": (50.0, 50), "getOrderItems": (200.0, 200)}, "backlog": 60}),
    "amazon_2026": Kind(ChannelKind.AMAZON, "amazon", lambda r: amazon_2026.served(r, frozenset(INCLUDED_DATA)),
                        lambda r: amazon.amazon_id(r.id), {"T_AMAZON_TOKEN": TOKEN},
                        {"orders_api": "2026-01-01", "marketplace_ids": list(MARKETPLACE_CURRENCY), "first_sync_days": 3650},
                        {"amazon_rates": {"searchOrders": (50.0, 50)}, "backlog": 250}),
}


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> Kind:
    return KINDS[request.param]


def poll(url: str, kind: Kind, server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> PollReport:
    """Poll the kind's channel once in this process (adding it the first time)."""
    monkeypatch.setenv("OPSDESK_DATABASE_URL", url)
    for name, value in kind.secrets.items():
        monkeypatch.setenv(name, value)
    with new_session(engine_for(url)) as session:
        if session.scalar(select(func.count()).select_from(Order)) == 0 and not _has_channel(session):
            add_channel(session, "chan", kind=kind.kind, base_url=server.url, token_env=kind.token_env,
                        settings=kind.settings)
    return poll_channel("chan")


def _has_channel(session: Any) -> bool:
    try:
        get_channel(session, "chan")
    except Exception:
        return False
    return True


def stored(url: str) -> tuple[dict[str, Any], list[DeadLetter]]:
    with new_session(engine_for(url)) as session:
        orders = {o.external_id: o for o in session.scalars(select(Order))}
        letters = list(session.scalars(select(DeadLetter)))
    return orders, letters


def test_polling_twice_stores_each_order_once_and_dead_letters_each_bad_one_once(
    db_url: str, kind: Kind, sandbox: Callable[..., SandboxServer], monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = sandbox(faults=FaultConfig(malformed_rate=0.1), orders_per_minute=0, **kind.sandbox)
    rows = server.worlds[kind.world].rows()
    good = {kind.external_id(r) for r in rows if not r.malformed}
    broken = {kind.external_id(r): r for r in rows if r.malformed}
    assert broken and good

    first = poll(db_url, kind, server, monkeypatch)
    assert first.error is None
    assert (first.result.written, first.result.rejected) == (len(good), len(broken))
    orders, letters = stored(db_url)
    assert set(orders) == good
    assert sorted(d.external_id for d in letters) == sorted(broken)
    for letter in letters:  # the raw payload, whole, as the channel sent it
        assert json.loads(letter.raw) == kind.served(broken[letter.external_id])
        assert letter.error and "\n" not in letter.error

    again = poll(db_url, kind, server, monkeypatch)
    assert again.error is None and again.result.written == 0
    orders_after, letters_after = stored(db_url)
    assert set(orders_after) == good and len(orders_after) == len(orders)
    assert len(letters_after) == len(letters)  # a re-seen bad record is not dead-lettered twice


def test_an_older_update_never_overwrites_a_newer_one(
    db_url: str, kind: Kind, sandbox: Callable[..., SandboxServer], clock: Clock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = sandbox(orders_per_minute=0, **kind.sandbox)
    old = {kind.external_id(r): kind.served(r) for r in server.worlds[kind.world].rows()}
    assert poll(db_url, kind, server, monkeypatch).error is None
    clock.advance(hours=12)  # payments, shipments and cancellations arrive
    assert poll(db_url, kind, server, monkeypatch).error is None
    newer, _ = stored(db_url)
    parse = parser_for(kind.kind)
    stale = [parse(raw) for ext, raw in old.items() if newer[ext].channel_updated_at > parse(raw).updated_at]
    assert stale and all(isinstance(r, ChannelOrder) for r in stale)

    with new_session(engine_for(db_url)) as session:
        result = apply_page(session, get_channel(session, "chan"), Page(records=tuple(stale)))
    assert (result.written, result.skipped) == (0, len(stale))
    after, _ = stored(db_url)
    for record in stale:
        kept, was = after[record.external_id], newer[record.external_id]
        assert (kept.status, kept.financial_status, kept.channel_updated_at) == (
            was.status, was.financial_status, was.channel_updated_at)


def test_the_demo_seed_polls_orders_from_all_four_channel_kinds(
    sqlite_url: str, sandbox: Callable[..., SandboxServer], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from core.seed import SANDBOX_CHANNEL, SANDBOX_CHANNELS, seed_demo
    from jobs.demo import sandbox_secrets

    server = sandbox(backlog=25, orders_per_minute=0, amazon_rates={k: (r * 20, b) for k, (r, b) in amazon.RATES.items()})
    monkeypatch.setenv("OPSDESK_DATABASE_URL", sqlite_url)
    for key, value in sandbox_secrets(TOKEN).items():  # Amazon's tokens come through Login with Amazon
        monkeypatch.setenv(key, value)
    with new_session(engine_for(sqlite_url)) as session:
        seed_demo(session, sandbox_url=server.url, all_kinds=True)
    shops = {SANDBOX_CHANNEL: "shopify", **{code: kind.value for code, kind, *_ in SANDBOX_CHANNELS}}
    reports = {code: poll_channel(code) for code in shops}
    assert {code: (r.error, r.result.written) for code, r in reports.items()} == {
        code: (None, len(server.worlds[world].rows())) for code, world in shops.items()}
