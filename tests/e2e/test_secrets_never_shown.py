"""A channel's secret lives only in the environment: polls that succeed, fail on the token, hit faults or find
nothing listening leave it in no log line, stored row, event, page or CSV export; passwords never show either."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from core.auth import Actor
from core.channels import add_channel
from core.connector_health import channel_health, dead_letters, recent_runs, set_channel_enabled
from core.db import engine_for, new_session
from core.enums import ChannelKind, Role
from core.models import Base
from jobs.poll import poll_channel
from sandbox import FaultConfig, lwa_api
from tests.channel_sandbox import Clock, clock, sandbox  # noqa: F401 - fixtures
from tests.e2e.conftest import ROOT, free_port, sign_in
from tests.e2e.test_page_access import run_alone
from ui import format

SECRET = "shpat_S3cr3tV4lue_9f8e7d6c5b4a"  # what the shop's token env var holds (and the LWA client secret)
WRONG = "shpat_Wr0ngV4lue_1a2b3c4d5e6f"  # a secret the sandbox refuses
# Login with Amazon's refresh token, and the prefix of every access token it is exchanged for: secrets too.
LWA_SECRETS = (lwa_api.REFRESH_TOKEN, "Atza|sandbox")
ADMIN = Actor("ada", role=Role.ADMIN)


def leaks(blob: str | bytes) -> list[str]:
    data = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob
    return [s for s in (SECRET, WRONG, SECRET[:16], WRONG[:16], *LWA_SECRETS) if s in data]


@pytest.fixture
def polled(monkeypatch, tmp_path, sandbox, clock: Clock, caplog) -> Iterator[str]:  # noqa: F811
    """Channels polled once each (ok, refused token, server errors, nothing listening; an Amazon channel through
    Login with Amazon, ok and with a refused client secret), logs captured."""
    url = f"sqlite:///{tmp_path / 'opsdesk.db'}"
    from core.migrate import upgrade
    from core.seed import seed_demo

    upgrade(url)
    monkeypatch.setenv("OPSDESK_DATABASE_URL", url)
    monkeypatch.setenv("LEAKY_SHOP_TOKEN", SECRET)
    monkeypatch.setenv("WRONG_SHOP_TOKEN", WRONG)
    monkeypatch.setenv("LWA_CLIENT_ID", lwa_api.CLIENT_ID)
    monkeypatch.setenv("LWA_REFRESH_TOKEN", lwa_api.REFRESH_TOKEN)
    good = sandbox(token=SECRET, orders_per_minute=30.0, backlog=12, faults=FaultConfig(malformed_rate=0.3))
    flaky = sandbox(token=SECRET, backlog=5, faults=FaultConfig(rate_5xx=1.0))
    with new_session(engine_for(url)) as session:
        seed_demo(session)
        for code, base, env in (("good-shop", good.url, "LEAKY_SHOP_TOKEN"), ("bad-token", good.url, "WRONG_SHOP_TOKEN"),
                                ("flaky-shop", flaky.url, "LEAKY_SHOP_TOKEN"),
                                ("nobody-home", f"http://127.0.0.1:{free_port()}", "LEAKY_SHOP_TOKEN")):
            add_channel(session, code, kind=ChannelKind.SHOPIFY, base_url=base, token_env=env)
        for code, secret_env in (("amazon-lwa", "LEAKY_SHOP_TOKEN"), ("amazon-bad-lwa", "WRONG_SHOP_TOKEN")):
            add_channel(session, code, kind=ChannelKind.AMAZON, base_url=good.url,
                        token_env=f"LWA_CLIENT_ID:{secret_env}:LWA_REFRESH_TOKEN",
                        settings={"lwa_url": good.url + lwa_api.PATH, "first_sync_days": 3650})
    caplog.set_level(logging.DEBUG)
    codes = ("good-shop", "amazon-lwa", "bad-token", "flaky-shop", "nobody-home", "amazon-bad-lwa")
    reports = [poll_channel(code) for code in codes]
    assert all(r.error is None and r.result.written > 0 for r in reports[:2]), [str(r) for r in reports]
    assert reports[0].result.rejected > 0  # orders and dead letters stored
    assert all(r.error for r in reports[2:]), [str(r) for r in reports]  # each failure path was taken
    yield url


def test_a_channel_secret_is_in_no_log_row_event_or_export(polled, caplog):
    url = polled
    assert leaks("\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)) == []
    with new_session(engine_for(url)) as session:
        set_channel_enabled(session, 1, False, actor=ADMIN)  # an admin event on the channel too
        for table in Base.metadata.sorted_tables:  # every stored row, events and runs and dead letters included
            rows = session.execute(text(f'SELECT * FROM "{table.name}"')).all()
            assert leaks(repr(rows)) == [], table.name
        now = datetime.now(UTC)
        health = channel_health(session, now=now)
        exports = [format.csv_bytes(format.health_table(health, "UTC"))]
        for channel_id in health["channel_id"]:
            exports.append(format.csv_bytes(format.runs_table(recent_runs(session, int(channel_id)), "UTC")))
            exports.append(format.csv_bytes(format.letters_table(dead_letters(session, int(channel_id)), "UTC")))
    assert all(leaks(csv) == [] for csv in exports)


def page_text(at: AppTest, *, inputs: bool = True) -> str:
    """What a page shows: text elements, tables and (unless told not to) widget values."""
    parts = []
    for kind in ("title", "subheader", "markdown", "caption", "error", "warning", "info", "success", "code", "json",
                 "text"):
        parts += [str(e.value) for e in at.get(kind)]
    parts += [e.value.to_csv() for e in at.dataframe]
    if inputs:
        parts += [str(getattr(e, "value", "")) for e in (*at.text_input, *at.selectbox)]
    return "\n".join(parts)


def test_admin_pages_show_the_variable_name_never_its_value_or_a_password_hash_and_logins_echo_nothing(
        monkeypatch, polled, caplog):
    from sqlalchemy import select

    from core.auth import actor_for
    from core.models import User

    with new_session(engine_for(polled)) as session:
        admin = actor_for(session.scalar(select(User).where(User.username == "admin")))
    for page in ("connectors.py", "channels.py", "users.py"):
        at = run_alone(monkeypatch, polled, ROOT / "pages" / page, admin)
        assert not at.exception, at.exception
        shown = page_text(at)
        assert shown and leaks(shown) == [], page
        assert "$argon2" not in shown and "demo-pass" not in shown, page
        if page == "channels.py":
            assert "LEAKY_SHOP_TOKEN" in shown  # the name is shown, so people know what to set

    # Someone types the secret as a password: it is echoed in no message, log line or stored row.
    caplog.clear()
    at = sign_in(AppTest.from_file(str(ROOT / "app.py"), default_timeout=30), "admin", SECRET)
    assert [e.value for e in at.error] == ["Unknown user or wrong password."]
    assert leaks(page_text(at, inputs=False)) == []
    assert leaks("\n".join(r.getMessage() for r in caplog.records)) == []
    with new_session(engine_for(polled)) as session:
        assert leaks(repr(session.execute(text("SELECT * FROM users")).all())) == []
