"""Run the hold rules over orders and settle their status: the bridge between rules and the store.

Called after every ingest for the page's new and changed orders (in the ingest's transaction),
and after every desk action. It reads a page of orders with a few set-based queries, decides
purely (``decide``), and writes the outcome in bulk, so ingest stays at thousands of orders a second.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from core.allocation_plan import ships_to
from core.auth import Actor
from core.db import insert_rows, writing
from core.enums import HoldCode, HoldState, OrderStatus, Permission
from core.errors import StaleEdit
from core.models import Event, Hold, Location, Order, OrderLine, utcnow
from core.rules import AUTO_CLEARING, OrderFacts, RuleSettings, evaluate
from core.settings import rule_settings
from core.status import can_move, status_event

# Orders the rules still look at; once shipping starts, holds no longer apply.
TRIAGED = (OrderStatus.NEW, OrderStatus.ON_HOLD, OrderStatus.READY, OrderStatus.BACKORDERED,
           OrderStatus.ALLOCATED)

CLEARED_BECAUSE = {
    HoldCode.PAYMENT_PENDING: "the channel reports the order paid",
    HoldCode.ADDRESS_INVALID: "the address is now complete",
    HoldCode.OUT_OF_ZONE: "a location now ships there",
}


@dataclass(frozen=True)
class Decision:
    """What triage does to one order: holds to open (with why), holds to clear, and where it moves."""

    to_open: dict[HoldCode, str] = field(default_factory=dict)
    to_clear: tuple[HoldCode, ...] = ()
    target: OrderStatus | None = None


def decide(status: OrderStatus, verdicts: dict[HoldCode, str | None], open_codes: set[HoldCode],
           decided_codes: set[HoldCode]) -> Decision:
    """Pure: rule verdicts + the order's holds -> the holds to open or clear and the status to move to.

    A hold a person resolved stays resolved (``decided_codes``): the rule does not second-guess them.
    Only auto-clearing holds close by themselves.
    """
    to_open = {code: why for code, why in verdicts.items()
               if why and code not in open_codes and code not in decided_codes}
    to_clear = tuple(code for code, why in verdicts.items()
                     if not why and code in open_codes and code in AUTO_CLEARING)
    still_open = (open_codes - set(to_clear)) | set(to_open)
    return Decision(to_open, to_clear, target_status(status, any(c.blocking for c in still_open)))


def target_status(status: OrderStatus, blocked: bool) -> OrderStatus | None:
    """On hold while a blocking hold is open; ready once none is. None: stay."""
    if blocked and status in (OrderStatus.NEW, OrderStatus.READY, OrderStatus.BACKORDERED, OrderStatus.ALLOCATED):
        return OrderStatus.ON_HOLD
    if not blocked and status in (OrderStatus.NEW, OrderStatus.ON_HOLD):
        return OrderStatus.READY
    return None


@dataclass(frozen=True)
class RuleContext:
    """What every order's rules share: the thresholds and the zones of active locations."""

    settings: RuleSettings
    zones: tuple[tuple[str, ...], ...]
    # (country, region) -> whether some zone covers it: a page's orders go to a few dozen places.
    _served: dict[tuple[str | None, str | None], bool] = field(default_factory=dict, compare=False, repr=False)

    def facts(self, o: Any, duplicate_of: tuple[str, ...] = ()) -> OrderFacts:
        """Facts of an order given as a row or a mapping of its column values."""
        get = o.get if isinstance(o, dict) else o._mapping.get
        country, region = get("ship_country"), get("ship_region")
        return OrderFacts(
            total=get("total"), currency=get("currency"), financial_status=get("financial_status"),
            risk_level=get("risk_level"), ship_to=get("ship_to") or {}, country=country, region=region,
            ships_to_zone=self.ships_to_zone(country, region), duplicate_of=duplicate_of,
        )

    def ships_to_zone(self, country: str | None, region: str | None) -> bool:
        """Whether some active location's zones cover this ship-to."""
        served = self._served.get((country, region))
        if served is None:
            served = self._served[country, region] = any(ships_to(z, country, region) for z in self.zones)
        return served

    def first_decision(self, fields: dict[str, Any]) -> Decision:
        """The rules' verdict on an order about to be stored for the first time."""
        return decide(OrderStatus.NEW, evaluate(self.facts(fields), self.settings), set(), set())


def rule_context(session: Session) -> RuleContext:
    zones = tuple(tuple(z) for z in session.scalars(select(Location.zones).where(Location.active.is_(True))))
    return RuleContext(rule_settings(session), zones)


