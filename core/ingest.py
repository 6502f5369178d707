"""Ingest normalized channel orders: upsert, dead-letter the rejects, advance the cursor - atomically.

The worker, the CLI and the benchmark all go through ``apply_page``. New orders are written
with bulk statements (thousands a second on SQLite); updates go through the ORM so that
status moves use the one transition function. An update older than what is stored never
overwrites it; the same record polled twice changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from connectors.schemas import ChannelFulfillment, ChannelOrder, Page
from core import search
from core.auth import Actor, channel_actor
from core.channel_parcels import LineState, add_new_order_parcels, reported_event, shipment_row, shipped_split
from core.channel_returns import open_channel_returns
from core.db import insert_rows, insert_rows_counted, writing
from core.enums import ActorKind, OrderStatus
from core.errors import InvalidTransition
from core.events import plain_value, record_event
from core.holds import sync_hold_deadlines
from core.models import Channel, DeadLetter, Event, Order, OrderLine, Shipment, ShipmentLine, utcnow
from core.runs import advance_cursor
from core.sla import SlaPolicy, ship_by
from core.status import move_order
from core.triage import (
    Decision,
    NewOrder,
    RuleContext,
    open_holds_bulk,
    recheck_new_orders,
    rule_context,
    triage_orders,
)

_CHUNK = 500


@dataclass
class IngestResult:
    written: int = 0  # orders created or changed
    skipped: int = 0  # already up to date, or older than what is stored
    rejected: int = 0  # sent to the dead-letter table

    def __iadd__(self, other: IngestResult) -> IngestResult:
        self.written += other.written
        self.skipped += other.skipped
        self.rejected += other.rejected
        return self


def apply_page(session: Session, channel: Channel, page: Page, *, run_id: int | None = None) -> IngestResult:
    """Store one page and advance the channel's cursor in the same transaction."""
    result = IngestResult()
    actor = channel_actor(channel.code)
    newest = _newest_per_order(page.records)
    with writing(session):
        existing = _existing_orders(session, channel.id, list(newest))
        fresh = [r for ext, r in newest.items() if ext not in existing]
        context = rule_context(session)
        fresh_orders = _insert_new(session, channel, fresh, actor, context)
        touched: list[int] = []
        _forget_stored_orders(session)
        for ext, (order_id, stored_at) in existing.items():
            record = newest[ext]
            if record.updated_at <= stored_at:
                result.skipped += 1
                continue
            # Locked and read afresh: on PostgreSQL the worker's allocation sweep may have moved this order
            # (and its version) since the page began; without the lock the update fails as stale data.
            order = session.get_one(Order, order_id, options=[selectinload(Order.lines)], with_for_update=True,
                                    populate_existing=True)
            _apply_update(session, channel, order, record, actor)
            touched.append(order_id)
        result.written += len(fresh_orders) + len(touched)
        # The hold rules see every new or changed order (new ones were triaged before insert).
        recheck_new_orders(session, fresh_orders, actor=actor, context=context)
        triage_orders(session, touched, actor=actor, context=context)
        result.skipped += len(page.records) - len(newest)
        for rejection in page.rejected:
            raw = raw_text(rejection.raw)
            if _already_dead(session, channel.id, rejection.external_id, raw):
                result.skipped += 1  # the same broken record, fetched again at the cursor: one letter is enough
                continue
            session.add(DeadLetter(
                channel_id=channel.id, connector=channel.code, run_id=run_id,
                external_id=rejection.external_id, raw=raw, error=rejection.error, received_at=utcnow(),
            ))
            result.rejected += 1
        advance_cursor(session, channel.id, page.cursor)
    return result


def _forget_stored_orders(session: Session) -> None:
    """Expire the orders and lines this session still holds from earlier pages.

    The session keeps objects across commits, and others (the allocation sweep, the desk) move
    orders meanwhile: an update built on a held copy would fail its version check as stale data.
    """
    for held in list(session.identity_map.values()):
        if isinstance(held, Order | OrderLine):
            session.expire(held)


def _already_dead(session: Session, channel_id: int, external_id: str | None, raw: str) -> bool:
    """Whether this exact record already waits, unreplayed, in the dead letters."""
    return session.scalar(select(DeadLetter.id).where(
        DeadLetter.channel_id == channel_id, DeadLetter.replayed_at.is_(None),
        DeadLetter.external_id.is_(None) if external_id is None else DeadLetter.external_id == external_id,
        DeadLetter.raw == raw).limit(1)) is not None


