"""Allocation, store side: reserve what the planner says, atomically, and never oversell.

DESIGN.md section 4, step 2. In one write transaction: lock the order, read the candidates'
stock, plan (``core.allocation_plan``), then reserve each part with one conditional update
(``reserved = reserved + q WHERE on_hand - reserved >= q``) and check its row count. When a
concurrent writer took the stock first, that attempt's reservations are given back and the
order is re-planned on fresh stock, a bounded number of times. The same code is correct on
SQLite (writers serialized by BEGIN IMMEDIATE) and PostgreSQL (READ COMMITTED: the update
waits for a concurrent writer, then re-checks its condition on the newest row version); the
CHECK on inventory_levels is the last line of defence. Level rows are always updated in
(location, SKU) order, so two transactions never wait on each other in a cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.orm import Session

from core.allocation_batch import claim_ready, plan_batch, write_batch
from core.allocation_plan import LineDemand, Part, Plan, Site, plan_allocation, ships_to
from core.auth import Actor
from core.db import is_transient, writing
from core.enums import AllocationStatus, HoldCode, MovementKind, OrderStatus, Permission
from core.errors import DomainError, InvalidInput, NotFound
from core.events import record_event
from core.holds import clear_hold, open_hold
from core.models import (
    Allocation,
    Event,
    InventoryLevel,
    InventoryMovement,
    Location,
    Order,
    OrderLine,
    utcnow,
)
from core.status import move_order

MAX_ATTEMPTS = 5
log = logging.getLogger("opsdesk.allocation")
ALLOCATABLE = (OrderStatus.READY, OrderStatus.BACKORDERED)
PLANNED_EVENT = "allocation_planned"


@dataclass(frozen=True)
class AllocationOutcome:
    """What one allocation call did to one order."""

    order_id: int
    number: str
    before: OrderStatus
    after: OrderStatus
    allocated: int = 0  # units reserved by this call
    short: dict[str, int] = field(default_factory=dict)  # units still backordered, per SKU
    locations: tuple[str, ...] = ()
    attempts: int = 0
    reason: str = ""  # the plan's sentence, or why nothing was done

    @property
    def changed(self) -> bool:
        return self.allocated > 0 or self.before != self.after


class AllocationFailed(DomainError):
    """Allocating one claimed order failed; it stays as it was and is retried later."""

    def __init__(self, order_id: int, why: str) -> None:
        super().__init__(f"Allocation of order {order_id} failed: {why}")
        self.order_id = order_id


class StockContention(DomainError):
    """Stock kept changing under this order; nothing was reserved."""


class ReservationMismatch(DomainError):
    """A level holds less reserved stock than an allocation says: an integrity problem, never patched here."""


# Statements built once (building one costs about as much as running it); populate_existing so a
# long-lived session never plans from a stale copy of a row it has just locked.
_CLAIM = (
    select(Order).where(Order.status == OrderStatus.READY, Order.id.not_in(bindparam("skip", expanding=True)))
    .order_by(Order.ship_by, Order.placed_at).limit(1)  # exactly ix_orders_status_ship_by: no sort
    .with_for_update(skip_locked=True).execution_options(populate_existing=True)
)
_LINES = (select(OrderLine).where(OrderLine.order_id == bindparam("order_id")).order_by(OrderLine.id)
          .execution_options(populate_existing=True))


def allocate_order(session: Session, order_id: int, *, actor: Actor) -> AllocationOutcome:
    """Allocate one READY or BACKORDERED order in one write transaction; any other status is a no-op."""
    actor.require(Permission.EDIT_ORDER)
    with writing(session):
        order = session.scalar(
            select(Order).where(Order.id == order_id).with_for_update()
            .execution_options(populate_existing=True)
        )
        if order is None:
            raise NotFound(f"No order with internal id {order_id}.")
        return _allocate_locked(session, order, actor)


def allocate_next_ready(
    session: Session, *, actor: Actor, skip: Collection[int] = ()
) -> AllocationOutcome | None:
    """Claim the READY order with the earliest ship-by that no other worker holds, and allocate it.

    The claim is ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so racing workers each take a
    different order; on SQLite BEGIN IMMEDIATE serializes them. Returns None when no READY
    order is left (outside ``skip``). A failure rolls this order back and raises
    ``AllocationFailed`` naming it, so the caller can skip it and go on.
    """
    actor.require(Permission.EDIT_ORDER)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        order_id: int | None = None
        try:
            with writing(session):
                order = session.scalar(_CLAIM, {"skip": list(skip)})
                if order is None:
                    return None
                order_id = order.id
                return _allocate_locked(session, order, actor)
        except Exception as exc:  # rolled back by writing(); the caller logs it and moves on
            if order_id is None:
                raise
            if not is_transient(exc) or attempt == MAX_ATTEMPTS:
                raise AllocationFailed(order_id, str(exc) or type(exc).__name__) from exc
            # A deadlock or serialization failure rolled the whole transaction back: run it again.
    return None


def orders_per_transaction(session: Session) -> int:
    """How many READY orders one allocation transaction takes.

    The set path plans a whole batch in memory and writes it with a few bulk statements, so a
    batch of 100 holds the write lock (SQLite) or the level locks (PostgreSQL) for tens of
    milliseconds - short enough that other writers never wait near their timeout.
    """
    return 100


def allocate_ready_batch(
    session: Session, *, actor: Actor, limit: int = 100, skip: Collection[int] = ()
) -> tuple[list[AllocationOutcome], list[AllocationFailed]]:
    """Claim up to ``limit`` READY orders (earliest ship-by first) and allocate them in ONE transaction.

    The set path (``core.allocation_batch``) plans and writes the batch in bulk. A deadlock or
    serialization failure runs the transaction again; any other failure rolls the batch back
    and re-runs it one order per savepoint, so one bad order fails alone. Returns the outcomes
    and the failures (both empty: nothing READY left).
    """
    actor.require(Permission.EDIT_ORDER)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with writing(session):
                return _allocate_set(session, actor, limit, skip)
        except Exception as exc:
            if not is_transient(exc) or attempt == MAX_ATTEMPTS:
                log.warning("batch allocation failed (%s); allocating one order at a time", exc)
                break
    return _allocate_one_by_one(session, actor, limit, skip)


def _allocate_set(session: Session, actor: Actor, limit: int,
                  skip: Collection[int]) -> tuple[list[AllocationOutcome], list[AllocationFailed]]:
    claimed = claim_ready(session, limit=limit, skip=skip)
    if not claimed:
        return [], []
    skus = sorted({d.sku for c in claimed for d in c.demand})
    lock_levels(session, skus)
    sites, stock = sites_and_stock(session, skus)
    batch = plan_batch(claimed, sites, stock)
    write_batch(session, claimed, batch, actor, PLANNED_EVENT)
    outcomes = [
        AllocationOutcome(c.order_id, c.number, OrderStatus.READY,
                          OrderStatus.BACKORDERED if plan.backordered else OrderStatus.ALLOCATED,
                          plan.allocated_units, plan.short_by_sku, plan.location_codes, 1, plan.reason)
        for c in claimed if (plan := batch.plans.get(c.order_id)) is not None
    ]
    failures: list[AllocationFailed] = []
    if batch.passed_over:  # nobody ships there: the single-order path holds them for the ops lead
        session.flush()
        passed_over = session.scalars(select(Order).where(Order.id.in_(batch.passed_over)).order_by(Order.id)
                                      .execution_options(populate_existing=True)).all()
        done, failures = _each_in_savepoint(session, passed_over, actor)
        outcomes += done
    return outcomes, failures


def _allocate_one_by_one(session: Session, actor: Actor, limit: int,
                         skip: Collection[int]) -> tuple[list[AllocationOutcome], list[AllocationFailed]]:
    """The fallback: the same claim, each order in its own savepoint, so one failure stays alone."""
    with writing(session):
        orders = session.scalars(_CLAIM.limit(limit), {"skip": list(skip)}).all()
        return _each_in_savepoint(session, orders, actor)


def _each_in_savepoint(session: Session, orders: Collection[Order],
                       actor: Actor) -> tuple[list[AllocationOutcome], list[AllocationFailed]]:
    outcomes: list[AllocationOutcome] = []
    failures: list[AllocationFailed] = []
    for order in orders:
        order_id = order.id
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with session.begin_nested():
                    outcomes.append(_allocate_locked(session, order, actor))
                break
            except Exception as exc:  # this order's savepoint is rolled back; the batch goes on
                # A deadlock rolls back only the savepoint (and frees its row locks): try again.
                if not is_transient(exc) or attempt == MAX_ATTEMPTS:
                    failures.append(AllocationFailed(order_id, str(exc) or type(exc).__name__))
                    break
                session.refresh(order)
    return outcomes, failures


def _allocate_locked(session: Session, order: Order, actor: Actor) -> AllocationOutcome:
    """Plan and reserve for an order whose row this transaction holds locked."""
    before = order.status
    if before not in ALLOCATABLE:
        return AllocationOutcome(order.id, order.number, before, before, reason=f"order is {before.label.lower()}")
    lines = session.scalars(_LINES, {"order_id": order.id}).all()
    # Units a channel reports shipped outside OpsDesk need no stock from us.
    demand = [LineDemand(ln.id, ln.sku, ln.quantity - max(ln.qty_allocated, ln.qty_shipped)) for ln in lines]
    demand = [d for d in demand if d.quantity > 0]
    if not demand:
        _finish(session, order, actor, None, reason="every line is already allocated")
        return AllocationOutcome(order.id, order.number, before, order.status, reason="nothing left to allocate")
    plan, attempts = _plan_and_reserve(session, order, demand)
    if plan.method == "no_candidates":
        return _out_of_zone(session, order, actor, plan)
    _book(session, order, lines, plan, actor)
    _finish(session, order, actor, plan, reason=plan.reason)
    return AllocationOutcome(order.id, order.number, before, order.status, plan.allocated_units,
                             plan.short_by_sku, plan.location_codes, attempts, plan.reason)


def _plan_and_reserve(session: Session, order: Order, demand: list[LineDemand]) -> tuple[Plan, int]:
    """Plan on the stock as it is now and reserve every part; on a lost race, re-plan (bounded)."""
    skus = sorted({d.sku for d in demand})
    lock_levels(session, skus)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        sites, stock = sites_and_stock(session, skus)
        plan = plan_allocation(demand, order.ship_country, order.ship_region, sites, stock)
        taken: list[Part] = []
        for part in sorted(plan.parts, key=lambda p: (p.location_id, p.sku)):
            if not _reserve(session, part.location_id, part.sku, part.quantity):
                break
            taken.append(part)
        else:
            return plan, attempt
        # A concurrent writer took the stock first. Give back what this attempt reserved - exactly,
        # since those rows stay locked by this transaction - and plan again on fresh stock.
        for part in taken:
            _unreserve(session, part.location_id, part.sku, part.quantity)
    raise StockContention(f"Stock for order {order.number} kept changing; nothing was reserved. Try again.")


_LEVELS = InventoryLevel.__table__
_SITES_AND_STOCK = (
    select(Location.id, Location.code, Location.country, Location.region, Location.zones, Location.priority,
           Location.active, _LEVELS.c.sku, _LEVELS.c.on_hand - _LEVELS.c.reserved)
    .outerjoin(_LEVELS, and_(_LEVELS.c.location_id == Location.id,
                             _LEVELS.c.sku.in_(bindparam("skus", expanding=True))))
)
_LEVEL = and_(_LEVELS.c.location_id == bindparam("loc"), _LEVELS.c.sku == bindparam("b_sku"))
# The one conditional update of DESIGN.md: it only matches while the stock is still there.
RESERVE = (update(_LEVELS).where(_LEVEL, _LEVELS.c.on_hand - _LEVELS.c.reserved >= bindparam("q"))
            .values(reserved=_LEVELS.c.reserved + bindparam("q"), version=_LEVELS.c.version + 1))
_UNRESERVE = (update(_LEVELS).where(_LEVEL, _LEVELS.c.reserved >= bindparam("q"))
              .values(reserved=_LEVELS.c.reserved - bindparam("q"), version=_LEVELS.c.version + 1))


_LOCK_LEVELS = (select(_LEVELS.c.id).where(_LEVELS.c.sku.in_(bindparam("skus", expanding=True)))
                .order_by(_LEVELS.c.location_id, _LEVELS.c.sku).with_for_update())


def lock_levels(session: Session, skus: list[str]) -> None:
    """Lock every level row of these SKUs, in (location, SKU) order, before reading their stock.

    Every writer of levels takes them in this order, so two transactions never wait on each
    other in a cycle; and the plan then reads stock nobody else can change until commit (the
    re-plan loop below is only a defence). On SQLite BEGIN IMMEDIATE already serializes writers
    and FOR UPDATE renders as nothing.
    """
    session.execute(_LOCK_LEVELS, {"skus": skus}).all()


def sites_and_stock(session: Session, skus: list[str]) -> tuple[list[Site], dict[tuple[int, str], int]]:
    """Every location with what it has available of these SKUs now, in one query."""
    sites: dict[int, Site] = {}
    stock: dict[tuple[int, str], int] = {}
    for loc_id, code, country, region, zones, priority, active, sku, available in session.execute(
            _SITES_AND_STOCK, {"skus": skus}):
        if loc_id not in sites:
            sites[loc_id] = Site(loc_id, code, country, region, tuple(zones or ()), priority, active)
        if sku is not None:
            stock[(loc_id, sku)] = available
    return list(sites.values()), stock


def _reserve(session: Session, location_id: int, sku: str, quantity: int) -> bool:
    """True if the stock was still available and is now reserved."""
    return session.execute(RESERVE, {"loc": location_id, "b_sku": sku, "q": quantity}).rowcount == 1  # type: ignore[attr-defined]


def _unreserve(session: Session, location_id: int, sku: str, quantity: int) -> bool:
    """Give reserved stock back; False if the level holds less reserved than that (an integrity problem)."""
    return session.execute(_UNRESERVE, {"loc": location_id, "b_sku": sku, "q": quantity}).rowcount == 1  # type: ignore[attr-defined]


def _book(session: Session, order: Order, lines: list[OrderLine], plan: Plan, actor: Actor) -> None:
    """Allocation rows, ledger rows, line quantities and the event for what was reserved."""
    by_id = {ln.id: ln for ln in lines}
    now = utcnow()
    if plan.parts:  # bulk statements: one INSERT per table whatever the number of parts
        session.execute(insert(Allocation.__table__), [
            {"order_id": order.id, "order_line_id": p.line_id, "location_id": p.location_id, "sku": p.sku,
             "quantity": p.quantity, "status": AllocationStatus.RESERVED,
             "plan": plan.summary,  # the full explanation is on the event
             "created_at": now, "updated_at": now} for p in plan.parts])
        session.execute(insert(InventoryMovement.__table__), [
            {"location_id": p.location_id, "sku": p.sku, "kind": MovementKind.RESERVATION, "on_hand_delta": 0,
             "reserved_delta": p.quantity, "reason": f"order {order.number}", "order_id": order.id,
             "reference": None, "actor": actor.name, "at": now} for p in plan.parts])
    for part in plan.parts:
        by_id[part.line_id].qty_allocated += part.quantity
    if plan.parts or order.status is OrderStatus.READY:
        record_event(session, order.id, PLANNED_EVENT, actor, detail={
            "why": plan.reason,
            "parts": [{"location": p.location_code, "sku": p.sku, "quantity": p.quantity} for p in plan.parts],
            "short": plan.short_by_sku, "explanation": plan.explanation,
        })


def _finish(session: Session, order: Order, actor: Actor, plan: Plan | None, *, reason: str) -> None:
    """Move the order on: ALLOCATED when nothing is short, else BACKORDERED with a BACKORDER item."""
    if plan is None or not plan.backordered:
        was = order.status
        move_order(session, order, OrderStatus.ALLOCATED, actor=actor, reason=reason)
        if was is OrderStatus.BACKORDERED:
            clear_hold(session, order, HoldCode.BACKORDER, actor=actor, reason="stock arrived and was reserved")
        return
    if order.status is OrderStatus.READY:
        move_order(session, order, OrderStatus.BACKORDERED, actor=actor, reason=reason)
        short = plan.short_by_sku
        open_hold(session, order, HoldCode.BACKORDER, actor=actor,
                  note="Short: " + ", ".join(f"{q} x {sku}" for sku, q in short.items()),
                  detail={"short": short})


def _out_of_zone(session: Session, order: Order, actor: Actor, plan: Plan) -> AllocationOutcome:
    """No active location ships there (the rules normally catch this first): hold it for the ops lead."""
    before = order.status
    open_hold(session, order, HoldCode.OUT_OF_ZONE, actor=actor, note=plan.reason,
              detail={"country": order.ship_country, "region": order.ship_region})
    move_order(session, order, OrderStatus.ON_HOLD, actor=actor, reason=plan.reason)
    return AllocationOutcome(order.id, order.number, before, order.status, short=plan.short_by_sku,
                             reason=plan.reason)


def release_order_allocations(session: Session, order: Order, *, actor: Actor, reason: str) -> int:
    """Release every RESERVED allocation of an order (cancel, re-route); returns the units released.

    Runs in the caller's transaction; the caller checks its own permission (e.g. CANCEL_ORDER)
    and moves the order. A level holding less reserved than an allocation says raises
    ``ReservationMismatch`` rather than being patched: that is for the integrity check.
    """
    # The order row first, as allocation does: a cancel and an allocation of the same order then
    # queue up instead of each holding a level the other needs (a deadlock on PostgreSQL).
    session.execute(select(Order.id).where(Order.id == order.id).with_for_update())
    allocations = session.scalars(
        select(Allocation).where(Allocation.order_id == order.id, Allocation.status == AllocationStatus.RESERVED)
        .order_by(Allocation.location_id, Allocation.sku, Allocation.id).with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    if not allocations:
        return 0
    lines = {ln.id: ln for ln in session.scalars(_LINES, {"order_id": order.id})}
    locations: dict[int, str] = {i: c for i, c in session.execute(select(Location.id, Location.code))}
    now = utcnow()
    for alloc in allocations:
        if not _unreserve(session, alloc.location_id, alloc.sku, alloc.quantity):
            raise ReservationMismatch(
                f"{alloc.sku} at {locations.get(alloc.location_id)} has less reserved than order {order.number}'s "
                f"allocation of {alloc.quantity}; nothing was released. Run the stock integrity check.")
        alloc.status = AllocationStatus.RELEASED
        line = lines.get(alloc.order_line_id)
        if line is not None:
            line.qty_allocated = max(0, line.qty_allocated - alloc.quantity)
        session.add(InventoryMovement(
            location_id=alloc.location_id, sku=alloc.sku, kind=MovementKind.RELEASE, on_hand_delta=0,
            reserved_delta=-alloc.quantity, reason=reason[:200] or f"order {order.number}", order_id=order.id,
            actor=actor.name, at=now,
        ))
    released = sum(a.quantity for a in allocations)
    record_event(session, order.id, "allocation_released", actor, detail={
        "reason": reason, "units": released,
        "parts": [{"location": locations.get(a.location_id), "sku": a.sku, "quantity": a.quantity}
                  for a in allocations]})
    return released


# --- retry and read models ---------------------------------------------------------------------

def backorders_to_retry(session: Session, *, limit: int = 200) -> list[int]:
    """BACKORDERED orders (earliest ship-by first) with a short SKU now available somewhere that ships to them."""
    rows = session.execute(
        select(Order.id, Order.ship_country, Order.ship_region, Location.zones)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .join(InventoryLevel, InventoryLevel.sku == OrderLine.sku)
        .join(Location, Location.id == InventoryLevel.location_id)
        .where(Order.status == OrderStatus.BACKORDERED, OrderLine.quantity > OrderLine.qty_allocated,
               InventoryLevel.on_hand > InventoryLevel.reserved, Location.active.is_(True))
        .order_by(Order.ship_by, Order.id).limit(limit * 20)
    )
    # Zones are JSON lists: matched here with the planner's own rule rather than in SQL.
    found: dict[int, None] = {}
    for order_id, country, region, zones in rows:
        if order_id not in found and ships_to(zones or (), country, region):
            found[order_id] = None
            if len(found) >= limit:
                break
    return list(found)


def order_allocations(session: Session, order_id: int) -> pd.DataFrame:
    """An order's allocations: line SKU, location, quantity, status, when."""
    rows = session.execute(
        select(Allocation.id, Allocation.sku, Location.code, Allocation.quantity, Allocation.status,
               Allocation.created_at)
        .join(Location, Location.id == Allocation.location_id)
        .where(Allocation.order_id == order_id).order_by(Allocation.id)
    ).all()
    frame = pd.DataFrame.from_records([tuple(r) for r in rows],
                                      columns=["allocation_id", "sku", "location", "quantity", "status", "at"])
    frame["status"] = [s.label for s in frame["status"]]
    return frame


