"""Shared fixtures: a migrated database on SQLite or on the real PostgreSQL, and helpers to fill it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from core.db import engine_for, new_session
from core.migrate import upgrade

# Property tests (tests/hostile.py): bounded so the suite stays fast; fixed examples in CI so a run repeats.
settings.register_profile("opsdesk", max_examples=150, deadline=None, derandomize=bool(os.environ.get("CI")),
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                 HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "opsdesk"))

PG_ADMIN_URL = os.environ.get("OPSDESK_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def sqlite_database(directory: Path) -> str:
    url = f"sqlite:///{directory / 'opsdesk.db'}"
    upgrade(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file at the latest migration."""
    return sqlite_database(tmp_path)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A throwaway database on the PostgreSQL server, at the latest migration; dropped afterwards."""
    name = f"opsdesk_t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # in CI this must not be skipped: fail loudly with the reason
        admin.dispose()
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is not usable: {exc}")
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    engine_for(url).dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def db(db_url: str) -> Iterator[Session]:
    session = new_session(engine_for(db_url))
    yield session
    session.close()


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Session]:
    session = new_session(engine_for(sqlite_url))
    yield session
    session.close()


# --- Counting the tests that must really run in CI -------------------------------------------
_COUNTED = ("postgres", "browser")
_passed = dict.fromkeys(_COUNTED, 0)
_not_passed = dict.fromkeys(_COUNTED, 0)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for marker in _COUNTED:
        if marker not in report.keywords:
            continue
        if report.when == "call" and report.passed:
            _passed[marker] += 1
        elif report.skipped or report.failed:
            _not_passed[marker] += 1


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    terminalreporter.write_line(
        f"OpsDesk: postgres tests passed: {_passed['postgres']} (not passed: {_not_passed['postgres']}); "
        f"browser tests passed: {_passed['browser']} (not passed: {_not_passed['browser']})"
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # In CI the PostgreSQL and Chromium tests must run: none passing, or any skipped, fails the run.
    if os.environ.get("CI") and session.config.getoption("markexpr", "") == "" and not session.config.args[1:]:
        if exitstatus == 0 and (min(_passed.values()) == 0 or any(_not_passed.values())):
            session.exitstatus = 1
