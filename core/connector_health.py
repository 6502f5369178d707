"""Connector health: how each channel's polling is doing, its dead letters, and the desk's levers on it.

Read models (aggregated in SQL) for the health page, and the actions an ops lead or admin
takes there: pause / resume a channel, ask the worker to poll it now, replay a dead letter
once the cause is fixed. Parsing a replayed record is the connector's job, so the caller
passes the channel kind's parser in; core stays free of HTTP clients.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from connectors.schemas import ChannelOrder, Page, Rejection
from core.auth import Actor
from core.breaker import breaker_for
from core.channels import get_channel_by_id
from core.db import writing
from core.enums import FAILED_RUNS, Permission, RunStatus
from core.errors import InvalidInput, NotFound, StaleEdit
from core.events import record_event
from core.ingest import apply_page
from core.models import Channel, ConnectorRun, DeadLetter, utcnow
from core.sqltime import hour_bucket, hour_start

POLL_REQUESTED = "poll_requested_at"  # in channels.settings: the worker polls the channel at its next rescan
Parser = Callable[[Any], ChannelOrder | Rejection]


def channel_health(session: Session, *, now: datetime) -> pd.DataFrame:
    """One row per channel: running, paused or resting (its breaker open after failed polls, and until when),
    last successful poll and minutes since, runs and failures in 24 h, open dead letters, and the last error."""
    day_ago = now - timedelta(hours=24)
    last_ok = (select(ConnectorRun.channel_id, func.max(ConnectorRun.finished_at).label("at"))
               .where(ConnectorRun.status == RunStatus.OK).group_by(ConnectorRun.channel_id).subquery())
    recent = (select(ConnectorRun.channel_id, func.count().label("runs"),
                     func.sum(case((ConnectorRun.status.in_(FAILED_RUNS), 1), else_=0)).label("failed"))
              .where(ConnectorRun.started_at >= day_ago).group_by(ConnectorRun.channel_id).subquery())
    letters = (select(DeadLetter.channel_id, func.count().label("open"))
               .where(DeadLetter.replayed_at.is_(None)).group_by(DeadLetter.channel_id).subquery())
    last_error = (select(ConnectorRun.error).where(ConnectorRun.channel_id == Channel.id,
                                                   ConnectorRun.error.is_not(None))
                  .order_by(ConnectorRun.started_at.desc()).limit(1).scalar_subquery())
    rows = session.execute(
        select(Channel.id, Channel.code, Channel.kind, Channel.enabled, last_ok.c.at, recent.c.runs, recent.c.failed,
               letters.c.open, last_error)
        .outerjoin(last_ok, last_ok.c.channel_id == Channel.id).outerjoin(recent, recent.c.channel_id == Channel.id)
        .outerjoin(letters, letters.c.channel_id == Channel.id).order_by(Channel.code)
    ).all()
    out = []
    for cid, code, kind, enabled, at, runs, failed, open_letters, error in rows:
        at = at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at
        runs, failed = int(runs or 0), int(failed or 0)
        breaker = breaker_for(session, ConnectorRun.channel_id == cid)
        state = "paused" if not enabled else (
            f"resting after {breaker.failures} failed polls" if breaker.is_open(now) else "running")
        out.append((cid, code, kind.value, state, breaker.open_until if breaker.is_open(now) else None, at,
                    round((now - at).total_seconds() / 60, 1) if at else None, runs, failed,
                    round(100 * failed / runs, 1) if runs else None, int(open_letters or 0), error))
    return pd.DataFrame(out, columns=["channel_id", "channel", "kind", "state", "resting_until", "last_success",
                                      "lag_minutes",
                                      "runs_24h", "failed_24h", "error_rate_pct", "dead_letters", "last_error"])


def recent_runs(session: Session, channel_id: int, *, limit: int = 50) -> pd.DataFrame:
    """A channel's latest poll runs, newest first."""
    rows = session.execute(
        select(ConnectorRun.started_at, ConnectorRun.finished_at, ConnectorRun.status, ConnectorRun.fetched,
               ConnectorRun.written, ConnectorRun.skipped, ConnectorRun.errors, ConnectorRun.error)
        .where(ConnectorRun.channel_id == channel_id).order_by(ConnectorRun.started_at.desc()).limit(limit)
    ).all()
    return pd.DataFrame([(a, b, s.label, f, w, sk, e, err) for a, b, s, f, w, sk, e, err in rows],
                        columns=["started_at", "finished_at", "status", "fetched", "written", "unchanged",
                                 "dead_lettered", "error"])


def runs_by_hour(session: Session, channel_id: int, *, now: datetime, hours: int = 24) -> pd.DataFrame:
    """Poll runs and failed runs per UTC hour over the last ``hours`` (for the error-rate chart)."""
    hour = hour_bucket(session, ConnectorRun.started_at)
    rows = session.execute(
        select(hour, func.count(), func.sum(case((ConnectorRun.status.in_(FAILED_RUNS), 1), else_=0)))
        .where(ConnectorRun.channel_id == channel_id, ConnectorRun.started_at >= now - timedelta(hours=hours))
        .group_by(hour).order_by(hour)
    ).all()
    out = []
    for bucket, runs, failed in rows:
        out.append((hour_start(bucket), int(runs), int(failed or 0), round(100 * int(failed or 0) / int(runs), 1)))
    return pd.DataFrame(out, columns=["hour", "runs", "failed", "error_rate_pct"])


