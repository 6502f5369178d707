"""Who is signed in: the login form, the current actor, the sidebar badge and the page guard."""

from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitAPIException

from core.auth import Actor, LoginFailed, authenticate
from core.enums import Permission
from core.ui_queries import current_account
from ui.db import session_scope
from ui.format import md_escape

ACTOR_KEY = "opsdesk_actor"
DISPLAY_NAME_KEY = "opsdesk_display_name"


def current_actor() -> Actor | None:
    """The signed-in actor of this browser session, re-read from the store on every run.

    An account deactivated meanwhile is signed out here; a changed role or time zone applies.
    """
    actor = st.session_state.get(ACTOR_KEY)
    if not isinstance(actor, Actor):
        return None
    with session_scope() as db:
        account = current_account(db, actor.user_id)
    if account is None:
        st.session_state.clear()
        return None
    st.session_state[ACTOR_KEY], st.session_state[DISPLAY_NAME_KEY] = account
    return account[0]


def login_page() -> None:
    """The only page a visitor who is not signed in can reach."""
    _, middle, _ = st.columns([1, 1.2, 1])
    with middle:
        st.title("OpsDesk")
        st.caption("Operations desk - sign in to continue.")
        with st.form("login", enter_to_submit=True):
            username = st.text_input("Username", autocomplete="username")
            password = st.text_input("Password", type="password", autocomplete="current-password")
            submitted = st.form_submit_button("Sign in", type="primary", width="stretch")
        if submitted:
            try:
                with session_scope() as db:
                    actor = authenticate(db, username or "", password or "")
            except LoginFailed as exc:
                st.error(str(exc))  # the same sentence whatever was wrong
                return
            st.session_state[ACTOR_KEY] = actor
            st.rerun()


def logout() -> None:
    """Forget everything about this browser session (a button callback)."""
    st.session_state.clear()
    st.query_params.clear()


def sidebar(actor: Actor) -> None:
    """Who is signed in, and the way out."""
    with st.sidebar:
        role = actor.role.label if actor.role else "no role"
        name = st.session_state.get(DISPLAY_NAME_KEY) or actor.name
        st.markdown(f"Signed in as **{md_escape(name)}**")
        st.caption(f"{md_escape(actor.name)} · {md_escape(role)} · times in {md_escape(actor.timezone)}")
        st.button("Log out", on_click=logout, icon=":material/logout:", width="stretch")


def no_screens() -> None:
    """What a signed-in user whose role has no screens sees."""
    st.warning("Your role has no screens in OpsDesk yet. Ask an admin.")


def require(permission: Permission) -> Actor:
    """The page guard: the signed-in actor if they may see this page; otherwise the page stops here.

    ``app.py`` only registers pages a role may see, but a pages/ script can still be started
    without it: on a freshly started server Streamlit runs the requested ``pages/*.py`` on its
    own until some session has called ``st.navigation``. So every page checks again.
    """
    actor = current_actor()
    if actor is None:
        try:
            # Through the login gate, keeping the link's parameters (e.g. ?order=42).
            st.switch_page("app.py", query_params=st.query_params.to_dict())
        except StreamlitAPIException:
            pass  # app.py is not a page under st.navigation: nothing more to show here
        st.stop()
    if not actor.can(permission):
        st.error(f"Your role ({actor.role.label if actor.role else 'none'}) may not open this page.")
        st.stop()
    return actor
