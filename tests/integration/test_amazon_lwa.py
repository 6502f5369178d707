# ruff: noqa: F811 - pytest fixtures imported from tests.channel_sandbox are redefined as arguments
"""Login with Amazon: access tokens from a refresh token, reused, renewed before they expire and after a 403."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from sqlalchemy import func, select

from connectors.amazon import MARKETPLACE_CURRENCY, AmazonOrders
from connectors.amazon_auth import LwaAuth, LwaTokens
from connectors.http import AuthError
from core.channels import add_channel, get_channel
from core.db import engine_for, new_session
from core.enums import ChannelKind
from core.models import Order
from core.seed import seed_demo
from jobs.demo import sandbox_secrets
from jobs.poll import poll_channel
from sandbox import FaultConfig, lwa_api
from sandbox.server import SandboxServer
from tests.channel_sandbox import TOKEN, clock, sandbox  # noqa: F401 - clock and sandbox are fixtures

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "amazon"
FAST = {"getOrders": (50.0, 50), "getOrderItems": (200.0, 200)}
ENV = {"T_LWA_ID": lwa_api.CLIENT_ID, "T_LWA_SECRET": TOKEN, "T_LWA_REFRESH": lwa_api.REFRESH_TOKEN}


def fixture(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((FIXTURES / name).read_text())


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lwa_server(answers: list[tuple[int, dict]], seen: list[dict]) -> httpx.MockTransport:  # type: ignore[type-arg]
    """LWA answering from recorded payloads, keeping each form it was sent."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append({k: v[-1] for k, v in parse_qs(request.content.decode()).items()})
        status, body = answers.pop(0)
        return httpx.Response(status, json=body)

    return httpx.MockTransport(handle)


def test_a_token_is_fetched_once_reused_and_renewed_shortly_before_it_expires():
    seen: list[dict] = []  # type: ignore[type-arg]
    second = dict(fixture("lwa_token.json"), access_token="Atza|second")
    tick = FakeClock()
    tokens = LwaTokens("https://lwa.test/auth/o2/token", "client-1", "s3cret-client", "Atzr|refresh", clock=tick,
                       transport=lwa_server([(200, fixture("lwa_token.json")), (200, second)], seen))
    assert tokens.current() == "Atza|IwEBIFixtureAccessToken-1"
    tick.now += 3000
    assert tokens.current() == "Atza|IwEBIFixtureAccessToken-1"  # still 10 minutes left: reused
    tick.now += 550
    assert tokens.current() == "Atza|second"  # under a minute left: renewed before any call carries it dead
    assert tokens.fetched == 2
    assert seen[0] == {"grant_type": "refresh_token", "refresh_token": "Atzr|refresh", "client_id": "client-1",
                       "client_secret": "s3cret-client"}


def test_a_403_unauthorized_gets_one_new_token_and_one_retry_and_a_second_403_is_the_callers():
    seen: list[dict] = []  # type: ignore[type-arg]
    tokens = LwaTokens("https://lwa.test/auth/o2/token", "c", "s", "r", transport=lwa_server(
        [(200, fixture("lwa_token.json")), (200, dict(fixture("lwa_token.json"), access_token="Atza|fresh"))], seen))
    carried: list[str] = []

    def sp_api(request: httpx.Request) -> httpx.Response:
        carried.append(request.headers["x-amz-access-token"])
        if request.headers["x-amz-access-token"] != "Atza|fresh":
            return httpx.Response(403, json=fixture("unauthorized_expired.json"))
        return httpx.Response(200, json={"payload": {"Orders": []}})

    with httpx.Client(transport=httpx.MockTransport(sp_api), auth=LwaAuth(tokens)) as client:
        assert client.get("https://sp.test/orders/v0/orders").status_code == 200
    assert carried == ["Atza|IwEBIFixtureAccessToken-1", "Atza|fresh"] and tokens.fetched == 2


