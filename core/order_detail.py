"""One order, whole: its lines, parcels and story - found from whatever reference a person has."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import search
from core.errors import InvalidInput, NotFound
from core.models import Channel, Event, Order, OrderLine, Shipment
from core.timeline import describe


def resolve_order(session: Session, ref: str) -> int:
    """Internal id of the order named by ``ref``: order number, channel order id, 'CHANNEL:number' or id.

    A number shared by orders of several channels is ambiguous and says which channels to pick from.
    """
    ref = search.clean_term(ref)
    if not ref:
        raise InvalidInput("Give an order number, channel order id or internal id.")
    if ":" in ref:
        code, _, rest = ref.partition(":")
        if code == "id" and search.internal_id(rest) is not None:
            return _by_id(session, search.internal_id(rest))
        ids = session.execute(
            select(Order.id).join(Channel).where(Channel.code == code, Order.search_number == search.norm_number(rest))
        ).scalars().all()
        return _one(ids, ref, session)
    ids = session.scalars(select(Order.id).where(Order.search_number == search.norm_number(ref))).all()
    if not ids:
        ids = session.scalars(select(Order.id).where(Order.channel_id.in_(select(Channel.id)),
                                                     Order.external_id == ref)).all()
    if not ids and search.internal_id(ref) is not None:
        return _by_id(session, search.internal_id(ref))
    return _one(ids, ref, session)


def _by_id(session: Session, order_id: int) -> int:
    if session.get(Order, order_id) is None:
        raise NotFound(f"No order with internal id {order_id}.")
    return order_id


def _one(ids: list[int], ref: str, session: Session) -> int:
    if not ids:
        raise NotFound(f"No order matches {ref!r}.")
    if len(ids) > 1:
        codes = session.scalars(
            select(Channel.code).join(Order).where(Order.id.in_(ids)).order_by(Channel.code)
        ).all()
        raise InvalidInput(f"{ref!r} matches orders on several channels ({', '.join(codes)}): "
                           f"write CHANNEL:NUMBER, e.g. {codes[0]}:{ref}.")
    return ids[0]


@dataclass(frozen=True)
class OrderDetail:
    order: dict[str, Any]
    lines: list[dict[str, Any]]
    shipments: list[dict[str, Any]]
    events: list[dict[str, Any]]


def order_detail(session: Session, order_id: int) -> OrderDetail:
    """Everything about one order, as plain data (the CLI prints it as JSON, the page renders it)."""
    row = session.execute(
        select(Order, Channel.code, Channel.name).join(Channel).where(Order.id == order_id)
    ).first()
    if row is None:
        raise NotFound(f"No order with internal id {order_id}.")
    order, channel_code, channel_name = row
    lines = session.scalars(select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.id))
    parcels = session.scalars(select(Shipment).where(Shipment.order_id == order_id).order_by(Shipment.shipped_at))
    events = session.scalars(select(Event).where(Event.order_id == order_id).order_by(Event.at, Event.id))
    return OrderDetail(
        order={
            "id": order.id, "number": order.number, "channel": channel_code, "channel_name": channel_name,
            "external_id": order.external_id, "status": order.status.value, "status_label": order.status.label,
            "financial_status": order.financial_status.value, "fulfillment_status": order.fulfillment_status,
            "customer_name": order.customer_name, "email": order.email, "phone": order.phone,
            "ship_to": order.ship_to, "total": str(order.total), "currency": order.currency,
            "placed_at": order.placed_at.isoformat(), "ship_by": order.ship_by.isoformat(),
            "ship_by_source": order.ship_by_source, "tags": order.tags, "note": order.note,
            "cancelled_at": order.cancelled_at.isoformat() if order.cancelled_at else None,
            "version": order.version,
        },
        lines=[
            {"id": li.id, "external_id": li.external_id, "sku": li.sku, "title": li.title,
             "quantity": li.quantity, "unit_price": str(li.unit_price), "allocated": li.qty_allocated,
             "shipped": li.qty_shipped, "returned": li.qty_returned}
            for li in lines
        ],
        shipments=[
            {"id": s.id, "carrier": s.carrier, "service": s.service, "tracking_number": s.tracking_number,
             "status": s.status.value, "shipped_at": s.shipped_at.isoformat(),
             "delivered_at": s.delivered_at.isoformat() if s.delivered_at else None}
            for s in parcels
        ],
        events=[
            {"at": e.at.isoformat(), "kind": e.kind, "actor": e.actor_name, "actor_kind": e.actor_kind.value,
             "text": describe(e.kind, e.detail), "detail": e.detail}
            for e in events
        ],
    )
