"""The SLA history read through the worker's rollups equals the same history read from the source tables.

A seeded random set of orders and parcels over ten days (three channels, three locations,
four carriers, split parcels, undelivered parcels, an order still open) is read for several
windows, time zones and filters twice: with the rollups built (``refresh``), and with the
marks removed, which makes every read go to the orders and shipments tables. Both must agree
to the parcel; then the rollups must follow changes: a late delivery, a parcel shipped after
the last refresh, a rebuild.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from sqlalchemy import delete, func, literal, select, update

from core.db import insert_rows, writing
from core.enums import OrderStatus, ShipmentStatus
from core.models import Order, ParcelDurationDay, RollupMark, Shipment, ShippedHour
from core.sla_history import HistoryFilter, durations, on_time_by_day, on_time_total
from core.sla_rollup import PARCEL_DAYS, SHIPPED_HOURS, marks, rebuild, refresh
from core.sqltime import duration_edge, duration_edge_sql, seconds_between
from tests.factories import T0, ingest, make_channel, make_location, order_record

H = timedelta(hours=1)
NOW = T0 + timedelta(days=12, hours=7, minutes=30)  # the refresh runs mid-hour, mid-day
CARRIERS = ("UPS", "FedEx", "DHL", "USPS")


@pytest.fixture
def world(db):  # type: ignore[no-untyped-def]
    """~180 orders placed over ten days from T0; most shipped in one or two parcels, some delivered."""
    rng = random.Random(7)
    channels = [make_channel(db, code) for code in ("shop-a", "shop-b", "shop-c")]
    locations = [make_location(db, code).id for code in ("NJ-WH", "CA-WH", "NL-WH")]
    numbers: list[tuple[int, str]] = []
    for c, channel in enumerate(channels):
        records = []
        for k in range(60):
            i = 1000 * c + k
            placed = T0 + timedelta(minutes=rng.randrange(0, 10 * 24 * 60))
            records.append(order_record(i, number=f"R{i}", external_id=f"R{i}", placed_at=placed, updated_at=placed,
                                        ship_by=placed + timedelta(minutes=rng.randrange(6 * 60, 60 * 60))))
            numbers.append((i, f"R{i}"))
        ingest(db, channel, records)
    orders = {o.external_id: o for o in db.scalars(select(Order))}
    parcels, shipped = [], []
    for i, number in numbers:
        order = orders[number]
        if i % 29 == 0:
            continue  # still open
        for n in range(1 + (rng.random() < 0.25)):
            left = order.placed_at + timedelta(minutes=rng.randrange(20, 72 * 60))
            delivered = left + timedelta(minutes=rng.randrange(10 * 60, 6 * 24 * 60)) if rng.random() < 0.6 else None
            parcels.append({"order_id": order.id, "location_id": rng.choice(locations), "carrier": rng.choice(CARRIERS),
                            "tracking_number": f"{number}-{n}", "source": "desk", "shipped_at": left,
                            "delivered_at": delivered,
                            "status": ShipmentStatus.DELIVERED if delivered else ShipmentStatus.IN_TRANSIT})
        shipped.append(order.id)
    with writing(db):
        insert_rows(db, Shipment.__table__, parcels)
        db.execute(update(Order).where(Order.id.in_(shipped)).values(status=OrderStatus.SHIPPED, is_open=False))
    return {"channels": [c.id for c in channels], "locations": locations}


FILTERS = [
    HistoryFilter(date(2026, 11, 14), date(2026, 11, 30)),
    HistoryFilter(date(2026, 11, 17), date(2026, 11, 23), tz="America/New_York"),
    HistoryFilter(date(2026, 11, 18), date(2026, 11, 28), tz="Asia/Kolkata"),  # half-hour offset
    HistoryFilter(date(2026, 11, 16), date(2026, 11, 26), tz="Asia/Tokyo", carriers=("UPS", "DHL")),
]


def _everything(db, flt):  # type: ignore[no-untyped-def]
    return (on_time_by_day(db, flt).to_dict("list"), on_time_total(db, flt),
            *(durations(db, flt, d).to_dict("list") for d in ("channel", "location", "carrier")))


def _from_source(db, flt):  # type: ignore[no-untyped-def]
    """The same figures with the marks removed: every read then goes to the source tables."""
    with writing(db):
        saved = [(m.name, m.complete_to, m.refreshed_at) for m in db.scalars(select(RollupMark))]
        db.execute(delete(RollupMark))
    try:
        return _everything(db, flt)
    finally:
        with writing(db):
            db.add_all(RollupMark(name=n, complete_to=c, refreshed_at=r) for n, c, r in saved)


def test_rollups_answer_exactly_as_the_source_tables(db, world):
    report = refresh(db, NOW)
    assert report.hours_to == T0.replace(hour=0) + timedelta(days=12, hours=16)  # 16:00 UTC, whole hours only
    assert report.days_to == T0.replace(hour=0) + timedelta(days=12)
    assert db.scalar(select(func.count()).select_from(ShippedHour)) > 50
    assert db.scalar(select(func.count()).select_from(ParcelDurationDay)) > 100
    flts = [*FILTERS, HistoryFilter(date(2026, 11, 15), date(2026, 11, 29), tz="Europe/Amsterdam",
                                    channel_ids=(world["channels"][1],), location_ids=tuple(world["locations"][:2]))]
    for flt in flts:
        rolled = _everything(db, flt)
        assert rolled == _from_source(db, flt), flt
        assert rolled[1][0] > 0, flt  # the window really holds shipped orders


def test_counts_in_the_rollup_add_up_to_every_order_and_parcel(db, world):
    report = refresh(db, NOW)
    last = select(func.max(Shipment.shipped_at).label("left")).group_by(Shipment.order_id).subquery()
    fulfilled = db.scalar(select(func.count()).select_from(last).where(last.c.left < report.hours_to))
    assert db.scalar(select(func.sum(ShippedHour.shipped))) == fulfilled > 100
    before_today = Shipment.shipped_at < report.days_to
    parcels = db.scalar(select(func.count()).select_from(Shipment).where(before_today))
    for span in (1, 7):  # every parcel in one day row; the ones of whole weeks in one week row too
        whole_weeks = before_today if span == 1 else Shipment.shipped_at < _monday(report.days_to)
        expected = {"to_ship": db.scalar(select(func.count()).select_from(Shipment).where(whole_weeks)),
                    "to_deliver": db.scalar(select(func.count()).select_from(Shipment).where(
                        whole_weeks, Shipment.delivered_at.is_not(None)))}
        by_metric = dict(db.execute(select(ParcelDurationDay.metric, func.sum(ParcelDurationDay.parcels))
                                    .where(ParcelDurationDay.span_days == span)
                                    .group_by(ParcelDurationDay.metric)).all())
        assert by_metric == expected, span
    assert expected["to_ship"] > 50 and parcels > expected["to_ship"]
    week_rows = db.execute(select(ParcelDurationDay.day, ParcelDurationDay.span_days)
                           .where(ParcelDurationDay.span_days == 7).distinct()).all()
    assert week_rows and all(day.weekday() == 0 and day == _monday(day) for day, _ in week_rows)


def _monday(at):  # type: ignore[no-untyped-def]
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def test_a_parcel_shipped_after_the_refresh_is_counted_from_the_source(db, world):
    refresh(db, NOW)
    flt = FILTERS[0]
    before = on_time_total(db, flt)
    still_open = db.scalar(select(Order).where(Order.status != OrderStatus.SHIPPED).order_by(Order.id))
    with writing(db):
        db.add(Shipment(order_id=still_open.id, location_id=world["locations"][0], carrier="UPS",
                        tracking_number="LATE-1", source="desk", shipped_at=NOW + 10 * H,
                        status=ShipmentStatus.IN_TRANSIT))
        still_open.status, still_open.is_open = OrderStatus.SHIPPED, False
    on_time = NOW + 10 * H <= still_open.ship_by
    assert on_time_total(db, flt) == (before[0] + 1, before[1] + on_time)
    assert marks(db)[SHIPPED_HOURS] < NOW + 10 * H  # not from the rollup: it was not refreshed


def test_a_late_delivery_reaches_the_rollup_at_the_next_refresh(db, world):
    refresh(db, NOW)
    parcel = db.scalar(select(Shipment).where(Shipment.delivered_at.is_(None),
                                              Shipment.shipped_at < NOW - timedelta(days=3)).order_by(Shipment.id))
    flt = FILTERS[0]
    delivered_before = durations(db, flt, "carrier").set_index("group").loc[parcel.carrier, "delivered"]
    with writing(db):
        parcel.delivered_at, parcel.status = parcel.shipped_at + 30 * H, ShipmentStatus.DELIVERED
    refresh(db, NOW + timedelta(minutes=5))
    after = durations(db, flt, "carrier").set_index("group").loc[parcel.carrier, "delivered"]
    assert after == delivered_before + 1
    assert _everything(db, flt) == _from_source(db, flt)


def test_refresh_leaves_days_before_the_recent_window_to_the_rebuild(db, world):
    refresh(db, NOW)
    old = db.scalar(select(Shipment).where(Shipment.shipped_at < T0 + timedelta(days=1)).order_by(Shipment.id))
    with writing(db):
        db.execute(update(Shipment).where(Shipment.id == old.id).values(carrier="Old Post"))
    refresh(db, NOW + timedelta(minutes=5), recent=timedelta(days=2))
    assert not db.scalar(select(func.count()).select_from(ParcelDurationDay).where(ParcelDurationDay.carrier == "Old Post"))
    rebuild(db, NOW + timedelta(minutes=10))
    assert db.scalar(select(func.count()).select_from(ParcelDurationDay).where(ParcelDurationDay.carrier == "Old Post"))
    assert _everything(db, FILTERS[0]) == _from_source(db, FILTERS[0])
    assert marks(db)[PARCEL_DAYS] == T0.replace(hour=0) + timedelta(days=12)


def test_duration_buckets_are_the_same_in_sql_and_in_python(db):
    samples = [0, 1, 359, 360, 361, 7_199, 7_200, 7_201, 9_000, 43_200, 43_201, 100_000, 172_800, 172_801,
               604_800, 604_801, 2_592_000, 2_592_001, 9_000_000]
    for s in samples:
        left = T0 + timedelta(seconds=s)
        stamp = Shipment.shipped_at.type
        got = db.scalar(select(duration_edge_sql(seconds_between(db, literal(T0, stamp), literal(left, stamp)))))
        assert (s, got) == (s, duration_edge(s))


def test_reads_come_from_the_rollup_where_it_is_complete(db, world):
    """Tamper with the rollup rows: the figures move, so the rollup (not the source) answered."""
    refresh(db, NOW)
    flt = FILTERS[0]  # UTC, from before the first parcel: whole weeks, then days
    shipped, _ = on_time_total(db, flt)
    parcels = durations(db, flt, "channel")["parcels"].sum()
    with writing(db):
        db.execute(update(ShippedHour).values(shipped=ShippedHour.shipped + 1000))
        db.execute(update(ParcelDurationDay).values(parcels=ParcelDurationDay.parcels + 1000))
    hour_rows = db.scalar(select(func.count()).select_from(ShippedHour))
    assert on_time_total(db, flt)[0] == shipped + 1000 * hour_rows
    assert durations(db, flt, "channel")["parcels"].sum() >= parcels + 1000
