"""``python -m bench --orders N --out FILE.json [--db PATH] [--reuse] [--scale-from 10000]``

Generates (or reuses) a SQLite database of N orders over 180 days under bench/out/, then times the queue,
the lookups, ingest and the queue page under AppTest, each beside its baseline; prints a
table and writes the JSON report.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from bench.app_page import measure_queue_page
from bench.connectors_bench import measure_carrier_poll, measure_channel_ingest
from bench.generate import BENCH_PASSWORD, BENCH_USER, DAYS, remove_database
from bench.ingest_bench import measure_ingest
from bench.measure import Measure, peak_rss_mb, table
from bench.naive import measure_in_subprocess
from bench.ops import measure_allocation, measure_ops_pages
from bench.reads import measure_reads, queue_only
from bench.sla import measure_sla_history
from bench.sla import scaling as sla_scaling
from core.db import engine_for
from core.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
RSS_TARGET_MB = 400
NAIVE_FULL_REPS_BELOW = 200_000


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def ensure_database(path: Path, orders: int, *, reuse: bool, seed: int) -> dict[str, Any]:
    """Reuse the file when asked and it holds ``orders`` orders; otherwise generate it in a child process."""
    if reuse and path.exists():
        with sqlite3.connect(path) as conn:
            have = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
            span = conn.execute("SELECT julianday(max(placed_at)) - julianday(min(placed_at)) FROM orders").fetchone()[0]
        if have == orders and span and abs(span - DAYS) < 2:
            log(f"reusing {path} ({have:,} orders)")
            return {"reused": True, "orders": have}
        log(f"{path} holds {have:,} orders over {span or 0:.0f} days, not {orders:,} over {DAYS}: generating it again")
    remove_database(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    log(f"generating {orders:,} orders into {path}")
    with tempfile.TemporaryDirectory() as tmp:
        stats_file = Path(tmp) / "stats.json"
        subprocess.run(
            [sys.executable, "-m", "bench.generate", "--orders", str(orders), "--db", str(path), "--seed", str(seed),
             "--stats", str(stats_file)],
            check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        return {"reused": False, **json.loads(stats_file.read_text())}


def planner_statistics(path: Path, analyze: bool) -> None:
    """Give SQLite's planner statistics (``--analyze``, a what-if) or take them away (as the app runs today).

    The app never runs ANALYZE, so by default the benchmark measures plans made without statistics.
    """
    with closing(sqlite3.connect(path)) as conn:
        if analyze:
            conn.execute("ANALYZE")
        elif conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
            conn.execute("DELETE FROM sqlite_stat1")
        conn.commit()


def naive_measure(db: Path, orders: int, queue: Measure, reps: int) -> Measure:
    """The app's queue page beside reading the whole table into pandas (in a child process)."""
    log(f"naive pandas queue x{reps}")
    sample, data = measure_in_subprocess(str(db), reps, warmup=1 if orders < NAIVE_FULL_REPS_BELOW else 0)
    return Measure(
        "queue first page vs naive pandas", queue.app_ms, sample.median,
        queue.app_ms / sample.median if queue.app_ms else None, "info (naive is the slow way)", None,
        app_p90=queue.app_p90, baseline_p90=sample.p90, reps=queue.reps, baseline_reps=len(sample.times_ms),
        note=f"pd.read_sql of all {orders:,} orders, filter, sort, head(50); its own process peaked at "
             f"{data['peak_rss_mb']:,.0f} MB",
    )


