"""Admin-editable settings, stored as JSON under a key, with who changed them and when."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.auth import Actor
from core.db import writing
from core.enums import Permission
from core.errors import InvalidInput, StaleEdit
from core.events import record_event
from core.models import Event, Setting
from core.rules import RuleSettings

HOLD_RULES = "hold_rules"
SLA = "sla"
DEFAULT_AT_RISK_HOURS = 4.0
RISK_LEVELS = ("low", "medium", "high")  # Shopify's order risk recommendation levels
MAX_DUPLICATE_WINDOW_MINUTES = 24 * 60


def read_setting(session: Session, key: str) -> dict[str, Any]:
    row = session.get(Setting, key, populate_existing=True)
    return dict(row.value) if row else {}


def rule_settings(session: Session) -> RuleSettings:
    return RuleSettings.from_dict(read_setting(session, HOLD_RULES))


def sla_window(session: Session) -> timedelta:
    """How long before its ship-by an unshipped order counts as at risk (default 4 h)."""
    return timedelta(hours=float(read_setting(session, SLA).get("at_risk_hours", DEFAULT_AT_RISK_HOURS)))


def save_sla_window(session: Session, hours: float, *, actor: Actor) -> None:
    """Change the at-risk window (admin); an event records before and after."""
    actor.require(Permission.MANAGE_SETTINGS)
    if not 0 < hours <= 72:
        raise InvalidInput("At-risk window: more than 0 and at most 72 hours.")
    with writing(session):
        row = session.get(Setting, SLA, populate_existing=True)
        before = dict(row.value) if row else {}
        store_setting(session, row, SLA, before, {**before, "at_risk_hours": float(hours)}, actor)


def parse_rule_settings(high_value: str, by_currency: str, risky_levels: list[str],
                        duplicate_window_minutes: int) -> RuleSettings:
    """Thresholds as typed on the admin form, checked; ``InvalidInput`` names the field that is wrong.

    ``by_currency`` is "EUR 4000, GBP 3500": a threshold per currency, overriding the default.
    """
    default = _amount("High-value threshold", high_value)
    per_currency: dict[str, Decimal] = {}
    for item in filter(None, (part.strip() for part in by_currency.replace(";", ",").split(","))):
        code, _, amount = item.partition(" ")
        if len(code) != 3 or not code.isalpha():
            raise InvalidInput(f"Per-currency threshold {item!r}: write a 3-letter currency code, a space, an amount "
                               "(e.g. EUR 4000).")
        per_currency[code.upper()] = _amount(f"Threshold for {code.upper()}", amount)
    unknown = sorted(set(risky_levels) - set(RISK_LEVELS))
    if unknown:
        raise InvalidInput(f"Unknown risk level(s): {', '.join(unknown)}; choose from {', '.join(RISK_LEVELS)}.")
    if not 0 <= duplicate_window_minutes <= MAX_DUPLICATE_WINDOW_MINUTES:
        raise InvalidInput(f"Duplicate window: between 0 and {MAX_DUPLICATE_WINDOW_MINUTES} minutes.")
    return RuleSettings(default, per_currency, frozenset(risky_levels), int(duplicate_window_minutes))


def _amount(field: str, text: str) -> Decimal:
    try:
        value = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        raise InvalidInput(f"{field}: {text!r} is not an amount.") from None
    if not value.is_finite() or value <= 0:
        raise InvalidInput(f"{field}: must be more than 0.")
    return value.quantize(Decimal("0.01"))


def save_rule_settings(session: Session, settings: RuleSettings, *, actor: Actor,
                       expected: RuleSettings | None = None) -> bool:
    """Change the hold thresholds (admin); the change is an event with before and after.

    ``expected`` is what the form was showing: if someone saved in between, the save is refused
    ("changed by someone else") rather than overwriting their change. Returns False if nothing changed.
    """
    actor.require(Permission.MANAGE_SETTINGS)
    with writing(session):
        row = session.get(Setting, HOLD_RULES, populate_existing=True)
        stored = RuleSettings.from_dict(dict(row.value) if row else {})
        if expected is not None and stored != expected:
            raise StaleEdit("The hold-rule configuration")
        after = settings.to_dict()
        before = stored.to_dict()
        if before == after:
            return False
        store_setting(session, row, HOLD_RULES, before, after, actor)
    return True


def store_setting(session: Session, row: Setting | None, key: str, before: dict[str, Any], after: dict[str, Any],
                  actor: Actor) -> None:
    """Write a setting's new value in the caller's transaction, with an event of before and after."""
    if row is None:
        session.add(Setting(key=key, value=after, updated_by=actor.name))
    else:
        row.value, row.updated_by = after, actor.name
    record_event(session, None, "settings_changed", actor, subject="settings",
                 detail={"key": key, "before": before, "after": after})


def settings_history(session: Session, key: str = HOLD_RULES, *, limit: int = 20) -> pd.DataFrame:
    """The latest changes of one setting: when, who, and what changed (before -> after)."""
    rows = session.execute(
        select(Event.at, Event.actor_name, Event.detail).where(Event.kind == "settings_changed")
        .order_by(Event.at.desc(), Event.id.desc()).limit(limit * 5)
    ).all()
    out = []
    for at, who, detail in rows:
        if (detail or {}).get("key") != key:
            continue
        before, after = detail.get("before") or {}, detail.get("after") or {}
        changes = [f"{name}: {_plain(before.get(name))} -> {_plain(after.get(name))}"
                   for name in sorted(set(before) | set(after)) if before.get(name) != after.get(name)]
        out.append((at, who, "; ".join(changes)))
        if len(out) >= limit:
            break
    return pd.DataFrame(out, columns=["at", "by", "changes"])


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    return "-" if value is None else str(value)
