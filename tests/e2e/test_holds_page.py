"""The exception & hold queue through AppTest: who sees what, who may do what, and what each action does."""

from __future__ import annotations

import re
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import select, update
from streamlit.testing.v1 import AppTest

from connectors.schemas import Address
from core import holds
from core.auth import Actor, actor_for
from core.db import engine_for, new_session
from core.enums import ROLE_PERMISSIONS, HoldCode, OrderStatus, Permission, Role
from core.holds_queue import open_counts_by_code
from core.models import Event, Hold, Order, User
from core.order_detail import order_detail
from tests.e2e.conftest import (
    ADDRESS,
    AT_RISK,
    EU_HIGH_VALUE,
    FRAUD,
    HELD_COUNTS,
    HIGH_VALUE,
    HIGH_VALUE_2,
    OUT_OF_ZONE,
    PASSWORDS,
    PAYMENT,
    Shop,
    app_for,
    order_id,
    sign_in,
)
from tests.factories import ingest, make_channel, order_record
from ui import nav

HOLDS = "pages/holds.py"
ROLES = [role.value for role in Role]
# Every action on the page and the permission the server checks for it.
ACTIONS = {"Release": Permission.RELEASE_HOLD, "Assign": Permission.ASSIGN_HOLD, "Fix address": Permission.EDIT_ORDER,
           "Put on hold": Permission.PLACE_MANUAL_HOLD, "Add note": Permission.ADD_NOTE,
           "Cancel order": Permission.CANCEL_ORDER}


