"""The KPI overview on a hand-worked set of orders (SQLite and PostgreSQL), and against the order list.

T0 is Monday 2026-11-16 09:00 UTC; the range is Monday and Tuesday (UTC).

    order  channel  placed    now          holds / returns
    K1     main     T0        shipped      MANUAL T0+1h..T0+3h (2 h); RMA: 1 damaged, 2 changed mind
    K2     main     T0+1h     cancelled    MANUAL T0+2h..T0+12h (10 h)
    K3     main     T0+20h    ready        HIGH_VALUE opened T0+5h, still open
    K4     main     T0+26h    delivered    PAYMENT_PENDING opened T0-3d, resolved T0+1h (73 h)
    K5     other    T0+2h     shipped      RMA: 1 wrong item
    K6     main     T0-2d     shipped      (placed before the range)
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from core.auth import WORKER, Actor
from core.db import writing
from core.enums import HoldCode, HoldState, OrderStatus, ReturnReason, Role, RunStatus
from core.kpi import KpiFilter, connector_lag, exceptions, fulfilment, orders_per_day, returns
from core.models import ConnectorRun, Hold, Order, OrderLine, Return, ReturnLine
from core.queries import QueueFilter, order_queue
from core.status import move_order
from tests.factories import T0, ingest, make_channel, order_record

H = timedelta(hours=1)
OPS = Actor("olivia", role=Role.OPS_LEAD)
RANGE = KpiFilter(start=date(2026, 11, 16), end=date(2026, 11, 17))
ORDERS = {"K1": ("main", 0, OrderStatus.SHIPPED), "K2": ("main", 1, OrderStatus.CANCELLED),
          "K3": ("main", 20, OrderStatus.READY), "K4": ("main", 26, OrderStatus.DELIVERED),
          "K5": ("other", 2, OrderStatus.SHIPPED), "K6": ("main", -48, OrderStatus.SHIPPED)}
PATH = {OrderStatus.SHIPPED: [OrderStatus.ALLOCATED, OrderStatus.SHIPPED],
        OrderStatus.DELIVERED: [OrderStatus.ALLOCATED, OrderStatus.SHIPPED, OrderStatus.DELIVERED],
        OrderStatus.CANCELLED: [OrderStatus.CANCELLED], OrderStatus.READY: []}


@pytest.fixture
def kpi_shop(db):  # type: ignore[no-untyped-def]
    channels = {"main": make_channel(db, "main-shop"), "other": make_channel(db, "other-shop")}
    ids = {}
    for i, (number, (channel, placed, status)) in enumerate(ORDERS.items()):
        record = order_record(800 + i, number=number, external_id=number, placed_at=T0 + placed * H,
                              updated_at=T0 + placed * H)
        ingest(db, channels[channel], [record])
        with writing(db):
            order = db.scalar(select(Order).where(Order.external_id == number))
            for step in PATH[status]:
                move_order(db, order, step, actor=OPS if step is not OrderStatus.ALLOCATED else WORKER)
            ids[number] = order.id
    holds = [("K1", HoldCode.MANUAL, 1, 3), ("K2", HoldCode.MANUAL, 2, 12), ("K3", HoldCode.HIGH_VALUE, 5, None),
             ("K4", HoldCode.PAYMENT_PENDING, -72, 1)]
    with writing(db):
        for number, code, opened, resolved in holds:
            db.add(Hold(order_id=ids[number], code=code, blocking=code.blocking, opened_at=T0 + opened * H,
                        state=HoldState.RESOLVED if resolved is not None else HoldState.OPEN,
                        resolved_at=T0 + resolved * H if resolved is not None else None, detail={}))
        for n, (number, lines) in enumerate((("K1", [(ReturnReason.DAMAGED, 1), (ReturnReason.CHANGED_MIND, 2)]),
                                              ("K5", [(ReturnReason.WRONG_ITEM, 1)]))):
            rma = Return(number=f"RMA-{n}", order_id=ids[number], reason=lines[0][0], created_by="sam",
                         created_at=T0 + 30 * H)
            db.add(rma)
            db.flush()
            line_id = db.scalar(select(OrderLine.id).where(OrderLine.order_id == ids[number]))
            for reason, qty in lines:
                db.add(ReturnLine(return_id=rma.id, order_line_id=line_id, qty_authorised=qty, reason=reason))
    return {c: ch.id for c, ch in channels.items()}


def test_orders_per_day_and_fulfilment(db, kpi_shop):
    assert orders_per_day(db, RANGE).to_dict("list") == {
        "day": [date(2026, 11, 16), date(2026, 11, 16), date(2026, 11, 17)],
        "channel": ["main-shop", "other-shop", "main-shop"], "orders": [2, 1, 2]}
    assert fulfilment(db, RANGE) == {"placed": 5, "cancelled": 1, "fulfilled": 3, "rate_pct": 75.0}
    main_only = KpiFilter(RANGE.start, RANGE.end, channel_ids=(kpi_shop["main"],))
    assert fulfilment(db, main_only) == {"placed": 4, "cancelled": 1, "fulfilled": 2, "rate_pct": 66.7}
    # In Tokyo (UTC+9) K3, placed Tuesday 05:00 UTC, is Tuesday 14:00: the days hold the same orders.
    tokyo = KpiFilter(date(2026, 11, 16), date(2026, 11, 17), tz="Asia/Tokyo")
    assert orders_per_day(db, tokyo)["orders"].sum() == 5


def test_exceptions_opened_resolved_and_time_to_resolve(db, kpi_shop):
    table = exceptions(db, RANGE).set_index("code")
    assert table.loc["Manual"].tolist() == [2, 2, 2.0, 10.0]
    assert table.loc["High value", ["opened", "resolved"]].tolist() == [1, 0]
    assert table.loc["Payment pending"].tolist() == [0, 1, 73.0, 73.0]  # opened before the range


def test_returns_rate_and_reasons(db, kpi_shop):
    summary = returns(db, RANGE)
    assert (summary["orders_shipped"], summary["orders_returned"], summary["rate_pct"]) == (3, 2, 66.7)
    assert summary["reasons"].to_dict("list") == {"reason": ["Changed mind", "Damaged", "Wrong item"],
                                                 "units": [2, 1, 1]}


def test_connector_lag(db, kpi_shop):
    now = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
    with writing(db):
        db.add(ConnectorRun(channel_id=kpi_shop["main"], connector="main-shop", started_at=now - 11 * timedelta(minutes=1),
                            finished_at=now - timedelta(minutes=10), status=RunStatus.OK))
        db.add(ConnectorRun(channel_id=kpi_shop["main"], connector="main-shop", started_at=now - timedelta(minutes=5),
                            finished_at=now - timedelta(minutes=5), status=RunStatus.FAILED))
    lag = connector_lag(db, now=now).set_index("channel")
    assert lag.loc["main-shop", ["lag_minutes", "runs_24h", "failed_24h"]].tolist() == [10.0, 2, 1]
    assert lag.loc["other-shop", "runs_24h"] == 0 and lag["lag_minutes"].isna()["other-shop"]


def test_the_figures_agree_with_the_order_list(db, kpi_shop):
    every = tuple(OrderStatus)
    listed = order_queue(db, QueueFilter(statuses=every, placed_from=RANGE.start, placed_to=RANGE.end),
                         page_size=100).rows
    counts = fulfilment(db, RANGE)
    assert counts["placed"] == len(listed) == int(orders_per_day(db, RANGE)["orders"].sum())
    assert counts["cancelled"] == int((listed["status"] == OrderStatus.CANCELLED.label).sum())
    assert counts["fulfilled"] == int(listed["status"].isin([s.label for s in (OrderStatus.SHIPPED,
                                                                               OrderStatus.DELIVERED)]).sum())
