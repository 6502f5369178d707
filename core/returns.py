"""Returns (RMAs): authorise, receive, inspect, override a disposition, decide a refund.

Each verb checks the actor's permission, locks the RMA, refuses a stale version ("changed by
someone else"), changes it, and writes its events - one transaction. Restocking goes through
``core.inventory.book_on_hand`` at the RMA's receiving location, and only for a line that has
not been restocked yet, so a form submitted twice restocks once.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from core import return_rules as rules
from core.auth import Actor
from core.db import writing
from core.enums import Disposition, Grade, MovementKind, Permission, ReturnReason, ReturnStatus
from core.errors import InvalidInput, NotFound, StaleEdit
from core.events import record_event
from core.inventory import book_on_hand
from core.models import Location, Order, OrderLine, Return, ReturnLine, Setting, utcnow
from core.return_reads import claimed_by_line, shipping_location_id
from core.settings import read_setting, store_setting

SETTING = "returns"


@dataclass(frozen=True)
class LineRequest:
    """One order line on a new RMA: how many units and why."""

    order_line_id: int
    quantity: int
    reason: ReturnReason


@dataclass(frozen=True)
class LineInspection:
    """A clerk's verdict on one RMA line; ``disposition`` set means an ops lead overrides the proposal."""

    line_id: int
    grade: Grade
    notes: str = ""
    disposition: Disposition | None = None
    override_reason: str = ""


def return_settings(session: Session) -> rules.ReturnSettings:
    return rules.ReturnSettings.from_dict(read_setting(session, SETTING))


def save_return_settings(session: Session, settings: rules.ReturnSettings, *, actor: Actor) -> bool:
    """Change the reasons offered, the restocking fee or open-box selling (admin); False if nothing changed."""
    actor.require(Permission.MANAGE_SETTINGS)
    if not settings.reasons:
        raise InvalidInput("Offer at least one return reason.")
    if not Decimal(0) <= settings.restocking_fee_pct <= Decimal(100):
        raise InvalidInput("The restocking fee is a percentage from 0 to 100.")
    with writing(session):
        row = session.get(Setting, SETTING, populate_existing=True)
        before = rules.ReturnSettings.from_dict(dict(row.value) if row else {}).to_dict()
        if before == settings.to_dict():
            return False
        store_setting(session, row, SETTING, before, settings.to_dict(), actor)
    return True


# --- authorise -------------------------------------------------------------------------------------


def authorise_return(
    session: Session, order_id: int, lines: list[LineRequest], *, actor: Actor, note: str = "",
    location_id: int | None = None, tracking_number: str | None = None,
) -> Return:
    """Open an RMA on an order's shipped lines (support, ops lead); returns it with its new number.

    Each quantity is at most shipped minus what earlier RMAs already claim. The receiving
    location defaults to the one that shipped the order. A return tracking number puts the RMA
    straight in transit.
    """
    actor.require(Permission.AUTHORISE_RETURN)
    wanted = [ln for ln in lines if ln.quantity]
    if not wanted:
        raise InvalidInput("Give a quantity for at least one shipped line.")
    settings = return_settings(session)
    with writing(session):
        order = session.scalar(select(Order).where(Order.id == order_id).with_for_update())
        if order is None:
            raise NotFound(f"No order with internal id {order_id}.")
        by_id = {ln.id: ln for ln in session.scalars(select(OrderLine).where(OrderLine.order_id == order_id))}
        claimed = claimed_by_line(session, list(by_id))
        for req in wanted:
            line = by_id.get(req.order_line_id)
            if line is None:
                raise InvalidInput(f"Line {req.order_line_id} is not on order {order.number}.")
            if ReturnReason(req.reason) not in settings.reasons:
                raise InvalidInput(f"{ReturnReason(req.reason).label} is not an offered return reason.")
            room = rules.returnable(line.qty_shipped, claimed.get(line.id, 0))
            if not 0 < req.quantity <= room:
                raise InvalidInput(f"{line.sku}: at most {room} can be returned ({line.qty_shipped} shipped, "
                                   f"{claimed.get(line.id, 0)} already on RMAs); {req.quantity} asked.")
        where = _location(session, location_id or shipping_location_id(session, order))
        tracking = (tracking_number or "").strip() or None
        now = utcnow()
        rma = Return(
            number=new_rma_number(session, order), order_id=order.id, reason=ReturnReason(wanted[0].reason),
            note=note.strip()[:2000] or None, location_id=where.id, tracking_number=tracking,
            status=ReturnStatus.IN_TRANSIT if tracking else ReturnStatus.REQUESTED, created_by=actor.name,
            created_at=now, updated_at=now,
        )
        session.add(rma)
        session.flush()
        for req in wanted:
            session.add(ReturnLine(return_id=rma.id, order_line_id=req.order_line_id, qty_authorised=req.quantity,
                                   reason=ReturnReason(req.reason)))
        record_event(session, order.id, "return_authorised", actor, subject="return", detail={
            "rma": rma.number, "location": where.code, "note": rma.note, "tracking_number": tracking,
            "lines": [{"sku": by_id[r.order_line_id].sku, "quantity": r.quantity, "reason": ReturnReason(r.reason).value}
                      for r in wanted]})
    return rma


