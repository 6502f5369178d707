"""Admin-editable settings, stored as JSON under a key, with who changed them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.auth import Actor
from core.db import writing
from core.enums import Permission
from core.events import record_event
from core.models import Setting
from core.rules import RuleSettings

HOLD_RULES = "hold_rules"


def read_setting(session: Session, key: str) -> dict[str, Any]:
    row = session.get(Setting, key)
    return dict(row.value) if row else {}


def rule_settings(session: Session) -> RuleSettings:
    return RuleSettings.from_dict(read_setting(session, HOLD_RULES))


def save_rule_settings(session: Session, settings: RuleSettings, *, actor: Actor) -> None:
    """Change the hold thresholds (admin); the change is an event with before and after."""
    actor.require(Permission.MANAGE_CHANNELS)
    with writing(session):
        row = session.get(Setting, HOLD_RULES)
        before = dict(row.value) if row else {}
        after = settings.to_dict()
        if row is None:
            session.add(Setting(key=HOLD_RULES, value=after, updated_by=actor.name))
        else:
            row.value, row.updated_by = after, actor.name
        record_event(session, None, "settings_changed", actor, subject="settings",
                     detail={"key": HOLD_RULES, "before": before, "after": after})
