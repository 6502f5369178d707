"""The admin's Users page through AppTest: add an account, change a role, and the last-admin guard."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.auth import Actor
from core.db import engine_for, new_session
from core.enums import Role
from core.models import User
from tests.e2e.conftest import PASSWORDS, app_for, sign_in
from tests.e2e.test_app_pages import plain
from ui import nav

PAGE = "pages/users.py"


def admin_page(monkeypatch, url: str):  # type: ignore[no-untyped-def]
    at = sign_in(app_for(monkeypatch, url), *PASSWORDS["admin"])
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def test_an_admin_adds_a_user_who_can_then_sign_in(monkeypatch, fresh_shop):
    at = admin_page(monkeypatch, fresh_shop.url)
    fields = {w.label: w for w in at.text_input}
    fields["Username"].set_value("Nora")
    fields["Name shown on the desk"].set_value("Nora North")
    next(w for w in at.selectbox if w.key == "add_role").set_value(Role.SUPPORT)
    next(w for w in at.text_input if w.label.startswith("First password")).set_value("nora-pass-42")
    next(b for b in at.button if b.label == "Add user").click().run()
    assert "Added nora (Support)." in plain(at.success[0].value)
    assert "nora" in at.dataframe[0].value["Username"].tolist()
    signed = sign_in(app_for(monkeypatch, fresh_shop.url), "nora", "nora-pass-42")
    assert [t.value for t in signed.title] == ["Order lookup"]  # support's landing page


def test_the_last_admin_cannot_step_down(monkeypatch, fresh_shop):
    at = admin_page(monkeypatch, fresh_shop.url)
    with new_session(engine_for(fresh_shop.url)) as db:
        admin_id = db.scalar(select(User.id).where(User.username == "admin"))
    next(w for w in at.selectbox if w.key == "change_user").set_value(admin_id).run()
    next(w for w in at.selectbox if w.label == "Role" and w.key != "add_role").set_value(Role.OPS_LEAD)
    next(b for b in at.button if b.label == "Save changes").click().run()
    assert "last active admin" in plain(at.error[0].value)
    with new_session(engine_for(fresh_shop.url)) as db:
        assert db.scalar(select(User.role).where(User.id == admin_id)) is Role.ADMIN


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN])
def test_only_an_admin_sees_the_page(role):
    assert "users" not in [s.key for s in nav.screens_for(Actor("x", role=role))]