def scaling_measure(queue: Measure, orders: int, small: int, *, reuse: bool, seed: int, reps: int,
                    analyze: bool) -> Measure:
    """The queue first page at ``orders`` beside the same page at ``small`` orders."""
    path = OUT / f"bench_{small}.db"
    ensure_database(path, small, reuse=reuse, seed=seed)
    planner_statistics(path, analyze)
    sample = queue_only(engine_for(f"sqlite:///{path}"), reps)
    ratio = queue.app_ms / sample.median if queue.app_ms else None
    return Measure(f"queue first page {orders:,} vs {small:,} orders", queue.app_ms, sample.median, ratio,
                   "<= 2x", ratio is not None and ratio <= 2, app_p90=queue.app_p90, baseline_p90=sample.p90,
                   app_cpu_ms=queue.app_cpu_ms, baseline_cpu_ms=sample.cpu_median, reps=queue.reps,
                   baseline_reps=len(sample.times_ms),
                   note=f"baseline column: the same call on a {small:,}-order database")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every measure of one benchmark run, as the JSON report."""
    db = (args.db or OUT / f"bench_{args.orders}.db").resolve()
    started = time.perf_counter()
    load_before = os.getloadavg()
    generated = ensure_database(db, args.orders, reuse=args.reuse, seed=args.seed)
    url = f"sqlite:///{db}"
    upgrade(url)  # a reused database is brought to the current schema, as the app would
    planner_statistics(db, args.analyze)
    engine = engine_for(url)
    log(f"reads x{args.reps}")
    measures, plans = measure_reads(engine, str(db), args.reps)
    queue = measures[0]
    if args.scale_from:
        log(f"scaling: queue at {args.scale_from:,} orders")
        measures.insert(2, scaling_measure(queue, args.orders, args.scale_from, reuse=args.reuse, seed=args.seed,
                                           reps=args.reps, analyze=args.analyze))
    log(f"hold queue and inventory grid x{args.reps}")
    measures.extend(measure_ops_pages(engine, str(db), args.reps))
    log(f"SLA history x{args.reps}, beside bare SQL and naive pandas")
    sla_measures, sla_sample = measure_sla_history(engine, str(db), args.reps, naive_reps=3)
    measures.extend(sla_measures)
    if args.sla_scale_from:
        path = OUT / f"bench_{args.sla_scale_from}.db"
        ensure_database(path, args.sla_scale_from, reuse=args.reuse, seed=args.seed)
        upgrade(f"sqlite:///{path}")
        planner_statistics(path, args.analyze)
        small = engine_for(f"sqlite:///{path}")
        measures.append(sla_scaling(sla_sample, args.orders, small, str(path), args.sla_scale_from, args.reps))
        small.dispose()
    # The worker's paths before AppTest loads Streamlit and a UI session into this process: the
    # worker process holds neither, and their objects would make every garbage collection slower.
    if args.connectors:
        log(f"connectors end to end: {args.connectors:,} orders per channel, {args.connectors:,} parcels per carrier")
        measures.extend(measure_channel_ingest(args.connectors))
        measures.extend(measure_carrier_poll(args.connectors))
    log(f"ingest: {args.ingest_pages} pages of 250")
    measures.extend(measure_ingest(engine, str(db), args.ingest_pages))
    log(f"allocation: {args.alloc_orders:,} READY orders, worker job vs bare SQL")
    measures.extend(measure_allocation(engine, str(db), args.alloc_orders))
    # The naive way last but one: its child process reads gigabytes, and the memory it churns
    # pushes the database out of the page cache for whatever runs next.
    naive_reps = args.naive_reps or (args.reps if args.orders < NAIVE_FULL_REPS_BELOW else 3)
    measures.insert(1, naive_measure(db, args.orders, queue, naive_reps))
    log(f"queue page under AppTest x{args.app_runs}")
    measures.append(measure_queue_page(url, BENCH_USER, BENCH_PASSWORD, runs=args.app_runs))
    rss = peak_rss_mb()
    measures.append(Measure("peak RSS of this process", rss, target=f"<= {RSS_TARGET_MB} MB", ok=rss <= RSS_TARGET_MB,
                            unit="MB", note="ru_maxrss; generator and naive pandas run in child processes"))
    engine.dispose()
    return {
        "orders": args.orders, "database": str(db), "generate": generated, "planner_statistics": args.analyze,
        "measures": [m.as_dict() for m in measures], "peak_rss_mb": round(rss, 1),
        "passed": all(m.ok is not False for m in measures),
        "seconds": round(time.perf_counter() - started, 1),
        "machine": {"cpus": os.cpu_count(), "load_avg_before": load_before, "load_avg_after": os.getloadavg(),
                    "sqlite": sqlite3.sqlite_version, "python": sys.version.split()[0]},
        "plans": plans,
    }


def failing_plans(report: dict[str, Any]) -> str:
    """EXPLAIN QUERY PLAN of the queries behind every measure that missed its target."""
    out = []
    for m in report["measures"]:
        if m["ok"] is False and m["name"] in report["plans"]:
            out.append(f"\n{m['name']}:")
            for item in report["plans"][m["name"]]:
                out.append(f"  {item['sql'][:160]}{'...' if len(item['sql']) > 160 else ''}")
                out.extend(f"    {line}" for line in item["plan"])
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="OpsDesk benchmark harness")
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, required=True, help="JSON report to write")
    parser.add_argument("--db", type=Path, help="SQLite file (default bench/out/bench_<N>.db)")
    parser.add_argument("--reuse", action="store_true", help="reuse an existing database of N orders")
    parser.add_argument("--scale-from", type=int, help="also time the queue at this many orders")
    parser.add_argument("--sla-scale-from", type=int, default=100_000,
                        help="also time the SLA history at this many orders (0: skip)")
    parser.add_argument("--connectors", type=int, default=0, metavar="N",
                        help="also poll N sandbox orders per channel kind and N parcels per carrier, end to end "
                             "(the #4 targets use 10000; slow: the channels' own rate limits apply)")
    parser.add_argument("--reps", type=int, default=20, help="timed repetitions per measure (after a warm-up)")
    parser.add_argument("--naive-reps", type=int, help="repetitions of the naive pandas queue")
    parser.add_argument("--ingest-pages", type=int, default=20, help="timed pages of 250 orders")
    parser.add_argument("--alloc-orders", type=int, default=2_000, help="READY orders allocated per side")
    parser.add_argument("--app-runs", type=int, default=5, help="timed AppTest runs of the queue page")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--analyze", action="store_true",
                        help="what-if: run ANALYZE first (the app does not); default measures without statistics")
    args = parser.parse_args(argv)
    report = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str))
    load = report["machine"]["load_avg_before"][0], report["machine"]["load_avg_after"][0]
    print(f"\nOpsDesk benchmark: {args.orders:,} orders ({report['seconds']} s; "
          f"load average {load[0]:.1f} before, {load[1]:.1f} after, {os.cpu_count()} CPUs; "
          f"planner statistics: {'ANALYZE (what-if)' if args.analyze else 'none, as the app runs'})\n")
    print(table([Measure(**m) for m in report["measures"]]))
    gen = report["generate"]
    if not gen.get("reused"):
        print(f"\ngenerator: {gen['rows']:,} rows in {gen['seconds']:.1f} s = {gen['rows_per_s']:,} rows/s "
              f"({gen['orders_per_s']:,} orders/s, indexes {gen['index_seconds']:.1f} s, "
              f"SLA rollups {gen.get('rollup_seconds', 0):.1f} s)")
    plans = failing_plans(report)
    if plans:
        print("\nquery plans of the measures that missed their target:" + plans)
    print(f"\nJSON report: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
