"""Database trouble: SQLite held locked past the busy timeout, PostgreSQL unreachable for a while.

The worker keeps going through both (its jobs fail, are logged, and run again), takes its
PostgreSQL lock again after the session dropped, and when the database is back it catches
up: compared with a clean read of the sandbox, nothing is lost or duplicated. While
PostgreSQL is away the UI says so in one line instead of a traceback.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy.engine import make_url

from tests.e2e.conftest import PASSWORDS, app_for, sign_in
from tests.reliability.harness import (
    EVERY_FAULT,
    SECONDS,
    CuttableProxy,
    clean_read,
    compare,
    invariants,
    locked_sqlite,
    new_store,
    sandbox_world,
    wait_until,
    worker,
)

pytestmark = pytest.mark.reliability
OUTAGE_S = 18  # longer than SQLite's 15 s busy timeout, so writes really fail


def _settle(server, clock, url, tmp_path, monkeypatch, running):  # type: ignore[no-untyped-def]
    clock.freeze()
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    clean_read(server, clean, monkeypatch)
    caught_up = wait_until(lambda: compare(url, clean).lost == 0, timeout=120, every=2)
    code = running.stop()
    return compare(url, clean), caught_up, code


def test_sqlite_locked_longer_than_the_busy_timeout(tmp_path, monkeypatch, figures):
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    log = tmp_path / "worker.log"
    with sandbox_world(EVERY_FAULT, seed=21) as (server, clock):
        new_store(url, server.url)
        running = worker(url, log).start()
        time.sleep(max(3.0, SECONDS / 4))
        with locked_sqlite(url):
            time.sleep(OUTAGE_S)
        assert running.alive(), log.read_text()[-3000:]
        time.sleep(max(5.0, SECONDS / 2))
        result, caught_up, code = _settle(server, clock, url, tmp_path, monkeypatch, running)
    text = log.read_text()
    failures = text.count("database is locked")
    figures(scenario="database: SQLite locked 18 s", orders=result.orders, scans=result.scans, faults=failures,
            survived=failures if result.lost == result.duplicated == 0 else 0, writers=2, lost=result.lost,
            duplicated=result.duplicated)
    assert failures > 0, "the lock never got in the worker's way: the scenario proved nothing"
    assert caught_up and (result.lost, result.duplicated) == (0, 0), result.detail
    assert code == 0 and invariants(url) == []


@pytest.mark.postgres
def test_postgres_unreachable_then_back(pg_url, tmp_path, monkeypatch, figures):
    real = make_url(pg_url)
    proxy = CuttableProxy((real.host or "127.0.0.1", real.port or 5432))
    url = real.set(port=proxy.port).render_as_string(hide_password=False)
    log = tmp_path / "worker.log"
    try:
        with sandbox_world(EVERY_FAULT, seed=22) as (server, clock):
            new_store(url, server.url)
            running = worker(url, log).start()
            time.sleep(max(4.0, SECONDS / 4))
            monkeypatch.setenv("OPSDESK_DEMO", "1")  # the demo accounts, on a shared database, knowingly
            username, password = PASSWORDS["support"]
            at = sign_in(app_for(monkeypatch, url), username, password)
            assert not at.exception
            proxy.cut()
            time.sleep(2)
            at.run()
            shown = " ".join(e.value for e in at.error)
            assert not at.exception and "database is not reachable" in shown, (shown, at.exception)
            time.sleep(OUTAGE_S)
            proxy.restore()
            at.run()
            assert not at.exception and not at.error  # back by itself, no restart
            assert running.alive(), log.read_text()[-3000:]
            time.sleep(max(6.0, SECONDS / 2))
            result, caught_up, code = _settle(server, clock, url, tmp_path, monkeypatch, running)
            outages = proxy.cuts
    finally:
        proxy.close()
    text = log.read_text()
    figures(scenario="database: PostgreSQL away 18 s", orders=result.orders, scans=result.scans, faults=outages,
            survived=outages if result.lost == result.duplicated == 0 else 0, writers=2, lost=result.lost,
            duplicated=result.duplicated)
    assert caught_up and (result.lost, result.duplicated) == (0, 0), result.detail
    assert code == 0, text[-3000:]
    assert "standing down" not in text  # nobody else took the lock: it was taken again
    assert invariants(pg_url) == []  # read directly: the relay is gone
