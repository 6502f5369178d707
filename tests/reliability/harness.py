"""What the reliability scenarios share: a sandbox world with a clock that can stop, worker and desk
processes that can be killed, and the one comparison that counts lost and duplicated records.

The comparison reads the store the scenario ran against beside a *clean read* of the same
(frozen) sandbox: every channel polled once, faults off, into a fresh database. Whatever the
scenario went through - 429s, 5xx, slow answers, broken records, killed processes, a locked or
unreachable database - its store must hold exactly what the clean read holds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from connectors import amazon
from core.db import engine_for, new_session
from core.integrity import check_invariants
from core.migrate import upgrade
from core.models import CarrierAccount, Channel, DeadLetter, Order, OrderLine, Shipment, TrackingEvent
from core.seed import seed_demo, seed_stock
from jobs.demo import demo_stock, sandbox_secrets, seed_carriers
from sandbox import FaultConfig
from sandbox.server import SandboxServer, make_server

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "reliability-token"
SECONDS = float(os.environ.get("OPSDESK_RELIABILITY_SECONDS", "20"))  # per scenario; the full run sets minutes
EVERY_FAULT = FaultConfig(rate_429=0.08, retry_after_s=0.2, rate_5xx=0.05, slow_ms=40, malformed_rate=0.04)


class StoppableClock:
    """The sandbox's simulated time: ``scale`` times real time until ``freeze()``, then still."""

    def __init__(self, scale: float) -> None:
        self._origin, self._mono, self._scale = datetime.now(UTC), time.monotonic(), scale
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        if self._frozen is not None:
            return self._frozen
        return self._origin + timedelta(seconds=(time.monotonic() - self._mono) * self._scale)

    def freeze(self) -> None:
        self._frozen = self.now()


def env_for(url: str) -> dict[str, str]:
    """The environment a worker or desk process runs with: the store, the sandbox's secrets."""
    return {**os.environ, "OPSDESK_DATABASE_URL": url, **sandbox_secrets(TOKEN), "OPSDESK_LOG_LEVEL": "INFO",
            "PYTHONPATH": str(ROOT)}


@contextmanager
def sandbox_world(faults: FaultConfig, *, seed: int = 11) -> Iterator[tuple[SandboxServer, StoppableClock]]:
    """Four channel APIs on 127.0.0.1: a dozen simulated minutes per second, so orders are paid, shipped and
    cancelled while the scenario runs; Amazon's quotas sped up 100x to match."""
    clock = StoppableClock(scale=600)
    server = make_server(seed=seed, token=TOKEN, faults=faults, orders_per_minute=0.25, backlog=40,
                         now=clock.now, amazon_rates={k: (r * 100, b) for k, (r, b) in amazon.RATES.items()})
    server.start()
    try:
        yield server, clock
    finally:
        server.stop()


def new_store(url: str, sandbox_url: str, *, poll_interval_s: int = 2) -> None:
    """Migrate, then the demo's locations, stock, accounts and one channel of every kind pointed at the sandbox."""
    upgrade(url)
    with new_session(engine_for(url)) as session:
        seed_demo(session, sandbox_url=sandbox_url, all_kinds=True)
        seed_stock(session, demo_stock())
        seed_carriers(session, sandbox_url)
        for channel in session.scalars(select(Channel)):
            channel.poll_interval_s = poll_interval_s
        for account in session.scalars(select(CarrierAccount)):
            account.poll_interval_s = poll_interval_s  # below the admin's 10 s floor: a test's pace
        session.commit()


