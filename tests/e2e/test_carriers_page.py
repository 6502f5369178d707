"""AppTest: the admin's Carriers page, and the ops lead's "Mark shipped" form with the parcel's journey."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from connectors.schemas import TrackingScan, TrackingUpdate
from core.carriers import add_carrier_account, get_carrier_account
from core.db import engine_for, new_session
from core.enums import CarrierKind, MovementKind
from core.enums import TrackingStatus as T
from core.integrity import check_invariants
from core.models import InventoryLevel, InventoryMovement, Location, Shipment, utcnow
from core.tracking import apply_tracking
from tests.e2e.conftest import (
    ALLOCATED,
    ALLOCATED_FROM,
    ALLOCATED_QTY,
    ALLOCATED_SKU,
    PASSWORDS,
    app_for,
    order_id,
    sign_in,
)
from tests.e2e.test_app_pages import plain, texts

CARRIERS_PAGE, LOOKUP = "pages/carriers.py", "pages/lookup.py"


def fill_carrier(at, token_env: str) -> None:  # type: ignore[no-untyped-def]
    fields = {w.label: w for w in at.text_input}
    fields["Code (lower case, e.g. easypost-us)"].set_value("easypost-us")
    fields["Base URL (e.g. https://api.easypost.com)"].set_value("http://127.0.0.1:8900")
    fields["Key variable (the NAME of an environment variable, e.g. EASYPOST_API_KEY)"].set_value(token_env)
    fields["Tracks parcels of (comma-separated carrier names, or * for all others)"].set_value("UPS, USPS")
    next(b for b in at.button if b.label == "Add carrier account").click().run()


def test_an_admin_adds_a_carrier_account_by_naming_its_key_variable_and_changes_it(monkeypatch, fresh_shop):
    at = sign_in(app_for(monkeypatch, fresh_shop.url), *PASSWORDS["admin"])
    at.switch_page(CARRIERS_PAGE).run()
    fill_carrier(at, "EZAK_live_0123456789")  # a key typed by mistake: refused, never stored
    assert "NAME of an environment variable" in plain(at.error[0].value)
    fill_carrier(at, "EASYPOST_API_KEY")
    assert "Added easypost-us" in plain(at.success[0].value)
    row = at.dataframe[0].value.set_index("Code").loc["easypost-us"]
    assert (row["API"], row["Key variable"], row["Tracks"]) == ("easypost", "EASYPOST_API_KEY", "UPS, USPS")
    assert "EZAK_live" not in str(at.dataframe[0].value.to_dict())
    [w for w in at.number_input if w.label == "Poll every (seconds)"][-1].set_value(120)  # the change form's
    next(b for b in at.button if b.label == "Save changes").click().run()
    assert "poll_interval_s: 300 -> 120" in plain(at.success[0].value)


def test_the_ops_lead_marks_an_allocation_shipped_and_the_page_shows_the_parcels_journey(monkeypatch,
                                                                                         fresh_stock_shop):
    shop = fresh_stock_shop
    at = sign_in(app_for(monkeypatch, shop.url), *PASSWORDS["ops_lead"])
    at.query_params["order"] = str(order_id(shop, ALLOCATED))
    at.switch_page(LOOKUP).run()
    fields = {w.label: w for w in at.text_input}
    fields["Carrier"].set_value("UPS")
    fields["Service"].set_value("Ground")
    fields["Tracking number"].set_value("1ZDESK0001")
    next(b for b in at.button if b.label == "Mark shipped").click().run()
    assert f"{ALLOCATED_QTY} units shipped from {ALLOCATED_FROM} with UPS 1ZDESK0001" in plain(at.success[0].value)
    shown = texts(at)
    assert "Shipped from CA-WH with UPS Ground, tracking number 1ZDESK0001" in shown
    assert not [b for b in at.button if b.label == "Mark shipped"]  # nothing left to ship

    with new_session(engine_for(shop.url)) as session:
        assert check_invariants(session) == []
        loc = session.scalar(select(Location.id).where(Location.code == ALLOCATED_FROM))
        assert session.scalar(select(InventoryLevel.reserved).where(
            InventoryLevel.location_id == loc, InventoryLevel.sku == ALLOCATED_SKU)) == 0
        assert len(session.scalars(select(InventoryMovement.id).where(InventoryMovement.kind == MovementKind.SHIPMENT))
                   .all()) == 1
        add_carrier_account(session, "ep", kind=CarrierKind.EASYPOST, base_url="http://127.0.0.1:9",
                            token_env="EP_KEY", carriers="UPS")
        sid = session.scalar(select(Shipment.id).where(Shipment.tracking_number == "1ZDESK0001"))
        now = utcnow().replace(microsecond=0)
        apply_tracking(session, get_carrier_account(session, "ep"), [sid], [TrackingUpdate(
            tracking_number="1ZDESK0001", status=T.IN_TRANSIT, carrier_status="in_transit", scans=(
                TrackingScan(occurred_at=now - timedelta(hours=5), status=T.PRE_TRANSIT, carrier_code="pre_transit",
                             description="Label created", place="Carson, CA, US"),
                TrackingScan(occurred_at=now - timedelta(hours=1), status=T.IN_TRANSIT, carrier_code="in_transit",
                             description="Departed facility", place="Ontario, CA, US")))])
    at.run()
    journey = next(d.value for d in at.dataframe if "What the carrier said" in d.value.columns)
    assert list(journey["Status"]) == ["Pre transit", "In transit"]
    assert list(journey["Where"]) == ["Carson, CA, US", "Ontario, CA, US"]
    assert "UPS `1ZDESK0001`" in "\n".join(m.value for m in at.markdown)


def test_the_health_page_shows_carriers_beside_channels_with_their_failed_polls(monkeypatch, fresh_shop):
    from core.carrier_health import start_carrier_run
    from core.runs import finish_run

    with new_session(engine_for(fresh_shop.url)) as session:
        account = add_carrier_account(session, "shippo-eu", kind=CarrierKind.SHIPPO, base_url="http://127.0.0.1:9",
                                      token_env="SHIPPO_KEY", carriers="DHL Express")
        finish_run(session, start_carrier_run(session, account), fetched=3, written=5, skipped=0, errors=0)
        finish_run(session, start_carrier_run(session, account), fetched=0, written=0, skipped=0, errors=0,
                   error="GET /tracks/dhl_express/JD1 failed on the server (503)")
    at = sign_in(app_for(monkeypatch, fresh_shop.url), *PASSWORDS["ops_lead"])
    at.switch_page("pages/connectors.py").run()
    assert not at.exception
    assert "Carriers" in [h.value for h in at.header]
    row = next(d.value for d in at.dataframe if "Carrier account" in d.value.columns).iloc[0]
    assert (row["Carrier account"], row["API"], row["Tracks"]) == ("shippo-eu", "Shippo", "DHL Express")
    assert (row["Polls (24 h)"], row["Failed (24 h)"], row["Error rate (%)"]) == (2, 1, 50.0)
    assert "failed on the server (503)" in row["Last error"]
