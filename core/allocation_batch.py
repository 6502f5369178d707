"""Set-based allocation: many READY orders planned and reserved in one short write transaction.

The worker's path (DESIGN.md section 4, step 2, in bulk). One transaction claims a batch of
READY orders (earliest ship-by first, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), reads their
lines, locks the level rows of every SKU they need in (location, SKU) order, reads that stock
once and plans each order in turn against it, taking what each plan reserves out of the
in-memory stock before the next order is planned - exactly what a run of single-order
transactions would see. Then it writes everything with a handful of bulk statements: the
conditional reservations (each must still match, else the whole batch rolls back), the
allocation and ledger rows, line quantities, BACKORDER holds, status moves and events.

Orders the set path does not handle (no location ships there) go through the single-order
path in the same transaction, after the bulk writes, on the stock as it then is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from core.allocation_plan import LineDemand, Plan, plan_allocation
from core.auth import Actor
from core.db import insert_rows
from core.enums import AllocationStatus, HoldCode, MovementKind, OrderStatus
from core.errors import StaleEdit
from core.models import Allocation, Event, InventoryMovement, Order, OrderLine, utcnow
from core.status import status_event
from core.triage import event_row, expire_loaded, open_holds_bulk

_ORDERS = Order.__table__
_LINES = OrderLine.__table__
_CLAIM_ROWS = (
    select(_ORDERS.c.id, _ORDERS.c.number, _ORDERS.c.ship_country, _ORDERS.c.ship_region)
    .where(_ORDERS.c.status == OrderStatus.READY.value, _ORDERS.c.id.not_in(bindparam("skip", expanding=True)))
    .order_by(_ORDERS.c.ship_by, _ORDERS.c.placed_at).limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_DEMAND = (
    select(_LINES.c.id, _LINES.c.order_id, _LINES.c.sku,
           _LINES.c.quantity - _LINES.c.qty_allocated, _LINES.c.quantity - _LINES.c.qty_shipped)
    .where(_LINES.c.order_id.in_(bindparam("ids", expanding=True))).order_by(_LINES.c.id)
)
_ADD_ALLOCATED = (update(_LINES).where(_LINES.c.id == bindparam("line"))
                  .values(qty_allocated=_LINES.c.qty_allocated + bindparam("q")))
_MOVE = (update(_ORDERS).where(_ORDERS.c.id == bindparam("oid"), _ORDERS.c.status == OrderStatus.READY.value)
         .values(status=bindparam("to"), is_open=True, version=_ORDERS.c.version + 1,
                 updated_at=bindparam("now")))


@dataclass(frozen=True)
class Claimed:
    """A READY order as the set path reads it."""

    order_id: int
    number: str
    country: str | None
    region: str | None
    demand: tuple[LineDemand, ...]


def claim_ready(session: Session, *, limit: int, skip: Collection[int]) -> list[Claimed]:
    """Lock up to ``limit`` READY orders no other worker holds, with what each still needs."""
    conn = session.connection()
    heads = conn.execute(_CLAIM_ROWS, {"skip": list(skip), "limit": limit}).all()
    if not heads:
        return []
    demand: dict[int, list[LineDemand]] = defaultdict(list)
    for line_id, order_id, sku, unallocated, unshipped in conn.execute(_DEMAND, {"ids": [h.id for h in heads]}):
        # Units a channel reports shipped outside OpsDesk need no stock from us.
        quantity = min(unallocated, unshipped)
        if quantity > 0:
            demand[order_id].append(LineDemand(line_id, sku, quantity))
    return [Claimed(h.id, h.number, h.ship_country, h.ship_region, tuple(demand[h.id])) for h in heads]


@dataclass
class BatchPlan:
    """Every claimed order's plan, planned in turn on one shared copy of the stock."""

    plans: dict[int, Plan]
    passed_over: list[int]  # no location ships there: left to the single-order path
    reserve: dict[tuple[int, str], int]  # units to reserve per (location, SKU), summed over the batch


