"""The SLA page's figures on a hand-checked set of orders (SQLite and PostgreSQL), and against the order list."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.auth import WORKER, Actor
from core.db import writing
from core.enums import OrderStatus, Role, SlaState
from core.models import Order
from core.queries import QueueFilter, order_queue
from core.sla_report import SlaFilter, backlog_by_age, due_next, sla_counts
from core.status import move_order
from tests.factories import T0, ingest, make_channel, order_record

WINDOW = timedelta(hours=4)
NOW = T0 + timedelta(days=10)
OPS = Actor("olivia", role=Role.OPS_LEAD)


def shop(db):  # type: ignore[no-untyped-def]
    """Six orders placed 12 h, 30 h, 50 h, 80 h, 200 h and 5 h before NOW, each with its own ship-by:

    #A placed 12 h ago, due in 10 h  -> on track          #D placed 80 h ago, due 1 h ago -> breached
    #B placed 30 h ago, due in 3 h   -> at risk           #E placed 200 h ago, shipped    -> not open
    #C placed 50 h ago, due in 1 h, on hold (unpaid)      #F placed 5 h ago, other channel, due 2 h ago -> breached
    """
    main, other = make_channel(db, "main-shop"), make_channel(db, "other-shop")
    spec = {"A": (12, 10, {}), "B": (30, 3, {}), "C": (50, 1, {"financial_status": "pending"}),
            "D": (80, -1, {}), "E": (200, -100, {})}
    ids = {}
    for i, (key, (age_h, left_h, extra)) in enumerate(spec.items()):
        fields = {"raw_financial_status": "pending"} if extra else {}
        record = order_record(500 + i, number=f"#{key}", placed_at=NOW - timedelta(hours=age_h),
                              ship_by=NOW + timedelta(hours=left_h), **extra, **fields)
        ingest(db, main, [record])
        ids[key] = db.scalar(select(Order.id).where(Order.external_id == record.external_id))
    record = order_record(600, number="#F", external_id="F-1", placed_at=NOW - timedelta(hours=5),
                          ship_by=NOW - timedelta(hours=2))
    ingest(db, other, [record])
    ids["F"] = db.scalar(select(Order.id).where(Order.external_id == "F-1"))
    with writing(db):
        shipped = db.get(Order, ids["E"])
        move_order(db, shipped, OrderStatus.ALLOCATED, actor=WORKER)
        move_order(db, shipped, OrderStatus.SHIPPED, actor=OPS)
    return ids, main.id, other.id


def test_the_counts_the_list_and_the_backlog_match_the_hand_worked_figures(db):
    ids, main, _ = shop(db)
    assert sla_counts(db, SlaFilter(), now=NOW, window=WINDOW) == {
        SlaState.BREACHED: 2, SlaState.AT_RISK: 2, SlaState.ON_TRACK: 1}
    assert sla_counts(db, SlaFilter(channel_ids=(main,)), now=NOW, window=WINDOW) == {
        SlaState.BREACHED: 1, SlaState.AT_RISK: 2, SlaState.ON_TRACK: 1}
    due = due_next(db, SlaFilter(), now=NOW, window=WINDOW)
    assert list(due["number"]) == ["#F", "#D", "#C", "#B"]  # the most overdue first
    assert list(due["state"]) == ["Breached", "Breached", "At risk", "At risk"]
    why = dict(zip(due["number"], due["why"], strict=True))
    assert why["#C"] == "on hold: Payment pending" and why["#B"] == "ready, waiting for allocation"
    backlog = backlog_by_age(db, SlaFilter(), now=NOW)
    assert backlog.to_dict("list") == {
        "age": ["under 1 day", "1-2 days", "2-3 days", "3-7 days", "over 7 days"],
        "open_orders": [2, 1, 1, 1, 0],  # A and F; B; C; D (E is shipped)
        "past_ship_by": [1, 0, 0, 1, 0],  # F; D
    }


def test_every_count_agrees_with_the_order_list(db):
    shop(db)
    counts = sla_counts(db, SlaFilter(), now=NOW, window=WINDOW)
    queue = order_queue(db, QueueFilter(), page=1, page_size=100).rows
    listed = {
        SlaState.BREACHED: sum(v <= NOW for v in queue["ship_by"]),
        SlaState.AT_RISK: sum(NOW < v <= NOW + WINDOW for v in queue["ship_by"]),
        SlaState.ON_TRACK: sum(v > NOW + WINDOW for v in queue["ship_by"]),
    }
    assert counts == listed and sum(counts.values()) == len(queue)
    backlog = backlog_by_age(db, SlaFilter(), now=NOW)
    assert backlog["open_orders"].sum() == len(queue)
    assert backlog["past_ship_by"].sum() == counts[SlaState.BREACHED]
