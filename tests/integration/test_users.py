"""User administration on the store (SQLite and PostgreSQL): changes with events, and no lock-out."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.auth import Actor, LoginFailed, add_user, authenticate
from core.enums import Role
from core.errors import InvalidInput, NotAllowed
from core.models import Event
from core.users import reset_password, update_user, user_table


def no_wait(_seconds: float) -> None:
    return None


@pytest.fixture
def staff(db):  # type: ignore[no-untyped-def]
    admin = add_user(db, "ada", "ada-pass-123", Role.ADMIN)
    olivia = add_user(db, "olivia", "olivia-pass-1", Role.OPS_LEAD)
    return Actor("ada", role=Role.ADMIN, user_id=admin.id), admin.id, olivia.id


def test_an_admin_changes_role_zone_and_access_and_each_change_is_an_event(db, staff):
    admin, _, olivia = staff
    changed = update_user(db, olivia, actor=admin, role=Role.MANAGER, timezone="Europe/Berlin")
    assert changed == ["role: ops_lead -> manager", "timezone: UTC -> Europe/Berlin"]
    assert update_user(db, olivia, actor=admin, role=Role.MANAGER) == []  # nothing to change
    update_user(db, olivia, actor=admin, active=False)
    with pytest.raises(LoginFailed):
        authenticate(db, "olivia", "olivia-pass-1", sleep=no_wait)
    kinds = list(db.scalars(select(Event.detail).where(Event.kind == "user_changed").order_by(Event.id)))
    assert kinds[0]["role"] == {"before": "ops_lead", "after": "manager"} and kinds[1]["active"]["after"] is False
    table = user_table(db).set_index("username")
    assert table.loc["olivia", ["role", "timezone", "active"]].tolist() == ["Manager", "Europe/Berlin", False]
    assert "password_hash" not in table.columns


def test_nobody_locks_the_desk_out(db, staff):
    admin, admin_id, olivia = staff
    with pytest.raises(InvalidInput, match="own account"):
        update_user(db, admin_id, actor=admin, active=False)
    with pytest.raises(InvalidInput, match="last active admin"):
        update_user(db, admin_id, actor=admin, role=Role.OPS_LEAD)
    update_user(db, olivia, actor=admin, role=Role.ADMIN)  # a second admin: now the first may step down
    assert update_user(db, admin_id, actor=admin, role=Role.MANAGER) == ["role: admin -> manager"]
    with pytest.raises(InvalidInput, match="Unknown time zone"):
        update_user(db, olivia, actor=admin, timezone="Mars/Olympus")


def test_a_password_reset_works_once_told_and_only_admins_do_it(db, staff):
    admin, _, olivia = staff
    with pytest.raises(NotAllowed):
        reset_password(db, olivia, "new-secret-99", actor=Actor("olivia", role=Role.OPS_LEAD, user_id=olivia))
    with pytest.raises(InvalidInput, match="at least 8"):
        reset_password(db, olivia, "short", actor=admin)
    reset_password(db, olivia, "new-secret-99", actor=admin)
    assert authenticate(db, "olivia", "new-secret-99", sleep=no_wait).name == "olivia"
    with pytest.raises(LoginFailed):
        authenticate(db, "olivia", "olivia-pass-1", sleep=no_wait)
    assert db.scalar(select(Event.kind).where(Event.kind == "password_reset")) == "password_reset"
    assert "new-secret-99" not in str(list(db.scalars(select(Event.detail))))  # never in an event
