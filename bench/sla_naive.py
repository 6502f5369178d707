"""The SLA history the naive way: read orders and parcels into pandas, then group.

Run in its own process (``python -m bench.sla_naive --db PATH --start D --end D --tz Z``) so its
memory does not count against the harness; prints one JSON line with its times, what it
found (to compare with the app) and its own peak RSS.
"""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
import time
from datetime import date

import pandas as pd

from bench.measure import peak_rss_mb
from core.sqltime import local_bounds


def naive_history(conn: sqlite3.Connection, start: date, end: date, tz: str) -> dict[str, object]:
    """On-time ship rate per local day and p50 / p90 placed -> shipped per channel, as a quick script would."""
    orders = pd.read_sql("SELECT id, channel_id, status, placed_at, ship_by FROM orders", conn,
                         parse_dates=["placed_at", "ship_by"])
    parcels = pd.read_sql("SELECT order_id, location_id, carrier, shipped_at, delivered_at FROM shipments", conn,
                          parse_dates=["shipped_at", "delivered_at"])
    begin, stop = (t.replace(tzinfo=None) for t in local_bounds(start, end, tz))
    last = parcels.sort_values("shipped_at").groupby("order_id").tail(1).merge(
        orders, left_on="order_id", right_on="id")
    last = last[last["status"].isin(["shipped", "delivered"]) & (last["shipped_at"] >= begin)
                & (last["shipped_at"] < stop)]
    last = last.assign(day=last["shipped_at"].dt.tz_localize("UTC").dt.tz_convert(tz).dt.date,
                       on_time=last["shipped_at"] <= last["ship_by"])
    days = last.groupby("day")["on_time"].agg(["count", "sum"])
    window = parcels[(parcels["shipped_at"] >= begin) & (parcels["shipped_at"] < stop)].merge(
        orders, left_on="order_id", right_on="id")
    window = window.assign(to_ship=(window["shipped_at"] - window["placed_at"]).dt.total_seconds() / 3600,
                           to_deliver=(window["delivered_at"] - window["shipped_at"]).dt.total_seconds() / 3600)
    times = {}
    for dim in ("channel_id", "location_id", "carrier"):
        grouped = window.groupby(dim)[["to_ship", "to_deliver"]].quantile([0.5, 0.9])
        times[dim] = len(grouped)
    return {"shipped": int(days["count"].sum()), "on_time": int(days["sum"].sum()), "days": len(days),
            "parcels": len(window), "groups": times}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sla_naive")
    parser.add_argument("--db", required=True)
    parser.add_argument("--start", type=date.fromisoformat, required=True)
    parser.add_argument("--end", type=date.fromisoformat, required=True)
    parser.add_argument("--tz", default="UTC")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    conn = sqlite3.connect(args.db)
    times, found = [], {}
    try:
        for _ in range(args.reps):
            began = time.perf_counter()
            found = naive_history(conn, args.start, args.end, args.tz)
            times.append((time.perf_counter() - began) * 1000)
    finally:
        conn.close()
    print(json.dumps({"times_ms": times, "found": found, "peak_rss_mb": peak_rss_mb(),
                      "ok": all(math.isfinite(t) for t in times)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