class Process:
    """An OpsDesk process (``python -m ...``) that can be started, killed hard, or asked to stop."""

    def __init__(self, args: list[str], url: str, log: Path) -> None:
        self.args, self.url, self.log = args, url, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> Process:
        out = self.log.open("ab")
        self.proc = subprocess.Popen([sys.executable, *self.args], cwd=ROOT, env=env_for(self.url), stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out.close()
        return self

    def kill(self) -> None:
        """SIGKILL: no clean-up, no finally blocks - what a crash or an OOM kill does."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.kills += 1

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, and the exit code once it has finished its current page."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGUSR1)  # the worker dumps every thread's stack into its log
            time.sleep(2)
            self.kill()
            raise AssertionError(f"no exit {timeout:.0f} s after SIGTERM; the threads it was stuck in:\n"
                                 + self.log.read_text()[-6000:]) from None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def worker(url: str, log: Path) -> Process:
    return Process(["-m", "jobs.cli", "worker"], url, log)


def desk(url: str, log: Path, seconds: float) -> Process:
    return Process(["-m", "tests.reliability.desk_actor", "--seconds", str(seconds)], url, log)


def clean_read(server: SandboxServer, url: str, monkeypatch: Any) -> None:
    """Poll every channel once, faults off (broken records stay broken), into the fresh store at ``url``."""
    from jobs.poll import poll_channel
    from jobs.track import poll_carrier

    saved = (server.faults.config.rate_429, server.faults.config.rate_5xx, server.faults.config.slow_ms)
    server.faults.config.rate_429 = server.faults.config.rate_5xx = 0.0
    server.faults.config.slow_ms = 0
    try:
        new_store(url, server.url)
        monkeypatch.setenv("OPSDESK_DATABASE_URL", url)
        for key, value in env_for(url).items():
            if key in sandbox_secrets(TOKEN):
                monkeypatch.setenv(key, value)
        with new_session(engine_for(url)) as session:
            codes = list(session.scalars(select(Channel.code)))
        for code in codes:
            # The worker may still be polling the same shops and using up their quotas (Amazon answers
            # 429 beyond them): a clean read is done when a poll completes, as often as that takes.
            report = poll_channel(code, respect_breaker=False)
            for _ in range(20):
                if report.error is None:
                    break
                time.sleep(1)
                report = poll_channel(code, respect_breaker=False)
            assert report.error is None, report
        with new_session(engine_for(url)) as session:
            accounts = list(session.scalars(select(CarrierAccount.code)))
        for code in accounts:  # the parcels the channels reported, tracked once each
            tracked = poll_carrier(code)
            assert tracked.error is None, tracked
    finally:
        server.faults.config.rate_429, server.faults.config.rate_5xx, server.faults.config.slow_ms = saved


@dataclass
class Comparison:
    """What the scenario's store holds beside the clean read: counts, and what is missing or extra."""

    orders: int = 0
    lines: int = 0
    parcels: int = 0
    scans: int = 0
    dead_letters: int = 0
    lost: int = 0
    duplicated: int = 0
    detail: list[str] = field(default_factory=list)


def _snapshot(url: str) -> dict[str, Counter[tuple[Any, ...]]]:
    with new_session(engine_for(url)) as s:
        code = Channel.code
        orders = s.execute(select(code, Order.external_id, Order.channel_updated_at, Order.total, Order.currency)
                           .join(Channel, Channel.id == Order.channel_id)).all()
        lines = s.execute(select(code, Order.external_id, OrderLine.external_id, OrderLine.sku, OrderLine.quantity)
                          .join(Order, Order.id == OrderLine.order_id).join(Channel, Channel.id == Order.channel_id)
                          ).all()
        parcels = s.execute(select(code, Order.external_id, Shipment.tracking_number)
                            .join(Order, Order.id == Shipment.order_id).join(Channel, Channel.id == Order.channel_id)
                            ).all()
        letters = s.execute(select(code, DeadLetter.external_id, DeadLetter.raw)
                            .join(Channel, Channel.id == DeadLetter.channel_id)).all()
        scans = s.execute(select(Shipment.tracking_number, TrackingEvent.occurred_at, TrackingEvent.status)
                          .join(Shipment, Shipment.id == TrackingEvent.shipment_id)).all()
    return {"orders": Counter(tuple(r) for r in orders), "lines": Counter(tuple(r) for r in lines),
            "parcels": Counter(tuple(r) for r in parcels), "letters": Counter(tuple(r) for r in letters),
            "scans": Counter(tuple(r) for r in scans)}


def compare(scenario_url: str, clean_url: str) -> Comparison:
    """Lost: in the clean read but not (or older) in the scenario's store. Duplicated: there twice, or extra."""
    got, want = _snapshot(scenario_url), _snapshot(clean_url)
    out = Comparison(orders=sum(got["orders"].values()), lines=sum(got["lines"].values()),
                     parcels=sum(got["parcels"].values()), scans=sum(got["scans"].values()),
                     dead_letters=sum(got["letters"].values()))
    for kind in ("orders", "lines", "parcels", "scans"):
        missing, extra = want[kind] - got[kind], got[kind] - want[kind]
        out.lost += sum(missing.values())
        out.duplicated += sum(extra.values())
        out.detail += [f"{kind} missing: {k}" for k in list(missing)[:5]] + [f"{kind} extra: {k}" for k in list(extra)[:5]]
    # Dead letters: every broken record the clean read kept must be kept here too, and none twice.
    want_ids = {(c, e) for c, e, _ in want["letters"]}
    got_ids = {(c, e) for c, e, _ in got["letters"]}
    landed = {(c, e) for c, e, *_ in got["orders"]}
    lost_letters = want_ids - got_ids - landed
    twice = sum(n - 1 for n in got["letters"].values() if n > 1)
    out.lost += len(lost_letters)
    out.duplicated += twice
    out.detail += [f"dead letter missing: {k}" for k in list(lost_letters)[:5]]
    return out


def wait_until(check: Callable[[], bool], timeout: float, every: float = 1.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(every)
    return check()


def invariants(url: str) -> list[str]:
    """The stock invariants of #3, as text (empty: all hold)."""
    with new_session(engine_for(url)) as session:
        return [str(v) for v in check_invariants(session)]


class Timer(threading.Thread):
    """Calls ``fn`` at random moments (between ``low`` and ``high`` seconds apart) until stopped."""

    def __init__(self, fn: Callable[[], None], low: float, high: float, seed: int) -> None:
        super().__init__(daemon=True)
        import random

        self._fn, self._low, self._high, self._rng = fn, low, high, random.Random(seed)
        self._halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        while not self._halt.wait(self._rng.uniform(self._low, self._high)):
            try:
                self._fn()
            except BaseException as exc:  # reported by the scenario, not lost in a thread
                self.error = exc
                return

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=60)


class CuttableProxy:
    """A TCP relay on 127.0.0.1 in front of the database server; ``cut()`` drops every connection and refuses
    new ones (as a stopped server does) until ``restore()``. The shared PostgreSQL itself is never stopped."""

    def __init__(self, target: tuple[str, int]) -> None:
        import socket

        self._target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._up = threading.Event()
        self._up.set()
        self._lock = threading.Lock()
        self._open: list[Any] = []
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket

        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            if not self._up.is_set():
                client.close()  # refused while "down"
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)  # 5 s was for connecting: an idle session is not a dead one
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: Any, dst: Any) -> None:
        import socket

        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                # Shut down before closing: close() alone neither wakes the other direction's recv() nor
                # sends FIN, so a cut could leave PostgreSQL a live session (and its locks) with no client.
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                try:
                    sock.close()
                except OSError:
                    pass

    def cut(self) -> None:
        import socket

        self._up.clear()
        self.cuts += 1
        with self._lock:
            for sock in self._open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._open.clear()

    def restore(self) -> None:
        self._up.set()

    def close(self) -> None:
        self.cut()
        self._listener.close()


@contextmanager
def locked_sqlite(url: str) -> Iterator[None]:
    """Hold SQLite's write lock (as a long migration or a stuck process would) until the block ends."""
    import sqlite3

    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, timeout=30)
    conn.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()
