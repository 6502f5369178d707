"""The walking skeleton end to end, in Chromium: sandbox store -> worker -> live queue -> lookup."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.db import engine_for, new_session
from core.migrate import upgrade
from core.seed import SANDBOX_TOKEN_ENV, seed_demo
from sandbox.server import make_server
from tests.e2e.conftest import fill_login, wait_idle

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
SHOWING = re.compile(r"Showing \S+ of (\d+)")


@pytest.fixture
def live_shop(tmp_path: Path):
    """A sandbox producing an order every second, a seeded SQLite desk, and a real worker process."""
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    upgrade(url)
    sandbox = make_server(seed=11, token="e2e-token", orders_per_minute=60.0, backlog=15).start()
    with new_session(engine_for(url)) as session:
        seed_demo(session, sandbox_url=sandbox.url)
    env = {**os.environ, "OPSDESK_DATABASE_URL": url, SANDBOX_TOKEN_ENV: "e2e-token", "PYTHONPATH": str(ROOT)}
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen([sys.executable, "-m", "jobs.cli", "worker"], cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    yield url, sandbox, tmp_path / "worker.log"
    os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
    sandbox.stop()


def shown_total(page) -> int:  # type: ignore[no-untyped-def]
    match = SHOWING.search(page.get_by_text(SHOWING).first.inner_text())
    assert match
    return int(match.group(1))


def test_orders_from_the_sandbox_arrive_in_the_live_queue_and_support_opens_one(
    live_shop, streamlit_server, browser_page
):
    url, sandbox, worker_log = live_shop
    page, base = browser_page, streamlit_server(url)
    page.goto(f"{base}/queue")
    wait_idle(page)
    fill_login(page, "support")
    wait_idle(page)
    page.get_by_role("link", name="Order queue").click()
    try:
        page.get_by_text(SHOWING).first.wait_for(timeout=90_000)
    except Exception as exc:
        page.screenshot(path="/tmp/opsdesk-sandbox-failure.png", full_page=True)
        raise AssertionError(f"no queue on screen; worker log:\n{worker_log.read_text()[-3000:]}") from exc

    # The worker keeps polling the sandbox; the queue's live fragment shows the total growing.
    first_seen = shown_total(page)
    try:
        page.wait_for_function(
            "n => { const m = /Showing \\S+ of (\\d+)/.exec(document.body.innerText);"
            " return m && Number(m[1]) > n; }",
            arg=first_seen, timeout=60_000,
        )
    except Exception as exc:
        raise AssertionError(f"the queue stayed at {first_seen}; worker log:\n{worker_log.read_text()[-3000:]}") \
            from exc
    assert shown_total(page) > first_seen

    # Support finds one of the sandbox's orders by the customer's email and reads its story.
    order = next(o for o in sandbox.world.orders_snapshot() if o.get("email") and not o.get("cancelled_at"))
    page.get_by_role("link", name="Order lookup").click()
    wait_idle(page)
    box = page.get_by_label(re.compile("Order number, channel order id, email")).first
    box.fill(order["email"])
    box.press("Enter")
    page.get_by_role("heading", name=re.compile(re.escape(order["name"]))).first.wait_for(timeout=30_000)
    page.get_by_text("received from the channel").first.wait_for()
