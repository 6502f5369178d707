"""The stock side of the benchmark dataset: 50 locations and 10,000 SKUs, every level with its ledger.

Ten warehouses and 3PLs stock the whole catalogue; forty stores stock a fifth of it each.
Every level's on hand is one opening receipt in the movement ledger (so "on hand = ledger sum"
holds), nothing is reserved, and about one level in twelve sits at or under its low-stock
threshold. Written with sqlite3 ``executemany`` by the generator, after the orders.
"""

from __future__ import annotations

import random
import sqlite3
from typing import Any

from bench.dataset import Shop
from bench.rows import ts_text

SKUS = 10_000
STORE_SHARE = 0.2
# (code prefix, kind, country, region, time zone, zones, priority) of the 45 locations added to the demo's 5
_EXTRA_WAREHOUSES = (
    ("US-TX-WH", "warehouse", "US", "TX", "America/Chicago", ["US"], 15),
    ("US-GA-WH", "warehouse", "US", "GA", "America/New_York", ["US"], 15),
    ("CA-ON-3PL", "3pl", "CA", "ON", "America/Toronto", ["CA"], 10),
    ("DE-3PL", "3pl", "DE", None, "Europe/Berlin", ["DE", "AT", "NL", "BE", "FR"], 15),
    ("AU-VIC-WH", "warehouse", "AU", "VIC", "Australia/Melbourne", ["AU", "NZ"], 20),
)
_STORE_PLACES = (
    ("US", "NY", "America/New_York"), ("US", "CA", "America/Los_Angeles"), ("US", "IL", "America/Chicago"),
    ("US", "WA", "America/Los_Angeles"), ("US", "MA", "America/New_York"), ("GB", None, "Europe/London"),
    ("DE", None, "Europe/Berlin"), ("FR", None, "Europe/Paris"), ("AU", "NSW", "Australia/Sydney"),
    ("CA", "QC", "America/Toronto"),
)


def catalogue(shop: Shop, size: int = SKUS) -> list[str]:
    """The shop's SKUs (what orders are placed for) and a long tail of slow movers up to ``size``."""
    skus = [s.sku for s in shop.skus]
    return skus + [f"LT-{i:05d}" for i in range(size - len(skus))]


def add_locations(conn: sqlite3.Connection) -> None:
    """Bring the demo's 5 locations up to 50: 5 more warehouses and 40 stores, each shipping its own region."""
    rows: list[tuple[Any, ...]] = [
        (code, code.replace("-", " ").title(), kind, country, region, tz, _json(zones), priority)
        for code, kind, country, region, tz, zones, priority in _EXTRA_WAREHOUSES
    ]
    for i in range(40):
        country, region, tz = _STORE_PLACES[i % len(_STORE_PLACES)]
        zone = f"{country}-{region}" if region else country
        rows.append((f"STORE-{i + 1:02d}", f"Store {i + 1}", "store", country, region, tz, _json([zone]), 40))
    conn.executemany(
        "INSERT INTO locations (code, name, kind, country, region, timezone, zones, priority, active) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)", rows)


def add_stock(conn: sqlite3.Connection, shop: Shop, now_ts: int, seed: int = 1) -> int:
    """Levels and their opening receipts for every location; returns the number of levels."""
    rng = random.Random(seed * 7919)
    skus = catalogue(shop)
    popular = {s.sku for s in shop.skus}
    at = ts_text(now_ts - 30 * 86_400)
    levels, ledger = [], []
    for loc_id, kind in conn.execute("SELECT id, kind FROM locations ORDER BY id").fetchall():
        stocked = skus if kind != "store" else rng.sample(skus, int(len(skus) * STORE_SHARE))
        for sku in stocked:
            threshold = 5 if sku in popular else 2
            on_hand = rng.randint(0, threshold) if rng.random() < 0.08 else rng.randint(threshold + 1, 400)
            levels.append((loc_id, sku, on_hand, threshold))
            if on_hand:
                ledger.append((loc_id, sku, on_hand, at))
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO inventory_levels (location_id, sku, on_hand, reserved, low_stock_threshold, "
                     "version) VALUES (?, ?, ?, 0, ?, 1)", levels)
    conn.executemany("INSERT INTO inventory_movements (location_id, sku, kind, on_hand_delta, reserved_delta, "
                     "reason, reference, actor, at) VALUES (?, ?, 'receipt', ?, 0, 'opening stock', "
                     "'bench opening', 'bench', ?)", ledger)
    conn.execute("COMMIT")
    return len(levels)


def _json(value: list[str]) -> str:
    import json

    return json.dumps(value)
