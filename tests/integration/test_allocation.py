"""Allocation against the store, on SQLite and PostgreSQL: reserve, backorder, retry, release, explain."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from connectors.schemas import Address, ChannelLine
from core.allocation import (
    allocate_next_ready,
    allocate_order,
    allocation_explanation,
    backorders_to_retry,
    order_allocations,
    release_order_allocations,
)
from core.auth import WORKER, Actor
from core.db import writing
from core.enums import AllocationStatus, HoldCode, HoldState, LocationKind, MovementKind, OrderStatus, Role
from core.errors import NotAllowed
from core.integrity import check_invariants
from core.inventory import receive_stock
from core.models import Allocation, Event, Hold, InventoryLevel, InventoryMovement, Location, Order, OrderLine
from core.status import move_order
from jobs.allocate import allocate_ready_orders, retry_backorders
from tests.factories import ingest, make_channel, order_record

OPS = Actor("olivia", role=Role.OPS_LEAD)
SUPPORT = Actor("sam", role=Role.SUPPORT)


def add_location(db, code, country="US", region=None, zones=("US",), priority=10, active=True) -> int:  # type: ignore[no-untyped-def]
    with writing(db):
        loc = Location(code=code, name=code, kind=LocationKind.WAREHOUSE, country=country, region=region,
                       zones=list(zones), priority=priority, active=active)
        db.add(loc)
        db.flush()
        return loc.id


def ready_order(db, i: int, lines: list[tuple[str, int]], *, region: str = "CA") -> int:  # type: ignore[no-untyped-def]
    """An order through ingest (so the hold rules see it), moved on to READY."""
    record = order_record(
        i, lines=tuple(ChannelLine(external_id=f"{i}-{n}", sku=sku, title=sku, quantity=q,
                                   unit_price=Decimal("10.00")) for n, (sku, q) in enumerate(lines)),
        ship_to=Address(name="Ada Lovelace", address1="1 Main St", city="Somewhere", region=region,
                        postal_code="94103", country_code="US"))
    ingest(db, make_channel(db), [record])
    with writing(db):
        order = db.scalar(select(Order).where(Order.external_id == record.external_id))
        if order.status is OrderStatus.NEW:
            move_order(db, order, OrderStatus.READY, actor=WORKER)
        assert order.status is OrderStatus.READY, f"test order landed in {order.status}"
        return order.id


def level(db, code: str, sku: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    db.commit()
    on_hand, reserved = db.execute(
        select(InventoryLevel.on_hand, InventoryLevel.reserved).join(Location)
        .where(Location.code == code, InventoryLevel.sku == sku)).one()
    return on_hand, reserved


def status_of(db, order_id: int) -> OrderStatus:  # type: ignore[no-untyped-def]
    db.commit()
    return db.scalar(select(Order.status).where(Order.id == order_id))


def open_hold_codes(db, order_id: int) -> set[HoldCode]:  # type: ignore[no-untyped-def]
    return set(db.scalars(select(Hold.code).where(Hold.order_id == order_id, Hold.state == HoldState.OPEN)))


@pytest.fixture
def two_warehouses(db):  # type: ignore[no-untyped-def]
    add_location(db, "NJ-WH", region="NJ", priority=10)
    add_location(db, "LA-STORE", region="CA", zones=("US-CA",), priority=30)
    return db


def test_allocating_an_order_reserves_stock_through_the_ledger_and_explains_itself(two_warehouses):
    db = two_warehouses
    receive_stock(db, "NJ-WH", "TEE", 10, actor=OPS, reference="PO-1")
    receive_stock(db, "NJ-WH", "CAP", 5, actor=OPS)
    order_id = ready_order(db, 1, [("TEE", 2), ("CAP", 1)])
    outcome = allocate_order(db, order_id, actor=WORKER)
    assert outcome.after is OrderStatus.ALLOCATED and outcome.allocated == 3 and outcome.locations == ("NJ-WH",)
    assert status_of(db, order_id) is OrderStatus.ALLOCATED
    assert level(db, "NJ-WH", "TEE") == (10, 2) and level(db, "NJ-WH", "CAP") == (5, 1)
    allocs = db.scalars(select(Allocation).where(Allocation.order_id == order_id)).all()
    assert sorted((a.sku, a.quantity, a.status) for a in allocs) == [
        ("CAP", 1, AllocationStatus.RESERVED), ("TEE", 2, AllocationStatus.RESERVED)]
    assert allocs[0].plan["winners"] == ["NJ-WH"]
    reservations = db.execute(select(InventoryMovement.sku, InventoryMovement.reserved_delta).where(
        InventoryMovement.order_id == order_id, InventoryMovement.kind == MovementKind.RESERVATION)).all()
    assert sorted(reservations) == [("CAP", 1), ("TEE", 2)]
    assert sorted(db.scalars(select(OrderLine.qty_allocated).where(OrderLine.order_id == order_id))) == [1, 2]
    explanation = allocation_explanation(db, order_id)
    assert explanation["why"] == ("NJ-WH fills the whole order: same country, priority 10; "
                                  "LA-STORE ranked higher but cannot fill it.")
    # LA-STORE serves California only, and is the closer one - but has no stock.
    assert [c["code"] for c in explanation["candidates"]] == ["LA-STORE", "NJ-WH"]
    assert explanation["candidates"][1]["available"] == {"CAP": 5, "TEE": 10}
    assert list(order_allocations(db, order_id)["location"]) == ["NJ-WH", "NJ-WH"]
    assert check_invariants(db) == []


def test_allocating_twice_or_from_another_status_changes_nothing(two_warehouses):
    db = two_warehouses
    receive_stock(db, "NJ-WH", "TEE", 4, actor=OPS)
    order_id = ready_order(db, 2, [("TEE", 1)])
    allocate_order(db, order_id, actor=WORKER)
    again = allocate_order(db, order_id, actor=WORKER)
    assert not again.changed and again.reason == "order is allocated"
    assert level(db, "NJ-WH", "TEE") == (4, 1)
    assert db.scalar(select(func.count()).select_from(Allocation)) == 1


def test_short_stock_backorders_the_rest_and_opens_a_backorder_item(two_warehouses):
    db = two_warehouses
    receive_stock(db, "NJ-WH", "TEE", 1, actor=OPS)
    order_id = ready_order(db, 3, [("TEE", 3)])
    outcome = allocate_order(db, order_id, actor=WORKER)
    assert outcome.after is OrderStatus.BACKORDERED and outcome.allocated == 1 and outcome.short == {"TEE": 2}
    assert level(db, "NJ-WH", "TEE") == (1, 1)
    hold = db.scalar(select(Hold).where(Hold.order_id == order_id, Hold.code == HoldCode.BACKORDER))
    assert hold.state is HoldState.OPEN and not hold.blocking and hold.detail["short"] == {"TEE": 2}
    assert "2 x TEE" in hold.note
    assert allocation_explanation(db, order_id)["backordered"] == {"TEE": 2}


def test_stock_arriving_lets_the_backorder_retry_allocate_and_clear_the_hold(two_warehouses):
    db = two_warehouses
    order_id = ready_order(db, 4, [("TEE", 3)])
    assert allocate_order(db, order_id, actor=WORKER).after is OrderStatus.BACKORDERED
    engine = db.get_bind()
    assert retry_backorders(engine=engine) == 0  # nothing arrived: nothing to retry
    receive_stock(db, "LA-STORE", "TEE", 2, actor=OPS)
    assert retry_backorders(engine=engine) == 1
    assert status_of(db, order_id) is OrderStatus.BACKORDERED  # 2 of 3: still short
    receive_stock(db, "NJ-WH", "TEE", 5, actor=OPS)
    assert retry_backorders(engine=engine) == 1
    assert status_of(db, order_id) is OrderStatus.ALLOCATED
    assert HoldCode.BACKORDER not in open_hold_codes(db, order_id)
    cleared = db.scalar(select(Event.detail).where(Event.order_id == order_id, Event.kind == "hold_cleared"))
    assert cleared["code"] == "BACKORDER" and "stock arrived" in cleared["reason"]
    assert level(db, "LA-STORE", "TEE") == (2, 2) and level(db, "NJ-WH", "TEE") == (5, 1)
    assert sum(db.scalars(select(Allocation.quantity).where(Allocation.order_id == order_id))) == 3
    assert check_invariants(db) == []


def test_cancelling_releases_the_reservations_through_the_ledger(two_warehouses):
    db = two_warehouses
    receive_stock(db, "NJ-WH", "TEE", 2, actor=OPS)
    receive_stock(db, "LA-STORE", "TEE", 2, actor=OPS)
    order_id = ready_order(db, 5, [("TEE", 4)])
    assert allocate_order(db, order_id, actor=WORKER).locations == ("LA-STORE", "NJ-WH")
    with writing(db):
        order = db.get(Order, order_id)
        assert release_order_allocations(db, order, actor=OPS, reason="customer cancelled") == 4
        move_order(db, order, OrderStatus.CANCELLED, actor=OPS, reason="customer cancelled")
    assert level(db, "NJ-WH", "TEE") == (2, 0) and level(db, "LA-STORE", "TEE") == (2, 0)
    assert set(db.scalars(select(Allocation.status).where(Allocation.order_id == order_id))) == {
        AllocationStatus.RELEASED}
    releases = db.scalars(select(InventoryMovement.reserved_delta).where(
        InventoryMovement.order_id == order_id, InventoryMovement.kind == MovementKind.RELEASE)).all()
    assert sorted(releases) == [-2, -2]
    assert db.scalars(select(OrderLine.qty_allocated).where(OrderLine.order_id == order_id)).all() == [0]
    assert check_invariants(db) == []


def test_the_job_allocates_ready_orders_earliest_ship_by_first(two_warehouses):
    db = two_warehouses
    receive_stock(db, "NJ-WH", "TEE", 2, actor=OPS)
    first, second, third = (ready_order(db, i, [("TEE", 1)]) for i in (10, 11, 12))
    assert allocate_ready_orders(batch=50, engine=db.get_bind()) == 3
    assert [status_of(db, o) for o in (first, second, third)] == [
        OrderStatus.ALLOCATED, OrderStatus.ALLOCATED, OrderStatus.BACKORDERED]
    assert allocate_ready_orders(engine=db.get_bind()) == 0
    assert allocate_next_ready(db, actor=WORKER) is None


def test_an_order_no_location_ships_to_goes_on_hold(db):
    add_location(db, "NJ-WH", region="NJ", zones=("US",))
    order_id = ready_order(db, 6, [("TEE", 1)])
    with writing(db):
        db.get(Location, db.scalar(select(Location.id))).active = False  # closed after the order came in
    outcome = allocate_order(db, order_id, actor=WORKER)
    assert outcome.after is OrderStatus.ON_HOLD and outcome.reason == "no location ships to US"
    assert HoldCode.OUT_OF_ZONE in open_hold_codes(db, order_id)


def test_support_may_not_allocate(two_warehouses):
    order_id = ready_order(two_warehouses, 7, [("TEE", 1)])
    with pytest.raises(NotAllowed):
        allocate_order(two_warehouses, order_id, actor=SUPPORT)


def test_a_lost_race_gives_back_what_it_took_and_replans_on_fresh_stock(db, monkeypatch):
    import core.allocation as allocation

    nj = add_location(db, "NJ-WH", region="NJ", priority=10)
    nv = add_location(db, "NV-WH", region="NV", priority=20)
    for code in ("NJ-WH", "NV-WH"):
        receive_stock(db, code, "TEE", 5, actor=OPS)
    receive_stock(db, "NV-WH", "ZIP", 5, actor=OPS)
    order_id = ready_order(db, 8, [("TEE", 1), ("ZIP", 1)])
    real, calls = allocation.sites_and_stock, []

    def stale_on_first_look(session, skus):  # type: ignore[no-untyped-def]
        sites, stock = real(session, skus)
        calls.append(1)
        if len(calls) == 1:  # NJ-WH's last ZIP was just taken by someone else
            stock[(nj, "ZIP")] = 5
        return sites, stock

    monkeypatch.setattr(allocation, "sites_and_stock", stale_on_first_look)
    outcome = allocate_order(db, order_id, actor=WORKER)
    assert outcome.attempts == 2 and outcome.locations == ("NV-WH",) and outcome.after is OrderStatus.ALLOCATED
    assert level(db, "NJ-WH", "TEE") == (5, 0)  # reserved on the first try, given back
    assert level(db, "NV-WH", "TEE") == (5, 1) and level(db, "NV-WH", "ZIP") == (5, 1)
    assert set(db.scalars(select(Allocation.location_id).where(Allocation.order_id == order_id))) == {nv}
    assert check_invariants(db) == []


def test_backorders_are_retried_only_where_a_location_ships_to_them(two_warehouses):
    db = two_warehouses
    new_york = ready_order(db, 9, [("TEE", 1)], region="NY")
    allocate_order(db, new_york, actor=WORKER)
    receive_stock(db, "LA-STORE", "TEE", 3, actor=OPS)  # ships to California only
    assert backorders_to_retry(db) == []
    receive_stock(db, "NJ-WH", "TEE", 1, actor=OPS)
    assert backorders_to_retry(db) == [new_york]


def test_the_worker_batch_books_each_order_as_the_single_order_path_does(two_warehouses, caplog):
    """The set path (the worker's) writes what ``allocate_order`` writes: rows, ledger, holds, events."""
    db = two_warehouses
    receive_stock(db, "NJ-WH", "TEE", 3, actor=OPS)
    receive_stock(db, "LA-STORE", "CAP", 1, actor=OPS)
    first = ready_order(db, 21, [("TEE", 2)])
    second = ready_order(db, 22, [("TEE", 2), ("CAP", 1)])  # 1 TEE left at NJ: short by one
    assert allocate_ready_orders(batch=10, engine=db.get_bind()) == 2
    assert "batch allocation failed" not in caplog.text  # the set path did it, not the fallback
    assert status_of(db, first) is OrderStatus.ALLOCATED and status_of(db, second) is OrderStatus.BACKORDERED
    assert level(db, "NJ-WH", "TEE") == (3, 3) and level(db, "LA-STORE", "CAP") == (1, 1)
    assert open_hold_codes(db, first) == set() and open_hold_codes(db, second) == {HoldCode.BACKORDER}
    hold = db.scalar(select(Hold).where(Hold.order_id == second, Hold.code == HoldCode.BACKORDER))
    assert hold.note == "Short: 1 x TEE" and hold.detail["short"] == {"TEE": 1}
    lines = dict(db.execute(select(OrderLine.sku, OrderLine.qty_allocated).where(OrderLine.order_id == second)).all())
    assert lines == {"TEE": 1, "CAP": 1}
    ledger = db.execute(select(InventoryMovement.sku, InventoryMovement.reserved_delta)
                        .where(InventoryMovement.order_id == second, InventoryMovement.kind == MovementKind.RESERVATION)
                        .order_by(InventoryMovement.sku)).all()
    assert [tuple(r) for r in ledger] == [("CAP", 1), ("TEE", 1)]
    kinds = list(db.scalars(select(Event.kind).where(Event.order_id == second).order_by(Event.id)))
    assert kinds[-3:] == ["allocation_planned", "status_changed", "hold_opened"]
    explanation = allocation_explanation(db, second)
    assert explanation is not None and explanation["method"] == "split" and set(explanation["winners"]) == {
        "NJ-WH", "LA-STORE"}
    assert check_invariants(db) == []
    # The backorder is retried when stock arrives, through the single-order path.
    receive_stock(db, "NJ-WH", "TEE", 1, actor=OPS)
    assert retry_backorders(engine=db.get_bind()) == 1
    assert status_of(db, second) is OrderStatus.ALLOCATED and open_hold_codes(db, second) == set()
