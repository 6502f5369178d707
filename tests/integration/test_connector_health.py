"""Connector health on the store (SQLite and PostgreSQL): the overview figures, pause / resume, poll now, replay."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from connectors.shopify import parse_order
from core.auth import Actor
from core.connector_health import (
    channel_health,
    dead_letters,
    poll_requests,
    polls_due,
    recent_runs,
    replay_dead_letter,
    request_poll,
    runs_by_hour,
    set_channel_enabled,
)
from core.db import writing
from core.enums import Role, RunStatus
from core.errors import InvalidInput, NotAllowed, StaleEdit
from core.models import Channel, ConnectorRun, DeadLetter, Event, Order
from tests.factories import make_channel

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "shopify"
OPS, ADMIN, SUPPORT = Actor("olivia", role=Role.OPS_LEAD), Actor("ada", role=Role.ADMIN), Actor("sam", role=Role.SUPPORT)
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def a_raw_order() -> dict:
    return json.loads(next(FIXTURES.glob("paid_unfulfilled_multiline.json")).read_text(encoding="utf-8"))


@pytest.fixture
def polled(db):  # type: ignore[no-untyped-def]
    shop, quiet = make_channel(db, "busy-shop"), make_channel(db, "quiet-shop")
    with writing(db):
        for minutes, status, error in ((70, RunStatus.OK, None), (40, RunStatus.FAILED, "HTTP 503 after 5 tries"),
                                       (20, RunStatus.OK, None), (10, RunStatus.FAILED, "timed out")):
            db.add(ConnectorRun(channel_id=shop.id, connector=shop.code, started_at=NOW - minutes * M,
                                finished_at=NOW - minutes * M + M, status=status, fetched=3, written=2, error=error))
        db.add(ConnectorRun(channel_id=shop.id, connector=shop.code, started_at=NOW - 30 * 60 * M,
                            finished_at=NOW - 30 * 60 * M, status=RunStatus.OK))  # older than 24 h
        broken = a_raw_order()
        del broken["line_items"]
        db.add(DeadLetter(channel_id=shop.id, connector=shop.code, external_id=str(broken["id"]),
                          raw=json.dumps(broken), error="line_items: missing", received_at=NOW - 5 * M))
    return shop.id, quiet.id


def test_the_overview_has_lag_runs_error_rate_and_dead_letters(db, polled):
    busy, quiet = polled
    health = channel_health(db, now=NOW).set_index("channel")
    assert health.loc["busy-shop", ["state", "lag_minutes", "runs_24h", "failed_24h", "error_rate_pct",
                                    "dead_letters", "last_error"]].tolist() == [
        "running", 19.0, 4, 2, 50.0, 1, "timed out"]
    assert health.loc["quiet-shop", "runs_24h"] == 0 and pd.isna(health.loc["quiet-shop", "last_success"])
    assert recent_runs(db, busy)["status"].tolist()[:2] == ["Failed", "Ok"]
    hourly = runs_by_hour(db, busy, now=NOW)
    assert int(hourly["runs"].sum()) == 4 and int(hourly["failed"].sum()) == 2
    assert dead_letters(db, busy)["error"].tolist() == ["line_items: missing"]


def test_pause_resume_and_poll_now_are_for_ops_and_admins(db, polled):
    busy, _ = polled
    with pytest.raises(NotAllowed):
        set_channel_enabled(db, busy, False, actor=SUPPORT)
    assert set_channel_enabled(db, busy, False, actor=OPS) is True
    assert set_channel_enabled(db, busy, False, actor=OPS) is False  # already paused: nothing happens
    with pytest.raises(InvalidInput, match="paused"):
        request_poll(db, busy, actor=OPS)
    assert set_channel_enabled(db, busy, True, actor=ADMIN) is True
    assert list(db.scalars(select(Event.kind).where(Event.subject == "channel", Event.kind.like("channel_%"))
                          .order_by(Event.id)))[-2:] == ["channel_paused", "channel_resumed"]
    request_poll(db, busy, actor=OPS, now=datetime.now(UTC))
    assert "busy-shop" in poll_requests(db)
    with writing(db):  # the worker starts the poll: the request is served
        db.add(ConnectorRun(channel_id=busy, connector="busy-shop", started_at=datetime.now(UTC) + M))
    assert "busy-shop" not in poll_requests(db)


def test_polls_due_is_pure():
    asked = {"a": "2026-11-20T12:00:00+00:00", "b": "2026-11-20T12:00:00+00:00", "c": None}
    started = {"a": datetime(2026, 11, 20, 11, 59, tzinfo=UTC), "b": datetime(2026, 11, 20, 12, 1, tzinfo=UTC)}
    assert polls_due(asked, started) == ["a"]
    assert polls_due({"d": "2026-11-20T12:00:00+00:00"}, {}) == ["d"]  # never polled


def test_a_fixed_dead_letter_is_replayed_once_and_a_broken_one_stays(db, polled):
    busy, _ = polled
    letter = db.scalar(select(DeadLetter))
    with pytest.raises(InvalidInput, match="Still rejected: .*line_items"):
        replay_dead_letter(db, letter.id, parse=parse_order, actor=OPS)
    assert db.get(DeadLetter, letter.id).replayed_at is None
    fixed = a_raw_order()  # the channel's data was corrected: the same order, now complete
    with writing(db):
        db.get(DeadLetter, letter.id).raw = json.dumps(fixed)
    with pytest.raises(NotAllowed):
        replay_dead_letter(db, letter.id, parse=parse_order, actor=SUPPORT)
    number = replay_dead_letter(db, letter.id, parse=parse_order, actor=OPS)
    order = db.scalar(select(Order).where(Order.number == number, Order.channel_id == busy))
    assert order is not None and order.external_id == str(fixed["id"]) and order.lines
    db.expire_all()
    assert db.get(DeadLetter, letter.id).replayed_at is not None and dead_letters(db, busy).empty
    with pytest.raises(StaleEdit):
        replay_dead_letter(db, letter.id, parse=parse_order, actor=OPS)
    assert db.get(Channel, busy).enabled
