"""The SLA page through AppTest: counts that match the store, the orders breaching next with links, the chart."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import func, select

from core.auth import Actor
from core.db import engine_for, new_session
from core.enums import Role
from core.models import Order
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
    assert len(at.get("download_button")) == 2


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
