"""The naive queue: read the whole orders table into pandas, then filter, sort and take 50.

Run in its own process (``python -m bench.naive --db PATH --reps N``) so its memory does not
count against the harness: it prints one JSON line with its times and its own peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from bench.measure import Sample, peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent


def naive_queue(conn: sqlite3.Connection) -> tuple[pd.DataFrame, int]:
    """First page and total of the queue the way a quick script would do it."""
    orders = pd.read_sql("SELECT * FROM orders", conn)
    channels = pd.read_sql("SELECT id AS channel_id, code AS channel FROM channels", conn)
    open_orders = orders[orders["is_open"] == 1]
    page = open_orders.sort_values(["ship_by", "placed_at", "id"]).head(50).merge(channels, on="channel_id")
    return page, len(open_orders)


def run(db: str, reps: int, warmup: int) -> dict[str, object]:
    conn = sqlite3.connect(db)
    try:
        for _ in range(warmup):
            naive_queue(conn)
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            page, total = naive_queue(conn)
            times.append((time.perf_counter() - start) * 1000)
    finally:
        conn.close()
    return {"times_ms": times, "first_ids": [int(i) for i in page["id"]], "total": total,
            "peak_rss_mb": peak_rss_mb()}


def measure_in_subprocess(db: str, reps: int, warmup: int) -> tuple[Sample, dict[str, object]]:
    """Run the naive queue in a child process; its times and what it reported."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.naive", "--db", db, "--reps", str(reps), "--warmup", str(warmup)],
        check=True, capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return Sample(data["times_ms"]), data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.naive")
    parser.add_argument("--db", required=True)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=0)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.db, args.reps, args.warmup)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
