"""The SLA history's rollups: kept by the worker, read by the page together with what is newer.

Two rollups (``core.models.reports``):

- **shipped hours**: per UTC hour and (channel, location, carrier) of an order's *last* parcel,
  the fulfilled orders whose last parcel left then and how many of them on time;
- **parcel days**: per UTC day, (channel, location, carrier) and duration bucket, the parcels
  that left that day, for placed -> shipped and shipped -> delivered.

Each is complete up to its ``RollupMark``. A window is answered from the rollup where it covers
whole hours / days before the mark and from the source tables for the rest (the partial days at
the edges of a local-day window, and everything since the mark), with the same grouping, so the
result is the same as reading the source tables alone - only faster. ``refresh`` recomputes the
last ``RECENT`` days every few minutes (parcels are delivered, orders change status); ``rebuild``
recomputes everything (nightly, and from the command line).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, case, delete, func, select
from sqlalchemy.orm import Session

from core.db import insert_rows, writing
from core.enums import FULFILLED_STATUSES
from core.models import Order, ParcelDurationDay, RollupMark, Shipment, ShippedHour, utcnow
from core.sqltime import duration_edge_sql, hour_start, seconds_between, utc_trunc

SHIPPED_HOURS = "shipped_hours"
PARCEL_DAYS = "parcel_days"
REBUILT = "rebuilt"  # when everything was last recomputed
REBUILD_EVERY = timedelta(days=1)
METRICS = ("to_ship", "to_deliver")
RECENT = timedelta(days=21)  # deliveries and late status changes land within this; older days wait for rebuild

Combo = tuple[int, int | None, str]  # (channel id, location id, carrier)
Progress = Callable[[int, int], None]  # (days done, days in all)


@dataclass(frozen=True)
class Slice:
    """What a history read is narrowed to: a UTC window and optional channels, locations, carriers."""

    begin: datetime
    end: datetime
    channel_ids: tuple[int, ...] = ()
    location_ids: tuple[int, ...] = ()
    carriers: tuple[str, ...] = ()

    def conds(self, channel: Any, location: Any, carrier: Any) -> list[ColumnElement[bool]]:
        """The filter on whichever columns hold channel, location and carrier."""
        out: list[ColumnElement[bool]] = []
        if self.channel_ids:
            out.append(channel.in_(self.channel_ids))
        if self.location_ids:
            out.append(location.in_(self.location_ids))
        if self.carriers:
            out.append(carrier.in_(self.carriers))
        return out


HOUR, DAY, WEEK = timedelta(hours=1), timedelta(days=1), timedelta(days=7)
_MONDAY = datetime(1970, 1, 5, tzinfo=UTC)  # hours and days line up with it too; weeks start on it


def _floor(at: datetime, unit: timedelta) -> datetime:
    return _MONDAY + ((at - _MONDAY) // unit) * unit


def _ceil(at: datetime, unit: timedelta) -> datetime:
    down = _floor(at, unit)
    return down if down == at else down + unit


# ---- the source tables, grouped the way the rollups are ---------------------------------------------------

def _last_parcels(begin: datetime, end: datetime) -> Any:
    """One row per order whose last parcel (latest ``shipped_at``, then highest id) left in [begin, end)."""
    candidates = select(Shipment.order_id).where(Shipment.shipped_at >= begin, Shipment.shipped_at < end)
    ranked = (
        select(Shipment.order_id, Shipment.shipped_at, Shipment.location_id, Shipment.carrier,
               func.row_number().over(partition_by=Shipment.order_id,
                                      order_by=(Shipment.shipped_at.desc(), Shipment.id.desc())).label("rn"))
        .where(Shipment.order_id.in_(candidates))
    ).subquery()
    return ranked


def shipped_hours_source(session: Session, piece: Slice, *, by_combo: bool) -> Select:
    """Fulfilled orders whose last parcel left in the slice, per UTC hour (and combo): (hour, [combo,] n, on time)."""
    last = _last_parcels(piece.begin, piece.end)
    hour = utc_trunc(session, last.c.shipped_at, "hour")
    keys = [hour] + ([Order.channel_id, last.c.location_id, last.c.carrier] if by_combo else [])
    return (
        select(*keys, func.count(), func.sum(case((last.c.shipped_at <= Order.ship_by, 1), else_=0)))
        .join(Order, Order.id == last.c.order_id)
        .where(last.c.rn == 1, last.c.shipped_at >= piece.begin, last.c.shipped_at < piece.end,
               Order.status.in_(FULFILLED_STATUSES),
               *piece.conds(Order.channel_id, last.c.location_id, last.c.carrier))
        .group_by(*keys)
    )


def parcel_days_source(session: Session, piece: Slice, *, by_day: bool) -> Select:
    """Parcels that left in the slice, per (day,) combo and both duration buckets: (..., ship edge, deliver edge, n).

    The exact times are grouped first and bucketed after: the bucket expression names the time
    a dozen times, and SQLite would otherwise parse every timestamp that often.
    """
    day = [utc_trunc(session, Shipment.shipped_at, "day").label("day")] if by_day else []
    exact = (
        select(*day, Order.channel_id.label("channel_id"), Shipment.location_id.label("location_id"),
               Shipment.carrier.label("carrier"),
               seconds_between(session, Order.placed_at, Shipment.shipped_at).label("to_ship"),
               seconds_between(session, Shipment.shipped_at, Shipment.delivered_at).label("to_deliver"),
               func.count().label("n"))
        .select_from(Shipment).join(Order, Order.id == Shipment.order_id)
        .where(Shipment.shipped_at >= piece.begin, Shipment.shipped_at < piece.end,
               *piece.conds(Order.channel_id, Shipment.location_id, Shipment.carrier))
        .group_by(*day, Order.channel_id, Shipment.location_id, Shipment.carrier, "to_ship", "to_deliver")
    ).subquery()
    to_deliver = case((exact.c.to_deliver.is_(None), None), else_=duration_edge_sql(exact.c.to_deliver))
    keys = ([exact.c.day] if by_day else []) + [exact.c.channel_id, exact.c.location_id, exact.c.carrier,
                                                 duration_edge_sql(exact.c.to_ship), to_deliver]
    return select(*keys, func.sum(exact.c.n)).group_by(*keys)


# ---- keeping the rollups --------------------------------------------------------------------------------

@dataclass(frozen=True)
class RefreshReport:
    start: datetime
    hours_to: datetime
    days_to: datetime
    hour_rows: int
    day_rows: int


def marks(session: Session) -> dict[str, datetime]:
    """Each rollup's ``complete_to`` (absent: never built)."""
    return {m.name: m.complete_to for m in session.scalars(select(RollupMark))}


