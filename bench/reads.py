"""The read paths: the queue page and the lookups through core, each beside hand-written SQL.

The bare SQL is the same query as ``core.queries`` builds it (same WHERE, ORDER BY, LIMIT and
count) typed out by hand and run on a plain ``sqlite3`` connection, so the ratio is the cost of
everything above the database: SQLAlchemy, the session, building the DataFrame. As written by hand it has a literal
``LIMIT 50`` where SQLAlchemy binds ``LIMIT ? OFFSET ?``; when SQLite picks a different plan
for the two, the ratio shows it (the report carries the app's plans). Each measure also checks
that both return the same orders, so a change in core that the SQL here does not follow shows
up as "APP AND SQL DISAGREE".
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event

from bench.measure import Measure, Sample, lookup_measure, queue_measure, time_calls
from core import search
from core.db import new_session
from core.enums import OrderStatus
from core.queries import QueueFilter, find_orders, order_queue

ROW_SQL = ("SELECT o.id, o.number, c.code, o.status, o.customer_name, o.email, o.ship_country, o.total, "
           "o.currency, o.placed_at, o.ship_by FROM orders AS o JOIN channels AS c ON c.id = o.channel_id")


def raw_connection(path: str) -> sqlite3.Connection:
    """A bare DBAPI connection with the app's connection settings (WAL, NORMAL sync)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=15000")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def search_sql(term: str) -> tuple[str, list[Any]]:
    """``core.queries.search_condition`` written out by hand: the id is in a UNION of index look-ups."""
    raw = term.strip()[:200]
    text = search.norm_text(raw) or ""
    tracking = sorted({raw, raw.upper()})  # the app's set: one value when the term is upper case already
    parts = ["SELECT id FROM orders WHERE search_number = ?",
             "SELECT id FROM orders WHERE channel_id IN (SELECT id FROM channels) AND external_id = ?",
             f"SELECT order_id FROM shipments WHERE tracking_number IN ({','.join('?' * len(tracking))})"]
    params: list[Any] = [search.norm_number(raw), raw, *tracking]
    if text:
        for col in ("search_email", "search_name", "search_last"):
            parts.append(f"SELECT id FROM orders WHERE {col} >= ? AND {col} < ?")
            params += [text, search.prefix_upper_bound(text)]
    digits = search.phone_key(raw)
    if digits and len(digits) >= 5 and len(digits) >= len(raw.replace(" ", "")) * 0.6:
        parts.append("SELECT id FROM orders WHERE search_phone_rev >= ? AND search_phone_rev < ?")
        params += [digits, search.prefix_upper_bound(digits)]
    return f"o.id IN ({' UNION '.join(parts)})", params


@dataclass(frozen=True)
class QueueCase:
    name: str
    flt: QueueFilter
    where: str
    params: tuple[Any, ...] = ()


def bare_queue(conn: sqlite3.Connection, where: str, params: tuple[Any, ...]) -> tuple[list[tuple], int]:
    """First page and total of the queue, in one read transaction like the app's session."""
    conn.execute("BEGIN")
    rows = conn.execute(f"{ROW_SQL} WHERE {where} ORDER BY o.ship_by, o.placed_at, o.id LIMIT 50 OFFSET 0",
                        params).fetchall()
    total = conn.execute(f"SELECT count(*) FROM (SELECT o.id FROM orders AS o WHERE {where} LIMIT 1001)",
                         params).fetchone()[0]
    total = min(total, 1_000)  # the app's count on page 1: a thousand ahead
    conn.execute("COMMIT")
    return rows, total


def bare_lookup(conn: sqlite3.Connection, term: str) -> list[tuple]:
    where, params = search_sql(term)
    conn.execute("BEGIN")
    rows = conn.execute(f"{ROW_SQL} WHERE {where} ORDER BY o.placed_at DESC LIMIT 50", params).fetchall()
    conn.execute("COMMIT")
    return rows


def app_queue(engine: Engine, flt: QueueFilter) -> tuple[list[int], int]:
    """The queue as the page gets it: a session for the run, ``order_queue`` page 1 of 50."""
    with new_session(engine) as session:
        page = order_queue(session, flt, page=1, page_size=50)
    return list(page.rows["id"]) if not page.rows.empty else [], page.total


def app_lookup(engine: Engine, term: str) -> list[int]:
    with new_session(engine) as session:
        frame = find_orders(session, term)
    return list(frame["id"]) if not frame.empty else []


