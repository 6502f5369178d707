"""Every page with every role and with no login (AppTest): a screen the role may not open is neither
registered nor shown when its script is started directly; what a role may open is read from the one map."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.auth import Actor, actor_for
from core.db import engine_for, new_session
from core.enums import Permission, Role
from core.models import User
from tests.e2e.conftest import APPTEST_TIMEOUT, PASSWORDS, ROOT
from ui import nav
from ui.auth import ACTOR_KEY

ROLES = [role.value for role in Role]
PAGE_FILES = sorted((ROOT / "pages").glob("*.py"))


def required_permission(path: Path) -> Permission:
    """The permission a page script asks ``auth.require`` for (its own guard, read from its source)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "require"
                and node.args and isinstance(node.args[0], ast.Attribute)):
            return Permission[node.args[0].attr]
    raise AssertionError(f"{path.name} has no auth.require(...) guard")


def actor_of(url: str, role: str) -> Actor:
    with new_session(engine_for(url)) as session:
        return actor_for(session.scalar(select(User).where(User.username == PASSWORDS[role][0])))


def run_alone(monkeypatch: pytest.MonkeyPatch, url: str, path: Path, actor: Actor | None) -> AppTest:
    """Start a pages/ script without app.py, as a freshly started server does for a first request to its URL."""
    monkeypatch.setenv("OPSDESK_DATABASE_URL", url)
    at = AppTest.from_file(str(path), default_timeout=APPTEST_TIMEOUT)
    if actor is not None:
        at.session_state[ACTOR_KEY] = actor
    return at.run()


def shown(at: AppTest) -> list[object]:
    """Everything of substance a page put on screen (content, not the refusal)."""
    return [*at.title, *at.subheader, *at.dataframe, *at.table, *at.metric, *at.button, *at.text_input,
            *at.selectbox, *at.markdown, *at.get("download_button")]


LOGIN_FORM = {"OpsDesk", "Operations desk - sign in to continue.", "Username", "Password", "Sign in"}


def nothing_but_the_login_form(at: AppTest) -> bool:
    """The visitor sees at most the sign-in form (or an empty page): nothing of the screen asked for."""
    seen = [getattr(e, "value", None) if not hasattr(e, "label") else e.label for e in shown(at)]
    return set(map(str, seen)) <= LOGIN_FORM and not (at.dataframe or at.table or at.metric)


def test_every_page_guards_itself_with_the_permission_its_menu_entry_names():
    listed = {(ROOT / s.path).resolve(): s.permission for s in nav.SCREENS}
    for path in PAGE_FILES:
        permission = required_permission(path)  # fails for a page without a guard
        if path.resolve() in listed:
            assert permission is listed[path.resolve()], path.name


@pytest.mark.parametrize("role", ROLES)
def test_a_role_reaches_exactly_the_screens_its_permissions_allow(role, signed_in):
    at = signed_in(role)
    assert not at.exception
    actor = Actor("probe", role=Role(role))
    allowed = [s for s in nav.SCREENS if actor.can(s.permission)]
    # Checked straight after signing in, while AppTest knows the pages app.py registered.
    for screen in nav.SCREENS:
        if screen not in allowed:
            with pytest.raises(ValueError, match="Could not find a navigation page"):
                at.switch_page(screen.path)  # not registered for this role: no address leads there
    for screen in allowed:
        at.switch_page(screen.path).run()
        assert not at.exception, (screen.key, at.exception)
        assert screen.title in [t.value for t in at.title], screen.key
        assert not [e.value for e in at.error if "may not open this page" in e.value]


@pytest.mark.parametrize("role", ROLES)
def test_a_page_started_directly_refuses_a_role_without_its_permission(monkeypatch, shop, role):
    actor = actor_of(shop.url, role)
    refused = [p for p in PAGE_FILES if not actor.can(required_permission(p))]
    for path in refused:
        at = run_alone(monkeypatch, shop.url, path, actor)
        assert not at.exception, (path.name, at.exception)
        assert [e.value for e in at.error] == [f"Your role ({Role(role).label}) may not open this page."], path.name
        assert shown(at) == [], path.name


@pytest.mark.parametrize("path", PAGE_FILES, ids=[p.stem for p in PAGE_FILES])
def test_a_page_started_directly_without_a_login_shows_nothing_of_itself(monkeypatch, shop, path):
    at = run_alone(monkeypatch, shop.url, path, None)
    assert not at.exception, at.exception
    assert nothing_but_the_login_form(at) and not at.error


@pytest.mark.parametrize("role", ["support", "clerk"])
def test_a_forged_actor_with_a_higher_role_is_replaced_by_the_stored_account(monkeypatch, shop, role):
    # The session keeps only who signed in; the role is read again from the store on every run.
    forged = Actor(actor_of(shop.url, role).name, role=Role.ADMIN, user_id=actor_of(shop.url, role).user_id)
    at = run_alone(monkeypatch, shop.url, ROOT / "pages" / "users.py", forged)
    assert [e.value for e in at.error] == [f"Your role ({Role(role).label}) may not open this page."]
    assert shown(at) == []


def test_after_logging_out_no_screen_is_registered_and_no_page_shows_anything(monkeypatch, signed_in, shop):
    at = signed_in("admin")  # the admin may open every screen (test above)
    assert at.title and ACTOR_KEY in at.session_state
    next(b for b in at.sidebar.button if b.label == "Log out").click().run()
    assert ACTOR_KEY not in at.session_state
    assert [w.label for w in at.text_input] == ["Username", "Password"]
    for screen in nav.SCREENS:
        with pytest.raises(ValueError):
            at.switch_page(screen.path)
    # The same browser session asking for a page script afterwards gets nothing either.
    assert nothing_but_the_login_form(run_alone(monkeypatch, shop.url, ROOT / "pages" / "users.py", None))
