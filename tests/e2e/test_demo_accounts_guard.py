"""The UI refuses to serve the published demo logins on a shared (non-SQLite) database unless told it is a demo."""

from __future__ import annotations

import pytest
import streamlit as st
from sqlalchemy import update

from core.auth import hash_password
from core.db import engine_for, new_session
from core.models import User
from core.seed import DEMO_ACCOUNTS, DEMO_FLAG, demo_accounts_refusal, published_accounts_in_use, seed_demo
from tests.e2e.conftest import app_for

pytestmark = pytest.mark.postgres


def test_the_rule_is_pure():
    assert demo_accounts_refusal("sqlite", ["ops"], None) is None  # the local demo
    assert demo_accounts_refusal("postgresql", [], None) is None
    assert demo_accounts_refusal("postgresql", ["ops"], "1") is None
    refusal = demo_accounts_refusal("postgresql", ["ops", "support"], None)
    assert refusal is not None and "ops, support" in refusal and DEMO_FLAG in refusal


def test_a_shared_database_with_the_demo_logins_is_refused_until_they_are_changed(monkeypatch, pg_url):
    with new_session(engine_for(pg_url)) as session:
        seed_demo(session)
        assert published_accounts_in_use(session) == sorted(a.username for a in DEMO_ACCOUNTS)
    st.cache_resource.clear()
    at = app_for(monkeypatch, pg_url).run()
    assert "published passwords" in at.error[0].value and not at.text_input  # no login form at all

    monkeypatch.setenv(DEMO_FLAG, "1")  # declared a demo: served
    at = app_for(monkeypatch, pg_url).run()
    assert [w.label for w in at.text_input] == ["Username", "Password"]
    monkeypatch.delenv(DEMO_FLAG)

    with new_session(engine_for(pg_url)) as session, session.begin():  # the operator changes every password
        for account in DEMO_ACCOUNTS:
            session.execute(update(User).where(User.username == account.username)
                            .values(password_hash=hash_password(f"{account.username}-own-secret-9")))
    with new_session(engine_for(pg_url)) as session:
        assert published_accounts_in_use(session) == []
    st.cache_resource.clear()
    at = app_for(monkeypatch, pg_url).run()
    assert not at.error and [w.label for w in at.text_input] == ["Username", "Password"]
