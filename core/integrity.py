"""Stock invariants (DESIGN.md section 4, step 3), checked in SQL; a violation opens an alert, never a fix.

1. ``0 <= reserved <= on_hand`` (the table's CHECK refuses it too; checked anyway in case it was lifted);
2. reserved equals the sum of RESERVED allocations of that (location, SKU);
3. on hand equals the sum of the ledger's ``on_hand_delta``, and reserved the sum of its ``reserved_delta``.

Each check is one grouped query; nothing loads a table into Python.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, literal, or_, select, union_all, update
from sqlalchemy.orm import Session

from core.auth import Actor
from core.db import reading, writing
from core.enums import AllocationStatus, HoldCode, HoldState, Permission
from core.errors import InvalidInput, NotFound, StaleEdit
from core.events import record_event
from core.models import Allocation, Hold, InventoryLevel, InventoryMovement, Location, utcnow

KINDS = {
    "reserved_out_of_range": "reserved is outside 0..on hand",
    "reserved_vs_allocations": "reserved differs from the open allocations",
    "on_hand_vs_ledger": "on hand differs from the sum of the ledger",
    "reserved_vs_ledger": "reserved differs from the sum of the ledger's reservations",
}


@dataclass(frozen=True)
class Violation:
    kind: str  # a key of KINDS
    location_id: int
    location: str
    sku: str
    expected: int
    actual: int

    @property
    def message(self) -> str:
        return (f"{self.sku} at {self.location}: {KINDS[self.kind]} "
                f"(stored {self.actual}, expected {self.expected}).")


def _grouped(model, value, *conds):  # type: ignore[no-untyped-def]
    return (select(model.location_id, model.sku, func.sum(value).label("total"))
            .where(*conds).group_by(model.location_id, model.sku).subquery())


def _compare(kind: str, stored_col: str, sums) -> list:  # type: ignore[no-untyped-def]
    """Rows where a level's column differs from a grouped sum, including sums with no level row at all."""
    lvl = InventoryLevel
    stored = getattr(lvl, stored_col)
    with_level = (
        select(literal(kind).label("kind"), lvl.location_id, lvl.sku, func.coalesce(sums.c.total, 0).label("expected"),
               stored.label("actual"))
        .outerjoin(sums, and_(sums.c.location_id == lvl.location_id, sums.c.sku == lvl.sku))
        .where(stored != func.coalesce(sums.c.total, 0))
    )
    orphan = (
        select(literal(kind).label("kind"), sums.c.location_id, sums.c.sku, sums.c.total.label("expected"),
               literal(0).label("actual"))
        .outerjoin(lvl, and_(sums.c.location_id == lvl.location_id, sums.c.sku == lvl.sku))
        .where(lvl.id.is_(None), sums.c.total != 0)
    )
    return [with_level, orphan]


def check_invariants(session: Session) -> list[Violation]:
    """Every broken stock invariant, by (location, SKU); empty when the books balance."""
    lvl = InventoryLevel
    out_of_range = (
        select(literal("reserved_out_of_range").label("kind"), lvl.location_id, lvl.sku,
               lvl.on_hand.label("expected"), lvl.reserved.label("actual"))
        .where(or_(lvl.reserved < 0, lvl.reserved > lvl.on_hand))
    )
    allocations = _grouped(Allocation, Allocation.quantity, Allocation.status == AllocationStatus.RESERVED)
    ledger_on_hand = _grouped(InventoryMovement, InventoryMovement.on_hand_delta)
    ledger_reserved = _grouped(InventoryMovement, InventoryMovement.reserved_delta)
    checks = union_all(
        out_of_range,
        *_compare("reserved_vs_allocations", "reserved", allocations),
        *_compare("on_hand_vs_ledger", "on_hand", ledger_on_hand),
        *_compare("reserved_vs_ledger", "reserved", ledger_reserved),
    ).subquery()
    stmt = (select(checks.c.kind, checks.c.location_id, Location.code, checks.c.sku, checks.c.expected,
                   checks.c.actual)
            .join(Location, Location.id == checks.c.location_id)
            .order_by(Location.code, checks.c.sku, checks.c.kind))
    with reading(session):
        rows = session.execute(stmt).all()
    return [Violation(kind, loc_id, code, sku, int(expected), int(actual))
            for kind, loc_id, code, sku, expected, actual in rows]


