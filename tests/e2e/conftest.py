"""End-to-end fixtures: a filled demo database, AppTest sign-in, a real Streamlit server and Chromium.

``streamlit_server`` and ``browser_page`` are meant to be reused by any browser test, e.g. one
that also runs the sandbox and the worker against the same database.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from connectors.schemas import Address, ChannelOrder
from core import holds
from core.allocation import allocate_order
from core.auth import SYSTEM, WORKER, actor_for
from core.db import engine_for, new_session, writing
from core.enums import FinancialStatus, HoldCode
from core.inventory import receive_stock
from core.migrate import upgrade
from core.models import Hold, Order, User, utcnow
from core.order_detail import resolve_order
from core.queries import QueueFilter, order_queue
from core.seed import DEMO_ACCOUNTS, seed_demo
from tests.factories import T0, ingest, make_channel, order_record, parcel

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"
PASSWORDS = {a.role.value: (a.username, a.password) for a in DEMO_ACCOUNTS}
DISPLAY_NAMES = {a.role.value: a.display_name for a in DEMO_ACCOUNTS}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
APPTEST_TIMEOUT = 30  # seconds; the CI machine has 2 cores


@dataclass(frozen=True)
class Shop:
    """What the filled database holds, so tests can name orders without magic numbers."""

    url: str
    open_orders: int
    first_number: str  # earliest ship-by: a channel deadline that beats every policy deadline
    eur_number: str
    eur_total: str  # as the queue shows it
    tracking: str
    tracked_number: str
    email: str
    email_number: str
    phone_fragment: str
    phone_number: str
    name: str
    name_number: str
    shop2_count: int


def fill_shop(url: str) -> Shop:
    """A migrated database with the demo accounts and 64 open orders on two channels."""
    upgrade(url)
    session = new_session(engine_for(url))
    try:
        seed_demo(session)
        shop = make_channel(session, "test-shop")
        records = [order_record(i) for i in range(60)]
        records[3] = order_record(3, fulfillments=(parcel(3, "1Z999AA10123456784"),))
        # Placed last, but its channel sent an early deadline: it must top the queue.
        records.append(order_record(60, ship_by=T0 + timedelta(hours=2)))
        ingest(session, shop, records)
        eu = make_channel(session, "eu-shop")
        ingest(session, eu, [
            order_record(200 + i, external_id=f"EU-{i}", number=f"EU-{500 + i}", currency="EUR",
                         total=Decimal("1234.50"), email=f"kunde{i}@example.de")
            for i in range(3)
        ])
        # However the hold rules triaged them, the queue is what the core query says it is.
        open_orders = order_queue(session, QueueFilter()).total
    finally:
        session.close()
    return Shop(
        url=url, open_orders=open_orders, first_number="#1061", eur_number="EU-500", eur_total="1,234.50 EUR",
        tracking="1Z999AA10123456784", tracked_number="#1004", email="ada.lovelace0@example.com",
        email_number="#1001", phone_fragment="555 0007", phone_number="#1008", name="Priya Hopper",
        name_number="#1016", shop2_count=3,
    )


def order_id(shop: Shop, number: str) -> int:
    """The internal id of the order with that number (what links carry)."""
    with new_session(engine_for(shop.url)) as session:
        return resolve_order(session, number)


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """One filled database shared by the read-only AppTest tests."""
    directory = tmp_path_factory.mktemp("shop")
    return fill_shop(f"sqlite:///{directory / 'opsdesk.db'}")


@pytest.fixture
def fresh_shop(tmp_path: Path) -> Shop:
    """A filled database of this test's own (for tests that write to it)."""
    return fill_shop(f"sqlite:///{tmp_path / 'opsdesk.db'}")


# ---- held orders: the exception & hold queue ------------------------------------------------------

# The held orders fill_held adds, by number. Each is held by exactly one rule or person.
HIGH_VALUE, HIGH_VALUE_2, EU_HIGH_VALUE = "#1101", "#1102", "EU-600"  # 6,000.00 USD, 7,500.00 USD, 8,000.00 EUR
PAYMENT, ADDRESS, OUT_OF_ZONE, FRAUD = "#1103", "#1104", "#1105", "#1106"
AT_RISK = "#1005"  # a ready order with a non-blocking "SLA at risk" item
FRAUD_AGE_HOURS = 5  # the fraud hold is that old, and assigned to the ops lead
HELD_COUNTS = {HoldCode.HIGH_VALUE: 3, HoldCode.PAYMENT_PENDING: 1, HoldCode.ADDRESS_INVALID: 1,
               HoldCode.OUT_OF_ZONE: 1, HoldCode.FRAUD_RISK: 1, HoldCode.SLA_AT_RISK: 1}