def triage_orders(session: Session, order_ids: Iterable[int], *, actor: Actor,
                  context: RuleContext | None = None) -> dict[int, Decision]:
    """Open and clear rule holds on these orders and move each to on hold or ready, in the caller's transaction."""
    ids = list(order_ids)
    if not ids:
        return {}
    session.flush()
    ctx = context or rule_context(session)
    rows = session.execute(
        select(Order.id, Order.status, Order.total, Order.currency, Order.financial_status,
               Order.risk_level, Order.ship_to, Order.ship_country, Order.ship_region, Order.search_email,
               Order.placed_at, Order.external_id, Order.number)
        .where(Order.id.in_(ids), Order.status.in_(TRIAGED))
    ).all()
    duplicates = _duplicates(session, rows, ctx.settings)
    open_codes, decided = _hold_codes(session, [r.id for r in rows])
    decisions = {
        r.id: decide(r.status, evaluate(ctx.facts(r, duplicates.get(r.id, ())), ctx.settings),
                     open_codes[r.id], decided[r.id])
        for r in rows
    }
    _write(session, rows, decisions, actor)
    return decisions


class NewOrder(NamedTuple):
    """What the duplicate check needs of an order just stored (known in memory, not read back)."""

    id: int
    search_email: str | None
    placed_at: datetime
    external_id: str
    ship_to: dict[str, Any]


def recheck_new_orders(session: Session, orders: list[NewOrder], *, actor: Actor,
                       context: RuleContext | None = None) -> None:
    """New orders were stored already triaged; only a twin in the store (or the same page) can change that."""
    if not orders:
        return
    session.flush()
    ctx = context or rule_context(session)
    suspects = _duplicates(session, orders, ctx.settings)
    if suspects:
        triage_orders(session, list(suspects), actor=actor, context=ctx)


