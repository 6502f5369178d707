"""Contention on PostgreSQL: allocation, hold release, returns restock and stock import at once, from 9 processes.

The store holds three SKUs at two warehouses, about a third of what the orders want. For
``SECONDS`` these OS processes (``contention_actor``) run together:

- 3 allocators (the worker's ``allocate_ready_orders`` and ``retry_backorders``) racing for the short stock;
- 2 ops leads releasing the same high-value holds at the same moments, with the versions shown at the
  start (a released order turns READY and joins the allocation race);
- 2 clerks receiving the same RMAs and submitting the same grade-A inspection at the same moments
  (a restock puts units back that the allocators want);
- 1 CSV stock import (receipts, and counts that can fall below what was just reserved) and
  1 stock adjuster (up and down) on the same SKUs and locations.

Then the books must balance: no level reserved above on hand, every reservation in the ledger, no
line allocated beyond its quantity, the stock invariants of #3; every contested hold released once
with one event; every RMA received once and restocked once; on hand moved exactly by what the
processes report they booked; every refusal a domain error with a clear message ("changed by
someone else" for a stale form) - no raw SQL error, no deadlock escaping - and every process
exited 0.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from connectors.schemas import ChannelLine
from core.allocation import allocate_ready_batch
from core.auth import WORKER, Actor
from core.db import engine_for, new_session
from core.enums import (
    AllocationStatus,
    HoldCode,
    HoldState,
    MovementKind,
    OrderStatus,
    ReturnReason,
    ReturnStatus,
    Role,
)
from core.integrity import check_invariants
from core.inventory import receive_stock
from core.models import (
    Allocation,
    Event,
    Hold,
    InventoryLevel,
    InventoryMovement,
    Order,
    OrderLine,
    Return,
    ReturnLine,
)
from core.returns import LineRequest, authorise_return
from tests.factories import ingest, make_channel, make_location, order_record
from tests.parcels import ship_all
from tests.reliability.harness import SECONDS, Process

pytestmark = [pytest.mark.postgres, pytest.mark.reliability]

SKUS = ("CON-A", "CON-B", "CON-C")
LOCATIONS = ("NJ-WH", "NV-WH")
SHORT_STOCK = 15  # per SKU and location at the start: ~90 units against ~400 wanted
N_READY = 150
N_HOLDS = max(24, min(300, int(1.5 * SECONDS)))
N_RMAS = max(10, min(120, int(SECONDS / 2)))
ROLES = (("allocate", 3), ("release", 2), ("returns", 2), ("import", 1), ("adjust", 1))
SUPPORT = Actor("sam", role=Role.SUPPORT)
OPS = Actor("olivia", role=Role.OPS_LEAD)
RAW = ("psycopg", "sqlalchemy", "SQL", "Traceback", "DETAIL", "deadlock", "violates", "IntegrityError")


def _line(order: int, n: int, sku: str, qty: int) -> ChannelLine:
    return ChannelLine(external_id=f"{order}-{n}", sku=sku, title=sku, quantity=qty, unit_price=Decimal("10.00"))


def build(url: str) -> dict[str, Any]:
    """Shipped orders with RMAs (received nowhere yet), the short stock, held high-value orders, READY orders."""
    rng = random.Random(31)
    session = new_session(engine_for(url))
    channel = make_channel(session)  # NJ-WH ships to the US
    make_location(session, "NV-WH", zones=("US",), region="NV", priority=20)
    # 1. Orders shipped from the desk, each with an RMA for its 2 units (the returns race restocks them).
    for sku in SKUS:
        receive_stock(session, "NJ-WH", sku, 2 * N_RMAS, actor=OPS, reference="PO-RMA")
    ingest(session, channel, [order_record(i, lines=(_line(i, 0, SKUS[i % 3], 2),)) for i in range(N_RMAS)])
    while allocate_ready_batch(session, actor=WORKER, limit=100)[0]:
        pass
    session.commit()
    shipped = list(session.scalars(select(Order.id).where(Order.status == OrderStatus.ALLOCATED).order_by(Order.id)))
    assert len(shipped) == N_RMAS
    rmas = []
    for n, order_id in enumerate(shipped):
        ship_all(session, order_id, f"1ZCONTENTION{n:06d}")
        line_id = session.scalar(select(OrderLine.id).where(OrderLine.order_id == order_id))
        rma = authorise_return(session, order_id, [LineRequest(line_id, 2, ReturnReason.DEFECTIVE)], actor=SUPPORT)
        rma_line = session.scalar(select(ReturnLine.id).where(ReturnLine.return_id == rma.id))
        rmas.append((rma.id, rma.version, rma_line, 2))
    # 2. The short stock, at both warehouses.
    for loc in LOCATIONS:
        for sku in SKUS:
            receive_stock(session, loc, sku, SHORT_STOCK, actor=OPS, reference="PO-SHORT")
    # 3. High-value orders (on hold until an ops lead releases them) and READY orders, all after the same SKUs.
    records = []
    for i in range(N_RMAS, N_RMAS + N_HOLDS + N_READY):
        high = i < N_RMAS + N_HOLDS
        lines = tuple(_line(i, n, sku, rng.randint(1, 3)) for n, sku in enumerate(rng.sample(SKUS, rng.choice((1, 2)))))
        records.append(order_record(i, lines=lines, total=Decimal("6000.00") if high else Decimal("40.00")))
    for start in range(0, len(records), 200):
        ingest(session, channel, records[start:start + 200])
    session.commit()
    holds = session.execute(select(Hold.id, Hold.version).where(Hold.code == HoldCode.HIGH_VALUE,
                                                                Hold.state == HoldState.OPEN).order_by(Hold.id)).all()
    statuses = Counter(session.scalars(select(Order.status)))
    assert len(holds) == N_HOLDS and statuses[OrderStatus.ON_HOLD] == N_HOLDS, statuses
    assert statuses[OrderStatus.READY] == N_READY and check_invariants(session) == []
    on_hand = session.scalar(select(func.sum(InventoryLevel.on_hand)).where(InventoryLevel.sku.in_(SKUS)))
    session.close()
    return {"holds": [list(h) for h in holds], "rmas": rmas, "skus": list(SKUS), "locations": list(LOCATIONS),
            "seconds": SECONDS, "span": 0.7 * SECONDS, "import_every": SECONDS / 40, "on_hand": int(on_hand)}


def run_processes(url: str, plan: dict[str, Any], tmp_path: Path) -> list[tuple[int, dict[str, Any] | None, str]]:
    """Start every process, give them one start time once all are ready, wait; (exit code, report, log) each."""
    plan_path = tmp_path / "plan.json"
    releasers = [f"release-{k + 1}" for role, count in ROLES if role == "release" for k in range(count)]
    plan_path.write_text(json.dumps({**plan, "dir": str(tmp_path), "releasers": releasers}))
    procs = []
    for role, count in ROLES:
        for k in range(count):
            name = f"{role}-{k + 1}"
            args = ["-m", "tests.reliability.contention_actor", "--role", role, "--plan", str(plan_path),
                    "--name", name, "--seed", str(len(procs) + 1)]
            procs.append(Process(args, url, tmp_path / f"{name}.log").start())
    try:
        end = time.monotonic() + 90
        while len(list(tmp_path.glob("ready-*"))) < len(procs):
            assert time.monotonic() < end and all(p.alive() for p in procs), \
                [p.log.read_text()[-2000:] for p in procs if not p.alive()]
            time.sleep(0.1)
        (tmp_path / "go.tmp").write_text(str(time.time() + 0.5))
        os.replace(tmp_path / "go.tmp", tmp_path / "go")  # all at once: nobody reads half a number
        codes = [p.proc.wait(timeout=SECONDS + 120) for p in procs]  # type: ignore[union-attr]
    finally:
        for p in procs:
            if p.alive():
                p.kill()
    out = []
    for code, p in zip(codes, procs, strict=True):
        text = p.log.read_text()
        lines = [ln for ln in text.splitlines() if ln.startswith("{")]
        out.append((code, json.loads(lines[-1]) if lines else None, text))
    return out


def books(url: str, plan: dict[str, Any]) -> dict[str, Any]:
    """Everything the assertions read from the store after the race."""
    s = new_session(engine_for(url))
    b: dict[str, Any] = {"violations": [v.message for v in check_invariants(s)]}
    b["over_reserved"] = int(s.scalar(select(func.coalesce(func.sum(InventoryLevel.reserved - InventoryLevel.on_hand), 0))
                                      .where(InventoryLevel.reserved > InventoryLevel.on_hand)))
    b["on_hand"] = int(s.scalar(select(func.sum(InventoryLevel.on_hand)).where(InventoryLevel.sku.in_(SKUS))))
    # Each order's RESERVED allocations against the ledger's reservations for that order, per level.
    allocated = Counter({(o, loc, sku): int(q) for o, loc, sku, q in s.execute(
        select(Allocation.order_id, Allocation.location_id, Allocation.sku, func.sum(Allocation.quantity))
        .where(Allocation.status == AllocationStatus.RESERVED)
        .group_by(Allocation.order_id, Allocation.location_id, Allocation.sku))})
    ledger = Counter({(o, loc, sku): int(q) for o, loc, sku, q in s.execute(
        select(InventoryMovement.order_id, InventoryMovement.location_id, InventoryMovement.sku,
               func.sum(InventoryMovement.reserved_delta))
        .where(InventoryMovement.order_id.is_not(None))
        .group_by(InventoryMovement.order_id, InventoryMovement.location_id, InventoryMovement.sku))})
    b["reserved_not_in_ledger"] = sum((allocated - ledger).values())
    b["ledger_not_allocated"] = sum((ledger - allocated).values())
    lines = s.execute(
        select(OrderLine.quantity, OrderLine.qty_allocated, OrderLine.qty_shipped,
               func.coalesce(func.sum(Allocation.quantity), 0))
        .outerjoin(Allocation, (Allocation.order_line_id == OrderLine.id)
                   & (Allocation.status == AllocationStatus.RESERVED))
        .group_by(OrderLine.id, OrderLine.quantity, OrderLine.qty_allocated, OrderLine.qty_shipped)).all()
    b["over_allocated"] = sum(max(0, alloc + shipped - qty) for qty, alloc, shipped, _ in lines)
    b["line_vs_allocations"] = sum(abs(alloc - int(booked)) for _, alloc, _, booked in lines)
    b["statuses"] = Counter(s.scalars(select(Order.status)))
    b["units_reserved"] = int(s.scalar(select(func.sum(InventoryLevel.reserved)).where(InventoryLevel.sku.in_(SKUS))))
    hold_ids = [h for h, _ in plan["holds"]]
    held = s.execute(select(Hold.id, Hold.order_id, Hold.state, Hold.resolution).where(Hold.id.in_(hold_ids))).all()
    b["holds_released"] = sum(st is HoldState.RESOLVED and res == "released" for _, _, st, res in held)
    released_events = Counter(s.scalars(select(Event.order_id).where(
        Event.kind == "hold_released", Event.order_id.in_([o for _, o, _, _ in held]))))
    b["release_events"] = [released_events[o] for _, o, _, _ in held]
    rma_ids = [r[0] for r in plan["rmas"]]
    numbers = dict(s.execute(select(Return.id, Return.number).where(Return.id.in_(rma_ids))).all())
    restocks = Counter()
    restocked_units = Counter()
    for ref, delta in s.execute(select(InventoryMovement.reference, InventoryMovement.on_hand_delta)
                                .where(InventoryMovement.kind == MovementKind.RETURN_RESTOCK)):
        restocks[ref] += 1
        restocked_units[ref] += delta
    b["restocks"] = [restocks[numbers[r]] for r in rma_ids]
    b["restocked_units"] = [restocked_units[numbers[r]] for r in rma_ids]
    b["rma_statuses"] = Counter(s.scalars(select(Return.status).where(Return.id.in_(rma_ids))))
    b["rma_events"] = Counter(s.scalars(select(Event.kind).where(
        Event.kind.in_(("return_received", "return_inspected")))))
    b["orders"] = int(s.scalar(select(func.count()).select_from(Order)))
    s.close()
    return b


def test_allocation_release_restock_and_import_from_nine_processes_never_oversell(pg_url, tmp_path, figures):
    plan = build(pg_url)
    results = run_processes(pg_url, plan, tmp_path)
    b = books(pg_url, plan)
    reports = [r for _, r, _ in results if r is not None]
    by_role: dict[str, list[dict[str, Any]]] = {}
    for r in reports:
        by_role.setdefault(r["role"], []).append(r)
    refusals = [f for r in reports for f in r["refused"]]
    wins = {what: Counter(i for r in reports for i in r["won"].get(what, [])) for what in ("release", "receive", "inspect")}
    n_holds, n_rmas = len(plan["holds"]), len(plan["rmas"])
    stale = [f for f in refusals if f["type"] == "StaleEdit"]
    # Collisions: each hold, and each RMA's receiving and inspection form, submitted by two people at once.
    # One survived when exactly one submit won and the other was refused with a clear message.
    collisions = n_holds + 2 * n_rmas
    clear = Counter((f["what"], f["item"]) for f in refusals
                    if f["message"].strip() and not any(raw in f["message"] for raw in RAW))
    survived = sum(n == 1 and clear[(what, str(item))] == 1 for what in ("release", "receive", "inspect")
                   for item, n in wins[what].items())
    restock_wins = sum(qty for rma_id, _, _, qty in plan["rmas"] if wins["inspect"][rma_id])
    booked = sum(r["done"].get("units", 0) for role in ("import", "adjust") for r in by_role.get(role, []))
    drift = b["on_hand"] - (plan["on_hand"] + booked + restock_wins)
    duplicated = (b["over_reserved"] + b["over_allocated"] + b["ledger_not_allocated"]
                  + sum(n - 1 for n in wins["release"].values() if n > 1)
                  + sum(n - 1 for n in b["release_events"] if n > 1)
                  + sum(n - 1 for n in b["restocks"] if n > 1) + max(0, drift))
    lost = (b["reserved_not_in_ledger"] + b["line_vs_allocations"] + (n_holds - b["holds_released"])
            + sum(1 for n in b["restocks"] if n == 0) + max(0, -drift))
    figures(scenario=f"contention: PostgreSQL, {len(results)} processes", orders=b["orders"], faults=collisions,
            survived=survived, writers=len(results), lost=lost, duplicated=duplicated)
    print(f"\ncontention: {json.dumps({r['name']: r['done'] for r in reports})}; refusals "
          f"{dict(Counter((f['what'], f['type']) for f in refusals))}; transient errors retried "
          f"{sum(r['transient_seen'] for r in reports)}; {b['units_reserved']} units reserved; {dict(b['statuses'])}")

    # No process crashed: each exited 0 with its report, and none met an error that is not a domain error
    # (a raw SQL error, an escaped deadlock, an allocation failure the job logged).
    assert [code for code, _, _ in results] == [0] * len(results), \
        [text[-3000:] for code, _, text in results if code != 0]
    assert len(reports) == len(results) and [e for r in reports for e in r["errors"]] == []
    # Zero oversell, and the books balance.
    assert b["violations"] == []
    assert b["over_reserved"] == 0 and b["over_allocated"] == 0
    assert b["reserved_not_in_ledger"] == 0 and b["ledger_not_allocated"] == 0 and b["line_vs_allocations"] == 0
    assert drift == 0, f"on hand moved by {drift} units more than the processes booked"
    # The stock really was short and really was fought over: orders backordered, stock reserved, nothing READY left.
    assert b["statuses"][OrderStatus.BACKORDERED] > 0 and b["statuses"][OrderStatus.ALLOCATED] > 0
    assert b["statuses"][OrderStatus.READY] == 0 and b["statuses"][OrderStatus.ON_HOLD] == 0, b["statuses"]
    # Each READY order (and each released one) claimed by exactly one allocator, exactly once.
    assert sum(r["done"].get("allocated", 0) for r in by_role["allocate"]) == N_READY + n_holds
    assert all(r["done"].get("allocated", 0) > 0 for r in by_role["allocate"]), "an allocator never got an order"
    # Each contested hold: released by exactly one of the two ops leads, with exactly one event; the other refused.
    assert set(wins["release"]) == {h for h, _ in plan["holds"]} and set(wins["release"].values()) == {1}
    assert b["holds_released"] == n_holds and b["release_events"] == [1] * n_holds
    # Each RMA: received once and inspected once (by one clerk each), restocked exactly once with its 2 units.
    rma_ids = {r[0] for r in plan["rmas"]}
    for what in ("receive", "inspect"):
        assert set(wins[what]) == rma_ids and set(wins[what].values()) == {1}, (what, wins[what])
    assert b["restocks"] == [1] * n_rmas and b["restocked_units"] == [2] * n_rmas
    assert b["rma_statuses"] == {ReturnStatus.CLOSED: n_rmas}  # grade A, defective: refunded in full, closed
    assert b["rma_events"] == {"return_received": n_rmas, "return_inspected": n_rmas}
    # Every losing submit was refused - and refused clearly: a domain error, a sentence, never raw SQL.
    losers = Counter(f["what"] for f in refusals if f["what"] in ("release", "receive", "inspect"))
    assert losers == {"release": n_holds, "receive": n_rmas, "inspect": n_rmas}, losers
    assert all(f["type"] == "StaleEdit" for f in refusals if f["what"] in ("release", "receive"))
    assert all("changed by someone else - reload and try again" in f["message"] for f in stale)
    assert len([f for f in stale if f["what"] == "inspect"]) > 0  # the inspection forms really collided
    assert all(f["message"].strip() and not any(raw in f["message"] for raw in RAW) for f in refusals), refusals
    assert survived == collisions and duplicated == 0 and lost == 0
