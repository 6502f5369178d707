"""On-time rate and fulfilment / delivery times on a hand-worked set of parcels (SQLite and PostgreSQL).

T0 is Monday 2026-11-16 09:00 UTC. Four orders shipped, one still open:

    order  channel  placed   ship-by   parcels (carrier, location, shipped, delivered)         on time?
    P1     main     T0       T0+24h    UPS  NJ  T0+10h, delivered T0+34h                       yes
    P2     main     T0+1h    T0+20h    FedEx CA T0+25h                                         no
    P3     main     T0+2h    T0+30h    UPS  NJ  T0+5h, delivered T0+29h; UPS CA T0+28h         yes (last parcel)
    P4     other    T0+3h    T0+10h    UPS  NJ  T0+12h                                         no
    P5     main     T0+4h    T0+40h    (allocated, not shipped)                                -

Placed -> shipped per parcel, in hours: UPS [3, 9, 10, 26], FedEx [24]; NJ [3, 9, 10], CA [24, 26];
main [3, 10, 24, 26], other [9]. Shipped -> delivered: UPS [24, 24]. Percentiles are nearest-rank.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from core.auth import WORKER, Actor
from core.db import writing
from core.enums import OrderStatus, Role, ShipmentStatus
from core.models import Order, Shipment
from core.order_detail import order_detail
from core.queries import QueueFilter, order_queue
from core.sla_history import HistoryFilter, durations, on_time_by_day, on_time_total
from core.status import move_order
from tests.factories import T0, ingest, make_channel, make_location, order_record

OPS = Actor("olivia", role=Role.OPS_LEAD)
H = timedelta(hours=1)
PARCELS = {  # order: (channel, placed +h, ship-by +h, [(carrier, location, shipped +h, delivered +h or None)])
    "P1": ("main", 0, 24, [("UPS", "NJ-WH", 10, 34)]),
    "P2": ("main", 1, 20, [("FedEx", "CA-WH", 25, None)]),
    "P3": ("main", 2, 30, [("UPS", "NJ-WH", 5, 29), ("UPS", "CA-WH", 28, None)]),
    "P4": ("other", 3, 10, [("UPS", "NJ-WH", 12, None)]),
    "P5": ("main", 4, 40, []),
}
WEEK = HistoryFilter(start=date(2026, 11, 16), end=date(2026, 11, 22))


@pytest.fixture
def shipped(db):  # type: ignore[no-untyped-def]
    channels = {"main": make_channel(db, "main-shop"), "other": make_channel(db, "other-shop")}
    locations = {code: make_location(db, code).id for code in ("NJ-WH", "CA-WH")}
    for i, (number, (channel, placed, due, parcels)) in enumerate(PARCELS.items()):
        record = order_record(700 + i, number=number, external_id=number, placed_at=T0 + placed * H,
                              updated_at=T0 + placed * H, ship_by=T0 + due * H)
        ingest(db, channels[channel], [record])
        with writing(db):
            order = db.scalar(select(Order).where(Order.external_id == number))
            move_order(db, order, OrderStatus.ALLOCATED, actor=WORKER)
            for n, (carrier, location, left, delivered) in enumerate(parcels):
                db.add(Shipment(order_id=order.id, location_id=locations[location], carrier=carrier,
                                tracking_number=f"{number}-{n}", source="desk", shipped_at=T0 + left * H,
                                delivered_at=T0 + delivered * H if delivered else None,
                                status=ShipmentStatus.DELIVERED if delivered else ShipmentStatus.IN_TRANSIT))
            if parcels:
                move_order(db, order, OrderStatus.SHIPPED, actor=OPS)
    return {c: ch.id for c, ch in channels.items()}, locations


def test_on_time_rate_per_day_and_in_total(db, shipped):
    days = on_time_by_day(db, WEEK)
    assert days.to_dict("list") == {"day": [date(2026, 11, 16), date(2026, 11, 17)], "shipped": [2, 2],
                                    "on_time": [1, 1], "on_time_pct": [50.0, 50.0]}
    assert on_time_total(db, WEEK) == (4, 2)


def test_days_are_the_viewers_local_days(db, shipped):
    tokyo = HistoryFilter(start=date(2026, 11, 16), end=date(2026, 11, 22), tz="Asia/Tokyo")  # UTC+9
    assert on_time_by_day(db, tokyo).to_dict("list") == {
        "day": [date(2026, 11, 17)], "shipped": [4], "on_time": [2], "on_time_pct": [50.0]}
    one_day = HistoryFilter(start=date(2026, 11, 17), end=date(2026, 11, 17))  # UTC: P2 and P3 only
    assert on_time_total(db, one_day) == (2, 1)


def test_filters_by_channel_location_and_carrier(db, shipped):
    channels, locations = shipped
    assert on_time_total(db, HistoryFilter(WEEK.start, WEEK.end, carriers=("FedEx",))) == (1, 0)
    assert on_time_total(db, HistoryFilter(WEEK.start, WEEK.end, channel_ids=(channels["other"],))) == (1, 0)
    # An order counts for a location when one of its parcels left from there (P3 left from both).
    assert on_time_total(db, HistoryFilter(WEEK.start, WEEK.end, location_ids=(locations["CA-WH"],))) == (2, 1)


def test_p50_and_p90_per_carrier_location_and_channel(db, shipped):
    by_carrier = durations(db, WEEK, "carrier").set_index("group")
    assert by_carrier.loc["UPS"].tolist() == [4, 9.0, 26.0, 2, 24.0, 24.0]
    assert by_carrier.loc["FedEx", ["parcels", "to_ship_p50", "to_ship_p90", "delivered"]].tolist() == [1, 24.0, 24.0, 0]
    by_location = durations(db, WEEK, "location").set_index("group")
    assert by_location.loc["NJ-WH", ["parcels", "to_ship_p50", "to_ship_p90"]].tolist() == [3, 9.0, 10.0]
    assert by_location.loc["CA-WH", ["parcels", "to_ship_p50", "to_ship_p90"]].tolist() == [2, 24.0, 26.0]
    by_channel = durations(db, WEEK, "channel").set_index("group")
    assert by_channel.loc["main-shop", ["to_ship_p50", "to_ship_p90"]].tolist() == [10.0, 26.0]
    assert by_channel.loc["other-shop", ["to_ship_p50", "to_ship_p90"]].tolist() == [9.0, 9.0]


def test_the_totals_agree_with_the_order_list(db, shipped):
    listed = order_queue(db, QueueFilter(statuses=(OrderStatus.SHIPPED, OrderStatus.DELIVERED)), page_size=100).rows
    begin, end = WEEK.bounds
    counted = on_time = 0
    for oid in listed["id"]:
        detail = order_detail(db, int(oid))
        left = max(datetime.fromisoformat(p["shipped_at"]) for p in detail.shipments)
        if begin <= left < end:
            counted += 1
            on_time += left <= datetime.fromisoformat(detail.order["ship_by"])
    assert on_time_total(db, WEEK) == (counted, on_time) == (4, 2)
    assert int(on_time_by_day(db, WEEK)["shipped"].sum()) == counted
