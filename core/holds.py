"""Holds and exceptions: one triage item type, opened by rules or people, cleared by conditions or people."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from core.auth import Actor
from core.db import writing
from core.enums import HoldCode, HoldState, OrderStatus, Permission
from core.errors import InvalidInput, NotFound, StaleEdit
from core.events import record_event
from core.models import Hold, Location, Order, User, utcnow
from core.rules import address_problem
from core.status import move_order
from core.triage import triage_orders


def open_holds_of(session: Session, order_id: int) -> list[Hold]:
    return list(session.scalars(
        select(Hold).where(Hold.order_id == order_id, Hold.state == HoldState.OPEN).order_by(Hold.id)
    ))


def open_hold(
    session: Session, order: Order, code: HoldCode, *, actor: Actor, note: str | None = None,
    detail: dict[str, Any] | None = None, known_open: bool | None = None,
) -> Hold | None:
    """Open a hold of ``code`` on an order unless one is already open; returns the new hold or None.

    Runs in the caller's transaction and writes the event there. ``known_open`` lets a caller
    that already knows the order's open holds skip the look-up.
    """
    if known_open is None:
        known_open = session.scalar(select(Hold.id).where(
            Hold.order_id == order.id, Hold.code == code, Hold.state == HoldState.OPEN)) is not None
    if known_open:
        return None
    hold = Hold(order_id=order.id, code=code, blocking=code.blocking, order_ship_by=order.ship_by,
                state=HoldState.OPEN, opened_at=utcnow(),
                note=note, detail=detail or {})
    session.add(hold)
    record_event(session, order.id, "hold_opened", actor,
                 detail={"code": code.value, "blocking": code.blocking, "note": note, **(detail or {})})
    return hold


def clear_hold(session: Session, order: Order, code: HoldCode, *, actor: Actor, reason: str) -> bool:
    """Resolve the open hold of ``code`` because its condition cleared; True if one was open."""
    hold = session.scalar(select(Hold).where(
        Hold.order_id == order.id, Hold.code == code, Hold.state == HoldState.OPEN))
    if hold is None:
        return False
    hold.state = HoldState.RESOLVED
    hold.resolution = "cleared"
    hold.resolved_by = actor.name
    hold.resolved_at = utcnow()
    record_event(session, order.id, "hold_cleared", actor, detail={"code": code.value, "reason": reason})
    return True


# --- Desk actions: each checks the actor's permission, refuses stale input, writes its events ----------


@dataclass(frozen=True)
class HoldRef:
    """A hold as the user saw it: its id and the version on screen (for the optimistic lock)."""

    hold_id: int
    version: int


def _load_holds(session: Session, refs: list[HoldRef]) -> list[Hold]:
    """The open holds behind ``refs``, refusing the whole batch if any changed since it was shown."""
    if not refs:
        raise InvalidInput("Select at least one item.")
    holds = {h.id: h for h in session.scalars(select(Hold).where(Hold.id.in_([r.hold_id for r in refs])))}
    for ref in refs:
        hold = holds.get(ref.hold_id)
        if hold is None:
            raise NotFound(f"No hold with id {ref.hold_id}.")
        if hold.version != ref.version or hold.state is not HoldState.OPEN:
            number = session.scalar(select(Order.number).where(Order.id == hold.order_id))
            raise StaleEdit(f"The {hold.code.label.lower()} hold on order {number}")
    return [holds[r.hold_id] for r in refs]


def _load_order(session: Session, order_id: int, version: int | None) -> Order:
    """The order, locked for this transaction and read fresh, so the version check sees the latest."""
    order = session.scalar(select(Order).where(Order.id == order_id).with_for_update()
                           .execution_options(populate_existing=True))
    if order is None:
        raise NotFound(f"No order with internal id {order_id}.")
    if version is not None and order.version != version:
        raise StaleEdit(f"Order {order.number}")
    return order


def _commit_or_stale(session: Session, what: str) -> None:
    """Flush now so a concurrent writer's newer version shows up as a clear refusal."""
    try:
        session.flush()
    except StaleDataError:
        raise StaleEdit(what) from None


