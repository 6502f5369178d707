# ruff: noqa: F811 - pytest fixtures imported from tests.channel_sandbox are redefined as arguments
"""The three carrier connectors against the sandbox on a free 127.0.0.1 port, stored on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from core.carriers import add_carrier_account
from core.db import engine_for, new_session
from core.enums import CarrierKind, HoldCode, HoldState, ShipmentStatus
from core.models import ConnectorRun, DeadLetter, Hold, Shipment, TrackingEvent
from jobs.track import poll_carrier
from sandbox import FaultConfig
from sandbox.carrier_api import AFTERSHIP_PREFIX
from sandbox.parcels import journey
from sandbox.server import SandboxServer
from tests.channel_sandbox import TOKEN, Clock, clock, sandbox  # noqa: F401 - clock and sandbox are fixtures
from tests.factories import ingest, make_channel, order_record, parcel
from tests.parcels import allocated_order, ship_all

KEY_ENV = "TEST_CARRIER_KEY"
# (carrier on the parcel, how many): UPS -> EasyPost, FedEx -> Shippo, everything else -> AfterShip.
PARCELS = [("UPS", 6), ("FedEx", 6), ("DHL Express", 6)]
FINAL = {"delivered": ShipmentStatus.DELIVERED, "returned": ShipmentStatus.RETURNED, "lost": ShipmentStatus.EXCEPTION,
         "damaged": ShipmentStatus.EXCEPTION}


def setup_desk(db, server: SandboxServer, monkeypatch: pytest.MonkeyPatch, url: str) -> dict[str, tuple[int, str]]:  # type: ignore[no-untyped-def]
    """Three carrier accounts on the sandbox, desk-shipped parcels and one parcel a sandbox shop shipped."""
    monkeypatch.setenv("OPSDESK_DATABASE_URL", url)
    monkeypatch.setenv(KEY_ENV, TOKEN)
    add_carrier_account(db, "ep", kind=CarrierKind.EASYPOST, base_url=server.url, token_env=KEY_ENV, carriers="UPS",
                        settings={"page_size": 4})
    add_carrier_account(db, "shippo", kind=CarrierKind.SHIPPO, base_url=server.url, token_env=KEY_ENV,
                        carriers="FedEx")
    add_carrier_account(db, "as", kind=CarrierKind.AFTERSHIP, base_url=server.url + AFTERSHIP_PREFIX.rstrip("/"),
                        token_env=KEY_ENV, carriers="*")
    shipped, i = {}, 0
    for carrier, count in PARCELS:
        for _ in range(count):
            i += 1
            number = f"T{carrier[:3].upper()}{i:05d}"
            order_id = allocated_order(db, i, [("TEE-BLK-M", 1)], stock=1)
            shipped[number] = (ship_all(db, order_id, number, carrier=carrier), carrier)
    from_shop = next(p for p in server.parcels.shipped_by_shops())
    ingest(db, make_channel(db), [order_record(500, fulfillments=(parcel(500, from_shop.number,
                                                                          carrier=from_shop.carrier),))])
    shipped[from_shop.number] = (db.scalar(select(Shipment.id).where(Shipment.tracking_number == from_shop.number)),
                                 from_shop.carrier)
    return shipped


def poll_all() -> list:  # type: ignore[type-arg]
    return [poll_carrier(code, batch=5) for code in ("ep", "shippo", "as")]


def test_parcels_move_through_each_carrier_and_a_re_poll_stores_nothing_twice(
        db, db_url, sandbox: Callable[..., SandboxServer], clock: Clock, monkeypatch):  # type: ignore[no-untyped-def]
    server = sandbox(backlog=40, orders_per_minute=0.0)
    clock.advance(days=3)  # the shops ship some of their backlog
    shipped = setup_desk(db, server, monkeypatch, db_url)
    first = poll_all()
    assert [r.error for r in first] == [None, None, None] and sum(r.fetched for r in first) == len(shipped)
    clock.advance(days=12)  # every journey has ended by now
    poll_all()
    again = poll_all()
    assert sum(r.result.scans for r in again) == 0 and sum(r.result.parcels for r in again) == 0

    with new_session(engine_for(db_url)) as session:
        stored = Counter(session.scalars(select(TrackingEvent.shipment_id)))
        status = {i: st for i, st in session.execute(select(Shipment.id, Shipment.status))}
        held = set(session.scalars(select(Hold.order_id).where(Hold.code == HoldCode.CARRIER_EXCEPTION,
                                                               Hold.state == HoldState.OPEN)))
        order_of = {i: o for i, o in session.execute(select(Shipment.id, Shipment.order_id))}
        runs = Counter(session.scalars(select(ConnectorRun.connector).where(ConnectorRun.carrier_account_id.is_not(None))))
    outcomes = Counter()
    for number, (sid, _carrier) in shipped.items():
        parcel_ = server.parcels.known(number)
        stages = journey(server.parcels.seed, number, parcel_.shipped_at)
        assert stored[sid] == len(stages), number  # the sandbox's own list: nothing lost, nothing duplicated
        last = stages[-1].kind
        outcomes[last] += 1
        if last in FINAL:
            assert status[sid] is FINAL[last], number
        # A return, a loss or damage keeps the carrier exception open; a delivery closed any.
        assert (order_of[sid] in held) == (last in ("returned", "lost", "damaged")), number
    assert runs == {"ep": 3, "shippo": 3, "as": 3}
    assert outcomes["delivered"] > 0


def test_fault_knobs_are_survived_and_malformed_trackings_are_dead_lettered(
        sqlite_db, sqlite_url, sandbox: Callable[..., SandboxServer], clock: Clock, monkeypatch):  # type: ignore[no-untyped-def]
    faults = FaultConfig(rate_429=0.15, retry_after_s=0.01, rate_5xx=0.05, malformed_rate=0.25)
    server = sandbox(backlog=5, orders_per_minute=0.0, faults=faults)
    shipped = setup_desk(sqlite_db, server, monkeypatch, sqlite_url)
    poll_all()  # the carriers hear of the desk's parcels now
    clock.advance(days=2)
    reports = poll_all()
    assert [r.error for r in reports] == [None, None, None]
    assert server.stats()["sent_429"] > 0
    bad = {n for n in shipped if server.parcels.known(n).malformed}
    with new_session(engine_for(sqlite_url)) as session:
        lettered = set(session.scalars(select(DeadLetter.external_id).where(DeadLetter.carrier_account_id.is_not(None))))
        with_scans = set(session.scalars(select(Shipment.tracking_number).join(
            TrackingEvent, TrackingEvent.shipment_id == Shipment.id)))
        open_holds = session.scalar(select(func.count()).select_from(Hold).where(Hold.state == HoldState.OPEN))
    assert bad and bad <= lettered
    assert with_scans == set(shipped) - bad
    assert open_holds is not None
