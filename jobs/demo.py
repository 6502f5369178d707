"""`opsdesk demo`: the whole desk on one machine - sandbox, worker and UI - on a SQLite file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sqlalchemy.orm import Session

from core.carriers import add_carrier_account, carrier_table
from core.db import new_session
from core.enums import CarrierKind
from core.migrate import upgrade
from core.seed import (
    DEMO_ACCOUNTS,
    DEMO_LOCATIONS,
    SANDBOX_LWA_ID_ENV,
    SANDBOX_LWA_REFRESH_ENV,
    SANDBOX_TOKEN_ENV,
    SANDBOX_WOO_KEY_ENV,
    seed_demo,
    seed_stock,
)
from sandbox.carrier_api import AFTERSHIP_PREFIX
from sandbox.lwa_api import CLIENT_ID as LWA_CLIENT_ID
from sandbox.lwa_api import REFRESH_TOKEN as LWA_REFRESH_TOKEN
from sandbox.server import WOO_KEY
from sandbox.world import CATALOG, HIGH_VALUE_SKU

ROOT = Path(__file__).resolve().parent.parent


def demo_stock() -> dict[str, dict[str, int]]:
    """Opening stock for the sandbox's catalogue: plenty of most things, a few scarce ones for backorders."""
    stock: dict[str, dict[str, int]] = {}
    for n, (code, *_rest) in enumerate(DEMO_LOCATIONS):
        stock[code] = {}
        for i, (sku, *_item) in enumerate(CATALOG):
            units = 2 if sku == HIGH_VALUE_SKU else 0 if (i + n) % 5 == 0 else 40 + 15 * ((i * 7 + n) % 6)
            stock[code][sku] = units
    return stock


# Carrier accounts on the sandbox's tracking APIs: each follows the parcels of the carriers it names.
DEMO_CARRIERS = (("easypost-sandbox", CarrierKind.EASYPOST, "", "UPS, USPS"),
                 ("shippo-sandbox", CarrierKind.SHIPPO, "", "FedEx"),
                 ("aftership-sandbox", CarrierKind.AFTERSHIP, AFTERSHIP_PREFIX.rstrip("/"), "*"))


def seed_carriers(session: Session, sandbox_url: str) -> list[str]:
    """The demo's carrier accounts (once), pointed at the sandbox; the sandbox token is their API key."""
    have = set(carrier_table(session)["code"])
    added = []
    for code, kind, path, carriers in DEMO_CARRIERS:
        if code not in have:
            add_carrier_account(session, code, kind=kind, base_url=sandbox_url + path, token_env=SANDBOX_TOKEN_ENV,
                                carriers=carriers, poll_interval_s=30)
            added.append(code)
    return added


def _wait_http(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - localhost only
                if resp.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def run_demo(*, port: int = 8501, sandbox_port: int = 8900, reset: bool = False) -> int:
    """Start the three processes, print where to go and how to sign in, stop them all on Ctrl-C."""
    db_path = ROOT / "var" / "demo.db"
    db_path.parent.mkdir(exist_ok=True)
    if reset:
        for suffix in ("", "-wal", "-shm", ".worker.lock"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    env = dict(os.environ)
    env.setdefault("OPSDESK_DATABASE_URL", f"sqlite:///{db_path}")
    for key, value in sandbox_secrets(env.get(SANDBOX_TOKEN_ENV) or "sandbox-token").items():
        env.setdefault(key, value)
    env.setdefault("OPSDESK_DEMO_RETURNS", "1")  # the worker opens RMAs on some shipped orders for the clerk
    os.environ.update({k: env[k] for k in ("OPSDESK_DATABASE_URL", *sandbox_secrets(""))})
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"

    print("==> preparing the demo database", flush=True)
    upgrade(env["OPSDESK_DATABASE_URL"])
    with new_session() as session:
        seed_demo(session, sandbox_url=sandbox_url, all_kinds=True)
        seed_stock(session, demo_stock())
        seed_carriers(session, sandbox_url)

    cli = [sys.executable, "-m", "jobs.cli"]
    procs: dict[str, subprocess.Popen[bytes]] = {}
    # Ctrl-C and `kill` both stop the demo cleanly (also when started with SIGINT ignored, e.g. by `&`).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        # SP-API's real quotas (searchOrders: one call in three minutes) would make the demo's Amazon orders
        # trickle in: the demo runs them 60 times faster, a call every 3 s.
        procs["sandbox"] = subprocess.Popen([*cli, "sandbox", "--port", str(sandbox_port), "--amazon-rate-scale", "60",
                                             "--carrier-speed", "60"],
                                            cwd=ROOT, env=env)
        if not _wait_http(f"{sandbox_url}/health", 20):
            print(f"opsdesk: error: the sandbox did not start on port {sandbox_port} (is it in use?)", file=sys.stderr)
            return 1
        procs["worker"] = subprocess.Popen([*cli, "worker"], cwd=ROOT, env=env)
        procs["ui"] = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
             "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env,
        )
        if not _wait_http(f"http://127.0.0.1:{port}/_stcore/health", 60):
            print(f"opsdesk: error: the UI did not start on port {port} (is it in use?)", file=sys.stderr)
            return 1
        _banner(port, sandbox_port)
        while True:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    print(f"opsdesk: error: the {name} process stopped (exit {proc.returncode}); stopping the demo",
                          file=sys.stderr)
                    return 1
            time.sleep(1)
    except KeyboardInterrupt:
        print("\n==> stopping the demo", flush=True)
        return 0
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _banner(port: int, sandbox_port: int) -> None:
    width = max(len(a.username) for a in DEMO_ACCOUNTS)
    print("\n" + "=" * 64)
    print(f"  OpsDesk demo is running:  http://localhost:{port}")
    print("  Orders stream in every few seconds from four sandbox channels: Shopify (REST and GraphQL),")
    print("  WooCommerce and Amazon; EasyPost, Shippo and AfterShip track the parcels.")
    print("  Sign in with one of these demo accounts:")
    for account in DEMO_ACCOUNTS:
        print(f"    {account.username.ljust(width)}  /  {account.password.ljust(18)}  {account.role.label}")
    print("  Make the integrations sick and watch Connector health (released knobs heal by themselves):")
    opsdesk = _relative(Path(sys.executable).parent / "opsdesk")
    print(f"    {opsdesk} sandbox-faults --url http://127.0.0.1:{sandbox_port} --rate-5xx 0.5   (then --reset)")
    print("  Ctrl-C stops everything.")
    print("=" * 64 + "\n", flush=True)


def _relative(path: Path) -> str:
    """``path`` as typed from the current directory when it lies below it (.venv/bin/opsdesk), else whole."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def sandbox_secrets(token: str) -> dict[str, str]:
    """The environment the sandbox channels' credentials name, for a sandbox started with ``token``."""
    return {SANDBOX_TOKEN_ENV: token, SANDBOX_WOO_KEY_ENV: WOO_KEY, SANDBOX_LWA_ID_ENV: LWA_CLIENT_ID,
            SANDBOX_LWA_REFRESH_ENV: LWA_REFRESH_TOKEN}
