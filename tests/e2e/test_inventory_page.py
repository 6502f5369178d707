"""Stock through AppTest: the inventory grid and its drill-down, stock changes per role, CSV imports,
the stock integrity page, and the allocation on the order page."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from core.auth import Actor, add_user
from core.db import engine_for, new_session
from core.enums import AdjustmentReason, Role
from core.inventory import sku_ledger, stock_levels
from tests.e2e.conftest import (
    ALLOCATED,
    ALLOCATED_FROM,
    ALLOCATED_QTY,
    ALLOCATED_SKU,
    LOW_LEVELS,
    PASSWORDS,
    STOCK,
    Shop,
    app_for,
    order_id,
    sign_in,
)
from ui import format, nav

INVENTORY, ALERTS, LOOKUP = "pages/inventory.py", "pages/stock_alerts.py", "pages/lookup.py"
READ_ONLY = ["support", "manager", "clerk"]
STOCK_BUTTONS = ["Adjust", "Receive", "Count", "Import"]


def plain(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, at.exception
    return at


def open_as(monkeypatch, shop: Shop, role: str, page: str = INVENTORY) -> AppTest:
    at = sign_in(app_for(monkeypatch, shop.url), *PASSWORDS[role])
    at.switch_page(page)
    return run(at)


def grid(at: AppTest) -> pd.DataFrame:
    return at.dataframe[0].value


def level(at: AppTest, location: str, sku: str) -> pd.Series:
    rows = grid(at)
    return rows[(rows["Location"] == location) & (rows["SKU"] == sku)].iloc[0]


def pick(at: AppTest, location: str, sku: str) -> AppTest:
    """Tick the grid row of that level, as a person would."""
    keys = list(zip(grid(at)["Location"], grid(at)["SKU"], strict=True))
    at.session_state["inv_table"] = {"selection": {"rows": [keys.index((location, sku))], "columns": [],
                                                   "cells": []}}
    return run(at)


def button(at: AppTest, label: str):  # type: ignore[no-untyped-def]
    return next(b for b in at.button if b.label == label)


def widget(at: AppTest, label: str):  # type: ignore[no-untyped-def]
    return next(w for kind in (at.number_input, at.text_input, at.selectbox) for w in kind if w.label == label)


def press(at: AppTest, label: str, **values: object) -> AppTest:
    """Fill the fields named by label (underscores for spaces) and press the button."""
    for name, value in values.items():
        widget(at, name.replace("_", " ")).set_value(value)
    button(at, label).click()
    return run(at)


def said(at: AppTest) -> str:
    return plain("\n".join(str(e.value) for e in [*at.success, *at.warning, *at.error, *at.info]))


def showing(at: AppTest) -> str:
    return next(plain(c.value) for c in at.caption if c.value.startswith("Showing"))


def on_hand(shop: Shop, location: str, sku: str) -> int:
    with new_session(engine_for(shop.url)) as session:
        rows, _ = stock_levels(session, location_codes=[location], sku_search=sku)
    return int(rows.set_index("sku").loc[sku, "on_hand"])


# ---- the grid ---------------------------------------------------------------------------------------


def test_the_grid_shows_the_received_stock_paged_with_low_stock_flagged(monkeypatch, stock_shop):
    at = open_as(monkeypatch, stock_shop, "ops_lead")
    assert [t.value for t in at.title] == ["Inventory"]
    rows = grid(at)
    assert len(rows) == 50 and showing(at).startswith(f"Showing 1-50 of {len(STOCK)}")
    assert list(rows.columns) == ["Location", "SKU", "On hand", "Reserved", "Available", "Low at", "Stock"]
    tee = level(at, ALLOCATED_FROM, ALLOCATED_SKU)  # 40 received, 2 reserved for an order
    assert (tee["On hand"], tee["Reserved"], tee["Available"], tee["Stock"]) == (40, 2, 38, "")
    assert level(at, "NJ-WH", "TEE-BLK-M")["Stock"] == "Low"

    at.pagination[0].select(2).run()
    rows = grid(at)
    assert showing(at).startswith(f"Showing 51-{len(STOCK)} of {len(STOCK)}")
    assert list(rows.iloc[-1][["Location", "SKU", "On hand", "Stock"]]) == ["UK-3PL", "SOCK-GRN", 2, "Low"]


def test_filters_narrow_the_grid_by_location_sku_and_low_stock(monkeypatch, stock_shop):
    at = open_as(monkeypatch, stock_shop, "manager")
    next(w for w in at.text_input if w.label == "Search SKU").set_value("tee-blk").run()
    assert list(zip(grid(at)["Location"], grid(at)["On hand"], strict=True)) == [
        ("CA-WH", 40), ("EU-WH", 25), ("NJ-WH", 1)]
    at.multiselect[0].select("NJ-WH").select("EU-WH").run()
    assert list(grid(at)["Location"]) == ["EU-WH", "NJ-WH"]
    next(w for w in at.text_input if w.label == "Search SKU").set_value("").run()
    at.toggle[0].set_value(True).run()  # low stock only, at NJ-WH and EU-WH
    assert list(zip(grid(at)["Location"], grid(at)["SKU"], strict=True)) == [("NJ-WH", "CAP-RED"),
                                                                             ("NJ-WH", "TEE-BLK-M")]
    at.multiselect[0].set_value([]).run()
    assert list(zip(grid(at)["Location"], grid(at)["SKU"], strict=True)) == LOW_LEVELS
    assert set(grid(at)["Stock"]) == {"Low"} and showing(at).startswith("Showing 1-3 of 3")


# ---- who may change stock -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", READ_ONLY)
def test_read_only_roles_see_the_grid_but_every_stock_action_is_disabled(role, monkeypatch, stock_shop):
    at = open_as(monkeypatch, stock_shop, role)
    assert len(grid(at)) == 50
    assert all(button(at, label).disabled for label in STOCK_BUTTONS)
    assert f"Your role ({Role(role).label}) may read stock but not change it." in [c.value for c in at.caption]
    assert "stock-integrity" not in [s.key for s in nav.screens_for(Actor(name=role, role=Role(role)))]
    at.switch_page(ALERTS)  # and were the page started anyway, its guard stops it
    assert not run(at).title
    assert [e.value for e in at.error] == [f"Your role ({Role(role).label}) may not open this page."]


def test_the_server_refuses_a_change_from_a_role_that_lost_the_right_meanwhile(monkeypatch, fresh_stock_shop):
    at = pick(open_as(monkeypatch, fresh_stock_shop, "ops_lead"), "NJ-WH", "MUG-WHT")
    with new_session(engine_for(fresh_stock_shop.url)) as session, session.begin():
        session.execute(text("UPDATE users SET role = 'support' WHERE username = 'ops'"))
    press(at, "Adjust", **{"Change (+/-)": -5})  # the button was enabled when the page was drawn
    assert "ops (Support) may not adjust stock." in said(at)
    assert on_hand(fresh_stock_shop, "NJ-WH", "MUG-WHT") == 120


def test_an_ops_lead_adjustment_changes_the_grid_and_the_ledger(monkeypatch, fresh_stock_shop):
    at = pick(open_as(monkeypatch, fresh_stock_shop, "ops_lead"), "NJ-WH", "TEE-BLK-M")
    assert widget(at, "Location").value == "NJ-WH" and widget(at, "SKU").value == "TEE-BLK-M"
    assert {m.label: m.value for m in at.metric}["On hand"] == "1"
    press(at, "Adjust", **{"Change (+/-)": 5, "Reason": AdjustmentReason.FOUND, "Note": "behind the shelf"})
    assert ("Adjustment booked: TEE-BLK-M at NJ-WH has 6 on hand (was 1, +5); 6 available."
            in said(at))
    assert level(at, "NJ-WH", "TEE-BLK-M")["On hand"] == 6 and level(at, "NJ-WH", "TEE-BLK-M")["Stock"] == ""
    assert {m.label: m.value for m in at.metric}["On hand"] == "6"  # the drill-down follows
    ledger = at.dataframe[1].value
    assert list(ledger.columns) == ["When (UTC)", "Location", "Kind", "On hand change", "Reserved change",
                                    "Reason", "Reference", "Order", "Who"]
    assert list(ledger.iloc[0][["Kind", "On hand change", "Reason", "Who"]]) == ["Adjustment", "+5",
                                                                          "found: behind the shelf", "ops"]
    assert list(ledger["Kind"]) == ["Adjustment", "Receipt"] and widget(at, "Change (+/-)").value == 0


def test_stock_promised_to_orders_cannot_be_adjusted_away(monkeypatch, fresh_stock_shop):
    at = pick(open_as(monkeypatch, fresh_stock_shop, "admin"), ALLOCATED_FROM, ALLOCATED_SKU)
    press(at, "Adjust", **{"Change (+/-)": -40, "Reason": AdjustmentReason.LOST})
    assert (f"{ALLOCATED_SKU} at {ALLOCATED_FROM}: 2 are reserved for orders, so on hand cannot go to 0 (now 40). "
            "Release or re-route those orders first.") in said(at) and at.error
    assert on_hand(fresh_stock_shop, ALLOCATED_FROM, ALLOCATED_SKU) == 40


def test_the_drill_down_lists_the_orders_holding_a_sku_and_opens_one(monkeypatch, stock_shop):
    at = pick(open_as(monkeypatch, stock_shop, "support"), "NJ-WH", ALLOCATED_SKU)
    held = at.dataframe[2].value  # every location's reservations of the SKU, not only NJ-WH's
    link = f"lookup?order={order_id(stock_shop, ALLOCATED)}&number=%231001"  # the cell shows "#1001"
    assert list(held.iloc[0][["Order", "Location", "Qty", "Order status"]]) == [
        link, ALLOCATED_FROM, ALLOCATED_QTY, "Allocated"]
    at.session_state[f"inv_res:NJ-WH:{ALLOCATED_SKU}"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    run(at)  # selecting the row opens the order in this tab
    assert [t.value for t in at.title] == ["Order lookup"]
    assert at.query_params["order"] == str(order_id(stock_shop, ALLOCATED))


def test_ledger_times_are_in_the_users_zone(monkeypatch, fresh_stock_shop):
    with new_session(engine_for(fresh_stock_shop.url)) as session:
        add_user(session, "berlin", "berlin-pass-1", Role.OPS_LEAD, timezone="Europe/Berlin")
        received = sku_ledger(session, "MUG-WHT", "CA-WH")["at"].iloc[0]
    at = sign_in(app_for(monkeypatch, fresh_stock_shop.url), "berlin", "berlin-pass-1")
    at = pick(run(at.switch_page(INVENTORY)), "CA-WH", "MUG-WHT")
    ledger = at.dataframe[1].value
    assert ledger["When (Europe/Berlin)"].iloc[0] == format.local_time(received, "Europe/Berlin")
    assert "Newest first; times in Europe/Berlin." in [c.value for c in at.caption]


# ---- CSV import -------------------------------------------------------------------------------------------


def upload(at: AppTest, content: str, mode: str = "receipt") -> AppTest:
    at.radio[0].set_value(mode)
    at.file_uploader[0].set_value(("stock.csv", content.encode(), "text/csv"))
    run(at)
    button(at, "Import").click()
    return run(at)


def test_a_csv_with_bad_rows_lists_every_problem_and_imports_nothing(monkeypatch, fresh_stock_shop):
    at = open_as(monkeypatch, fresh_stock_shop, "ops_lead")
    upload(at, "location,sku,quantity\nNJ-WH,MUG-WHT,10\nXX-WH,MUG-WHT,5\nCA-WH,,two\n")
    assert "2 rows have problems; nothing was imported." in said(at)
    problems = at.dataframe[-1].value
    assert list(problems.columns) == ["Row", "Column", "Reason"]
    assert problems.values.tolist() == [[3, "location", "unknown location 'XX-WH'"], [4, "sku", "SKU is empty"],
                                        [4, "quantity", "quantity 'two' is not a whole number"]]
    assert on_hand(fresh_stock_shop, "NJ-WH", "MUG-WHT") == 120


def test_a_good_csv_receipt_raises_on_hand(monkeypatch, fresh_stock_shop):
    at = open_as(monkeypatch, fresh_stock_shop, "ops_lead")
    upload(at, "Location,SKU,Quantity,Reference\nNJ-WH,MUG-WHT,30,PO-9\nNJ-WH,TEE-BLK-M,4,PO-9\n")
    assert "Imported 2 rows of receipts: 34 units added to on hand at 2 SKU/location pairs." in said(at)
    assert on_hand(fresh_stock_shop, "NJ-WH", "MUG-WHT") == 150
    assert level(at, "NJ-WH", "MUG-WHT")["On hand"] == 150 and level(at, "NJ-WH", "TEE-BLK-M")["On hand"] == 5
    assert button(at, "Import").disabled  # a fresh uploader: the same file is not imported twice by accident


# ---- stock integrity ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["ops_lead", "admin"])
def test_a_check_on_clean_stock_finds_nothing(role, monkeypatch, stock_shop):
    at = open_as(monkeypatch, stock_shop, role, ALERTS)
    button(at, "Check now").click()
    run(at)
    assert "every stock invariant holds." in said(at) and not at.error
    assert not at.dataframe and "No open stock alerts." in [c.value for c in at.caption]
    assert [s.value for s in at.subheader] == ["Open alerts (0)"]


def test_a_corrupted_level_is_reported_naming_the_sku_and_location_and_stays_open(monkeypatch, fresh_stock_shop):
    with new_session(engine_for(fresh_stock_shop.url)) as session, session.begin():
        session.execute(text("UPDATE inventory_levels SET on_hand = on_hand + 7 WHERE sku = 'MUG-WHT' AND "
                             "location_id = (SELECT id FROM locations WHERE code = 'CA-WH')"))
    at = open_as(monkeypatch, fresh_stock_shop, "admin", ALERTS)
    button(at, "Check now").click()
    run(at)
    assert "1 problem found" in said(at)
    assert "MUG-WHT at CA-WH: on hand differs from the sum of the ledger (stored 15, expected 8)." in said(at)
    alerts = at.dataframe[0].value
    assert list(alerts.iloc[0][["Location", "SKU", "Problem", "Stored", "Expected"]]) == [
        "CA-WH", "MUG-WHT", "on hand differs from the sum of the ledger", 15, 8]
    assert on_hand(fresh_stock_shop, "CA-WH", "MUG-WHT") == 15  # reported, never repaired
    at = open_as(monkeypatch, fresh_stock_shop, "ops_lead", ALERTS)  # still open for the next person
    assert [s.value for s in at.subheader] == ["Open alerts (1)"]
    at.text_input[0].set_value("counted again")
    button(at, "Mark resolved").click()
    run(at)
    assert "Still broken: MUG-WHT at CA-WH" in plain(at.error[0].value)  # refused while the books disagree
    with new_session(engine_for(fresh_stock_shop.url)) as session, session.begin():
        session.execute(text("UPDATE inventory_levels SET on_hand = on_hand - 7 WHERE sku = 'MUG-WHT' AND "
                             "location_id = (SELECT id FROM locations WHERE code = 'CA-WH')"))
    at.text_input[0].set_value("a manual database edit, reverted")
    button(at, "Mark resolved").click()
    run(at)
    assert not at.error and [s.value for s in at.subheader] == ["Open alerts (0)"]


# ---- the order page --------------------------------------------------------------------------------------


def test_the_lookup_shows_where_an_order_is_allocated_and_why(monkeypatch, stock_shop):
    at = sign_in(app_for(monkeypatch, stock_shop.url), *PASSWORDS["support"])
    at.query_params["order"] = str(order_id(stock_shop, ALLOCATED))
    at.switch_page(LOOKUP)
    run(at)
    shown = plain("\n".join(m.value for m in [*at.markdown, *at.caption]))
    assert (f"{ALLOCATED_FROM} fills the whole order: same country, priority 20; NJ-WH ranked higher but cannot "
            "fill it.") in shown
    allocations = at.dataframe[1].value
    assert list(allocations.iloc[0][["Location", "SKU", "Qty", "Status"]]) == [
        ALLOCATED_FROM, ALLOCATED_SKU, ALLOCATED_QTY, "Reserved"]
    candidates = at.dataframe[2].value
    assert list(candidates.columns) == ["Rank", "Location", "Proximity", "Priority", f"{ALLOCATED_SKU} available",
                                        "Fills whole order", "Chosen"]
    assert candidates.values.tolist() == [[1, "NJ-WH", "same country", 10, 1, False, False],
                                          [2, "CA-WH", "same country", 20, 40, True, True]]
    assert "Planned for 2 × TEE-BLK-M; not candidates: EU-WH (does not ship there)" in shown