def plan_batch(claimed: list[Claimed], sites: list, stock: dict[tuple[int, str], int]) -> BatchPlan:
    """Pure: plan each order in claim order, taking its parts out of ``stock`` (which it changes)."""
    plans: dict[int, Plan] = {}
    passed_over: list[int] = []
    reserve: dict[tuple[int, str], int] = defaultdict(int)
    for order in claimed:
        plan = plan_allocation(order.demand, order.country, order.region, sites, stock)
        if plan.method == "no_candidates":
            passed_over.append(order.order_id)
            continue
        for part in plan.parts:
            stock[(part.location_id, part.sku)] -= part.quantity
            reserve[(part.location_id, part.sku)] += part.quantity
        plans[order.order_id] = plan
    return BatchPlan(plans, passed_over, dict(reserve))


def write_batch(session: Session, claimed: list[Claimed], batch: BatchPlan, actor: Actor,
                planned_event: str) -> None:
    """Reserve, book and move every planned order of the batch with bulk statements."""
    from core.allocation import RESERVE, StockContention  # the one conditional update, shared

    conn = session.connection()
    now = utcnow()
    if batch.reserve:
        params = [{"loc": loc, "b_sku": sku, "q": q} for (loc, sku), q in sorted(batch.reserve.items())]
        if conn.execute(RESERVE, params).rowcount != len(params):
            # Only a writer that skipped the level locks could get here; nothing is kept.
            raise StockContention("Stock changed while a batch was being allocated; nothing was reserved.")
    numbers = {c.order_id: c.number for c in claimed}
    allocations, movements, line_updates, moves, events = [], [], [], [], []
    backorders: dict[int, dict[HoldCode, str]] = {}
    hold_details: dict[int, dict[str, Any]] = {}
    for order_id, plan in batch.plans.items():
        number = numbers[order_id]
        for p in plan.parts:
            allocations.append({"order_id": order_id, "order_line_id": p.line_id, "location_id": p.location_id,
                                "sku": p.sku, "quantity": p.quantity, "status": AllocationStatus.RESERVED,
                                "plan": plan.summary, "created_at": now, "updated_at": now})
            movements.append({"location_id": p.location_id, "sku": p.sku, "kind": MovementKind.RESERVATION,
                              "on_hand_delta": 0, "reserved_delta": p.quantity, "reason": f"order {number}",
                              "order_id": order_id, "reference": None, "actor": actor.name, "at": now})
            line_updates.append({"line": p.line_id, "q": p.quantity})
        target = OrderStatus.BACKORDERED if plan.backordered else OrderStatus.ALLOCATED
        moves.append({"oid": order_id, "to": target.value, "now": now})
        events.append(event_row(order_id, planned_event, actor, now, {
            "why": plan.reason,
            "parts": [{"location": p.location_code, "sku": p.sku, "quantity": p.quantity} for p in plan.parts],
            "short": plan.short_by_sku, "explanation": plan.explanation}))
        events.append(event_row(order_id, "status_changed", actor, now,
                             status_event(OrderStatus.READY, target, plan.reason)))
        if plan.backordered:
            short = plan.short_by_sku
            backorders[order_id] = {HoldCode.BACKORDER: "Short: " + ", ".join(f"{q} x {s}" for s, q in short.items())}
            hold_details[order_id] = {"short": short}
    if allocations:
        insert_rows(session, Allocation.__table__, allocations)
        insert_rows(session, InventoryMovement.__table__, movements)
        conn.execute(_ADD_ALLOCATED, line_updates)
    if moves and conn.execute(_MOVE, moves).rowcount != len(moves):
        raise StaleEdit("An order in this allocation batch")
    events += open_holds_bulk(session, backorders, actor, now, details=hold_details)
    if events:
        insert_rows(session, Event.__table__, events)
    expire_loaded(session, set(batch.plans))  # the session may hold copies of these orders

