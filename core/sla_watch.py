"""SLA warnings: open SLA_AT_RISK inside the window before an unshipped order's ship-by, SLA_BREACHED after it.

A worker sweep (DESIGN.md section 4, holds table). Set-based: the orders due are one range of
the queue index (open, ship-by before now + window), the SLA items open now are one query,
and what changes is written in bulk. An item closes by itself when the order ships (or is
cancelled), and an at-risk item whose deadline moved out of the window (a policy change) closes too.
Both codes are non-blocking: they warn, they never stop an order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.auth import Actor
from core.db import insert_rows, writing
from core.enums import HoldCode, HoldState, Permission, SlaState
from core.models import Event, Hold, Order, utcnow
from core.settings import sla_window
from core.sla import sla_state
from core.triage import event_row, open_holds_bulk

SLA_CODES = (HoldCode.SLA_AT_RISK, HoldCode.SLA_BREACHED)
CODE_FOR = {SlaState.AT_RISK: HoldCode.SLA_AT_RISK, SlaState.BREACHED: HoldCode.SLA_BREACHED}


@dataclass(frozen=True)
class SweepResult:
    at_risk_opened: int = 0
    breached_opened: int = 0
    cleared: int = 0


def sweep_sla(session: Session, *, actor: Actor, now: datetime | None = None,
              window: timedelta | None = None) -> SweepResult:
    """Bring every SLA item in line with the clock, in one write transaction."""
    actor.require(Permission.EDIT_ORDER)
    now = now or utcnow()
    with writing(session):
        window = window if window is not None else sla_window(session)
        due = {oid: sla_state(ship_by, now, window) for oid, ship_by in session.execute(
            select(Order.id, Order.ship_by).where(Order.is_open.is_(True), Order.ship_by <= now + window))}
        open_items: dict[int, dict[HoldCode, int]] = {}
        for hold_id, order_id, code in session.execute(
                select(Hold.id, Hold.order_id, Hold.code).where(Hold.state == HoldState.OPEN,
                                                                 Hold.code.in_(SLA_CODES))):
            open_items.setdefault(order_id, {})[code] = hold_id
        to_open: dict[int, dict[HoldCode, str]] = {}
        to_close: list[tuple[int, int, HoldCode, str]] = []  # hold id, order id, code, why
        for oid, state in due.items():
            have = open_items.get(oid, {})
            code = CODE_FOR[state]
            if code not in have:
                to_open[oid] = {code: _why(state, window)}
            if state is SlaState.BREACHED and HoldCode.SLA_AT_RISK in have:
                to_close.append((have[HoldCode.SLA_AT_RISK], oid, HoldCode.SLA_AT_RISK, "the ship-by has passed"))
        gone = [oid for oid in open_items if oid not in due]
        if gone:
            still_open = set(session.scalars(select(Order.id).where(Order.id.in_(gone), Order.is_open.is_(True))))
            for oid in gone:
                why = ("the ship-by moved out of the at-risk window" if oid in still_open
                       else "the order shipped or was cancelled")
                to_close += [(hold_id, oid, code, why) for code, hold_id in open_items[oid].items()]
        events = open_holds_bulk(session, to_open, actor, now)
        events += _close(session, to_close, actor, now)
        insert_rows(session, Event.__table__, events)
    opened = [code for codes in to_open.values() for code in codes]
    return SweepResult(opened.count(HoldCode.SLA_AT_RISK), opened.count(HoldCode.SLA_BREACHED), len(to_close))


def _why(state: SlaState, window: timedelta) -> str:
    if state is SlaState.BREACHED:
        return "not shipped and its ship-by has passed"
    return f"not shipped and its ship-by is less than {window.total_seconds() / 3600:g} h away"


def _close(session: Session, items: list[tuple[int, int, HoldCode, str]], actor: Actor, now: datetime) -> list:
    events = []
    for hold_id, order_id, code, why in items:
        session.execute(
            update(Hold).where(Hold.id == hold_id, Hold.state == HoldState.OPEN)
            .values(state=HoldState.RESOLVED, resolution="cleared", resolved_by=actor.name, resolved_at=now,
                    version=Hold.version + 1)
            .execution_options(synchronize_session=False))
        events.append(event_row(order_id, "hold_cleared", actor, now, {"code": code.value, "reason": why}))
    return events
