"""The SLA page in Debian's Chromium: a manager sees the charts, narrows to a channel and opens the at-risk order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.db import engine_for, new_session
from tests.e2e.conftest import browser_sign_in, wait_idle
from tests.factories import ingest, make_channel, order_record

pytestmark = pytest.mark.browser
SCREENSHOT = "/tmp/opsdesk-sla.png"


def test_a_manager_follows_an_at_risk_order_from_the_sla_page(streamlit_server, browser_page, fresh_shop):
    now = datetime.now(UTC).replace(microsecond=0)
    with new_session(engine_for(fresh_shop.url)) as session:  # due in two hours: at risk, not yet breached
        ingest(session, make_channel(session, "rush-shop"), [order_record(
            900, number="#RUSH-1", external_id="RUSH-1", placed_at=now - timedelta(hours=20),
            updated_at=now - timedelta(hours=20), ship_by=now + timedelta(hours=2))])
    page, base = browser_page, streamlit_server(fresh_shop.url)

    browser_sign_in(page, base, "manager")
    page.get_by_role("link", name="SLA").click()
    page.get_by_role("heading", name="SLA").wait_for()
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()  # the chart has rendered
    breached = page.get_by_test_id("stMetric").filter(has_text="Breached (orders)")
    assert int(breached.inner_text().split("\n")[-1].replace(",", "")) == fresh_shop.open_orders

    # Narrow to the rush channel: its one order is at risk, and is the next to breach.
    page.get_by_role("combobox").first.click()
    page.get_by_role("option", name="rush-shop").click()
    page.keyboard.press("Escape")
    link = page.get_by_test_id("stPageLink").filter(has_text="#RUSH-1")
    link.wait_for()
    assert "at risk, 1 h" in link.inner_text() and "ready, waiting for allocation" in link.inner_text()
    wait_idle(page)
    page.screenshot(path=SCREENSHOT, full_page=True)

    link.click()
    page.get_by_role("heading", name="Order #RUSH-1").wait_for()
    assert "/lookup?order=" in page.url
