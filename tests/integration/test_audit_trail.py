"""The audit trail: events are only ever added (no core code changes or deletes one, and the store's mapping
refuses it), and every admin change records who, when, what it was before and what it is after."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from core.auth import Actor, add_user
from core.carriers import add_carrier_account, update_carrier_account
from core.channels import add_channel, update_channel
from core.connector_health import set_channel_enabled
from core.db import writing
from core.enums import CarrierKind, ChannelKind, LocationKind, Role
from core.events import AppendOnly
from core.locations import LocationForm, save_location
from core.models import Event, User, utcnow
from core.rules import RuleSettings
from core.settings import save_rule_settings, save_sla_window
from core.sla import SlaPolicy
from core.sla_policy import set_sla_policy
from core.users import reset_password, update_user

ROOT = Path(__file__).resolve().parents[2]
ADMIN = Actor("ada", role=Role.ADMIN)
REWRITES = re.compile(r"(update|delete)\(\s*Event\b|(UPDATE|DELETE\s+FROM)\s+\"?events\b|session\.delete\(",
                      re.IGNORECASE)


def test_no_application_code_updates_or_deletes_events():
    offenders = []
    for folder in ("core", "jobs", "pages", "ui", "connectors"):
        for path in (ROOT / folder).rglob("*.py"):
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if REWRITES.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []


def test_the_store_refuses_to_change_or_delete_a_recorded_event(db):
    add_user(db, "bob", "long enough", Role.SUPPORT, actor=ADMIN)
    event = db.scalar(select(Event).where(Event.kind == "user_added"))
    with pytest.raises(AppendOnly), writing(db):
        event.detail = {"username": "someone else"}
    db.rollback()
    with pytest.raises(AppendOnly), writing(db):
        db.delete(db.get(Event, event.id))
    db.rollback()
    assert db.scalar(select(Event.detail).where(Event.id == event.id))["username"] == "bob"


def latest(db, kind: str) -> Event:  # type: ignore[no-untyped-def]
    db.commit()
    return db.scalar(select(Event).where(Event.kind == kind).order_by(Event.id.desc()).limit(1))


def assert_who_when(event: Event, started) -> None:  # type: ignore[no-untyped-def]
    at = event.at if event.at.tzinfo else event.at.replace(tzinfo=started.tzinfo)
    assert event.actor_name == "ada" and started - timedelta(seconds=1) <= at <= utcnow() + timedelta(seconds=1)


def test_every_admin_change_records_who_when_before_and_after(db):
    started = utcnow()
    user = add_user(db, "bob", "long enough", Role.SUPPORT, display_name="Bob", actor=ADMIN)
    added = latest(db, "user_added")
    assert_who_when(added, started)
    assert added.detail == {"username": "bob", "role": "support", "display_name": "Bob", "timezone": "UTC"}

    update_user(db, user.id, actor=ADMIN, role=Role.CLERK, timezone="Europe/Paris")
    changed = latest(db, "user_changed")
    assert_who_when(changed, started)
    assert changed.detail == {"username": "bob", "role": {"before": "support", "after": "clerk"},
                              "timezone": {"before": "UTC", "after": "Europe/Paris"}}

    reset_password(db, user.id, "another long one", actor=ADMIN)
    reset = latest(db, "password_reset")
    assert_who_when(reset, started)
    assert reset.detail == {"username": "bob"}  # who and when; never the password or its hash
    assert "$argon2" not in str(reset.detail) and db.scalar(select(User.password_hash).where(User.id == user.id))

    channel = add_channel(db, "shop", kind=ChannelKind.SHOPIFY, base_url="http://127.0.0.1:9", token_env="SHOP_TOKEN",
                          actor=ADMIN)
    assert latest(db, "channel_added").detail["token_env"] == "SHOP_TOKEN"
    update_channel(db, channel.id, actor=ADMIN, name="Main shop", base_url="http://127.0.0.1:9",
                   token_env="SHOP_TOKEN_2", poll_interval_s=60)
    changed = latest(db, "channel_changed")
    assert_who_when(changed, started)
    assert any(v == {"before": "shop", "after": "Main shop"} for v in changed.detail.values())
    assert any(v == {"before": 15, "after": 60} for v in changed.detail.values())

    set_channel_enabled(db, channel.id, False, actor=ADMIN)
    paused = latest(db, "channel_paused")
    assert paused.detail == {"channel": "shop", "enabled": {"before": True, "after": False}}

    save_location(db, LocationForm(code="TX-WH", name="Dallas", kind=LocationKind.WAREHOUSE, country="US",
                                   region="TX", timezone="America/Chicago", zones="US", priority=15), actor=ADMIN)
    location_id = db.scalar(text("SELECT id FROM locations WHERE code = 'TX-WH'"))
    save_location(db, LocationForm(code="TX-WH", name="Dallas", kind=LocationKind.WAREHOUSE, country="US",
                                   region="TX", timezone="America/Chicago", zones="US, CA", priority=5),
                  actor=ADMIN, location_id=location_id)
    moved = latest(db, "location_changed")
    assert_who_when(moved, started)
    assert moved.detail["priority"] == {"before": 15, "after": 5}
    assert moved.detail["zones"] == {"before": ["US"], "after": ["US", "CA"]}

    save_rule_settings(db, RuleSettings(high_value_threshold=Decimal("7000")), actor=ADMIN)
    rules = latest(db, "settings_changed")
    assert_who_when(rules, started)
    assert rules.detail["key"] == "hold_rules"
    assert Decimal(str(rules.detail["before"]["high_value_threshold"])) == Decimal("5000")
    assert Decimal(str(rules.detail["after"]["high_value_threshold"])) == Decimal("7000")

    save_sla_window(db, 6.0, actor=ADMIN)
    window = latest(db, "settings_changed")
    assert float(window.detail["after"]["at_risk_hours"]) == 6.0 and "before" in window.detail

    set_sla_policy(db, channel.id, SlaPolicy(handling_days=3), actor=ADMIN)
    policy = latest(db, "sla_policy_changed")
    assert_who_when(policy, started)
    assert policy.detail["after"]["handling_days"] == 3 and "before" in policy.detail

    account = add_carrier_account(db, "ups-ep", kind=CarrierKind.EASYPOST, base_url="http://127.0.0.1:9",
                                  token_env="EP_KEY", carriers="UPS", actor=ADMIN)
    update_carrier_account(db, account.id, actor=ADMIN, name="UPS", base_url="http://127.0.0.1:9", token_env="EP_KEY",
                           carriers="UPS", poll_interval_s=900, enabled=True)
    carrier = latest(db, "carrier_changed")
    assert_who_when(carrier, started)
    assert any(v == {"before": 300, "after": 900} for v in carrier.detail.values())


def test_earlier_events_stay_exactly_as_recorded_while_more_happen(db):
    add_user(db, "bob", "long enough", Role.SUPPORT, actor=ADMIN)
    db.commit()
    before = [tuple(r) for r in db.execute(select(Event.id, Event.kind, Event.actor_name, Event.at, Event.detail)
                                           .order_by(Event.id))]
    user_id = db.scalar(select(User.id).where(User.username == "bob"))
    update_user(db, user_id, actor=ADMIN, role=Role.CLERK)
    update_user(db, user_id, actor=ADMIN, role=Role.SUPPORT)
    db.commit()
    after = [tuple(r) for r in db.execute(select(Event.id, Event.kind, Event.actor_name, Event.at, Event.detail)
                                          .order_by(Event.id))]
    assert after[:len(before)] == before and len(after) == len(before) + 2
    assert db.scalar(select(func.count()).select_from(Event).where(Event.kind == "user_changed")) == 2