@pytest.mark.parametrize(("answer", "status", "words"), [
    ("lwa_invalid_grant.json", 400, "invalid_grant: the refresh token is wrong, expired or revoked"),
    ({"error": "invalid_client", "error_description": "Client authentication failed"}, 401,
     "invalid_client: the LWA client id or client secret is wrong"),
])
def test_a_refused_refresh_is_one_clear_error_without_the_secrets(answer, status, words):  # type: ignore[no-untyped-def]
    body = fixture(answer) if isinstance(answer, str) else answer
    tokens = LwaTokens("https://lwa.test/auth/o2/token", "client-1", "s3cret-client", "Atzr|refresh-secret",
                       transport=lwa_server([(status, body)], []))
    with pytest.raises(AuthError) as caught:
        tokens.current()
    assert words in str(caught.value)
    assert "s3cret-client" not in str(caught.value) and "Atzr|refresh-secret" not in str(caught.value)


def test_one_token_serves_every_page_and_item_call_of_a_sync_against_the_sandbox(
    sandbox: Callable[..., SandboxServer],
) -> None:
    server = sandbox(amazon_rates=FAST, orders_per_minute=0, backlog=45)
    tokens = LwaTokens(server.url + lwa_api.PATH, lwa_api.CLIENT_ID, TOKEN, lwa_api.REFRESH_TOKEN)
    with AmazonOrders.connect_lwa(server.url, tokens, timeout=5.0, marketplace_ids=list(MARKETPLACE_CURRENCY),
                                  page_size=10, first_sync_days=3650, sleep=lambda s: None) as api:
        pages = list(api.orders_since(None))
    assert len(pages) == 5  # five getOrders pages and 45 getOrderItems calls ...
    assert sum(len(p.records) for p in pages) == 45
    assert (tokens.fetched, server.lwa.issued, server.lwa.refused) == (1, 1, 0)  # ... on one access token


