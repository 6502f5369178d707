"""What the desk does to a carrier account from Connector health: pause, resume, poll now; and its breaker.

The same rules as a channel's (``core.connector_health``, ``core.breaker``): only those who
operate connectors may act, each action is an event, and the breaker is read from the
account's own runs, so every replica of the page and a restarted worker see the same state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.schemas import Rejection, TrackingUpdate
from core.auth import Actor
from core.breaker import Breaker, breaker_for
from core.connector_health import POLL_REQUESTED, letter_payload, mark_replayed, polls_due, waiting_letter
from core.db import writing
from core.enums import Permission
from core.errors import InvalidInput, NotFound
from core.events import record_event
from core.models import CarrierAccount, ConnectorRun, utcnow
from core.tracking import apply_tracking, parcels_numbered

TrackingParser = Callable[[Any], TrackingUpdate | Rejection]


def carrier_breaker(session: Session, account_id: int) -> Breaker:
    """The account's failure streak and, when open, until when its tracking polls rest."""
    return breaker_for(session, ConnectorRun.carrier_account_id == account_id)


def set_carrier_enabled(session: Session, account_id: int, enabled: bool, *, actor: Actor) -> bool:
    """Pause or resume an account's tracking polls (the worker notices within its rescan). False if already so."""
    actor.require(Permission.OPERATE_CONNECTORS)
    with writing(session):
        account = _account(session, account_id)
        if account.enabled == enabled:
            return False
        account.enabled = enabled
        record_event(session, None, "carrier_resumed" if enabled else "carrier_paused", actor, subject="carrier",
                     detail={"carrier_account": account.code, "enabled": {"before": not enabled, "after": enabled}})
    return True


def request_carrier_poll(session: Session, account_id: int, *, actor: Actor, now: datetime | None = None) -> None:
    """Ask the worker to poll this account at its next rescan, whatever its interval and its breaker."""
    actor.require(Permission.OPERATE_CONNECTORS)
    with writing(session):
        account = _account(session, account_id)
        if not account.enabled:
            raise InvalidInput(f"{account.code} is paused: resume it to poll it.")
        account.settings = {**(account.settings or {}), POLL_REQUESTED: (now or utcnow()).isoformat()}
        record_event(session, None, "poll_requested", actor, subject="carrier",
                     detail={"carrier_account": account.code})


def carrier_poll_requests(session: Session) -> list[str]:
    """The enabled accounts whose poll-now request the worker has not served yet."""
    asked = {a.code: (a.settings or {}).get(POLL_REQUESTED) for a in
             session.scalars(select(CarrierAccount).where(CarrierAccount.enabled.is_(True)))}
    started = {code: (at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at)
               for code, at in session.execute(
                   select(CarrierAccount.code, func.max(ConnectorRun.started_at))
                   .outerjoin(ConnectorRun, ConnectorRun.carrier_account_id == CarrierAccount.id)
                   .group_by(CarrierAccount.code))}
    return polls_due(asked, started)


def replay_carrier_letter(session: Session, letter_id: int, *, parse: TrackingParser, actor: Actor) -> str:
    """Read an unreadable tracking again and store its scans on the parcel; returns the tracking number.

    Still unreadable, or no parcel of that number among those the account follows (another
    carrier's parcel may carry the same number): refused with the reason, and the letter stays.
    Replayed twice: refused as stale. Scans are stored once each however often the same
    tracking is applied, so a crash between storing and marking the letter is harmless.
    """
    actor.require(Permission.OPERATE_CONNECTORS)
    letter = waiting_letter(session, letter_id)
    if letter.carrier_account_id is None:
        raise InvalidInput("This dead letter is not a carrier's.")
    update = parse(letter_payload(letter))
    if isinstance(update, Rejection):
        raise InvalidInput(f"Still unreadable: {update.error}")
    account = _account(session, letter.carrier_account_id)
    parcels = parcels_numbered(session, account, update.tracking_number)
    session.commit()  # the read is done; apply_tracking opens its own write
    if not parcels:
        raise InvalidInput(f"No parcel {account.code} follows has the tracking number {update.tracking_number}.")
    apply_tracking(session, account, parcels, [update])
    with writing(session):
        mark_replayed(session, letter_id)
        record_event(session, None, "dead_letter_replayed", actor, subject="carrier",
                     detail={"carrier_account": account.code, "dead_letter": letter_id,
                             "tracking_number": update.tracking_number})
    return update.tracking_number


def _account(session: Session, account_id: int) -> CarrierAccount:
    account = session.get(CarrierAccount, account_id, populate_existing=True)
    if account is None:
        raise NotFound(f"No carrier account {account_id}.")
    return account
