"""The store as the UI sees it: one cached engine per URL, the schema checked once, a session per run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import streamlit as st
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from core.db import database_url, engine_for, new_session
from core.migrate import upgrade
from core.seed import DEMO_FLAG, demo_accounts_refusal, published_accounts_in_use

# Errors that mean "cannot talk to the database", as opposed to a bug in a query.
UNREACHABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError)

_current: ContextVar[Session | None] = ContextVar("opsdesk_ui_session", default=None)


@st.cache_resource(show_spinner=False)
def engine(url: str) -> Engine:
    """One engine (and connection pool) per database URL for the whole server process."""
    return engine_for(url)


@st.cache_resource(show_spinner=False)
def _prepared(url: str) -> bool:
    """Probe the database and create the schema if it is missing - once per process and URL.

    Raising keeps the result out of the cache, so an unreachable database is retried on the next run.
    """
    eng = engine(url)
    with eng.connect() as conn:
        present = inspect(conn).has_table("alembic_version")
    if not present:
        upgrade(url)
    return True


def unreachable_reason() -> str | None:
    """None when the database answers (and has a schema); otherwise why not, in one line."""
    try:
        _prepared(database_url())
    except UNREACHABLE as exc:
        return describe(exc)
    return None


@st.cache_resource(show_spinner=False, ttl=60)
def _demo_refusal(url: str, flag: str | None) -> str | None:
    backend = engine(url).dialect.name
    if backend == "sqlite":
        return None  # the local demo: no need to check the slow password hashes
    with new_session(engine(url)) as session:
        return demo_accounts_refusal(backend, published_accounts_in_use(session), flag)


def demo_accounts_problem() -> str | None:
    """Why this server must not serve (the published demo logins on a shared database), or None."""
    return _demo_refusal(database_url(), os.environ.get(DEMO_FLAG))


def describe(exc: Exception) -> str:
    """The driver's own message, first line only (no SQL, no traceback)."""
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


@contextmanager
def session_scope() -> Iterator[Session]:
    """The session of this script run, opened on first use and closed at the end of the run.

    Nested scopes share the outer session: ``app.py`` opens one around the page, and a fragment
    rerun (which does not run ``app.py``) opens its own. Losing the database mid-run shows a
    clear error and stops the run, instead of a traceback.
    """
    outer = _current.get()
    if outer is not None:
        yield outer
        return
    session = new_session(engine(database_url()))
    token = _current.set(session)
    try:
        yield session
    except UNREACHABLE as exc:
        st.error(f"The database is not reachable: {describe(exc)}")
        st.stop()  # end this run (or fragment run) here: nothing below can work without the store
    finally:
        _current.reset(token)
        session.close()
