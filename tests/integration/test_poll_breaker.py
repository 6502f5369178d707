"""A channel that keeps failing is rested by its breaker; the health page says so and until when."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from core.breaker import FIRST_WAIT
from core.channels import add_channel
from core.connector_health import channel_health
from core.db import engine_for, new_session
from core.enums import ChannelKind, RunStatus
from core.models import ConnectorRun
from jobs.poll import poll_channel
from sandbox.server import make_server

TOKEN_ENV = "OPSDESK_TEST_BREAKER_TOKEN"


def _runs(url: str) -> list[RunStatus]:
    with new_session(engine_for(url)) as session:
        return list(session.scalars(select(ConnectorRun.status).order_by(ConnectorRun.id)))


def test_three_failed_polls_rest_the_channel_and_a_person_can_still_poll(db_url, monkeypatch):
    server = make_server(seed=3, token="right-token", orders_per_minute=0.0, backlog=5).start()
    try:
        monkeypatch.setenv("OPSDESK_DATABASE_URL", db_url)
        monkeypatch.setenv(TOKEN_ENV, "wrong-token")
        with new_session(engine_for(db_url)) as session:
            add_channel(session, "flaky", kind=ChannelKind.SHOPIFY, base_url=server.url, token_env=TOKEN_ENV)
        for _ in range(3):
            assert poll_channel("flaky").error
        assert _runs(db_url) == [RunStatus.FAILED] * 3
        rested = poll_channel("flaky")  # what the worker's next tick does
        assert rested.resting_until is not None and rested.error is None
        assert len(_runs(db_url)) == 3  # not polled: no run
        assert FIRST_WAIT.total_seconds() - 5 < (rested.resting_until - datetime.now(UTC)).total_seconds() <= 30
        with new_session(engine_for(db_url)) as session:
            row = channel_health(session, now=datetime.now(UTC)).iloc[0]
        assert row["state"] == "resting after 3 failed polls" and row["resting_until"] == rested.resting_until
        monkeypatch.setenv(TOKEN_ENV, "right-token")  # the cause fixed; "opsdesk poll --once" tries at once
        fixed = poll_channel("flaky", respect_breaker=False)
        assert fixed.error is None and fixed.fetched == 5
        assert poll_channel("flaky").resting_until is None  # closed again by the success
        with new_session(engine_for(db_url)) as session:
            assert session.scalar(select(func.count()).select_from(ConnectorRun)) == 5
    finally:
        server.stop()