def _key(kind: str, location: str, sku: str) -> tuple[str, str, str]:
    return kind, location, sku


def record_violations(session: Session, violations: list[Violation], *, actor: Actor) -> int:
    """Open one STOCK_INTEGRITY alert per violation not already open; returns how many were opened.

    Idempotent: an open alert for the same kind, location and SKU is left as it is. Alerts are
    resolved by people once they have found the cause; nothing here changes stock.
    """
    actor.require(Permission.VIEW_ORDERS)
    if not violations:
        return 0
    opened = 0
    with writing(session):
        open_alerts = session.scalars(
            select(Hold.detail).where(Hold.code == HoldCode.STOCK_INTEGRITY, Hold.state == HoldState.OPEN)
        ).all()
        have = {_key(d.get("kind", ""), d.get("location", ""), d.get("sku", "")) for d in open_alerts}
        for v in violations:
            if _key(v.kind, v.location, v.sku) in have:
                continue
            have.add(_key(v.kind, v.location, v.sku))
            detail = {"kind": v.kind, "location": v.location, "sku": v.sku, "expected": v.expected,
                      "actual": v.actual}
            session.add(Hold(order_id=None, code=HoldCode.STOCK_INTEGRITY, blocking=HoldCode.STOCK_INTEGRITY.blocking,
                             state=HoldState.OPEN, opened_at=utcnow(), note=v.message, detail=detail))
            record_event(session, None, "stock_integrity_alert", actor, subject="stock",
                         detail={**detail, "message": v.message})
            opened += 1
    return opened


def check_and_alert(session: Session, *, actor: Actor) -> list[Violation]:
    """The job and the admin view: check every invariant and open alerts for what is broken."""
    violations = check_invariants(session)
    record_violations(session, violations, actor=actor)
    return violations


def resolve_alert(session: Session, alert_id: int, *, note: str, actor: Actor) -> None:
    """Close a stock alert once its cause is found and put right; refused while the books still disagree.

    Nothing here touches stock: the fix itself is a count or an adjustment through the ledger.
    The note (what the cause was) is required and goes on the alert and its event.
    """
    actor.require(Permission.ADJUST_STOCK)
    note = note.strip()
    if len(note) < 3:
        raise InvalidInput("Say what the cause was (a few words) before marking the alert resolved.")
    with reading(session):
        alert = session.get(Hold, alert_id, populate_existing=True)
        if alert is None or alert.code is not HoldCode.STOCK_INTEGRITY:
            raise NotFound(f"No stock alert {alert_id}.")
        detail = dict(alert.detail or {})
    still = [v for v in check_invariants(session)
             if _key(v.kind, v.location, v.sku) == _key(detail.get("kind", ""), detail.get("location", ""),
                                                         detail.get("sku", ""))]
    if still:
        raise InvalidInput(f"Still broken: {still[0].message} Put the stock right first (a count or an "
                           "adjustment, through the ledger), then resolve the alert.")
    with writing(session):
        done = session.execute(
            update(Hold).where(Hold.id == alert_id, Hold.state == HoldState.OPEN)
            .values(state=HoldState.RESOLVED, resolution="resolved", resolved_by=actor.name, resolved_at=utcnow(),
                    note=f"{alert.note or ''} Resolved: {note}"[:2000], version=Hold.version + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        if done != 1:
            raise StaleEdit("This stock alert")
        record_event(session, None, "stock_integrity_resolved", actor, subject="stock",
                     detail={**detail, "alert_id": alert_id, "note": note})
