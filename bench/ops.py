"""The ops lead's paths: hold queue, inventory grid and allocation, each beside hand-written SQL.

The hold queue and the inventory grid are timed like the order queue (the app's call beside
the same query typed out by hand on a plain ``sqlite3`` connection, both returning the same
rows). Allocation is timed as the worker runs it (``jobs.allocate.allocate_ready_orders``)
beside a bare-SQL allocator that does the least an allocator can do (first location with
all of an order's stock, else backorder; reserve, book, move). Both allocate the same READY
orders from the same stock; everything each one wrote is undone afterwards, so a reused
database stays as generated.
"""

from __future__ import annotations

import sqlite3
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from bench.dataset import CHANNELS
from bench.ingest_bench import bare_insert, fresh_records, remove_channels
from bench.measure import Measure, Sample, queue_measure, time_calls
from bench.reads import raw_connection
from bench.rows import ts_text
from core.channels import add_channel
from core.db import new_session
from core.holds_queue import HoldFilter, hold_queue
from core.inventory import stock_levels
from core.sla import SlaPolicy
from jobs.allocate import allocate_ready_orders

ALLOC_CHANNEL = "bench-alloc"
ALLOC_TARGET = ">= 1,000 orders/s"
HOLD_TARGET_MS, GRID_TARGET_MS = 50, 100

HOLD_SQL = (
    "SELECT h.id FROM holds AS h JOIN orders AS o ON o.id = h.order_id JOIN channels AS c ON c.id = o.channel_id "
    "LEFT OUTER JOIN users AS u ON u.id = h.assignee_id WHERE h.state = 'open' AND h.order_id IS NOT NULL "
    "ORDER BY h.blocking DESC, h.order_ship_by, h.opened_at, h.id LIMIT 50 OFFSET 0")
HOLD_COUNT_SQL = "SELECT count(*) FROM holds AS h WHERE h.state = 'open' AND h.order_id IS NOT NULL"
GRID_SQL = (
    "SELECT l.code, il.sku, il.on_hand, il.reserved, il.on_hand - il.reserved, il.low_stock_threshold, "
    "CASE WHEN il.on_hand - il.reserved <= il.low_stock_threshold THEN 1 ELSE 0 END "
    "FROM inventory_levels AS il JOIN locations AS l ON l.id = il.location_id ORDER BY l.code, il.sku LIMIT 50 OFFSET 0")
GRID_COUNT_SQL = "SELECT count(*) FROM inventory_levels AS il JOIN locations AS l ON l.id = il.location_id"


def _bare_page(conn: sqlite3.Connection, page_sql: str, count_sql: str) -> tuple[list[tuple], int]:
    conn.execute("BEGIN")
    rows = conn.execute(page_sql).fetchall()
    total = conn.execute(count_sql).fetchone()[0]
    conn.execute("COMMIT")
    return rows, total


def _limited(name: str, app: Sample, sql: Sample, limit_ms: float, note: str) -> Measure:
    """Like the order queue's target, with this page's own ceiling."""
    measure = queue_measure(name, app, sql, note)
    a, b = app.median, sql.median
    measure.ok = a <= limit_ms and (a <= 1.5 * b or a - b <= 3)
    measure.target = f"<= {limit_ms} ms and <= 1.5x SQL (or <= SQL + 3 ms)"
    return measure


def measure_ops_pages(engine: Engine, db_path: str, reps: int) -> list[Measure]:
    """The hold queue's and the inventory grid's first pages, each beside its bare SQL."""
    conn = raw_connection(db_path)

    def app_holds() -> tuple[list[int], int]:
        with new_session(engine) as session:
            page = hold_queue(session, HoldFilter(), page=1, page_size=50)
        return list(page.rows["hold_id"]), page.total

    def app_grid() -> tuple[list[tuple[str, str]], int]:
        with new_session(engine) as session:
            frame, total = stock_levels(session, page=1, page_size=50)
        return list(zip(frame["location"], frame["sku"], strict=True)), total

    try:
        out = []
        ids, total = app_holds()
        rows, sql_total = _bare_page(conn, HOLD_SQL, HOLD_COUNT_SQL)
        same = ids == [r[0] for r in rows] and total == sql_total
        out.append(_limited("hold queue first page", time_calls(app_holds, reps),
                            time_calls(lambda: _bare_page(conn, HOLD_SQL, HOLD_COUNT_SQL), reps), HOLD_TARGET_MS,
                            f"{total:,} open items" + ("" if same else "; APP AND SQL DISAGREE")))
        keys, total = app_grid()
        rows, sql_total = _bare_page(conn, GRID_SQL, GRID_COUNT_SQL)
        same = keys == [(r[0], r[1]) for r in rows] and total == sql_total
        out.append(_limited("inventory grid first page", time_calls(app_grid, reps),
                            time_calls(lambda: _bare_page(conn, GRID_SQL, GRID_COUNT_SQL), reps), GRID_TARGET_MS,
                            f"{total:,} levels" + ("" if same else "; APP AND SQL DISAGREE")))
        return out
    finally:
        conn.close()


