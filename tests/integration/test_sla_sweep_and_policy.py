"""SLA on the store (SQLite and PostgreSQL): the warning sweep, and moving deadlines when a policy changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select

from core.auth import WORKER, Actor
from core.db import writing
from core.enums import HoldCode, HoldState, OrderStatus, Role
from core.errors import InvalidInput, NotAllowed, StaleEdit
from core.models import Channel, Event, Hold, Order
from core.settings import save_sla_window, sla_window
from core.sla import SlaPolicy, ship_by
from core.sla_policy import set_sla_policy
from core.sla_watch import sweep_sla
from core.status import move_order
from core.timeline import describe
from tests.factories import T0, ingest, make_channel, order_record

ADMIN = Actor("ada", role=Role.ADMIN)
OPS = Actor("olivia", role=Role.OPS_LEAD)
POLICY = {"handling_days": 1, "cutoff": "14:00", "timezone": "America/New_York"}


def orders_due(db, *hours_from_t0: float) -> list[int]:  # type: ignore[no-untyped-def]
    """Open orders whose ship-by is T0 + each given number of hours (the channel sends its own deadline)."""
    channel = make_channel(db)
    records = [order_record(300 + i, ship_by=T0 + timedelta(hours=h)) for i, h in enumerate(hours_from_t0)]
    ingest(db, channel, records)
    return [db.scalar(select(Order.id).where(Order.external_id == r.external_id)) for r in records]


def sla_items(db, order_id: int) -> dict[HoldCode, HoldState]:  # type: ignore[no-untyped-def]
    db.expire_all()
    return {h.code: h.state for h in db.scalars(select(Hold).where(
        Hold.order_id == order_id, Hold.code.in_([HoldCode.SLA_AT_RISK, HoldCode.SLA_BREACHED])))}


def test_the_sweep_warns_before_and_after_the_deadline_and_is_idempotent(db):
    later, soon, past = orders_due(db, 10, 2, -1)
    result = sweep_sla(db, actor=WORKER, now=T0, window=timedelta(hours=4))
    assert (result.at_risk_opened, result.breached_opened, result.cleared) == (1, 1, 0)
    assert sla_items(db, later) == {}
    assert sla_items(db, soon) == {HoldCode.SLA_AT_RISK: HoldState.OPEN}
    assert sla_items(db, past) == {HoldCode.SLA_BREACHED: HoldState.OPEN}
    again = sweep_sla(db, actor=WORKER, now=T0, window=timedelta(hours=4))
    assert (again.at_risk_opened, again.breached_opened, again.cleared) == (0, 0, 0)
    # Three hours on: the at-risk order has breached (its warning turns into a breach), the later one is at risk.
    moved = sweep_sla(db, actor=WORKER, now=T0 + timedelta(hours=7), window=timedelta(hours=4))
    assert (moved.at_risk_opened, moved.breached_opened, moved.cleared) == (1, 1, 1)
    assert sla_items(db, soon) == {HoldCode.SLA_AT_RISK: HoldState.RESOLVED, HoldCode.SLA_BREACHED: HoldState.OPEN}
    assert sla_items(db, later) == {HoldCode.SLA_AT_RISK: HoldState.OPEN}
    # The warnings never hold an order: it is still ready to allocate.
    assert db.scalar(select(Order.status).where(Order.id == soon)) is OrderStatus.READY
    hold = db.scalar(select(Hold).where(Hold.order_id == soon, Hold.code == HoldCode.SLA_BREACHED))
    assert not hold.blocking and "ship-by has passed" in hold.note


def test_shipping_or_cancelling_closes_the_warnings(db):
    shipped, cancelled = orders_due(db, -2, 1)
    sweep_sla(db, actor=WORKER, now=T0, window=timedelta(hours=4))
    with writing(db):
        for oid, target in ((shipped, OrderStatus.SHIPPED), (cancelled, OrderStatus.CANCELLED)):
            order = db.get(Order, oid)
            if target is OrderStatus.SHIPPED:
                move_order(db, order, OrderStatus.ALLOCATED, actor=WORKER)
            move_order(db, order, target, actor=OPS)
    result = sweep_sla(db, actor=WORKER, now=T0, window=timedelta(hours=4))
    assert result.cleared == 2
    assert sla_items(db, shipped) == {HoldCode.SLA_BREACHED: HoldState.RESOLVED}
    assert sla_items(db, cancelled) == {HoldCode.SLA_AT_RISK: HoldState.RESOLVED}
    reasons = list(db.scalars(select(Event.detail).where(Event.kind == "hold_cleared", Event.order_id == shipped)))
    assert any("shipped or was cancelled" in d["reason"] for d in reasons)


def test_the_window_is_a_setting_only_an_admin_changes(db):
    assert sla_window(db) == timedelta(hours=4)
    with pytest.raises(NotAllowed):
        save_sla_window(db, 6, actor=OPS)
    with pytest.raises(InvalidInput):
        save_sla_window(db, 0, actor=ADMIN)
    save_sla_window(db, 6, actor=ADMIN)
    assert sla_window(db) == timedelta(hours=6)
    (soon,) = orders_due(db, 5)
    sweep_sla(db, actor=WORKER, now=T0)  # the stored window: 5 h away is at risk now
    assert sla_items(db, soon) == {HoldCode.SLA_AT_RISK: HoldState.OPEN}


def test_a_new_policy_moves_the_open_policy_dated_orders_and_their_warnings(db):
    channel = make_channel(db)
    with writing(db):
        db.get(Channel, channel.id).sla_policy = POLICY
    records = [order_record(400 + i, placed_at=T0 + timedelta(hours=i)) for i in range(3)]
    own = order_record(410, ship_by=T0 + timedelta(days=2))  # the channel's own deadline stays
    ingest(db, channel, [*records, own])
    ids = [db.scalar(select(Order.id).where(Order.external_id == r.external_id)) for r in records]
    with writing(db):  # one of them has shipped: history is not rewritten
        done = db.get(Order, ids[2])
        move_order(db, done, OrderStatus.ALLOCATED, actor=WORKER)
        move_order(db, done, OrderStatus.SHIPPED, actor=OPS)
        old_shipped_deadline = done.ship_by
    sweep_sla(db, actor=WORKER, now=ship_by(T0, SlaPolicy.from_dict(POLICY)) - timedelta(hours=1),
              window=timedelta(hours=4))
    new = SlaPolicy(handling_days=3, cutoff=time(12, 0), timezone="America/Los_Angeles")
    seen = []
    change = set_sla_policy(db, channel.id, new, actor=ADMIN, expected=POLICY,
                            progress=lambda n, total: seen.append((n, total)))
    assert (change.orders_checked, change.deadlines_moved) == (2, 2) and seen == [(2, 2)]
    db.expire_all()
    for oid, record in zip(ids[:2], records[:2], strict=True):
        order = db.get(Order, oid)
        assert order.ship_by == ship_by(record.placed_at, new)
        assert all(h.order_ship_by == order.ship_by for h in db.scalars(
            select(Hold).where(Hold.order_id == oid, Hold.state == HoldState.OPEN)))
        event = db.scalar(select(Event).where(Event.order_id == oid, Event.kind == "ship_by_changed"))
        assert "changed" in describe(event.kind, event.detail) and "UTC" in describe(event.kind, event.detail)
    assert db.get(Order, ids[2]).ship_by == old_shipped_deadline
    assert db.scalar(select(Order.ship_by).where(Order.external_id == own.external_id)) == T0 + timedelta(days=2)
    assert SlaPolicy.from_dict(db.get(Channel, channel.id).sla_policy) == new
    # The deadlines moved days out: the next sweep closes the at-risk warnings it no longer deserves.
    result = sweep_sla(db, actor=WORKER, now=ship_by(T0, SlaPolicy.from_dict(POLICY)) - timedelta(hours=1),
                       window=timedelta(hours=4))
    assert result.cleared >= 1 and all(HoldState.OPEN not in sla_items(db, oid).values() for oid in ids[:2])


def test_a_policy_change_is_checked_refused_to_others_and_never_overwrites_a_newer_one(db):
    channel = make_channel(db)
    with pytest.raises(NotAllowed):
        set_sla_policy(db, channel.id, SlaPolicy(), actor=OPS)
    with pytest.raises(InvalidInput, match="unknown time zone"):
        set_sla_policy(db, channel.id, SlaPolicy(timezone="Mars/Olympus"), actor=ADMIN)
    with pytest.raises(InvalidInput, match="business day"):
        set_sla_policy(db, channel.id, SlaPolicy(business_days=frozenset()), actor=ADMIN)
    set_sla_policy(db, channel.id, SlaPolicy(handling_days=2), actor=ADMIN, expected={})
    with pytest.raises(StaleEdit):  # a second admin still showing the old (empty) policy
        set_sla_policy(db, channel.id, SlaPolicy(handling_days=5), actor=ADMIN, expected={})
    db.expire_all()
    assert SlaPolicy.from_dict(db.get(Channel, channel.id).sla_policy).handling_days == 2


def test_sla_state_is_pure():
    from core.enums import SlaState
    from core.sla import sla_state

    deadline = datetime(2026, 11, 20, 19, 0, tzinfo=UTC)
    window = timedelta(hours=4)
    assert sla_state(deadline, deadline - timedelta(hours=5), window) is SlaState.ON_TRACK
    assert sla_state(deadline, deadline - timedelta(hours=4), window) is SlaState.AT_RISK
    assert sla_state(deadline, deadline - timedelta(seconds=1), window) is SlaState.AT_RISK
    assert sla_state(deadline, deadline, window) is SlaState.BREACHED
