"""The carrier job: one carrier account, one cycle - undelivered parcels in batches, stored batch by batch."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors import carriers
from connectors.carrier_base import ParcelRef, TrackingSource
from core.auth import WORKER
from core.carrier_health import start_carrier_run
from core.carrier_ops import carrier_breaker, carrier_poll_requests
from core.carriers import enabled_carrier_accounts, get_carrier_account
from core.db import new_session
from core.errors import InvalidInput
from core.models import CarrierAccount, utcnow
from core.tracking import TrackingResult, apply_tracking, parcels_to_track, sweep_stale
from jobs.runs import RunCounts, recorded_run

log = logging.getLogger("opsdesk.track")
BATCH = 500  # parcels read and stored per transaction; the connector splits them into its own request sizes
PREFIX = "track:"


@dataclass
class TrackReport:
    account: str
    fetched: int
    result: TrackingResult
    error: str | None
    resting_until: datetime | None = None  # not polled: the account's breaker is open until then

    def __str__(self) -> str:
        r = self.result
        text = (f"{self.account}: tracked {self.fetched} parcels, {r.scans} new scans, {r.parcels} parcels changed, "
                f"{r.unchanged} unchanged, dead-lettered {r.rejected}")
        return text + (f" - stopped: {self.error}" if self.error else "")


@contextmanager
def tracking_source(account: CarrierAccount) -> Iterator[TrackingSource]:
    """The account's connector, its API key read from the environment variable it names."""
    if not account.credentials_env:
        raise InvalidInput(f"Carrier account {account.code} has no --token-env set.")
    secret = os.environ.get(account.credentials_env)
    if not secret:
        raise InvalidInput(f"Carrier account {account.code}: environment variable {account.credentials_env} is not set.")
    try:
        source = carriers.connect(account.kind, account.base_url, secret, account.settings or {})
    except LookupError as exc:
        raise InvalidInput(str(exc)) from None
    try:
        yield source
    finally:
        source.close()


def poll_carrier(code: str, *, should_stop: Callable[[], bool] = lambda: False, batch: int = BATCH,
                 respect_breaker: bool = True) -> TrackReport:
    """Poll one carrier account once over all its undelivered parcels; a failure is recorded on the run.

    After repeated failures the account's breaker is open and the poll is skipped until it
    closes, as for channels; a person's "poll now" passes ``respect_breaker=False``.
    """
    with new_session() as session:
        account = get_carrier_account(session, code)
        breaker = carrier_breaker(session, account.id)
        if respect_breaker and breaker.is_open(utcnow()):
            log.info("%s: resting after %d failed polls, until %s", code, breaker.failures, breaker.open_until)
            return TrackReport(code, 0, TrackingResult(), None, resting_until=breaker.open_until)
        run_id = start_carrier_run(session, account)
        totals, fetched = TrackingResult(), 0

        def counts() -> RunCounts:
            return RunCounts(fetched, totals.scans, totals.unchanged, totals.rejected)

        with recorded_run(session, run_id, counts) as outcome, tracking_source(account) as source:
            after = 0
            while parcels := parcels_to_track(session, account, after_id=after, limit=batch):
                session.commit()  # no transaction held open while the carrier answers
                results = source.track([ParcelRef(number, carrier) for _, number, carrier in parcels])
                fetched += len(parcels)
                totals += apply_tracking(session, account, [sid for sid, _, _ in parcels], results, run_id=run_id)
                after = parcels[-1][0]
                if should_stop():
                    break  # the batch just stored is complete; the next cycle starts over
    report = TrackReport(code, fetched, totals, outcome.error)
    (log.warning if report.error else log.info)("%s", report)
    return report


def sweep_stale_parcels() -> int:
    """The worker's sweep: TRACKING_STALE on parcels with no scan for the stale window."""
    with new_session() as session:
        return sweep_stale(session, actor=WORKER)


def sync_carrier_jobs(scheduler: Any, run: Callable[[str], None], asked: set[str]) -> None:
    """One ``track:<code>`` job per enabled carrier account at its interval; others are removed.

    An account a person asked to poll now runs at once and joins ``asked`` (its breaker then
    does not hold it back).
    """
    with new_session() as session:
        wanted = {f"{PREFIX}{a.code}": a.poll_interval_s for a in enabled_carrier_accounts(session)}
    for job in scheduler.get_jobs():
        if job.id.startswith(PREFIX) and job.id not in wanted:
            job.remove()
    for job_id, interval in wanted.items():
        job = scheduler.get_job(job_id)
        if job is None:
            scheduler.add_job(run, "interval", seconds=interval, id=job_id, args=[job_id[len(PREFIX):]],
                              next_run_time=datetime.now(UTC))
            log.info("scheduled %s every %ss", job_id, interval)
        elif job.trigger.interval.total_seconds() != interval:
            job.reschedule("interval", seconds=interval)
    with new_session() as session:
        requested = carrier_poll_requests(session)
    for code in requested:
        job = scheduler.get_job(f"{PREFIX}{code}")
        if job is not None:
            asked.add(f"{PREFIX}{code}")
            job.modify(next_run_time=datetime.now(UTC))
            log.info("tracking poll of %s requested from the desk", code)
