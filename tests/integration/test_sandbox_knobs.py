"""The sandbox's fault knobs turned while it runs: the channel sickens on Connector health, then heals by itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from core.channels import add_channel
from core.connector_health import channel_health
from core.db import engine_for, new_session
from core.enums import ChannelKind
from core.models import Order
from jobs import poll as poll_module
from jobs.cli import main as opsdesk
from jobs.poll import poll_channel
from sandbox.server import make_server

TOKEN_ENV = "OPSDESK_TEST_KNOBS_TOKEN"


def _health(url: str):  # type: ignore[no-untyped-def]
    with new_session(engine_for(url)) as session:
        return channel_health(session, now=datetime.now(UTC)).iloc[0]


def _orders(url: str) -> int:
    with new_session(engine_for(url)) as session:
        return session.scalar(select(func.count()).select_from(Order))


def test_knobs_are_read_and_refused_with_a_clear_message(capsys):
    server = make_server(seed=5, orders_per_minute=0.0, backlog=1).start()
    try:
        assert opsdesk(["sandbox-faults", "--url", server.url]) == 0
        assert capsys.readouterr().out.split() == ["rate_429=0", "retry_after_s=2", "rate_5xx=0", "slow_ms=0",
                                                   "malformed_rate=0"]
        assert opsdesk(["sandbox-faults", "--url", server.url, "--rate-5xx", "1.5"]) == 1
        assert "rate_5xx: 1.5 is outside 0..1" in capsys.readouterr().err
        wrong = httpx.put(server.url + "/_sandbox/faults", json={"rate_500": 1})
        assert wrong.status_code == 400 and "unknown knob 'rate_500'" in wrong.json()["error"]
        assert server.faults.config.rate_5xx == 0  # nothing was turned by the refused calls
    finally:
        server.stop()


@pytest.mark.timeout(240)
def test_a_5xx_knob_sickens_the_channel_on_the_health_page_and_releasing_it_heals_it(db_url, monkeypatch, capsys):
    server = make_server(seed=5, token="knob-token", orders_per_minute=0.0, backlog=30).start()
    try:
        monkeypatch.setenv("OPSDESK_DATABASE_URL", db_url)
        monkeypatch.setenv(TOKEN_ENV, "knob-token")
        with new_session(engine_for(db_url)) as session:
            add_channel(session, "knobbed", kind=ChannelKind.SHOPIFY, base_url=server.url, token_env=TOKEN_ENV)
        assert poll_channel("knobbed").error is None and _health(db_url)["state"] == "running"

        assert opsdesk(["sandbox-faults", "--url", server.url, "--rate-5xx", "1"]) == 0
        assert "rate_5xx=1" in capsys.readouterr().out
        for _ in range(3):  # the worker's next three ticks
            assert "5" in (poll_channel("knobbed").error or "")
        sick = _health(db_url)
        assert sick["state"] == "resting after 3 failed polls" and sick["failed_24h"] == 3
        assert "50" in sick["last_error"]  # the 5xx status, in words the desk can read

        assert opsdesk(["sandbox-faults", "--url", server.url, "--reset"]) == 0
        assert poll_channel("knobbed").resting_until is not None  # released, but the rest is not over yet
        later = datetime.now(UTC) + timedelta(seconds=31)  # the rest is 30 s: the first tick after it
        monkeypatch.setattr(poll_module, "utcnow", lambda: later)
        healed = poll_channel("knobbed")
        assert healed.error is None and healed.resting_until is None
        assert _health(db_url)["state"] == "running" and _orders(db_url) == 30
    finally:
        server.stop()
