"""The exception & hold queue in Debian's Chromium: an ops lead releases a high-value order and reads its story."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from core.db import engine_for, new_session
from core.holds_queue import HoldFilter, hold_queue
from tests.e2e.conftest import HELD_COUNTS, HIGH_VALUE, browser_sign_in, wait_idle

pytestmark = pytest.mark.browser
SCREENSHOT = "/tmp/opsdesk-holds.png"
ROW_PX = 35  # st.dataframe's header and row height


def test_ops_lead_releases_a_high_value_order_and_sees_it_move_on(streamlit_server, browser_page,
                                                                  fresh_held_shop):
    page, base = browser_page, streamlit_server(fresh_held_shop.url)
    with new_session(engine_for(fresh_held_shop.url)) as session:
        position = list(hold_queue(session, HoldFilter()).rows["number"]).index(HIGH_VALUE)
    total = sum(HELD_COUNTS.values())

    browser_sign_in(page, base, "ops_lead")
    # The ops lead lands on the exception queue.
    page.get_by_role("heading", name="Exceptions & holds").wait_for()
    page.get_by_text(f"Showing 1-{total} of {total}").wait_for()
    wait_idle(page)

    # Tick the order's row (the grid is a canvas: its checkbox column is clicked by position).
    grid = page.get_by_test_id("stDataFrame").first.bounding_box()
    assert grid is not None
    page.mouse.click(grid["x"] + 18, grid["y"] + ROW_PX * (position + 1) + ROW_PX / 2)
    page.get_by_role("heading", name="1 selected").wait_for()
    page.get_by_text("- On hold - 6,000.00 USD - ship to").wait_for()  # the picked order, under the table
    note = page.get_by_label("Note", exact=True)
    note.fill("Known customer, paid by wire")
    page.mouse.move(0, 0)  # no hover toolbar over the filters in the picture
    page.set_viewport_size({"width": 1440, "height": 1500})  # the app scrolls inside: a tall window shows it all
    wait_idle(page)
    page.wait_for_timeout(300)  # let the grid paint before the picture
    page.screenshot(path=SCREENSHOT, full_page=True)

    page.get_by_role("button", name="Release").click()
    page.get_by_text(f"Released 1 hold on {HIGH_VALUE}.").wait_for()
    page.get_by_text(f"Showing 1-{total - 1} of {total - 1}").wait_for()  # the row is gone
    page.get_by_role("heading", name="Select items in the table to act on them").wait_for()
    expect(note).to_have_value("")  # the form clears after the action (waits for the rerun)
    page.screenshot(path=SCREENSHOT.replace(".png", "-released.png"), full_page=True)
    with page.expect_download() as download:  # the page as shown, for a spreadsheet
        page.get_by_role("button", name="Download CSV").click()
    csv = Path(download.value.path()).read_text().splitlines()
    assert csv[0].startswith("Order,Hold,Blocks,Age,Ship by (UTC),Time left,Total,Assignee")
    assert len(csv) == total and not any(line.startswith(f"{HIGH_VALUE},") for line in csv)

    # The order's own page tells the story: the hold was released and the order moved on.
    page.get_by_role("link", name="Order lookup").click()
    search = page.get_by_label("Order number, channel order id, email, name, phone or tracking number")
    search.fill(HIGH_VALUE)
    search.press("Enter")
    page.get_by_role("heading", name=f"Order {HIGH_VALUE}").wait_for()
    page.get_by_text("High value hold released: Known customer, paid by wire.").wait_for()
    page.get_by_text("Status changed from on hold to ready (no blocking hold).").wait_for()
    status = page.get_by_test_id("stMetric").filter(has_text="Status")
    assert "Ready" in status.inner_text()