def release(session: Session, refs: list[HoldRef], *, actor: Actor, note: str) -> int:
    """Release open holds (ops lead); an order moves on once its last blocking hold is gone."""
    actor.require(Permission.RELEASE_HOLD)
    note = _required(note, "a note saying why")
    with writing(session):
        holds = _load_holds(session, refs)
        for hold in holds:
            _resolve(hold, actor, "released", note)
            record_event(session, hold.order_id, "hold_released", actor,
                         detail={"code": hold.code.value, "note": note})
        _commit_or_stale(session, "A selected hold")
        triage_orders(session, {h.order_id for h in holds if h.order_id is not None}, actor=actor)
    return len(refs)


def assign(session: Session, refs: list[HoldRef], *, assignee_id: int | None, actor: Actor,
           note: str = "") -> int:
    """Give holds to a teammate (or take them back to nobody)."""
    actor.require(Permission.ASSIGN_HOLD)
    with writing(session):
        assignee = session.get(User, assignee_id) if assignee_id is not None else None
        if assignee_id is not None and (assignee is None or not assignee.active):
            raise InvalidInput("Assign to an active user.")
        for hold in _load_holds(session, refs):
            before = hold.assignee_id
            if before == assignee_id:
                continue
            hold.assignee_id = assignee_id
            record_event(session, hold.order_id, "hold_assigned", actor, detail={
                "code": hold.code.value, "before": _username(session, before),
                "after": assignee.username if assignee else None, "note": note or None})
        _commit_or_stale(session, "A selected hold")
    return len(refs)


def place_manual_hold(session: Session, order_id: int, *, order_version: int | None, actor: Actor,
                      note: str) -> Hold:
    """Put an order on hold by hand (support or ops lead), with a note saying why."""
    actor.require(Permission.PLACE_MANUAL_HOLD)
    note = _required(note, "a note saying why")
    with writing(session):
        order = _load_order(session, order_id, order_version)
        if not order.is_open or order.status is OrderStatus.PARTIALLY_SHIPPED:
            raise InvalidInput(f"Order {order.number} is {order.status.label.lower()}: too late to hold it.")
        hold = open_hold(session, order, HoldCode.MANUAL, actor=actor, note=note)
        if hold is None:
            raise InvalidInput(f"Order {order.number} already has a manual hold.")
        order.updated_at = utcnow()  # a new hold changes the order: anyone holding an older view is stale
        _commit_or_stale(session, f"Order {order.number}")
        triage_orders(session, [order.id], actor=actor)
    return hold


def add_note(session: Session, order_id: int, *, actor: Actor, note: str) -> None:
    """Add a note to an order's timeline (never changes the order, so never stale)."""
    actor.require(Permission.ADD_NOTE)
    note = _required(note, "the note")
    with writing(session):
        order = _load_order(session, order_id, None)
        record_event(session, order.id, "note_added", actor, detail={"note": note})


def cancel_order(session: Session, order_id: int, *, order_version: int | None, actor: Actor,
                 reason: str) -> None:
    """Cancel an open order: its reservations go back to stock and its open holds close."""
    actor.require(Permission.CANCEL_ORDER)
    reason = _required(reason, "a reason")
    with writing(session):
        order = _load_order(session, order_id, order_version)
        if not order.is_open:
            raise InvalidInput(f"Order {order.number} is {order.status.label.lower()}: it cannot be cancelled.")
        from core.allocation import release_order_allocations

        release_order_allocations(session, order, actor=actor, reason="order cancelled")
        for hold in open_holds_of(session, order.id):
            _resolve(hold, actor, "order_cancelled", reason)
        move_order(session, order, OrderStatus.CANCELLED, actor=actor, reason=reason)
        order.cancelled_at = utcnow()
        _commit_or_stale(session, f"Order {order.number}")


