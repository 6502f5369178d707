"""Shipping from the desk on SQLite and PostgreSQL: the ledger moves once, the invariants hold, stale submits fail."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.auth import Actor
from core.enums import AllocationStatus, MovementKind, OrderStatus, Role
from core.errors import InvalidInput, NotAllowed, StaleEdit
from core.integrity import check_invariants
from core.models import Allocation, Event, InventoryLevel, InventoryMovement, Order, OrderLine, Shipment
from core.shipping import ship_allocations, shippable_allocations
from tests.parcels import OPS, allocated_order, ship_all, version_of


def stock(db, sku: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    db.commit()
    return tuple(db.execute(select(InventoryLevel.on_hand, InventoryLevel.reserved)
                            .where(InventoryLevel.sku == sku)).one())


def test_shipping_from_the_desk_consumes_reserved_and_on_hand_once_and_ships_the_order(db):
    order_id = allocated_order(db, 1, [("TEE-BLK-M", 2), ("MUG-WHT", 3)])
    assert stock(db, "TEE-BLK-M") == (10, 2)
    ship_all(db, order_id, "1Z999AA10123456784")
    assert stock(db, "TEE-BLK-M") == (8, 0) and stock(db, "MUG-WHT") == (7, 0)
    assert check_invariants(db) == []
    moves = db.execute(select(InventoryMovement.sku, InventoryMovement.on_hand_delta, InventoryMovement.reserved_delta)
                       .where(InventoryMovement.kind == MovementKind.SHIPMENT).order_by(InventoryMovement.sku)).all()
    assert [tuple(m) for m in moves] == [("MUG-WHT", -3, -3), ("TEE-BLK-M", -2, -2)]
    order = db.get(Order, order_id)
    assert order.status is OrderStatus.SHIPPED
    assert db.scalars(select(Allocation.status).where(Allocation.order_id == order_id)).all() == [
        AllocationStatus.SHIPPED, AllocationStatus.SHIPPED]
    assert sorted(db.scalars(select(OrderLine.qty_shipped).where(OrderLine.order_id == order_id))) == [2, 3]
    parcel = db.scalar(select(Shipment).where(Shipment.order_id == order_id))
    assert (parcel.source, parcel.carrier, parcel.service) == ("desk", "UPS", "Ground")
    kinds = db.scalars(select(Event.kind).where(Event.order_id == order_id)).all()
    assert kinds.count("shipment_created") == 1 and "status_changed" in kinds


def test_a_double_submit_of_the_same_form_is_refused_and_changes_nothing(db):
    order_id = allocated_order(db, 2, [("TEE-BLK-M", 2), ("CAP-RED", 1)])
    shown_version = version_of(db, order_id)
    tee = int(shippable_allocations(db, order_id).set_index("sku").loc["TEE-BLK-M", "allocation_id"])
    form = dict(order_version=shown_version, allocation_ids=[tee], carrier="UPS", tracking_number="1ZFIRST", actor=OPS)
    ship_allocations(db, order_id, **form)
    with pytest.raises(StaleEdit, match="changed by someone else"):
        ship_allocations(db, order_id, **form)
    # Even with the order's fresh version, an allocation that already left cannot leave again.
    with pytest.raises(StaleEdit, match="changed by someone else"):
        ship_allocations(db, order_id, **{**form, "order_version": version_of(db, order_id),
                                          "tracking_number": "1ZSECOND"})
    assert stock(db, "TEE-BLK-M") == (8, 0) and stock(db, "CAP-RED") == (10, 1)
    assert db.scalar(select(func.count()).select_from(Shipment)) == 1
    assert db.scalar(select(func.count()).where(InventoryMovement.kind == MovementKind.SHIPMENT)) == 1
    assert check_invariants(db) == []


def test_part_of_an_order_ships_as_partially_shipped_then_the_rest_ships_it(db):
    order_id = allocated_order(db, 3, [("TEE-BLK-M", 1), ("CAP-RED", 1)])
    first, second = [int(i) for i in shippable_allocations(db, order_id)["allocation_id"]]
    ship_allocations(db, order_id, order_version=version_of(db, order_id), allocation_ids=[first], carrier="USPS",
                     tracking_number="9400A", actor=OPS)
    assert db.get(Order, order_id).status is OrderStatus.PARTIALLY_SHIPPED
    ship_allocations(db, order_id, order_version=version_of(db, order_id), allocation_ids=[second], carrier="USPS",
                     tracking_number="9400B", actor=OPS)
    db.expire_all()
    assert db.get(Order, order_id).status is OrderStatus.SHIPPED
    assert check_invariants(db) == []


def test_only_those_who_may_ship_can_and_bad_input_is_refused(db):
    order_id = allocated_order(db, 4, [("TEE-BLK-M", 1)])
    ids = [int(i) for i in shippable_allocations(db, order_id)["allocation_id"]]
    with pytest.raises(NotAllowed):
        ship_allocations(db, order_id, order_version=None, allocation_ids=ids, carrier="UPS", tracking_number="1Z1",
                         actor=Actor("sam", role=Role.SUPPORT))
    with pytest.raises(InvalidInput, match="tracking number"):
        ship_allocations(db, order_id, order_version=None, allocation_ids=ids, carrier="UPS",
                         tracking_number="1Z 1", actor=OPS)
    with pytest.raises(InvalidInput, match="carrier"):
        ship_allocations(db, order_id, order_version=None, allocation_ids=ids, carrier=" ", tracking_number="1Z1",
                         actor=OPS)
    assert stock(db, "TEE-BLK-M") == (10, 1)
