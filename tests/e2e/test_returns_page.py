"""The returns page through AppTest: the queue, finding an RMA, receiving and inspecting it, roles and stale forms."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.auth import actor_for
from core.db import engine_for, new_session
from core.enums import Grade, ReturnReason, ReturnStatus
from core.models import User
from core.order_detail import order_detail, resolve_order
from core.return_reads import returnable_lines
from core.returns import LineRequest, authorise_return, mark_in_transit
from tests.e2e.conftest import PASSWORDS, Shop, app_for, copy_shop, sign_in
from tests.e2e.test_app_pages import plain

RETURNS = "pages/returns.py"
ORDER, SKU, WHERE, TRACKING = "#1004", "TEE-BLK-M", "NJ-WH", "1Z999AA10123456784"  # fill_shop ships #1004


def authorised_rma(url: str) -> tuple[int, str]:
    """Support authorises both shipped units of #1004 (defective); the RMA's id and number."""
    with new_session(engine_for(url)) as session:
        support = actor_for(session.scalar(select(User).where(User.username == PASSWORDS["support"][0])))
        order_id = resolve_order(session, ORDER)
        line = int(returnable_lines(session, order_id)[1]["order_line_id"].iloc[0])
        rma = authorise_return(session, order_id, [LineRequest(line, 2, "defective")], actor=support,
                               note="zip broken")
        return rma.id, rma.number


@pytest.fixture
def returns_shop(stock_template: Shop, tmp_path: Path) -> Shop:
    shop = copy_shop(stock_template, tmp_path)
    authorised_rma(shop.url)
    return shop


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, at.exception
    return at


def open_as(monkeypatch, shop: Shop, role: str) -> AppTest:
    at = sign_in(app_for(monkeypatch, shop.url), *PASSWORDS[role])
    at.switch_page(RETURNS)
    return run(at)


def said(at: AppTest) -> str:
    return plain("\n".join(str(e.value) for e in [*at.success, *at.error, *at.warning, *at.info]))


def button(at: AppTest, label: str):  # type: ignore[no-untyped-def]
    return next(b for b in at.button if b.label == label)


def field(at: AppTest, label: str):  # type: ignore[no-untyped-def]
    return next(w for kind in (at.number_input, at.text_input, at.selectbox) for w in kind if w.label == label)


def on_hand(shop: Shop, sku: str = SKU, where: str = WHERE) -> int:
    from core.inventory import stock_levels

    with new_session(engine_for(shop.url)) as session:
        rows, _ = stock_levels(session, location_codes=[where], sku_search=sku)
    return int(rows.set_index("sku").loc[sku, "on_hand"]) if sku in set(rows["sku"]) else 0


def test_the_clerk_lands_on_the_queue_finds_the_rma_by_tracking_number_receives_and_grades_it(monkeypatch,
                                                                                              returns_shop):
    at = sign_in(app_for(monkeypatch, returns_shop.url), *PASSWORDS["clerk"])
    assert [t.value for t in at.title] == ["Returns"]
    queue = at.dataframe[0].value
    assert queue[["RMA", "Order", "Status", "Location", "Units"]].values.tolist() == \
        [["RMA-1004-1", ORDER, "Requested", WHERE, 2]]
    before = on_hand(returns_shop)

    at.text_input(key="ret_found").set_value(TRACKING)  # the customer's original parcel number
    run(at)
    assert any(s.value == "RMA-1004-1 - Requested" for s in at.subheader)
    field(at, f"{SKU} (authorised 2)").set_value(3)
    button(at, "Receive").click()
    run(at)
    assert f"{SKU}: 3 received but only 2 authorised" in said(at)
    assert field(at, f"{SKU} (authorised 2)").value == 3  # the input is still there to correct

    field(at, f"{SKU} (authorised 2)").set_value(2)
    button(at, "Receive").click()
    run(at)
    assert "RMA-1004-1 received: 2 units" in said(at)
    assert any(s.value == "RMA-1004-1 - Received" for s in at.subheader)

    field(at, f"Notes {SKU}").set_value("still sealed")
    button(at, "Save inspection").click()  # no grade chosen yet: refused, the notes stay
    run(at)
    assert "Choose a grade for every line" in said(at) and field(at, f"Notes {SKU}").value == "still sealed"
    field(at, f"Grade {SKU}").set_value(Grade.A)
    button(at, "Save inspection").click()
    run(at)
    assert "RMA-1004-1 inspected: closed." in said(at)
    assert on_hand(returns_shop) == before + 2
    lines = at.dataframe[1].value
    assert lines[["Grade", "Disposition", "Refund decided", "Decided by"]].values.tolist() == \
        [["A - resellable", "Restock", "48.00 USD", "clerk"]]
    with new_session(engine_for(returns_shop.url)) as session:
        story = [e["text"] for e in order_detail(session, resolve_order(session, ORDER)).events]
    assert f"Stock of {SKU} at {WHERE} restocked: {before} -> {before + 2}." in story


