"""Returns the channels open themselves (e.g. a Shopify refund with restock): RMAs opened during ingest.

Called by ``core.ingest`` inside the page's transaction, after the order's lines and parcels
are stored, so one page stores the order, its RMAs and the cursor together or not at all.
One RMA per channel return, keyed by (order, external id): polling the same order again
opens nothing new (the unique index on returns backs this up).

The RMA opens as *requested*, even when the shop says it restocked the goods. The shop's
restock moved the shop's own count; OpsDesk's stock moves only through its ledger, when a
clerk receives the parcel at the dock and grades it. Opening it as received would skip that
count (missing units) and the grading, and restocking on the channel's word would put
unsellable units back on the shelf. So the desk receives and inspects it like any other
return, and the units are restocked once, through the normal ``receive_return`` /
``inspect_return`` path.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.schemas import ChannelReturn
from core import return_rules as rules
from core.auth import Actor
from core.enums import ReturnStatus
from core.events import record_event
from core.models import Event, Location, Order, Return, ReturnLine, utcnow
from core.return_reads import claimed_by_line, shipping_location_id
from core.returns import new_rma_number

SKIPPED = "return_channel_skipped"


def open_channel_returns(session: Session, order: Order, returns: Sequence[ChannelReturn], actor: Actor) -> int:
    """Open an RMA for each channel return not seen before on this order; returns how many were opened.

    Quantities are capped at shipped minus what RMAs already claim: whatever fits is kept and
    the RMA's note says what was cut and why; a return of which nothing fits opens no RMA and
    leaves one event on the order's timeline instead. Never raises for the channel's data, so
    one odd refund never fails the whole page. The caller owns the transaction.
    """
    if not returns:
        return 0
    known = set(session.scalars(select(Return.external_id).where(
        Return.order_id == order.id, Return.external_id.in_([r.external_id for r in returns]))))
    todo = [r for r in returns if r.external_id not in known]
    if not todo:
        return 0
    session.flush()  # lines shipped by this page's parcels count
    by_external = {line.external_id: line for line in order.lines}
    claimed = claimed_by_line(session, [line.id for line in order.lines])
    location_id = shipping_location_id(session, order)
    opened = 0
    for channel_return in sorted(todo, key=lambda r: (r.created_at, r.external_id)):
        kept, cuts = [], []
        for asked in channel_return.lines:
            line = by_external.get(asked.line_external_id)
            if line is None:
                cuts.append(f"line {asked.line_external_id} is not on this order")
                continue
            room = rules.returnable(line.qty_shipped, claimed.get(line.id, 0))
            quantity = min(asked.quantity, room)
            if quantity < asked.quantity:
                cuts.append(f"{line.sku}: {asked.quantity} asked, {quantity} kept ({line.qty_shipped} shipped, "
                            f"{claimed.get(line.id, 0)} already on RMAs)")
            if quantity > 0:
                kept.append((line, quantity))
                claimed[line.id] = claimed.get(line.id, 0) + quantity
        if not kept:
            _skip_once(session, order.id, channel_return, cuts, actor)
            continue
        _open(session, order, channel_return, kept, cuts, location_id, actor)
        opened += 1
    return opened


def _open(session: Session, order: Order, channel_return: ChannelReturn, kept: list, cuts: list[str],
          location_id: int | None, actor: Actor) -> None:
    reason = rules.reason_from_note(channel_return.note)
    note = " ".join(part for part in (
        f"Opened by the channel (refund {channel_return.external_id}).",
        f"Channel note: {channel_return.note}" if channel_return.note else "",
        f"Capped: {'; '.join(cuts)}." if cuts else "") if part)
    now = utcnow()
    rma = Return(number=new_rma_number(session, order), order_id=order.id, reason=reason, note=note[:2000],
                 location_id=location_id, external_id=channel_return.external_id, status=ReturnStatus.REQUESTED,
                 created_by=actor.name, created_at=now, updated_at=now)
    session.add(rma)
    session.flush()
    for line, quantity in kept:
        session.add(ReturnLine(return_id=rma.id, order_line_id=line.id, qty_authorised=quantity, reason=reason))
    code = session.scalar(select(Location.code).where(Location.id == location_id)) if location_id else None
    record_event(session, order.id, "return_authorised", actor, subject="return", detail={
        "rma": rma.number, "location": code, "note": rma.note, "tracking_number": None,
        "external_id": channel_return.external_id, "channel_created_at": channel_return.created_at.isoformat(),
        "lines": [{"sku": line.sku, "quantity": q, "reason": reason.value} for line, q in kept]})


def _skip_once(session: Session, order_id: int, channel_return: ChannelReturn, cuts: list[str],
               actor: Actor) -> None:
    """Say once on the timeline that a channel return had nothing that could come back."""
    seen = session.scalars(select(Event.detail).where(Event.order_id == order_id, Event.kind == SKIPPED))
    if any((detail or {}).get("external_id") == channel_return.external_id for detail in seen):
        return
    record_event(session, order_id, SKIPPED, actor, subject="return", detail={
        "external_id": channel_return.external_id, "why": "; ".join(cuts) or "nothing shipped to return"})
