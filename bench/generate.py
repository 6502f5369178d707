"""Generate a realistic OpsDesk database fast: bulk Core inserts, not ``apply_page``.

``python -m bench.generate --orders 1000000 --db bench/out/bench_1000000.db``

The schema comes from the Alembic migrations; channels and the ``bench`` user go through the
core functions, the demo's locations through the ORM; orders, lines, parcels, parcel lines,
holds (every on-hold order has its blocking hold, every backorder its BACKORDER) and events
(one ``order_received`` per order, a ``hold_opened`` per open hold) are written
with compiled Core INSERT statements run as DBAPI ``executemany`` in large transactions, with
bulk-load pragmas (no journal fsync, big page cache). Secondary indexes are dropped during
the load and rebuilt from their exact DDL afterwards (one sort per index instead of a million
random B-tree inserts). The finished file is put back in WAL mode, as the app uses it.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.dialects import sqlite as sqlite_dialect

from bench.dataset import CHANNELS, Shop
from bench.rows import (
    DAY,
    EVENT_COLS,
    HOLD_COLS,
    LINE_COLS,
    ORDER_COLS,
    SHIPMENT_COLS,
    SHIPMENT_LINE_COLS,
    Batch,
    Ids,
    OrderFactory,
    day_plan,
)
from bench.stock import add_locations, add_stock
from core.auth import add_user
from core.channels import add_channel
from core.db import engine_for, new_session, writing
from core.enums import Role
from core.migrate import upgrade
from core.models import Event, Hold, Location, Order, OrderLine, Shipment, ShipmentLine
from core.seed import DEMO_LOCATIONS
from core.sla_rollup import rebuild

BENCH_USER, BENCH_PASSWORD = "bench", "bench-pass-1"
DAYS = 180  # of history: 1M orders over half a year is a busy brand (#6 measures the SLA page on that)
BULK_TABLES = ("orders", "order_lines", "shipments", "shipment_lines", "events", "holds")
# UTC hour-of-day weights: US evenings and European days
_HOURS = (6, 5, 4, 3, 2, 1.5, 1.5, 2, 3, 4, 5, 5, 5, 6, 7, 8, 8, 8, 8, 8, 8, 8, 7, 7)

Progress = Callable[["GenerateStats"], None]


@dataclass
class GenerateStats:
    orders_target: int
    orders: int = 0
    lines: int = 0
    shipments: int = 0
    shipment_lines: int = 0
    events: int = 0
    holds: int = 0
    stock_levels: int = 0  # (location, SKU) levels, each with its opening receipt
    open_orders: int = 0
    seconds: float = 0.0
    index_seconds: float = 0.0
    rollup_seconds: float = 0.0  # the SLA history's rollups, built as the worker would
    done: bool = False

    @property
    def rows(self) -> int:
        return self.orders + self.lines + self.shipments + self.shipment_lines + self.events + self.holds

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {**asdict(self), "rows": self.rows, "rows_per_s": round(self.rows_per_s),
                "orders_per_s": round(self.orders / self.seconds) if self.seconds else 0}


def sqlite_path(url: str) -> Path:
    """The file behind a ``sqlite:///`` URL."""
    if not url.startswith("sqlite:///"):
        raise ValueError("the generator writes SQLite files only (sqlite:///PATH)")
    return Path(url.removeprefix("sqlite:///"))


def _insert_sql(model: type, cols: tuple[str, ...]) -> str:
    compiled = insert(model.__table__).compile(  # type: ignore[attr-defined]
        dialect=sqlite_dialect.dialect(paramstyle="qmark"), column_keys=list(cols))
    if compiled.positiontup != list(cols):
        raise RuntimeError(f"column order of {model.__name__} changed; update bench/rows.py")
    return str(compiled)


# Batch attribute -> compiled Core INSERT (qmark parameters in the column order of bench.rows)
INSERT_SQL: dict[str, str] = {
    "orders": _insert_sql(Order, ORDER_COLS),
    "lines": _insert_sql(OrderLine, LINE_COLS),
    "shipments": _insert_sql(Shipment, SHIPMENT_COLS),
    "shipment_lines": _insert_sql(ShipmentLine, SHIPMENT_LINE_COLS),
    "events": _insert_sql(Event, EVENT_COLS),
    "holds": _insert_sql(Hold, HOLD_COLS),
}


def _prepare(url: str) -> list[int]:
    """Migrate, add the channels and the bench user through core; return the channel ids."""
    upgrade(url)
    engine = engine_for(url)
    with new_session(engine) as session:
        ids = [
            add_channel(session, spec.code, kind=spec.kind, name=spec.name, base_url=f"http://127.0.0.1:8900/{spec.code}",
                        token_env=f"BENCH_{spec.code.upper().replace('-', '_')}_TOKEN", sla_policy=spec.sla_policy,
                        poll_interval_s=60).id
            for spec in CHANNELS
        ]
        add_user(session, BENCH_USER, BENCH_PASSWORD, Role.OPS_LEAD, display_name="Bench ops lead")
        with writing(session):  # the demo's locations: every generated country is in some zone
            for code, name, kind, country, region, tz, zones, priority in DEMO_LOCATIONS:
                session.add(Location(code=code, name=name, kind=kind, country=country, region=region, timezone=tz,
                                     zones=zones, priority=priority, active=True))
    engine.dispose()  # the bulk load wants the file to itself
    return ids


def _next_ids(conn: sqlite3.Connection) -> Ids:
    def nxt(table: str) -> int:
        return (conn.execute(f"SELECT max(id) FROM {table}").fetchone()[0] or 0) + 1  # noqa: S608

    return Ids(order=nxt("orders"), line=nxt("order_lines"), shipment=nxt("shipments"),
               shipment_line=nxt("shipment_lines"), event=nxt("events"), hold=nxt("holds"))