def plain(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


def open_holds(monkeypatch, shop: Shop, role: str) -> AppTest:
    at = sign_in(app_for(monkeypatch, shop.url), *PASSWORDS[role])
    at.switch_page(HOLDS).run()
    assert not at.exception, at.exception
    return at


def rows(at: AppTest) -> pd.DataFrame:
    return at.dataframe[0].value


def numbers(at: AppTest) -> list[str]:
    return list(rows(at)["Order"])


def tick(at: AppTest, *wanted: str) -> AppTest:
    """Tick the rows of these orders, as a person would in the grid."""
    shown = numbers(at)
    at.session_state["holds_table"] = {"selection": {"rows": [shown.index(n) for n in wanted], "columns": [],
                                                     "cells": []}}
    return run(at)


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, at.exception
    return at


def button(at: AppTest, label: str):  # type: ignore[no-untyped-def]
    return next(b for b in at.button if b.label == label)


def field(at: AppTest, label: str):  # type: ignore[no-untyped-def]
    return next(w for w in at.text_input if w.label == label)


def press(at: AppTest, label: str, **texts: str) -> AppTest:
    """Fill the fields named by label (underscores for spaces) and press the button."""
    for name, value in texts.items():
        field(at, name.replace("_", " ")).set_value(value)
    button(at, label).click()
    return run(at)


def choose(at: AppTest, label: str, value: object) -> AppTest:
    """Pick the option of a select box that stands for ``value``."""
    next(s for s in at.selectbox if s.label == label).set_value(value)
    return at


def user_id(shop: Shop, role: str) -> int:
    with new_session(engine_for(shop.url)) as session:
        return session.scalar(select(User.id).where(User.username == PASSWORDS[role][0]))


def said(at: AppTest) -> str:
    return plain("\n".join(str(e.value) for e in [*at.success, *at.warning, *at.error, *at.info]))


def counts(at: AppTest) -> dict[str, int]:
    return {m.label: int(m.value.replace(",", "")) for m in at.metric}


def showing(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith("Showing"))


def hold_of(shop: Shop, number: str) -> Hold:
    with new_session(engine_for(shop.url)) as session:
        return session.scalar(select(Hold).join(Order).where(Order.number == number))


def status_of(shop: Shop, number: str) -> OrderStatus:
    with new_session(engine_for(shop.url)) as session:
        return session.scalar(select(Order.status).where(Order.number == number))


def events_of(shop: Shop, number: str) -> list[str]:
    with new_session(engine_for(shop.url)) as session:
        return list(session.scalars(select(Event.kind).join(Order, Order.id == Event.order_id)
                                    .where(Order.number == number).order_by(Event.id)))


# ---- who sees what, who may do what ---------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_the_holds_and_may_press_only_what_its_role_permits(role, monkeypatch, held_shop):
    assert "holds" in [s.key for s in nav.screens_for(Actor(name=role, role=Role(role)))]
    at = open_holds(monkeypatch, held_shop, role)  # registered for the role, or switch_page would fail
    assert [t.value for t in at.title] == ["Exceptions & holds"]
    assert len(rows(at)) == sum(HELD_COUNTS.values())
    assert {"Release", "Assign"} <= {b.label for b in at.button}

    tick(at, HIGH_VALUE)  # one order: its own actions appear under the table
    allowed = ROLE_PERMISSIONS[Role(role)]
    assert {label: not button(at, label).disabled for label in ACTIONS} == \
        {label: permission in allowed for label, permission in ACTIONS.items()}
    if role in ("manager", "clerk"):
        assert all(button(at, label).disabled for label in ACTIONS)  # read only


def test_the_server_checks_the_role_at_the_click_not_the_button_shown(monkeypatch, fresh_held_shop):
    at = tick(open_holds(monkeypatch, fresh_held_shop, "ops_lead"), HIGH_VALUE)
    assert not button(at, "Release").disabled
    with new_session(engine_for(fresh_held_shop.url)) as session, session.begin():  # demoted meanwhile
        session.execute(update(User).where(User.username == PASSWORDS["ops_lead"][0]).values(role=Role.SUPPORT))
    press(at, "Release", Note="let it go")
    assert "ops (Support) may not release hold." in said(at)
    assert hold_of(fresh_held_shop, HIGH_VALUE).state.value == "open"
    assert button(at, "Release").disabled  # and the page now shows what the new role may do


# ---- what the page shows ------------------------------------------------------------------------


def test_counts_per_code_match_the_open_items_and_the_code_filter(monkeypatch, held_shop):
    at = open_holds(monkeypatch, held_shop, "manager")
    shown = counts(at)
    assert shown == {"All open": sum(HELD_COUNTS.values()), **{c.label: n for c, n in HELD_COUNTS.items()}}
    with new_session(engine_for(held_shop.url)) as session:
        assert {c.label: n for c, n in open_counts_by_code(session).items()} == \
            {k: v for k, v in shown.items() if k != "All open"}
    for code in (HoldCode.HIGH_VALUE, HoldCode.SLA_AT_RISK):
        at.multiselect[0].set_value([code]).run()
        assert showing(at).startswith(f"Showing 1-{HELD_COUNTS[code]} of {HELD_COUNTS[code]}")
        assert set(rows(at)["Hold"]) == {code.label}
    assert sorted(numbers(at.multiselect[0].set_value([HoldCode.HIGH_VALUE]).run())) == \
        sorted([HIGH_VALUE, HIGH_VALUE_2, EU_HIGH_VALUE])


def test_filters_by_assignee_age_blocking_and_channel_change_the_rows(monkeypatch, held_shop):
    at = open_holds(monkeypatch, held_shop, "ops_lead")
    table = rows(at).set_index("Order")
    assert table.loc[FRAUD, "Assignee"] == "ops" and table.loc[FRAUD, "Age"].startswith("5 h")
    assert table.loc[HIGH_VALUE, "Total"] == "6,000.00 USD" and not table.loc[AT_RISK, "Blocks"]
    assert {"Ship by (UTC)", "Opened (UTC)", "Time left", "Age"} <= set(table.columns)
    assert numbers(at)[-1] == AT_RISK  # blocking items first

    assert numbers(run(choose(at, "Assignee", "me"))) == [FRAUD]
    assert FRAUD not in numbers(run(choose(at, "Assignee", "nobody"))) and len(rows(at)) == 7
    assert numbers(run(choose(at, "Assignee", user_id(held_shop, "ops_lead")))) == [FRAUD]
    assert numbers(run(choose(at, "Assignee", user_id(held_shop, "admin")))) == []
    run(choose(at, "Assignee", "anyone"))

    older = next(s for s in at.selectbox if s.label == "Older than")
    assert numbers(older.set_value(4).run()) == [FRAUD]
    assert numbers(older.set_value(24).run()) == [] and "Showing 0 of 0" in showing(at)
    older.set_value(None).run()

    at.toggle[0].set_value(True).run()
    assert AT_RISK not in numbers(at) and len(rows(at)) == 7
    at.toggle[0].set_value(False).run()
    assert numbers(at.multiselect[1].set_value(["eu-shop"]).run()) == [EU_HIGH_VALUE]


def test_channel_text_is_shown_as_text(monkeypatch, fresh_held_shop):
    with new_session(engine_for(fresh_held_shop.url)) as session:
        evil = Address(name="Eve [click](http://evil.example) $x^2$ <b>hi</b>", address1="1 Main St",
                       city="Austin", region="TX", postal_code="78701", country_code="US")
        ingest(session, make_channel(session, "test-shop"), [order_record(150, total=Decimal("6000"), ship_to=evil)])
    at = tick(open_holds(monkeypatch, fresh_held_shop, "support"), "#1151")
    summary = next(m.value for m in at.markdown if "Order" in m.value)
    assert "Eve \\[click\\]\\(http\\:" in summary
    assert not re.search(r"(?<!\\)\]\(", summary) and not re.search(r"(?<!\\)[$<]", summary)
    assert "Eve [click](http://evil.example) $x^2$ <b>hi</b>" in plain(summary)


# ---- what the actions do --------------------------------------------------------------------------


def test_ops_lead_releases_the_selected_holds_and_the_orders_leave_the_queue(monkeypatch, fresh_held_shop):
    at = tick(open_holds(monkeypatch, fresh_held_shop, "ops_lead"), HIGH_VALUE, HIGH_VALUE_2)
    assert [s.value for s in at.subheader][0] == "2 selected"

    press(at, "Release")  # without saying why
    assert "Please give a note saying why." in said(at)
    assert status_of(fresh_held_shop, HIGH_VALUE) is OrderStatus.ON_HOLD

    at = tick(at, HIGH_VALUE, HIGH_VALUE_2)
    press(at, "Release", Note="Known customer, paid by wire")
    assert f"Released 2 holds on {HIGH_VALUE}, {HIGH_VALUE_2}." in said(at)
    assert HIGH_VALUE not in numbers(at) and HIGH_VALUE_2 not in numbers(at)
    assert counts(at)["High value"] == 1 and counts(at)["All open"] == sum(HELD_COUNTS.values()) - 2
    assert at.session_state["holds_table"]["selection"]["rows"] == [] and field(at, "Note").value == ""
    assert status_of(fresh_held_shop, HIGH_VALUE) is OrderStatus.READY
    assert events_of(fresh_held_shop, HIGH_VALUE)[-2:] == ["hold_released", "status_changed"]


def test_a_release_of_a_hold_changed_meanwhile_is_refused_with_the_core_message(monkeypatch, fresh_held_shop):
    at = open_holds(monkeypatch, fresh_held_shop, "ops_lead")
    # Someone else takes the hold after this page loaded (its version moves on; it stays open).
    with new_session(engine_for(fresh_held_shop.url)) as session:
        admin = actor_for(session.scalar(select(User).where(User.username == PASSWORDS["admin"][0])))
        hold = session.scalar(select(Hold).join(Order).where(Order.number == HIGH_VALUE))
        holds.assign(session, [holds.HoldRef(hold.id, hold.version)], assignee_id=admin.user_id, actor=admin)

    shown = numbers(at)  # the table as it was on screen: the user ticks the row there
    at.session_state["holds_table"] = {"selection": {"rows": [shown.index(HIGH_VALUE)], "columns": [],
                                                     "cells": []}}
    field(at, "Note").set_value("ok to ship")
    button(at, "Release").click()
    run(at)
    assert "The high value hold on order #1101 was changed by someone else - reload and try again." in said(at)
    after = hold_of(fresh_held_shop, HIGH_VALUE)
    assert after.state.value == "open" and after.assignee_id == admin.user_id  # nothing overwritten
    assert rows(at).set_index("Order").loc[HIGH_VALUE, "Assignee"] == "admin"  # the table shows the news
    assert at.session_state["holds_table"]["selection"]["rows"] == []  # and nothing stays ticked by position


def test_a_stale_order_action_is_refused_and_a_fresh_one_works(monkeypatch, fresh_held_shop):
    at = tick(open_holds(monkeypatch, fresh_held_shop, "ops_lead"), OUT_OF_ZONE)
    with new_session(engine_for(fresh_held_shop.url)) as session:  # the channel edits the order meanwhile
        ingest(session, make_channel(session, "test-shop"), [order_record(
            104, minutes_later=5, customer_name="Hal Held104", email="hal.held104@example.net", note="gift wrap",
            ship_to=Address(name="Hal Held104", address1="1-2 Ginza", city="Tokyo", postal_code="104-0061",
                            country_code="JP"))])
    press(at, "Cancel order", Reason="customer asked")
    assert f"Order {OUT_OF_ZONE} was changed by someone else - reload and try again." in said(at)
    assert status_of(fresh_held_shop, OUT_OF_ZONE) is OrderStatus.ON_HOLD

    at = tick(at, OUT_OF_ZONE)
    press(at, "Cancel order", Reason="customer asked")
    assert f"Order {OUT_OF_ZONE} cancelled" in said(at) and OUT_OF_ZONE not in numbers(at)
    assert status_of(fresh_held_shop, OUT_OF_ZONE) is OrderStatus.CANCELLED


def test_fixing_an_address_says_what_is_still_missing_until_it_is_complete(monkeypatch, fresh_held_shop):
    at = tick(open_holds(monkeypatch, fresh_held_shop, "ops_lead"), ADDRESS)
    assert field(at, "City").value == "Boston" and field(at, "Postal code").value == ""
    press(at, "Fix address", City="")
    assert f"Address of order {ADDRESS} saved, but the ship-to lacks city, postal code" in said(at)
    assert ADDRESS in numbers(at) and at.warning

    at = tick(at, ADDRESS)
    assert field(at, "City").value == ""  # the form shows the order as it is now
    press(at, "Fix address", City="Boston", Postal_code="02110")
    assert f"Address of order {ADDRESS} saved; it is complete." in said(at)
    assert ADDRESS not in numbers(at) and status_of(fresh_held_shop, ADDRESS) is OrderStatus.READY


def test_assigning_to_me_and_back_to_nobody_moves_the_item_between_the_assignee_filters(monkeypatch,
                                                                                      fresh_held_shop):
    at = tick(open_holds(monkeypatch, fresh_held_shop, "ops_lead"), PAYMENT, EU_HIGH_VALUE)
    assert next(s for s in at.selectbox if s.label == "Assign to").value == user_id(fresh_held_shop, "ops_lead")
    press(at, "Assign", Note="mine today")  # to me, the first choice
    assert f"Assigned 2 items on {PAYMENT}, {EU_HIGH_VALUE} to ops." in said(at)
    assert sorted(numbers(run(choose(at, "Assignee", "me")))) == sorted([FRAUD, PAYMENT, EU_HIGH_VALUE])

    at = tick(at, PAYMENT)
    press(choose(at, "Assign to", 0), "Assign")
    assert f"Assigned 1 item on {PAYMENT} to nobody." in said(at)
    assert sorted(numbers(at)) == sorted([FRAUD, EU_HIGH_VALUE])


def test_support_puts_an_order_on_hold_and_adds_a_note_but_cannot_release(monkeypatch, fresh_held_shop):
    at = tick(open_holds(monkeypatch, fresh_held_shop, "support"), AT_RISK)
    assert button(at, "Release").disabled and button(at, "Cancel order").disabled
    assert not button(at, "Put on hold").disabled and not button(at, "Add note").disabled

    press(at, "Put on hold")  # a manual hold needs a note
    assert "Please give a note saying why." in said(at)
    at = tick(at, AT_RISK)
    press(at, "Put on hold", Why_hold_it="Customer called: wants to change the size")
    assert f"Order {AT_RISK} is on a manual hold." in said(at)
    assert counts(at)["Manual"] == 1 and status_of(fresh_held_shop, AT_RISK) is OrderStatus.ON_HOLD
    manual = rows(at).query("Hold == 'Manual'").iloc[0]
    assert manual["Order"] == AT_RISK and "wants to change the size" in manual["Why / notes"]

    at = tick(at, AT_RISK)
    press(at, "Add note", **{"Note for the order's timeline": "Size M confirmed by email"})
    assert f"Note added to the timeline of order {AT_RISK}." in said(at)
    with new_session(engine_for(fresh_held_shop.url)) as session:
        story = [e["text"] for e in order_detail(session, order_id(fresh_held_shop, AT_RISK)).events]
    assert "Note: Size M confirmed by email" in story


def test_ops_lead_reroutes_an_out_of_zone_order_to_a_location_with_stock(monkeypatch, fresh_held_shop):
    from core.inventory import receive_stock
    from core.models import Location

    with new_session(engine_for(fresh_held_shop.url)) as session:
        receive_stock(session, "NJ-WH", "TEE-BLK-M", 20, actor=Actor(name="ops", role=Role.OPS_LEAD))
        nj = session.scalar(select(Location.id).where(Location.code == "NJ-WH"))
    at = tick(open_holds(monkeypatch, fresh_held_shop, "ops_lead"), OUT_OF_ZONE)
    stock_table = at.dataframe[1].value
    assert "NJ-WH" in set(stock_table["Location"]) and "Can fill all" in stock_table.columns
    choose(at, "Ship from", nj)
    press(at, "Re-route", Why="customer pays the freight")
    assert "Re-routed to NJ-WH by ops: customer pays the freight" in said(at)
    assert OUT_OF_ZONE not in numbers(at) and status_of(fresh_held_shop, OUT_OF_ZONE) is OrderStatus.ALLOCATED
