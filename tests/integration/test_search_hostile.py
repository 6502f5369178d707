"""Search boxes given SQL metacharacters, NUL, very long and odd unicode text: they answer, and only with real matches."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from core import search
from core.errors import InvalidInput, NotFound
from core.models import Order, Shipment
from core.order_detail import resolve_order
from core.queries import QueueFilter, find_orders, order_queue
from core.return_reads import find_returns
from tests.factories import ingest, make_channel, order_record, parcel
from tests.hostile import HOSTILE_TEXT

METACHARACTERS = ["id:", "test-shop:", "²", "١", "9" * 30, "%", "_", "'", '"', ";", "--", "\\", "\x00", "*", "?", "[", "]", "^", "$", "|", "/*", "*/", ":"]
terms = st.one_of(
    st.lists(st.sampled_from(METACHARACTERS + ["a", "ada", "#1001", "1001", "555", " ", "ADA"]), max_size=8)
    .map("".join),
    st.sampled_from(HOSTILE_TEXT + ("' OR '1'='1", "%%", "_%_", "a" * 10_001, "%" * 12_000, "\x00" * 10)),
    st.text(max_size=40),
    st.text(alphabet="%_'\\x9 ", min_size=1, max_size=6).map(lambda chunk: chunk * 2_000),  # 2k to 12k chars
)


@pytest.fixture
def orders(db):  # type: ignore[no-untyped-def]
    channel = make_channel(db)
    records = [order_record(i) for i in range(12)]
    records[3] = order_record(3, fulfillments=(parcel(3, "1Z999AA10123456784"),))
    records[5] = order_record(5, customer_name="O'Brien %_ Ada")  # metacharacters stored in a name
    ingest(db, channel, records)
    db.commit()
    return db


def _allowed(db, term: str) -> set[int]:  # type: ignore[no-untyped-def]
    """The orders a term may match, by the rules the search promises (a Python oracle over the stored keys)."""
    raw = search.clean_term(term)[:200]
    text = search.norm_text(raw) or ""
    digits = search.phone_key(raw)
    phone_ok = bool(digits) and len(digits) >= 5 and len(digits) >= len(raw.replace(" ", "")) * 0.6
    tracked = {oid for oid, number in db.execute(select(Shipment.order_id, Shipment.tracking_number))
               if number in (raw, raw.upper())}
    out = set(tracked)
    for o in db.scalars(select(Order)):
        prefixes = [k for k in (o.search_email, o.search_name, o.search_last) if k]
        if (o.search_number == search.norm_number(raw) or o.external_id == raw
                or (text and any(k.startswith(text) for k in prefixes))
                or (phone_ok and (o.search_phone_rev or "").startswith(digits))):
            out.add(o.id)
    return out


def _search_property(db, term: str) -> None:  # type: ignore[no-untyped-def]
    allowed = _allowed(db, term)
    found = set(find_orders(db, term, limit=100)["id"])
    assert found == allowed  # never everything by accident, never a real match missed
    queued = set(order_queue(db, QueueFilter(statuses=(), text=term), page_size=100).rows["id"])
    if search.clean_term(term):  # (a blank box is no filter: the whole queue)
        assert queued <= allowed
    try:
        got = resolve_order(db, term)
    except (NotFound, InvalidInput):
        got = None
    if got is not None:  # an order named by its number, channel id or internal id - nothing looser
        ref = search.clean_term(term)
        rest = ref.partition(":")[2] or ref
        order = db.get(Order, got)
        assert (order.search_number in (search.norm_number(ref), search.norm_number(rest))
                or order.external_id == ref or str(got) in (ref, rest)), got
    try:
        assert find_returns(db, term) == []  # no RMAs exist: nothing can match
    except InvalidInput:
        assert not search.clean_term(term)


def test_any_search_text_answers_with_only_what_it_really_matches(orders, request):
    @settings(max_examples=20 if "postgres" in request.node.callspec.id else 100)
    @given(term=terms)
    def check(term):  # type: ignore[no-untyped-def]
        _search_property(orders, term)
        orders.rollback()

    check()


def test_nul_in_a_search_box_is_ignored_not_an_error(orders):
    for term in ["\x00", "ada\x00", "#1001\x00", "1Z999AA10123456784\x00", "\x00" * 10_000]:
        _search_property(orders, term)
        assert set(find_orders(orders, term)["id"]) == _allowed(orders, term.replace("\x00", ""))
    assert len(find_orders(orders, "1Z999AA10123456784\x00")) == 1


def test_metacharacters_match_literally(orders):
    assert len(find_orders(orders, "o'brien %_")) == 1
    assert find_orders(orders, "%").empty and find_orders(orders, "_").empty and find_orders(orders, "' OR '1'='1").empty


def test_digits_no_id_can_hold_and_lone_surrogates_find_nothing_instead_of_failing(orders):
    for term in ["9" * 2_000, "id:" + "9" * 30, "²", "id:²", "\ud800", "ada\udfff"]:
        _search_property(orders, term)
        with pytest.raises((NotFound, InvalidInput)):  # "no such order" / "give a reference", said in words
            resolve_order(orders, term)
