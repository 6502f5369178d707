"""Tracking against the store on SQLite and PostgreSQL: scans stored once, carrier holds opened and closed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from connectors.schemas import Rejection, TrackingScan, TrackingUpdate
from core.auth import WORKER
from core.carriers import add_carrier_account, get_carrier_account
from core.enums import CarrierKind, HoldCode, HoldState, OrderStatus, ShipmentStatus
from core.enums import TrackingStatus as T
from core.models import DeadLetter, Hold, Order, Shipment, TrackingEvent, utcnow
from core.tracking import apply_tracking, parcel_journeys, parcels_to_track, sweep_stale
from tests.parcels import allocated_order, ship_all

NOW = utcnow().replace(microsecond=0)


def scan(hours_ago: float, status: T, code: str, place: str = "Secaucus, NJ, US") -> TrackingScan:
    return TrackingScan(occurred_at=NOW - timedelta(hours=hours_ago), status=status, carrier_code=code,
                        description=f"{code} scan", place=place)


def update(number: str, *scans: TrackingScan) -> TrackingUpdate:
    return TrackingUpdate(tracking_number=number, status=scans[-1].status, carrier_status=scans[-1].carrier_code,
                          scans=scans)


def shipped(db, i: int, number: str, carrier: str = "UPS") -> tuple[int, int]:  # type: ignore[no-untyped-def]
    order_id = allocated_order(db, i, [("TEE-BLK-M", 1)])
    return order_id, ship_all(db, order_id, number, carrier=carrier)


def account(db, carriers: str = "UPS"):  # type: ignore[no-untyped-def]
    add_carrier_account(db, "ep", kind=CarrierKind.EASYPOST, base_url="http://127.0.0.1:9", token_env="EP_KEY",
                        carriers=carriers)
    return get_carrier_account(db, "ep")


def open_codes(db, order_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    db.commit()
    return sorted(c.value for c in db.scalars(select(Hold.code).where(Hold.order_id == order_id,
                                                                      Hold.state == HoldState.OPEN)))


def test_a_re_poll_stores_each_scan_once_and_the_journey_reads_in_order(db):
    order_id, sid = shipped(db, 1, "1ZAAA")
    ep = account(db)
    first = update("1ZAAA", scan(30, T.PRE_TRANSIT, "pre_transit"), scan(20, T.IN_TRANSIT, "in_transit"))
    result = apply_tracking(db, ep, [sid], [first])
    assert (result.scans, result.parcels) == (2, 1)
    again = apply_tracking(db, ep, [sid], [first])
    assert (again.scans, again.parcels, again.unchanged) == (0, 0, 1)
    later = update("1ZAAA", *first.scans, scan(2, T.OUT_FOR_DELIVERY, "out_for_delivery", "Austin, TX, US"))
    assert apply_tracking(db, ep, [sid], [later]).scans == 1
    assert db.scalar(select(func.count()).select_from(TrackingEvent)) == 3
    journey = parcel_journeys(db, order_id)
    assert list(journey["status"]) == ["Pre transit", "In transit", "Out for delivery"]
    assert journey["place"].iloc[-1] == "Austin, TX, US"
    parcel = db.get(Shipment, sid)
    assert parcel.status is ShipmentStatus.IN_TRANSIT and parcel.last_scan_at == NOW - timedelta(hours=2)


def test_a_failed_attempt_opens_a_carrier_exception_and_delivery_closes_it_and_delivers_the_order(db):
    order_id, sid = shipped(db, 2, "1ZBBB")
    ep = account(db)
    apply_tracking(db, ep, [sid], [update("1ZBBB", scan(20, T.IN_TRANSIT, "in_transit"),
                                          scan(10, T.FAILED_ATTEMPT, "out_for_delivery:delivery_exception"))])
    assert open_codes(db, order_id) == ["CARRIER_EXCEPTION"]
    apply_tracking(db, ep, [sid], [update("1ZBBB", scan(20, T.IN_TRANSIT, "in_transit"),
                                          scan(10, T.FAILED_ATTEMPT, "out_for_delivery:delivery_exception"))])
    assert db.scalar(select(func.count()).select_from(Hold).where(Hold.code == HoldCode.CARRIER_EXCEPTION)) == 1
    apply_tracking(db, ep, [sid], [update("1ZBBB", scan(1, T.DELIVERED, "delivered"))])
    assert open_codes(db, order_id) == []
    db.expire_all()
    assert db.get(Order, order_id).status is OrderStatus.DELIVERED
    parcel = db.get(Shipment, sid)
    assert parcel.status is ShipmentStatus.DELIVERED and parcel.delivered_at == NOW - timedelta(hours=1)
    assert parcels_to_track(db, ep) == []  # delivered parcels are not polled again


def test_a_lost_parcel_keeps_its_exception_and_a_returned_one_opens_one(db):
    lost_order, lost = shipped(db, 3, "1ZLOST")
    back_order, back = shipped(db, 4, "1ZBACK")
    ep = account(db)
    apply_tracking(db, ep, [lost, back], [update("1ZLOST", scan(5, T.EXCEPTION, "failure:lost")),
                                          update("1ZBACK", scan(5, T.RETURNED_TO_SENDER, "return_to_sender"))])
    assert open_codes(db, lost_order) == ["CARRIER_EXCEPTION"] and open_codes(db, back_order) == ["CARRIER_EXCEPTION"]
    assert db.get(Shipment, back).status is ShipmentStatus.RETURNED
    assert [p[0] for p in parcels_to_track(db, ep)] == [lost]


def test_silence_for_72_hours_opens_tracking_stale_and_a_new_scan_closes_it(db):
    order_id, sid = shipped(db, 5, "1ZQUIET")
    ep = account(db)
    apply_tracking(db, ep, [sid], [update("1ZQUIET", scan(80, T.IN_TRANSIT, "in_transit"))])
    assert sweep_stale(db, actor=WORKER) == 1
    assert sweep_stale(db, actor=WORKER) == 0  # already open
    assert open_codes(db, order_id) == ["TRACKING_STALE"]
    apply_tracking(db, ep, [sid], [update("1ZQUIET", scan(80, T.IN_TRANSIT, "in_transit"),
                                          scan(1, T.IN_TRANSIT, "arrived_at_facility"))])
    assert open_codes(db, order_id) == []


def test_parcels_of_carriers_no_account_names_are_left_to_the_catch_all(db):
    _, ups = shipped(db, 6, "1ZUPS", carrier="UPS")
    _, dhl = shipped(db, 7, "JD0001", carrier="DHL Express")
    ep = account(db, "ups")
    add_carrier_account(db, "as", kind=CarrierKind.AFTERSHIP, base_url="http://127.0.0.1:9", token_env="AS_KEY")
    assert [p[0] for p in parcels_to_track(db, ep)] == [ups]
    assert [p[0] for p in parcels_to_track(db, get_carrier_account(db, "as"))] == [dhl]


def test_an_unreadable_tracking_goes_to_the_dead_letters_with_its_payload(db):
    _, sid = shipped(db, 8, "1ZBAD")
    ep = account(db)
    raw = {"tracking_code": "1ZBAD", "status": 7}
    result = apply_tracking(db, ep, [sid], [Rejection(raw=raw, error="status: expected a string", external_id="1ZBAD")])
    assert result.rejected == 1
    letter = db.scalar(select(DeadLetter))
    assert (letter.carrier_account_id, letter.channel_id, letter.external_id) == (ep.id, None, "1ZBAD")
    assert '"status": 7' in letter.raw