def test_a_form_the_rma_moved_under_is_refused_as_changed_by_someone_else(monkeypatch, returns_shop):
    at = open_as(monkeypatch, returns_shop, "clerk")
    at.text_input(key="ret_found").set_value("RMA-1004-1")
    run(at)
    with new_session(engine_for(returns_shop.url)) as session:  # support records the return parcel meanwhile
        support = actor_for(session.scalar(select(User).where(User.username == PASSWORDS["support"][0])))
        mark_in_transit(session, at.session_state["ret_picked"], version=1, tracking_number="RET-9", actor=support)
    button(at, "Receive").click()
    run(at)
    assert "RMA RMA-1004-1 was changed by someone else - reload and try again." in said(at)
    button(at, "Receive").click()  # the screen now shows the new version: it goes through
    run(at)
    assert "RMA-1004-1 received: 2 units" in said(at)


def test_support_authorises_a_return_and_the_manager_only_reads(monkeypatch, stock_template, tmp_path):
    shop = copy_shop(stock_template, tmp_path)
    at = open_as(monkeypatch, shop, "support")
    at.text_input(key="ret_auth_order").set_value(ORDER)
    run(at)
    field(at, f"{SKU} - 2 returnable").set_value(1)
    field(at, f"Reason ({SKU})").set_value(ReturnReason.SIZE_OR_FIT)
    field(at, "Note").set_value("too small")
    button(at, "Authorise").click()
    run(at)
    assert "RMA-1004-1 authorised: requested." in said(at)
    assert at.dataframe[0].value["RMA"].tolist() == ["RMA-1004-1"]
    assert button(at, "Receive").disabled  # support authorises; the clerk receives

    manager = open_as(monkeypatch, shop, "manager")
    assert manager.dataframe[0].value["Status"].tolist() == ["Requested"]
    assert not [e for e in manager.expander if "Authorise" in e.label]


def test_filters_narrow_the_queue_by_status(monkeypatch, returns_shop):
    at = open_as(monkeypatch, returns_shop, "ops_lead")
    at.multiselect[0].set_value([ReturnStatus.RECEIVED])
    run(at)
    assert at.dataframe[0].value.empty and "No returns match these filters." in said(at)
    at.multiselect[0].set_value([ReturnStatus.REQUESTED])
    run(at)
    assert at.dataframe[0].value["RMA"].tolist() == ["RMA-1004-1"]


def test_the_ops_lead_decides_the_refund_of_a_damaged_unit_and_the_order_page_shows_the_rma(monkeypatch,
                                                                                            returns_shop):
    at = open_as(monkeypatch, returns_shop, "clerk")
    at.text_input(key="ret_found").set_value("RMA-1004-1")
    run(at)
    button(at, "Receive").click()
    run(at)
    field(at, f"Grade {SKU}").set_value(Grade.C)
    button(at, "Save inspection").click()
    run(at)
    assert "RMA-1004-1 inspected: inspected." in said(at)
    assert not [b for b in at.button if b.label == "Record refund"]  # the clerk does not decide refunds

    ops = open_as(monkeypatch, returns_shop, "ops_lead")
    ops.text_input(key="ret_found").set_value("RMA-1004-1")
    run(ops)
    assert f"Refund to decide for {SKU} (grade C or D)." in said(ops)
    field(ops, "Refund amount").set_value(30.0)
    field(ops, "Why").set_value("scratched, customer keeps goodwill")
    button(ops, "Record refund").click()
    run(ops)
    assert "Refund recorded: 30.00" in said(ops)
    assert any(s.value == "RMA-1004-1 - Closed" for s in ops.subheader)
    assert ops.dataframe[1].value[["Refund decided", "Decided by"]].values.tolist() == [["30.00 USD", "ops"]]

    ops.switch_page("pages/lookup.py")
    ops.query_params["order"] = str(resolve_order_id(returns_shop.url))
    run(ops)
    rmas = next(d.value for d in ops.dataframe if "RMA" in d.value.columns)
    assert rmas[["RMA", "Status", "Units"]].values.tolist() == [["RMA-1004-1", "Closed", 2]]
    assert any("refund for TEE-BLK-M set to 30.00" in plain(m.value) for m in ops.markdown)


def resolve_order_id(url: str) -> int:
    with new_session(engine_for(url)) as session:
        return resolve_order(session, ORDER)


def test_support_records_the_return_parcel_and_the_admin_changes_the_returns_settings(monkeypatch, returns_shop):
    at = open_as(monkeypatch, returns_shop, "support")
    at.text_input(key="ret_found").set_value("RMA-1004-1")
    run(at)
    field(at, "Return tracking number").set_value("RET-123")
    button(at, "Mark in transit").click()
    run(at)
    assert "Marked in transit." in said(at) and any(s.value == "RMA-1004-1 - In transit" for s in at.subheader)

    admin = open_as(monkeypatch, returns_shop, "admin")
    admin.number_input(key="ret_set_fee").set_value(20.0)
    admin.multiselect(key="ret_set_reasons").set_value([ReturnReason.DAMAGED, ReturnReason.CHANGED_MIND])
    button(admin, "Save settings").click()
    run(admin)
    assert "Returns settings saved." in said(admin)
    with new_session(engine_for(returns_shop.url)) as session:
        from core.returns import return_settings

        saved = return_settings(session)
    assert (saved.restocking_fee_pct, saved.reasons) == (20, (ReturnReason.DAMAGED, ReturnReason.CHANGED_MIND))
