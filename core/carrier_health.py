"""Carrier health: how each carrier account's tracking polls are doing, for the connector health page.

The same measures as the channels' (core.connector_health): last success, lag, runs and
failures in 24 h, open dead letters, the last error, the breaker; plus recent runs, runs per hour and
dead letters of one account.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from core.breaker import breaker_for
from core.db import writing
from core.enums import FAILED_RUNS, RunStatus
from core.models import CarrierAccount, ConnectorRun, DeadLetter, utcnow
from core.sqltime import hour_bucket, hour_start

HEALTH_COLUMNS = ["account_id", "carrier", "kind", "tracks", "state", "resting_until", "last_success", "lag_minutes",
                  "runs_24h", "failed_24h", "error_rate_pct", "dead_letters", "last_error"]


def start_carrier_run(session: Session, account: CarrierAccount) -> int:
    with writing(session):
        run = ConnectorRun(channel_id=None, carrier_account_id=account.id, connector=account.code,
                           started_at=utcnow())
        session.add(run)
        session.flush()
        return run.id


def carrier_health(session: Session, *, now: datetime) -> pd.DataFrame:
    """One row per carrier account (see HEALTH_COLUMNS), aggregated in SQL."""
    run = ConnectorRun
    last_ok = (select(run.carrier_account_id, func.max(run.finished_at).label("at"))
               .where(run.status == RunStatus.OK, run.carrier_account_id.is_not(None))
               .group_by(run.carrier_account_id).subquery())
    recent = (select(run.carrier_account_id, func.count().label("runs"),
                     func.sum(case((run.status.in_(FAILED_RUNS), 1), else_=0)).label("failed"))
              .where(run.started_at >= now - timedelta(hours=24), run.carrier_account_id.is_not(None))
              .group_by(run.carrier_account_id).subquery())
    letters = (select(DeadLetter.carrier_account_id, func.count().label("open"))
               .where(DeadLetter.replayed_at.is_(None), DeadLetter.carrier_account_id.is_not(None))
               .group_by(DeadLetter.carrier_account_id).subquery())
    last_error = (select(run.error).where(run.carrier_account_id == CarrierAccount.id, run.error.is_not(None))
                  .order_by(run.started_at.desc()).limit(1).scalar_subquery())
    rows = session.execute(
        select(CarrierAccount.id, CarrierAccount.code, CarrierAccount.kind, CarrierAccount.carriers,
               CarrierAccount.enabled, last_ok.c.at, recent.c.runs, recent.c.failed, letters.c.open, last_error)
        .outerjoin(last_ok, last_ok.c.carrier_account_id == CarrierAccount.id)
        .outerjoin(recent, recent.c.carrier_account_id == CarrierAccount.id)
        .outerjoin(letters, letters.c.carrier_account_id == CarrierAccount.id).order_by(CarrierAccount.code)
    ).all()
    out = []
    for aid, code, kind, tracks, enabled, at, runs, failed, open_letters, error in rows:
        at = at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at
        runs, failed = int(runs or 0), int(failed or 0)
        breaker = breaker_for(session, ConnectorRun.carrier_account_id == aid)
        resting = breaker.open_until if enabled and breaker.is_open(now) else None
        state = "paused" if not enabled else (
            f"resting after {breaker.failures} failed polls" if resting else "running")
        out.append((aid, code, kind.label, ", ".join(tracks or ["*"]), state, resting, at,
                    round((now - at).total_seconds() / 60, 1) if at else None, runs, failed,
                    round(100 * failed / runs, 1) if runs else None, int(open_letters or 0), error))
    return pd.DataFrame(out, columns=HEALTH_COLUMNS)


def carrier_runs(session: Session, account_id: int, *, limit: int = 50) -> pd.DataFrame:
    """An account's latest tracking polls, newest first (same columns as a channel's recent polls)."""
    r = ConnectorRun
    rows = session.execute(
        select(r.started_at, r.finished_at, r.status, r.fetched, r.written, r.skipped, r.errors, r.error)
        .where(r.carrier_account_id == account_id).order_by(r.started_at.desc()).limit(limit)).all()
    return pd.DataFrame([(a, b, s.label, f, w, sk, e, err) for a, b, s, f, w, sk, e, err in rows],
                        columns=["started_at", "finished_at", "status", "fetched", "written", "unchanged",
                                 "dead_lettered", "error"])


def carrier_runs_by_hour(session: Session, account_id: int, *, now: datetime, hours: int = 24) -> pd.DataFrame:
    """Polls and failed polls per UTC hour (for the error-rate chart)."""
    r = ConnectorRun
    hour = hour_bucket(session, r.started_at)
    rows = session.execute(
        select(hour, func.count(), func.sum(case((r.status.in_(FAILED_RUNS), 1), else_=0)))
        .where(r.carrier_account_id == account_id, r.started_at >= now - timedelta(hours=hours))
        .group_by(hour).order_by(hour)).all()
    return pd.DataFrame([(hour_start(b), int(n), int(f or 0), round(100 * int(f or 0) / int(n), 1))
                         for b, n, f in rows], columns=["hour", "runs", "failed", "error_rate_pct"])


def carrier_dead_letters(session: Session, account_id: int, *, limit: int = 100) -> pd.DataFrame:
    """An account's unreadable trackings, newest first, each with its raw payload."""
    rows = session.execute(
        select(DeadLetter.id, DeadLetter.received_at, DeadLetter.external_id, DeadLetter.error, DeadLetter.raw)
        .where(DeadLetter.carrier_account_id == account_id, DeadLetter.replayed_at.is_(None))
        .order_by(DeadLetter.received_at.desc(), DeadLetter.id.desc()).limit(limit)).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=["id", "received_at", "external_id", "error", "raw"])
