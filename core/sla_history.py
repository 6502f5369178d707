"""The SLA page's history: on-time ship rate per day and fulfilment / delivery times, aggregated in SQL.

An order was shipped when its last parcel left (``max(shipments.shipped_at)`` of an order in
Shipped or Delivered) and on time if that is at or before its ship-by (DESIGN.md section 4, SLA).
The database groups by UTC hour - a few thousand rows at most for 90 days - and the hours
are folded into the viewer's local days here, which keeps daylight-saving days exact on
every backend. Times per parcel (placed -> shipped, shipped -> delivered) are ranked in SQL
with window functions; only the p50 and p90 rows come back.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Select, and_, case, func, literal, select
from sqlalchemy.orm import Session

from core.enums import FULFILLED_STATUSES
from core.models import Channel, Location, Order, Shipment
from core.sqltime import hour_bucket, hours_between, local_bounds, local_day, p50_p90_by_group

DIMENSIONS = ("channel", "location", "carrier")


@dataclass(frozen=True)
class HistoryFilter:
    """Shipped between ``start`` and ``end`` (local days, inclusive) in ``tz``; optional channel, location, carrier."""

    start: date
    end: date
    tz: str = "UTC"
    channel_ids: tuple[int, ...] = ()
    location_ids: tuple[int, ...] = ()
    carriers: tuple[str, ...] = ()

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        return local_bounds(self.start, self.end, self.tz)


def _parcel_conds(flt: HistoryFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if flt.channel_ids:
        conds.append(Order.channel_id.in_(flt.channel_ids))
    if flt.location_ids:
        conds.append(Shipment.location_id.in_(flt.location_ids))
    if flt.carriers:
        conds.append(Shipment.carrier.in_(flt.carriers))
    return conds


def _shipped_orders(flt: HistoryFilter) -> Select:
    """One row per shipped order with a parcel matching the filter: when it left (its last parcel) and its ship-by."""
    begin, end = flt.bounds
    left = func.max(Shipment.shipped_at)
    return (
        select(Order.id.label("order_id"), Order.ship_by.label("ship_by"), left.label("shipped_at"))
        .join(Shipment, Shipment.order_id == Order.id)
        .where(Order.status.in_(FULFILLED_STATUSES), *_parcel_conds(flt),
               # Only orders with a parcel in the range can have their last one in it (ix_shipments_shipped_at).
               Order.id.in_(select(Shipment.order_id).where(Shipment.shipped_at >= begin, Shipment.shipped_at < end)))
        .group_by(Order.id, Order.ship_by)
        .having(and_(left >= begin, left < end))
    )


def on_time_by_day(session: Session, flt: HistoryFilter) -> pd.DataFrame:
    """Per local day: orders shipped, of which on time, and the on-time rate in percent."""
    shipped = _shipped_orders(flt).subquery()
    hour = hour_bucket(session, shipped.c.shipped_at)
    rows = session.execute(
        select(hour, func.count(), func.sum(case((shipped.c.shipped_at <= shipped.c.ship_by, 1), else_=0)))
        .group_by(hour)
    ).all()
    days: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for bucket, count, on_time in rows:
        day = local_day(bucket, flt.tz)
        days[day][0] += int(count)
        days[day][1] += int(on_time or 0)
    out = [(day, n, late_free, round(100 * late_free / n, 1) if n else None)
           for day, (n, late_free) in sorted(days.items())]
    return pd.DataFrame(out, columns=["day", "shipped", "on_time", "on_time_pct"])


def on_time_total(session: Session, flt: HistoryFilter) -> tuple[int, int]:
    """(orders shipped, of which on time) in the whole window."""
    shipped = _shipped_orders(flt).subquery()
    n, on_time = session.execute(
        select(func.count(), func.sum(case((shipped.c.shipped_at <= shipped.c.ship_by, 1), else_=0)))).one()
    return int(n or 0), int(on_time or 0)


def durations(session: Session, flt: HistoryFilter, dimension: str) -> pd.DataFrame:
    """p50 and p90 of placed -> shipped and shipped -> delivered, in hours, per channel, location or carrier.

    Per parcel shipped in the window. A percentile is the nearest-rank value (the smallest time
    with at least that share of parcels at or under it), so it is one real parcel's time.
    """
    if dimension not in DIMENSIONS:
        raise ValueError(f"dimension is one of {DIMENSIONS}")
    begin, end = flt.bounds
    group = {"channel": Channel.code, "location": func.coalesce(Location.code, literal("(not recorded)")),
             "carrier": Shipment.carrier}[dimension]
    placed_to_shipped = hours_between(session, Order.placed_at, Shipment.shipped_at)
    shipped_to_delivered = hours_between(session, Shipment.shipped_at, Shipment.delivered_at)
    base = (
        select(group.label("grp"), placed_to_shipped.label("to_ship"), shipped_to_delivered.label("to_deliver"))
        .select_from(Shipment).join(Order, Order.id == Shipment.order_id)
        .join(Channel, Channel.id == Order.channel_id).outerjoin(Location, Location.id == Shipment.location_id)
        .where(Shipment.shipped_at >= begin, Shipment.shipped_at < end, *_parcel_conds(flt))
    ).subquery()
    result: dict[str, dict[str, Any]] = defaultdict(dict)
    for metric in ("to_ship", "to_deliver"):
        for grp, found in p50_p90_by_group(session, select(base.c.grp, base.c[metric].label("v"))).items():
            result[grp].update({f"{metric}_{k}": v for k, v in found.items()})
    columns = ["group", "parcels", "to_ship_p50", "to_ship_p90", "delivered", "to_deliver_p50", "to_deliver_p90"]
    rows = [(grp, r.get("to_ship_n", 0), r.get("to_ship_p50"), r.get("to_ship_p90"), r.get("to_deliver_n", 0),
             r.get("to_deliver_p50"), r.get("to_deliver_p90")) for grp, r in sorted(result.items())]
    return pd.DataFrame(rows, columns=columns)


def filter_choices(session: Session) -> tuple[list[tuple[int, str]], list[str]]:
    """What the history can be narrowed to: (id, code) of every location, and every carrier that shipped."""
    locations = [(i, c) for i, c in session.execute(select(Location.id, Location.code).order_by(Location.code))]
    carriers = list(session.scalars(select(Shipment.carrier).distinct().order_by(Shipment.carrier)))
    return locations, carriers
