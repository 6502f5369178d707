"""Changing a channel's SLA policy, and moving its open orders' ship-by with it.

An admin edits the policy; every open order of that channel whose deadline came from the
policy (not from the channel itself, like Amazon's LatestShipDate) gets the deadline the new
policy gives it, with an event saying from what to what and why. Batched, one short write
transaction per batch, so the desk and the worker keep going meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from core.auth import Actor
from core.db import insert_rows, writing
from core.enums import HoldState, Permission
from core.errors import InvalidInput, NotFound, StaleEdit
from core.events import record_event
from core.models import Channel, Event, Hold, Order, utcnow
from core.sla import SlaPolicy, ship_by
from core.triage import event_row

BATCH = 500


@dataclass(frozen=True)
class PolicyChange:
    channel: str
    orders_checked: int
    deadlines_moved: int


def set_sla_policy(session: Session, channel_id: int, policy: SlaPolicy, *, actor: Actor,
                   expected: dict | None = None,
                   progress: Callable[[int, int], None] | None = None) -> PolicyChange:
    """Store a channel's new policy and recompute the ship-by of its open, policy-dated orders.

    ``expected`` is the stored policy the form was showing: a save over someone else's newer
    one is refused ("changed by someone else"). ``progress`` gets (done, total) per batch.
    """
    actor.require(Permission.MANAGE_CHANNELS)
    if problems := policy.problems():
        raise InvalidInput("SLA policy: " + "; ".join(problems) + ".")
    with writing(session):
        channel = session.get(Channel, channel_id, populate_existing=True, with_for_update=True)
        if channel is None:
            raise NotFound(f"No channel with id {channel_id}.")
        before = dict(channel.sla_policy or {})
        if expected is not None and SlaPolicy.from_dict(before) != SlaPolicy.from_dict(expected):
            raise StaleEdit(f"The SLA policy of {channel.code}")
        channel.sla_policy = policy.to_dict()
        code = channel.code
        record_event(session, None, "sla_policy_changed", actor, subject="channel",
                     detail={"channel": code, "before": before, "after": policy.to_dict()})
    ids = list(session.scalars(select(Order.id).where(
        Order.channel_id == channel_id, Order.is_open.is_(True), Order.ship_by_source == "policy").order_by(Order.id)))
    session.commit()
    moved = 0
    for start in range(0, len(ids), BATCH):
        with writing(session):
            moved += _recompute(session, ids[start:start + BATCH], policy, actor, code)
        if progress:
            progress(min(start + BATCH, len(ids)), len(ids))
    return PolicyChange(code, len(ids), moved)


_MOVE = (update(Order.__table__).where(Order.__table__.c.id == bindparam("oid"))
         .values(ship_by=bindparam("new_ship_by", type_=Order.ship_by.type), version=Order.__table__.c.version + 1,
                 updated_at=bindparam("now", type_=Order.updated_at.type)))
_HOLDS = (update(Hold.__table__).where(Hold.__table__.c.order_id == bindparam("oid"),
                                       Hold.__table__.c.state == HoldState.OPEN.value)
          .values(order_ship_by=bindparam("new_ship_by", type_=Hold.order_ship_by.type)))


def _recompute(session: Session, ids: list[int], policy: SlaPolicy, actor: Actor, channel: str) -> int:
    rows = session.execute(select(Order.id, Order.placed_at, Order.ship_by).where(
        Order.id.in_(ids), Order.is_open.is_(True), Order.ship_by_source == "policy")).all()
    now = utcnow()
    changes = [(oid, old, new) for oid, placed, old in rows if (new := ship_by(placed, policy)) != old]
    if not changes:
        return 0
    params = [{"oid": oid, "new_ship_by": new, "now": now} for oid, _, new in changes]
    conn = session.connection()
    conn.execute(_MOVE, params)
    conn.execute(_HOLDS, [{"oid": p["oid"], "new_ship_by": p["new_ship_by"]} for p in params])
    insert_rows(session, Event.__table__, [
        event_row(oid, "ship_by_changed", actor, now, {
            "before": old.isoformat(), "after": new.isoformat(), "reason": f"the SLA policy of {channel} changed"})
        for oid, old, new in changes])
    return len(changes)