def _newest_per_order(records: Iterable[ChannelOrder]) -> dict[str, ChannelOrder]:
    newest: dict[str, ChannelOrder] = {}
    for record in records:
        seen = newest.get(record.external_id)
        if seen is None or record.updated_at > seen.updated_at:
            newest[record.external_id] = record
    return newest


def _existing_orders(session: Session, channel_id: int, external_ids: list[str]) -> dict[str, tuple]:
    found: dict[str, tuple] = {}
    for start in range(0, len(external_ids), _CHUNK):
        chunk = external_ids[start : start + _CHUNK]
        rows = session.execute(
            select(Order.external_id, Order.id, Order.channel_updated_at)
            .where(Order.channel_id == channel_id, Order.external_id.in_(chunk))
        )
        found.update({ext: (oid, updated) for ext, oid, updated in rows})
    return found


def _order_fields(channel: Channel, record: ChannelOrder, policy: SlaPolicy | None = None) -> dict[str, Any]:
    """Column values of an order from its channel record (everything but status and identity)."""
    address = record.ship_to
    own_deadline = record.ship_by is not None
    phone = record.phone or (address.phone if address else None)
    name_key = search.norm_text(record.customer_name)
    return {
        "number": record.number,
        "financial_status": record.financial_status,
        # Clipped to their columns: a channel's word or region is not a reason to lose the order.
        "fulfillment_status": _fit(record.raw_fulfillment_status, 32),
        "customer_name": record.customer_name,
        "email": record.email,
        "phone": phone,
        "ship_to": address.model_dump(mode="json") if address else {},
        "ship_country": address.country_code if address else None,
        "ship_region": _fit(address.region, 20) if address else None,
        "total": record.total,
        "currency": record.currency,
        "placed_at": record.placed_at,
        "channel_updated_at": record.updated_at,
        "ship_by": record.ship_by if own_deadline else ship_by(record.placed_at, policy or _policy(channel)),
        "ship_by_source": "channel" if own_deadline else "policy",
        "cancelled_at": record.cancelled_at,
        "tags": ", ".join(record.tags)[:500],
        "risk_level": record.risk_level,
        "note": record.note,
        "search_number": search.norm_number(record.number),
        "search_email": search.norm_text(record.email),
        "search_name": name_key,
        "search_last": _fit(search.last_of(name_key), 120),
        "search_phone_rev": search.phone_key(phone),
    }


def _fit(value: str | None, length: int) -> str | None:
    return value[:length] if value else value


def _policy(channel: Channel) -> SlaPolicy:
    return SlaPolicy.from_dict(channel.sla_policy)


def _insert_new(session: Session, channel: Channel, records: list[ChannelOrder], actor: Actor,
                context: RuleContext) -> list[NewOrder]:
    """Bulk-insert orders seen for the first time, with their lines, parcels and first event."""
    if not records:
        return []
    now = utcnow()
    policy = _policy(channel)
    same = {"channel_id": channel.id, "version": 1, "created_at": now, "updated_at": now}  # on every row
    rows, first = [], []
    for record in records:
        row = _order_fields(channel, record, policy)
        # Orders are stored already triaged (ready or on hold), so ingest writes each row once.
        decision = context.first_decision(row) if record.channel_status is None else Decision()
        status = record.channel_status or decision.target or OrderStatus.NEW
        first.append(decision)
        row.update(same, external_id=record.external_id, status=status, is_open=status.is_open)
        rows.append(row)
    # A plain executemany: RETURNING with a guaranteed order would make SQLite insert row by row.
    ids = _inserted_ids(session, channel.id, records, insert_rows_counted(session, Order.__table__, rows))
    line_rows = [
        {"order_id": oid, "external_id": line.external_id, "sku": line.sku, "title": line.title,
         "quantity": line.quantity, "unit_price": line.unit_price}
        for oid, record in zip(ids, records, strict=True) for line in record.lines
    ]
    insert_rows(session, OrderLine.__table__, line_rows)
    events = [
        {"order_id": oid, "subject": "order", "kind": "order_received", "actor_kind": ActorKind.CHANNEL,
         "actor_name": actor.name, "at": now,
         "detail": {"number": r.number, "status": row["status"].value, "total": str(r.total),
                    "currency": r.currency, "lines": len(r.lines)}}
        for oid, r, row in zip(ids, records, rows, strict=True)
    ]
    events += open_holds_bulk(session, {oid: d.to_open for oid, d in zip(ids, first, strict=True) if d.to_open},
                              actor, now)
    events += add_new_order_parcels(session, list(zip(ids, records, strict=True)), actor, now)
    insert_rows(session, Event.__table__, events)
    for oid, record in zip(ids, records, strict=True):
        if record.returns:  # after its parcels: a return is capped at what shipped
            open_channel_returns(session, session.get_one(Order, oid, options=[selectinload(Order.lines)]),
                                 record.returns, actor)
    return [NewOrder(oid, row["search_email"], r.placed_at, r.external_id, row["ship_to"])
            for oid, r, row in zip(ids, records, rows, strict=True)]


