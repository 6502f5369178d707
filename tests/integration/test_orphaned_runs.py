"""Runs a killed worker left 'running' are closed as aborted by the next active worker, and only by it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from core.breaker import breaker_for
from core.carriers import add_carrier_account
from core.db import engine_for, new_session
from core.enums import CarrierKind, RunStatus
from core.models import ConnectorRun, utcnow
from core.runs import ORPHANED, abort_orphaned_runs
from jobs.leader import Leadership
from tests.factories import make_channel

ROOT = Path(__file__).resolve().parents[2]


def left_running(session, *, channel_id: int | None = None, account_id: int | None = None,  # type: ignore[no-untyped-def]
                 ago: timedelta = timedelta(minutes=5)) -> int:
    """A run row exactly as a SIGKILLed worker leaves it: started, never finished."""
    run = ConnectorRun(channel_id=channel_id, carrier_account_id=account_id, connector="x",
                       started_at=utcnow() - ago, status=RunStatus.RUNNING)
    session.add(run)
    session.commit()
    return run.id


def test_channel_and_carrier_runs_left_running_are_closed_as_aborted_and_finished_ones_kept(db):
    channel = make_channel(db)
    account = add_carrier_account(db, "ep", kind=CarrierKind.EASYPOST, base_url="http://127.0.0.1:9",
                                  token_env="EP_KEY", carriers="UPS")
    failed = ConnectorRun(channel_id=channel.id, connector=channel.code, started_at=utcnow() - timedelta(hours=1),
                          finished_at=utcnow() - timedelta(hours=1), status=RunStatus.FAILED, error="HTTP 500")
    db.add(failed)
    db.commit()
    poll = left_running(db, channel_id=channel.id)
    track = left_running(db, account_id=account.id)

    assert abort_orphaned_runs(db) == 2
    db.expire_all()
    for run_id in (poll, track):
        run = db.get_one(ConnectorRun, run_id)
        assert run.status is RunStatus.ABORTED and run.finished_at is not None
        assert run.error == ORPHANED and "killed or crashed" in run.error
    kept = db.get_one(ConnectorRun, failed.id)
    assert (kept.status, kept.error) == (RunStatus.FAILED, "HTTP 500")
    assert abort_orphaned_runs(db) == 0  # nothing left to close: a second start changes nothing


def test_runs_aborted_by_killed_workers_do_not_rest_the_channel(db):
    channel = make_channel(db)
    for minutes in (30, 20, 10):  # three workers killed mid-poll in a row
        left_running(db, channel_id=channel.id, ago=timedelta(minutes=minutes))
    abort_orphaned_runs(db)
    breaker = breaker_for(db, ConnectorRun.channel_id == channel.id)
    assert breaker.failures == 0 and not breaker.is_open(utcnow())


def _start_worker(url: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "OPSDESK_DATABASE_URL": url, "OPSDESK_LOG_LEVEL": "INFO"}
    return subprocess.Popen([sys.executable, "-m", "jobs.cli", "worker"], cwd=ROOT, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _wait(predicate, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return False


def _status(url: str, run_id: int) -> RunStatus:
    with new_session(engine_for(url)) as session:
        return session.scalar(select(ConnectorRun.status).where(ConnectorRun.id == run_id))


def test_a_standby_leaves_the_active_workers_run_alone_and_closes_it_only_once_it_takes_the_lock(db_url, tmp_path):
    # This test process plays the active worker: it holds the lock (the lock file on SQLite, the advisory
    # lock on PostgreSQL) and has a poll running. A real worker started now must stand by and not touch it.
    with new_session(engine_for(db_url)) as session:
        run_id = left_running(session, channel_id=make_channel(session).id, ago=timedelta(seconds=1))
    active = Leadership(db_url)
    assert active.try_acquire()
    log = tmp_path / "standby.log"
    standby = None
    try:
        standby = _start_worker(db_url, log)
        assert _wait(lambda: "standing by" in log.read_text(), 30), log.read_text()
        time.sleep(6)  # the standby asks for the lock every 5 s: let it fail at least twice
        assert _status(db_url, run_id) is RunStatus.RUNNING, log.read_text()
        assert "worker active" not in log.read_text()

        # The active worker goes away without closing its run (as a SIGKILL would leave it).
        active.release()
        assert _wait(lambda: "worker active" in log.read_text(), 30), log.read_text()
        assert _status(db_url, run_id) is RunStatus.ABORTED  # closed before the new worker runs anything
        assert "closed 1 run(s) a stopped worker left open" in log.read_text()
    finally:
        active.release()
        if standby is not None and standby.poll() is None:
            standby.kill()
            standby.wait()