def mark_in_transit(session: Session, return_id: int, *, version: int, tracking_number: str, actor: Actor) -> None:
    """The customer sent the parcel back: record its tracking number (support, ops lead, a channel)."""
    actor.require(Permission.AUTHORISE_RETURN)
    tracking = tracking_number.strip()
    if not tracking:
        raise InvalidInput("Give the return parcel's tracking number.")
    with writing(session):
        rma = _load(session, return_id, version, ReturnStatus.REQUESTED, ReturnStatus.IN_TRANSIT)
        rma.tracking_number, rma.status = tracking[:80], ReturnStatus.IN_TRANSIT
        _touch(session, rma)
        record_event(session, rma.order_id, "return_in_transit", actor, subject="return",
                     detail={"rma": rma.number, "tracking_number": rma.tracking_number})


# --- receive ---------------------------------------------------------------------------------------


def receive_return(
    session: Session, return_id: int, *, version: int, received: dict[int, int], actor: Actor, note: str = "",
) -> Return:
    """The parcel is at the dock (clerk): units received per RMA line; fewer means missing, more is refused."""
    actor.require(Permission.RECEIVE_RETURN)
    with writing(session):
        rma = _load(session, return_id, version, *rules.RECEIVABLE)
        lines = _lines(session, rma.id)
        if any(q is None or int(q) < 0 for q in received.values()) or set(received) - {ln.id for ln, _ in lines}:
            raise InvalidInput("Give a received quantity of 0 or more for lines of this RMA only.")
        counts = {ln.id: int(received.get(ln.id, 0)) for ln, _ in lines}
        if problem := rules.over_received([(ol.sku, ln.qty_authorised, counts[ln.id]) for ln, ol in lines]):
            raise InvalidInput(problem)
        missing = {}
        for line, order_line in lines:
            line.qty_received = counts[line.id]
            # An increment in SQL: two RMAs of one order received at once must both count.
            session.execute(update(OrderLine).where(OrderLine.id == order_line.id)
                            .values(qty_returned=OrderLine.qty_returned + counts[line.id])
                            .execution_options(synchronize_session=False))
            if counts[line.id] < line.qty_authorised:
                missing[order_line.sku] = line.qty_authorised - counts[line.id]
        rma.status, rma.received_at = ReturnStatus.RECEIVED, utcnow()
        _touch(session, rma)
        record_event(session, rma.order_id, "return_received", actor, subject="return", detail={
            "rma": rma.number, "location": _code(session, rma.location_id), "note": note.strip() or None,
            "received": {ol.sku: counts[ln.id] for ln, ol in lines}, "missing": missing})
    return rma


# --- inspect ---------------------------------------------------------------------------------------


def inspect_return(
    session: Session, return_id: int, *, version: int, verdicts: list[LineInspection], actor: Actor,
) -> Return:
    """Grade every received line (clerk); the grade's disposition applies and restockable units go back on the shelf.

    An ops lead may choose another disposition on the same form (with a reason). The refund
    the rules recommend is recorded as decided for A, B and MISSING; C and D wait for an ops lead.
    """
    actor.require(Permission.INSPECT_RETURN)
    if any(v.disposition is not None for v in verdicts):
        actor.require(Permission.OVERRIDE_DISPOSITION)
    settings = return_settings(session)
    with writing(session):
        rma = _load(session, return_id, version, ReturnStatus.RECEIVED)
        lines = _lines(session, rma.id)
        given = {v.line_id: v for v in verdicts}
        if set(given) - {ln.id for ln, _ in lines}:
            raise InvalidInput("Grade the lines of this RMA only.")
        now, summary = utcnow(), []
        for line, order_line in lines:
            verdict = given.get(line.id)
            if verdict is None and line.qty_received:
                raise InvalidInput(f"Grade {order_line.sku}: every line that arrived needs a grade.")
            grade = Grade.MISSING if not line.qty_received else Grade(verdict.grade)
            proposed = rules.proposed_disposition(grade)
            chosen = proposed
            if verdict is not None and verdict.disposition is not None and grade is not Grade.MISSING:
                chosen = Disposition(verdict.disposition)
                if chosen != proposed and not verdict.override_reason.strip():
                    raise InvalidInput(f"{order_line.sku}: say why the disposition differs from the grade's.")
            line.grade, line.proposed_disposition, line.disposition = grade, proposed, chosen
            line.override_reason = (verdict.override_reason.strip()[:300] or None) if chosen != proposed else None
            line.notes = (verdict.notes.strip()[:2000] or None) if verdict else None
            line.inspector = actor.name
            line.refund_recommended = rules.recommend_refund(grade, line.reason, order_line.unit_price,
                                                             line.qty_received or 0, settings.restocking_fee_pct)
            if line.refund_recommended is not None:  # the rule decides; a C or D line waits for an ops lead
                line.refund_amount, line.refund_decided_by, line.refund_decided_at = \
                    line.refund_recommended, actor.name, now
            _restock(session, rma, line, order_line, actor, settings.open_box_sellable)
            summary.append({"sku": order_line.sku, "grade": grade.value, "disposition": _value(chosen),
                            "proposed": _value(proposed), "override_reason": line.override_reason,
                            "refund": _text(line.refund_recommended), "notes": line.notes})
        rma.inspected_at = now
        record_event(session, rma.order_id, "return_inspected", actor, subject="return",
                     detail={"rma": rma.number, "lines": summary})
        _settle(session, rma, [ln for ln, _ in lines], actor)
    return rma