def refresh(session: Session, now: datetime | None = None, *, full: bool = False, recent: timedelta = RECENT,
            progress: Progress | None = None) -> RefreshReport:
    """Recompute the rollups from the last ``recent`` days (or from the first parcel when ``full``) up to now.

    Rows are replaced a week (Monday to Monday) at a time, each in one short write transaction,
    so a reader sees every day either as it was or as it is now; a whole week also gets its
    week rows. The marks move in the last transaction.
    """
    now = now or utcnow()
    hours_to, days_to = _floor(now, HOUR), _floor(now, DAY)
    known = marks(session)
    full = full or SHIPPED_HOURS not in known or PARCEL_DAYS not in known
    if full:
        first = session.scalar(select(func.min(Shipment.shipped_at)))
        start = _floor(first, WEEK) if first else days_to
    else:
        start = _floor(min(known[SHIPPED_HOURS], known[PARCEL_DAYS], now - recent), WEEK)
    start = min(start, _floor(days_to, WEEK))
    hour_rows = day_rows = 0
    total = max(1, (days_to - start) // DAY)
    at = start
    while at < days_to:
        upto = min(at + WEEK, days_to)
        # Counted in a read transaction, written in a short write one: ingest is not held up meanwhile.
        hours, days = _hour_rows(session, at, upto), _day_rows(session, at, upto)
        if upto - at == WEEK:
            days += _week_rows(days, at)
        with writing(session):
            session.execute(delete(ShippedHour).where(ShippedHour.hour >= at, ShippedHour.hour < upto))
            session.execute(delete(ParcelDurationDay).where(ParcelDurationDay.day >= at, ParcelDurationDay.day < upto))
            insert_rows(session, ShippedHour.__table__, hours)
            insert_rows(session, ParcelDurationDay.__table__, days)
        hour_rows, day_rows, at = hour_rows + len(hours), day_rows + len(days), upto
        if progress:
            progress((at - start) // DAY, total)
    today = _hour_rows(session, days_to, hours_to)  # today's whole hours; today's parcels wait for tomorrow
    with writing(session):
        session.execute(delete(ShippedHour).where(ShippedHour.hour >= days_to))
        session.execute(delete(ParcelDurationDay).where(ParcelDurationDay.day >= days_to))
        insert_rows(session, ShippedHour.__table__, today)
        _set_mark(session, SHIPPED_HOURS, hours_to, now)
        _set_mark(session, PARCEL_DAYS, days_to, now)
        if full:
            _set_mark(session, REBUILT, days_to, now)
    return RefreshReport(start, hours_to, days_to, hour_rows + len(today), day_rows)


def rebuild(session: Session, now: datetime | None = None, progress: Progress | None = None) -> RefreshReport:
    """Recompute the rollups from the first parcel ever shipped."""
    return refresh(session, now, full=True, progress=progress)


def rebuild_due(session: Session, now: datetime | None = None) -> bool:
    """Whether the last whole rebuild is older than ``REBUILD_EVERY`` (late changes to old days wait for it)."""
    mark = session.get(RollupMark, REBUILT)
    return mark is None or (now or utcnow()) - mark.refreshed_at >= REBUILD_EVERY


def _hour_rows(session: Session, begin: datetime, end: datetime) -> list[dict[str, Any]]:
    if end <= begin:
        return []
    return [{"hour": hour_start(h), "channel_id": c, "location_id": loc, "carrier": car, "shipped": n,
             "on_time": int(ok or 0)}
            for h, c, loc, car, n, ok in session.execute(shipped_hours_source(session, Slice(begin, end),
                                                                               by_combo=True))]


def _day_rows(session: Session, begin: datetime, end: datetime) -> list[dict[str, Any]]:
    counts: Counter[tuple[Any, ...]] = Counter()
    for day, c, loc, car, ship_edge, deliver_edge, n in session.execute(
            parcel_days_source(session, Slice(begin, end), by_day=True)):
        at = hour_start(day)
        counts[(at, "to_ship", c, loc, car, int(ship_edge))] += n
        if deliver_edge is not None:
            counts[(at, "to_deliver", c, loc, car, int(deliver_edge))] += n
    return [{"span_days": 1, "day": at, "metric": m, "channel_id": c, "location_id": loc, "carrier": car,
             "edge_s": edge, "parcels": n} for (at, m, c, loc, car, edge), n in counts.items()]


def _week_rows(days: list[dict[str, Any]], monday: datetime) -> list[dict[str, Any]]:
    """The week's rows: its day rows summed per metric, combo and bucket."""
    counts: Counter[tuple[Any, ...]] = Counter()
    for r in days:
        counts[(r["metric"], r["channel_id"], r["location_id"], r["carrier"], r["edge_s"])] += r["parcels"]
    return [{"span_days": 7, "day": monday, "metric": m, "channel_id": c, "location_id": loc, "carrier": car,
             "edge_s": edge, "parcels": n} for (m, c, loc, car, edge), n in counts.items()]


def _set_mark(session: Session, name: str, complete_to: datetime, now: datetime) -> None:
    mark = session.get(RollupMark, name)
    if mark is None:
        session.add(RollupMark(name=name, complete_to=complete_to, refreshed_at=now))
    else:
        mark.complete_to, mark.refreshed_at = complete_to, now


def refreshed_at(session: Session) -> datetime | None:
    """When the rollups were last brought up to date (None: never)."""
    return session.scalar(select(func.min(RollupMark.refreshed_at)).where(RollupMark.name != REBUILT))


# ---- reading: rollup where it is complete, source tables for the rest ------------------------------------

def _split(begin: datetime, end: datetime, unit: timedelta, mark: datetime | None) -> tuple[
        tuple[datetime, datetime] | None, list[tuple[datetime, datetime]]]:
    """The part of [begin, end) the rollup answers (whole units before the mark) and the parts left to the source."""
    inner_begin = _ceil(begin, unit)
    inner_end = min(_floor(end, unit), mark) if mark else inner_begin
    if inner_end <= inner_begin:
        return None, [(begin, end)]
    rest = [(a, b) for a, b in ((begin, inner_begin), (inner_end, end)) if a < b]
    return (inner_begin, inner_end), rest


def _week_and_day_ranges(days: tuple[datetime, datetime]) -> list[tuple[int, datetime, datetime]]:
    """Whole days [d0, d1) as (span in days, from, to): the whole weeks inside, and the days either side."""
    d0, d1 = days
    w0, w1 = _ceil(d0, WEEK), _floor(d1, WEEK)
    if w0 >= w1:
        return [(1, d0, d1)]
    return [(span, a, b) for span, a, b in ((7, w0, w1), (1, d0, w0), (1, w1, d1)) if a < b]


def _whole_hour_zone(tz: str, begin: datetime, end: datetime) -> bool:
    """Whether every UTC hour of the window lies in one local day (not so where the offset has half hours)."""
    zone, at = ZoneInfo(tz), begin
    while at <= end:
        offset = at.astimezone(zone).utcoffset()
        if offset is None or offset.total_seconds() % 3600:
            return False
        at += DAY
    return True


def shipped_by_hour(session: Session, piece: Slice, tz: str = "UTC") -> dict[datetime, list[int]]:
    """{UTC hour: [orders shipped, on time]} for orders whose last parcel left in the slice."""
    mark = marks(session).get(SHIPPED_HOURS) if _whole_hour_zone(tz, piece.begin, piece.end) else None
    inner, rest = _split(piece.begin, piece.end, HOUR, mark)
    out: dict[datetime, list[int]] = defaultdict(lambda: [0, 0])
    if inner:
        hour = ShippedHour.hour
        for at, n, ok in session.execute(
                select(hour, func.sum(ShippedHour.shipped), func.sum(ShippedHour.on_time))
                .where(hour >= inner[0], hour < inner[1],
                       *piece.conds(ShippedHour.channel_id, ShippedHour.location_id, ShippedHour.carrier))
                .group_by(hour)):
            out[at][0] += int(n)
            out[at][1] += int(ok)
    for a, b in rest:
        part = Slice(a, b, piece.channel_ids, piece.location_ids, piece.carriers)
        for at, n, ok in session.execute(shipped_hours_source(session, part, by_combo=False)):
            slot = out[hour_start(at)]
            slot[0] += int(n)
            slot[1] += int(ok or 0)
    return out


def parcel_histograms(session: Session, piece: Slice) -> dict[Combo, dict[str, Counter[int]]]:
    """{(channel, location, carrier): {metric: {bucket edge in seconds: parcels}}} for parcels that left in the slice."""
    inner, rest = _split(piece.begin, piece.end, DAY, marks(session).get(PARCEL_DAYS))
    out: dict[Combo, dict[str, Counter[int]]] = defaultdict(lambda: {m: Counter() for m in METRICS})
    r = ParcelDurationDay
    for span, a, b in _week_and_day_ranges(inner) if inner else ():
        for metric, c, loc, car, edge, n in session.execute(
                select(r.metric, r.channel_id, r.location_id, r.carrier, r.edge_s, func.sum(r.parcels))
                .where(r.span_days == span, r.day >= a, r.day < b,
                       *piece.conds(r.channel_id, r.location_id, r.carrier))
                .group_by(r.metric, r.channel_id, r.location_id, r.carrier, r.edge_s)):
            out[(c, loc, car)][metric][int(edge)] += int(n)
    for a, b in rest:
        part = Slice(a, b, piece.channel_ids, piece.location_ids, piece.carriers)
        for c, loc, car, ship_edge, deliver_edge, n in session.execute(parcel_days_source(session, part, by_day=False)):
            hist = out[(c, loc, car)]
            hist["to_ship"][int(ship_edge)] += n
            if deliver_edge is not None:
                hist["to_deliver"][int(deliver_edge)] += n
    return out
