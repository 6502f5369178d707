"""Connector health in Debian's Chromium: an ops lead replays dead letters; a fixed one is stored, a broken one stays."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from connectors.schemas import Rejection
from connectors.shopify import parse_order
from core.db import engine_for, new_session, writing
from core.models import Channel, DeadLetter, Order, utcnow
from tests.e2e.conftest import browser_sign_in, wait_idle
from tests.e2e.test_browser_inventory import choose

pytestmark = pytest.mark.browser
SCREENSHOT = "/tmp/opsdesk-replay.png"
RAW = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "shopify" /
                  "paid_unfulfilled_multiline.json").read_text(encoding="utf-8"))
CHANNEL = "eu-shop"  # not the first channel in the list: the ops lead has to pick it
FIXED_ID, FIXED_NUMBER, BROKEN_ID = "987654321", "#DL-1", "987654322"


def add_letters(url: str) -> tuple[int, int, str]:
    """Two dead letters on CHANNEL, as the worker stores them; returns their ids and the broken one's reason.

    The first arrived without its lines; the channel has corrected that order since, so its raw
    payload now parses (the same step the core test takes). The second has a total that is not a
    number and still fails.
    """
    fixed = dict(RAW, id=int(FIXED_ID), name=FIXED_NUMBER)
    incomplete = {k: v for k, v in fixed.items() if k != "line_items"}
    broken = dict(RAW, id=int(BROKEN_ID), name="#DL-2", total_price="twelve")
    reasons = [parse_order(raw) for raw in (incomplete, broken)]
    assert all(isinstance(r, Rejection) for r in reasons) and not isinstance(parse_order(fixed), Rejection)
    with new_session(engine_for(url)) as db, writing(db):
        channel = db.scalar(select(Channel).where(Channel.code == CHANNEL))
        letters = [DeadLetter(channel_id=channel.id, connector=channel.code, external_id=ext, raw=json.dumps(raw),
                              error=reason.error, received_at=utcnow())
                   for ext, raw, reason in ((FIXED_ID, fixed, reasons[0]), (BROKEN_ID, broken, reasons[1]))]
        db.add_all(letters)
        db.flush()
        return letters[0].id, letters[1].id, reasons[1].error


def letter_label(external_id: str, error: str) -> str:
    return f"{external_id}: {error[:80]}"  # as the page names a dead letter in its select box


def test_ops_lead_replays_a_fixed_dead_letter_and_a_broken_one_stays(streamlit_server, browser_page, fresh_shop):
    fixed_letter, broken_letter, still_wrong = add_letters(fresh_shop.url)
    with new_session(engine_for(fresh_shop.url)) as db:
        fixed_reason = db.get(DeadLetter, fixed_letter).error
    page, base = browser_page, streamlit_server(fresh_shop.url)

    browser_sign_in(page, base, "ops_lead")
    page.get_by_role("heading", name="Exceptions & holds").wait_for()  # where an ops lead lands
    wait_idle(page)
    page.get_by_role("link", name="Connector health").click()
    page.get_by_role("heading", name="Connector health").wait_for()
    wait_idle(page)
    choose(page, "Channel", CHANNEL)
    page.get_by_role("heading", name="Dead letters (2)").wait_for()
    wait_idle(page)

    # The broken one: refused with the reason, and it stays.
    choose(page, "Dead letter", letter_label(BROKEN_ID, still_wrong))
    page.get_by_text('"total_price": "twelve"').wait_for()  # its raw payload, as the channel sent it
    page.get_by_role("button", name="Replay").click()
    page.get_by_text(f"Still rejected: {still_wrong}").wait_for()
    wait_idle(page)
    page.get_by_role("heading", name="Dead letters (2)").wait_for()

    # The fixed one: stored, and gone from the list.
    choose(page, "Dead letter", letter_label(FIXED_ID, fixed_reason))
    page.get_by_text('"line_items"').first.wait_for()  # the corrected payload has its lines now
    page.get_by_role("button", name="Replay").click()
    page.get_by_text(f"Dead letter {fixed_letter} replayed: order {FIXED_NUMBER} is stored.").wait_for()
    page.get_by_role("heading", name="Dead letters (1)").wait_for()
    wait_idle(page)
    grid = page.get_by_test_id("stDataFrame").filter(has=page.get_by_text("Why it was rejected"))
    grid.scroll_into_view_if_needed()
    cells = [t.strip() for t in grid.locator("[role=gridcell]").all_text_contents()]
    assert BROKEN_ID in cells and still_wrong in cells
    assert FIXED_ID not in cells and fixed_reason not in cells
    assert page.get_by_role("combobox", name="Dead letter").input_value() == letter_label(BROKEN_ID, still_wrong)
    page.screenshot(path=SCREENSHOT, full_page=True)

    # The order is on the desk now: Order lookup finds it, with its lines.
    page.get_by_role("link", name="Order lookup").click()
    search = page.get_by_label("Order number, channel order id, email, name, phone or tracking number")
    search.fill(FIXED_NUMBER)
    search.press("Enter")
    page.get_by_role("heading", name=f"Order {FIXED_NUMBER}").wait_for()
    # Its lines, in the order page's grid (canvas-drawn: its accessible cells are in the DOM, not visible).
    expect(page.locator("[role=gridcell]", has_text="Packable Rain Jacket").first).to_be_attached()

    with new_session(engine_for(fresh_shop.url)) as db:  # stored once, on its channel; the broken letter waits
        stored = db.scalar(select(func.count()).select_from(Order).join(Channel)
                           .where(Order.external_id == FIXED_ID, Channel.code == CHANNEL))
        assert stored == 1
        assert db.get(DeadLetter, fixed_letter).replayed_at is not None
        assert db.get(DeadLetter, broken_letter).replayed_at is None
        assert db.scalar(select(func.count()).select_from(Order).where(Order.external_id == BROKEN_ID)) == 0
