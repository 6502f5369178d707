"""Connector health through AppTest, carrier side: a resting account, poll now past its breaker, replays per carrier."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import func, select

from core.carriers import add_carrier_account
from core.db import engine_for, new_session
from core.enums import CarrierKind, RunStatus, ShipmentStatus
from core.models import CarrierAccount, ConnectorRun, DeadLetter, Order, Shipment, TrackingEvent, utcnow
from tests.e2e.test_app_pages import plain
from tests.e2e.test_connectors_page import button, open_as

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EASYPOST = json.loads((FIXTURES / "easypost" / "tracker_delivered.json").read_text(encoding="utf-8"))
SHIPPO = json.loads((FIXTURES / "shippo" / "track_out_for_delivery.json").read_text(encoding="utf-8"))


def _carrier_desk(url: str) -> None:
    """``ep`` (EasyPost, UPS) has failed three polls in a row; ``shippo`` (USPS) has one waiting letter each."""
    with new_session(engine_for(url)) as db:
        ep = add_carrier_account(db, "ep", kind=CarrierKind.EASYPOST, base_url="http://127.0.0.1:9/ep",
                                 token_env="EP_KEY", carriers="UPS")
        shippo = add_carrier_account(db, "shippo", kind=CarrierKind.SHIPPO, base_url="http://127.0.0.1:9/shippo",
                                     token_env="SHIPPO_KEY", carriers="USPS")
        order_id = db.scalar(select(Order.id).order_by(Order.id).limit(1))
        for carrier, number in (("UPS", EASYPOST["tracking_code"]), ("USPS", SHIPPO["tracking_number"])):
            db.add(Shipment(order_id=order_id, carrier=carrier, tracking_number=number, source="desk",
                            shipped_at=utcnow() - timedelta(days=3), status=ShipmentStatus.IN_TRANSIT))
        for seconds in (3, 2, 1):  # the last one a second ago: resting for about 30 s more
            at = utcnow() - timedelta(seconds=seconds)
            db.add(ConnectorRun(carrier_account_id=ep.id, connector="ep", started_at=at, finished_at=at,
                                status=RunStatus.FAILED, error="HTTP 503 after 5 tries"))
        # Trackings an older parser could not read; today's parsers can (a fix was deployed).
        db.add(DeadLetter(carrier_account_id=shippo.id, connector="shippo", external_id=SHIPPO["tracking_number"],
                          raw=json.dumps(SHIPPO), error="tracking_status.status: unknown word", received_at=utcnow()))
        db.add(DeadLetter(carrier_account_id=ep.id, connector="ep", external_id=EASYPOST["tracking_code"],
                          raw=json.dumps(EASYPOST), error="status: unknown word", received_at=utcnow()))
        db.commit()


def _carriers(at) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return next(d.value for d in at.dataframe if "Carrier account" in d.value.columns).set_index("Carrier account")


def _scans(url: str, number: str) -> int:
    with new_session(engine_for(url)) as db:
        return db.scalar(select(func.count(TrackingEvent.id)).join(Shipment).where(Shipment.tracking_number == number))


def test_a_resting_account_shows_its_next_try_and_an_ops_lead_can_still_poll_it(monkeypatch, fresh_shop):
    _carrier_desk(fresh_shop.url)
    at = open_as(monkeypatch, fresh_shop, "ops_lead")
    polling = _carriers(at).loc[["ep", "shippo"], "Polling"].tolist()
    assert polling[0].startswith("resting after 3 failed polls, next try ") and polling[1] == "running"
    carrier_poll = [b for b in at.button if b.label == "Poll now"][-1]
    assert not carrier_poll.disabled  # resting is not paused: a person may try at once
    carrier_poll.click().run()
    assert "Asked the worker to poll ep" in plain(at.success[0].value)
    with new_session(engine_for(fresh_shop.url)) as db:
        assert "poll_requested_at" in db.scalar(select(CarrierAccount.settings).where(CarrierAccount.code == "ep"))


def test_an_ops_lead_replays_each_carriers_letter_with_its_own_parser(monkeypatch, fresh_shop):
    _carrier_desk(fresh_shop.url)
    at = open_as(monkeypatch, fresh_shop, "ops_lead")
    assert _carriers(at).loc[["ep", "shippo"], "Dead letters"].tolist() == [1, 1]
    assert EASYPOST["tracking_code"] in at.code[-1].value  # the raw payload, as the carrier sent it
    button(at, "Replay").click().run()
    assert "Unreadable tracking" in plain(at.success[0].value) and "replayed" in plain(at.success[0].value)
    assert any(s.value == "Unreadable trackings (0)" for s in at.subheader)
    assert _scans(fresh_shop.url, EASYPOST["tracking_code"]) == len(EASYPOST["tracking_details"])

    at.selectbox(key="carrier_account").set_value(_account_id(fresh_shop.url, "shippo")).run()
    assert SHIPPO["tracking_number"] in at.code[-1].value
    button(at, "Replay").click().run()
    assert "replayed" in plain(at.success[0].value)
    assert _scans(fresh_shop.url, SHIPPO["tracking_number"]) == len(SHIPPO["tracking_history"])
    assert _carriers(at).loc[["ep", "shippo"], "Dead letters"].tolist() == [0, 0]
    with new_session(engine_for(fresh_shop.url)) as db:
        status = {carrier: st for carrier, st in db.execute(select(Shipment.carrier, Shipment.status).where(
            Shipment.tracking_number.in_([EASYPOST["tracking_code"], SHIPPO["tracking_number"]])))}
    assert status == {"UPS": ShipmentStatus.DELIVERED, "USPS": ShipmentStatus.IN_TRANSIT}


def _account_id(url: str, code: str) -> int:
    with new_session(engine_for(url)) as db:
        return db.scalar(select(CarrierAccount.id).where(CarrierAccount.code == code))
