"""The SLA page through AppTest: counts that match the store, the orders breaching next with links, the chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import func, select

from core.auth import WORKER, Actor
from core.db import engine_for, new_session, writing
from core.enums import OrderStatus, Role
from core.models import Order, Shipment
from core.sla_history import HistoryFilter, on_time_total
from core.status import move_order
from tests.e2e.conftest import PASSWORDS, app_for, sign_in
from ui import nav

PAGE = "pages/sla.py"


@pytest.mark.parametrize("role", ["manager", "ops_lead", "admin"])
def test_the_sla_page_shows_what_breaches_and_agrees_with_the_store(role, monkeypatch, shop):
    at = sign_in(app_for(monkeypatch, shop.url), *PASSWORDS[role])
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    with new_session(engine_for(shop.url)) as db:
        now = datetime.now(UTC)
        late = db.scalar(select(func.count()).where(Order.is_open.is_(True), Order.ship_by <= now))
    assert late > 0 and metrics["Breached (orders)"] == f"{late:,}"
    table = at.dataframe[0].value
    assert len(table) == min(late, 200) and table["SLA"].iloc[0] == "Breached"
    assert table["Order"].iloc[0].startswith("lookup?order=")
    assert at.get("plotly_chart"), "the backlog chart is drawn"
    assert {b.key for b in at.get("download_button")} >= {"due_csv", "backlog_csv", "times_channel",
                                                           "times_location", "times_carrier"}


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.CLERK])
def test_roles_without_reports_do_not_get_the_page(role):
    assert "sla" not in [s.key for s in nav.screens_for(Actor("x", role=role))]


def test_the_next_orders_to_breach_open_in_the_lookup(monkeypatch, shop):
    at = sign_in(app_for(monkeypatch, shop.url), *PASSWORDS["manager"])
    at.switch_page(PAGE).run()
    links = at.get("page_link")
    assert 1 <= len(links) <= 5
    first = links[0].proto
    in_table = parse_qs(urlparse(at.dataframe[0].value["Order"].iloc[0]).query)["order"][0]
    assert first.page == "lookup" and first.query_string == f"order={in_table}"  # the table's first order
    assert "breached, overdue" in first.label.replace("\\", "")


def test_the_history_agrees_with_the_store(monkeypatch, fresh_shop):
    with new_session(engine_for(fresh_shop.url)) as db:  # the shop's parcel: its order is marked shipped
        shipped_id = db.scalar(select(Shipment.order_id))
        with writing(db):
            order = db.get(Order, shipped_id)
            move_order(db, order, OrderStatus.ALLOCATED, actor=WORKER)
            move_order(db, order, OrderStatus.SHIPPED, actor=Actor("olivia", role=Role.OPS_LEAD))
    at = sign_in(app_for(monkeypatch, fresh_shop.url), *PASSWORDS["manager"])
    at.switch_page(PAGE).run()
    metrics = {m.label: m.value for m in at.metric}
    today = datetime.now(UTC).date()
    with new_session(engine_for(fresh_shop.url)) as db:
        total, on_time = on_time_total(db, HistoryFilter(today - timedelta(days=29), today))
    assert total == 1 and metrics["Orders shipped"] == "1"
    assert metrics["On-time ship rate"] == f"{100 * on_time / total:.1f} %"
    by_carrier = next(d.value for d in at.dataframe if "Carrier" in d.value.columns)
    assert by_carrier["Carrier"].tolist() == ["UPS"] and by_carrier["Parcels"].tolist() == [1]
    assert at.get("plotly_chart") and len(at.get("plotly_chart")) == 2  # backlog and on-time rate
