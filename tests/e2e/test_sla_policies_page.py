"""The admin's SLA policies page through AppTest: a new policy moves the open orders' deadlines."""

from __future__ import annotations

from datetime import time

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.auth import Actor
from core.db import engine_for, new_session
from core.enums import Role
from core.models import Channel, Event, Order
from core.settings import sla_window
from core.sla import SlaPolicy, ship_by
from tests.e2e.conftest import PASSWORDS, app_for, sign_in
from tests.e2e.test_app_pages import plain
from ui import nav

PAGE = "pages/sla_policies.py"


def admin_page(monkeypatch: pytest.MonkeyPatch, url: str) -> AppTest:
    at = sign_in(app_for(monkeypatch, url), *PASSWORDS["admin"])
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def test_an_admin_changes_a_policy_and_the_open_orders_follow(monkeypatch, fresh_shop):
    at = admin_page(monkeypatch, fresh_shop.url)
    at.number_input[0].set_value(3)
    at.time_input[0].set_value(time(11, 0))
    next(s for s in at.selectbox if s.label == "Cut-off time zone").set_value("Europe/London")
    at.text_area[0].set_value("2026-12-25\n2026-12-26")
    next(b for b in at.button if b.label.startswith("Save policy")).click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "open orders got a new ship-by" in plain(at.success[0].value)
    with new_session(engine_for(fresh_shop.url)) as db:
        channel = db.get(Channel, at.selectbox[0].value)
        policy = SlaPolicy.from_dict(channel.sla_policy)
        assert (policy.handling_days, policy.cutoff, policy.timezone) == (3, time(11, 0), "Europe/London")
        assert len(policy.holidays) == 2
        open_orders = db.execute(select(Order.placed_at, Order.ship_by).where(
            Order.channel_id == channel.id, Order.is_open.is_(True), Order.ship_by_source == "policy")).all()
        assert open_orders and all(deadline == ship_by(placed, policy) for placed, deadline in open_orders)
        assert db.scalar(select(Event.id).where(Event.kind == "sla_policy_changed")) is not None


def test_a_bad_holiday_is_named_and_nothing_changes(monkeypatch, fresh_shop):
    at = admin_page(monkeypatch, fresh_shop.url)
    at.text_area[0].set_value("Christmas")
    next(b for b in at.button if b.label.startswith("Save policy")).click().run()
    assert "'Christmas' is not a date" in plain(at.error[0].value)
    with new_session(engine_for(fresh_shop.url)) as db:
        assert db.scalar(select(Event.id).where(Event.kind == "sla_policy_changed")) is None


def test_the_at_risk_window_is_saved(monkeypatch, fresh_shop):
    at = admin_page(monkeypatch, fresh_shop.url)
    next(n for n in at.number_input if n.label.startswith("An unshipped order")).set_value(6.5)
    next(b for b in at.button if b.label == "Save window").click().run()
    assert "6.5 h" in plain(at.success[0].value)
    with new_session(engine_for(fresh_shop.url)) as db:
        assert sla_window(db).total_seconds() == 6.5 * 3600


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN])
def test_only_an_admin_sees_the_page(role):
    assert "sla-policies" not in [s.key for s in nav.screens_for(Actor("x", role=role))]