# --- allocation ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Marks:
    """The highest ids before a run: what is above them was written by the run."""

    allocation: int
    movement: int
    event: int
    hold: int


def _marks(conn: sqlite3.Connection) -> Marks:
    def top(table: str) -> int:
        return conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]  # noqa: S608

    return Marks(top("allocations"), top("inventory_movements"), top("events"), top("holds"))


def undo_allocations(conn: sqlite3.Connection, marks: Marks) -> int:
    """Put back what an allocation run wrote after ``marks``; returns the orders set back to READY."""
    conn.execute("BEGIN IMMEDIATE")
    orders = [r[0] for r in conn.execute("SELECT DISTINCT order_id FROM events WHERE id > ? AND "
                                         "kind = 'status_changed'", (marks.event,))]
    conn.execute("UPDATE inventory_levels SET reserved = reserved - (SELECT sum(m.reserved_delta) FROM "
                 "inventory_movements AS m WHERE m.id > ? AND m.location_id = inventory_levels.location_id AND "
                 "m.sku = inventory_levels.sku) WHERE id IN (SELECT il.id FROM inventory_levels AS il JOIN "
                 "inventory_movements AS m ON m.location_id = il.location_id AND m.sku = il.sku WHERE m.id > ?)",
                 (marks.movement, marks.movement))
    conn.execute("UPDATE order_lines SET qty_allocated = qty_allocated - (SELECT sum(a.quantity) FROM allocations "
                 "AS a WHERE a.id > ? AND a.order_line_id = order_lines.id) WHERE id IN (SELECT order_line_id FROM "
                 "allocations WHERE id > ?)", (marks.allocation, marks.allocation))
    conn.executemany("UPDATE orders SET status = 'ready', is_open = 1 WHERE id = ?", [(o,) for o in orders])
    for table, mark in (("allocations", marks.allocation), ("inventory_movements", marks.movement),
                        ("events", marks.event), ("holds", marks.hold)):
        conn.execute(f"DELETE FROM {table} WHERE id > ?", (mark,))  # noqa: S608
    conn.execute("COMMIT")
    return len(orders)


def bare_allocate(conn: sqlite3.Connection, count: int, batch: int = 100) -> int:
    """The floor: claim READY orders by ship-by, first location (by priority) holding the whole order, else backorder."""
    locations = conn.execute("SELECT id, code FROM locations WHERE active = 1 ORDER BY priority, code").fetchall()
    done = 0
    now = ts_text(int(time.time()))
    while done < count:
        conn.execute("BEGIN IMMEDIATE")
        heads = conn.execute("SELECT id, number FROM orders WHERE status = 'ready' ORDER BY ship_by, placed_at "
                             "LIMIT ?", (min(batch, count - done),)).fetchall()
        if not heads:
            conn.execute("COMMIT")
            break
        marks = ",".join("?" * len(heads))
        lines: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
        for lid, oid, sku, qty in conn.execute(
                f"SELECT id, order_id, sku, quantity - qty_allocated FROM order_lines WHERE order_id IN ({marks})",  # noqa: S608
                [h[0] for h in heads]):
            lines[oid].append((lid, sku, qty))
        skus = sorted({sku for ls in lines.values() for _, sku, _ in ls})
        stock = {(loc, sku): avail for loc, sku, avail in conn.execute(
            f"SELECT location_id, sku, on_hand - reserved FROM inventory_levels WHERE sku IN ({','.join('?' * len(skus))})",  # noqa: S608
            skus)}
        reserve, allocs, moves, line_updates, statuses, events = defaultdict(int), [], [], [], [], []
        for oid, number in heads:
            want = lines[oid]
            need: dict[str, int] = defaultdict(int)
            for _, sku, q in want:
                need[sku] += q
            site = next((loc for loc, _ in locations
                         if all(stock.get((loc, sku), 0) >= q for sku, q in need.items())), None)
            status = "allocated" if site is not None else "backordered"
            if site is not None:
                for lid, sku, q in want:
                    stock[(site, sku)] -= q
                    reserve[(site, sku)] += q
                    allocs.append((oid, lid, site, sku, q, now, now))
                    moves.append((site, sku, q, f"order {number}", oid, now))
                    line_updates.append((q, lid))
            statuses.append((status, oid))
            events.append((oid, now, f'{{"from": "ready", "to": "{status}"}}'))
        cur = conn.executemany("UPDATE inventory_levels SET reserved = reserved + ? WHERE location_id = ? AND sku = ? "
                               "AND on_hand - reserved >= ?", [(q, loc, sku, q) for (loc, sku), q in sorted(reserve.items())])
        if cur.rowcount != len(reserve):
            conn.execute("ROLLBACK")
            raise RuntimeError("bare allocator: a reservation did not match its stock")
        conn.executemany("INSERT INTO allocations (order_id, order_line_id, location_id, sku, quantity, status, plan, "
                         "created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'reserved', '{}', ?, ?)", allocs)
        conn.executemany("INSERT INTO inventory_movements (location_id, sku, kind, on_hand_delta, reserved_delta, "
                         "reason, order_id, actor, at) VALUES (?, ?, 'reservation', 0, ?, ?, ?, 'bare', ?)", moves)
        conn.executemany("UPDATE order_lines SET qty_allocated = qty_allocated + ? WHERE id = ?", line_updates)
        conn.executemany("UPDATE orders SET status = ?, version = version + 1 WHERE id = ? AND status = 'ready'",
                         statuses)
        conn.executemany("INSERT INTO events (order_id, subject, kind, actor_kind, actor_name, at, detail) "
                         "VALUES (?, 'order', 'status_changed', 'system', 'bare', ?, ?)", events)
        conn.execute("COMMIT")
        done += len(heads)
    return done