def dead_letters(session: Session, channel_id: int, *, limit: int = 100) -> pd.DataFrame:
    """A channel's dead letters not yet replayed, newest first, each with its raw payload."""
    rows = session.execute(
        select(DeadLetter.id, DeadLetter.received_at, DeadLetter.external_id, DeadLetter.error, DeadLetter.raw)
        .where(DeadLetter.channel_id == channel_id, DeadLetter.replayed_at.is_(None))
        .order_by(DeadLetter.received_at.desc(), DeadLetter.id.desc()).limit(limit)
    ).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=["id", "received_at", "external_id", "error", "raw"])


# --- actions ----------------------------------------------------------------------------------------------


def set_channel_enabled(session: Session, channel_id: int, enabled: bool, *, actor: Actor) -> bool:
    """Pause or resume a channel's polling (the worker notices within its rescan). False if already so."""
    actor.require(Permission.OPERATE_CONNECTORS)
    with writing(session):
        channel = get_channel_by_id(session, channel_id)
        if channel.enabled == enabled:
            return False
        channel.enabled = enabled
        record_event(session, None, "channel_resumed" if enabled else "channel_paused", actor, subject="channel",
                     detail={"channel": channel.code, "enabled": {"before": not enabled, "after": enabled}})
    return True


def request_poll(session: Session, channel_id: int, *, actor: Actor, now: datetime | None = None) -> None:
    """Ask the worker to poll this channel at its next rescan (within seconds), whatever its interval."""
    actor.require(Permission.OPERATE_CONNECTORS)
    with writing(session):
        channel = get_channel_by_id(session, channel_id)
        if not channel.enabled:
            raise InvalidInput(f"{channel.code} is paused: resume it to poll it.")
        channel.settings = {**(channel.settings or {}), POLL_REQUESTED: (now or utcnow()).isoformat()}
        record_event(session, None, "poll_requested", actor, subject="channel", detail={"channel": channel.code})


def polls_due(requests: dict[str, str | None], last_started: dict[str, datetime | None]) -> list[str]:
    """Pure: the channels whose poll-now request is newer than their last run's start."""
    due = []
    for code, asked in requests.items():
        if not asked:
            continue
        started = last_started.get(code)
        if started is None or datetime.fromisoformat(asked) > started:
            due.append(code)
    return sorted(due)


def poll_requests(session: Session) -> list[str]:
    """The enabled channels whose poll-now request the worker has not served yet."""
    asked = {c.code: (c.settings or {}).get(POLL_REQUESTED) for c in
             session.scalars(select(Channel).where(Channel.enabled.is_(True)))}
    started = {code: (at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at)
               for code, at in session.execute(
                   select(Channel.code, func.max(ConnectorRun.started_at))
                   .outerjoin(ConnectorRun, ConnectorRun.channel_id == Channel.id).group_by(Channel.code))}
    return polls_due(asked, started)


def replay_dead_letter(session: Session, letter_id: int, *, parse: Parser, actor: Actor) -> str:
    """Normalize a dead letter's raw payload again and store it like a polled order; returns the order number.

    Still unreadable: refused with the reason, and the letter stays. Replayed twice: refused
    as stale. Storing the same order again changes nothing (ingest is idempotent), so a crash
    between storing and marking the letter is harmless.
    """
    actor.require(Permission.OPERATE_CONNECTORS)
    letter = waiting_letter(session, letter_id)
    if letter.channel_id is None:
        raise InvalidInput("This dead letter's channel was removed; it cannot be replayed.")
    record = parse(letter_payload(letter))
    if isinstance(record, Rejection):
        raise InvalidInput(f"Still rejected: {record.error}")
    channel = get_channel_by_id(session, letter.channel_id)
    apply_page(session, channel, Page(records=(record,), cursor=None))
    with writing(session):
        mark_replayed(session, letter_id)
        record_event(session, None, "dead_letter_replayed", actor, subject="channel",
                     detail={"channel": channel.code, "dead_letter": letter_id, "order": record.number})
    return record.number


def waiting_letter(session: Session, letter_id: int) -> DeadLetter:
    """A dead letter not replayed yet (read afresh); NotFound, or StaleEdit when someone replayed it."""
    letter = session.get(DeadLetter, letter_id, populate_existing=True)
    if letter is None:
        raise NotFound(f"No dead letter {letter_id}.")
    if letter.replayed_at is not None:
        raise StaleEdit("This dead letter")
    return letter


def letter_payload(letter: DeadLetter) -> Any:
    """The payload as the connector sent it: its JSON, or the text itself when it was not JSON."""
    try:
        return json.loads(letter.raw)
    except ValueError:
        return letter.raw


def mark_replayed(session: Session, letter_id: int) -> None:
    """Mark a letter replayed inside the caller's write; StaleEdit if another replay got there first."""
    done = session.execute(
        DeadLetter.__table__.update().where(DeadLetter.id == letter_id, DeadLetter.replayed_at.is_(None))
        .values(replayed_at=utcnow())).rowcount
    if done != 1:
        raise StaleEdit("This dead letter")
