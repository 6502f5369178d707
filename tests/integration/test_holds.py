"""Hold rules in the store and the desk's actions: permissions, optimistic locks, events."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from connectors.schemas import Address
from core import holds
from core.auth import Actor, add_user
from core.enums import FinancialStatus, HoldCode, HoldState, OrderStatus, Role
from core.errors import InvalidInput, NotAllowed, StaleEdit
from core.holds_queue import ME, NOBODY, HoldFilter, hold_queue, open_counts_by_code
from core.models import Event, Hold, Order
from tests.factories import ingest, make_channel, order_record

OPS = Actor(name="olivia", role=Role.OPS_LEAD)
SUPPORT = Actor(name="sam", role=Role.SUPPORT)
MANAGER = Actor(name="maya", role=Role.MANAGER)
CLERK = Actor(name="carl", role=Role.CLERK)
ADMIN = Actor(name="ada", role=Role.ADMIN)


def held(db, i=1, **overrides) -> Order:
    ingest(db, make_channel(db), [order_record(i, **overrides)])
    return db.scalar(select(Order).where(Order.number == f"#{1001 + i}"))


def refs(db, order: Order) -> list[holds.HoldRef]:
    return [holds.HoldRef(h.id, h.version) for h in holds.open_holds_of(db, order.id)]


def kinds(db, order: Order) -> list[str]:
    return list(db.scalars(select(Event.kind).where(Event.order_id == order.id).order_by(Event.id)))


def test_rules_open_the_holds_an_order_deserves_and_hold_it(db):
    order = held(db, 1, total=Decimal("6000.00"), financial_status=FinancialStatus.PENDING)
    codes = {h.code for h in holds.open_holds_of(db, order.id)}
    assert codes == {HoldCode.HIGH_VALUE, HoldCode.PAYMENT_PENDING}
    assert order.status is OrderStatus.ON_HOLD
    assert open_counts_by_code(db) == {HoldCode.HIGH_VALUE: 1, HoldCode.PAYMENT_PENDING: 1}


def test_an_address_missing_its_postal_code_is_held_and_fixing_it_clears_the_hold(db):
    bad = Address(name="Ada Rossi", address1="1 Main St", city="Boston", region="MA", country_code="US")
    order = held(db, 2, ship_to=bad)
    hold = holds.open_holds_of(db, order.id)[0]
    assert hold.code is HoldCode.ADDRESS_INVALID and "postal code" in hold.note
    missing = holds.fix_address(db, order.id, order_version=order.version, address={"postal_code": "02110"},
                                actor=OPS)
    db.refresh(order)
    assert missing is None and order.status is OrderStatus.READY
    assert "hold_cleared" in kinds(db, order) and "address_fixed" in kinds(db, order)


def test_an_order_from_an_unserved_country_is_out_of_zone(db):
    order = held(db, 3, ship_to=Address(name="K", address1="1 Rd", city="Nairobi", postal_code="00100",
                                        country_code="KE"))
    assert [h.code for h in holds.open_holds_of(db, order.id)] == [HoldCode.OUT_OF_ZONE]


def test_a_second_identical_order_within_minutes_is_a_duplicate_suspect(db):
    first = order_record(4)
    twin = order_record(4, external_id="twin-4", number="#9004", placed_at=first.placed_at.replace(minute=33),
                        updated_at=first.placed_at.replace(minute=33))
    ingest(db, make_channel(db), [first])
    ingest(db, make_channel(db), [twin])
    suspects = db.scalars(select(Hold).where(Hold.code == HoldCode.DUPLICATE_SUSPECT)).all()
    assert len(suspects) == 1 and "#1005" in suspects[0].note
    assert db.scalar(select(Order.status).where(Order.number == "#1005")) is OrderStatus.READY


def test_releasing_the_last_blocking_hold_moves_the_order_on_and_it_stays_released(db):
    order = held(db, 5, total=Decimal("6000.00"))
    holds.release(db, refs(db, order), actor=OPS, note="known customer")
    db.refresh(order)
    assert order.status is OrderStatus.READY
    assert kinds(db, order)[-2:] == ["hold_released", "status_changed"]
    # The channel edits the order later: the rule does not reopen what a person released.
    ingest(db, make_channel(db), [order_record(5, minutes_later=30, total=Decimal("6100.00"))])
    assert holds.open_holds_of(db, order.id) == []


def test_a_stale_release_is_refused_and_changes_nothing(db):
    order = held(db, 6, total=Decimal("6000.00"))
    seen = refs(db, order)
    teammate = add_user(db, "tina", "a long password", Role.OPS_LEAD)
    holds.assign(db, seen, assignee_id=teammate.id, actor=OPS, note="yours")  # someone else acted meanwhile
    with pytest.raises(StaleEdit, match="changed by someone else"):
        holds.release(db, seen, actor=OPS, note="late")
    db.rollback()
    assert "hold_released" not in kinds(db, order)
    assert holds.open_holds_of(db, order.id)[0].state is HoldState.OPEN


def test_a_stale_order_edit_is_refused(db):
    order = held(db, 7, total=Decimal("6000.00"))
    old_version = order.version
    holds.add_note(db, order.id, actor=SUPPORT, note="customer called")  # notes never conflict
    holds.place_manual_hold(db, order.id, order_version=old_version, actor=SUPPORT, note="wait for call")
    with pytest.raises(StaleEdit):
        holds.cancel_order(db, order.id, order_version=old_version, actor=OPS, reason="too late")


def test_cancelling_closes_the_orders_holds_and_the_queue_no_longer_shows_it(db):
    order = held(db, 8, total=Decimal("6000.00"))
    holds.cancel_order(db, order.id, order_version=order.version, actor=OPS, reason="customer asked")
    db.refresh(order)
    assert order.status is OrderStatus.CANCELLED and order.cancelled_at is not None
    assert holds.open_holds_of(db, order.id) == []
    assert hold_queue(db, HoldFilter()).total == 0


def test_the_hold_queue_puts_blocking_items_first_and_filters_by_assignee(db):
    a = held(db, 9, total=Decimal("6000.00"))
    b = held(db, 10, financial_status=FinancialStatus.PENDING)
    teammate = add_user(db, "tina", "a long password", Role.OPS_LEAD)
    holds.assign(db, refs(db, b), assignee_id=teammate.id, actor=OPS)
    page = hold_queue(db, HoldFilter())
    assert page.total == 2 and set(page.rows["number"]) == {a.number, b.number}
    assert list(page.rows["blocking"]) == [True, True]
    assert hold_queue(db, HoldFilter(assignee=NOBODY)).rows["number"].tolist() == [a.number]
    assert hold_queue(db, HoldFilter(assignee=ME), user_id=teammate.id).rows["number"].tolist() == [b.number]
    assert hold_queue(db, HoldFilter(assignee=ME), user_id=teammate.id + 1).total == 0
    assert hold_queue(db, HoldFilter(codes=(HoldCode.HIGH_VALUE,))).rows["number"].tolist() == [a.number]


def test_notes_and_reasons_are_required(db):
    order = held(db, 11, total=Decimal("6000.00"))
    with pytest.raises(InvalidInput):
        holds.release(db, refs(db, order), actor=OPS, note="  ")
    with pytest.raises(InvalidInput):
        holds.place_manual_hold(db, order.id, order_version=order.version, actor=OPS, note="")


# The permission matrix: every action x every role, checked in core (not only in the UI).
ACTIONS = {
    "release": ({Role.OPS_LEAD, Role.ADMIN},
                lambda db, o: holds.release(db, refs(db, o), actor=ACTOR[0], note="ok")),
    "assign": ({Role.OPS_LEAD, Role.ADMIN},
               lambda db, o: holds.assign(db, refs(db, o), assignee_id=_teammate(db), actor=ACTOR[0])),
    "manual hold": ({Role.OPS_LEAD, Role.SUPPORT, Role.ADMIN},
                    lambda db, o: holds.place_manual_hold(db, o.id, order_version=o.version, actor=ACTOR[0],
                                                          note="check")),
    "note": ({Role.OPS_LEAD, Role.SUPPORT, Role.ADMIN},
             lambda db, o: holds.add_note(db, o.id, actor=ACTOR[0], note="hello")),
    "cancel": ({Role.OPS_LEAD, Role.ADMIN},
               lambda db, o: holds.cancel_order(db, o.id, order_version=o.version, actor=ACTOR[0], reason="x")),
    "fix address": ({Role.OPS_LEAD, Role.ADMIN},
                    lambda db, o: holds.fix_address(db, o.id, order_version=o.version,
                                                    address={"city": "Newark"}, actor=ACTOR[0])),
}
ACTOR: list[Actor] = [OPS]


def _teammate(db) -> int:
    return add_user(db, "tina", "a long password", Role.OPS_LEAD).id


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", list(ACTIONS))
def test_permission_matrix(sqlite_db, role, action):
    allowed, run = ACTIONS[action]
    ACTOR[0] = Actor(name=f"u-{role.value}", role=role)
    order = held(sqlite_db, 12, total=Decimal("6000.00"))
    before = len(kinds(sqlite_db, order))
    if role in allowed:
        run(sqlite_db, order)
        assert len(kinds(sqlite_db, order)) > before
    else:
        with pytest.raises(NotAllowed):
            run(sqlite_db, order)
        sqlite_db.rollback()
        assert len(kinds(sqlite_db, order)) == before


def stocked(db, location_code: str, sku: str, units: int) -> None:
    from core.inventory import receive_stock

    receive_stock(db, location_code, sku, units, actor=ADMIN)


def test_an_out_of_zone_order_is_rerouted_to_a_chosen_location_and_allocated_there(db):
    from tests.factories import make_location

    order = held(db, 13, ship_to=Address(name="K", address1="1 Rd", city="Nairobi", postal_code="00100",
                                         country_code="KE"))
    far = make_location(db, "EU-WH", zones=("NL", "DE"), country="NL", region=None)
    stocked(db, "EU-WH", "TEE-BLK-M", 10)
    why = holds.reroute(db, order.id, order_version=order.version, location_id=far.id, actor=OPS,
                        note="customer pays the freight")
    db.refresh(order)
    assert order.status is OrderStatus.ALLOCATED and "EU-WH" in why
    assert holds.open_holds_of(db, order.id) == []
    from core.allocation import allocation_explanation, order_allocations

    assert order_allocations(db, order.id)["location"].tolist() == ["EU-WH"]
    assert allocation_explanation(db, order.id)["rerouted_by"] == "olivia"
    from core.integrity import check_invariants

    assert check_invariants(db) == []


def test_a_reroute_to_a_location_without_the_stock_changes_nothing(db):
    from tests.factories import make_location

    order = held(db, 14, ship_to=Address(name="K", address1="1 Rd", city="Nairobi", postal_code="00100",
                                         country_code="KE"))
    far = make_location(db, "EU-WH", zones=("NL",), country="NL", region=None)
    stocked(db, "EU-WH", "TEE-BLK-M", 1)
    with pytest.raises(InvalidInput, match="EU-WH has only 1 of TEE-BLK-M"):
        holds.reroute(db, order.id, order_version=order.version, location_id=far.id, actor=OPS, note="try")
    db.rollback()
    assert [h.code for h in holds.open_holds_of(db, order.id)] == [HoldCode.OUT_OF_ZONE]
    assert db.get(Order, order.id).status is OrderStatus.ON_HOLD


def test_support_cannot_reroute(sqlite_db):
    order = held(sqlite_db, 15)
    with pytest.raises(NotAllowed):
        holds.reroute(sqlite_db, order.id, order_version=order.version, location_id=1, actor=SUPPORT, note="x")


def test_a_released_order_is_allocated_by_the_worker_job_and_cancelling_gives_the_stock_back(db_url):
    from core.db import engine_for, new_session
    from core.models import InventoryLevel
    from jobs.allocate import allocate_ready_orders

    engine = engine_for(db_url)
    with new_session(engine) as db:
        order = held(db, 16, total=Decimal("6000.00"))
        order_id = order.id
        stocked(db, "NJ-WH", "TEE-BLK-M", 5)
        holds.release(db, refs(db, order), actor=OPS, note="ok")
    assert allocate_ready_orders(engine=engine) == 1
    with new_session(engine) as db:
        order = db.get(Order, order_id)
        assert order.status is OrderStatus.ALLOCATED
        assert db.scalar(select(InventoryLevel.reserved)) == 2
        holds.cancel_order(db, order.id, order_version=order.version, actor=OPS, reason="customer asked")
        assert db.scalar(select(InventoryLevel.reserved)) == 0


def test_the_hold_queue_sorts_by_the_orders_deadline_and_follows_it_when_the_channel_moves_it(db):
    from datetime import timedelta

    from tests.factories import T0

    channel = make_channel(db)
    unpaid = {"financial_status": FinancialStatus.PENDING, "raw_financial_status": "pending"}
    early, late = order_record(61, ship_by=T0 + timedelta(days=3), **unpaid), \
        order_record(62, ship_by=T0 + timedelta(days=5), **unpaid)
    ingest(db, channel, [late, early])
    queue = hold_queue(db, HoldFilter(codes=(HoldCode.PAYMENT_PENDING,)))
    assert list(queue.rows["number"]) == [early.number, late.number]
    # The channel moves the later order's deadline ahead of the other: the queue follows.
    moved = order_record(62, minutes_later=5, ship_by=T0 + timedelta(days=1), **unpaid)
    ingest(db, channel, [moved])
    held = db.scalar(select(Hold).where(Hold.code == HoldCode.PAYMENT_PENDING,
                                        Hold.order_id == db.scalar(select(Order.id).where(Order.number == late.number))))
    db.refresh(held)
    assert held.order_ship_by == T0 + timedelta(days=1)
    queue = hold_queue(db, HoldFilter(codes=(HoldCode.PAYMENT_PENDING,)))
    assert list(queue.rows["number"]) == [late.number, early.number]
