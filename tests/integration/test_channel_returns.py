"""Channel-opened returns (Shopify refunds with restock) through ingest, on SQLite and PostgreSQL.

The recorded order #1045 shipped 2 x TEE-BLK-M and 1 x MUG-CER-12 and carries three refunds:
1 tee back as a return (the mug refunded without restock), then an older-style restock of 2 tees
(only 1 still fits), then a cancel-type refund that is no return at all.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from connectors.schemas import ChannelOrder
from connectors.shopify import parse_order
from core.auth import Actor
from core.enums import Grade, MovementKind, ReturnReason, ReturnStatus, Role
from core.errors import DomainError
from core.integrity import check_invariants
from core.models import Event, InventoryLevel, InventoryMovement, Location, Return, ReturnLine
from core.order_detail import order_detail, resolve_order
from core.return_reads import return_detail
from core.returns import LineInspection, inspect_return, receive_return
from tests.factories import ingest, make_channel

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "shopify" / "fulfilled_with_refunds.json"
CLERK = Actor("carl", role=Role.CLERK)


def raw() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def record(payload: dict[str, Any] | None = None, *, later_minutes: int = 0) -> ChannelOrder:
    parsed = parse_order(payload if payload is not None else raw())
    assert isinstance(parsed, ChannelOrder), parsed
    return parsed.model_copy(update={"updated_at": parsed.updated_at + timedelta(minutes=later_minutes)})


def rmas(db) -> list[Return]:  # type: ignore[no-untyped-def]
    db.commit()
    return list(db.scalars(select(Return).order_by(Return.id)))


def rma_lines(db, rma: Return) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    _, lines = return_detail(db, rma.id)
    return [(sku, int(q)) for sku, q in lines[["sku", "qty_authorised"]].values.tolist()]


def test_ingesting_an_order_with_channel_refunds_opens_one_rma_per_return(db):
    result = ingest(db, make_channel(db), [record()])
    assert result.written == 1
    first, second = rmas(db)
    assert (first.number, first.external_id, first.status) == ("RMA-1045-1", "9212345679501", ReturnStatus.REQUESTED)
    assert first.created_by == "channel:test-shop"
    assert first.reason is ReturnReason.SIZE_OR_FIT  # "the size is too small" in the refund's note
    assert rma_lines(db, first) == [("TEE-BLK-M", 1)]  # the mug was refunded without restock: not a return
    assert "Channel note: Customer says the size is too small" in (first.note or "")
    assert (second.number, second.external_id, second.reason) == ("RMA-1045-2", "9212345679502", ReturnReason.OTHER)
    assert return_detail(db, first.id)[0]["location"] == "NJ-WH"  # shipped by the channel: the first location


def test_a_return_asking_more_than_shipped_keeps_what_fits_and_says_why(db):
    ingest(db, make_channel(db), [record()])
    capped = rmas(db)[1]
    assert rma_lines(db, capped) == [("TEE-BLK-M", 1)]  # 2 asked; 2 shipped, 1 already on the first RMA
    assert "Capped: TEE-BLK-M: 2 asked, 1 kept (2 shipped, 1 already on RMAs)." in (capped.note or "")


def test_re_polling_the_order_opens_no_second_rma(db):
    channel = make_channel(db)
    ingest(db, channel, [record()])
    assert ingest(db, channel, [record()]).skipped == 1  # the same record: nothing to do
    assert ingest(db, channel, [record(later_minutes=5)]).written == 1  # newer, with the same refunds
    assert [r.number for r in rmas(db)] == ["RMA-1045-1", "RMA-1045-2"]
    assert db.scalar(select(func.count()).select_from(ReturnLine)) == 2


def test_a_refund_arriving_on_a_later_poll_opens_its_rma_then(db):
    channel = make_channel(db)
    before = raw()
    before["refunds"] = []
    before["updated_at"] = "2026-11-20T08:00:00-05:00"
    ingest(db, channel, [record(before)])
    assert rmas(db) == []
    ingest(db, channel, [record()])  # the refunds now show on the order: through the update path
    assert [r.external_id for r in rmas(db)] == ["9212345679501", "9212345679502"]
    order_id = resolve_order(db, "#1045")
    kinds = db.scalars(select(Event.kind).where(Event.order_id == order_id, Event.kind == "return_authorised"))
    assert len(list(kinds)) == 2


def test_a_return_of_which_nothing_fits_opens_nothing_and_says_so_once(db):
    payload = raw()
    payload["refunds"][0]["refund_line_items"][0]["quantity"] = 2  # takes both tees
    channel = make_channel(db)
    ingest(db, channel, [record(payload)])
    ingest(db, channel, [record(payload, later_minutes=5)])
    assert [r.external_id for r in rmas(db)] == ["9212345679501"]
    order_id = resolve_order(db, "#1045")
    story = " ".join(e["text"] for e in order_detail(db, order_id).events)
    assert story.count("(refund 9212345679502), but no RMA was opened: TEE-BLK-M: 2 asked, 0 kept") == 1


def test_a_channel_rma_is_received_inspected_and_restocked_exactly_once(db):
    channel = make_channel(db)
    ingest(db, channel, [record()])
    rma = rmas(db)[0]
    rl = int(return_detail(db, rma.id)[1]["line_id"].iloc[0])
    rma = receive_return(db, rma.id, version=rma.version, received={rl: 1}, actor=CLERK)
    version = rma.version
    inspect_return(db, rma.id, version=version, verdicts=[LineInspection(rl, Grade.A)], actor=CLERK)
    with pytest.raises(DomainError):  # the form submitted twice
        inspect_return(db, rma.id, version=version, verdicts=[LineInspection(rl, Grade.A)], actor=CLERK)
    ingest(db, channel, [record(later_minutes=10)])  # the channel still lists the refund
    db.commit()
    on_hand = db.scalar(select(InventoryLevel.on_hand).join(Location)
                        .where(Location.code == "NJ-WH", InventoryLevel.sku == "TEE-BLK-M"))
    assert on_hand == 1
    assert db.scalar(select(func.count()).select_from(InventoryMovement)
                     .where(InventoryMovement.kind == MovementKind.RETURN_RESTOCK)) == 1
    assert len(rmas(db)) == 2
    assert check_invariants(db) == []
    story = " ".join(e["text"] for e in order_detail(db, resolve_order(db, "#1045")).events)
    assert "Opened by the channel (refund 9212345679501)" in story
    assert "Return RMA-1045-1 received at NJ-WH" in story
