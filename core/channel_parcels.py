"""Parcels a channel reports with an order: shipments, their lines and the shipped quantities.

New orders arrive by the page, a quarter of them already fulfilled; storing their parcels one
ORM object at a time cost more than the rest of ingest together, so ``add_new_order_parcels``
writes them in bulk. ``shipped_split`` is the one rule both paths share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from connectors.schemas import ChannelFulfillment, ChannelOrder
from core.auth import Actor
from core.db import insert_rows, insert_rows_counted
from core.enums import ShipmentStatus
from core.models import OrderLine, Shipment, ShipmentLine

_CHUNK = 500


@dataclass
class LineState:
    """What a parcel needs to know of an order line: its id, ordered and already shipped units."""

    id: int
    quantity: int
    shipped: int = 0


def shipped_split(parcel: ChannelFulfillment, lines: Mapping[str, LineState]) -> list[tuple[LineState, int]]:
    """The units of each line this parcel ships, never more than is left to ship (updates ``shipped``).

    A parcel naming no lines ships every line whole, as channels report single-parcel orders.
    """
    wanted = parcel.line_quantities or {ext: line.quantity for ext, line in lines.items()}
    out = []
    for external_id, quantity in wanted.items():
        line = lines.get(external_id)
        if line is None or quantity <= 0:
            continue
        units = min(quantity, line.quantity - line.shipped)
        if units > 0:
            line.shipped += units
            out.append((line, units))
    return out


def shipment_row(order_id: int, parcel: ChannelFulfillment) -> dict[str, Any]:
    """The shipments row of a parcel the channel reports."""
    return {"order_id": order_id, "external_id": parcel.external_id, "source": "channel", "carrier": parcel.carrier,
            "service": parcel.service[:60] if parcel.service else parcel.service,
            "tracking_number": parcel.tracking_number, "status": ShipmentStatus.LABEL_CREATED,
            "shipped_at": parcel.shipped_at}


def reported_event(order_id: int, parcel: ChannelFulfillment, actor: Actor, at: datetime) -> dict[str, Any]:
    """The events row saying the channel reported this parcel."""
    return {"order_id": order_id, "subject": "order", "kind": "shipment_reported", "actor_kind": actor.kind,
            "actor_name": actor.name, "at": at,
            "detail": {"carrier": parcel.carrier, "tracking_number": parcel.tracking_number,
                       "shipped_at": parcel.shipped_at.isoformat()}}


def add_new_order_parcels(session: Session, orders: Sequence[tuple[int, ChannelOrder]], actor: Actor,
                          at: datetime) -> list[dict[str, Any]]:
    """Store the parcels of orders inserted in this transaction; returns their events rows to insert.

    Each tracking number is stored once per order (a channel repeating a parcel adds nothing).
    """
    orders = [(oid, record) for oid, record in orders if record.fulfillments]
    if not orders:
        return []
    lines = _line_states(session, [oid for oid, _ in orders])
    parcels, events = [], []
    for oid, record in orders:
        seen: set[str] = set()
        for parcel in record.fulfillments:
            if parcel.tracking_number not in seen:
                seen.add(parcel.tracking_number)
                parcels.append((oid, parcel, shipped_split(parcel, lines.get(oid, {}))))
                events.append(reported_event(oid, parcel, actor, at))
    ids = _insert_shipments(session, parcels)
    insert_rows(session, ShipmentLine.__table__, [
        {"shipment_id": sid, "order_line_id": line.id, "quantity": units}
        for sid, (_, _, split) in zip(ids, parcels, strict=True) for line, units in split])
    shipped = [{"line_id": line.id, "shipped": line.shipped}
               for by_ext in lines.values() for line in by_ext.values() if line.shipped]
    if shipped:
        table = OrderLine.__table__
        session.connection().execute(
            update(table).where(table.c.id == bindparam("line_id")).values(qty_shipped=bindparam("shipped")), shipped)
    return events


def _line_states(session: Session, order_ids: list[int]) -> dict[int, dict[str, LineState]]:
    out: dict[int, dict[str, LineState]] = {}
    table = OrderLine.__table__
    for start in range(0, len(order_ids), _CHUNK):
        rows = session.connection().execute(
            select(table.c.order_id, table.c.external_id, table.c.id, table.c.quantity, table.c.qty_shipped)
            .where(table.c.order_id.in_(order_ids[start:start + _CHUNK])))
        for oid, ext, lid, quantity, shipped in rows:
            out.setdefault(oid, {})[ext] = LineState(lid, quantity, shipped)
    return out


def _insert_shipments(session: Session, parcels: list[tuple[int, ChannelFulfillment, Any]]) -> list[int]:
    """Insert the shipments rows; their ids in the same order."""
    first = insert_rows_counted(session, Shipment.__table__, [shipment_row(oid, p) for oid, p, _ in parcels])
    if first is not None:
        return list(range(first, first + len(parcels)))
    table, found = Shipment.__table__, {}
    order_ids = sorted({oid for oid, _, _ in parcels})
    for start in range(0, len(order_ids), _CHUNK):
        rows = session.connection().execute(
            select(table.c.order_id, table.c.tracking_number, table.c.id)
            .where(table.c.order_id.in_(order_ids[start:start + _CHUNK])))
        found.update({(oid, tn): sid for oid, tn, sid in rows})
    return [found[(oid, p.tracking_number)] for oid, p, _ in parcels]
