"""`opsdesk worker`: an APScheduler BlockingScheduler in its own process."""

from __future__ import annotations

import faulthandler
import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.blocking import BlockingScheduler

from connectors import amazon_common
from core.channels import enabled_channels
from core.connector_health import poll_requests
from core.db import database_url, new_session
from core.runs import abort_orphaned_runs
from jobs import demo_returns, sla, track
from jobs.allocate import allocate_ready_orders, check_integrity, retry_backorders
from jobs.leader import Leadership
from jobs.poll import poll_channel

log = logging.getLogger("opsdesk.worker")
_stopping = threading.Event()


def _stop() -> None:
    """Finish the pages being stored, then exit: polls stop after their page, and quota waits stop at once."""
    _stopping.set()
    amazon_common.STOPPING.set()


RESCAN_S = 15  # how often the worker notices channels added, paused or edited
_asked: set[str] = set()  # channels (and track:<code> accounts) a person asked to poll now: no breaker for them
LOST_LEADERSHIP = 3  # exit code: another worker is active now; a supervisor restarts this one as a standby


def _poll(code: str) -> None:
    try:
        asked = code in _asked
        _asked.discard(code)
        poll_channel(code, should_stop=_stopping.is_set, respect_breaker=not asked)
    except Exception:  # a job never dies silently: log it whole, the next tick tries again
        log.exception("poll of %s failed", code)


def _track(code: str) -> None:
    try:
        asked = f"{track.PREFIX}{code}" in _asked
        _asked.discard(f"{track.PREFIX}{code}")
        track.poll_carrier(code, should_stop=_stopping.is_set, respect_breaker=not asked)
    except Exception:  # recorded on the run and logged whole; the next tick tries again
        log.exception("tracking poll of %s failed", code)


def _sweep(name: str, fn: Callable[[], int]) -> None:
    try:
        done = fn()
        if done:
            log.info("%s: %s", name, done)
    except Exception:  # recorded in the log whole; the next tick tries again
        log.exception("%s failed", name)


# The sweeps: (job id, function returning how much it did, seconds between runs).
SWEEPS: tuple[tuple[str, Callable[[], int], int], ...] = (
    ("allocate", allocate_ready_orders, 3),
    ("retry_backorders", retry_backorders, 30),
    ("check_integrity", check_integrity, 600),
    ("sla_sweep", sla.sweep, 60),
    ("sla_rollups", sla.refresh_rollups, 300),  # the SLA page's history; a whole rebuild once a day
    ("tracking_stale", track.sweep_stale_parcels, 300),  # TRACKING_STALE after 72 h without a scan
)


def sync_jobs(scheduler: BlockingScheduler) -> None:
    """One poll job per enabled channel, at its interval; jobs of removed or paused channels go."""
    with new_session() as session:
        wanted = {f"poll:{c.code}": c.poll_interval_s for c in enabled_channels(session)}
    for job in scheduler.get_jobs():
        if job.id.startswith("poll:") and job.id not in wanted:
            job.remove()
    for job_id, interval in wanted.items():
        job = scheduler.get_job(job_id)
        if job is None:
            scheduler.add_job(_poll, "interval", seconds=interval, id=job_id, args=[job_id[5:]],
                              next_run_time=datetime.now(UTC))
            log.info("scheduled %s every %ss", job_id, interval)
        elif job.trigger.interval.total_seconds() != interval:
            job.reschedule("interval", seconds=interval)
    track.sync_carrier_jobs(scheduler, _track, _asked)  # one track:<code> job per enabled carrier account
    with new_session() as session:
        asked = poll_requests(session)
    for code in asked:  # "poll now" from the connector health page
        job = scheduler.get_job(f"poll:{code}")
        if job is not None:
            _asked.add(code)
            job.modify(next_run_time=datetime.now(UTC))
            log.info("poll of %s requested from the desk", code)


def run_worker() -> None:
    """Become the active worker (waiting while another holds the lock), then run the schedule."""
    url = database_url()
    leader = Leadership(url)
    signal.signal(signal.SIGTERM, lambda *_: _stop())
    signal.signal(signal.SIGINT, lambda *_: _stop())
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 <pid>`: every thread's stack to stderr
    announced = False
    while not _acquire(leader):
        if not announced:
            log.info("another worker is active on this database (or it is unreachable); standing by")
            announced = True
        if _stopping.wait(5):
            return
    _close_orphaned_runs()
    scheduler = BlockingScheduler(
        timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}
    )
    lost = threading.Event()

    def _still_leading() -> None:
        if not leader.still_held():
            log.error("another worker took the lock while this one had lost its database session: standing down")
            lost.set()
            _stop()

    def _rescan() -> int:
        sync_jobs(scheduler)
        return 0

    # A rescan that fails (the database is away) is logged and tried again at the next tick.
    scheduler.add_job(_sweep, "interval", seconds=RESCAN_S, id="sync_jobs", args=["sync_jobs", _rescan],
                      next_run_time=datetime.now(UTC))
    scheduler.add_job(_still_leading, "interval", seconds=RESCAN_S, id="leadership")
    now = datetime.now(UTC)
    sweeps = (*SWEEPS, ("demo_returns", demo_returns.open_demo_returns, 45)) if demo_returns.enabled() else SWEEPS
    for job_id, fn, every in sweeps:
        scheduler.add_job(_sweep, "interval", seconds=every, id=job_id, args=[job_id, fn], next_run_time=now)

    def _watch_stop() -> None:
        _stopping.wait()
        log.info("stopping: finishing the current page")
        scheduler.shutdown(wait=True)  # running polls see _stopping and stop after their page

    threading.Thread(target=_watch_stop, daemon=True).start()
    log.info("worker active (pid lock held) on %s", url.split("@")[-1])
    try:
        scheduler.start()
    finally:
        leader.release()
        log.info("worker stopped")
    if lost.is_set():
        raise SystemExit(LOST_LEADERSHIP)


def _close_orphaned_runs() -> None:
    """Runs a dead worker left open would say "running" on the health page forever: close them."""
    try:
        with new_session() as session:
            closed = abort_orphaned_runs(session)
    except Exception as exc:  # the database is away: they stay open until the next start, nothing is lost
        log.warning("could not close the runs a stopped worker left open: %s", exc)
        return
    if closed:
        log.warning("closed %d run(s) a stopped worker left open (recorded as aborted)", closed)


def _acquire(leader: Leadership) -> bool:
    try:
        return leader.try_acquire()
    except Exception as exc:  # the database is not there yet: wait like a standby, say why once per try
        log.warning("cannot reach the database to take the worker lock: %s", exc)
        return False