@contextmanager
def captured_sql(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the engine runs inside the block, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def grab(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", grab)


def query_plans(engine: Engine, conn: sqlite3.Connection, call: Callable[[], Any]) -> list[dict[str, Any]]:
    """EXPLAIN QUERY PLAN of each SELECT that ``call`` makes through the app."""
    with captured_sql(engine) as seen:
        call()
    plans = []
    for statement, params in seen:
        rows = conn.execute(f"EXPLAIN QUERY PLAN {statement}", params).fetchall()
        plans.append({"sql": " ".join(statement.split()), "plan": [r[-1] for r in rows]})
    return plans


def queue_cases(conn: sqlite3.Connection) -> list[QueueCase]:
    """The queue as it is opened, and filtered by one channel, one status and a customer's name."""
    channel_id = conn.execute("SELECT id FROM channels WHERE code = 'shop-us'").fetchone()
    channel_id = channel_id[0] if channel_id else conn.execute("SELECT min(id) FROM channels").fetchone()[0]
    name = conn.execute(  # the last name of a customer with an open order, as support would type it
        "SELECT search_last FROM orders WHERE is_open = 1 AND search_last IS NOT NULL "
        "ORDER BY id LIMIT 1 OFFSET (SELECT count(*) / 2 FROM orders WHERE is_open = 1)").fetchone()
    last = name[0] if name else "smith"
    text_where, text_params = search_sql(last)
    return [
        QueueCase("queue first page", QueueFilter(), "o.is_open = 1"),
        QueueCase("queue by channel", QueueFilter(channel_ids=(channel_id,)),
                  "o.is_open = 1 AND o.channel_id IN (?)", (channel_id,)),
        QueueCase("queue by status (on hold)", QueueFilter(statuses=(OrderStatus.ON_HOLD,)),
                  "o.status IN (?)", (OrderStatus.ON_HOLD.value,)),
        QueueCase(f"queue text search ({last!r})", QueueFilter(text=last),
                  f"o.is_open = 1 AND {text_where}", tuple(text_params)),
    ]


def lookup_terms(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(what, term) pairs taken from orders in the middle of the data, as a customer would quote them."""
    total = conn.execute("SELECT max(id) FROM orders").fetchone()[0] or 1

    def pick(sql: str, fraction: float) -> str:
        row = conn.execute(sql, (int(total * fraction),)).fetchone()
        if row is None:
            raise LookupError(f"no data for: {sql}")
        return row[0]

    email = pick("SELECT email FROM orders WHERE id >= ? AND email NOT LIKE '%@marketplace.amazon.com' "
                 "ORDER BY id LIMIT 1", 0.41)
    number = pick("SELECT number FROM orders WHERE id >= ? AND number LIKE '#%' ORDER BY id LIMIT 1", 0.52)
    tracking = pick("SELECT tracking_number FROM shipments WHERE order_id >= ? ORDER BY order_id LIMIT 1", 0.63)
    name = pick("SELECT customer_name FROM orders WHERE id >= ? ORDER BY id LIMIT 1", 0.74)
    phone = pick("SELECT phone FROM orders WHERE id >= ? AND phone LIKE '+1 %' ORDER BY id LIMIT 1", 0.85)
    digits = "".join(ch for ch in phone if ch.isdigit())[-7:]
    last = pick("SELECT search_last FROM orders WHERE id >= ? AND search_last IS NOT NULL ORDER BY id LIMIT 1",
                0.3)
    return [("email", email), ("order number", number), ("tracking number", tracking), ("name", name),
            ("phone fragment", f"{digits[:3]}-{digits[3:]}"), ("last name only", last.capitalize())]


def measure_reads(engine: Engine, db_path: str, reps: int) -> tuple[list[Measure], dict[str, Any]]:
    """Queue pages and lookups, app beside bare SQL; also their query plans."""
    conn = raw_connection(db_path)
    measures, plans = [], {}
    try:
        for case in queue_cases(conn):
            app_ids, app_total = app_queue(engine, case.flt)
            sql_rows, sql_total = bare_queue(conn, case.where, case.params)
            same = app_ids == [r[0] for r in sql_rows] and app_total == sql_total
            app = time_calls(lambda c=case: app_queue(engine, c.flt), reps)
            sql = time_calls(lambda c=case: bare_queue(conn, c.where, c.params), reps)
            note = f"{app_total:,} matching orders" + ("" if same else "; APP AND SQL DISAGREE")
            measures.append(queue_measure(case.name, app, sql, note))
            plans[case.name] = query_plans(engine, conn, lambda c=case: app_queue(engine, c.flt))
        for what, term in lookup_terms(conn):
            app_ids = app_lookup(engine, term)
            sql_ids = [r[0] for r in bare_lookup(conn, term)]
            app = time_calls(lambda t=term: app_lookup(engine, t), reps)
            sql = time_calls(lambda t=term: bare_lookup(conn, t), reps)
            note = f"{term!r}: {len(app_ids)} found" + ("" if app_ids == sql_ids else "; APP AND SQL DISAGREE")
            if not app_ids:
                note += "; NOTHING FOUND"
            name = f"lookup by {what}"
            measures.append(lookup_measure(name, app, sql, note))
            plans[name] = query_plans(engine, conn, lambda t=term: app_lookup(engine, t))
    finally:
        conn.close()
    return measures, plans


def queue_only(engine: Engine, reps: int) -> Sample:
    """The queue first page alone (for the scaling comparison)."""
    return time_calls(lambda: app_queue(engine, QueueFilter()), reps)