def allocation_explanation(session: Session, order_id: int) -> dict[str, Any] | None:
    """The latest plan of an order: candidates with their stock at that moment, winners and why."""
    detail = session.scalar(
        select(Event.detail).where(Event.order_id == order_id, Event.kind == PLANNED_EVENT)
        .order_by(Event.at.desc(), Event.id.desc()).limit(1)
    )
    return None if detail is None else detail.get("explanation")


# --- re-route: the ops lead chooses the location ----------------------------------------------------


def reserve_whole_order_at(session: Session, order: Order, location: Location, *, actor: Actor,
                           note: str) -> Plan:
    """Reserve every unallocated unit of an order at one chosen location (zones aside), in the caller's
    transaction, or raise InvalidInput naming what that location lacks. The order row must be locked."""
    lines = session.scalars(_LINES, {"order_id": order.id}).all()
    demand = [LineDemand(ln.id, ln.sku, ln.quantity - max(ln.qty_allocated, ln.qty_shipped)) for ln in lines]
    demand = [d for d in demand if d.quantity > 0]
    lock_levels(session, sorted({d.sku for d in demand}))
    sites, stock = sites_and_stock(session, sorted({d.sku for d in demand}))
    available = {sku: units for (loc, sku), units in stock.items() if loc == location.id}
    parts = []
    for d in sorted(demand, key=lambda d: d.sku):
        if not _reserve(session, location.id, d.sku, d.quantity):
            raise InvalidInput(f"{location.code} has only {available.get(d.sku, 0)} of {d.sku} available "
                               f"({d.quantity} needed); nothing was re-routed.")
        parts.append(Part(d.line_id, d.sku, location.id, location.code, d.quantity))
    why = f"Re-routed to {location.code} by {actor.name}: {note}"
    plan = Plan(parts=tuple(parts), backordered=(), method="reroute", reason=why, explanation={
        "why": why, "winners": [location.code], "rerouted_by": actor.name,
        "candidates": [{"location": location.code, "available": {d.sku: available.get(d.sku, 0) for d in demand},
                        "fills_whole_order": True, "chosen_by": actor.name}],
    })
    _book(session, order, list(lines), plan, actor)
    return plan
