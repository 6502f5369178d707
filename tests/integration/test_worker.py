"""The worker against the real sandbox: poll cycles, dead letters, one active worker, clean stop, SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.channels import add_channel
from core.db import engine_for, new_session
from core.enums import ChannelKind, RunStatus
from core.models import ConnectorRun, DeadLetter, Order, OrderLine, Shipment
from sandbox import FaultConfig
from sandbox.server import make_server

ROOT = Path(__file__).resolve().parents[2]
TOKEN_ENV = "OPSDESK_TEST_SANDBOX_TOKEN"


@pytest.fixture
def sandbox(request):
    faults = getattr(request, "param", None) or FaultConfig()
    server = make_server(seed=7, token="s3cret-token", faults=faults, orders_per_minute=0.0, backlog=120)
    server.start()
    yield server
    server.stop()


def with_channel(url: str, base_url: str, interval: int = 1) -> None:
    with new_session(engine_for(url)) as session:
        add_channel(session, "sbx", kind=ChannelKind.SHOPIFY, base_url=base_url, token_env=TOKEN_ENV,
                    poll_interval_s=interval)


def opsdesk(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPSDESK_DATABASE_URL": url, TOKEN_ENV: "s3cret-token"}
    return subprocess.run([sys.executable, "-m", "jobs.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def run_ids(url: str, status: RunStatus) -> list[int]:
    with new_session(engine_for(url)) as session:
        return list(session.scalars(select(ConnectorRun.id).where(ConnectorRun.status == status)))


def stored(url: str) -> tuple[set[str], int, int]:
    with new_session(engine_for(url)) as session:
        ids = set(session.scalars(select(Order.external_id)))
        total = session.scalar(select(func.count()).select_from(Order))
        letters = session.scalar(select(func.count()).select_from(DeadLetter))
    return ids, total, letters


def test_poll_once_stores_every_sandbox_order_once_even_when_repeated(db_url, sandbox):
    with_channel(db_url, sandbox.url)
    first = opsdesk(db_url, "poll", "sbx", "--once")
    assert first.returncode == 0, first.stderr
    assert "fetched 120" in first.stdout
    second = opsdesk(db_url, "poll", "sbx", "--once")
    assert second.returncode == 0 and "written 0" in second.stdout
    ids, total, _ = stored(db_url)
    assert ids == {str(o["id"]) for o in sandbox.world.orders_snapshot()}
    assert total == len(ids) == 120
    with new_session(engine_for(db_url)) as session:
        shipped = {o["id"] for o in sandbox.world.orders_snapshot() if o.get("fulfillments")}
        assert session.scalar(select(func.count(func.distinct(Shipment.order_id)))) == len(shipped) > 0


@pytest.mark.parametrize("sandbox", [FaultConfig(malformed_rate=0.1, rate_429=0.3, retry_after_s=0.05)],
                         indirect=True)
def test_malformed_records_are_dead_lettered_and_429s_survived(sqlite_url, sandbox):
    with_channel(sqlite_url, sandbox.url)
    result = opsdesk(sqlite_url, "poll", "sbx", "--once")
    assert result.returncode == 0, result.stderr
    ids, total, letters = stored(sqlite_url)
    bad = {str(i) for i in sandbox.world.malformed_ids()}
    assert letters == len(bad) > 0
    assert ids == {str(o["id"]) for o in sandbox.world.orders_snapshot()} - bad
    with new_session(engine_for(sqlite_url)) as session:
        run = session.scalar(select(ConnectorRun))
        assert run.status is RunStatus.PARTIAL and run.errors == len(bad) and run.fetched == 120
        raw = session.scalar(select(DeadLetter.raw))
        assert raw.startswith("{") and '"line_items"' in raw


def test_a_wrong_token_fails_the_run_with_a_clear_line(sqlite_url, sandbox):
    with_channel(sqlite_url, sandbox.url)
    env = {**os.environ, "OPSDESK_DATABASE_URL": sqlite_url, TOKEN_ENV: "wrong"}
    result = subprocess.run([sys.executable, "-m", "jobs.cli", "poll", "sbx", "--once"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "stopped:" in result.stdout and "Traceback" not in result.stderr
    with new_session(engine_for(sqlite_url)) as session:
        run = session.scalar(select(ConnectorRun))
        assert run.status is RunStatus.FAILED and run.error


def _start_worker(url: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "OPSDESK_DATABASE_URL": url, TOKEN_ENV: "s3cret-token", "OPSDESK_LOG_LEVEL": "INFO"}
    return subprocess.Popen([sys.executable, "-m", "jobs.cli", "worker"], cwd=ROOT, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _wait(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return False


def test_one_worker_polls_a_second_stands_by_and_takes_over_after_a_clean_stop(db_url, sandbox, tmp_path):
    # The lock file on SQLite, the advisory lock on PostgreSQL.
    with_channel(db_url, sandbox.url)
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = _start_worker(db_url, first_log)
    second = None
    try:
        assert _wait(lambda: stored(db_url)[1] == 120, 60), first_log.read_text()
        second = _start_worker(db_url, second_log)
        assert _wait(lambda: "standing by" in second_log.read_text(), 30), second_log.read_text()
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
        assert "worker stopped" in first_log.read_text()
        assert _wait(lambda: "worker active" in second_log.read_text(), 30), second_log.read_text()
        assert stored(db_url)[1] == 120  # nothing duplicated by the second worker's polls
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


SLOW_MS = 3000  # per request: five pages of a 1,011-order shop take the active worker at least 15 s


@pytest.fixture
def slow_sandbox():
    """A bigger shop (five pages of orders) whose API answers slowly, so a worker is caught mid-ingest."""
    server = make_server(seed=7, token="s3cret-token", faults=FaultConfig(slow_ms=SLOW_MS), orders_per_minute=0.0,
                         backlog=1000)
    server.start()
    yield server
    server.stop()


def as_the_sandbox_has_them(url: str, server) -> bool:  # type: ignore[no-untyped-def]
    """Every sandbox order stored exactly once, with all its lines and tracked parcels (orders change as time runs)."""
    shop = server.world.orders_snapshot()
    with new_session(engine_for(url)) as session:
        lines = dict(session.execute(select(Order.external_id, func.count(OrderLine.id))
                                     .outerjoin(OrderLine).group_by(Order.id)).all())
        total = session.scalar(select(func.count()).select_from(Order))
        parcels = session.execute(select(Order.external_id, Shipment.tracking_number).join(Shipment)).all()
    tracked = [(str(o["id"]), number) for o in shop for f in o["fulfillments"] for number in f["tracking_numbers"]]
    return (total == len(lines) and lines == {str(o["id"]): len(o["line_items"]) for o in shop}
            and sorted(parcels) == sorted(tracked))


def test_the_standby_takes_over_within_a_minute_when_the_active_worker_is_killed_mid_ingest(db_url, slow_sandbox,
                                                                                            tmp_path):
    # SIGKILL: no signal handler, no finally, no lock released by the worker itself - the OS drops the
    # lock file's lock (SQLite), PostgreSQL ends the dead session and its advisory lock with it.
    with_channel(db_url, slow_sandbox.url)
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = _start_worker(db_url, first_log)
    second = None
    try:
        assert _wait(lambda: "worker active" in first_log.read_text(), 30), first_log.read_text()
        second = _start_worker(db_url, second_log)
        assert _wait(lambda: "standing by" in second_log.read_text(), 30), second_log.read_text()
        assert _wait(lambda: stored(db_url)[1] > 0, 60), first_log.read_text()  # at least one page stored
        first.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        assert first.wait(timeout=10) == -signal.SIGKILL
        at_kill = stored(db_url)[1]
        left_open = run_ids(db_url, RunStatus.RUNNING)
        assert len(left_open) == 1  # the poll it was in: nobody closed it
        shop_size = len(slow_sandbox.world.orders_snapshot())
        assert 0 < at_kill < shop_size, "the kill must land mid-ingest for this test to mean anything"
        assert "worker stopped" not in first_log.read_text()  # it really died, it did not stop
        assert _wait(lambda: "worker active" in second_log.read_text(), 60), second_log.read_text()
        slow_sandbox.faults.config.slow_ms = 0  # the knob released: the rest comes quickly
        assert _wait(lambda: as_the_sandbox_has_them(db_url, slow_sandbox), 60), second_log.read_text()
        assert time.monotonic() - killed_at < 60  # taken over and caught up within a minute
        assert stored(db_url)[2] == 0  # nothing was dead-lettered on the way
        # The new active worker closed the dead one's run: aborted (the breaker ignores it), and says why.
        with new_session(engine_for(db_url)) as session:
            orphan = session.get_one(ConnectorRun, left_open[0])
            assert orphan.status is RunStatus.ABORTED and orphan.finished_at is not None
            assert orphan.error.startswith("the worker stopped during this run")
        assert "closed 1 run(s) a stopped worker left open" in second_log.read_text()
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


def test_poll_now_from_the_desk_moves_the_channels_next_poll_to_now(sqlite_url, monkeypatch):
    from datetime import UTC, datetime, timedelta

    from apscheduler.schedulers.background import BackgroundScheduler

    from core.auth import Actor
    from core.connector_health import request_poll
    from core.enums import Role
    from core.models import Channel
    from jobs import worker as worker_module
    from jobs.worker import sync_jobs

    monkeypatch.setenv("OPSDESK_DATABASE_URL", sqlite_url)
    with_channel(sqlite_url, "http://127.0.0.1:9/shop", interval=3600)
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.start(paused=True)  # jobs get their times, nothing runs
    try:
        sync_jobs(scheduler)
        later = datetime.now(UTC) + timedelta(hours=1)
        scheduler.get_job("poll:sbx").modify(next_run_time=later)  # as after its first poll
        sync_jobs(scheduler)
        assert scheduler.get_job("poll:sbx").next_run_time == later  # nobody asked: it waits for its interval
        with new_session(engine_for(sqlite_url)) as session:
            channel_id = session.scalar(select(Channel.id).where(Channel.code == "sbx"))
            request_poll(session, channel_id, actor=Actor("olivia", role=Role.OPS_LEAD))
        sync_jobs(scheduler)
        assert scheduler.get_job("poll:sbx").next_run_time <= datetime.now(UTC) + timedelta(seconds=1)
        assert "sbx" in worker_module._asked  # a person asked: the channel's breaker will not hold it back
    finally:
        scheduler.shutdown(wait=False)
        worker_module._asked.clear()
