"""Read models of the exception & hold queue: small DataFrames, filtered, sorted and paged in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Select, bindparam, func, select
from sqlalchemy.orm import Session, aliased

from core.enums import HoldCode, HoldState
from core.models import Channel, Hold, Order, User, utcnow
from core.queries import STATUS_LABEL, Page, object_frame

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


def _conditions(flt: HoldFilter, user_id: int | None, now: datetime) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The filter's shape (which filters are set) and its bound values; see ``_statements``."""
    values: dict[str, Any] = {}
    if flt.codes:
        values["codes"] = list(flt.codes)
    if flt.channel_ids:
        values["channels"] = list(flt.channel_ids)
    assignee_mode = ANYONE
    if flt.assignee == ME:
        assignee_mode, values["assignee"] = "one", user_id
    elif flt.assignee == NOBODY:
        assignee_mode = NOBODY
    elif isinstance(flt.assignee, int):
        assignee_mode, values["assignee"] = "one", flt.assignee
    if flt.older_than_hours:
        values["opened_before"] = now - timedelta(hours=flt.older_than_hours)
    shape = ("codes" in values, "channels" in values, assignee_mode, "opened_before" in values, flt.blocking_only)
    return shape, values


@lru_cache(maxsize=64)
def _statements(shape: tuple[Any, ...]) -> tuple[Select, Select]:
    """The page and count statements of one filter shape, built once (building costs as much as running)."""
    codes, channels, assignee_mode, aged, blocking_only = shape
    conds: list[ColumnElement[bool]] = [Hold.state == HoldState.OPEN, Hold.order_id.is_not(None)]
    if codes:
        conds.append(Hold.code.in_(bindparam("codes", expanding=True)))
    if channels:
        conds.append(Order.channel_id.in_(bindparam("channels", expanding=True)))
    if assignee_mode == "one":
        conds.append(Hold.assignee_id == bindparam("assignee"))
    elif assignee_mode == NOBODY:
        conds.append(Hold.assignee_id.is_(None))
    if aged:
        conds.append(Hold.opened_at <= bindparam("opened_before", type_=Hold.opened_at.type))
    if blocking_only:
        conds.append(Hold.blocking.is_(True))
    assignee = aliased(User)
    page = (
        select(Hold.id, Hold.version, Hold.code, Hold.blocking, Order.id, Order.version, Order.number,
               Channel.code, Order.status, Order.customer_name, Order.ship_country, Order.total, Order.currency,
               Order.ship_by, Hold.opened_at, assignee.username, Hold.note)
        .join(Order, Order.id == Hold.order_id).join(Channel, Channel.id == Order.channel_id)
        .outerjoin(assignee, assignee.id == Hold.assignee_id)
        .where(*conds)
        .order_by(Hold.blocking.desc(), Hold.order_ship_by, Hold.opened_at, Hold.id)  # ix_holds_urgency
        .limit(bindparam("page_limit")).offset(bindparam("page_offset"))
    )
    counted = select(func.count()).select_from(Hold)
    if channels:  # only the channel filter needs the order
        counted = counted.join(Order, Order.id == Hold.order_id)
    return page, counted.where(*conds)


def hold_queue(session: Session, flt: HoldFilter, *, user_id: int | None = None, page: int = 1,
               page_size: int = 50, now: datetime | None = None) -> Page:
    """Open items, most urgent first: blocking before non-blocking, then the earliest ship-by, then the oldest.

    The ship-by is the order's, as copied onto the hold (``Hold.order_ship_by``).
    """
    shape, values = _conditions(flt, user_id, now or utcnow())
    page_stmt, count_stmt = _statements(shape)
    conn = session.connection()  # Core execution: plain rows, the ORM adds nothing here
    rows = conn.execute(page_stmt, {**values, "page_limit": page_size,
                                    "page_offset": (max(page, 1) - 1) * page_size}).all()
    total = conn.execute(count_stmt, values).scalar() or 0
    return Page(_frame(rows), total, max(page, 1), page_size)


def _frame(rows: list[Any]) -> pd.DataFrame:
    return object_frame([(r[0], r[1], _CODE[r[2]], *r[3:8], STATUS_LABEL[r[8]], *r[9:11], float(r[11]), *r[12:])
                         for r in rows], HOLD_COLUMNS)


_CODE = {c: c.value for c in HoldCode} | {c.value: c.value for c in HoldCode}


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
