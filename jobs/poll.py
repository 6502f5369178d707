"""The poll job: one channel, one cycle - fetch pages, ingest each atomically, record the run."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from core.breaker import breaker_for
from core.channels import get_channel
from core.db import new_session
from core.ingest import IngestResult, apply_page
from core.models import ConnectorRun, utcnow
from core.runs import cursor_of, start_run
from jobs.connectors import order_source
from jobs.runs import RunCounts, recorded_run

log = logging.getLogger("opsdesk.poll")


@dataclass
class PollReport:
    channel: str
    fetched: int
    result: IngestResult
    error: str | None
    resting_until: datetime | None = None  # skipped: the breaker is open

    def __str__(self) -> str:
        r = self.result
        text = (f"{self.channel}: fetched {self.fetched}, written {r.written}, "
                f"unchanged {r.skipped}, dead-lettered {r.rejected}")
        return text + (f" - stopped: {self.error}" if self.error else "")


def poll_channel(code: str, *, should_stop: Callable[[], bool] = lambda: False,
                 respect_breaker: bool = True) -> PollReport:
    """Poll one channel once. A failure is recorded on the run and reported, with the pages before it kept.

    After repeated failures the channel's breaker is open and the poll is skipped until it closes
    (``core.breaker``): a sick API is not hammered, and the health page says until when.
    """
    with new_session() as session:
        channel = get_channel(session, code)
        breaker = breaker_for(session, ConnectorRun.channel_id == channel.id)
        if respect_breaker and breaker.is_open(utcnow()):
            log.info("%s: resting after %d failed polls, until %s", code, breaker.failures, breaker.open_until)
            return PollReport(code, 0, IngestResult(), None, resting_until=breaker.open_until)
        run_id = start_run(session, channel)
        totals, fetched = IngestResult(), 0

        def counts() -> RunCounts:
            return RunCounts(fetched, totals.written, totals.skipped, totals.rejected)

        with recorded_run(session, run_id, counts) as outcome, order_source(channel) as source:
            cursor = cursor_of(session, channel.id)
            session.commit()  # hold no transaction (nor a pooled connection) while a slow API answers
            for page in source.orders_since(cursor):
                totals += apply_page(session, channel, page, run_id=run_id)
                fetched += page.fetched
                if should_stop():
                    break  # the page just stored is complete; the cursor covers it
    report = PollReport(code, fetched, totals, outcome.error)
    (log.warning if report.error else log.info)("%s", report)
    return report
