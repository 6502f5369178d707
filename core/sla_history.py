"""The SLA page's history: on-time ship rate per day and fulfilment / delivery times.

An order was shipped when its last parcel left (Shipped or Delivered, the latest
``shipments.shipped_at``) and on time if that is at or before its ship-by (DESIGN.md section 4,
SLA); a location or carrier filter picks orders by that last parcel. Orders are counted per UTC
hour and folded into the viewer's local days here, which keeps daylight-saving days exact.
Times per parcel (placed -> shipped, shipped -> delivered) are counted per duration bucket and
read off as nearest-rank percentiles. Both come from the worker's rollups where they are
complete and from the source tables for the rest (``core.sla_rollup``); nothing here reads rows.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Channel, Location, Shipment
from core.sla_rollup import METRICS, Slice, parcel_histograms, refreshed_at, shipped_by_hour
from core.sqltime import local_bounds, local_day, percentile_edges

DIMENSIONS = ("channel", "location", "carrier")
NOT_RECORDED = "(not recorded)"


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


def _slice(flt: HistoryFilter) -> Slice:
    begin, end = flt.bounds
    return Slice(begin, end, flt.channel_ids, flt.location_ids, flt.carriers)


def on_time_by_day(session: Session, flt: HistoryFilter) -> pd.DataFrame:
    """Per local day: orders shipped, of which on time, and the on-time rate in percent."""
    days: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for hour, (n, late_free) in shipped_by_hour(session, _slice(flt), flt.tz).items():
        day = local_day(hour, flt.tz)
        days[day][0] += n
        days[day][1] += late_free
    out = [(day, n, late_free, round(100 * late_free / n, 1) if n else None)
           for day, (n, late_free) in sorted(days.items())]
    return pd.DataFrame(out, columns=["day", "shipped", "on_time", "on_time_pct"])


def on_time_total(session: Session, flt: HistoryFilter) -> tuple[int, int]:
    """(orders shipped, of which on time) in the whole window."""
    hours = shipped_by_hour(session, _slice(flt), flt.tz).values()
    return sum(n for n, _ in hours), sum(ok for _, ok in hours)


def durations(session: Session, flt: HistoryFilter, dimension: str) -> pd.DataFrame:
    """p50 and p90 of placed -> shipped and shipped -> delivered, in hours, per channel, location or carrier."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"dimension is one of {DIMENSIONS}")
    return all_durations(session, flt)[dimension]


def all_durations(session: Session, flt: HistoryFilter) -> dict[str, pd.DataFrame]:
    """``durations`` for every dimension, from one read of the parcels' duration buckets.

    Per parcel shipped in the window. A percentile is the nearest-rank one read from the
    buckets (``core.sqltime.duration_edge``): the upper edge of the bucket holding the parcel of
    that rank, so "p90 26 h" means nine in ten took at most 26 h.
    """
    histograms = parcel_histograms(session, _slice(flt))
    out = {}
    for dimension in DIMENSIONS:
        names = _names(session, dimension)
        merged: dict[str, dict[str, Counter[int]]] = defaultdict(lambda: {m: Counter() for m in METRICS})
        for (channel_id, location_id, carrier), hist in histograms.items():
            key = {"channel": channel_id, "location": location_id, "carrier": carrier}[dimension]
            group = carrier if dimension == "carrier" else names.get(key, NOT_RECORDED)
            for metric in METRICS:
                merged[group][metric].update(hist[metric])
        rows = []
        for group, hist in sorted(merged.items()):
            row: list[Any] = [group]
            for metric in METRICS:
                n, found = percentile_edges(hist[metric])
                row += [n, *(round(found[p] / 3600, 1) if p in found else None for p in (0.5, 0.9))]
            rows.append(row)
        out[dimension] = pd.DataFrame(rows, columns=["group", "parcels", "to_ship_p50", "to_ship_p90", "delivered",
                                                     "to_deliver_p50", "to_deliver_p90"])
    return out


def rolled_up_at(session: Session) -> datetime | None:
    """When the worker last brought the history's rollups up to date (None: not yet)."""
    return refreshed_at(session)


def _names(session: Session, dimension: str) -> dict[Any, str]:
    if dimension == "channel":
        return {i: code for i, code in session.execute(select(Channel.id, Channel.code))}
    if dimension == "location":
        return {i: code for i, code in session.execute(select(Location.id, Location.code))}
    return {}


def filter_choices(session: Session) -> tuple[list[tuple[int, str]], list[str]]:
    """What the history can be narrowed to: (id, code) of every location, and every carrier that shipped."""
    locations = [(i, c) for i, c in session.execute(select(Location.id, Location.code).order_by(Location.code))]
    carriers = list(session.scalars(select(Shipment.carrier).distinct().order_by(Shipment.carrier)))
    return locations, carriers
