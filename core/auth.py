"""Who is acting: users, roles, permissions and password checks.

Passwords are kept only as Argon2id hashes (salted, memory-hard). Repeated failures slow
the next attempt down. Every mutating core function calls ``actor.require(...)``: the check
lives on the server side, hiding a button is not a check.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import writing
from core.enums import ROLE_PERMISSIONS, ActorKind, Permission, Role
from core.errors import DomainError, InvalidInput, NotAllowed
from core.events import record_event
from core.models import User, utcnow

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True)
class Actor:
    """Whoever does something: a signed-in user, the worker, a channel, or the system."""

    name: str
    kind: ActorKind = ActorKind.USER
    role: Role | None = None
    user_id: int | None = None
    timezone: str = "UTC"

    def can(self, permission: Permission) -> bool:
        if self.kind is not ActorKind.USER:
            return True  # the worker and channels act on rules, not on roles
        return self.role is not None and permission in ROLE_PERMISSIONS[self.role]

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            role = self.role.label if self.role else "no role"
            raise NotAllowed(f"{self.name} ({role}) may not {permission.label.lower()}.")


WORKER = Actor(name="worker", kind=ActorKind.WORKER)
SYSTEM = Actor(name="system", kind=ActorKind.SYSTEM)


def channel_actor(code: str) -> Actor:
    return Actor(name=f"channel:{code}", kind=ActorKind.CHANNEL)


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    return _hasher.hash(password)


def actor_for(user: User) -> Actor:
    return Actor(name=user.username, role=user.role, user_id=user.id, timezone=user.timezone)


class LoginFailed(DomainError):
    def __init__(self) -> None:
        super().__init__("Unknown user or wrong password.")


def _failure_delay(failed_logins: int) -> float:
    """Seconds to wait before answering, growing with consecutive failures (capped)."""
    return 0.0 if failed_logins < 3 else min(0.5 * 2 ** (failed_logins - 3), 8.0)


def password_matches(user: User, password: str) -> bool:
    """Whether a stored account still has this password (a slow check: argon2)."""
    if not user.password_hash:
        return False
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate(session: Session, username: str, password: str, *, sleep=time.sleep) -> Actor:
    """Check a built-in account's password; slow down repeated failures; never say which part was wrong."""
    name = username.strip().lower()
    # Wait before taking the write lock, so a password guesser cannot stall other writers.
    failures = session.scalar(select(User.failed_logins).where(User.username == name)) or 0
    if failures:
        sleep(_failure_delay(failures))
    with writing(session):
        user = session.scalar(select(User).where(User.username == name))
        ok = False
        if user is not None and user.active and user.password_hash:
            try:
                ok = _hasher.verify(user.password_hash, password)
            except (VerificationError, InvalidHashError):
                ok = False
        else:
            _hasher.hash(password or "x")  # spend the same time whether or not the user exists
        if not ok:
            if user is not None:
                user.failed_logins += 1
                user.last_failed_at = utcnow()
        else:
            user.failed_logins = 0
            if _hasher.check_needs_rehash(user.password_hash):
                user.password_hash = _hasher.hash(password)
    if not ok:
        raise LoginFailed()
    return actor_for(user)


def add_user(
    session: Session, username: str, password: str, role: Role, *, display_name: str | None = None,
    timezone: str = "UTC", actor: Actor = SYSTEM,
) -> User:
    """Create a built-in account (admin only when done by a person)."""
    actor.require(Permission.MANAGE_USERS)
    name = username.strip().lower()
    if not name or not name.replace(".", "").replace("_", "").replace("-", "").replace("@", "").isalnum():
        raise InvalidInput("A username is letters, digits and . _ - @ only.")
    with writing(session):
        if session.scalar(select(User.id).where(User.username == name)) is not None:
            raise InvalidInput(f"User {name} already exists.")
        user = User(username=name, display_name=display_name or name, role=role,
                    password_hash=hash_password(password), timezone=timezone)
        session.add(user)
        session.flush()
        record_event(session, None, "user_added", actor, subject="user",
                     detail={"username": name, "role": role.value, "display_name": user.display_name,
                             "timezone": timezone})
    return user
