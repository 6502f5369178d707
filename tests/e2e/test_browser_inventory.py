"""The inventory page in Debian's Chromium: an ops lead finds a SKU, reads its stock and adjusts it."""

from __future__ import annotations

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from core.db import engine_for, new_session
from core.inventory import stock_levels
from tests.e2e.conftest import STOCK, browser_sign_in, wait_idle

pytestmark = pytest.mark.browser
SCREENSHOT = "/tmp/opsdesk-inventory.png"
ROW_PX = 35  # st.dataframe's header and row height
SKU, WHERE = "TEE-BLK-M", "NJ-WH"


def choose(page, label: str, option: str) -> None:  # type: ignore[no-untyped-def]
    """Pick an option of a select box (its list can close again if a rerun redraws it: then open it again)."""
    box = page.get_by_role("combobox", name=label)
    for _ in range(3):
        box.click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=5_000)
            break
        except PlaywrightTimeout:
            wait_idle(page)
    assert box.input_value() == option


def test_ops_lead_adjusts_a_skus_stock_and_sees_the_new_figure(streamlit_server, browser_page, fresh_stock_shop):
    page, base = browser_page, streamlit_server(fresh_stock_shop.url)
    with new_session(engine_for(fresh_stock_shop.url)) as session:
        levels, found = stock_levels(session, sku_search=SKU)
    position = list(levels["location"]).index(WHERE)

    browser_sign_in(page, base, "ops_lead")
    page.get_by_role("heading", name="Exceptions & holds").wait_for()
    page.get_by_role("link", name="Inventory").click()
    page.get_by_role("heading", name="Inventory").wait_for()
    page.get_by_text(f"Showing 1-50 of {len(STOCK)}").wait_for()

    search = page.get_by_label("Search SKU")
    search.fill(SKU)
    search.press("Enter")
    page.get_by_text(f"Showing 1-{found} of {found}").wait_for()
    wait_idle(page)
    # Tick the level's row (the grid is a canvas: its checkbox column is clicked by position).
    grid = page.get_by_test_id("stDataFrame").first.bounding_box()
    assert grid is not None
    page.mouse.click(grid["x"] + 18, grid["y"] + ROW_PX * (position + 1) + ROW_PX / 2)
    page.get_by_role("heading", name=f"{SKU} at {WHERE}").wait_for()
    wait_idle(page)
    on_hand = page.get_by_test_id("stMetric").filter(has_text="On hand")
    assert on_hand.get_by_test_id("stMetricValue").inner_text() == "1"

    page.get_by_label("Change (+/-)").fill("5")
    choose(page, "Reason", "Found")
    page.get_by_label("Note", exact=True).fill("behind the shelf")
    page.get_by_role("button", name="Adjust").click()
    page.get_by_text(f"Adjustment booked: {SKU} at {WHERE} has 6 on hand (was 1, +5); 6 available.").wait_for()
    wait_idle(page)
    assert on_hand.get_by_test_id("stMetricValue").inner_text() == "6"  # the drill-down follows the change

    page.mouse.move(0, 0)  # no hover toolbar in the picture
    page.set_viewport_size({"width": 1440, "height": 2000})  # the app scrolls inside: a tall window shows it all
    wait_idle(page)
    page.wait_for_timeout(300)  # let the grids paint before the picture
    page.screenshot(path=SCREENSHOT, full_page=True)