def fill_held(url: str) -> None:
    """Add held orders to a filled shop: one per rule, two more high-value ones, one assigned, one older."""
    session = new_session(engine_for(url))
    try:
        def held(i: int, **overrides) -> ChannelOrder:  # type: ignore[no-untyped-def]
            # Names and emails of their own, so the lookup's searches of the filled shop still match as before.
            name = f"Hal Held{i}"
            overrides.setdefault("ship_to", order_record(i).ship_to.model_copy(update={"name": name}))
            return order_record(i, customer_name=name, email=f"hal.held{i}@example.net", **overrides)

        ingest(session, make_channel(session, "test-shop"), [
            held(100, total=Decimal("6000.00")),
            held(101, total=Decimal("7500.00")),
            held(102, financial_status=FinancialStatus.PENDING, raw_financial_status="pending"),
            held(103, ship_to=Address(name="Hal Held103", address1="3 Elm St", city="Boston", region="MA",
                                      country_code="US")),  # no postal code
            held(104, ship_to=Address(name="Hal Held104", address1="1-2 Ginza", city="Tokyo",
                                      postal_code="104-0061", country_code="JP")),  # no location ships there
            held(105, risk_level="high"),
        ])
        ingest(session, make_channel(session, "eu-shop"), [
            held(210, external_id="EU-HV", number=EU_HIGH_VALUE, currency="EUR", total=Decimal("8000.00")),
        ])
        ops = actor_for(session.scalar(select(User).where(User.username == PASSWORDS["ops_lead"][0])))
        fraud = session.scalar(select(Hold).join(Order).where(Order.number == FRAUD))
        with writing(session):
            fraud.opened_at = utcnow() - timedelta(hours=FRAUD_AGE_HOURS)
        holds.assign(session, [holds.HoldRef(fraud.id, fraud.version)], assignee_id=ops.user_id, actor=ops)
        with writing(session):
            holds.open_hold(session, session.scalar(select(Order).where(Order.number == AT_RISK)),
                            HoldCode.SLA_AT_RISK, actor=SYSTEM, note="unshipped close to its ship-by")
    finally:
        session.close()


def copy_shop(shop: Shop, directory: Path) -> Shop:
    """The same filled SQLite database under ``directory``: a copy takes milliseconds, filling takes seconds."""
    target = directory / "opsdesk.db"
    source, copy = sqlite3.connect(shop.url.removeprefix("sqlite:///")), sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()
    return replace(shop, url=f"sqlite:///{target}")


