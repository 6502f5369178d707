"""The whole queue page, run by Streamlit's AppTest against the benchmark database."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.measure import Measure, Sample

ROOT = Path(__file__).resolve().parent.parent
APP_TARGET = "<= 1,000 ms"


def _skip(why: str) -> Measure:
    return Measure("queue page under AppTest", None, target=APP_TARGET, ok=None, note=f"SKIPPED: {why}")


def measure_queue_page(url: str, user: str, password: str, runs: int = 5) -> Measure:
    """Sign in as an ops lead, land on the queue, then time ``at.run()`` of that page (median of ``runs``)."""
    app, queue = ROOT / "app.py", ROOT / "pages" / "queue.py"
    missing = [p.name for p in (app, queue) if not p.exists()]
    if missing:
        return _skip(f"{' and '.join(missing)} not written yet")
    from streamlit.testing.v1 import AppTest

    before = os.environ.get("OPSDESK_DATABASE_URL")
    os.environ["OPSDESK_DATABASE_URL"] = url
    try:
        at = AppTest.from_file(str(app), default_timeout=120)
        at.run()
        inputs = {t.label.lower(): t for t in at.text_input}
        if "username" not in inputs or "password" not in inputs or not len(at.button):
            return _skip(f"no login form found (inputs: {sorted(inputs)})")
        inputs["username"].input(user)
        inputs["password"].input(password)
        at.button[0].click().run()
        titles = [t.value for t in at.title]
        if "Order queue" not in titles:
            at.switch_page("pages/queue.py").run()
            titles = [t.value for t in at.title]
        if "Order queue" not in titles or len(at.exception):
            errors = [e.value for e in at.exception] + [e.value for e in at.error]
            return _skip(f"did not reach the queue page (titles {titles}, errors {errors})")
        at.run()  # warm-up
        times, cpu = [], []
        for _ in range(runs):
            start, start_cpu = time.perf_counter(), time.process_time()
            at.run()
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
        if len(at.exception):
            return _skip(f"the page raised: {at.exception[0].value}")
        captions = [c.value for c in at.caption if "Showing" in str(c.value)]
        rows = at.dataframe[0].value.shape[0] if len(at.dataframe) else 0
    finally:
        if before is None:
            os.environ.pop("OPSDESK_DATABASE_URL", None)
        else:
            os.environ["OPSDESK_DATABASE_URL"] = before
    sample = Sample(times, cpu)
    return Measure("queue page under AppTest", sample.median, target=APP_TARGET, ok=sample.median <= 1000,
                   app_p90=sample.p90, app_min=sample.min, app_cpu_ms=sample.cpu_median, reps=runs,
                   note=f"{rows} rows shown; {captions[0] if captions else ''}")
