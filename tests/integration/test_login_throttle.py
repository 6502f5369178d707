"""Failed logins: counted and timed per account, answered ever more slowly (capped), reset by a success."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.auth import LoginFailed, _failure_delay, add_user, authenticate
from core.enums import Role
from core.models import Event, User, utcnow


def failures(db, name: str) -> tuple[int, object]:  # type: ignore[no-untyped-def]
    db.commit()
    return tuple(db.execute(select(User.failed_logins, User.last_failed_at).where(User.username == name)).one())


def test_each_failure_is_recorded_on_that_account_only_with_its_time(db):
    add_user(db, "ada", "correct horse", Role.OPS_LEAD)
    add_user(db, "bob", "battery staple", Role.SUPPORT)
    started = utcnow()
    for _ in range(4):
        with pytest.raises(LoginFailed):
            authenticate(db, "ada", "guess guess", sleep=lambda s: None)
    count, when = failures(db, "ada")
    when = when if when.tzinfo else when.replace(tzinfo=started.tzinfo)
    assert count == 4 and when >= started
    assert failures(db, "bob") == (0, None)
    waits: list[float] = []
    authenticate(db, "bob", "battery staple", sleep=waits.append)  # another account is not slowed down
    assert waits == []


def test_the_wait_grows_with_each_failure_and_is_capped():
    delays = [_failure_delay(n) for n in range(12)]
    assert delays[:3] == [0.0, 0.0, 0.0]  # a typo or two costs nothing
    assert all(a < b for a, b in zip(delays[3:7], delays[4:8], strict=True))
    assert max(delays) == 8.0 and delays[-1] == 8.0


def test_a_guesser_waits_before_every_answer_even_with_the_right_password(db):
    add_user(db, "ada", "correct horse", Role.OPS_LEAD)
    for _ in range(5):
        with pytest.raises(LoginFailed):
            authenticate(db, "ada", "guess guess", sleep=lambda s: None)
    waits: list[float] = []
    authenticate(db, "ada", "correct horse", sleep=waits.append)
    assert waits == [_failure_delay(5)] and waits[0] > 0
    assert failures(db, "ada")[0] == 0


def test_a_deactivated_account_cannot_sign_in_and_unknown_names_leave_no_trace(db):
    user = add_user(db, "ada", "correct horse", Role.OPS_LEAD)
    with db.begin():
        db.get(User, user.id).active = False
    with pytest.raises(LoginFailed):
        authenticate(db, "ada", "correct horse", sleep=lambda s: None)
    db.commit()
    events = db.scalar(select(func.count()).select_from(Event))
    users = db.scalar(select(func.count()).select_from(User))
    with pytest.raises(LoginFailed):
        authenticate(db, "nobody", "correct horse", sleep=lambda s: None)
    db.commit()
    assert db.scalar(select(func.count()).select_from(User)) == users
    assert db.scalar(select(func.count()).select_from(Event)) == events