def _inserted_ids(session: Session, channel_id: int, records: list[ChannelOrder],
                  first_id: int | None) -> list[int]:
    """The ids of orders just inserted, in record order.

    On SQLite the writer holds the database lock, and a new row's id is one more than the
    largest id in the table (its documented rowid rule), so the ids are consecutive from
    ``first_id``; elsewhere they are looked up by external id.
    """
    if first_id is not None:
        return list(range(first_id, first_id + len(records)))
    new_ids = _existing_orders(session, channel_id, [r.external_id for r in records])
    return [new_ids[r.external_id][0] for r in records]


def _apply_update(session: Session, channel: Channel, order: Order, record: ChannelOrder, actor: Actor) -> None:
    """Bring a stored order up to a newer channel record; record what changed."""
    fields = _order_fields(channel, record)
    if order.ship_by_source == "policy" and record.ship_by is None:
        fields.pop("ship_by")  # a deadline never moves because the channel edited the order
    changed = {}
    for name, value in fields.items():
        before = getattr(order, name)
        if before != value:
            changed[name] = (before, value)
            setattr(order, name, value)
    lines = {line.external_id: line for line in order.lines}
    for line in record.lines:
        stored = lines.get(line.external_id)
        if stored is None:
            order.lines.append(OrderLine(external_id=line.external_id, sku=line.sku, title=line.title,
                                         quantity=line.quantity, unit_price=line.unit_price))
            changed[f"line {line.sku}"] = (None, line.quantity)
        elif (stored.quantity, stored.unit_price, stored.sku) != (line.quantity, line.unit_price, line.sku):
            changed[f"line {line.sku}"] = (stored.quantity, line.quantity)
            stored.quantity, stored.unit_price, stored.sku = line.quantity, line.unit_price, line.sku
    session.flush()
    known = set(session.scalars(select(Shipment.tracking_number).where(Shipment.order_id == order.id)))
    for parcel in record.fulfillments:
        if parcel.tracking_number not in known:  # two parcels of one record may share a number
            known.add(parcel.tracking_number)
            _add_shipment(session, order, parcel, actor)
    open_channel_returns(session, order, record.returns, actor)
    if "ship_by" in changed:
        sync_hold_deadlines(session, order.id, order.ship_by)
    interesting = {k: v for k, v in changed.items() if k not in _QUIET_FIELDS}
    if interesting:
        record_event(session, order.id, "order_updated", actor,
                     detail={k: {"before": plain_value(b), "after": plain_value(a)} for k, (b, a) in interesting.items()})
    target = record.channel_status
    if target is not None and target != order.status:
        try:
            move_order(session, order, target, actor=actor, reason="reported by the channel")
        except InvalidTransition as exc:
            record_event(session, order.id, "channel_status_ignored", actor,
                         detail={"reported": target.value, "kept": order.status.value, "why": str(exc)})


# Bookkeeping columns that change with every update and say nothing to a person.
_QUIET_FIELDS = {"channel_updated_at", "search_number", "search_email", "search_name", "search_last",
                 "search_phone_rev", "ship_by_source"}


def _add_shipment(session: Session, order: Order, parcel: ChannelFulfillment, actor: Actor) -> None:
    """A parcel the channel reports on a stored order: stored once per tracking number, lines marked shipped."""
    shipment = Shipment(**shipment_row(order.id, parcel))
    session.add(shipment)
    session.flush()
    states = {line.external_id: LineState(line.id, line.quantity, line.qty_shipped) for line in order.lines}
    by_id = {line.id: line for line in order.lines}
    for state, units in shipped_split(parcel, states):
        by_id[state.id].qty_shipped = state.shipped
        session.add(ShipmentLine(shipment_id=shipment.id, order_line_id=state.id, quantity=units))
    session.add(Event(**reported_event(order.id, parcel, actor, utcnow())))


def raw_text(raw: Any) -> str:
    """A rejected payload as the dead-letter text: its JSON (a bare string as it came), storable on both backends.

    NUL (PostgreSQL refuses it in text) and lone surrogates (no UTF-8 form) are written as JSON
    escapes instead; the replay's ``json.loads`` reads them back as they were sent.
    """
    text = raw if isinstance(raw, str) else json.dumps(raw, default=str, ensure_ascii=False)
    if "\x00" in text or not _utf8(text):
        text = json.dumps(raw, default=str)
    return text


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
