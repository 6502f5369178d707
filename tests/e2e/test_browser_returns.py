"""The returns page in Debian's Chromium: a clerk receives and grades a return, and the stock rises on Inventory."""

from __future__ import annotations

import pytest

from core.db import engine_for, new_session
from core.inventory import stock_levels
from tests.e2e.conftest import browser_sign_in, copy_shop, wait_idle
from tests.e2e.test_browser_inventory import ROW_PX, choose
from tests.e2e.test_returns_page import SKU, WHERE, authorised_rma

pytestmark = pytest.mark.browser
SCREENSHOT = "/tmp/opsdesk-returns.png"


def test_clerk_receives_and_grades_a_return_and_sees_the_stock_rise(streamlit_server, browser_page, stock_template,
                                                                    tmp_path):
    shop = copy_shop(stock_template, tmp_path)
    _, number = authorised_rma(shop.url)
    with new_session(engine_for(shop.url)) as session:
        levels, found = stock_levels(session, sku_search=SKU)
    position, before = list(levels["location"]).index(WHERE), int(levels.set_index("location").loc[WHERE, "on_hand"])
    page, base = browser_page, streamlit_server(shop.url)

    browser_sign_in(page, base, "clerk")
    page.get_by_role("heading", name="Returns", exact=True).wait_for()
    search = page.get_by_label("Find an RMA")
    search.fill(number)
    search.press("Enter")
    page.get_by_role("heading", name=f"{number} - Requested").wait_for()
    wait_idle(page)
    page.get_by_role("button", name="Receive", exact=True).click()
    page.get_by_text(f"{number} received: 2 units").wait_for()
    page.get_by_role("heading", name=f"{number} - Received").wait_for()
    wait_idle(page)

    choose(page, f"Grade {SKU}", "A - resellable")
    page.get_by_label(f"Notes {SKU}").fill("sealed, as new")
    page.get_by_role("button", name="Save inspection").click()
    page.get_by_text(f"{number} inspected: closed.").wait_for()
    wait_idle(page)
    page.mouse.move(0, 0)
    page.set_viewport_size({"width": 1440, "height": 1800})
    wait_idle(page)
    page.screenshot(path=SCREENSHOT, full_page=True)

    page.get_by_role("link", name="Inventory").click()
    page.get_by_role("heading", name="Inventory").wait_for()
    grid_search = page.get_by_label("Search SKU")
    grid_search.fill(SKU)
    grid_search.press("Enter")
    page.get_by_text(f"Showing 1-{found} of {found}").wait_for()
    wait_idle(page)
    grid = page.get_by_test_id("stDataFrame").first.bounding_box()
    assert grid is not None
    page.mouse.click(grid["x"] + 18, grid["y"] + ROW_PX * (position + 1) + ROW_PX / 2)
    page.get_by_role("heading", name=f"{SKU} at {WHERE}").wait_for()
    wait_idle(page)
    on_hand = page.get_by_test_id("stMetric").filter(has_text="On hand")
    assert on_hand.get_by_test_id("stMetricValue").inner_text() == str(before + 2)
