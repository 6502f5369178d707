"""Hostile text in Debian's Chromium: an order whose customer, address and notes carry HTML, script and markdown
is read through the Shopify connector and ingest (the path the sandbox feeds), then shown on the queue, the
holds, the lookup and the order page as plain text: no script runs, no dialog opens, no markup is built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.schemas import Page
from connectors.shopify import parse_order
from core import holds
from core.auth import actor_for
from core.db import engine_for, new_session
from core.ingest import apply_page
from core.models import User
from core.order_detail import resolve_order
from tests.e2e.conftest import PASSWORDS, ROOT, browser_sign_in, wait_idle
from tests.factories import make_channel

pytestmark = pytest.mark.browser
RAW = ROOT / "tests" / "fixtures" / "shopify" / "paid_unfulfilled_multiline.json"
SEARCH = "Order number, channel order id, email, name, phone or tracking number"

# Each payload would set window.__xss (or open a dialog, or build an element with id "injected") if rendered.
FIRST = "Eve<img src=x onerror=\"window.__xss='img';alert('img')\">"
LAST = "<b id=\"injected\">Mallory</b>"
STREET = "<svg onload=\"window.__xss='svg'\"></svg>1 Elm St"
COMPANY = "[click me](javascript:window.__xss='md') ![p](http://127.0.0.1:9/p.png)"
CHANNEL_NOTE = "<script>window.__xss='script';alert('script')</script> leave at door"
DESK_NOTE = "<iframe id=\"injected\" src=\"javascript:window.parent.__xss='iframe'\"></iframe> called back"
HOLD_NOTE = "<a id=\"injected\" href=\"javascript:window.__xss='a'\">release me</a>"
NUMBER = "#6660"


def plant(url: str) -> int:
    """The hostile order, read from a Shopify payload by the connector and stored by ingest; plus desk notes."""
    raw = json.loads(RAW.read_text(encoding="utf-8"))
    raw.update(id=6_660_000_000_001, name=NUMBER, order_number=6660, email="eve.hostile@example.com",
               note=CHANNEL_NOTE)
    raw["customer"].update(first_name=FIRST, last_name=LAST, email="eve.hostile@example.com")
    for key in ("shipping_address", "billing_address"):
        raw[key].update(first_name=FIRST, last_name=LAST, name=f"{FIRST} {LAST}", address1=STREET, company=COMPANY)
    parsed = parse_order(raw)
    assert parsed.__class__.__name__ == "ChannelOrder", parsed  # hostile text is still an order, kept as text
    with new_session(engine_for(url)) as session:
        apply_page(session, make_channel(session, "test-shop"), Page(records=(parsed,)))
        order_id = resolve_order(session, NUMBER)
        support = actor_for(session.scalar(select(User).where(User.username == PASSWORDS["support"][0])))
        holds.add_note(session, order_id, actor=support, note=DESK_NOTE)
        holds.place_manual_hold(session, order_id, order_version=None, actor=support, note=HOLD_NOTE)
    return order_id


def assert_inert(page, dialogs: list[str], where: str) -> None:  # type: ignore[no-untyped-def]
    """Nothing the payloads carry ran or was built on the page as it stands."""
    wait_idle(page)
    page.wait_for_timeout(300)  # an onerror/onload would have fired by now
    assert page.evaluate("window.__xss") is None, where
    assert dialogs == [], where
    built = page.evaluate("""() => ({
        injected: document.querySelectorAll('#injected').length,
        handlers: document.querySelectorAll('[data-testid="stMain"] [onerror], [data-testid="stMain"] [onload]').length,
        scripts: [...document.querySelectorAll('[data-testid="stMain"] script')].length,
        js_links: document.querySelectorAll('a[href^="javascript"]').length,
        frames: document.querySelectorAll('[data-testid="stMain"] iframe').length,
        images: [...document.querySelectorAll('[data-testid="stMain"] img')].filter(i => !i.src.startsWith('data:')).length,
    })""")
    assert built == {"injected": 0, "handlers": 0, "scripts": 0, "js_links": 0, "frames": 0, "images": 0}, (where,
                                                                                                              built)


def test_hostile_customer_text_is_shown_as_text_on_every_page(streamlit_server, browser_page, fresh_shop):
    order_id = plant(fresh_shop.url)
    page, base = browser_page, streamlit_server(fresh_shop.url)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    browser_sign_in(page, base, "ops_lead")
    page.get_by_role("heading", name="Exceptions & holds").wait_for()
    assert_inert(page, dialogs, "holds")

    page.get_by_role("link", name="Order queue").click()
    page.get_by_role("heading", name="Order queue").wait_for()
    assert_inert(page, dialogs, "queue")

    page.get_by_role("link", name="Order lookup").click()
    page.get_by_label(SEARCH).fill("eve.hostile@example.com")
    page.get_by_label(SEARCH).press("Enter")
    page.get_by_role("heading", name=f"Order {NUMBER}").wait_for()  # one match: the order page opens
    assert page.url.endswith(f"/lookup?order={order_id}")
    page.get_by_text("Timeline").first.wait_for()
    assert_inert(page, dialogs, "lookup and order page")
    # ...and the words are there, as typed: people can read what the customer sent.
    main = page.get_by_test_id("stMain")
    text = main.inner_text()
    for shown in ('<b id="injected">Mallory</b>', "<svg onload=", "<script>window.__xss='script'",
                  "[click me](javascript:", '<iframe id="injected"', '<a id="injected" href="javascript:'):
        assert shown in text, shown
    Path("/tmp/opsdesk-hostile.png").write_bytes(page.screenshot(full_page=True))
