"""Read models for the pages: small DataFrames, filtered, sorted and paged in SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, Select, and_, bindparam, func, select, union
from sqlalchemy.orm import Session

from core import search
from core.enums import OPEN_STATUSES, OrderStatus
from core.models import Channel, Order, Shipment

COUNT_AHEAD = 1_000  # the total is counted this far past the current page...
COUNT_CAP = 10_000  # ...and never further: past that nobody pages, they filter

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
    capped: bool = False  # more match than were counted: the total is shown as "1,000+"

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def _row_select() -> Select:
    return select(
        Order.id, Order.number, Channel.code.label("channel"), Order.status,
        Order.customer_name.label("customer"), Order.email, Order.ship_country.label("country"),
        Order.total, Order.currency, Order.placed_at, Order.ship_by,
    ).join(Channel, Channel.id == Order.channel_id)


def _queue_conditions(flt: QueueFilter) -> tuple[list[ColumnElement[bool]], dict[str, Any]]:
    """The filter as conditions on bound parameters, and the parameters' values.

    Apart from free text, the conditions depend only on which filters are set (not on their
    values), so the statements built from them are built once per shape (``_queue_statements``).
    """
    conds: list[ColumnElement[bool]] = []
    values: dict[str, Any] = {}
    statuses = set(flt.statuses)
    if not statuses or statuses == set(OPEN_STATUSES):
        conds.append(Order.is_open.is_(True))  # the whole queue is one index range
    else:
        conds.append(Order.status.in_(bindparam("statuses", expanding=True)))  # the (status, ship_by) index
        values["statuses"] = sorted(statuses)
    if flt.channel_ids:
        conds.append(Order.channel_id.in_(bindparam("channels", expanding=True)))
        values["channels"] = list(flt.channel_ids)
    zone = ZoneInfo(flt.tz)
    if flt.placed_from:
        conds.append(Order.placed_at >= bindparam("placed_from", type_=Order.placed_at.type))
        values["placed_from"] = datetime.combine(flt.placed_from, time(), zone).astimezone(UTC)
    if flt.placed_to:
        conds.append(Order.placed_at < bindparam("placed_to", type_=Order.placed_at.type))
        values["placed_to"] = datetime.combine(flt.placed_to + timedelta(days=1), time(), zone).astimezone(UTC)
    if search.clean_term(flt.text):
        conds.append(search_condition(flt.text))
    return conds, values


def _build_queue_statements(conds: list[ColumnElement[bool]]) -> tuple[Select, Select]:
    page = (
        _row_select().where(*conds)
        .order_by(Order.ship_by, Order.placed_at, Order.id)
        .limit(bindparam("page_limit", literal_execute=False)).offset(bindparam("page_offset"))
    )
    # Counted only a little past the current page (see ``count_limit``), so the count costs the
    # same at a million orders as at ten thousand.
    matching = select(Order.id).where(*conds).limit(bindparam("count_limit")).subquery()
    return page, select(func.count()).select_from(matching)


@lru_cache(maxsize=32)
def _queue_statements(shape: tuple[bool, ...]) -> tuple[Select, Select]:
    """The page and count statements of one filter shape, built once (building costs as much as running)."""
    statuses, channels, placed_from, placed_to = shape
    flt = QueueFilter(
        statuses=(OrderStatus.ON_HOLD,) if statuses else (), channel_ids=(0,) if channels else (),
        placed_from=date.min if placed_from else None, placed_to=date.min if placed_to else None)
    return _build_queue_statements(_queue_conditions(flt)[0])


def order_queue(session: Session, flt: QueueFilter, *, page: int = 1, page_size: int = 50) -> Page:
    """One page of the live queue, sorted by ship-by then placed time, with the filtered total."""
    conds, values = _queue_conditions(flt)
    if search.clean_term(flt.text):
        page_stmt, count_stmt = _build_queue_statements(conds)
    else:
        page_stmt, count_stmt = _queue_statements(
            ("statuses" in values, "channels" in values, "placed_from" in values, "placed_to" in values))
    conn = session.connection()  # Core execution: these are plain rows, the ORM adds nothing here
    rows = conn.execute(page_stmt, {**values, "page_limit": page_size,
                                    "page_offset": (max(page, 1) - 1) * page_size}).all()
    capped = False
    if page <= 1 and len(rows) < page_size:
        total = len(rows)  # the whole result is on this page: no need to count
    else:
        cap = count_limit(page, page_size)
        total = conn.execute(count_stmt, {**values, "count_limit": cap + 1}).scalar() or 0
        capped, total = total > cap, min(total, cap)
    return Page(rows=_frame(rows), total=total, page=max(page, 1), page_size=page_size,
                capped=capped)


def count_limit(page: int, page_size: int) -> int:
    """How far the total is counted when showing ``page``: ``COUNT_AHEAD`` past its first row, at most ``COUNT_CAP``.

    Page 1 says "of 1,000+"; paging on counts further, so the pager always reaches the next pages.
    """
    return min(COUNT_CAP, (max(page, 1) - 1) * page_size + COUNT_AHEAD)


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
    raw = search.clean_term(term)[:200]
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
    if not search.clean_term(term):
        return _frame([])
    stmt = _row_select().where(search_condition(term)).order_by(Order.placed_at.desc()).limit(limit)
    return _frame(session.connection().execute(stmt).all())


def object_frame(cells: list[tuple[Any, ...]], columns: list[str]) -> pd.DataFrame:
    """A page of rows as a DataFrame of plain Python values in one object block: no per-column type
    inference, about twice as fast as column by column for a page; the pages format each value themselves."""
    if not cells:
        return pd.DataFrame({c: [] for c in columns}, columns=columns)
    block = np.empty((len(cells), len(columns)), dtype=object)
    block[:] = cells
    return pd.DataFrame(block, columns=columns, dtype=object, copy=False)


def _frame(rows) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return object_frame([(*r[:3], STATUS_LABEL[r[3]], *r[4:7], float(r[7]), *r[8:]) for r in rows], QUEUE_COLUMNS)


# An order status as stored or as the enum -> its label (statuses come back either way).
STATUS_LABEL = {s: s.label for s in OrderStatus} | {s.value: s.label for s in OrderStatus}
