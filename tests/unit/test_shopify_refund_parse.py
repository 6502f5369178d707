"""Shopify refunds on recorded payloads: which refunds are returns of goods, and broken refunds as rejections."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.schemas import ChannelOrder, Rejection
from connectors.shopify import parse_order

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "shopify" / "fulfilled_with_refunds.json"
TEE, MUG = "14212345679301", "14212345679302"


def raw() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def parsed(payload: dict[str, Any]) -> ChannelOrder:
    result = parse_order(payload)
    assert isinstance(result, ChannelOrder), result
    return result


def rejected(payload: dict[str, Any]) -> Rejection:
    result = parse_order(payload)
    assert isinstance(result, Rejection), result
    return result


def with_refund(**refund: Any) -> dict[str, Any]:
    payload = raw()
    payload["refunds"] = [{"id": 1, "created_at": "2026-11-22T09:15:00-05:00", "note": None, **refund}]
    return payload


def line(kind: str | None, quantity: Any = 1, line_item_id: Any = int(TEE)) -> dict[str, Any]:
    out: dict[str, Any] = {"id": 7, "line_item_id": line_item_id, "quantity": quantity, "subtotal": "24.00"}
    if kind is not None:
        out["restock_type"] = kind
    return out


def test_refunds_with_restock_type_return_become_channel_returns() -> None:
    order = parsed(raw())
    assert [r.external_id for r in order.returns] == ["9212345679501", "9212345679502"]
    first = order.returns[0]
    assert first.created_at == datetime(2026, 11, 22, 14, 15, tzinfo=UTC)
    assert first.note == "Customer says the size is too small"
    # The mug on the same refund was refunded without restock: money only, not a return.
    assert [(ln.line_external_id, ln.quantity) for ln in first.lines] == [(TEE, 1)]


def test_an_older_refund_with_restock_true_and_no_restock_type_is_a_return() -> None:
    legacy = parsed(raw()).returns[1]
    assert legacy.note is None
    assert [(ln.line_external_id, ln.quantity) for ln in legacy.lines] == [(TEE, 2)]


def test_a_legacy_restock_line_is_a_return() -> None:
    order = parsed(with_refund(refund_line_items=[line("legacy_restock", 2)]))
    assert [(ln.line_external_id, ln.quantity) for ln in order.returns[0].lines] == [(TEE, 2)]


@pytest.mark.parametrize("kind", ["cancel", "no_restock", "some_future_word"])
def test_cancel_and_no_restock_refunds_are_not_returns(kind: str) -> None:
    assert parsed(with_refund(restock=True, refund_line_items=[line(kind)])).returns == ()


def test_a_refund_without_lines_or_restock_false_is_not_a_return() -> None:
    assert parsed(with_refund(refund_line_items=[])).returns == ()
    assert parsed(with_refund(restock=False, refund_line_items=[line(None)])).returns == ()


def test_two_lines_of_one_refund_for_the_same_item_add_up() -> None:
    order = parsed(with_refund(refund_line_items=[line("return", 1), line("return", 2), line("return", 1, int(MUG))]))
    assert {ln.line_external_id: ln.quantity for ln in order.returns[0].lines} == {TEE: 3, MUG: 1}


def test_an_order_without_refunds_has_no_returns() -> None:
    payload = raw()
    del payload["refunds"]
    assert parsed(payload).returns == ()


@pytest.mark.parametrize(("refunds", "where"), [
    ("not a list", "refunds: expected a list"),
    (["not an object"], "refunds[0]: expected an object"),
])
def test_a_refunds_field_of_the_wrong_shape_is_a_rejection(refunds: Any, where: str) -> None:
    payload = raw()
    payload["refunds"] = refunds
    rejection = rejected(payload)
    assert rejection.error.startswith(where)
    assert rejection.external_id == "5612345679104"


@pytest.mark.parametrize(("refund", "where"), [
    ({"refund_line_items": [line("return")], "id": None}, "refunds[0].id: missing"),
    ({"refund_line_items": [line("return", "two")]}, "refunds[0].refund_line_items[0].quantity"),
    ({"refund_line_items": [line("return", -1)]}, "refunds[0].refund_line_items[0].quantity"),
    ({"refund_line_items": [line("return", True)]}, "refunds[0].refund_line_items[0].quantity"),
    ({"refund_line_items": [line("return", 1, None)]}, "refunds[0].refund_line_items[0].line_item_id: missing"),
    ({"refund_line_items": [{**line(None), "restock_type": 3}]}, "refunds[0].refund_line_items[0].restock_type"),
    ({"refund_line_items": ["x"]}, "refunds[0].refund_line_items[0]: expected an object"),
    ({"refund_line_items": {"a": 1}}, "refunds[0].refund_line_items: expected a list"),
    ({"refund_line_items": [line("return")], "restock": "yes"}, "refunds[0].restock"),
    ({"refund_line_items": [line("return")], "created_at": "yesterday"}, "refunds[0].created_at"),
    ({"refund_line_items": [line("return")], "created_at": None}, "refunds[0].created_at: missing"),
    ({"refund_line_items": [line("return", 100_001)]}, "refunds[0].refund_line_items"),
])
def test_malformed_refund_data_is_a_rejection_not_a_crash(refund: dict[str, Any], where: str) -> None:
    rejection = rejected(with_refund(**refund))
    assert rejection.error.startswith(where), rejection.error


def test_a_very_long_refund_note_is_clipped_not_rejected() -> None:
    order = parsed(with_refund(note="x" * 5000, refund_line_items=[line("return")]))
    assert len(order.returns[0].note or "") == 2000


def test_the_recorded_payload_is_not_changed_by_parsing() -> None:
    payload = raw()
    before = copy.deepcopy(payload)
    parse_order(payload)
    assert payload == before
