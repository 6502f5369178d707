"""The admin's hold-rules page through AppTest, and the settings verbs behind it on both databases."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from core.auth import Actor
from core.db import engine_for, new_session
from core.enums import HoldCode, HoldState, Role
from core.errors import InvalidInput, NotAllowed, StaleEdit
from core.models import Hold
from core.rules import RuleSettings
from core.settings import parse_rule_settings, rule_settings, save_rule_settings
from tests.e2e.conftest import PASSWORDS, app_for, sign_in
from tests.e2e.test_app_pages import plain
from ui import nav

PAGE = "pages/hold_rules.py"
ADMIN = Actor("ada", role=Role.ADMIN)


def admin_page(monkeypatch: pytest.MonkeyPatch, url: str) -> AppTest:
    at = sign_in(app_for(monkeypatch, url), *PASSWORDS["admin"])
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def field(at: AppTest, starts: str):  # type: ignore[no-untyped-def]
    return next(w for w in [*at.text_input, *at.number_input] if w.label.startswith(starts))


def open_high_value(url: str) -> int:
    with new_session(engine_for(url)) as db:
        return db.scalar(select(func.count()).select_from(Hold).where(
            Hold.code == HoldCode.HIGH_VALUE, Hold.state == HoldState.OPEN)) or 0


def test_an_admin_lowers_the_threshold_and_the_recheck_holds_the_orders_above_it(monkeypatch, fresh_shop):
    at = admin_page(monkeypatch, fresh_shop.url)
    assert field(at, "High-value threshold").value == "5000.00"
    before = open_high_value(fresh_shop.url)
    field(at, "High-value threshold").set_value("40")
    field(at, "Duplicate window").set_value(15)
    next(b for b in at.button if b.label == "Save thresholds").click().run()
    assert not at.exception and [s.value for s in at.success] == ["Thresholds saved."]
    with new_session(engine_for(fresh_shop.url)) as db:
        saved = rule_settings(db)
    assert saved.high_value_threshold == Decimal("40.00") and saved.duplicate_window_minutes == 15
    history = at.dataframe[0].value
    assert history["By"].tolist() == ["admin"] and "high_value_threshold: 5000 -> 40.00" in history.iloc[0, 2]
    next(b for b in at.button if b.label == "Re-check open orders now").click().run()
    assert not at.exception
    assert open_high_value(fresh_shop.url) > before  # the 48.00 orders are now at or above 40.00
    assert any("holds opened" in s.value for s in at.success)


def test_a_bad_amount_names_the_field_and_saves_nothing(monkeypatch, fresh_shop):
    at = admin_page(monkeypatch, fresh_shop.url)
    field(at, "Thresholds per currency").set_value("EURO 4000")
    next(b for b in at.button if b.label == "Save thresholds").click().run()
    assert "3-letter currency code" in plain(at.error[0].value)
    with new_session(engine_for(fresh_shop.url)) as db:
        assert rule_settings(db) == RuleSettings()


def test_a_save_over_someone_elses_is_refused_and_shows_theirs(monkeypatch, fresh_shop):
    at = admin_page(monkeypatch, fresh_shop.url)
    with new_session(engine_for(fresh_shop.url)) as db:  # another admin saves first
        save_rule_settings(db, RuleSettings(high_value_threshold=Decimal("7000")), actor=ADMIN)
    field(at, "High-value threshold").set_value("100")
    next(b for b in at.button if b.label == "Save thresholds").click().run()
    assert "changed by someone else" in plain(at.error[0].value)
    assert field(at, "High-value threshold").value == "7000.00"  # the form now shows what is saved
    with new_session(engine_for(fresh_shop.url)) as db:
        assert rule_settings(db).high_value_threshold == Decimal("7000")


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN])
def test_only_an_admin_sees_the_page(role):
    assert "hold-rules" not in [s.key for s in nav.screens_for(Actor("x", role=role))]
    assert "hold-rules" in [s.key for s in nav.screens_for(ADMIN)]


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN])
def test_the_store_refuses_everyone_but_an_admin(db, role):
    with pytest.raises(NotAllowed):
        save_rule_settings(db, RuleSettings(high_value_threshold=Decimal("1")), actor=Actor("x", role=role))
    assert rule_settings(db) == RuleSettings()


def test_saving_records_before_and_after_and_refuses_a_stale_form(db):
    loaded = rule_settings(db)
    assert save_rule_settings(db, parse_rule_settings("2500", "EUR 2000, gbp 1800", ["high", "medium"], 20),
                              actor=ADMIN, expected=loaded)
    stored = rule_settings(db)
    assert stored.high_value_by_currency == {"EUR": Decimal("2000.00"), "GBP": Decimal("1800.00")}
    assert stored.risky_levels == frozenset({"high", "medium"})
    with pytest.raises(StaleEdit):
        save_rule_settings(db, RuleSettings(), actor=ADMIN, expected=loaded)
    assert rule_settings(db) == stored


@pytest.mark.parametrize("args, message", [
    (("0", "", ["high"], 10), "must be more than 0"),
    (("lots", "", ["high"], 10), "is not an amount"),
    (("100", "", ["extreme"], 10), "Unknown risk level"),
    (("100", "", ["high"], 5000), "Duplicate window"),
])
def test_form_input_is_checked(args, message):
    with pytest.raises(InvalidInput, match=message):
        parse_rule_settings(*args)
