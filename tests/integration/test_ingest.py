"""Ingest on SQLite and PostgreSQL: idempotent, newest wins, dead letters, cursor in the same transaction."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from connectors.schemas import ChannelFulfillment, ChannelLine, Page, Rejection
from core import ingest as ingest_module
from core.db import engine_for, new_session, writing
from core.enums import FinancialStatus, OrderStatus
from core.models import DeadLetter, Event, Order, OrderLine, Shipment, ShipmentLine, SyncCursor
from core.runs import cursor_of
from tests.factories import T0, ingest, make_channel, order_record, parcel


def count(db, model, *where) -> int:
    return db.scalar(select(func.count()).select_from(model).where(*where))


def test_new_orders_land_with_their_lines_and_a_received_event(db):
    channel = make_channel(db)
    result = ingest(db, channel, [order_record(i) for i in range(5)])
    assert result.written == 5
    assert count(db, Order) == 5 and count(db, OrderLine) == 5
    assert count(db, Event, Event.kind == "order_received") == 5
    order = db.scalar(select(Order).where(Order.number == "#1003"))
    assert order.status is OrderStatus.READY and order.is_open  # no hold rule fired
    assert str(order.total) == "48.00" and order.currency == "USD"
    assert order.placed_at.tzinfo is not None and order.ship_by > order.placed_at


def test_polling_the_same_data_again_creates_no_duplicate(db):
    channel = make_channel(db)
    records = [order_record(i) for i in range(10)]
    ingest(db, channel, records)
    again = ingest(db, channel, records)
    assert (again.written, again.skipped) == (0, 10)
    assert count(db, Order) == 10 and count(db, OrderLine) == 10
    assert count(db, Event, Event.order_id.is_not(None)) == 10


def test_the_same_order_twice_in_one_page_keeps_the_newest(db):
    channel = make_channel(db)
    old, new = order_record(1), order_record(1, minutes_later=30, customer_name="Renamed Person")
    ingest(db, channel, [new, old])
    assert count(db, Order) == 1
    assert db.scalar(select(Order.customer_name)) == "Renamed Person"


def test_an_older_update_never_overwrites_a_newer_one(db):
    channel = make_channel(db)
    ingest(db, channel, [order_record(1, minutes_later=60, email="new@example.com")])
    stale = ingest(db, channel, [order_record(1, minutes_later=10, email="old@example.com")])
    assert stale.skipped == 1 and stale.written == 0
    assert db.scalar(select(Order.email)) == "new@example.com"


def test_a_newer_update_changes_the_order_and_says_what_changed(db):
    channel = make_channel(db)
    ingest(db, channel, [order_record(1, financial_status=FinancialStatus.PENDING)])
    ingest(db, channel, [order_record(1, minutes_later=5, financial_status=FinancialStatus.PAID,
                                      email="changed@example.com")])
    order = db.scalar(select(Order))
    assert order.financial_status is FinancialStatus.PAID and order.search_email == "changed@example.com"
    event = db.scalar(select(Event).where(Event.kind == "order_updated"))
    assert event.detail["financial_status"] == {"before": "pending", "after": "paid"}
    assert event.detail["email"]["after"] == "changed@example.com"
    # The payment hold cleared by itself and the order moved on: each change bumped the version.
    assert order.status is OrderStatus.READY and order.version == 3
    cleared = db.scalar(select(Event).where(Event.kind == "hold_cleared"))
    assert cleared.detail == {"code": "PAYMENT_PENDING", "reason": "the channel reports the order paid"}


def test_a_cancellation_from_the_channel_moves_the_order_and_leaves_the_queue(db):
    channel = make_channel(db)
    ingest(db, channel, [order_record(1)])
    ingest(db, channel, [order_record(1, minutes_later=5, channel_status=OrderStatus.CANCELLED)])
    order = db.scalar(select(Order))
    assert order.status is OrderStatus.CANCELLED and not order.is_open
    moved = db.scalar(select(Event).where(Event.kind == "status_changed"))
    assert moved.detail["from"] == "ready" and moved.detail["to"] == "cancelled"


def test_a_fulfilled_order_becomes_a_shipment_once(db):
    channel = make_channel(db)
    shipped = order_record(2, minutes_later=90, channel_status=OrderStatus.SHIPPED,
                           fulfillments=(parcel(2, "1ZTEST0000000002"),))
    ingest(db, channel, [order_record(2)])
    ingest(db, channel, [shipped])
    ingest(db, channel, [order_record(2, minutes_later=120, channel_status=OrderStatus.SHIPPED,
                                      fulfillments=(parcel(2, "1ZTEST0000000002"),))])
    assert count(db, Shipment) == 1
    assert db.scalar(select(OrderLine.qty_shipped)) == 2
    assert db.scalar(select(Order.status)) is OrderStatus.SHIPPED


def _two_line_order(i: int, *, minutes_later: int = 0, fulfillments=()):  # type: ignore[no-untyped-def]
    lines = (ChannelLine(external_id=f"{i}-1", sku="TEE-BLK-M", title="Tee black M", quantity=3,
                         unit_price=Decimal("10.00")),
             ChannelLine(external_id=f"{i}-2", sku="CAP-RED", title="Cap red", quantity=1, unit_price=Decimal("8.00")))
    return order_record(i, minutes_later=minutes_later, lines=lines, fulfillments=fulfillments,
                        channel_status=OrderStatus.SHIPPED if fulfillments else None)


def _split_parcels(i: int):  # type: ignore[no-untyped-def]
    first = ChannelFulfillment(external_id=f"F{i}a", carrier="UPS", tracking_number=f"1ZSPLIT{i:04d}A",
                               shipped_at=T0, line_quantities={f"{i}-1": 2})
    # The second parcel asks for more tees than are left: only the one left ships, with the cap.
    second = ChannelFulfillment(external_id=f"F{i}b", carrier="FedEx", tracking_number=f"SPLIT{i:04d}B",
                                shipped_at=T0, line_quantities={f"{i}-1": 5, f"{i}-2": 1, "no-such-line": 4})
    repeated = first.model_copy(update={"external_id": f"F{i}c"})
    return (first, second, repeated)


def _parcel_story(db, number: str):  # type: ignore[no-untyped-def]
    order = db.scalar(select(Order).where(Order.number == number))
    shipped = dict(db.execute(select(OrderLine.sku, OrderLine.qty_shipped).where(OrderLine.order_id == order.id)).all())
    parcels = db.execute(select(Shipment.tracking_number, Shipment.carrier, func.sum(ShipmentLine.quantity))
                         .join(ShipmentLine, ShipmentLine.shipment_id == Shipment.id)
                         .where(Shipment.order_id == order.id).group_by(Shipment.id)
                         .order_by(Shipment.tracking_number)).all()
    reported = count(db, Event, Event.order_id == order.id, Event.kind == "shipment_reported")
    return shipped, [tuple(p) for p in parcels], reported


def test_parcels_of_a_new_order_are_stored_in_bulk_as_the_update_path_stores_them(db):
    """A new order arriving fulfilled (bulk path) ends exactly like one fulfilled in a later update (ORM path)."""
    channel = make_channel(db)
    ingest(db, channel, [_two_line_order(1, fulfillments=_split_parcels(1)), _two_line_order(3)])
    ingest(db, channel, [_two_line_order(3, minutes_later=30, fulfillments=_split_parcels(3))])
    bulk, updated = _parcel_story(db, "#1002"), _parcel_story(db, "#1004")
    assert bulk[0] == {"TEE-BLK-M": 3, "CAP-RED": 1}
    assert bulk[1] == [("1ZSPLIT0001A", "UPS", 2), ("SPLIT0001B", "FedEx", 2)]  # the repeat is stored once
    assert bulk[2] == 2
    assert (updated[0], [(t.replace("0003", "0001"), c, q) for t, c, q in updated[1]], updated[2]) == bulk


def test_a_malformed_record_goes_to_dead_letters_with_its_raw_json_and_the_rest_lands(db):
    channel = make_channel(db)
    raw = {"id": 99, "name": "#9999", "line_items": [{"quantity": "two"}]}
    page = Page(records=(order_record(1), order_record(2)),
                rejected=(Rejection(raw=raw, error="line_items[0].sku: missing", external_id="99"),))
    result = ingest_module.apply_page(db, channel, page)
    assert (result.written, result.rejected) == (2, 1)
    letter = db.scalar(select(DeadLetter))
    assert json.loads(letter.raw) == raw and "sku" in letter.error and letter.external_id == "99"
    assert count(db, Order) == 2


def test_the_same_broken_record_fetched_again_makes_one_dead_letter(db):
    """A poll starts at its cursor, so a broken record there comes back every poll: one letter, until replayed."""
    channel = make_channel(db)
    raw = {"id": 98, "name": "#9998", "line_items": [{"quantity": "two"}]}
    page = Page(records=(), rejected=(Rejection(raw=raw, error="line_items[0].quantity: not a number",
                                                external_id="98"),))
    assert ingest_module.apply_page(db, channel, page).rejected == 1
    again = ingest_module.apply_page(db, channel, page)
    assert (again.rejected, again.skipped) == (0, 1)
    assert count(db, DeadLetter) == 1
    changed = Page(records=(), rejected=(Rejection(raw={**raw, "note": "edited"}, error="still broken",
                                                   external_id="98"),))
    assert ingest_module.apply_page(db, channel, changed).rejected == 1  # a new version is a new letter
    with writing(db):
        for letter in db.scalars(select(DeadLetter)):
            letter.replayed_at = letter.received_at
    assert ingest_module.apply_page(db, channel, page).rejected == 1  # broken again after a replay: kept
    assert count(db, DeadLetter) == 3


def test_the_cursor_advances_with_the_page_and_never_goes_back(db):
    channel = make_channel(db)
    ingest(db, channel, [order_record(1)], cursor="2026-11-16T10:00:00+00:00")
    assert cursor_of(db, channel.id) == "2026-11-16T10:00:00+00:00"
    ingest(db, channel, [], cursor="2026-11-16T09:00:00+00:00")
    assert cursor_of(db, channel.id) == "2026-11-16T10:00:00+00:00"


def test_a_failure_mid_page_stores_nothing_and_keeps_the_cursor(db, monkeypatch):
    channel = make_channel(db)
    ingest(db, channel, [order_record(1)], cursor="2026-11-16T10:00:00+00:00")

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ingest_module, "advance_cursor", explode)
    with pytest.raises(RuntimeError):
        ingest(db, channel, [order_record(i) for i in range(2, 6)], cursor="2026-11-17T00:00:00+00:00")
    db.rollback()
    assert count(db, Order) == 1
    assert db.scalar(select(SyncCursor.value)) == "2026-11-16T10:00:00+00:00"


def test_an_update_applies_over_an_order_another_process_changed_since_this_session_read_it(db, db_url):
    """The worker's poll session keeps orders it read on earlier pages; the allocation sweep (its own
    session) moves them meanwhile. The update must read the order afresh, not fail as stale data."""
    channel = make_channel(db)
    ingest(db, channel, [order_record(1)])
    kept = db.scalar(select(Order))  # still in this session's identity map, at version 1
    with new_session(engine_for(db_url)) as other, writing(other):
        other.scalar(select(Order)).status = OrderStatus.ALLOCATED  # as the allocation sweep does: version 2
    result = ingest(db, channel, [order_record(1, minutes_later=30, customer_name="Renamed Person")])
    assert result.written == 1
    db.expire_all()
    assert (kept.customer_name, kept.status, kept.version) == ("Renamed Person", OrderStatus.ALLOCATED, 3)
