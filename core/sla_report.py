"""The SLA page's read models: what breaches next and why, and the backlog by age - aggregated in SQL.

Everything here reads the same columns the order queue shows (``is_open``, ``ship_by``,
``placed_at``, ``status``), so a count on the SLA page and the queue filtered the same way agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from core.enums import HoldCode, HoldState, OrderStatus, SlaState
from core.models import Channel, Hold, Order
from core.sla import sla_state

# Backlog age buckets: (label, lower bound in hours since placed); each runs to the next bound.
AGE_BUCKETS: tuple[tuple[str, int], ...] = (
    ("under 1 day", 0), ("1-2 days", 24), ("2-3 days", 48), ("3-7 days", 72), ("over 7 days", 168))

WHY_BY_STATUS = {
    OrderStatus.NEW: "not yet checked by the hold rules",
    OrderStatus.READY: "ready, waiting for allocation",
    OrderStatus.ALLOCATED: "allocated, not yet shipped",
    OrderStatus.BACKORDERED: "backordered: stock is short",
    OrderStatus.PARTIALLY_SHIPPED: "partly shipped, the rest is not",
}

DUE_COLUMNS = ["id", "number", "channel", "status", "ship_by", "state", "why"]


@dataclass(frozen=True)
class SlaFilter:
    channel_ids: tuple[int, ...] = ()


def _conds(flt: SlaFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [Order.is_open.is_(True)]
    if flt.channel_ids:
        conds.append(Order.channel_id.in_(flt.channel_ids))
    return conds


def sla_counts(session: Session, flt: SlaFilter, *, now: datetime, window: timedelta) -> dict[SlaState, int]:
    """Open orders breached, at risk and on track right now (one grouped query on the queue index)."""
    state = case((Order.ship_by <= now, SlaState.BREACHED.value),
                 (Order.ship_by <= now + window, SlaState.AT_RISK.value), else_=SlaState.ON_TRACK.value)
    rows = session.execute(select(state, func.count()).where(*_conds(flt)).group_by(state)).all()
    counts = {s: 0 for s in SlaState}
    counts.update({SlaState(k): n for k, n in rows})
    return counts


def due_next(session: Session, flt: SlaFilter, *, now: datetime, window: timedelta, limit: int = 200) -> pd.DataFrame:
    """Breached and at-risk open orders, the most overdue first, each with why it has not shipped."""
    rows = session.execute(
        select(Order.id, Order.number, Channel.code, Order.status, Order.ship_by)
        .join(Channel, Channel.id == Order.channel_id)
        .where(*_conds(flt), Order.ship_by <= now + window)
        .order_by(Order.ship_by, Order.placed_at, Order.id).limit(limit)
    ).all()
    blocking = _blocking_holds(session, [r[0] for r in rows])
    out = [(oid, number, channel, status.label, deadline, sla_state(deadline, now, window).label,
            _why(status, blocking.get(oid, [])))
           for oid, number, channel, status, deadline in rows]
    return pd.DataFrame(out, columns=DUE_COLUMNS)


def _blocking_holds(session: Session, order_ids: list[int]) -> dict[int, list[HoldCode]]:
    """The open blocking holds of these orders, oldest first."""
    found: dict[int, list[HoldCode]] = {}
    if order_ids:
        for oid, code in session.execute(
                select(Hold.order_id, Hold.code).where(Hold.order_id.in_(order_ids), Hold.state == HoldState.OPEN,
                                                       Hold.blocking.is_(True)).order_by(Hold.opened_at)):
            found.setdefault(oid, []).append(code)
    return found


def _why(status: OrderStatus, holds: list[HoldCode]) -> str:
    if status is OrderStatus.ON_HOLD or holds:
        return "on hold: " + (", ".join(h.label for h in holds) if holds else "waiting for the ops lead")
    return WHY_BY_STATUS.get(status, status.label.lower())


def backlog_by_age(session: Session, flt: SlaFilter, *, now: datetime) -> pd.DataFrame:
    """Open orders per age bucket (time since placed), with how many of them are already past their ship-by."""
    bucket = case(*[(Order.placed_at <= now - timedelta(hours=lower), label)
                    for label, lower in reversed(AGE_BUCKETS[1:])], else_=AGE_BUCKETS[0][0])
    late = func.sum(case((Order.ship_by <= now, 1), else_=0))
    rows = dict((label, (n, int(b or 0))) for label, n, b in session.execute(
        select(bucket, func.count(), late).where(*_conds(flt)).group_by(bucket)))
    data: list[tuple[Any, ...]] = [(label, *rows.get(label, (0, 0))) for label, _ in AGE_BUCKETS]
    return pd.DataFrame(data, columns=["age", "open_orders", "past_ship_by"])