def override_disposition(
    session: Session, return_id: int, *, version: int, line_id: int, disposition: Disposition, reason: str,
    actor: Actor,
) -> None:
    """An ops lead changes an inspected line's disposition, with a reason; the stock follows through the ledger."""
    actor.require(Permission.OVERRIDE_DISPOSITION)
    if not reason.strip():
        raise InvalidInput("Say why the disposition changes.")
    settings = return_settings(session)
    with writing(session):
        rma = _load(session, return_id, version, ReturnStatus.INSPECTED, ReturnStatus.CLOSED)
        line, order_line = _line(session, rma, line_id)
        if line.grade is Grade.MISSING or not line.qty_received:
            raise InvalidInput(f"{order_line.sku}: nothing arrived, so there is nothing to dispose of.")
        before, after = line.disposition, Disposition(disposition)
        if before == after:
            raise InvalidInput(f"{order_line.sku} is already {after.label.lower()}.")
        if line.restocked_sku and rules.restock_sku(after, order_line.sku,
                                                     open_box_sellable=settings.open_box_sellable) != line.restocked_sku:
            _unstock(session, rma, line, actor, f"disposition now {after.label.lower()}")  # take them back off
        line.disposition, line.override_reason = after, reason.strip()[:300]
        _restock(session, rma, line, order_line, actor, settings.open_box_sellable)
        _touch(session, rma)
        record_event(session, rma.order_id, "return_disposition_overridden", actor, subject="return", detail={
            "rma": rma.number, "sku": order_line.sku, "grade": _value(line.grade), "before": _value(before),
            "after": after.value, "reason": line.override_reason})


def decide_refund(
    session: Session, return_id: int, *, version: int, line_id: int, amount: str | Decimal, actor: Actor,
    note: str = "",
) -> None:
    """An ops lead sets the refund of an inspected line (required for C and D); the RMA closes once all are set."""
    actor.require(Permission.DECIDE_REFUND)
    with writing(session):
        rma = _load(session, return_id, version, ReturnStatus.INSPECTED, ReturnStatus.CLOSED)
        line, order_line = _line(session, rma, line_id)
        ceiling = (order_line.unit_price * (line.qty_received or 0)).quantize(rules.CENT)
        value = _amount(amount)
        if value > ceiling:
            raise InvalidInput(f"{order_line.sku}: at most {ceiling} (the price of the {line.qty_received or 0} "
                               f"received); {value} asked.")
        before = line.refund_amount
        line.refund_amount, line.refund_decided_by, line.refund_decided_at = value, actor.name, utcnow()
        record_event(session, rma.order_id, "return_refund_decided", actor, subject="return", detail={
            "rma": rma.number, "sku": order_line.sku, "grade": _value(line.grade), "before": _text(before),
            "after": _text(value), "recommended": _text(line.refund_recommended), "note": note.strip() or None})
        _settle(session, rma, [ln for ln, _ in _lines(session, rma.id)], actor)


# --- helpers ---------------------------------------------------------------------------------------


