"""Shipping from the desk: an ops lead marks reserved allocations shipped with carrier and tracking number.

One write transaction: the order (locked, version-checked), the allocations (RESERVED ->
SHIPPED by one conditional update whose row count must match, so a stale or repeated
submit ships nothing twice), the stock (on hand and reserved both drop, each level by one
conditional update, each with its ledger row), the parcel and its lines, the order's status
through ``move_order``, and the events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from core.auth import Actor
from core.db import writing
from core.enums import AllocationStatus, HoldCode, MovementKind, OrderStatus, Permission, ShipmentStatus
from core.errors import InvalidInput, NotFound, StaleEdit
from core.events import record_event
from core.holds import clear_hold
from core.models import (
    Allocation,
    InventoryLevel,
    InventoryMovement,
    Location,
    Order,
    OrderLine,
    Shipment,
    ShipmentLine,
    utcnow,
)
from core.status import move_order

SHIPPABLE = (OrderStatus.ALLOCATED, OrderStatus.PARTIALLY_SHIPPED)
_LEVELS = InventoryLevel.__table__
# Shipping takes units that are both on hand and reserved: it only matches while they still are.
_SHIP_UNITS = (
    update(_LEVELS)
    .where(_LEVELS.c.location_id == bindparam("loc"), _LEVELS.c.sku == bindparam("b_sku"),
           _LEVELS.c.reserved >= bindparam("q"), _LEVELS.c.on_hand >= bindparam("q"))
    .values(on_hand=_LEVELS.c.on_hand - bindparam("q"), reserved=_LEVELS.c.reserved - bindparam("q"),
            version=_LEVELS.c.version + 1)
)


@dataclass(frozen=True)
class Shipped:
    """What one desk shipment did."""

    shipment_id: int
    order_number: str
    order_status: OrderStatus
    units: int
    location: str


def _text(value: str | None, what: str, limit: int, *, required: bool = True) -> str | None:
    text = " ".join((value or "").split())
    if not text:
        if required:
            raise InvalidInput(f"Please give the {what}.")
        return None
    if len(text) > limit:
        raise InvalidInput(f"The {what} is at most {limit} characters.")
    return text


def ship_allocations(
    session: Session, order_id: int, *, order_version: int | None, allocation_ids: list[int], carrier: str,
    tracking_number: str, actor: Actor, service: str | None = None, shipped_at: datetime | None = None,
) -> Shipped:
    """Ship reserved allocations of one order from one location as one parcel (ops lead).

    Refused as stale ("changed by someone else") when the order moved on since it was shown
    or an allocation is no longer reserved - e.g. the same form submitted twice.
    """
    actor.require(Permission.SHIP_ORDER)
    carrier_name = _text(carrier, "carrier", 60)
    number = (tracking_number or "").strip()
    if not number or len(number) > 80 or any(c.isspace() for c in number):
        raise InvalidInput("A tracking number is 1 to 80 characters without spaces.")
    service_name = _text(service, "service", 60, required=False)
    if not allocation_ids:
        raise InvalidInput("Select at least one allocation to ship.")
    when = shipped_at or utcnow()
    with writing(session):
        order = session.scalar(select(Order).where(Order.id == order_id).with_for_update()
                               .execution_options(populate_existing=True))
        if order is None:
            raise NotFound(f"No order with internal id {order_id}.")
        if order_version is not None and order.version != order_version:
            raise StaleEdit(f"Order {order.number}")
        if order.status not in SHIPPABLE:
            raise InvalidInput(f"Order {order.number} is {order.status.label.lower()}: only allocated orders ship.")
        wanted = sorted(set(allocation_ids))
        allocations = session.scalars(
            select(Allocation).where(Allocation.id.in_(wanted), Allocation.order_id == order.id)
            .order_by(Allocation.location_id, Allocation.sku, Allocation.id).with_for_update()
            .execution_options(populate_existing=True)).all()
        if len(allocations) != len(wanted) or any(a.status is not AllocationStatus.RESERVED for a in allocations):
            raise StaleEdit(f"Order {order.number}'s allocations")
        if len({a.location_id for a in allocations}) != 1:
            raise InvalidInput("One parcel leaves from one location: ship each location's allocations separately.")
        if session.scalar(select(Shipment.id).where(Shipment.order_id == order.id,
                                                    Shipment.tracking_number == number)) is not None:
            raise InvalidInput(f"Order {order.number} already has a parcel with tracking number {number}.")
        location = session.get_one(Location, allocations[0].location_id)
        now = utcnow()
        taken = session.execute(
            update(Allocation).where(Allocation.id.in_(wanted), Allocation.status == AllocationStatus.RESERVED)
            .values(status=AllocationStatus.SHIPPED, updated_at=now).execution_options(synchronize_session=False)
        ).rowcount
        if taken != len(wanted):  # a concurrent submit shipped or released one first: nothing happens
            raise StaleEdit(f"Order {order.number}'s allocations")
        for alloc in allocations:
            hit = session.execute(_SHIP_UNITS, {"loc": alloc.location_id, "b_sku": alloc.sku, "q": alloc.quantity})
            if hit.rowcount != 1:
                raise InvalidInput(f"{alloc.sku} at {location.code} holds fewer units than the allocation of "
                                   f"{alloc.quantity}; nothing was shipped. Run the stock integrity check.")
            session.add(InventoryMovement(
                location_id=alloc.location_id, sku=alloc.sku, kind=MovementKind.SHIPMENT,
                on_hand_delta=-alloc.quantity, reserved_delta=-alloc.quantity, reason=f"order {order.number}",
                order_id=order.id, reference=number[:120], actor=actor.name, at=now))
        shipment = Shipment(order_id=order.id, location_id=location.id, source="desk", carrier=carrier_name,
                            service=service_name, tracking_number=number, status=ShipmentStatus.LABEL_CREATED,
                            shipped_at=when)
        session.add(shipment)
        session.flush()
        lines = {ln.id: ln for ln in session.scalars(select(OrderLine).where(OrderLine.order_id == order.id))}
        per_line: dict[int, int] = {}
        for alloc in allocations:
            per_line[alloc.order_line_id] = per_line.get(alloc.order_line_id, 0) + alloc.quantity
        for line_id, quantity in per_line.items():
            line = lines[line_id]
            line.qty_shipped += quantity
            line.qty_allocated = max(0, line.qty_allocated - quantity)
            session.add(ShipmentLine(shipment_id=shipment.id, order_line_id=line_id, quantity=quantity))
        units = sum(per_line.values())
        everything = all(ln.qty_shipped >= ln.quantity for ln in lines.values())
        target = OrderStatus.SHIPPED if everything else OrderStatus.PARTIALLY_SHIPPED
        record_event(session, order.id, "shipment_created", actor, detail={
            "carrier": carrier_name, "service": service_name, "tracking_number": number, "location": location.code,
            "units": units, "parts": [{"sku": a.sku, "quantity": a.quantity} for a in allocations]})
        move_order(session, order, target, actor=actor, reason=f"{units} units shipped with {carrier_name}")
        if target is OrderStatus.SHIPPED:
            for code in (HoldCode.SLA_AT_RISK, HoldCode.SLA_BREACHED):
                clear_hold(session, order, code, actor=actor, reason="shipped")
        order.updated_at = now  # the order changed: anyone holding the older version is stale
        session.flush()
    return Shipped(shipment.id, order.number, order.status, units, location.code)


SHIPPABLE_COLUMNS = ["allocation_id", "sku", "location", "quantity"]


def shippable_allocations(session: Session, order_id: int) -> pd.DataFrame:
    """The order's reserved allocations (what the desk may ship), by location then SKU."""
    rows = session.execute(
        select(Allocation.id, Allocation.sku, Location.code, Allocation.quantity)
        .join(Location, Location.id == Allocation.location_id)
        .where(Allocation.order_id == order_id, Allocation.status == AllocationStatus.RESERVED)
        .order_by(Location.code, Allocation.sku, Allocation.id)
    ).all()
    return pd.DataFrame.from_records([tuple(r) for r in rows], columns=SHIPPABLE_COLUMNS)