def measure_allocation(engine: Engine, db_path: str, orders: int = 2_000) -> list[Measure]:
    """Orders/s of the worker's allocation job beside the bare-SQL allocator, on the same READY orders."""
    conn = raw_connection(db_path)
    remove_channels(conn, (ALLOC_CHANNEL,))
    spec = CHANNELS[0]
    try:
        ready = conn.execute("SELECT count(*) FROM orders WHERE status = 'ready'").fetchone()[0]
        if ready < orders:  # top up with fresh clean orders, as ingest would store them
            with new_session(engine) as session:
                channel = add_channel(session, ALLOC_CHANNEL, kind=spec.kind, base_url="http://127.0.0.1:8900/bench",
                                      token_env="BENCH_ALLOC_TOKEN", sla_policy=spec.sla_policy)
            bare_insert(conn, channel.id, ALLOC_CHANNEL, SlaPolicy.from_dict(spec.sla_policy),
                        fresh_records(orders - ready, seed=11))
        marks = _marks(conn)
        start, start_cpu = time.perf_counter(), time.process_time()
        allocate_ready_orders(batch=orders, engine=engine)
        app_s, app_cpu = time.perf_counter() - start, time.process_time() - start_cpu
        outcome = _outcome(conn, marks)
        app_orders = undo_allocations(conn, marks)
        start, start_cpu = time.perf_counter(), time.process_time()
        bare_allocate(conn, orders)
        sql_s, sql_cpu = time.perf_counter() - start, time.process_time() - start_cpu
        sql_orders = undo_allocations(conn, marks)
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        remove_channels(conn, (ALLOC_CHANNEL,))
        conn.close()
    app_rate, sql_rate = app_orders / app_s, sql_orders / sql_s
    return [Measure(
        "allocation (worker job, one worker)", app_rate, sql_rate, app_rate / sql_rate, ALLOC_TARGET,
        app_rate >= 1000, unit="orders/s", app_cpu_ms=app_cpu * 1000, baseline_cpu_ms=sql_cpu * 1000,
        reps=1, baseline_reps=1,
        note=f"{app_orders:,} READY orders in {app_s:.2f} s ({outcome}); bare SQL {sql_orders:,} in {sql_s:.2f} s "
             "(first location with the whole order, no split, no explanation, no holds); both undone after",
    )]


def _outcome(conn: sqlite3.Connection, marks: Marks) -> dict[str, Any]:
    moved = dict(conn.execute("SELECT json_extract(detail, '$.to'), count(*) FROM events WHERE id > ? AND "
                              "kind = 'status_changed' GROUP BY 1", (marks.event,)).fetchall())
    split = conn.execute("SELECT count(*) FROM (SELECT order_id FROM allocations WHERE id > ? GROUP BY order_id "
                         "HAVING count(DISTINCT location_id) > 1)", (marks.allocation,)).fetchone()[0]
    return {**moved, "split": split}
