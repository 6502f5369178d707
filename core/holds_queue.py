"""Read models of the exception & hold queue: small DataFrames, filtered, sorted and paged in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session, aliased

from core.enums import HoldCode, HoldState
from core.models import Channel, Hold, Order, User, utcnow
from core.queries import Page

ANYONE, ME, NOBODY = "anyone", "me", "nobody"

HOLD_COLUMNS = [
    "hold_id", "hold_version", "code", "blocking", "order_id", "order_version", "number", "channel", "status",
    "customer", "country", "total", "currency", "ship_by", "opened_at", "assignee", "note",
]


@dataclass(frozen=True)
class HoldFilter:
    """Which open items to show. ``assignee`` is ANYONE, ME, NOBODY or a user id."""

    codes: tuple[HoldCode, ...] = ()
    channel_ids: tuple[int, ...] = ()
    assignee: str | int = ANYONE
    older_than_hours: float | None = None
    blocking_only: bool = False


def _conditions(flt: HoldFilter, user_id: int | None, now: datetime) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [Hold.state == HoldState.OPEN, Hold.order_id.is_not(None)]
    if flt.codes:
        conds.append(Hold.code.in_(flt.codes))
    if flt.channel_ids:
        conds.append(Order.channel_id.in_(flt.channel_ids))
    if flt.assignee == ME:
        conds.append(Hold.assignee_id == user_id)
    elif flt.assignee == NOBODY:
        conds.append(Hold.assignee_id.is_(None))
    elif isinstance(flt.assignee, int):
        conds.append(Hold.assignee_id == flt.assignee)
    if flt.older_than_hours:
        conds.append(Hold.opened_at <= now - timedelta(hours=flt.older_than_hours))
    if flt.blocking_only:
        conds.append(Hold.blocking.is_(True))
    return conds


def hold_queue(session: Session, flt: HoldFilter, *, user_id: int | None = None, page: int = 1,
               page_size: int = 50, now: datetime | None = None) -> Page:
    """Open items, most urgent first: blocking before non-blocking, then the earliest ship-by, then the oldest."""
    now = now or utcnow()
    conds = _conditions(flt, user_id, now)
    assignee = aliased(User)
    stmt = (
        select(Hold.id, Hold.version, Hold.code, Hold.blocking, Order.id, Order.version, Order.number,
               Channel.code, Order.status, Order.customer_name, Order.ship_country, Order.total, Order.currency,
               Order.ship_by, Hold.opened_at, assignee.username, Hold.note)
        .join(Order, Order.id == Hold.order_id).join(Channel, Channel.id == Order.channel_id)
        .outerjoin(assignee, assignee.id == Hold.assignee_id)
        .where(*conds)
        .order_by(case((Hold.blocking.is_(True), 0), else_=1), Order.ship_by, Hold.opened_at, Hold.id)
        .limit(page_size).offset((max(page, 1) - 1) * page_size)
    )
    rows = session.execute(stmt).all()
    total = session.scalar(
        select(func.count()).select_from(Hold).join(Order, Order.id == Hold.order_id).where(*conds)) or 0
    frame = pd.DataFrame.from_records([tuple(r) for r in rows], columns=HOLD_COLUMNS)
    if not frame.empty:
        frame["code"] = frame["code"].map(lambda c: HoldCode(c).value)
        frame["status"] = frame["status"].map(lambda s: getattr(s, "label", s))
        frame["total"] = frame["total"].astype(float)
    return Page(frame, total, max(page, 1), page_size)


def open_counts_by_code(session: Session) -> dict[HoldCode, int]:
    """How many items of each code are open (order holds only; stock alerts have their own view)."""
    rows = session.execute(
        select(Hold.code, func.count()).where(Hold.state == HoldState.OPEN, Hold.order_id.is_not(None))
        .group_by(Hold.code)
    )
    return {HoldCode(code): n for code, n in rows}


def holds_of_order(session: Session, order_id: int) -> pd.DataFrame:
    """Every hold an order ever had, for the order page."""
    rows = session.execute(
        select(Hold.id, Hold.code, Hold.blocking, Hold.state, Hold.opened_at, Hold.resolution, Hold.resolved_by,
               Hold.resolved_at, Hold.note)
        .where(Hold.order_id == order_id).order_by(Hold.opened_at, Hold.id)
    ).all()
    return pd.DataFrame.from_records(
        [tuple(r) for r in rows],
        columns=["hold_id", "code", "blocking", "state", "opened_at", "resolution", "resolved_by", "resolved_at",
                 "note"])


def active_users(session: Session) -> list[tuple[int, str]]:
    """(id, username) of active users, for the assign picker."""
    return [(uid, name) for uid, name in
            session.execute(select(User.id, User.username).where(User.active.is_(True)).order_by(User.username))]
