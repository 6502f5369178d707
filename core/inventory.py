"""Stock: the ledger verbs (receive, adjust, count) and the read models of the inventory page.

Every change of on hand goes through ``book_on_hand``: one locked level row, one
``InventoryMovement``, so on hand always equals the sum of the ledger (``core.integrity``
checks it). Reservations move ``reserved`` in ``core.allocation``, also through the ledger.
On hand never drops below reserved: stock promised to orders cannot be adjusted away.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import case, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.allocation_plan import ships_to
from core.auth import Actor
from core.db import writing
from core.enums import AdjustmentReason, AllocationStatus, MovementKind, Permission
from core.errors import DomainError, InvalidInput, NotFound
from core.events import record_event
from core.models import Allocation, InventoryLevel, InventoryMovement, Location, Order, OrderLine, utcnow

MAX_QUANTITY = 10_000_000  # far above any real count; keeps typos like 1e12 out of 32-bit columns


class BelowReserved(DomainError):
    """On hand may not drop below what is reserved for orders."""


@dataclass(frozen=True)
class StockChange:
    """What one ledger verb did to one level."""

    location: str
    sku: str
    kind: MovementKind
    before: int
    after: int
    reserved: int

    @property
    def delta(self) -> int:
        return self.after - self.before


def location_by_code(session: Session, code: str) -> Location:
    location = session.scalar(select(Location).where(Location.code == code.strip()))
    if location is None:
        raise NotFound(f"No location with code {code.strip()!r}.")
    return location


def ensure_levels(session: Session, keys: Iterable[tuple[int, str]]) -> None:
    """Create missing (location, SKU) level rows at zero, safely when two writers race to create one."""
    rows = [{"location_id": loc, "sku": sku} for loc, sku in sorted(set(keys))]
    if not rows:
        return
    dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = dialect_insert(InventoryLevel.__table__).on_conflict_do_nothing(index_elements=["location_id", "sku"])
    session.connection().execute(stmt, rows)


def book_on_hand(
    session: Session, location: Location, sku: str, *, kind: MovementKind, actor: Actor,
    delta: int | None = None, count: int | None = None, reason: str | None = None,
    reference: str | None = None, order_id: int | None = None, event: bool = True,
) -> StockChange:
    """Change on hand by ``delta`` (or set it to ``count``) through the ledger, in the caller's transaction.

    The level row is locked first, so concurrent reservations and bookings queue behind it.
    No permission check here: the public verb that calls it checks its own permission
    (adjustments need ADJUST_STOCK; a returns restock needs RECEIVE_RETURN).
    """
    sku = sku.strip()
    ensure_levels(session, [(location.id, sku)])
    level_id, before, reserved = session.execute(
        select(InventoryLevel.id, InventoryLevel.on_hand, InventoryLevel.reserved)
        .where(InventoryLevel.location_id == location.id, InventoryLevel.sku == sku).with_for_update()
    ).one()
    after = count if count is not None else before + (delta or 0)
    if after < reserved:
        raise BelowReserved(
            f"{sku} at {location.code}: {reserved} are reserved for orders, so on hand cannot go to {after} "
            f"(now {before}). Release or re-route those orders first."
        )
    if after > MAX_QUANTITY:
        raise InvalidInput(f"{sku} at {location.code}: {after} is more than the {MAX_QUANTITY:,} allowed.")
    if after != before:
        session.execute(
            update(InventoryLevel).where(InventoryLevel.id == level_id)
            .values(on_hand=after, version=InventoryLevel.version + 1),
            execution_options={"synchronize_session": False},
        )
    session.add(InventoryMovement(
        location_id=location.id, sku=sku, kind=kind, on_hand_delta=after - before, reserved_delta=0,
        reason=reason, order_id=order_id, reference=reference, actor=actor.name, at=utcnow(),
    ))
    if event:
        record_event(session, order_id, f"stock_{_VERB[kind]}", actor, subject="stock", detail={
            "location": location.code, "sku": sku, "before": before, "after": after, "delta": after - before,
            "reserved": reserved, "reason": reason, "reference": reference})
    return StockChange(location.code, sku, kind, before, after, reserved)


_VERB = {MovementKind.RECEIPT: "received", MovementKind.ADJUSTMENT: "adjusted", MovementKind.COUNT: "counted",
         MovementKind.RETURN_RESTOCK: "restocked", MovementKind.SHIPMENT: "shipped"}


def _check_sku(sku: str) -> str:
    sku = sku.strip()
    if not sku or len(sku) > 80:
        raise InvalidInput("A SKU is 1 to 80 characters.")
    return sku


def receive_stock(
    session: Session, location_code: str, sku: str, quantity: int, *, actor: Actor,
    reference: str | None = None, reason: str | None = None,
) -> StockChange:
    """Goods arrived: on hand grows by ``quantity``. Backorders are retried by the worker."""
    actor.require(Permission.ADJUST_STOCK)
    sku = _check_sku(sku)
    if quantity <= 0:
        raise InvalidInput("A receipt needs a quantity of at least 1.")
    with writing(session):
        location = location_by_code(session, location_code)
        return book_on_hand(session, location, sku, kind=MovementKind.RECEIPT, delta=quantity, actor=actor,
                            reason=reason or "receipt", reference=reference)


def adjust_stock(
    session: Session, location_code: str, sku: str, delta: int, *, reason: AdjustmentReason, actor: Actor,
    note: str | None = None,
) -> StockChange:
    """An ops lead corrects on hand by ``delta`` (damaged, lost, found...), with a reason code."""
    actor.require(Permission.ADJUST_STOCK)
    sku = _check_sku(sku)
    if delta == 0:
        raise InvalidInput("An adjustment needs a non-zero quantity.")
    reason = AdjustmentReason(reason)
    text = reason.value if not note else f"{reason.value}: {note.strip()}"[:200]
    with writing(session):
        location = location_by_code(session, location_code)
        return book_on_hand(session, location, sku, kind=MovementKind.ADJUSTMENT, delta=delta, actor=actor,
                            reason=text)


def set_count(
    session: Session, location_code: str, sku: str, counted: int, *, actor: Actor, reference: str | None = None,
) -> StockChange:
    """A physical count: on hand becomes ``counted``; the difference goes to the ledger (zero too, as a record)."""
    actor.require(Permission.ADJUST_STOCK)
    sku = _check_sku(sku)
    if counted < 0:
        raise InvalidInput("A count cannot be negative.")
    with writing(session):
        location = location_by_code(session, location_code)
        return book_on_hand(session, location, sku, kind=MovementKind.COUNT, count=counted, actor=actor,
                            reason="count", reference=reference)


# --- read models ---------------------------------------------------------------------------------

LEVEL_COLUMNS = ["location", "sku", "on_hand", "reserved", "available", "low_stock_threshold", "low"]


def stock_levels(
    session: Session, *, location_codes: Sequence[str] = (), sku_search: str = "", low_only: bool = False,
    page: int = 1, page_size: int = 50,
) -> tuple[pd.DataFrame, int]:
    """One page of stock per (location, SKU), with available and a low-stock flag, and the filtered total."""
    available = InventoryLevel.on_hand - InventoryLevel.reserved
    low = available <= InventoryLevel.low_stock_threshold
    conds: list[Any] = []
    if location_codes:
        conds.append(Location.code.in_(list(location_codes)))
    if sku_search.strip():
        conds.append(func.lower(InventoryLevel.sku).contains(sku_search.strip().lower(), autoescape=True))
    if low_only:
        conds.append(low)
    base = select(InventoryLevel.id).join(Location, Location.id == InventoryLevel.location_id).where(*conds)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.execute(
        select(Location.code, InventoryLevel.sku, InventoryLevel.on_hand, InventoryLevel.reserved,
               available, InventoryLevel.low_stock_threshold, case((low, 1), else_=0))
        .join(Location, Location.id == InventoryLevel.location_id).where(*conds)
        .order_by(Location.code, InventoryLevel.sku)
        .limit(page_size).offset(max(0, page - 1) * page_size)
    ).all()
    frame = pd.DataFrame.from_records([tuple(r) for r in rows], columns=LEVEL_COLUMNS)
    frame["low"] = frame["low"].astype(bool)
    return frame, total


LEDGER_COLUMNS = ["at", "location", "kind", "on_hand_delta", "reserved_delta", "reason", "reference",
                  "order_id", "order", "actor"]


def sku_ledger(session: Session, sku: str, location_code: str | None = None, *, limit: int = 200) -> pd.DataFrame:
    """The newest ledger rows of one SKU (optionally at one location), newest first."""
    stmt = (
        select(InventoryMovement.at, Location.code, InventoryMovement.kind, InventoryMovement.on_hand_delta,
               InventoryMovement.reserved_delta, InventoryMovement.reason, InventoryMovement.reference,
               InventoryMovement.order_id, Order.number, InventoryMovement.actor)
        .join(Location, Location.id == InventoryMovement.location_id)
        .outerjoin(Order, Order.id == InventoryMovement.order_id)
        .where(InventoryMovement.sku == sku.strip())
        .order_by(InventoryMovement.at.desc(), InventoryMovement.id.desc()).limit(limit)
    )
    if location_code:
        stmt = stmt.where(Location.code == location_code.strip())
    frame = pd.DataFrame.from_records([tuple(r) for r in session.execute(stmt)], columns=LEDGER_COLUMNS)
    frame["kind"] = [k.label for k in frame["kind"]]
    return frame


RESERVATION_COLUMNS = ["location", "order_id", "order", "status", "quantity", "reserved_at", "ship_by"]


def open_reservations(session: Session, sku: str, *, limit: int = 500) -> pd.DataFrame:
    """Orders holding reserved stock of one SKU, most urgent ship-by first."""
    rows = session.execute(
        select(Location.code, Order.id, Order.number, Order.status, Allocation.quantity,
               Allocation.created_at, Order.ship_by)
        .join(Location, Location.id == Allocation.location_id).join(Order, Order.id == Allocation.order_id)
        .where(Allocation.sku == sku.strip(), Allocation.status == AllocationStatus.RESERVED)
        .order_by(Order.ship_by, Order.id, Location.code).limit(limit)
    ).all()
    frame = pd.DataFrame.from_records([tuple(r) for r in rows], columns=RESERVATION_COLUMNS)
    frame["status"] = [s.label for s in frame["status"]]
    return frame


def location_stock_for_order(session: Session, order_id: int) -> pd.DataFrame:
    """For the re-route picker: each active location's available stock of the order's SKUs.

    One row per location: whether it ships to the order's address, its priority, what this
    order already has reserved there, whether it could supply everything still unallocated,
    then one column per SKU with the quantity available now.
    """
    order = session.get(Order, order_id)
    if order is None:
        raise NotFound(f"No order with internal id {order_id}.")
    lines = session.execute(
        select(OrderLine.sku, OrderLine.quantity, OrderLine.qty_allocated).where(OrderLine.order_id == order_id)
    ).all()
    skus = sorted({sku for sku, _, _ in lines})
    missing: dict[str, int] = {}
    for sku, quantity, allocated in lines:
        missing[sku] = missing.get(sku, 0) + max(0, quantity - allocated)
    locations = session.scalars(select(Location).where(Location.active.is_(True)).order_by(Location.priority,
                                                                                           Location.code)).all()
    available = {(loc, sku): qty for loc, sku, qty in session.execute(
        select(InventoryLevel.location_id, InventoryLevel.sku, InventoryLevel.on_hand - InventoryLevel.reserved)
        .where(InventoryLevel.sku.in_(skus)))}
    held = {loc: qty for loc, qty in session.execute(
        select(Allocation.location_id, func.sum(Allocation.quantity))
        .where(Allocation.order_id == order_id, Allocation.status == AllocationStatus.RESERVED)
        .group_by(Allocation.location_id))}
    rows = []
    for loc in locations:
        stock = {sku: int(available.get((loc.id, sku), 0)) for sku in skus}
        rows.append({
            "location_id": loc.id, "location": loc.code,
            "ships_there": ships_to(loc.zones, order.ship_country, order.ship_region),
            "priority": loc.priority, "reserved_for_order": int(held.get(loc.id, 0)),
            "can_fill": all(stock[sku] >= q for sku, q in missing.items()), **stock,
        })
    columns = ["location_id", "location", "ships_there", "priority", "reserved_for_order", "can_fill", *skus]
    return pd.DataFrame(rows, columns=columns)
