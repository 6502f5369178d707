"""Timing helpers, the measure record, the targets, and the printed table."""

from __future__ import annotations

import gc
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Sample:
    """Wall-clock times of repeated calls, in milliseconds, and the CPU time this process spent in them.

    On a busy machine the wall clock includes waiting for a core; the CPU time does not.
    """

    times_ms: list[float]
    cpu_ms: list[float] = field(default_factory=list)

    @property
    def cpu_median(self) -> float | None:
        return statistics.median(self.cpu_ms) if self.cpu_ms else None

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def min(self) -> float:
        return min(self.times_ms)

    @property
    def p90(self) -> float:
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, max(0, round(0.9 * len(ordered)) - 1))]


def time_calls(fn: Callable[[], Any], reps: int, warmup: int = 1) -> Sample:
    """Call ``fn`` ``warmup`` times untimed, then ``reps`` times timed."""
    for _ in range(warmup):
        fn()
    gc.collect()
    times, cpu = [], []
    for _ in range(reps):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return Sample(times, cpu)


@dataclass
class Measure:
    """One row of the report. ``app_ms``/``baseline_ms`` hold medians in ``unit`` (ms unless stated)."""

    name: str
    app_ms: float | None
    baseline_ms: float | None = None
    ratio: float | None = None
    target: str = ""
    ok: bool | None = None  # None: informational, or skipped
    unit: str = "ms"
    app_p90: float | None = None
    baseline_p90: float | None = None
    app_min: float | None = None  # the least disturbed call: a hint when the machine is busy
    baseline_min: float | None = None
    app_cpu_ms: float | None = None  # median CPU time of this process (no waiting for a core)
    baseline_cpu_ms: float | None = None
    reps: int = 0
    baseline_reps: int = 0
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("app_ms", "baseline_ms", "ratio", "app_p90", "baseline_p90", "app_min", "baseline_min",
                    "app_cpu_ms", "baseline_cpu_ms"):
            if data[key] is not None:
                data[key] = round(data[key], 3)
        return data


QUEUE_TARGET = "<= 50 ms and <= 1.5x SQL (or <= SQL + 3 ms)"
LOOKUP_TARGET = "<= 20 ms"


def queue_measure(name: str, app: Sample, sql: Sample, note: str = "") -> Measure:
    """A queue page beside its bare SQL: fast in absolute terms and little overhead over the SQL."""
    a, b = app.median, sql.median
    ok = a <= 50 and (a <= 1.5 * b or a - b <= 3)
    return Measure(name, a, b, a / b if b else None, QUEUE_TARGET, ok, app_p90=app.p90, baseline_p90=sql.p90,
                   app_min=app.min, baseline_min=sql.min, app_cpu_ms=app.cpu_median, baseline_cpu_ms=sql.cpu_median,
                   reps=len(app.times_ms), baseline_reps=len(sql.times_ms), note=note)


def lookup_measure(name: str, app: Sample, sql: Sample, note: str = "") -> Measure:
    a, b = app.median, sql.median
    return Measure(name, a, b, a / b if b else None, LOOKUP_TARGET, a <= 20, app_p90=app.p90, baseline_p90=sql.p90,
                   app_min=app.min, baseline_min=sql.min, app_cpu_ms=app.cpu_median, baseline_cpu_ms=sql.cpu_median,
                   reps=len(app.times_ms), baseline_reps=len(sql.times_ms), note=note)


@dataclass(frozen=True)
class Waits:
    """What a stretch of this process's work waited on: storage I/O and the scheduler (Linux)."""

    read_mb: float  # bytes the process made storage read (not served from the page cache)
    written_mb: float  # bytes it sent to storage (WAL, checkpoints)
    blocked: int  # voluntary context switches: waited on I/O or a lock
    preempted: int  # involuntary ones: another process had the core

    @staticmethod
    def now() -> Waits:
        io = {}
        try:
            with open("/proc/self/io") as fh:
                io = dict(line.split(": ") for line in fh.read().splitlines())
        except OSError:
            pass
        use = resource.getrusage(resource.RUSAGE_SELF)
        return Waits(int(io.get("read_bytes", 0)) / 1e6, int(io.get("write_bytes", 0)) / 1e6, use.ru_nvcsw, use.ru_nivcsw)

    def __sub__(self, start: Waits) -> Waits:
        return Waits(self.read_mb - start.read_mb, self.written_mb - start.written_mb, self.blocked - start.blocked,
                     self.preempted - start.preempted)

    def __add__(self, other: Waits) -> Waits:
        return Waits(self.read_mb + other.read_mb, self.written_mb + other.written_mb, self.blocked + other.blocked,
                     self.preempted + other.preempted)

    def __str__(self) -> str:
        return (f"storage read {self.read_mb:,.0f} MB, written {self.written_mb:,.0f} MB; blocked {self.blocked:,}x, "
                f"preempted {self.preempted:,}x")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _num(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:,.2f} ms" if value < 100 else f"{value:,.0f} ms"
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:,.2f} {unit}"


def table(measures: list[Measure]) -> str:
    """The report as an aligned text table."""
    head = ("measure", "app (median)", "baseline (median)", "ratio", "target", "pass", "cpu app / baseline")
    rows = [head]
    for m in measures:
        verdict = "PASS" if m.ok else "FAIL" if m.ok is False else ("skip" if m.app_ms is None else "info")
        ratio = f"{m.ratio:,.2f}x" if m.ratio is not None else "-"
        cpu = f"{_num(m.app_cpu_ms, 'ms')} / {_num(m.baseline_cpu_ms, 'ms')}" if m.app_cpu_ms is not None else ""
        rows.append((m.name, _num(m.app_ms, m.unit), _num(m.baseline_ms, m.unit), ratio, m.target, verdict, cpu))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i in (0, 4, 5) else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip() for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    notes = [f"  - {m.name}: {m.note}" for m in measures if m.note]
    return "\n".join(lines + (["", "notes:", *notes] if notes else []))