def fix_address(session: Session, order_id: int, *, order_version: int | None, address: dict[str, Any],
                actor: Actor) -> str | None:
    """Correct the ship-to; the address hold clears if it is now complete. Returns what is still missing."""
    actor.require(Permission.EDIT_ORDER)
    with writing(session):
        order = _load_order(session, order_id, order_version)
        before = dict(order.ship_to or {})
        after = {**before, **{k: (str(v).strip() or None) if v is not None else None for k, v in address.items()}}
        if after.get("country_code"):
            after["country_code"] = str(after["country_code"]).upper()
        order.ship_to = after
        order.ship_country = after.get("country_code")
        order.ship_region = after.get("region")
        record_event(session, order.id, "address_fixed", actor, detail={
            "before": _address_line(before), "after": _address_line(after)})
        _commit_or_stale(session, f"Order {order.number}")
        triage_orders(session, [order.id], actor=actor)
    return address_problem(after)


def _resolve(hold: Hold, actor: Actor, resolution: str, note: str) -> None:
    hold.state = HoldState.RESOLVED
    hold.resolution = resolution
    hold.resolved_by = actor.name
    hold.resolved_at = utcnow()
    hold.note = note if not hold.note else f"{hold.note}\n{actor.name}: {note}"


def _required(text: str | None, what: str) -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidInput(f"Please give {what}.")
    return text[:2000]


def _username(session: Session, user_id: int | None) -> str | None:
    return session.scalar(select(User.username).where(User.id == user_id)) if user_id else None


def _address_line(address: dict[str, Any]) -> str:
    parts = [address.get(k) for k in ("name", "address1", "address2", "city", "region", "postal_code",
                                      "country_code")]
    return ", ".join(str(p) for p in parts if p)


def reroute(session: Session, order_id: int, *, order_version: int | None, location_id: int, actor: Actor,
            note: str) -> str:
    """Ship a whole order from a location the ops lead chose (also outside its zones); returns the why.

    Its current reservations go back first; out-of-zone and backorder items close as re-routed.
    Refused while another blocking hold is open: those need their own decision.
    """
    actor.require(Permission.EDIT_ORDER)
    note = _required(note, "a note saying why")
    from core.allocation import release_order_allocations, reserve_whole_order_at

    with writing(session):
        order = _load_order(session, order_id, order_version)
        if order.status not in REROUTABLE:
            raise InvalidInput(f"Order {order.number} is {order.status.label.lower()}: it cannot be re-routed.")
        open_items = open_holds_of(session, order.id)
        others = [h.code.label for h in open_items if h.blocking and h.code not in _REROUTE_CLOSES]
        if others:
            raise InvalidInput(f"Order {order.number} still has {', '.join(others)} on hold: release that first.")
        location = session.get(Location, location_id)
        if location is None or not location.active:
            raise InvalidInput("Choose an active location.")
        release_order_allocations(session, order, actor=actor, reason=f"re-routed to {location.code}")
        plan = reserve_whole_order_at(session, order, location, actor=actor, note=note)
        for hold in open_items:
            if hold.code in _REROUTE_CLOSES:
                _resolve(hold, actor, "rerouted", note)
                record_event(session, order.id, "hold_released", actor,
                             detail={"code": hold.code.value, "note": f"re-routed to {location.code}: {note}"})
        if order.status is OrderStatus.ON_HOLD:
            move_order(session, order, OrderStatus.READY, actor=actor, reason="re-routed")
        if order.status is not OrderStatus.ALLOCATED:
            move_order(session, order, OrderStatus.ALLOCATED, actor=actor, reason=plan.reason)
        _commit_or_stale(session, f"Order {order.number}")
    return plan.reason


REROUTABLE = (OrderStatus.ON_HOLD, OrderStatus.READY, OrderStatus.BACKORDERED, OrderStatus.ALLOCATED)
_REROUTE_CLOSES = (HoldCode.OUT_OF_ZONE, HoldCode.BACKORDER)


def sync_hold_deadlines(session: Session, order_id: int, ship_by: datetime) -> None:
    """Keep the copy of an order's ship-by on its open holds in step (the hold queue sorts by it)."""
    session.execute(update(Hold).where(Hold.order_id == order_id, Hold.state == HoldState.OPEN)
                    .values(order_ship_by=ship_by).execution_options(synchronize_session=False))
