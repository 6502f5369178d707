# ruff: noqa: F811 - pytest fixtures imported from tests.channel_sandbox are redefined as arguments
"""Replaying carrier dead letters: the sandbox's broken trackings, each carrier's parser, scans stored once.

A tracking the carrier sent broken stays refused (with the parser's reason) and waiting; once
its data is fixed it replays onto the parcel, and replaying another letter of the same parcel,
or polling it again, adds no scan twice. A replay only touches parcels its account follows.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from connectors.carriers import parser_for
from core.auth import Actor
from core.carrier_ops import replay_carrier_letter
from core.carriers import add_carrier_account
from core.db import engine_for, new_session
from core.enums import CarrierKind, Role, ShipmentStatus
from core.errors import InvalidInput, StaleEdit
from core.models import CarrierAccount, DeadLetter, Event, Order, Shipment, TrackingEvent
from jobs.track import poll_carrier
from sandbox import FaultConfig
from sandbox.carrier_api import AFTERSHIP_PREFIX
from sandbox.server import SandboxServer
from tests.channel_sandbox import TOKEN, Clock, clock, sandbox  # noqa: F401 - clock and sandbox are fixtures
from tests.factories import ingest, make_channel, order_record
from tests.parcels import allocated_order, ship_all

OPS = Actor("olivia", role=Role.OPS_LEAD)
KEY_ENV = "OPSDESK_TEST_CARRIER_REPLAY_KEY"
ACCOUNTS = {"ep": (CarrierKind.EASYPOST, "UPS"), "shippo": (CarrierKind.SHIPPO, "FedEx"),
            "as": (CarrierKind.AFTERSHIP, "DHL Express")}
NUMBERS = [f"TRP{i:05d}" for i in range(12)]


def _fixed(kind: CarrierKind, raw: dict[str, Any]) -> dict[str, Any]:
    """The tracking as the carrier meant it: the field the sandbox broke, put back from the rest of the record."""
    if kind is CarrierKind.EASYPOST:  # its last scan's time was "yesterday"
        details = [dict(d) for d in raw["tracking_details"]]
        details[-1]["datetime"] = raw["updated_at"]
        return dict(raw, tracking_details=details)
    if kind is CarrierKind.SHIPPO:  # its current status was null
        return dict(raw, tracking_status=raw["tracking_history"][-1])
    return dict(raw, tag=raw["checkpoints"][-1]["tag"])  # AfterShip: its tag was null


def _waiting(url: str) -> dict[int, tuple[str, str]]:
    """Letters not replayed: id -> (account code, tracking number)."""
    with new_session(engine_for(url)) as session:
        return {i: (code, number) for i, code, number in session.execute(
            select(DeadLetter.id, CarrierAccount.code, DeadLetter.external_id)
            .join(CarrierAccount, CarrierAccount.id == DeadLetter.carrier_account_id)
            .where(DeadLetter.replayed_at.is_(None)))}


def _scans(url: str) -> Counter[str]:
    with new_session(engine_for(url)) as session:
        return Counter(session.scalars(select(Shipment.tracking_number)
                                       .join(TrackingEvent, TrackingEvent.shipment_id == Shipment.id)))


def _fix_letter(url: str, letter_id: int, kind: CarrierKind) -> None:
    with new_session(engine_for(url)) as session:
        raw = json.loads(session.scalar(select(DeadLetter.raw).where(DeadLetter.id == letter_id)))
        session.execute(update(DeadLetter).where(DeadLetter.id == letter_id).values(raw=json.dumps(_fixed(kind, raw))))
        session.commit()


def _replay(db, letter_id: int, code: str) -> str:  # type: ignore[no-untyped-def]
    try:
        return replay_carrier_letter(db, letter_id, parse=parser_for(ACCOUNTS[code][0]), actor=OPS)
    finally:
        db.rollback()  # the page's session ends here too; the next read is fresh


@pytest.mark.timeout(300)
def test_broken_sandbox_trackings_are_refused_and_kept_then_once_fixed_stored_once_whatever_is_replayed_or_polled(
        db, db_url, sandbox: Callable[..., SandboxServer], clock: Clock, monkeypatch):  # type: ignore[no-untyped-def]
    server = sandbox(backlog=0, orders_per_minute=0.0, faults=FaultConfig(malformed_rate=0.5))
    monkeypatch.setenv("OPSDESK_DATABASE_URL", db_url)
    monkeypatch.setenv(KEY_ENV, TOKEN)
    for code, (kind, carrier) in ACCOUNTS.items():
        url = server.url + AFTERSHIP_PREFIX.rstrip("/") if kind is CarrierKind.AFTERSHIP else server.url
        add_carrier_account(db, code, kind=kind, base_url=url, token_env=KEY_ENV, carriers=carrier)
    for i in range(12):  # four parcels per carrier
        carrier = list(ACCOUNTS.values())[i % 3][1]
        ship_all(db, allocated_order(db, i + 1, [("TEE-BLK-M", 1)], stock=1), NUMBERS[i], carrier=carrier)
    poll = lambda: [poll_carrier(code) for code in ACCOUNTS]  # noqa: E731 - a name for one line used thrice
    poll()  # the carriers hear of the parcels
    clock.advance(hours=12)
    assert [r.error for r in poll()] == [None, None, None]
    waiting = _waiting(db_url)
    broken = {number for _, number in waiting.values()}
    assert {code for code, _ in waiting.values()} == set(ACCOUNTS)  # each carrier sent some broken
    assert broken == {n for n in NUMBERS if server.parcels.known(n).malformed}
    assert not set(_scans(db_url)) & broken  # nothing of theirs was stored

    for letter_id, (code, _number) in waiting.items():  # replayed as sent: each carrier's parser refuses it
        with pytest.raises(InvalidInput, match="Still unreadable"):
            _replay(db, letter_id, code)
    assert _waiting(db_url) == waiting  # and every letter is kept

    latest = {number: (max(i for i, (_, n) in waiting.items() if n == number), code)
              for code, number in waiting.values()}
    for number, (letter_id, code) in latest.items():
        _fix_letter(db_url, letter_id, ACCOUNTS[code][0])
        assert _replay(db, letter_id, code) == number
        with pytest.raises(StaleEdit):
            _replay(db, letter_id, code)
    stored = _scans(db_url)
    for number in broken:
        assert stored[number] == len(server.parcels.scans(server.parcels.known(number))), number
    assert set(_waiting(db_url)) == set(waiting) - {i for i, _ in latest.values()}

    repoll = poll()  # still broken at the carrier: new letters, no scan twice
    assert sum(r.result.rejected for r in repoll) == len(broken) and sum(r.result.scans for r in repoll) == 0
    again = max(_waiting(db_url))  # the same scans sent broken again, of a parcel now stored
    code, number = _waiting(db_url)[again]
    assert again not in waiting and number in broken
    _fix_letter(db_url, again, ACCOUNTS[code][0])
    assert _replay(db, again, code) == number
    assert _scans(db_url) == stored
    assert again not in _waiting(db_url)


def test_a_replay_touches_only_parcels_its_account_follows(db):  # type: ignore[no-untyped-def]
    from connectors.easypost import parse_tracking

    good = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "easypost" / "tracker_delivered.json")
                      .read_text())
    ep = add_carrier_account(db, "ep", kind=CarrierKind.EASYPOST, base_url="http://127.0.0.1:9/ep",
                             token_env=KEY_ENV, carriers="UPS")
    add_carrier_account(db, "shippo", kind=CarrierKind.SHIPPO, base_url="http://127.0.0.1:9/shippo",
                        token_env=KEY_ENV, carriers="FedEx")
    ingest(db, make_channel(db), [order_record(1), order_record(2)])
    first, second = db.scalars(select(Order.id).order_by(Order.id)).all()
    shipped = datetime.now(UTC) - timedelta(days=3)
    for order_id, carrier, number in ((first, "UPS", "SAME0001"), (second, "FedEx", "SAME0001"),
                                      (second, "FedEx", "FEDEXONLY1")):
        db.add(Shipment(order_id=order_id, carrier=carrier, tracking_number=number, source="desk",
                        shipped_at=shipped, status=ShipmentStatus.IN_TRANSIT))
    for number in ("SAME0001", "FEDEXONLY1"):
        db.add(DeadLetter(carrier_account_id=ep.id, connector="ep", external_id=number,
                          raw=json.dumps(dict(good, tracking_code=number)), error="an old parser refused it",
                          received_at=datetime.now(UTC)))
    db.commit()
    letters = dict(db.execute(select(DeadLetter.external_id, DeadLetter.id)).all())

    assert replay_carrier_letter(db, letters["SAME0001"], parse=parse_tracking, actor=OPS) == "SAME0001"
    db.rollback()
    on = dict(db.execute(select(Shipment.carrier, func.count(TrackingEvent.id)).outerjoin(TrackingEvent)
                         .where(Shipment.tracking_number == "SAME0001").group_by(Shipment.carrier)).all())
    assert on == {"UPS": len(good["tracking_details"]), "FedEx": 0}  # FedEx's parcel of that number is not EasyPost's
    assert db.scalar(select(Shipment.status).where(Shipment.carrier == "FedEx", Shipment.tracking_number ==
                                                   "SAME0001")) is ShipmentStatus.IN_TRANSIT
    with pytest.raises(InvalidInput, match="No parcel ep follows has the tracking number FEDEXONLY1"):
        replay_carrier_letter(db, letters["FEDEXONLY1"], parse=parse_tracking, actor=OPS)
    db.rollback()
    assert db.scalar(select(DeadLetter.replayed_at).where(DeadLetter.id == letters["FEDEXONLY1"])) is None
    replays = db.execute(select(Event.actor_name, Event.detail).where(Event.kind == "dead_letter_replayed")).all()
    assert [tuple(r) for r in replays] == [("olivia", {"carrier_account": "ep", "dead_letter": letters["SAME0001"],
                                                       "tracking_number": "SAME0001"})]  # the refusal left none
