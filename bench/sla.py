"""The SLA page's history for a 90-day window: the app (rollups) beside bare SQL and the naive pandas way.

The app's call is what the page runs: on-time ship rate per local day (New York, so the
window's edges are partial UTC days) and p50 / p90 of placed -> shipped and shipped ->
delivered by channel, location and carrier. The bare SQL computes the same from the orders
and shipments tables with window functions; the naive way reads both tables into pandas in
a child process. All three must find the same number of orders shipped and on time.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bench.measure import Measure, Sample, time_calls
from core.db import new_session
from core.sla_history import HistoryFilter, all_durations, on_time_by_day
from core.sqltime import local_bounds

ROOT = Path(__file__).resolve().parent.parent
TZ = "America/New_York"
WINDOW_DAYS = 90
TARGET_MS = 300
TARGET = f"<= {TARGET_MS} ms and >= 20x faster than naive"

# Orders whose last parcel left in the window, on time or not; then per-parcel times ranked per channel.
BARE_ON_TIME = """
SELECT strftime('%Y-%m-%d %H', l.shipped_at) AS hour, count(*), sum(l.shipped_at <= o.ship_by)
FROM (SELECT order_id, shipped_at,
             row_number() OVER (PARTITION BY order_id ORDER BY shipped_at DESC, id DESC) AS rn
      FROM shipments WHERE order_id IN (SELECT order_id FROM shipments WHERE shipped_at >= ? AND shipped_at < ?)) AS l
JOIN orders AS o ON o.id = l.order_id
WHERE l.rn = 1 AND l.shipped_at >= ? AND l.shipped_at < ? AND o.status IN ('shipped', 'delivered')
GROUP BY hour
"""
BARE_TIMES = """
SELECT grp, v, n FROM (
  SELECT grp, v, row_number() OVER (PARTITION BY grp ORDER BY v) AS rn, count(*) OVER (PARTITION BY grp) AS n
  FROM (SELECT {group} AS grp, (julianday({end}) - julianday({start})) * 24 AS v
        FROM shipments AS s JOIN orders AS o ON o.id = s.order_id
        WHERE s.shipped_at >= ? AND s.shipped_at < ? AND {end} IS NOT NULL))
WHERE rn = (n * 500 + 999) / 1000 OR rn = (n * 900 + 999) / 1000
"""


def window(db_path: str) -> HistoryFilter:
    """The 90 local days up to the day of the last parcel in the database."""
    conn = sqlite3.connect(db_path)
    try:
        last = conn.execute("SELECT max(shipped_at) FROM shipments").fetchone()[0]
    finally:
        conn.close()
    end = datetime.fromisoformat(last).replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(TZ)).date()
    return HistoryFilter(start=end - timedelta(days=WINDOW_DAYS - 1), end=end, tz=TZ)


def app_history(engine: Engine, flt: HistoryFilter) -> tuple[int, int]:
    """What the SLA page's history section reads; returns (orders shipped, on time) to compare."""
    with new_session(engine) as session:
        days = on_time_by_day(session, flt)
        all_durations(session, flt)
    return int(days["shipped"].sum()), int(days["on_time"].sum())


def _stamp(at: datetime) -> str:
    return at.replace(tzinfo=None).isoformat(" ", "microseconds")


def bare_history(conn: sqlite3.Connection, flt: HistoryFilter) -> tuple[int, int]:
    begin, end = (_stamp(t) for t in local_bounds(flt.start, flt.end, flt.tz))
    hours = conn.execute(BARE_ON_TIME, (begin, end, begin, end)).fetchall()
    for group in ("o.channel_id", "s.location_id", "s.carrier"):
        for start_col, end_col in (("o.placed_at", "s.shipped_at"), ("s.shipped_at", "s.delivered_at")):
            conn.execute(BARE_TIMES.format(group=group, start=start_col, end=end_col), (begin, end)).fetchall()
    return sum(h[1] for h in hours), sum(h[2] for h in hours)


def naive_in_subprocess(db_path: str, flt: HistoryFilter, reps: int) -> tuple[Sample, dict[str, object]]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.sla_naive", "--db", db_path, "--start", flt.start.isoformat(),
         "--end", flt.end.isoformat(), "--tz", flt.tz, "--reps", str(reps)],
        check=True, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return Sample(data["times_ms"]), data


def measure_sla_history(engine: Engine, db_path: str, reps: int, naive_reps: int) -> tuple[list[Measure], Sample]:
    """The history beside the naive pandas way and beside bare SQL; also returns the app's sample for scaling."""
    flt = window(db_path)
    found = app_history(engine, flt)
    app = time_calls(lambda: app_history(engine, flt), reps)
    naive, data = naive_in_subprocess(db_path, flt, naive_reps)
    naive_found = (data["found"]["shipped"], data["found"]["on_time"])  # type: ignore[index]
    conn = sqlite3.connect(db_path)
    try:
        bare_found = bare_history(conn, flt)
        bare = time_calls(lambda: bare_history(conn, flt), max(3, reps // 4), warmup=0)
    finally:
        conn.close()
    span = f"{flt.start} .. {flt.end} ({flt.tz})"
    agree = "" if found == naive_found == bare_found else \
        f"; DISAGREE: app {found}, naive {naive_found}, bare SQL {bare_found}"
    speedup = naive.median / app.median
    versus_naive = Measure(
        f"SLA history, {WINDOW_DAYS} days, vs naive pandas", app.median, naive.median, app.median / naive.median,
        TARGET, app.median <= TARGET_MS and speedup >= 20 and not agree,
        app_p90=app.p90, baseline_p90=naive.p90, app_min=app.min, app_cpu_ms=app.cpu_median, reps=len(app.times_ms),
        baseline_reps=len(naive.times_ms),
        note=f"{span}: {found[0]:,} orders shipped, {found[1]:,} on time; {speedup:,.0f}x faster than reading "
             f"orders and parcels into pandas (its process peaked at {data['peak_rss_mb']:,.0f} MB){agree}")
    versus_sql = Measure(
        f"SLA history, {WINDOW_DAYS} days, vs bare SQL on the source tables", app.median, bare.median,
        app.median / bare.median, "info (the SQL reads every parcel)", None, app_p90=app.p90, baseline_p90=bare.p90,
        reps=len(app.times_ms), baseline_reps=len(bare.times_ms),
        note="the app reads the worker's rollups for whole days and the source tables for the partial edges")
    return [versus_naive, versus_sql], app


def scaling(app_big: Sample, big: int, small_engine: Engine, small_path: str, small: int, reps: int) -> Measure:
    """The same history at ``small`` orders: the time at ``big`` must stay within 2x."""
    flt = window(small_path)
    sample = time_calls(lambda: app_history(small_engine, flt), reps)
    ratio = app_big.median / sample.median
    return Measure(f"SLA history {big:,} vs {small:,} orders", app_big.median, sample.median, ratio, "<= 2x",
                   ratio <= 2, app_p90=app_big.p90, baseline_p90=sample.p90, reps=len(app_big.times_ms),
                   baseline_reps=len(sample.times_ms),
                   note=f"baseline column: the same call on a {small:,}-order database ({flt.start} .. {flt.end})")