@pytest.fixture(scope="session")
def held_template(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """A filled shop plus held orders, filled once per run; tests use copies of it."""
    directory = tmp_path_factory.mktemp("held-template")
    shop = fill_shop(f"sqlite:///{directory / 'opsdesk.db'}")
    fill_held(shop.url)
    return shop


@pytest.fixture(scope="session")
def held_shop(held_template: Shop, tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """One shop with held orders shared by the tests that only read it."""
    return copy_shop(held_template, tmp_path_factory.mktemp("held-shop"))


@pytest.fixture
def fresh_held_shop(held_template: Shop, tmp_path: Path) -> Shop:
    """A shop with held orders of this test's own (for tests that act on them)."""
    return copy_shop(held_template, tmp_path)


# ---- AppTest -------------------------------------------------------------------------------------


def app_for(monkeypatch: pytest.MonkeyPatch, url: str) -> AppTest:
    """The app pointed at ``url`` (the UI reads OPSDESK_DATABASE_URL like every other process)."""
    monkeypatch.setenv("OPSDESK_DATABASE_URL", url)
    return AppTest.from_file(str(APP), default_timeout=APPTEST_TIMEOUT)


def sign_in(at: AppTest, username: str, password: str) -> AppTest:
    """Fill the login form and submit it, as a person would."""
    at.run()
    fields = {w.label: w for w in at.text_input}
    fields["Username"].set_value(username)
    fields["Password"].set_value(password)
    next(b for b in at.button if b.label == "Sign in").click()
    return at.run()


@pytest.fixture
def signed_in(monkeypatch: pytest.MonkeyPatch, shop: Shop) -> Callable[[str], AppTest]:
    """``signed_in("support")`` -> an AppTest signed in with that role's demo account."""

    def _sign_in(role: str) -> AppTest:
        username, password = PASSWORDS[role]
        return sign_in(app_for(monkeypatch, shop.url), username, password)

    return _sign_in


# ---- a real server and a real browser ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - 127.0.0.1 only
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {seconds:.0f} s")
        time.sleep(0.25)


@pytest.fixture
def streamlit_server(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``streamlit_server(database_url, env={...})`` starts the UI on a free port and returns its base URL.

    Every server started is stopped at teardown (SIGTERM, then SIGKILL), and its log is
    printed when the test failed to start it.
    """
    started: list[subprocess.Popen[bytes]] = []

    def start(database_url: str, env: dict[str, str] | None = None) -> str:
        port = free_port()
        log = open(tmp_path / f"streamlit-{port}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), "OPSDESK_DATABASE_URL": database_url, **(env or {})},
        )
        started.append(proc)
        try:
            wait_http(f"http://127.0.0.1:{port}/_stcore/health", 60)
        except TimeoutError:
            log.flush()
            raise RuntimeError((tmp_path / f"streamlit-{port}.log").read_text()[-3000:]) from None
        return f"http://127.0.0.1:{port}"

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    """Debian's Chromium driven by Playwright (one browser for the whole run)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A fresh browser context and page (no cookies, no Streamlit session) per test."""
    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    context.close()


def wait_idle(page) -> None:  # type: ignore[no-untyped-def]
    """Wait until the app has finished its current script run."""
    page.wait_for_selector(IDLE, timeout=30_000)


def fill_login(page, role: str) -> None:  # type: ignore[no-untyped-def]
    """Sign in with the role's demo account on the login form that is on screen."""
    username, password = PASSWORDS[role]
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def browser_sign_in(page, base_url: str, role: str, path: str = "") -> None:  # type: ignore[no-untyped-def]
    """Open ``path`` (a new Streamlit session, so it asks to sign in) and sign in there."""
    page.goto(f"{base_url}/{path.lstrip('/')}")
    wait_idle(page)
    fill_login(page, role)


# ---- stock: the inventory pages ------------------------------------------------------------------

# What fill_stock receives, as (location, SKU, units): a few named SKUs, then enough pins for two pages.
STOCK = (("NJ-WH", "TEE-BLK-M", 1), ("NJ-WH", "MUG-WHT", 120), ("NJ-WH", "CAP-RED", 3), ("CA-WH", "TEE-BLK-M", 40),
         ("CA-WH", "MUG-WHT", 8), ("EU-WH", "TEE-BLK-M", 25), ("EU-WH", "SOCK-GRN", 60), ("UK-3PL", "SOCK-GRN", 2),
         *(("SYD-STORE", f"PIN-{i:03d}", 10 + i) for i in range(1, 57)))
LOW_LEVELS = [("NJ-WH", "CAP-RED"), ("NJ-WH", "TEE-BLK-M"), ("UK-3PL", "SOCK-GRN")]  # available <= 5, the default
# 2 x TEE-BLK-M to San Francisco: NJ-WH ranks first (priority 10) but has 1, so CA-WH fills the order.
ALLOCATED, ALLOCATED_FROM, ALLOCATED_SKU, ALLOCATED_QTY = "#1001", "CA-WH", "TEE-BLK-M", 2


def fill_stock(url: str) -> None:
    """Receive STOCK through the ledger as the ops lead, then allocate ALLOCATED (as the worker does)."""
    session = new_session(engine_for(url))
    try:
        ops = actor_for(session.scalar(select(User).where(User.username == PASSWORDS["ops_lead"][0])))
        for location, sku, units in STOCK:
            receive_stock(session, location, sku, units, actor=ops, reference="PO-1")
        outcome = allocate_order(session, resolve_order(session, ALLOCATED), actor=WORKER)
        assert outcome.locations == (ALLOCATED_FROM,), outcome
    finally:
        session.close()


@pytest.fixture(scope="session")
def stock_template(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """A filled shop with stock at every demo location and one allocated order, filled once per run."""
    directory = tmp_path_factory.mktemp("stock-template")
    shop = fill_shop(f"sqlite:///{directory / 'opsdesk.db'}")
    fill_stock(shop.url)
    return shop


@pytest.fixture(scope="session")
def stock_shop(stock_template: Shop, tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """One stocked shop shared by the tests that only read it."""
    return copy_shop(stock_template, tmp_path_factory.mktemp("stock-shop"))


@pytest.fixture
def fresh_stock_shop(stock_template: Shop, tmp_path: Path) -> Shop:
    """A stocked shop of this test's own (for tests that change stock)."""
    return copy_shop(stock_template, tmp_path)
