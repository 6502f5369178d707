"""The UI through AppTest: the login gate, navigation per role, the order queue and the order lookup."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import inspect, update
from streamlit.testing.v1 import AppTest

from core.auth import add_user
from core.db import engine_for, new_session
from core.enums import OPEN_STATUSES, Permission, Role
from core.models import User
from tests.e2e.conftest import APPTEST_TIMEOUT, DISPLAY_NAMES, PASSWORDS, app_for, order_id, sign_in
from tests.factories import ingest, make_channel, order_record
from ui import nav

ROLES = [role.value for role in Role]
QUEUE, LOOKUP = "pages/queue.py", "pages/lookup.py"
SEARCH = "Order number, channel order id, email, name, phone or tracking number"


def plain(markdown: str) -> str:
    """Markdown source as read on screen (escapes removed)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def texts(at: AppTest) -> str:
    """Everything a person reads on the page, as one string."""
    parts = [*(e.value for e in at.title), *(e.value for e in at.subheader), *(e.value for e in at.markdown),
             *(e.value for e in at.caption), *(e.value for e in at.warning), *(e.value for e in at.info),
             *(e.value for e in at.error)]
    return plain("\n".join(str(p) for p in parts))


def caption_with(at: AppTest, word: str) -> str:
    return next(c.value for c in at.caption if word in c.value)


def table(at: AppTest, index: int = 0) -> pd.DataFrame:
    return at.dataframe[index].value



def open_page(at: AppTest, path: str) -> AppTest:
    at.switch_page(path).run()
    assert not at.exception, at.exception
    return at


def search(at: AppTest, term: str) -> AppTest:
    next(w for w in at.text_input if w.label == SEARCH).set_value(term).run()
    assert not at.exception, at.exception
    return at


# ---- the gate ----------------------------------------------------------------------------------------


def test_without_signing_in_only_the_login_form_is_shown(monkeypatch, shop):
    at = app_for(monkeypatch, shop.url).run()
    assert not at.exception
    assert [w.label for w in at.text_input] == ["Username", "Password"]
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.dataframe and not at.sidebar.markdown
    with pytest.raises(ValueError):  # the screens are not registered at all
        at.switch_page(QUEUE)


def test_a_page_script_started_without_the_app_sends_the_visitor_to_the_login_form(monkeypatch, shop):
    # What a freshly started server does with a first request for /queue: it runs the pages/
    # script alone. The page must not show orders to a visitor who has not signed in.
    at = app_for(monkeypatch, shop.url)
    at.switch_page(QUEUE).run()
    assert not at.exception
    assert "Order queue" not in texts(at) and not at.dataframe
    assert [w.label for w in at.text_input] == ["Username", "Password"]


def test_a_wrong_password_says_so_and_signs_nobody_in(monkeypatch, fresh_shop):
    at = sign_in(app_for(monkeypatch, fresh_shop.url), "support", "not-the-password")
    assert [e.value for e in at.error] == ["Unknown user or wrong password."]
    assert "opsdesk_actor" not in at.session_state
    assert not at.dataframe and [b.label for b in at.button] == ["Sign in"]
    at = sign_in(app_for(monkeypatch, fresh_shop.url), "nobody", "whatever-pass")
    assert [e.value for e in at.error] == ["Unknown user or wrong password."]


def test_log_out_clears_the_session(signed_in):
    at = signed_in("support")
    assert plain(at.sidebar.markdown[0].value) == "Signed in as **Sam Support**"
    next(b for b in at.sidebar.button if b.label == "Log out").click().run()
    assert "opsdesk_actor" not in at.session_state
    assert [w.label for w in at.text_input] == ["Username", "Password"]


def test_a_deactivated_account_is_signed_out_at_its_next_click(monkeypatch, fresh_shop):
    at = sign_in(app_for(monkeypatch, fresh_shop.url), "manager", "manager-demo-pass")
    assert [t.value for t in at.title] == ["KPI overview"]
    with new_session(engine_for(fresh_shop.url)) as session, session.begin():
        session.execute(update(User).where(User.username == "manager").values(active=False))
    at.run()
    assert "opsdesk_actor" not in at.session_state and not at.dataframe
    assert [w.label for w in at.text_input] == ["Username", "Password"]


def test_an_unreachable_database_is_a_clear_error_not_a_traceback(monkeypatch, tmp_path):
    at = app_for(monkeypatch, f"sqlite:///{tmp_path / 'missing-dir' / 'opsdesk.db'}").run()
    assert not at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith("The database is not reachable: ")
    assert not at.text_input