def _load(session: Session, return_id: int, version: int | None, *allowed: ReturnStatus) -> Return:
    """The RMA, locked and read fresh; refused if it changed since it was shown or is past this step."""
    rma = session.scalar(select(Return).where(Return.id == return_id).with_for_update()
                         .execution_options(populate_existing=True))
    if rma is None:
        raise NotFound(f"No return with id {return_id}.")
    if version is not None and rma.version != version:
        raise StaleEdit(f"RMA {rma.number}")
    if rma.status not in allowed:
        raise InvalidInput(f"RMA {rma.number} is {rma.status.label.lower()}: "
                           f"this step needs it {' or '.join(s.label.lower() for s in allowed)}.")
    return rma


def _touch(session: Session, rma: Return) -> None:
    """Bump the RMA's version now, so a concurrent writer is refused as stale rather than merged."""
    rma.updated_at = utcnow()
    try:
        session.flush()
    except StaleDataError:
        raise StaleEdit(f"RMA {rma.number}") from None


def _lines(session: Session, return_id: int) -> list[tuple[ReturnLine, OrderLine]]:
    return [(ln, ol) for ln, ol in session.execute(
        select(ReturnLine, OrderLine).join(OrderLine, OrderLine.id == ReturnLine.order_line_id)
        .where(ReturnLine.return_id == return_id).order_by(ReturnLine.id)
        .execution_options(populate_existing=True))]


def _line(session: Session, rma: Return, line_id: int) -> tuple[ReturnLine, OrderLine]:
    found = next(((ln, ol) for ln, ol in _lines(session, rma.id) if ln.id == line_id), None)
    if found is None:
        raise NotFound(f"RMA {rma.number} has no line {line_id}.")
    return found


def _restock(session: Session, rma: Return, line: ReturnLine, order_line: OrderLine, actor: Actor,
             open_box_sellable: bool) -> None:
    """Put a line's received units back on the shelf if its disposition says so - once (restocked_at guards it)."""
    sku = rules.restock_sku(line.disposition, order_line.sku, open_box_sellable=open_box_sellable)
    if sku is None or line.restocked_at is not None or not line.qty_received:
        return
    book_on_hand(session, _location(session, rma.location_id), sku, kind=MovementKind.RETURN_RESTOCK,
                 delta=line.qty_received, actor=actor, reason=f"return grade {line.grade.value}",
                 reference=rma.number, order_id=rma.order_id)
    line.restocked_at, line.restocked_sku = utcnow(), sku


def _unstock(session: Session, rma: Return, line: ReturnLine, actor: Actor, why: str) -> None:
    """Take restocked units back out (an override away from restock); refused if they are already reserved."""
    book_on_hand(session, _location(session, rma.location_id), line.restocked_sku, kind=MovementKind.RETURN_RESTOCK,
                 delta=-(line.qty_received or 0), actor=actor, reason=why[:200], reference=rma.number,
                 order_id=rma.order_id)
    line.restocked_at, line.restocked_sku = None, None


def _settle(session: Session, rma: Return, lines: list[ReturnLine], actor: Actor) -> None:
    """Move the RMA to inspected, or to closed once every line's refund is decided."""
    status = rules.status_after_inspection([ln.refund_amount is not None for ln in lines])
    if status is ReturnStatus.CLOSED and rma.status is not ReturnStatus.CLOSED:
        rma.closed_at = utcnow()
        total = sum((ln.refund_amount for ln in lines), Decimal("0.00"))
        record_event(session, rma.order_id, "return_closed", actor, subject="return",
                     detail={"rma": rma.number, "refund_total": _text(total)})
    rma.status = status
    _touch(session, rma)


def _location(session: Session, location_id: int | None) -> Location:
    location = session.get(Location, location_id) if location_id is not None else None
    if location is None:
        raise InvalidInput("Choose the location that receives the return.")
    return location


def _code(session: Session, location_id: int | None) -> str | None:
    return session.scalar(select(Location.code).where(Location.id == location_id)) if location_id else None


def new_rma_number(session: Session, order: Order) -> str:
    """RMA-<order number>-<n>: readable on a parcel label, unique (the order row is locked while it is chosen)."""
    base = "".join(ch for ch in order.number if ch.isalnum() or ch == "-")[:24] or str(order.id)
    n = (session.scalar(select(func.count()).where(Return.order_id == order.id)) or 0) + 1
    while session.scalar(select(Return.id).where(Return.number == f"RMA-{base}-{n}")) is not None:
        n += 1  # the same number on another channel's order took it
    return f"RMA-{base}-{n}"


def _amount(text: str | Decimal) -> Decimal:
    try:
        value = Decimal(str(text).strip().replace(",", ""))
    except InvalidOperation:
        raise InvalidInput(f"{text!r} is not an amount.") from None
    if not value.is_finite() or value < 0:
        raise InvalidInput("A refund is 0 or more.")
    return value.quantize(rules.CENT)


def _value(member: object) -> str | None:
    return getattr(member, "value", None)


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)
