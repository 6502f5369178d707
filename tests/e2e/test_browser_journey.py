"""The order page in Debian's Chromium: a desk-shipped parcel's journey, scan by scan, with place and local time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from connectors.schemas import TrackingScan, TrackingUpdate
from core.carriers import add_carrier_account, get_carrier_account
from core.db import engine_for, new_session
from core.enums import CarrierKind
from core.enums import TrackingStatus as T
from core.models import Shipment, User
from core.tracking import apply_tracking
from tests.e2e.conftest import ALLOCATED, PASSWORDS, browser_sign_in, copy_shop, order_id, wait_idle
from tests.parcels import ship_all
from ui.format import local_time

pytestmark = pytest.mark.browser
SCREENSHOT = "/tmp/opsdesk-journey.png"
SCANNED = datetime(2026, 11, 17, 14, 30, tzinfo=UTC)


def test_the_order_page_shows_the_parcels_journey_in_order(streamlit_server, browser_page, stock_template, tmp_path):
    shop = copy_shop(stock_template, tmp_path)
    oid = order_id(shop, ALLOCATED)
    with new_session(engine_for(shop.url)) as session:
        ship_all(session, oid, "1ZJOURNEY01")
        add_carrier_account(session, "ep", kind=CarrierKind.EASYPOST, base_url="http://127.0.0.1:9",
                            token_env="EP_KEY", carriers="UPS")
        sid = session.scalar(select(Shipment.id).where(Shipment.tracking_number == "1ZJOURNEY01"))
        scans = (("pre_transit", T.PRE_TRANSIT, "Label created", "Carson, CA, US", 0),
                 ("in_transit", T.IN_TRANSIT, "Departed facility", "Ontario, CA, US", 6),
                 ("out_for_delivery:delivery_exception", T.FAILED_ATTEMPT, "Nobody home, notice left",
                  "San Francisco, CA, US", 30))
        apply_tracking(session, get_carrier_account(session, "ep"), [sid], [TrackingUpdate(
            tracking_number="1ZJOURNEY01", status=T.FAILED_ATTEMPT, carrier_status="out_for_delivery",
            scans=tuple(TrackingScan(occurred_at=SCANNED + timedelta(hours=h), status=st, carrier_code=code,
                                     description=text, place=where) for code, st, text, where, h in scans))])
    page, base = browser_page, streamlit_server(shop.url)
    browser_sign_in(page, base, "ops_lead", f"lookup?order={oid}")
    page.get_by_text("Parcel journey").wait_for()
    wait_idle(page)
    page.get_by_text("1ZJOURNEY01").first.wait_for()
    grid = page.get_by_test_id("stDataFrame").filter(has=page.get_by_text("What the carrier said"))
    grid.scroll_into_view_if_needed()
    cells = grid.locator("[role=gridcell]")
    texts = [t.strip() for t in cells.all_text_contents()]  # the grid's accessible cells
    assert texts.index("Carson, CA, US") < texts.index("Ontario, CA, US") < texts.index("San Francisco, CA, US")
    assert "Failed attempt" in texts and "Nobody home, notice left" in texts
    with new_session(engine_for(shop.url)) as session:  # times read in the ops lead's own zone
        tz = session.scalar(select(User.timezone).where(User.username == PASSWORDS["ops_lead"][0]))
    assert local_time(SCANNED, tz) in texts
    assert page.get_by_text("Carrier exception hold opened").count() >= 1
    page.screenshot(path=SCREENSHOT, full_page=True)
