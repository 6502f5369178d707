"""The managers' KPI overview, aggregated in SQL from the same columns the order list shows.

Orders count by when they were placed (``orders.placed_at``) in the viewer's local days;
"fulfilled" means Shipped or Delivered now; exceptions are order holds (not stock alerts)
opened or resolved in the range; returns count RMAs opened in the range against orders shipped
in it; connector lag is the time since each channel's last successful poll.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, case, func, literal, select
from sqlalchemy.orm import Session

from core.connector_health import channel_health
from core.enums import FULFILLED_STATUSES, Grade, HoldCode, OrderStatus
from core.models import Channel, Hold, Order, Return, ReturnLine
from core.sqltime import hour_bucket, hours_between, local_bounds, local_day, p50_p90_by_group


@dataclass(frozen=True)
class KpiFilter:
    """Local days ``start``..``end`` (inclusive) in ``tz``; optionally some channels."""

    start: date
    end: date
    tz: str = "UTC"
    channel_ids: tuple[int, ...] = ()

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        return local_bounds(self.start, self.end, self.tz)

    def placed(self) -> list[ColumnElement[bool]]:
        begin, end = self.bounds
        conds = [Order.placed_at >= begin, Order.placed_at < end]
        if self.channel_ids:
            conds.append(Order.channel_id.in_(self.channel_ids))
        return conds


def orders_per_day(session: Session, flt: KpiFilter) -> pd.DataFrame:
    """Orders placed per local day and channel."""
    hour = hour_bucket(session, Order.placed_at)
    rows = session.execute(
        select(hour, Channel.code, func.count()).join(Channel, Channel.id == Order.channel_id)
        .where(*flt.placed()).group_by(hour, Channel.code)
    ).all()
    days: dict[tuple[date, str], int] = defaultdict(int)
    for bucket, channel, n in rows:
        days[(local_day(bucket, flt.tz), channel)] += int(n)
    return pd.DataFrame([(d, c, n) for (d, c), n in sorted(days.items())], columns=["day", "channel", "orders"])


def fulfilment(session: Session, flt: KpiFilter) -> dict[str, Any]:
    """Of the orders placed in the range: how many, cancelled, fulfilled, and the fulfilment rate (%)."""
    placed, cancelled, fulfilled = session.execute(
        select(func.count(), func.sum(case((Order.status == OrderStatus.CANCELLED, 1), else_=0)),
               func.sum(case((Order.status.in_(FULFILLED_STATUSES), 1), else_=0))).where(*flt.placed())
    ).one()
    placed, cancelled, fulfilled = int(placed or 0), int(cancelled or 0), int(fulfilled or 0)
    wanted = placed - cancelled
    return {"placed": placed, "cancelled": cancelled, "fulfilled": fulfilled,
            "rate_pct": round(100 * fulfilled / wanted, 1) if wanted else None}


def exceptions(session: Session, flt: KpiFilter) -> pd.DataFrame:
    """Per hold code: opened in the range, resolved in the range, and hours to resolve (p50, p90) of those."""
    begin, end = flt.bounds
    scope = [Hold.order_id.is_not(None)]
    if flt.channel_ids:
        scope.append(Hold.order_id.in_(select(Order.id).where(Order.channel_id.in_(flt.channel_ids))))
    opened = dict(session.execute(select(Hold.code, func.count()).where(
        *scope, Hold.opened_at >= begin, Hold.opened_at < end).group_by(Hold.code)).all())
    took = hours_between(session, Hold.opened_at, Hold.resolved_at)
    resolved = p50_p90_by_group(session, select(Hold.code.label("grp"), took.label("v")).where(
        *scope, Hold.resolved_at >= begin, Hold.resolved_at < end))
    codes = sorted(set(opened) | set(resolved), key=lambda c: HoldCode(c).value)
    rows = [(HoldCode(c).label, int(opened.get(c, 0)), resolved.get(c, {}).get("n", 0),
             resolved.get(c, {}).get("p50"), resolved.get(c, {}).get("p90")) for c in codes]
    return pd.DataFrame(rows, columns=["code", "opened", "resolved", "hours_to_resolve_p50", "hours_to_resolve_p90"])


def returns(session: Session, flt: KpiFilter) -> dict[str, Any]:
    """RMAs against orders placed in the range: the return rate (%), units per reason, the grade mix of the
    units received, and dock-to-stock hours (received to restocked, p50 / p90)."""
    placed = select(Order.id).where(*flt.placed())
    shipped = session.scalar(select(func.count()).where(*flt.placed(), Order.status.in_(FULFILLED_STATUSES))) or 0
    rmas = session.scalar(select(func.count(func.distinct(Return.order_id))).where(Return.order_id.in_(placed))) or 0
    reasons = session.execute(
        select(ReturnLine.reason, func.sum(ReturnLine.qty_authorised)).join(Return, Return.id == ReturnLine.return_id)
        .where(Return.order_id.in_(placed)).group_by(ReturnLine.reason)
        .order_by(func.sum(ReturnLine.qty_authorised).desc(), ReturnLine.reason)
    ).all()
    grades = session.execute(
        select(ReturnLine.grade, func.sum(ReturnLine.qty_received)).join(Return, Return.id == ReturnLine.return_id)
        .where(Return.order_id.in_(placed), ReturnLine.grade.is_not(None)).group_by(ReturnLine.grade)
    ).all()
    # Dock to stock: from the parcel's receipt to its units back on the shelf, restocked lines only.
    took = hours_between(session, Return.received_at, ReturnLine.restocked_at)
    dock = p50_p90_by_group(session, select(literal("all").label("grp"), took.label("v"))
                            .join(Return, Return.id == ReturnLine.return_id)
                            .where(Return.order_id.in_(placed), ReturnLine.restocked_at.is_not(None))).get("all", {})
    return {"orders_shipped": int(shipped), "orders_returned": int(rmas),
            "rate_pct": round(100 * rmas / shipped, 1) if shipped else None,
            "reasons": pd.DataFrame([(r.label, int(n)) for r, n in reasons], columns=["reason", "units"]),
            "grades": pd.DataFrame(sorted(((Grade(g).label, int(n or 0)) for g, n in grades)),
                                   columns=["grade", "units"]),
            "dock_to_stock_hours": {"n": dock.get("n", 0), "p50": dock.get("p50"), "p90": dock.get("p90")}}


def connector_lag(session: Session, *, now: datetime) -> pd.DataFrame:
    """Per channel: its last successful poll, minutes since, and runs and failed runs in the last 24 h."""
    health = channel_health(session, now=now)
    return pd.DataFrame({
        "channel": health["channel"], "enabled": health["state"] != "paused", "last_success": health["last_success"],
        "lag_minutes": health["lag_minutes"], "runs_24h": health["runs_24h"], "failed_24h": health["failed_24h"],
    })
