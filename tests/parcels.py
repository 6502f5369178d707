"""Helpers for the shipping and tracking tests: an allocated order, shipped from the desk."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.schemas import ChannelLine
from core.allocation import allocate_order
from core.auth import WORKER, Actor
from core.db import writing
from core.enums import OrderStatus, Role
from core.inventory import receive_stock
from core.models import Order
from core.shipping import ship_allocations, shippable_allocations
from core.status import move_order
from tests.factories import ingest, make_channel, make_location, order_record

OPS = Actor("olivia", role=Role.OPS_LEAD)


def allocated_order(db: Session, i: int, lines: list[tuple[str, int]], *, stock: int = 10) -> int:
    """An order of ``lines`` allocated at NJ-WH, which received ``stock`` of each SKU first."""
    make_location(db)
    for sku, _ in lines:
        receive_stock(db, "NJ-WH", sku, stock, actor=OPS, reference="PO-1")
    record = order_record(i, lines=tuple(ChannelLine(external_id=f"{i}-{n}", sku=sku, title=sku, quantity=q,
                                                     unit_price=Decimal("10.00")) for n, (sku, q) in enumerate(lines)))
    ingest(db, make_channel(db), [record])
    with writing(db):
        order = db.scalar(select(Order).where(Order.external_id == record.external_id))
        if order.status is OrderStatus.NEW:
            move_order(db, order, OrderStatus.READY, actor=WORKER)
        order_id = order.id
    outcome = allocate_order(db, order_id, actor=WORKER)
    assert outcome.after is OrderStatus.ALLOCATED, outcome
    return order_id


def version_of(db: Session, order_id: int) -> int:
    db.commit()
    return db.scalar(select(Order.version).where(Order.id == order_id))


def ship_all(db: Session, order_id: int, tracking: str, *, carrier: str = "UPS") -> int:
    """Ship every reserved allocation of the order as one parcel; returns the shipment id."""
    ids = [int(i) for i in shippable_allocations(db, order_id)["allocation_id"]]
    return ship_allocations(db, order_id, order_version=version_of(db, order_id), allocation_ids=ids,
                            carrier=carrier, service="Ground", tracking_number=tracking, actor=OPS).shipment_id
