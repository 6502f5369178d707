"""Built-in accounts: slow salted hashes, failures slowed down, permissions checked in core."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.auth import Actor, LoginFailed, add_user, authenticate
from core.channels import add_channel
from core.enums import ROLE_PERMISSIONS, ChannelKind, Permission, Role
from core.errors import InvalidInput, NotAllowed
from core.models import Event, User


def test_a_password_is_stored_only_as_a_salted_argon2_hash(sqlite_db):
    add_user(sqlite_db, "Ada", "correct horse", Role.OPS_LEAD)
    add_user(sqlite_db, "bob", "correct horse", Role.SUPPORT)
    hashes = list(sqlite_db.scalars(select(User.password_hash)))
    assert all(h.startswith("$argon2id$") and "correct horse" not in h for h in hashes)
    assert hashes[0] != hashes[1]  # same password, different salt


def test_the_right_password_signs_in_with_the_users_role(sqlite_db):
    add_user(sqlite_db, "ada", "correct horse", Role.OPS_LEAD)
    actor = authenticate(sqlite_db, "ADA ", "correct horse", sleep=lambda s: None)
    assert actor.name == "ada" and actor.role is Role.OPS_LEAD and actor.can(Permission.RELEASE_HOLD)


def test_a_wrong_password_or_unknown_user_gets_the_same_answer(sqlite_db):
    add_user(sqlite_db, "ada", "correct horse", Role.OPS_LEAD)
    with pytest.raises(LoginFailed) as wrong:
        authenticate(sqlite_db, "ada", "wrong horse", sleep=lambda s: None)
    with pytest.raises(LoginFailed) as unknown:
        authenticate(sqlite_db, "nobody", "wrong horse", sleep=lambda s: None)
    assert str(wrong.value) == str(unknown.value) == "Unknown user or wrong password."


def test_repeated_failures_are_slowed_down_and_a_success_resets_them(sqlite_db):
    add_user(sqlite_db, "ada", "correct horse", Role.OPS_LEAD)
    waits: list[float] = []
    for _ in range(5):
        with pytest.raises(LoginFailed):
            authenticate(sqlite_db, "ada", "nope nope", sleep=waits.append)
    assert waits[-1] > waits[2] > 0
    authenticate(sqlite_db, "ada", "correct horse", sleep=waits.append)
    assert sqlite_db.scalar(select(User.failed_logins)) == 0


def test_short_passwords_and_odd_usernames_are_refused(sqlite_db):
    with pytest.raises(InvalidInput, match="at least 8"):
        add_user(sqlite_db, "ada", "short", Role.OPS_LEAD)
    with pytest.raises(InvalidInput, match="letters, digits"):
        add_user(sqlite_db, "<script>", "long enough", Role.OPS_LEAD)


@pytest.mark.parametrize("role", list(Role))
def test_only_admins_may_add_users_and_channels(sqlite_db, role):
    actor = Actor(name=f"someone-{role.value}", role=role)
    allowed = role is Role.ADMIN
    for action in (
        lambda: add_user(sqlite_db, f"new-{role.value}", "long enough", Role.SUPPORT, actor=actor),
        lambda: add_channel(sqlite_db, f"ch-{role.value.replace('_', '-')}", kind=ChannelKind.SHOPIFY,
                            base_url="http://127.0.0.1:1", token_env="X_TOKEN", actor=actor),
    ):
        if allowed:
            action()
        else:
            with pytest.raises(NotAllowed):
                action()
    assert (sqlite_db.scalar(select(Event.id).where(Event.actor_name == actor.name)) is not None) == allowed


def test_every_role_can_see_orders_and_only_admins_hold_every_permission():
    assert all(Permission.VIEW_ORDERS in perms for perms in ROLE_PERMISSIONS.values())
    assert ROLE_PERMISSIONS[Role.ADMIN] == frozenset(Permission)
    assert Permission.RELEASE_HOLD not in ROLE_PERMISSIONS[Role.SUPPORT]
    assert ROLE_PERMISSIONS[Role.MANAGER] == {Permission.VIEW_ORDERS, Permission.VIEW_KPIS}


def test_a_channel_secret_is_named_never_stored(sqlite_db):
    with pytest.raises(InvalidInput, match="NAME of an environment variable"):
        add_channel(sqlite_db, "shop", kind=ChannelKind.SHOPIFY, base_url="https://x.example",
                    token_env="shpat_1234567890abcdef")