def _lwa_channel(db_url: str, server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSDESK_DATABASE_URL", db_url)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    with new_session(engine_for(db_url)) as session:
        add_channel(session, "amzn-lwa", kind=ChannelKind.AMAZON, base_url=server.url,
                    token_env="T_LWA_ID:T_LWA_SECRET:T_LWA_REFRESH",
                    settings={"orders_api": "v0", "first_sync_days": 3650, "lwa_url": server.url + lwa_api.PATH,
                              "marketplace_ids": list(MARKETPLACE_CURRENCY)})


def _stored(db_url: str) -> tuple[int, int]:
    with new_session(engine_for(db_url)) as session:
        return (session.scalar(select(func.count()).select_from(Order)),
                session.scalar(select(func.count(func.distinct(Order.external_id)))))


def test_the_worker_polls_amazon_through_lwa_renewing_expired_and_revoked_tokens(
    db_url: str, sandbox: Callable[..., SandboxServer], monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = sandbox(amazon_rates=FAST, orders_per_minute=0, backlog=30, lwa_lifetime_s=1.5)
    _lwa_channel(db_url, server, monkeypatch)
    first = poll_channel("amzn-lwa")
    assert first.error is None and first.result.written == len(server.worlds["amazon"].rows())
    issued = server.lwa.issued
    assert issued >= 1
    time.sleep(1.6)  # the token is past its end now: the connector fetches a new one before calling
    assert poll_channel("amzn-lwa").error is None and server.lwa.issued == issued + 1
    server.lwa.revoke_all()  # the seller revoked the tokens: SP-API answers 403, one renewal, the poll goes on
    again = poll_channel("amzn-lwa", respect_breaker=False)
    assert again.error is None and server.lwa.issued == issued + 2
    total, distinct = _stored(db_url)
    assert total == distinct == len(server.worlds["amazon"].rows())  # nothing lost, nothing twice


def test_a_wrong_client_secret_fails_the_poll_with_a_clear_line_that_keeps_the_secret(
    sqlite_url: str, sandbox: Callable[..., SandboxServer], monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = sandbox(amazon_rates=FAST, orders_per_minute=0, backlog=5)
    _lwa_channel(sqlite_url, server, monkeypatch)
    monkeypatch.setenv("T_LWA_SECRET", "not-the-secret-42")
    report = poll_channel("amzn-lwa")
    assert report.error and "invalid_client" in report.error and "not-the-secret-42" not in report.error
    assert _stored(sqlite_url) == (0, 0)


def test_tokens_that_expire_while_one_poll_runs_are_renewed_in_flight_and_nothing_is_lost_or_stored_twice(
    sqlite_url: str, sandbox: Callable[..., SandboxServer], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every SP-API answer takes 30 ms and a token lasts 0.5 s: one poll (a getOrders page and 30
    # getOrderItems calls, at least 0.9 s) outlives its first token whatever the machine's speed.
    server = sandbox(amazon_rates=FAST, orders_per_minute=0, backlog=30, lwa_lifetime_s=0.5,
                     faults=FaultConfig(slow_ms=30))
    _lwa_channel(sqlite_url, server, monkeypatch)
    report = poll_channel("amzn-lwa")
    assert report.error is None and report.result.written == len(server.worlds["amazon"].rows()) == 30
    assert server.lwa.issued >= 2  # renewed during the poll, not only between polls
    total, distinct = _stored(sqlite_url)
    assert total == distinct == 30


def test_tokens_revoked_in_the_middle_of_a_poll_cost_one_renewal_and_the_poll_completes(
    sqlite_url: str, sandbox: Callable[..., SandboxServer], monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = sandbox(amazon_rates=FAST, orders_per_minute=0, backlog=20)
    _lwa_channel(sqlite_url, server, monkeypatch)
    server.lwa.revoke_after(5)  # the getOrders page and four orders' items go through, then the token is dead
    report = poll_channel("amzn-lwa")
    assert report.error is None, report.error
    assert (server.lwa.issued, server.lwa.refused) == (2, 1)  # one 403, one new token, the same call again
    assert _stored(sqlite_url) == (20, 20)
    assert poll_channel("amzn-lwa").error is None and _stored(sqlite_url) == (20, 20)  # a re-poll adds nothing twice


def test_an_lwa_url_that_would_send_the_client_secret_in_clear_text_is_refused_before_any_request():
    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(200, json={}))
    for url in ("http://lwa.example.com/auth/o2/token", "ftp://127.0.0.1/auth/o2/token", "no-url-at-all"):
        with pytest.raises(AuthError, match="only sent over https") as caught:
            LwaTokens(url, "client-1", "s3cret-client", "Atzr|refresh-secret", transport=transport)
        assert "s3cret-client" not in str(caught.value) and "refresh-secret" not in str(caught.value)
    assert sent == []
    for url in ("https://api.amazon.co.uk/auth/o2/token", "http://127.0.0.1:8900/auth/o2/token"):
        assert LwaTokens(url, "c", "s", "r", transport=transport).lwa_url == url


def test_the_demos_amazon_channel_runs_through_login_with_amazon_and_renews_its_token(
    sqlite_url: str, sandbox: Callable[..., SandboxServer], monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = sandbox(amazon_rates=FAST, orders_per_minute=0, backlog=15, lwa_lifetime_s=1.0)
    monkeypatch.setenv("OPSDESK_DATABASE_URL", sqlite_url)
    for name, value in sandbox_secrets(TOKEN).items():  # what `opsdesk demo` exports for the worker
        monkeypatch.setenv(name, value)
    with new_session(engine_for(sqlite_url)) as session:
        seed_demo(session, sandbox_url=server.url, all_kinds=True)
        assert get_channel(session, "amazon-sandbox").credentials_env.count(":") == 2  # names, not secrets
    first = poll_channel("amazon-sandbox")
    assert first.error is None and first.result.written > 0 and server.lwa.issued == 1
    time.sleep(1.1)
    assert poll_channel("amazon-sandbox").error is None and server.lwa.issued == 2
    total, distinct = _stored(sqlite_url)
    assert total == distinct == first.result.written