def open_holds_bulk(session: Session, to_open: dict[int, dict[HoldCode, str]], actor: Actor,
                    now: datetime, *, details: dict[int, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Insert rule holds for many orders at once; return their hold_opened events (not yet written).

    ``details`` adds facts to an order's holds (e.g. the short SKUs of a BACKORDER).
    """
    extra = details or {}
    deadlines = dict(session.execute(select(Order.id, Order.ship_by).where(Order.id.in_(list(to_open)))).all()) \
        if to_open else {}
    rows = [
        {"order_id": oid, "code": code, "blocking": code.blocking, "order_ship_by": deadlines.get(oid),
         "state": HoldState.OPEN, "opened_at": now, "note": why, "detail": {"why": why, **extra.get(oid, {})},
         "version": 1}
        for oid, codes in to_open.items() for code, why in codes.items()
    ]
    if rows:
        insert_rows(session, Hold.__table__, rows)
    return [event_row(h["order_id"], "hold_opened", actor, now,
                   {"code": h["code"].value, "blocking": h["blocking"], "note": h["note"]}) for h in rows]


def _write(session: Session, rows: list[Any], decisions: dict[int, Decision], actor: Actor) -> None:
    now = utcnow()
    events = open_holds_bulk(session, {oid: d.to_open for oid, d in decisions.items() if d.to_open}, actor, now)
    for oid, d in decisions.items():
        if d.to_clear:
            session.execute(
                update(Hold).where(Hold.order_id == oid, Hold.code.in_(d.to_clear), Hold.state == HoldState.OPEN)
                .values(state=HoldState.RESOLVED, resolution="cleared", resolved_by=actor.name, resolved_at=now,
                        version=Hold.version + 1)
                .execution_options(synchronize_session=False)
            )
            events += [event_row(oid, "hold_cleared", actor, now, {"code": c.value, "reason": CLEARED_BECAUSE[c]})
                       for c in d.to_clear]
    moves = [(r, decisions[r.id].target) for r in rows
             if decisions[r.id].target is not None and can_move(r.status, decisions[r.id].target)]
    for r, _ in moves:
        if r.status is OrderStatus.ALLOCATED:  # an allocated order on hold gives its stock back
            from core.allocation import release_order_allocations

            release_order_allocations(session, session.get_one(Order, r.id), actor=actor,
                                      reason="order put on hold")
            session.flush()
    if moves:
        # One executemany; the status in the WHERE makes a concurrent change show up in the row count.
        orders = Order.__table__
        done = session.connection().execute(
            update(orders).where(orders.c.id == bindparam("oid"), orders.c.status == bindparam("was"))
            .values(status=bindparam("now_status"), is_open=bindparam("now_open"),
                    version=orders.c.version + 1, updated_at=now),
            [{"oid": r.id, "was": r.status.value, "now_status": t.value, "now_open": t.is_open} for r, t in moves],
        ).rowcount
        if done != len(moves):
            raise StaleEdit("An order in this batch")
        events += [event_row(r.id, "status_changed", actor, now, status_event(r.status, t, because(t)))
                   for r, t in moves]
    if events:
        insert_rows(session, Event.__table__, events)
    expire_loaded(session, {r.id for r, _ in moves})


def because(target: OrderStatus) -> str:
    return "a blocking hold is open" if target is OrderStatus.ON_HOLD else "no blocking hold"


def event_row(order_id: int, kind: str, actor: Actor, at: datetime, detail: dict[str, Any]) -> dict[str, Any]:
    return {"order_id": order_id, "subject": "order", "kind": kind, "actor_kind": actor.kind,
            "actor_name": actor.name, "at": at, "detail": detail}


def expire_loaded(session: Session, order_ids: set[int]) -> None:
    """Orders changed by bulk statements are reloaded on next access if the session holds them."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Order) and obj.id in order_ids:
            session.expire(obj)


def _hold_codes(session: Session, order_ids: list[int]) -> tuple[dict[int, set], dict[int, set]]:
    open_codes: dict[int, set[HoldCode]] = defaultdict(set)
    decided: dict[int, set[HoldCode]] = defaultdict(set)
    if order_ids:
        for oid, code, state, resolution in session.execute(
            select(Hold.order_id, Hold.code, Hold.state, Hold.resolution).where(Hold.order_id.in_(order_ids))
        ):
            if state is HoldState.OPEN:
                open_codes[oid].add(code)
            elif resolution != "cleared":
                decided[oid].add(code)
    return open_codes, decided


def _duplicates(session: Session, rows: list[Any], settings: RuleSettings) -> dict[int, tuple[str, ...]]:
    """Orders that look like a double submission: same email, address and items, placed close together.

    Only the later of two is the suspect; the first one placed ships normally.
    """
    with_email = [r for r in rows if r.search_email]
    if not with_email:
        return {}
    window = timedelta(minutes=settings.duplicate_window_minutes)
    nearby = (Order.search_email.in_({r.search_email for r in with_email}),
              Order.placed_at >= min(r.placed_at for r in with_email) - window,
              Order.placed_at <= max(r.placed_at for r in with_email) + window)
    # Counted first: the common case needs no row (nor its address and times decoded) back.
    if session.scalar(select(func.count(Order.id)).where(*nearby)) == len(with_email):
        return {}  # every email seen once in the window: nothing to compare (the common case)
    neighbours = session.execute(
        select(Order.id, Order.external_id, Order.number, Order.placed_at, Order.search_email, Order.ship_to)
        .where(*nearby)
    ).all()
    items: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for oid, sku, qty in session.execute(
        select(OrderLine.order_id, OrderLine.sku, OrderLine.quantity)
        .where(OrderLine.order_id.in_([n.id for n in neighbours]))
    ):
        items[oid].append((sku, qty))
    by_email: dict[str, list[Any]] = defaultdict(list)
    for n in neighbours:
        by_email[n.search_email].append(n)

    def signature(row: Any) -> tuple:
        place = tuple(str((row.ship_to or {}).get(k) or "").strip().lower()
                      for k in ("address1", "postal_code", "country_code"))
        return place, tuple(sorted(items[row.id]))

    found: dict[int, tuple[str, ...]] = {}
    for r in with_email:
        mine = signature(r)
        twins = tuple(sorted(
            n.number for n in by_email[r.search_email]
            if n.external_id != r.external_id and (n.placed_at, n.id) < (r.placed_at, r.id)
            and r.placed_at - n.placed_at <= window and signature(n) == mine
        ))
        if twins:
            found[r.id] = twins
    return found


def recheck_open_orders(session: Session, *, actor: Actor, batch: int = 500,
                        progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Run the hold rules again over every order they still apply to (after the thresholds changed).

    One write transaction per batch of orders, so the desk keeps working meanwhile; ``progress``
    is called with (done, total). Holds a person resolved stay resolved. Returns how many orders
    were checked and how many holds were opened and cleared.
    """
    actor.require(Permission.EDIT_ORDER)
    ids = list(session.scalars(select(Order.id).where(Order.status.in_(TRIAGED)).order_by(Order.id)))
    session.commit()
    opened = cleared = 0
    for start in range(0, len(ids), batch):
        with writing(session):
            decisions = triage_orders(session, ids[start:start + batch], actor=actor)
        opened += sum(len(d.to_open) for d in decisions.values())
        cleared += sum(len(d.to_clear) for d in decisions.values())
        if progress:
            progress(min(start + batch, len(ids)), len(ids))
    return {"checked": len(ids), "opened": opened, "cleared": cleared}
