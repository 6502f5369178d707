"""Connector runs and sync cursors: what the worker did, and where it resumes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import writing
from core.enums import RunStatus
from core.models import Channel, ConnectorRun, SyncCursor, utcnow

ORDERS_STREAM = "orders"


def cursor_of(session: Session, channel_id: int, stream: str = ORDERS_STREAM) -> str | None:
    return session.scalar(
        select(SyncCursor.value).where(SyncCursor.channel_id == channel_id, SyncCursor.stream == stream)
    )


def advance_cursor(session: Session, channel_id: int, value: str | None, stream: str = ORDERS_STREAM) -> None:
    """Move a cursor forward (never back), in the caller's transaction."""
    if value is None:
        return
    cursor = session.scalar(
        select(SyncCursor).where(SyncCursor.channel_id == channel_id, SyncCursor.stream == stream)
    )
    if cursor is None:
        session.add(SyncCursor(channel_id=channel_id, stream=stream, value=value, updated_at=utcnow()))
    elif cursor.value is None or _later(value, cursor.value):
        cursor.value = value
        cursor.updated_at = utcnow()


def start_run(session: Session, channel: Channel) -> int:
    with writing(session):
        run = ConnectorRun(channel_id=channel.id, connector=channel.code, started_at=utcnow())
        session.add(run)
        session.flush()
        return run.id


def finish_run(
    session: Session, run_id: int, *, fetched: int, written: int, skipped: int, errors: int,
    error: str | None = None, aborted: bool = False,
) -> ConnectorRun:
    """Close a run with its counts; FAILED when it stopped on an error, PARTIAL when records were rejected."""
    with writing(session):
        run = session.get_one(ConnectorRun, run_id)
        run.finished_at = utcnow()
        run.fetched, run.written, run.skipped, run.errors = fetched, written, skipped, errors
        run.error = error
        run.status = (RunStatus.ABORTED if aborted else RunStatus.FAILED if error
                      else RunStatus.PARTIAL if errors else RunStatus.OK)
    return run


ORPHANED = "the worker stopped during this run (killed or crashed); the pages it stored before that are kept"


def abort_orphaned_runs(session: Session) -> int:
    """Close every run still marked running as aborted; returns how many.

    Only the worker that has just become the active one calls this, before it starts any run
    of its own: a run still running then was started by a worker that died (a SIGKILL leaves no
    chance to close it). Aborted, not failed: the channel did nothing wrong, so the breaker
    ignores it. A person's ``opsdesk poll --once`` still going closes its own run again at its end.
    """
    with writing(session):
        runs = session.scalars(select(ConnectorRun).where(ConnectorRun.status == RunStatus.RUNNING)).all()
        now = utcnow()
        for run in runs:
            run.status, run.finished_at, run.error = RunStatus.ABORTED, now, ORPHANED
    return len(runs)


def _later(new: str, old: str) -> bool:
    """Compare cursors as instants when both are timestamps, else as opaque strings."""
    try:
        return datetime.fromisoformat(new) > datetime.fromisoformat(old)
    except ValueError:
        return new > old
