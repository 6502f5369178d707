"""A circuit breaker per connector: after repeated failed polls it waits longer and longer before trying again.

State comes from the connector's own run history (``connector_runs``), so it survives a
worker restart and every replica of the health page sees the same thing: no extra table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from core.enums import RunStatus
from core.models import ConnectorRun

OPENS_AFTER = 3  # failed polls in a row before the breaker opens
FIRST_WAIT = timedelta(seconds=30)
LONGEST_WAIT = timedelta(minutes=15)
LOOK_BACK = 12  # runs read to count the streak (the wait stops growing long before)


@dataclass(frozen=True)
class Breaker:
    """``failures`` in a row; while ``open_until`` is in the future the connector is not polled."""

    failures: int
    open_until: datetime | None

    def is_open(self, now: datetime) -> bool:
        return self.open_until is not None and now < self.open_until


def wait_after(failures: int) -> timedelta:
    """How long to rest after ``failures`` failed polls in a row: none below ``OPENS_AFTER``, then doubling."""
    if failures < OPENS_AFTER:
        return timedelta(0)
    return min(LONGEST_WAIT, FIRST_WAIT * 2 ** (failures - OPENS_AFTER))


def breaker_state(statuses: list[tuple[RunStatus, datetime | None]]) -> Breaker:
    """From runs newest first (status, finished at): the failure streak and when the breaker closes again."""
    streak, last_failed = 0, None
    for status, finished in statuses:
        if status in (RunStatus.RUNNING, RunStatus.ABORTED):
            # Still going (or its worker was killed), or stopped by our own trouble (the database away):
            # neither says anything about the channel, so neither opens nor closes the breaker.
            continue
        if status is not RunStatus.FAILED:
            break
        streak += 1
        last_failed = last_failed or finished
    wait = wait_after(streak)
    return Breaker(streak, last_failed + wait if wait and last_failed else None)


def breaker_for(session: Session, which: ColumnElement[bool]) -> Breaker:
    """The breaker of the connector whose runs match ``which`` (e.g. ``ConnectorRun.channel_id == 3``)."""
    rows = session.execute(select(ConnectorRun.status, ConnectorRun.finished_at).where(which)
                           .order_by(ConnectorRun.started_at.desc(), ConnectorRun.id.desc()).limit(LOOK_BACK)).all()
    return breaker_state([(s, f) for s, f in rows])
