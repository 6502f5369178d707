"""Read models for the pages: small DataFrames, filtered, sorted and paged in SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import ColumnElement, Select, and_, func, select, union
from sqlalchemy.orm import Session

from core import search
from core.enums import OPEN_STATUSES, OrderStatus
from core.models import Channel, Order, Shipment

COUNT_CAP = 10_000

QUEUE_COLUMNS = [
    "id", "number", "channel", "status", "customer", "email", "country", "total", "currency",
    "placed_at", "ship_by",
]


@dataclass(frozen=True)
class QueueFilter:
    """What the order queue shows. No statuses means every open order."""

    channel_ids: tuple[int, ...] = ()
    statuses: tuple[OrderStatus, ...] = ()
    placed_from: date | None = None
    placed_to: date | None = None  # inclusive
    text: str = ""
    tz: str = field(default="UTC")


@dataclass(frozen=True)
class Page:
    """One page of a server-paged table and the total behind it."""

    rows: pd.DataFrame
    total: int
    page: int
    page_size: int
    capped: bool = False  # the total is COUNT_CAP, and more match: shown as "10,000+"

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def _row_select() -> Select:
    return select(
        Order.id, Order.number, Channel.code.label("channel"), Order.status,
        Order.customer_name.label("customer"), Order.email, Order.ship_country.label("country"),
        Order.total, Order.currency, Order.placed_at, Order.ship_by,
    ).join(Channel, Channel.id == Order.channel_id)


def _queue_conditions(flt: QueueFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    statuses = set(flt.statuses)
    if not statuses or statuses == set(OPEN_STATUSES):
        conds.append(Order.is_open.is_(True))  # the whole queue is one index range
    else:
        conds.append(Order.status.in_(sorted(statuses)))  # read off the (status, ship_by) index
    if flt.channel_ids:
        conds.append(Order.channel_id.in_(flt.channel_ids))
    zone = ZoneInfo(flt.tz)
    if flt.placed_from:
        conds.append(Order.placed_at >= datetime.combine(flt.placed_from, time(), zone).astimezone(UTC))
    if flt.placed_to:
        end = datetime.combine(flt.placed_to + timedelta(days=1), time(), zone).astimezone(UTC)
        conds.append(Order.placed_at < end)
    if flt.text.strip():
        conds.append(search_condition(flt.text))
    return conds


def order_queue(session: Session, flt: QueueFilter, *, page: int = 1, page_size: int = 50) -> Page:
    """One page of the live queue, sorted by ship-by then placed time, with the filtered total."""
    conds = _queue_conditions(flt)
    stmt = (
        _row_select().where(*conds)
        .order_by(Order.ship_by, Order.placed_at, Order.id)
        .limit(page_size).offset((max(page, 1) - 1) * page_size)
    )
    conn = session.connection()  # Core execution: these are plain rows, the ORM adds nothing here
    rows = conn.execute(stmt).all()
    capped = False
    if page <= 1 and len(rows) < page_size:
        total = len(rows)  # the whole result is on this page: no need to count
    else:
        # Counted up to a cap: past ten thousand nobody pages, they filter - and the count stays
        # as cheap at a million orders as at ten thousand.
        matching = select(Order.id).where(*conds).limit(COUNT_CAP + 1).subquery()
        total = conn.execute(select(func.count()).select_from(matching)).scalar() or 0
        capped, total = total > COUNT_CAP, min(total, COUNT_CAP)
    return Page(rows=_frame(rows), total=total, page=max(page, 1), page_size=page_size,
                capped=capped)


def open_status_counts(session: Session) -> dict[OrderStatus, int]:
    """How many open orders are in each status (read off the status index)."""
    rows = session.execute(
        select(Order.status, func.count()).where(Order.status.in_(OPEN_STATUSES)).group_by(Order.status)
    )
    counts = {status: 0 for status in OPEN_STATUSES}
    counts.update({status: n for status, n in rows})
    return counts


def search_condition(term: str) -> ColumnElement[bool]:
    """Orders matching what a customer might quote: number, channel id, email, name, phone or tracking.

    The matches are collected as a UNION of equality and prefix-range look-ups, each on its own
    index, so the plan does not depend on table statistics and stays fast at millions of orders.
    """
    raw = term.strip()[:200]
    text = search.norm_text(raw) or ""
    branches: list[Select] = [
        select(Order.id).where(Order.search_number == search.norm_number(raw)),
        # The (channel, external id) unique index, probed once per channel.
        select(Order.id).where(Order.channel_id.in_(select(Channel.id)), Order.external_id == raw),
        select(Shipment.order_id).where(Shipment.tracking_number.in_({raw, raw.upper()})),
    ]
    if text:
        branches += [select(Order.id).where(_prefix(column, text))
                     for column in (Order.search_email, Order.search_name, Order.search_last)]
    digits = search.phone_key(raw)
    if digits and len(digits) >= 5 and len(digits) >= len(raw.replace(" ", "")) * 0.6:
        branches.append(select(Order.id).where(_prefix(Order.search_phone_rev, digits)))
    return Order.id.in_(union(*branches))


def _prefix(column, prefix: str) -> ColumnElement[bool]:  # type: ignore[no-untyped-def]
    return and_(column >= prefix, column < search.prefix_upper_bound(prefix))


def find_orders(session: Session, term: str, *, limit: int = 50) -> pd.DataFrame:
    """Orders matching a support search, newest first."""
    if not term.strip():
        return _frame([])
    stmt = _row_select().where(search_condition(term)).order_by(Order.placed_at.desc()).limit(limit)
    return _frame(session.connection().execute(stmt).all())


def _frame(rows) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """Rows to a DataFrame column by column (about twice as fast as from_records for a page)."""
    data = dict(zip(QUEUE_COLUMNS, zip(*rows, strict=True), strict=True)) if rows else \
        {c: [] for c in QUEUE_COLUMNS}
    data["status"] = [_STATUS_LABEL[s] for s in data["status"]]
    data["total"] = [float(t) for t in data["total"]]
    return pd.DataFrame(data, columns=QUEUE_COLUMNS)


_STATUS_LABEL = {s: s.label for s in OrderStatus} | {s.value: s.label for s in OrderStatus}
