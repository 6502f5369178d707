"""The benchmark at toy scale: the generator writes what the app would, and the harness reports every measure."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from bench.__main__ import main as bench_main
from bench.generate import generate
from core import search
from core.db import engine_for, new_session
from core.enums import OrderStatus
from core.models import Order
from core.queries import QueueFilter, find_orders, order_queue
from tests.factories import ingest, make_channel, order_record

ORDERS = 2_000
MEASURES = {
    "queue first page", "queue first page vs naive pandas", "queue by channel", "queue by status (on hold)",
    "lookup by email", "lookup by order number", "lookup by tracking number", "lookup by name",
    "lookup by phone fragment", "lookup by last name only", "queue page under AppTest",
    "ingest (apply_page, pages of 250)", "peak RSS of this process", "hold queue first page",
    "inventory grid first page", "allocation (worker job, one worker)",
    "SLA history, 90 days, vs naive pandas", "SLA history, 90 days, vs bare SQL on the source tables",
}


@pytest.fixture(scope="module")
def bench_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "bench.db"
    stats = generate(f"sqlite:///{path}", orders=ORDERS, seed=3)
    assert stats.orders == ORDERS and stats.events >= ORDERS and stats.holds > 0
    return path


def _one(conn: sqlite3.Connection, sql: str) -> int:
    return conn.execute(sql).fetchone()[0]


def test_generated_orders_look_like_a_shop(bench_db: Path) -> None:
    conn = sqlite3.connect(bench_db)
    assert _one(conn, "SELECT count(*) FROM orders") == ORDERS
    # About 3-4 % of 180 days are open; the generator's peak season (late November to early December, up to
    # 1.7x the orders) makes the recent, mostly open days heavier: 5-6 % then (5.8 % measured on 3 December).
    assert 0.015 <= _one(conn, "SELECT avg(is_open) FROM orders") <= 0.065
    assert _one(conn, "SELECT count(*) FROM orders o WHERE NOT EXISTS "
                      "(SELECT 1 FROM order_lines l WHERE l.order_id = o.id)") == 0
    assert _one(conn, "SELECT max(n) FROM (SELECT count(*) AS n FROM order_lines GROUP BY order_id)") <= 4
    assert _one(conn, "SELECT count(*) FROM orders o WHERE status IN ('shipped', 'delivered') AND NOT EXISTS "
                      "(SELECT 1 FROM shipments s WHERE s.order_id = o.id)") == 0
    assert _one(conn, "SELECT count(*) FROM events WHERE kind = 'order_received'") == ORDERS
    assert _one(conn, "SELECT count(DISTINCT currency) FROM orders") >= 3
    assert _one(conn, "SELECT count(*) FROM channels") == 3
    open_statuses = {s.value for s in OrderStatus if s.is_open}
    assert {r[0] for r in conn.execute("SELECT DISTINCT status FROM orders WHERE is_open = 1")} <= open_statuses
    assert _one(conn, "SELECT count(*) FROM orders WHERE is_open = 0 AND status NOT IN "
                      "('shipped', 'delivered', 'cancelled')") == 0
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_every_held_order_has_its_hold(bench_db: Path) -> None:
    conn = sqlite3.connect(bench_db)
    assert _one(conn, "SELECT count(*) FROM orders o WHERE status = 'on_hold' AND NOT EXISTS (SELECT 1 FROM holds h "
                      "WHERE h.order_id = o.id AND h.state = 'open' AND h.blocking = 1)") == 0
    assert _one(conn, "SELECT count(*) FROM orders o WHERE status = 'backordered' AND NOT EXISTS (SELECT 1 FROM "
                      "holds h WHERE h.order_id = o.id AND h.state = 'open' AND h.code = 'BACKORDER')") == 0
    assert _one(conn, "SELECT count(*) FROM holds h JOIN orders o ON o.id = h.order_id "
                      "WHERE h.state = 'open' AND o.is_open = 0") == 0
    assert _one(conn, "SELECT count(*) FROM locations WHERE active = 1") >= 3


def test_stock_is_fifty_locations_and_ten_thousand_skus_with_their_ledger(bench_db: Path) -> None:
    conn = sqlite3.connect(bench_db)
    assert _one(conn, "SELECT count(*) FROM locations") == 50
    assert _one(conn, "SELECT count(DISTINCT sku) FROM inventory_levels") == 10_000
    assert _one(conn, "SELECT count(*) FROM inventory_levels WHERE reserved <> 0 OR on_hand < 0") == 0
    assert _one(conn, "SELECT count(*) FROM inventory_levels l WHERE on_hand <> (SELECT coalesce(sum(on_hand_delta), 0) "
                      "FROM inventory_movements m WHERE m.location_id = l.location_id AND m.sku = l.sku)") == 0
    assert _one(conn, "SELECT count(*) FROM inventory_levels WHERE on_hand - reserved <= low_stock_threshold") > 0
    ordered = {r[0] for r in conn.execute("SELECT DISTINCT sku FROM order_lines")}
    stocked = {r[0] for r in conn.execute("SELECT DISTINCT sku FROM inventory_levels")}
    assert ordered <= stocked


def test_search_columns_are_the_apps_normal_forms(bench_db: Path) -> None:
    conn = sqlite3.connect(bench_db)
    rows = conn.execute("SELECT number, email, customer_name, phone, search_number, search_email, search_name, "
                        "search_last, search_phone_rev FROM orders ORDER BY id LIMIT 200").fetchall()
    for number, email, name, phone, s_number, s_email, s_name, s_last, s_phone in rows:
        assert s_number == search.norm_number(number)
        assert s_email == search.norm_text(email)
        assert (s_name, s_last) == (search.norm_text(name), search.last_name(name))
        assert s_phone == search.phone_key(phone)


def test_generated_rows_are_stored_like_ingested_ones(bench_db: Path, tmp_path: Path) -> None:
    """Same SQLite storage classes and datetime text as rows written by core.ingest, and readable by the ORM."""
    url = f"sqlite:///{tmp_path / 'ingested.db'}"
    from core.migrate import upgrade

    upgrade(url)
    with new_session(engine_for(url)) as session:
        ingest(session, make_channel(session), [order_record(1, total=Decimal("48.50"))])
    columns = [r[1] for r in sqlite3.connect(bench_db).execute("PRAGMA table_info(orders)")]
    probe = ", ".join(f"typeof({c})" for c in columns) + ", length(placed_at), length(ship_by)"
    ingested = sqlite3.connect(url.removeprefix("sqlite:///")).execute(f"SELECT {probe} FROM orders").fetchone()
    generated = sqlite3.connect(bench_db).execute(
        f"SELECT {probe} FROM orders WHERE email IS NOT NULL AND phone IS NOT NULL AND fulfillment_status IS NULL "
        "AND note IS NULL AND risk_level IS NULL AND cancelled_at IS NULL AND search_last IS NOT NULL "
        "AND ship_region IS NOT NULL AND total <> CAST(total AS INTEGER) LIMIT 1").fetchone()
    differ = {c: (i, g) for c, i, g in zip([*columns, "len1", "len2"], ingested, generated, strict=True) if i != g}
    assert not differ, differ
    with new_session(engine_for(f"sqlite:///{bench_db}")) as session:
        order = session.get(Order, 1)
        assert order is not None and isinstance(order.total, Decimal) and isinstance(order.status, OrderStatus)
        assert isinstance(order.placed_at, datetime) and order.placed_at.tzinfo is not None
        assert order.lines and order.ship_to["country_code"] == order.ship_country


def test_app_queries_find_generated_orders(bench_db: Path) -> None:
    conn = sqlite3.connect(bench_db)
    email, number = conn.execute("SELECT email, number FROM orders WHERE id = 777").fetchone()
    tracking = conn.execute("SELECT tracking_number FROM shipments ORDER BY id LIMIT 1").fetchone()[0]
    with new_session(engine_for(f"sqlite:///{bench_db}")) as session:
        assert 777 in set(find_orders(session, email)["id"])
        assert 777 in set(find_orders(session, number)["id"])
        assert len(find_orders(session, tracking)) >= 1
        page = order_queue(session, QueueFilter())
    assert page.total == _one(conn, "SELECT count(*) FROM orders WHERE is_open = 1")
    assert list(page.rows["ship_by"]) == sorted(page.rows["ship_by"])


def test_harness_reports_every_measure(bench_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    allocated_before = _one(sqlite3.connect(bench_db), "SELECT sum(qty_allocated) FROM order_lines")
    statuses_before = sqlite3.connect(bench_db).execute("SELECT status, count(*) FROM orders GROUP BY 1").fetchall()
    bench_main(["--orders", str(ORDERS), "--db", str(bench_db), "--reuse", "--out", str(out), "--reps", "3",
                "--naive-reps", "1", "--ingest-pages", "2", "--app-runs", "1", "--sla-scale-from", "0"])
    report = json.loads(out.read_text())
    assert report["orders"] == ORDERS and report["peak_rss_mb"] > 0
    by_name = {m["name"]: m for m in report["measures"]}
    assert MEASURES <= {n.split(" (")[0] if n.startswith("queue text search") else n for n in by_name}
    assert any(n.startswith("queue text search") for n in by_name)
    for m in report["measures"]:
        assert m["app_ms"] is not None and m["app_ms"] > 0, m
        assert m["baseline_ms"] is None or m["baseline_ms"] > 0, m
        assert "APP AND SQL DISAGREE" not in m["note"] and "NOTHING FOUND" not in m["note"], m
        assert "DISAGREE" not in m["note"], m
    assert "ready" in by_name["allocation (worker job, one worker)"]["note"] or by_name[
        "allocation (worker job, one worker)"]["app_ms"] > 0
    # the ingest and allocation measures clean up after themselves: the database is as generated
    conn = sqlite3.connect(bench_db)
    assert _one(conn, "SELECT count(*) FROM orders") == ORDERS
    assert _one(conn, "SELECT count(*) FROM allocations") == 0
    assert _one(conn, "SELECT count(*) FROM inventory_levels WHERE reserved <> 0") == 0
    assert _one(conn, "SELECT sum(qty_allocated) FROM order_lines") == allocated_before
    assert conn.execute("SELECT status, count(*) FROM orders GROUP BY 1").fetchall() == statuses_before


def test_sla_history_measures_agree_and_scale(bench_db: Path) -> None:
    """The app, the bare SQL and the naive pandas way find the same shipped orders in the 90-day window."""
    from bench.sla import app_history, bare_history, measure_sla_history, scaling, window

    engine = engine_for(f"sqlite:///{bench_db}")
    flt = window(str(bench_db))
    found = app_history(engine, flt)
    assert found[0] > 100 and 0 < found[1] <= found[0]
    assert bare_history(sqlite3.connect(bench_db), flt) == found
    measures, sample = measure_sla_history(engine, str(bench_db), reps=2, naive_reps=1)
    assert "DISAGREE" not in measures[0].note and measures[0].baseline_ms > 0
    same = scaling(sample, ORDERS, engine, str(bench_db), ORDERS, reps=2)
    assert same.ratio is not None and same.baseline_ms > 0
