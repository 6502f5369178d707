"""User administration (admin): list accounts, change a role or time zone, deactivate, reset a password.

Every change is an event naming who did it. An admin cannot lock the desk out: the last active
admin can be neither demoted nor deactivated, and nobody deactivates their own account.
A deactivated user is signed out at their next click (``ui.auth.current_actor`` re-reads the account).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.auth import Actor, hash_password
from core.db import writing
from core.enums import Permission, Role
from core.errors import InvalidInput, NotFound
from core.events import plain_value, record_event
from core.models import User


def user_table(session: Session) -> pd.DataFrame:
    """Every account: who, role, time zone, active, failed sign-ins (never a password hash)."""
    rows = session.execute(
        select(User.id, User.username, User.display_name, User.role, User.timezone, User.active, User.failed_logins,
               User.created_at).order_by(User.username)
    ).all()
    return pd.DataFrame([(i, u, d, r.label, tz, a, f, c) for i, u, d, r, tz, a, f, c in rows],
                        columns=["id", "username", "name", "role", "timezone", "active", "failed_logins", "created_at"])


def update_user(session: Session, user_id: int, *, actor: Actor, role: Role | None = None,
                timezone: str | None = None, active: bool | None = None, display_name: str | None = None) -> list[str]:
    """Change what is given; returns what changed, in words. Refuses to leave the desk without an active admin."""
    actor.require(Permission.MANAGE_USERS)
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ValueError, KeyError):
            raise InvalidInput(f"Unknown time zone {timezone!r}.") from None
    with writing(session):
        user = session.get(User, user_id, populate_existing=True, with_for_update=True)
        if user is None:
            raise NotFound(f"No user with id {user_id}.")
        if active is False and actor.user_id == user.id:
            raise InvalidInput("You cannot deactivate your own account.")
        losing_admin = user.role is Role.ADMIN and user.active and (
            (role is not None and role is not Role.ADMIN) or active is False)
        if losing_admin and _active_admins(session) <= 1:
            raise InvalidInput(f"{user.username} is the last active admin; make someone else admin first.")
        changes = {}
        for field, value in (("role", role), ("timezone", timezone), ("active", active),
                             ("display_name", display_name)):
            if value is not None and getattr(user, field) != value:
                changes[field] = (plain_value(getattr(user, field)), plain_value(value))
                setattr(user, field, value)
        if changes:
            record_event(session, None, "user_changed", actor, subject="user",
                         detail={"username": user.username, **{k: {"before": b, "after": a}
                                                               for k, (b, a) in changes.items()}})
    return [f"{k}: {b} -> {a}" for k, (b, a) in changes.items()]


def reset_password(session: Session, user_id: int, new_password: str, *, actor: Actor) -> None:
    """Set a new password (told to the user out of band); their failed-login count starts again."""
    actor.require(Permission.MANAGE_USERS)
    digest = hash_password(new_password)  # refuses a short one before anything changes
    with writing(session):
        user = session.get(User, user_id, populate_existing=True)
        if user is None:
            raise NotFound(f"No user with id {user_id}.")
        user.password_hash, user.failed_logins = digest, 0
        record_event(session, None, "password_reset", actor, subject="user", detail={"username": user.username})


def _active_admins(session: Session) -> int:
    return session.scalar(select(func.count()).where(User.role == Role.ADMIN, User.active.is_(True))) or 0


