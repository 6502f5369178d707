"""The KPI overview through AppTest: figures that match the store, charts, CSV per table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.auth import Actor
from core.db import engine_for, new_session
from core.enums import Role
from core.kpi import KpiFilter, fulfilment
from tests.e2e.conftest import PASSWORDS, app_for, sign_in
from ui import nav

PAGE = "pages/kpi.py"


def test_a_manager_lands_on_the_kpi_overview_and_it_agrees_with_the_store(monkeypatch, shop):
    at = sign_in(app_for(monkeypatch, shop.url), *PASSWORDS["manager"])
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["KPI overview"]  # where a manager lands
    at.date_input[0].set_value((datetime(2026, 11, 1).date(), datetime.now(UTC).date())).run()
    metrics = {m.label: m.value for m in at.metric}
    with new_session(engine_for(shop.url)) as db:
        done = fulfilment(db, KpiFilter(datetime(2026, 11, 1).date(), datetime.now(UTC).date()))
    assert done["placed"] > 0 and metrics["Orders placed"] == f"{done['placed']:,}"
    assert at.get("plotly_chart"), "orders per day are charted"
    lag = next(d.value for d in at.dataframe if "Channel" in d.value.columns)
    assert set(lag["Channel"]) >= {"test-shop"}
    assert {b.key for b in at.get("download_button")} >= {"kpi_orders-per-day", "kpi_connector-lag"}


def test_a_range_without_orders_says_so(monkeypatch, shop):
    at = sign_in(app_for(monkeypatch, shop.url), *PASSWORDS["manager"])
    start = datetime(2020, 1, 1).date()
    at.date_input[0].set_value((start, start + timedelta(days=2))).run()
    assert "No orders placed in this range." in [c.value for c in at.caption]
    assert {m.label: m.value for m in at.metric}["Fulfilment rate"] == "-"


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.CLERK])
def test_roles_without_reports_do_not_get_the_page(role):
    assert "kpi" not in [s.key for s in nav.screens_for(Actor("x", role=role))]
