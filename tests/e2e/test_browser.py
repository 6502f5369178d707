"""The UI in Debian's Chromium against a real Streamlit server: what a person at the desk sees."""

from __future__ import annotations

import re

import pytest

from core.db import engine_for, new_session
from tests.e2e.conftest import browser_sign_in, fill_login, order_id, wait_idle
from tests.factories import ingest, make_channel, order_record

pytestmark = pytest.mark.browser
SCREENSHOT = "/tmp/opsdesk-queue.png"



def test_support_sees_new_orders_arrive_live_and_opens_one(streamlit_server, browser_page, fresh_shop):
    page, base = browser_page, streamlit_server(fresh_shop.url)
    tracked = order_id(fresh_shop, fresh_shop.tracked_number)

    # The very first request to a fresh server is a link to an order: the login form answers,
    # and nothing of the order shows before signing in.
    page.goto(f"{base}/lookup?order={tracked}")
    wait_idle(page)
    page.get_by_label("Username").wait_for()
    assert page.get_by_text(fresh_shop.tracking).count() == 0
    fill_login(page, "support")

    # ...and after signing in, the link still leads to the order and its whole story.
    page.get_by_role("heading", name=f"Order {fresh_shop.tracked_number}").wait_for()
    page.get_by_text(f"Shipped with UPS, tracking number {fresh_shop.tracking}.").wait_for()
    assert page.url.endswith(f"/lookup?order={tracked}")

    page.get_by_role("link", name="Order queue").click()
    page.get_by_text(f"Showing 1-50 of {fresh_shop.open_orders}").wait_for()

    # Orders arrive while the page is open: the live table picks them up without a reload.
    page.evaluate("window.__still_the_same_page = true")
    with new_session(engine_for(fresh_shop.url)) as session:
        ingest(session, make_channel(session, "test-shop"), [order_record(i) for i in range(300, 303)])
    page.get_by_text(f"Showing 1-50 of {fresh_shop.open_orders + 3}").wait_for(timeout=15_000)
    assert page.evaluate("window.__still_the_same_page") is True
    wait_idle(page)
    page.wait_for_timeout(500)  # let the grid paint before the picture
    page.screenshot(path=SCREENSHOT, full_page=True)

    # Ticking the first row of the grid (a canvas: clicked by position) opens that order.
    grid = page.get_by_test_id("stDataFrame").first.bounding_box()
    assert grid is not None
    page.mouse.click(grid["x"] + 18, grid["y"] + 35 + 17)
    page.get_by_role("heading", name=f"Order {fresh_shop.first_number}").wait_for()
    assert re.search(rf"/lookup\?order={order_id(fresh_shop, fresh_shop.first_number)}$", page.url)
    page.get_by_text("received from the channel").first.wait_for()


def test_a_link_to_an_order_opened_before_signing_in_still_works(streamlit_server, browser_page, chromium,
                                                                  fresh_shop):
    # Ops lands on the queue, so the order must come from the link, not from a default page.
    base = streamlit_server(fresh_shop.url)
    warm = chromium.new_page()  # someone has used the server already (the first request is tested above)
    warm.goto(base)
    wait_idle(warm)
    warm.close()

    page = browser_page
    target = order_id(fresh_shop, fresh_shop.email_number)
    browser_sign_in(page, base, "ops_lead", f"lookup?order={target}")
    page.get_by_role("heading", name=f"Order {fresh_shop.email_number}").wait_for()
    assert page.url.endswith(f"/lookup?order={target}")
    page.get_by_text("Page not found").wait_for(state="detached")

