"""The queue and the support lookup, on SQLite and PostgreSQL, against hand-checked data."""

from __future__ import annotations

from datetime import timedelta

from core.enums import OrderStatus
from core.order_detail import order_detail, resolve_order
from core.queries import QueueFilter, find_orders, open_status_counts, order_queue
from tests.factories import T0, ingest, make_channel, order_record, parcel


def seed(db, n=12):
    channel = make_channel(db)
    ingest(db, channel, [order_record(i) for i in range(n)])
    return channel


def test_the_queue_is_sorted_by_ship_by_then_placed_and_paged_on_the_server(db):
    channel = make_channel(db)
    late = order_record(0, ship_by=T0 + timedelta(days=9))  # placed first, but due last
    ingest(db, channel, [late, *[order_record(i) for i in range(1, 7)]])
    first = order_queue(db, QueueFilter(), page=1, page_size=4)
    second = order_queue(db, QueueFilter(), page=2, page_size=4)
    numbers = list(first.rows["number"]) + list(second.rows["number"])
    assert numbers == ["#1002", "#1003", "#1004", "#1005", "#1006", "#1007", "#1001"]
    assert first.total == 7 and first.pages == 2 and len(second.rows) == 3


def test_closed_orders_leave_the_default_queue_but_can_be_asked_for(db):
    channel = seed(db, 4)
    ingest(db, channel, [order_record(1, minutes_later=9, channel_status=OrderStatus.CANCELLED)])
    assert order_queue(db, QueueFilter()).total == 3
    cancelled = order_queue(db, QueueFilter(statuses=(OrderStatus.CANCELLED,)))
    assert list(cancelled.rows["number"]) == ["#1002"] and list(cancelled.rows["status"]) == ["Cancelled"]
    assert open_status_counts(db)[OrderStatus.READY] == 3


def test_the_queue_filters_by_channel_date_and_text(db):
    seed(db, 6)
    other = make_channel(db, "other-shop")
    ingest(db, other, [order_record(500, external_id="X-500", number="#A500")])
    only_other = order_queue(db, QueueFilter(channel_ids=(other.id,)))
    assert list(only_other.rows["number"]) == ["#A500"]
    placed_day = (T0 + timedelta(minutes=7 * 500)).date()
    by_day = order_queue(db, QueueFilter(placed_from=placed_day, placed_to=placed_day))
    assert list(by_day.rows["number"]) == ["#A500"]
    by_text = order_queue(db, QueueFilter(text="grace"))
    assert set(by_text.rows["customer"]) == {"Grace Lovelace"}


def test_support_finds_an_order_by_whatever_the_customer_says(db):
    channel = seed(db, 12)
    ingest(db, channel, [order_record(3, minutes_later=60, channel_status=OrderStatus.SHIPPED,
                                      fulfillments=(parcel(3, "1Z999AA10123456784"),))])
    target = order_record(3)  # Mary Lovelace, #1004
    assert list(find_orders(db, "#1004")["number"]) == ["#1004"]
    assert list(find_orders(db, "1004")["number"]) == ["#1004"]
    assert list(find_orders(db, target.external_id)["number"]) == ["#1004"]
    assert list(find_orders(db, target.email.upper())["number"]) == ["#1004"]
    assert list(find_orders(db, "1z999aa10123456784")["number"]) == ["#1004"]
    assert list(find_orders(db, "555 0003")["number"]) == ["#1004"]
    assert list(find_orders(db, "Mary Love")["number"]) == ["#1004"]
    assert set(find_orders(db, "lovelace")["customer"]) == {
        "Ada Lovelace", "Grace Lovelace", "Linus Lovelace", "Mary Lovelace", "Omar Lovelace", "Priya Lovelace",
        "Yuki Lovelace", "Lars Lovelace", "Chloe Lovelace", "Mateo Lovelace"}
    assert find_orders(db, "nobody@nowhere.test").empty


def test_search_text_with_sql_metacharacters_is_just_text(db):
    seed(db, 3)
    for hostile in ["%", "_", "' OR 1=1 --", "a%b_c", "\\", "x" * 500]:
        assert find_orders(db, hostile).empty
        assert order_queue(db, QueueFilter(text=hostile)).total == 0


def test_an_order_reference_resolves_by_number_channel_id_or_internal_id(db):
    seed(db, 3)
    by_number = resolve_order(db, "#1002")
    assert resolve_order(db, "1002") == by_number
    assert resolve_order(db, order_record(1).external_id) == by_number
    assert resolve_order(db, f"id:{by_number}") == by_number
    assert resolve_order(db, "test-shop:1002") == by_number
    detail = order_detail(db, by_number)
    assert detail.order["number"] == "#1002" and detail.lines[0]["sku"] == "TEE-BLK-M"
    assert "received from the channel" in detail.events[0]["text"]


def test_a_number_shared_by_two_channels_is_ambiguous(db):
    import pytest

    from core.errors import InvalidInput, NotFound

    seed(db, 2)
    ingest(db, make_channel(db, "other-shop"), [order_record(0, external_id="other-1")])
    with pytest.raises(InvalidInput, match="other-shop:#1001"):
        resolve_order(db, "#1001")
    with pytest.raises(NotFound):
        resolve_order(db, "#424242")


def test_the_queue_count_is_capped_so_it_stays_cheap_on_huge_queues(db, monkeypatch):
    from core import queries

    seed(db, 9)
    monkeypatch.setattr(queries, "COUNT_AHEAD", 4)
    monkeypatch.setattr(queries, "COUNT_CAP", 7)
    capped = order_queue(db, QueueFilter(), page=1, page_size=2)
    assert (capped.total, capped.capped, capped.pages) == (4, True, 2)
    further = order_queue(db, QueueFilter(), page=2, page_size=2)  # paging on counts further ahead
    assert (further.total, further.capped, further.pages) == (6, True, 3)
    ceiling = order_queue(db, QueueFilter(), page=3, page_size=2)  # never past COUNT_CAP
    assert (ceiling.total, ceiling.capped) == (7, True)
    exact = order_queue(db, QueueFilter(), page=1, page_size=10)  # everything on one page: counted exactly
    assert (exact.total, exact.capped) == (9, False)
