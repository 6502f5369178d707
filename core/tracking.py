"""Tracking: store what the carriers say about parcels, raise and clear carrier holds, read a parcel's journey.

``apply_tracking`` stores one batch in one transaction: each scan once (a re-poll adds
nothing), the parcel's status, last scan and delivery time, the dead letters of unreadable
trackings, and the holds - a new failed attempt, return to sender or exception (damage,
loss) opens CARRIER_EXCEPTION; delivery closes it and, once every parcel of a shipped order
is delivered, moves the order to delivered. ``sweep_stale`` opens TRACKING_STALE on parcels
with no scan for 72 h (a setting); a new scan closes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from connectors.schemas import Rejection, TrackingUpdate
from core.auth import Actor
from core.carriers import carrier_names_of, enabled_carrier_accounts
from core.db import writing
from core.enums import ActorKind, HoldCode, HoldState, OrderStatus, Permission, ShipmentStatus, TrackingStatus
from core.events import record_event
from core.holds import clear_hold, open_hold
from core.ingest import raw_text
from core.models import CarrierAccount, DeadLetter, Hold, Order, Shipment, TrackingEvent, utcnow
from core.settings import read_setting
from core.status import move_order

T = TrackingStatus
# What a carrier's status means for the parcel; None leaves the parcel's status as it is.
SHIPMENT_STATUS: dict[TrackingStatus, ShipmentStatus | None] = {
    T.PRE_TRANSIT: ShipmentStatus.LABEL_CREATED, T.IN_TRANSIT: ShipmentStatus.IN_TRANSIT,
    T.OUT_FOR_DELIVERY: ShipmentStatus.IN_TRANSIT, T.AVAILABLE_FOR_PICKUP: ShipmentStatus.IN_TRANSIT,
    T.FAILED_ATTEMPT: ShipmentStatus.IN_TRANSIT, T.DELIVERED: ShipmentStatus.DELIVERED,
    T.EXCEPTION: ShipmentStatus.EXCEPTION, T.RETURNED_TO_SENDER: ShipmentStatus.RETURNED,
    T.CANCELLED: ShipmentStatus.CANCELLED, T.UNKNOWN: None,
}
PROBLEMS = frozenset({T.FAILED_ATTEMPT, T.EXCEPTION, T.RETURNED_TO_SENDER})  # open CARRIER_EXCEPTION
FINISHED = (ShipmentStatus.DELIVERED, ShipmentStatus.RETURNED, ShipmentStatus.CANCELLED)  # no longer polled
TRACKING_SETTINGS = "tracking"
DEFAULT_STALE_HOURS = 72.0


def carrier_actor(code: str) -> Actor:
    return Actor(name=f"carrier:{code}", kind=ActorKind.WORKER)


def stale_after(session: Session) -> timedelta:
    return timedelta(hours=float(read_setting(session, TRACKING_SETTINGS).get("stale_hours", DEFAULT_STALE_HOURS)))


def _tracked_by(session: Session, account: CarrierAccount):  # type: ignore[no-untyped-def]
    """The SQL condition 'this parcel is followed by this account' (see core.carriers)."""
    own, others = carrier_names_of(session, account)
    name = func.lower(Shipment.carrier)
    if own is not None:
        return name.in_(own)
    return name.not_in(others) if others else True


def parcels_to_track(session: Session, account: CarrierAccount, *, after_id: int = 0,
                     limit: int = 500) -> list[tuple[int, str, str]]:
    """The next batch of undelivered parcels this account follows: (shipment id, tracking number, carrier)."""
    rows = session.execute(
        select(Shipment.id, Shipment.tracking_number, Shipment.carrier)
        .where(Shipment.status.not_in(FINISHED), Shipment.id > after_id, _tracked_by(session, account))
        .order_by(Shipment.id).limit(limit))
    return [tuple(r) for r in rows]  # type: ignore[misc]


def parcels_numbered(session: Session, account: CarrierAccount, tracking_number: str) -> list[int]:
    """The parcels this account follows that carry ``tracking_number``, delivered or not (for replays).

    Scoped like a poll: another carrier's parcel may carry the same number, and this
    account's word says nothing about it.
    """
    return list(session.scalars(select(Shipment.id).where(Shipment.tracking_number == tracking_number,
                                                          _tracked_by(session, account)).order_by(Shipment.id)))


@dataclass
class TrackingResult:
    scans: int = 0  # new tracking events stored
    parcels: int = 0  # parcels whose status, last scan or ETA changed
    unchanged: int = 0
    rejected: int = 0

    def __iadd__(self, other: TrackingResult) -> TrackingResult:
        self.scans += other.scans
        self.parcels += other.parcels
        self.unchanged += other.unchanged
        self.rejected += other.rejected
        return self


def apply_tracking(session: Session, account: CarrierAccount, shipment_ids: Sequence[int],
                   results: Iterable[TrackingUpdate | Rejection], *, run_id: int | None = None) -> TrackingResult:
    """Store one polled batch (the parcels ``shipment_ids``) in one transaction."""
    actor, result = carrier_actor(account.code), TrackingResult()
    results = list(results)
    with writing(session):
        parcels: dict[str, list[Shipment]] = {}
        for shipment in session.scalars(select(Shipment).where(Shipment.id.in_(list(shipment_ids)))
                                        .order_by(Shipment.id).execution_options(populate_existing=True)):
            parcels.setdefault(shipment.tracking_number, []).append(shipment)
        known = _known_scans(session, list(shipment_ids))
        touched: dict[int, list[tuple[Shipment, list[TrackingStatus], bool]]] = {}
        for item in results:
            if isinstance(item, Rejection):
                session.add(DeadLetter(channel_id=None, carrier_account_id=account.id, connector=account.code,
                                       run_id=run_id, external_id=item.external_id, raw=raw_text(item.raw),
                                       error=item.error, received_at=utcnow()))
                result.rejected += 1
                continue
            for shipment in parcels.get(item.tracking_number, []):
                new = [s for s in item.scans if (shipment.id, _key(s.occurred_at), s.carrier_code) not in known]
                _insert_scans(session, shipment.id, new)
                result.scans += len(new)
                changed = _update_parcel(session, shipment, item, actor)
                result.parcels += bool(changed or new)
                result.unchanged += not (changed or new)
                touched.setdefault(shipment.order_id, []).append((shipment, [s.status for s in new], changed))
        session.flush()
        for order_id, items in touched.items():
            _holds_and_order(session, order_id, items, actor)
    return result


def _key(at: datetime) -> datetime:
    return at.astimezone(UTC)


def _known_scans(session: Session, shipment_ids: list[int]) -> set[tuple[int, datetime, str]]:
    rows = session.execute(select(TrackingEvent.shipment_id, TrackingEvent.occurred_at, TrackingEvent.carrier_code)
                           .where(TrackingEvent.shipment_id.in_(shipment_ids)))
    return {(sid, _key(at), code) for sid, at, code in rows}


def _insert_scans(session: Session, shipment_id: int, scans: list) -> None:  # type: ignore[type-arg]
    if not scans:
        return
    rows = {(s.occurred_at, s.carrier_code): {
        "shipment_id": shipment_id, "occurred_at": s.occurred_at, "status": s.status, "carrier_code": s.carrier_code,
        "description": s.description, "place": s.place} for s in scans}
    dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # The unique key is the last line of defence; the pre-read above already left out what is stored.
    stmt = dialect_insert(TrackingEvent.__table__).on_conflict_do_nothing(
        index_elements=["shipment_id", "occurred_at", "carrier_code"])
    session.connection().execute(stmt, list(rows.values()))


def _update_parcel(session: Session, shipment: Shipment, update: TrackingUpdate, actor: Actor) -> bool:
    """Bring the parcel up to the carrier's word; record a status change on the order's timeline."""
    before = shipment.status
    target = SHIPMENT_STATUS[update.status] or before
    last = max((s.occurred_at for s in update.scans), default=None)
    changed = False
    if last is not None and (shipment.last_scan_at is None or last > shipment.last_scan_at):
        shipment.last_scan_at, changed = last, True
    if update.estimated_at is not None and update.estimated_at != shipment.estimated_at:
        shipment.estimated_at, changed = update.estimated_at, True
    if target is not before:
        shipment.status, changed = target, True
        if target is ShipmentStatus.DELIVERED:
            shipment.delivered_at = next((s.occurred_at for s in reversed(update.scans) if s.status is T.DELIVERED),
                                         last or utcnow())
        record_event(session, shipment.order_id, "parcel_status_changed", actor, detail={
            "carrier": shipment.carrier, "tracking_number": shipment.tracking_number, "from": before.value,
            "to": target.value, "carrier_status": update.carrier_status, "detail": update.detail})
    return changed


def _holds_and_order(session: Session, order_id: int, items: list, actor: Actor) -> None:  # type: ignore[type-arg]
    order = session.get_one(Order, order_id, populate_existing=True)
    for shipment, new_statuses, _changed in items:
        problems = [s for s in new_statuses if s in PROBLEMS]
        if problems and shipment.status is not ShipmentStatus.DELIVERED:
            what = problems[-1].label.lower()
            open_hold(session, order, HoldCode.CARRIER_EXCEPTION, actor=actor,
                      note=f"{shipment.carrier} {shipment.tracking_number}: {what}",
                      detail={"tracking_number": shipment.tracking_number, "tracking_status": problems[-1].value})
    siblings = session.execute(select(Shipment.status, Shipment.last_scan_at, Shipment.shipped_at)
                               .where(Shipment.order_id == order_id)).all()
    if any(new for _, new, _ in items):
        cutoff = utcnow() - stale_after(session)
        quiet = [1 for status, scan, shipped in siblings
                 if status not in FINISHED and (scan or shipped) < cutoff]
        if not quiet:
            clear_hold(session, order, HoldCode.TRACKING_STALE, actor=actor, reason="the carrier scanned the parcel")
    if any(s.status is ShipmentStatus.DELIVERED for s, _, _ in items):
        troubled = [1 for status, _, _ in siblings if status in (ShipmentStatus.EXCEPTION, ShipmentStatus.RETURNED)]
        if not troubled:
            clear_hold(session, order, HoldCode.CARRIER_EXCEPTION, actor=actor, reason="the parcel was delivered")
        if order.status is OrderStatus.SHIPPED and all(st is ShipmentStatus.DELIVERED for st, _, _ in siblings):
            move_order(session, order, OrderStatus.DELIVERED, actor=actor, reason="every parcel was delivered")


def sweep_stale(session: Session, *, actor: Actor, now: datetime | None = None, limit: int = 500) -> int:
    """Open TRACKING_STALE on orders with a tracked, undelivered parcel not scanned for the stale window.

    Only parcels some enabled carrier account follows are judged: without tracking, silence means nothing.
    """
    actor.require(Permission.EDIT_ORDER)  # the worker's sweep; a person needs what sweep_sla needs
    accounts = enabled_carrier_accounts(session)
    if not accounts:
        return 0
    window = stale_after(session)
    cutoff = (now or utcnow()) - window
    followed = or_(*[_tracked_by(session, a) for a in accounts])
    held = select(Hold.order_id).where(Hold.code == HoldCode.TRACKING_STALE, Hold.state == HoldState.OPEN)
    rows = session.execute(
        select(Shipment.order_id, Shipment.carrier, Shipment.tracking_number,
               func.coalesce(Shipment.last_scan_at, Shipment.shipped_at))
        .where(Shipment.status.not_in(FINISHED), func.coalesce(Shipment.last_scan_at, Shipment.shipped_at) < cutoff,
               followed, Shipment.order_id.not_in(held))
        .order_by(Shipment.order_id).limit(limit)).all()
    opened = 0
    with writing(session):
        for order_id, carrier, number, since in rows:
            order = session.get_one(Order, order_id)
            hours = int(window.total_seconds() // 3600)
            if open_hold(session, order, HoldCode.TRACKING_STALE, actor=actor,
                         note=f"{carrier} {number}: no scan for {hours} h (last {since:%Y-%m-%d %H:%M} UTC)",
                         detail={"tracking_number": number}) is not None:
                opened += 1
    return opened


JOURNEY_COLUMNS = ["shipment_id", "carrier", "tracking_number", "occurred_at", "status", "description", "place"]


def parcel_journeys(session: Session, order_id: int, *, limit: int = 500) -> pd.DataFrame:
    """Every scan of the order's parcels, parcel by parcel, oldest first (times in UTC)."""
    rows = session.execute(
        select(Shipment.id, Shipment.carrier, Shipment.tracking_number, TrackingEvent.occurred_at,
               TrackingEvent.status, TrackingEvent.description, TrackingEvent.place)
        .join(TrackingEvent, TrackingEvent.shipment_id == Shipment.id)
        .where(Shipment.order_id == order_id)
        .order_by(Shipment.shipped_at, Shipment.id, TrackingEvent.occurred_at, TrackingEvent.id).limit(limit)
    ).all()
    frame = pd.DataFrame.from_records([tuple(r) for r in rows], columns=JOURNEY_COLUMNS)
    frame["status"] = [s.label for s in frame["status"]]
    return frame


def scans_of(session: Session, shipment_ids: Sequence[int]) -> int:
    """How many tracking events these parcels have (tests and the CLI report use it)."""
    return session.scalar(select(func.count()).select_from(TrackingEvent)
                          .where(TrackingEvent.shipment_id.in_(list(shipment_ids)))) or 0


