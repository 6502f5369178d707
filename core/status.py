"""The order lifecycle: one table of allowed moves and the one function that makes them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from core.enums import ActorKind
from core.enums import OrderStatus as S
from core.errors import InvalidTransition
from core.events import record_event
from core.models import Order

if TYPE_CHECKING:
    from core.auth import Actor

_OPEN = {S.NEW, S.ON_HOLD, S.READY, S.ALLOCATED, S.BACKORDERED, S.PARTIALLY_SHIPPED}

# DESIGN.md section 4. Any open state may also be cancelled.
TRANSITIONS: dict[S, frozenset[S]] = {
    S.NEW: frozenset({S.ON_HOLD, S.READY}),
    S.ON_HOLD: frozenset({S.READY}),
    S.READY: frozenset({S.ALLOCATED, S.BACKORDERED, S.ON_HOLD}),
    S.ALLOCATED: frozenset({S.PARTIALLY_SHIPPED, S.SHIPPED, S.ON_HOLD}),
    S.BACKORDERED: frozenset({S.ALLOCATED, S.ON_HOLD}),
    S.PARTIALLY_SHIPPED: frozenset({S.SHIPPED}),
    S.SHIPPED: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset(),
    S.CANCELLED: frozenset(),
}
TRANSITIONS = {s: t | {S.CANCELLED} if s in _OPEN else t for s, t in TRANSITIONS.items()}

# A channel reports what happened outside OpsDesk (a parcel shipped from the store's own admin):
# such facts may move any open order to (partially) shipped.
CHANNEL_TRANSITIONS: dict[S, frozenset[S]] = {
    s: TRANSITIONS[s] | ({S.PARTIALLY_SHIPPED, S.SHIPPED} - {s} if s in _OPEN else frozenset())
    for s in S
}


def can_move(current: S, target: S, *, by_channel: bool = False) -> bool:
    table = CHANNEL_TRANSITIONS if by_channel else TRANSITIONS
    return target in table[current]


def move_order(
    session: Session, order: Order, target: S, *, actor: Actor, reason: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Move an order to ``target`` and write its event, in the caller's transaction."""
    current = order.status
    if current == target:
        return
    if not can_move(current, target, by_channel=actor.kind is ActorKind.CHANNEL):
        raise InvalidTransition(f"Order {order.number} cannot go from {current.label} to {target.label}.")
    order.status = target
    order.is_open = target.is_open
    record_event(session, order.id, "status_changed", actor,
                 detail={**status_event(current, target, reason), **(detail or {})})


def status_event(current: S, target: S, reason: str) -> dict[str, Any]:
    """The detail of a status_changed event (shared with the bulk triage path)."""
    return {"from": current.value, "to": target.value, "reason": reason}
