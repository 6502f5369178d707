"""Carrier accounts on Connector health: pause, resume, poll now, and a breaker that rests a failing account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.auth import Actor
from core.carrier_health import carrier_health
from core.carrier_ops import (
    carrier_poll_requests,
    replay_carrier_letter,
    request_carrier_poll,
    set_carrier_enabled,
)
from core.carriers import add_carrier_account
from core.db import engine_for, new_session
from core.enums import CarrierKind, Role, RunStatus, ShipmentStatus
from core.errors import InvalidInput, NotAllowed
from core.models import CarrierAccount, ConnectorRun, Event, Order, Shipment
from jobs import track as track_module
from jobs.track import poll_carrier
from sandbox.server import make_server
from tests.factories import ingest, make_channel, order_record

OPS, SUPPORT = Actor("olivia", role=Role.OPS_LEAD), Actor("sam", role=Role.SUPPORT)
KEY_ENV = "OPSDESK_TEST_CARRIER_OPS_KEY"


def _account(db, base_url: str = "http://127.0.0.1:9/unused") -> CarrierAccount:  # type: ignore[no-untyped-def]
    return add_carrier_account(db, "ep", kind=CarrierKind.EASYPOST, base_url=base_url, token_env=KEY_ENV,
                               carriers="*")


def _health(db):  # type: ignore[no-untyped-def]
    db.rollback()  # a fresh read: the worker's polls wrote through their own sessions
    return carrier_health(db, now=datetime.now(UTC)).set_index("carrier").loc["ep"]


def test_pause_resume_and_poll_now_are_for_ops_and_admins_and_leave_events(db):
    account = _account(db)
    with pytest.raises(NotAllowed):
        set_carrier_enabled(db, account.id, False, actor=SUPPORT)
    with pytest.raises(NotAllowed):
        request_carrier_poll(db, account.id, actor=SUPPORT)
    assert set_carrier_enabled(db, account.id, False, actor=OPS) is True
    assert set_carrier_enabled(db, account.id, False, actor=OPS) is False  # already paused: nothing to do
    assert _health(db)["state"] == "paused"
    with pytest.raises(InvalidInput, match="paused: resume it"):
        request_carrier_poll(db, account.id, actor=OPS)
    assert set_carrier_enabled(db, account.id, True, actor=OPS) is True
    asked_at = datetime.now(UTC) - timedelta(seconds=1)
    request_carrier_poll(db, account.id, actor=OPS, now=asked_at)
    assert carrier_poll_requests(db) == ["ep"]
    db.add(ConnectorRun(carrier_account_id=account.id, connector="ep", started_at=datetime.now(UTC)))
    db.commit()
    assert carrier_poll_requests(db) == []  # served: a run started after the request
    kinds = list(db.scalars(select(Event.kind).where(Event.subject == "carrier").order_by(Event.id)))
    assert kinds == ["carrier_added", "carrier_paused", "carrier_resumed", "poll_requested"]


@pytest.mark.timeout(240)
def test_a_failing_account_rests_shows_it_and_a_person_can_still_poll_it(db, db_url, monkeypatch):
    server = make_server(seed=4, token="right-key", orders_per_minute=0.0, backlog=3).start()
    try:
        monkeypatch.setenv("OPSDESK_DATABASE_URL", db_url)
        monkeypatch.setenv(KEY_ENV, "wrong-key")
        channel = make_channel(db)
        ingest(db, channel, [order_record(1)])
        db.add(Shipment(order_id=db.scalar(select(Order.id)), carrier="UPS", tracking_number="1ZOPS000001",
                        source="desk", shipped_at=datetime.now(UTC), status=ShipmentStatus.IN_TRANSIT))
        db.commit()
        account = _account(db, server.url)
        for _ in range(3):
            assert poll_carrier("ep").error  # refused: the API key is wrong
        rested = poll_carrier("ep")  # what the worker's next tick does
        assert rested.resting_until is not None and rested.error is None
        with new_session(engine_for(db_url)) as session:
            runs = list(session.scalars(select(ConnectorRun.status).where(
                ConnectorRun.carrier_account_id == account.id)))
        assert runs == [RunStatus.FAILED] * 3  # the rested tick made no run
        row = _health(db)
        assert row["state"] == "resting after 3 failed polls" and row["resting_until"] == rested.resting_until
        monkeypatch.setenv(KEY_ENV, "right-key")  # the cause fixed; "Poll now" passes the breaker
        fixed = poll_carrier("ep", respect_breaker=False)
        assert fixed.error is None and fixed.fetched == 1
        assert poll_carrier("ep").resting_until is None  # closed again by the success
        assert _health(db)["state"] == "running"
        later = datetime.now(UTC) + timedelta(hours=1)  # and it stays closed
        monkeypatch.setattr(track_module, "utcnow", lambda: later)
        assert poll_carrier("ep").resting_until is None
    finally:
        server.stop()


def test_a_fixed_unreadable_tracking_is_replayed_once_and_a_broken_one_stays(db):
    import json
    from pathlib import Path

    from connectors.easypost import parse_tracking
    from core.errors import StaleEdit
    from core.models import DeadLetter, TrackingEvent

    good = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "easypost" / "tracker_delivered.json")
                      .read_text())
    broken = dict(good, tracking_details="not a list")
    account = _account(db)
    channel = make_channel(db)
    ingest(db, channel, [order_record(1)])
    db.add(Shipment(order_id=db.scalar(select(Order.id)), carrier="UPS", tracking_number=good["tracking_code"],
                    source="desk", shipped_at=datetime.now(UTC) - timedelta(days=3), status=ShipmentStatus.IN_TRANSIT))
    db.add(DeadLetter(carrier_account_id=account.id, connector="ep", external_id=good["tracking_code"],
                      raw=json.dumps(broken), error="tracking_details: expected a list", received_at=datetime.now(UTC)))
    db.commit()
    letter_id = db.scalar(select(DeadLetter.id))
    with pytest.raises(NotAllowed):
        replay_carrier_letter(db, letter_id, parse=parse_tracking, actor=SUPPORT)
    with pytest.raises(InvalidInput, match="Still unreadable"):
        replay_carrier_letter(db, letter_id, parse=parse_tracking, actor=OPS)
    db.rollback()
    assert db.scalar(select(DeadLetter.replayed_at)) is None  # kept, waiting for a fix
    db.get(DeadLetter, letter_id).raw = json.dumps(good)  # the carrier's data, fixed
    db.commit()
    assert replay_carrier_letter(db, letter_id, parse=parse_tracking, actor=OPS) == good["tracking_code"]
    db.rollback()
    scans = db.scalar(select(func.count()).select_from(TrackingEvent))
    assert scans == len(good["tracking_details"]) and db.scalar(select(Shipment.status)) is ShipmentStatus.DELIVERED
    with pytest.raises(StaleEdit):
        replay_carrier_letter(db, letter_id, parse=parse_tracking, actor=OPS)
    db.rollback()
    assert db.scalar(select(func.count()).select_from(TrackingEvent)) == scans


def test_pausing_and_resuming_an_account_leave_who_when_and_before_after_in_the_audit(db):
    account = _account(db)
    started = datetime.now(UTC) - timedelta(seconds=1)
    set_carrier_enabled(db, account.id, False, actor=OPS)
    set_carrier_enabled(db, account.id, False, actor=OPS)  # nothing changed: no event
    set_carrier_enabled(db, account.id, True, actor=Actor("ada", role=Role.ADMIN))
    db.rollback()
    events = db.execute(select(Event.kind, Event.actor_name, Event.at, Event.detail, Event.order_id)
                        .where(Event.kind.in_(["carrier_paused", "carrier_resumed"])).order_by(Event.id)).all()
    assert [(e.kind, e.actor_name) for e in events] == [("carrier_paused", "olivia"), ("carrier_resumed", "ada")]
    assert [e.detail for e in events] == [
        {"carrier_account": "ep", "enabled": {"before": True, "after": False}},
        {"carrier_account": "ep", "enabled": {"before": False, "after": True}}]
    assert all((e.at if e.at.tzinfo else e.at.replace(tzinfo=UTC)) >= started and e.order_id is None for e in events)