def test_losing_the_database_in_the_middle_of_a_run_is_a_clear_error(monkeypatch, tmp_path):
    def script() -> None:
        import streamlit as st
        from sqlalchemy import text

        from ui.db import session_scope

        with session_scope() as db:
            db.execute(text("SELECT 1"))
        st.write("not reached")

    monkeypatch.setenv("OPSDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'gone' / 'opsdesk.db'}")
    at = AppTest.from_function(script, default_timeout=APPTEST_TIMEOUT).run()
    assert not at.exception and not at.markdown
    assert at.error[0].value.startswith("The database is not reachable: unable to open database file")


def test_a_database_without_schema_is_migrated_at_startup(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    at = app_for(monkeypatch, url).run()
    assert not at.exception and [w.label for w in at.text_input] == ["Username", "Password"]
    assert {"orders", "users", "alembic_version"} <= set(inspect(engine_for(url)).get_table_names())


# ---- navigation per role ----------------------------------------------------------------------------


@pytest.fixture
def admin_only_screen(monkeypatch, tmp_path) -> str:
    """A screen only admins may see (the real later screens are not written yet)."""
    probe = tmp_path / "admin_probe.py"
    probe.write_text("import streamlit as st\nst.title('Admin probe')\n")
    monkeypatch.setattr(nav, "SCREENS", (*nav.SCREENS, nav.Screen(
        "admin-probe", "Admin probe", str(probe), Permission.MANAGE_USERS, ":material/shield:")))
    return str(probe)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_lands_on_its_screen_and_only_its_screens_are_registered(role, signed_in, admin_only_screen):
    at = signed_in(role)
    assert not at.exception
    landing = {"ops_lead": "Exceptions & holds", "manager": "KPI overview", "admin": "Order queue",
               "support": "Order lookup", "clerk": "Returns"}[role]
    assert [t.value for t in at.title] == [landing]
    assert plain(at.sidebar.markdown[0].value) == f"Signed in as **{DISPLAY_NAMES[role]}**"
    assert plain(at.sidebar.caption[0].value).startswith(f"{PASSWORDS[role][0]} · {Role(role).label} · times in UTC")
    # Checked straight after signing in, while AppTest knows the pages app.py registered.
    if role == "admin":
        assert [t.value for t in open_page(at, admin_only_screen).title] == ["Admin probe"]
    else:
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(admin_only_screen)
    for path, title in [(QUEUE, "Order queue"), (LOOKUP, "Order lookup")]:
        assert [t.value for t in open_page(at, path).title] == [title]


# ---- the order queue --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_the_queue_shows_open_orders_by_ship_by_and_pages_and_filters_them(role, signed_in, shop):
    at = open_page(signed_in(role), QUEUE)
    rows = table(at)
    assert caption_with(at, "Showing").startswith(f"Showing 1-50 of {shop.open_orders}")
    assert len(rows) == 50 and rows["Order"].iloc[0] == shop.first_number
    assert list(rows["Ship by (UTC)"]) == sorted(rows["Ship by (UTC)"])
    assert {"Placed (UTC)", "Ship by (UTC)", "Time left", "Total"} <= set(rows.columns)
    counts = {m.label: int(m.value.replace(",", "")) for m in at.metric}
    assert list(counts) == [s.label for s in OPEN_STATUSES] and sum(counts.values()) == shop.open_orders

    at.pagination[0].select(2).run()
    rows = table(at)
    assert caption_with(at, "Showing").startswith(f"Showing 51-{shop.open_orders} of {shop.open_orders}")
    assert rows["Order"].iloc[-1] == "EU-502"
    assert rows.set_index("Order").loc[shop.eur_number, "Total"] == shop.eur_total

    at.multiselect[0].select("eu-shop").run()  # a new filter starts again at page 1
    assert caption_with(at, "Showing").startswith(f"Showing 1-3 of {shop.shop2_count}")
    assert list(table(at)["Order"]) == ["EU-500", "EU-501", "EU-502"]
    at.multiselect[0].unselect("eu-shop").run()

    busiest = max(OPEN_STATUSES, key=lambda s: counts[s.label])
    empty = next(s for s in OPEN_STATUSES if counts[s.label] == 0)
    at.multiselect[1].select(empty).run()
    assert caption_with(at, "Showing").startswith("Showing 0 of 0") and table(at).empty
    at.multiselect[1].unselect(empty).select(busiest).run()
    assert re.match(rf"Showing 1-\d+ of {counts[busiest.label]} ", caption_with(at, "Showing"))
    assert set(table(at)["Status"]) == {busiest.label}
    at.multiselect[1].unselect(busiest).run()

    next(w for w in at.text_input if w.label == "Search").set_value(shop.name).run()
    assert list(table(at)["Order"]) == [shop.name_number]
    next(w for w in at.text_input if w.label == "Search").set_value("").run()

    at.date_input[0].set_value((date(2026, 11, 17), date(2026, 11, 17))).run()  # the EU orders came on Tuesday
    assert list(table(at)["Order"]) == ["EU-500", "EU-501", "EU-502"]


def test_selecting_a_queue_row_opens_that_order(signed_in, shop):
    at = open_page(signed_in("ops_lead"), QUEUE)
    at.session_state["queue_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert [t.value for t in at.title] == ["Order lookup"]
    assert at.query_params["order"] == str(order_id(shop, shop.first_number))
    assert f"Order {shop.first_number}" in texts(at)


def test_queue_times_are_in_the_users_zone(monkeypatch, fresh_shop):
    with new_session(engine_for(fresh_shop.url)) as session:
        add_user(session, "berlin", "berlin-pass-1", Role.MANAGER, timezone="Europe/Berlin")
    at = open_page(sign_in(app_for(monkeypatch, fresh_shop.url), "berlin", "berlin-pass-1"), QUEUE)
    rows = table(at)
    assert rows["Order"].iloc[0] == fresh_shop.first_number
    # Ship-by 2026-11-16 11:00 UTC is 12:00 in Berlin (CET).
    assert rows["Ship by (Europe/Berlin)"].iloc[0] == "2026-11-16 12:00"


# ---- the order lookup ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_lookup_finds_an_order_from_whatever_the_customer_quotes(role, signed_in, shop):
    at = open_page(signed_in(role), LOOKUP)
    for term, number in [
        (shop.email, shop.email_number),
        (shop.email_number, shop.email_number),
        (shop.email_number.lstrip("#"), shop.email_number),
        (shop.phone_fragment, shop.phone_number),
        (shop.tracking, shop.tracked_number),
        (shop.name.lower(), shop.name_number),
    ]:
        search(at, term)
        assert list(table(at)["Order"]) == [number], term
        assert f"Order {number}" in texts(at), term  # a single match opens at once
    search(at, "no-such-order-anywhere")
    assert "No order matches no-such-order-anywhere." in texts(at)


@pytest.mark.parametrize("role", ROLES)
def test_a_link_with_an_order_id_opens_that_order_with_its_timeline(role, signed_in, shop):
    at = signed_in(role)
    at.query_params["order"] = str(order_id(shop, shop.tracked_number))
    at = open_page(at, LOOKUP)
    shown = texts(at)
    assert f"Order {shop.tracked_number}" in shown
    assert f"Order {shop.tracked_number} received from the channel: 1 line, 48.00 USD" in shown
    assert f"Shipped with UPS, tracking number {shop.tracking}." in shown
    lines = table(at)
    assert list(lines.columns) == ["SKU", "Title", "Qty", "Unit price", "Allocated", "Shipped", "Returned"]
    assert lines.iloc[0]["Unit price"] == "24.00 USD"
    parcels = table(at, 1)
    assert parcels.iloc[0]["Tracking"] == shop.tracking and parcels.iloc[0]["Carrier"] == "UPS"


def test_an_unknown_order_id_is_a_warning(signed_in):
    at = signed_in("support")
    at.query_params["order"] = "999999"
    at.run()
    assert [w.value for w in at.warning] == ["No order with internal id 999999."]


def test_selecting_a_search_result_opens_it_and_keeps_it_in_the_link(signed_in, shop):
    at = search(signed_in("support"), "lovelace")
    assert len(table(at)) > 1 and "order" not in at.query_params  # several matches: nothing opened yet
    chosen = table(at).iloc[2]
    at.session_state["lookup_results:lovelace"] = {"selection": {"rows": [2], "columns": [], "cells": []}}
    at.run()
    assert at.query_params["order"] == str(chosen["id"]) == str(order_id(shop, chosen["Order"]))
    assert f"Order {chosen['Order']}" in texts(at)


def test_channel_text_is_shown_as_text_not_markup(monkeypatch, fresh_shop):
    with new_session(engine_for(fresh_shop.url)) as session:
        ingest(session, make_channel(session, "test-shop"), [order_record(
            900, customer_name="Eve [click](http://evil.example) ![p](http://evil.example/p.png) $x^2$",
            total=Decimal("10.00"))])
    at = sign_in(app_for(monkeypatch, fresh_shop.url), "support", "support-demo-pass")
    at.query_params["order"] = str(order_id(fresh_shop, "#1901"))
    at.run()
    source = "\n".join(m.value for m in at.markdown)
    assert "Eve \\[click\\]\\(http\\:" in source
    assert not re.search(r"(?<!\\)\]\(", source) and not re.search(r"(?<!\\)\$", source)
    assert "Eve [click](http://evil.example)" in texts(at)


def test_pages_and_app_do_not_touch_sql_directly():
    root = Path(__file__).resolve().parents[2]
    for path in [root / "app.py", *(root / "pages").glob("*.py")]:
        source = path.read_text()
        assert "sqlalchemy" not in source and "session.execute(" not in source, path
        assert "unsafe_allow_html" not in source, path