def _drop_indexes(conn: sqlite3.Connection) -> list[str]:
    """Drop the secondary indexes of the bulk tables; return their exact DDL to rebuild them."""
    marks = ",".join("?" * len(BULK_TABLES))
    rows = conn.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({marks})",
        BULK_TABLES,
    ).fetchall()
    for name, _sql in rows:
        conn.execute(f'DROP INDEX "{name}"')
    return [sql for _name, sql in rows]


def _times(rng: random.Random, start: int, count: int) -> list[int]:
    """``count`` sorted placed-at times inside the 24 h window starting at ``start`` (hour aligned)."""
    hours = rng.choices(range(24), weights=_HOURS, k=count)
    base = start % DAY
    return sorted(start + (h * 3600 - base) % DAY + rng.randrange(3600) for h in hours)


def _write(conn: sqlite3.Connection, batch: Batch, stats: GenerateStats) -> None:
    conn.execute("BEGIN")
    for key, sql in INSERT_SQL.items():
        rows = getattr(batch, key)
        if rows:
            conn.executemany(sql, rows)
    conn.execute("COMMIT")
    stats.orders += len(batch.orders)
    stats.lines += len(batch.lines)
    stats.shipments += len(batch.shipments)
    stats.shipment_lines += len(batch.shipment_lines)
    stats.events += len(batch.events)
    stats.holds += len(batch.holds)
    stats.open_orders += batch.open_orders


def _report(stats: GenerateStats, started: float, progress: Progress | None) -> None:
    stats.seconds = time.perf_counter() - started
    if progress:
        progress(stats)


def generate(
    url: str, orders: int = 1_000_000, seed: int = 1, progress: Progress | None = None, *,
    now: int | None = None, days: int = DAYS, batch_orders: int = 10_000, defer_indexes: bool = True,
) -> GenerateStats:
    """Fill a new SQLite database at ``url`` with ``orders`` orders over ``days`` days ending ``now``.

    ``now`` (epoch seconds, default the current hour) anchors the data: open orders are the recent ones.
    """
    path = sqlite_path(url)
    if path.exists() and path.stat().st_size:
        raise FileExistsError(f"{path} exists; the generator only fills a new database")
    path.parent.mkdir(parents=True, exist_ok=True)
    now_ts = (now if now is not None else int(time.time())) // 3600 * 3600
    started = time.perf_counter()
    channel_ids = _prepare(url)
    stats = GenerateStats(orders_target=orders)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in ("journal_mode=MEMORY", "synchronous=OFF", "cache_size=-1048576", "temp_store=MEMORY",
                       "locking_mode=EXCLUSIVE", "foreign_keys=OFF"):
            conn.execute(f"PRAGMA {pragma}")
        index_sql = _drop_indexes(conn) if defer_indexes else []
        factory = OrderFactory(Shop(seed), channel_ids, now_ts, _next_ids(conn),
                               customers=max(50, int(orders * 0.4)), seed=seed)
        rng = random.Random(seed)
        pending: list[int] = []
        plan = day_plan(orders, days, now_ts)
        for i, (start, count) in enumerate(plan):
            pending.extend(_times(rng, start, count))
            if len(pending) >= batch_orders or (i == len(plan) - 1 and pending):
                _write(conn, factory.build(pending), stats)
                pending = []
                _report(stats, started, progress)
        index_started = time.perf_counter()
        for sql in index_sql:
            conn.execute(sql)
        stats.index_seconds = time.perf_counter() - index_started
        add_locations(conn)
        stats.stock_levels = add_stock(conn, factory.shop, now_ts, seed)
        _report(stats, started, progress)
        conn.execute("PRAGMA locking_mode=NORMAL")
        conn.execute("PRAGMA journal_mode=WAL")  # as the app runs it
    finally:
        conn.close()
    rollup_started = time.perf_counter()
    with new_session(engine_for(url)) as session:  # what the worker's first refresh would do
        rebuild(session, now=datetime.fromtimestamp(now_ts, UTC))
    stats.rollup_seconds = time.perf_counter() - rollup_started
    stats.seconds = time.perf_counter() - started
    stats.done = True
    if progress:
        progress(stats)
    return stats


def print_progress(stats: GenerateStats) -> None:
    """Progress line on stderr: % done, rows/s, orders/s and ETA."""
    done = stats.orders / stats.orders_target if stats.orders_target else 1.0
    rate = stats.orders / stats.seconds if stats.seconds else 0.0
    eta = (stats.orders_target - stats.orders) / rate if rate else 0.0
    phase = "done" if stats.done else f"ETA {eta:5.0f}s (+indexes)"
    print(f"[generate] {stats.orders:>9,}/{stats.orders_target:,} orders {done:6.1%}  "
          f"{stats.rows_per_s:>9,.0f} rows/s  {rate:>7,.0f} orders/s  {stats.seconds:6.1f}s  {phase}",
          file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, required=True, help="SQLite file to create")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=DAYS, help=f"days of history ending now (default {DAYS})")
    parser.add_argument("--force", action="store_true", help="replace an existing file")
    parser.add_argument("--stats", type=Path, help="also write the statistics as JSON here")
    args = parser.parse_args(argv)
    if args.force:
        remove_database(args.db)
    stats = generate(f"sqlite:///{args.db.resolve()}", orders=args.orders, seed=args.seed, days=args.days,
                     progress=print_progress)
    summary = stats.as_dict()
    print(json.dumps(summary), file=sys.stderr)
    if args.stats:
        args.stats.write_text(json.dumps(summary, indent=2))
    return 0


def remove_database(path: Path) -> None:
    """Delete a SQLite file and its WAL/SHM companions."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


if __name__ == "__main__":
    raise SystemExit(main())
