"""Soak and crash: the worker against the sandbox with every fault on, then with processes killed.

Both end the same way: the sandbox's clock stops (no new orders or changes), the worker
catches up, stops on SIGTERM with exit code 0, and its store is compared with a clean read
of the same sandbox - zero lost, zero duplicated - and the stock invariants hold.
"""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from core.db import engine_for, new_session
from core.models import Event, Hold, InventoryMovement
from tests.reliability.harness import (
    EVERY_FAULT,
    SECONDS,
    Timer,
    clean_read,
    compare,
    desk,
    invariants,
    new_store,
    sandbox_world,
    wait_until,
    worker,
)

pytestmark = pytest.mark.reliability
KILLS = 10  # SIGKILLs of the worker in the crash scenario, at least


def _caught_up(url: str, clean: str) -> bool:
    result = compare(url, clean)
    return result.lost == 0 and result.duplicated == 0


def _finish(server, clock, url, tmp_path, monkeypatch, running):  # type: ignore[no-untyped-def]
    """Stop the world, let the worker catch up with faults still on, stop it cleanly, compare with a clean read."""
    clock.freeze()
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    clean_read(server, clean, monkeypatch)  # reads with faults off; the worker keeps its faults
    caught_up = wait_until(lambda: _caught_up(url, clean), timeout=90, every=2)
    code = running.stop()
    result = compare(url, clean)
    return result, caught_up, code, clean


def test_soak_every_fault_knob_on(tmp_path, monkeypatch, figures):
    url = f"sqlite:///{tmp_path / 'soak.db'}"
    with sandbox_world(EVERY_FAULT) as (server, clock):
        new_store(url, server.url)
        running = worker(url, tmp_path / "worker.log").start()
        time.sleep(SECONDS)
        assert running.alive(), (tmp_path / "worker.log").read_text()[-3000:]
        result, caught_up, code, _ = _finish(server, clock, url, tmp_path, monkeypatch, running)
        stats = server.stats()
    log = (tmp_path / "worker.log").read_text()
    bad = sum(len(w.malformed_ids()) for w in server.worlds.values())
    faults = stats["sent_429"] + stats["sent_5xx"] + bad
    figures(scenario="soak: 429, 5xx, slow, malformed", orders=result.orders, scans=result.scans, faults=faults,
            survived=faults if result.lost == result.duplicated == 0 else 0, writers=1, bad_inputs=bad,
            lost=result.lost, duplicated=result.duplicated)
    assert caught_up and (result.lost, result.duplicated) == (0, 0), result.detail
    assert code == 0, log[-3000:]  # SIGTERM: the current page finished, a clean exit
    assert "Traceback" not in log, log[-3000:]
    assert result.orders > 100 and stats["sent_429"] > 0 and stats["sent_5xx"] > 0 and bad > 0
    assert invariants(url) == []


def test_crash_kill_the_worker_and_the_desk_at_random_moments(tmp_path, monkeypatch, figures):
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    with sandbox_world(EVERY_FAULT, seed=12) as (server, clock):
        new_store(url, server.url)
        running = worker(url, tmp_path / "worker.log").start()
        acting = desk(url, tmp_path / "desk.log", seconds=3600).start()

        def kill_worker() -> None:
            running.kill()
            running.start()

        def kill_desk() -> None:
            acting.kill()
            acting.start()

        timers = [Timer(kill_worker, 1.0, 3.0, seed=1), Timer(kill_desk, 2.5, 6.0, seed=2)]
        for timer in timers:
            timer.start()
        began = time.monotonic()  # at least SECONDS, and at least ten kills of the worker mid-ingest
        while time.monotonic() - began < SECONDS or running.kills < KILLS:
            time.sleep(0.5)
        for timer in timers:
            timer.stop()
            assert timer.error is None, timer.error
        acting.kill()
        result, caught_up, code, _ = _finish(server, clock, url, tmp_path, monkeypatch, running)
        stats = server.stats()
    bad = sum(len(w.malformed_ids()) for w in server.worlds.values())
    faults = stats["sent_429"] + stats["sent_5xx"] + bad
    with new_session(engine_for(url)) as session:
        released = session.scalar(select(func.count()).select_from(Hold).where(Hold.resolved_by == "desk-crash-test"))
        released_events = session.scalar(select(func.count()).select_from(Event).where(
            Event.kind == "hold_released", Event.actor_name == "desk-crash-test"))
        desk_writes = session.scalar(select(func.count()).select_from(Event).where(
            Event.actor_name == "desk-crash-test")) + session.scalar(select(func.count()).select_from(
                InventoryMovement).where(InventoryMovement.actor == "desk-crash-test"))
    killed = running.kills + acting.kills
    figures(scenario="crash: SIGKILL worker and desk", orders=result.orders, scans=result.scans, faults=faults,
            survived=faults if result.lost == result.duplicated == 0 else 0, killed=killed, writers=2,
            bad_inputs=bad, lost=result.lost, duplicated=result.duplicated)
    assert running.kills >= KILLS and acting.kills >= 1
    assert caught_up and (result.lost, result.duplicated) == (0, 0), result.detail
    assert code == 0
    assert released == released_events  # no hold released without its event (nor the other way)
    assert desk_writes > 0, (tmp_path / "desk.log").read_text()[-2000:]
    assert invariants(url) == []  # no stock moved without its ledger row


def test_desk_actor_reports_what_it_did(tmp_path, monkeypatch):
    """The desk process itself, left to finish: it acts and says so (so a crash test that kills it is real)."""
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    with sandbox_world(EVERY_FAULT, seed=13) as (server, clock):
        clock.freeze()
        clean_read(server, url, monkeypatch)  # orders (and their holds) to act on
        acting = desk(url, tmp_path / "desk.log", seconds=3).start()
        assert acting.proc is not None and acting.proc.wait(timeout=60) == 0
    counts = json.loads((tmp_path / "desk.log").read_text().strip().splitlines()[-1])
    assert counts["adjusted"] + counts["notes"] > 10
