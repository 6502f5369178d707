"""Ingest throughput: fresh normalized orders through ``core.ingest.apply_page`` beside bare executemany.

Both sides write the same prebuilt ``ChannelOrder`` records (2-3 lines each, pages of 250)
into the benchmark database, each under its own throw-away channel, which is deleted with
everything it wrote afterwards so a reused database stays the same size.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine

from bench.dataset import CHANNELS, COUNTRIES, Shop
from bench.generate import INSERT_SQL
from bench.measure import Measure, Sample, Waits
from bench.reads import raw_connection
from bench.rows import ts_text
from connectors.schemas import Address, ChannelLine, ChannelOrder, Page
from core import search
from core.channels import add_channel
from core.db import new_session
from core.enums import FinancialStatus
from core.ingest import apply_page
from core.sla import SlaPolicy, ship_by

PAGE = 250
APP_CHANNEL, SQL_CHANNEL = "bench-ingest-app", "bench-ingest-sql"
INGEST_TARGET = ">= 3,000 orders/s"


def fresh_records(count: int, *, seed: int = 7, now: datetime | None = None) -> list[ChannelOrder]:
    """``count`` new Shopify-like orders placed in the last hours, 2-3 lines each."""
    shop, rng, spec = Shop(seed), random.Random(seed), CHANNELS[0]
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    records = []
    for i in range(count):
        cust = shop.customer(50_000_000 + i, spec)
        placed = now - timedelta(seconds=(count - i) * 5)
        lines = []
        for j in range(rng.choice((2, 2, 3))):
            sku = shop.sku(rng.getrandbits(16))
            lines.append(ChannelLine(external_id=f"{i}-{j}", sku=sku.sku, title=sku.title,
                                     quantity=rng.choice((1, 1, 1, 2)), unit_price=Decimal(f"{sku.price:.2f}")))
        subtotal = sum((line.unit_price * line.quantity for line in lines), Decimal("0"))
        records.append(ChannelOrder(
            external_id=str(9_100_000_000_000 + i), number=f"#{9_000_001 + i}", financial_status=FinancialStatus.PAID,
            raw_financial_status="paid", placed_at=placed, updated_at=placed, customer_name=cust.name,
            email=cust.email, phone=cust.phone, ship_to=Address(**json.loads(cust.ship_to_json)),
            total=subtotal + (Decimal("0") if subtotal >= 75 else Decimal("4.95")),
            currency=COUNTRIES[cust.country][0], risk_level="low", lines=tuple(lines),
        ))
    return records


def _ts(value: datetime) -> str:
    return ts_text(int(value.timestamp()))


def bare_insert(conn: sqlite3.Connection, channel_id: int, code: str, policy: SlaPolicy,
                records: list[ChannelOrder]) -> None:
    """The same new orders, lines and first events, written with sqlite3 executemany in one transaction.

    The orders are stored as the app's triage leaves these clean records: ready, no holds.
    """
    now = ts_text(int(time.time()))
    conn.execute("BEGIN IMMEDIATE")
    oid = (conn.execute("SELECT max(id) FROM orders").fetchone()[0] or 0) + 1
    lid = (conn.execute("SELECT max(id) FROM order_lines").fetchone()[0] or 0) + 1
    eid = (conn.execute("SELECT max(id) FROM events").fetchone()[0] or 0) + 1
    orders, lines, events = [], [], []
    for r in records:
        a = r.ship_to
        phone = r.phone or (a.phone if a else None)
        orders.append((
            oid, channel_id, r.external_id, r.number, "ready", 1, r.financial_status.value, r.raw_fulfillment_status,
            r.customer_name, r.email, phone, json.dumps(a.model_dump(mode="json") if a else {}),
            a.country_code if a else None, a.region if a else None, float(r.total), r.currency, _ts(r.placed_at),
            _ts(r.updated_at), _ts(ship_by(r.placed_at, policy)), "policy", None, 0, ", ".join(r.tags), r.risk_level,
            r.note, now, now, search.norm_number(r.number), search.norm_text(r.email),
            search.norm_text(r.customer_name), search.last_name(r.customer_name), search.phone_key(phone), 1,
        ))
        for line in r.lines:
            lines.append((lid, oid, line.external_id, line.sku, line.title, line.quantity, float(line.unit_price),
                          0, 0, 0))
            lid += 1
        events.append((eid, oid, "order", "order_received", "channel", f"channel:{code}", now, json.dumps(
            {"number": r.number, "status": "ready", "total": str(r.total), "currency": r.currency,
             "lines": len(r.lines)})))
        oid += 1
        eid += 1
    conn.executemany(INSERT_SQL["orders"], orders)
    conn.executemany(INSERT_SQL["lines"], lines)
    conn.executemany(INSERT_SQL["events"], events)
    conn.execute("COMMIT")


def remove_channels(conn: sqlite3.Connection, codes: tuple[str, ...]) -> None:
    """Delete bench channels and everything they wrote (a crashed earlier run included)."""
    marks = ",".join("?" * len(codes))
    ids = [r[0] for r in conn.execute(f"SELECT id FROM channels WHERE code IN ({marks})", codes)]
    if not ids:
        return
    id_marks = ",".join("?" * len(ids))
    orders = f"SELECT id FROM orders WHERE channel_id IN ({id_marks})"
    # Dependents are deleted explicitly below. With foreign keys on, every deleted order line would
    # scan shipment_lines, allocations and return_lines: their order_line_id has no index.
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("BEGIN IMMEDIATE")
    for table, parent in (("shipment_lines", "shipments"), ("tracking_events", "shipments"),
                          ("return_lines", "returns")):
        conn.execute(f"DELETE FROM {table} WHERE {parent[:-1]}_id IN "  # noqa: S608
                     f"(SELECT id FROM {parent} WHERE order_id IN ({orders}))", ids)
    for table in ("events", "order_lines", "shipments", "holds", "allocations", "returns"):
        conn.execute(f"DELETE FROM {table} WHERE order_id IN ({orders})", ids)  # noqa: S608
    conn.execute(f"DELETE FROM orders WHERE channel_id IN ({id_marks})", ids)
    for table in ("sync_cursors", "connector_runs", "dead_letters"):
        conn.execute(f"DELETE FROM {table} WHERE channel_id IN ({id_marks})", ids)  # noqa: S608
    for code in codes:
        conn.execute("DELETE FROM events WHERE order_id IS NULL AND kind = 'channel_added' AND detail LIKE ?",
                     (f'%"code": "{code}"%',))
    conn.execute(f"DELETE FROM channels WHERE id IN ({id_marks})", ids)
    conn.execute("COMMIT")
    conn.execute("PRAGMA foreign_keys=ON")


def read_through(db_path: str) -> None:
    """Read the database file once, so each side starts with it in the OS page cache.

    Earlier measures (and the machine's memory reclaim) leave some index pages on disk; the side
    that ran first used to read ~100 MB of them back and the other found them cached.
    """
    with open(db_path, "rb") as fh:
        while fh.read(1 << 22):
            pass


def measure_ingest(engine: Engine, db_path: str, pages: int, *, seed: int = 7) -> list[Measure]:
    """Orders/s of ``apply_page`` and of bare executemany, one warm-up page then ``pages`` timed pages."""
    records = fresh_records(PAGE * (pages + 1), seed=seed)
    chunks = [records[i:i + PAGE] for i in range(0, len(records), PAGE)]
    conn = raw_connection(db_path)
    # The same checkpoint interval and page cache as the app's engine (core.db): the same SQLite for both.
    conn.execute("PRAGMA wal_autocheckpoint=10000")
    conn.execute("PRAGMA cache_size=-32768")
    remove_channels(conn, (APP_CHANNEL, SQL_CHANNEL))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # both sides start from an empty write-ahead log
    read_through(db_path)
    spec = CHANNELS[0]
    try:
        with new_session(engine) as session:
            app_ch = add_channel(session, APP_CHANNEL, kind=spec.kind, base_url="http://127.0.0.1:8900/bench",
                                 token_env="BENCH_INGEST_TOKEN", sla_policy=spec.sla_policy)
            sql_ch = add_channel(session, SQL_CHANNEL, kind=spec.kind, base_url="http://127.0.0.1:8900/bench",
                                 token_env="BENCH_INGEST_TOKEN", sla_policy=spec.sla_policy)
            app_ms, app_cpu = [], []
            app_began = Waits.now()
            for i, chunk in enumerate(chunks):
                page = Page(records=tuple(chunk), cursor=str(i))
                start, start_cpu = time.perf_counter(), time.process_time()
                result = apply_page(session, app_ch, page)
                if i:  # the first page is the warm-up
                    app_ms.append((time.perf_counter() - start) * 1000)
                    app_cpu.append((time.process_time() - start_cpu) * 1000)
                if result.written != len(chunk):
                    raise RuntimeError(f"apply_page wrote {result.written} of {len(chunk)} orders")
            app_waits = Waits.now() - app_began
        policy = SlaPolicy.from_dict(spec.sla_policy)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        read_through(db_path)
        sql_ms, sql_cpu = [], []
        sql_began = Waits.now()
        for i, chunk in enumerate(chunks):
            start, start_cpu = time.perf_counter(), time.process_time()
            bare_insert(conn, sql_ch.id, SQL_CHANNEL, policy, chunk)
            if i:
                sql_ms.append((time.perf_counter() - start) * 1000)
                sql_cpu.append((time.process_time() - start_cpu) * 1000)
        sql_waits = Waits.now() - sql_began
        stored = dict(conn.execute("SELECT status, count(*) FROM orders WHERE channel_id = ? GROUP BY status",
                                   (app_ch.id,)).fetchall())
    finally:
        remove_channels(conn, (APP_CHANNEL, SQL_CHANNEL))
        conn.close()
    app, sql = Sample(app_ms, app_cpu), Sample(sql_ms, sql_cpu)
    # Sustained rate: all timed orders over all the time they took (checkpoints included), not the median page.
    app_rate, sql_rate = PAGE * len(app_ms) / (sum(app_ms) / 1000), PAGE * len(sql_ms) / (sum(sql_ms) / 1000)
    lines = sum(len(r.lines) for r in records) / len(records)
    return [Measure(
        "ingest (apply_page, pages of 250)", app_rate, sql_rate, app_rate / sql_rate, INGEST_TARGET,
        app_rate >= 3000, unit="orders/s", app_p90=PAGE / (app.p90 / 1000), baseline_p90=PAGE / (sql.p90 / 1000),
        app_cpu_ms=app.cpu_median, baseline_cpu_ms=sql.cpu_median, reps=len(app_ms), baseline_reps=len(sql_ms),
        note=f"{lines:.2f} lines/order, stored by the app as {stored}; sustained over {len(app_ms)} pages (WAL "
             f"checkpoints included); median page {app.median:.1f} ms (SQL {sql.median:.1f} ms), CPU per page "
             f"{app.cpu_median:.1f} ms (SQL {sql.cpu_median:.1f} ms) = {PAGE / app.cpu_median * 1000:,.0f} orders/s "
             f"on an idle core; p90 columns hold the rate of the slow (p90) page; app side: {app_waits}; SQL side: "
             f"{sql_waits}",
    )]
