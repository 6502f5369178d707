"""The sandbox's parcels: every parcel the simulated shops shipped (and any number a desk ships) moves
through its carrier on a journey decided by its tracking number.

A journey is a pure function of (seed, tracking number) and starts when the parcel left:
a shop's fulfillment time, or the moment the sandbox first heard of a number it did not
ship itself (a parcel shipped from the OpsDesk desk). Most parcels are delivered; some
after a failed attempt, some go back to the sender, a few are lost or damaged, a few go
silent. ``speed`` makes journeys faster for the demo (60: an hour of journey per minute).
The three carrier APIs (``sandbox.carrier_api``) render the same journeys in their words.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sandbox.world import World

# Where parcels pass: a sorting hub near the warehouse, then one near the buyer.
HUBS = [("Secaucus", "NJ", "US"), ("Louisville", "KY", "US"), ("Memphis", "TN", "US"), ("Leipzig", None, "DE"),
        ("East Midlands", None, "GB")]
TOWNS = [("Austin", "TX", "US"), ("Portland", "OR", "US"), ("Brooklyn", "NY", "US"), ("Denver", "CO", "US"),
         ("Toronto", "ON", "CA"), ("London", None, "GB"), ("Berlin", None, "DE"), ("Paris", None, "FR")]
# Outcome -> weight. "silent" parcels stop scanning half way: the desk's stale-tracking alert.
OUTCOMES = {"delivered": 76, "attempt_then_delivered": 9, "returned": 5, "lost": 4, "damaged": 3, "silent": 3}


@dataclass(frozen=True)
class Stage:
    """One scan of a journey, in the sandbox's own words (each API renders it in its own)."""

    at: datetime
    kind: str  # label, in_transit, out_for_delivery, attempt_failed, delivered, returned, lost, damaged
    message: str
    city: str | None
    state: str | None
    country: str
    step: int  # position in the journey: distinguishes two in-transit scans


@dataclass
class Parcel:
    number: str
    carrier: str
    shipped_at: datetime
    malformed: bool


def journey(seed: int, number: str, shipped_at: datetime, speed: float = 1.0) -> list[Stage]:
    """Every scan the parcel will ever get, oldest first (pure: the same inputs give the same journey)."""
    rng = random.Random(f"{seed}:{number}")
    outcome = rng.choices(list(OUTCOMES), weights=list(OUTCOMES.values()))[0]
    hub, town = rng.choice(HUBS), rng.choice(TOWNS)
    hours, stages = 0.0, []

    def add(kind: str, after: tuple[float, float], message: str, where: tuple[str, str | None, str]) -> None:
        nonlocal hours
        hours += rng.uniform(*after)
        at = shipped_at + timedelta(hours=hours / max(speed, 0.001))
        stages.append(Stage(at.replace(microsecond=0), kind, message, *where, step=len(stages)))

    add("label", (0.05, 0.3), "Shipping label created", hub)
    add("in_transit", (2, 6), "Picked up by the carrier", hub)
    add("in_transit", (6, 12), "Departed sorting facility", hub)
    if outcome == "silent":
        return stages
    add("in_transit", (10, 20), "Arrived at destination facility", town)
    if outcome in ("lost", "damaged"):
        add(outcome, (20, 40), "Package lost in the network" if outcome == "lost" else "Package damaged in transit",
            town)
        return stages
    add("out_for_delivery", (6, 12), "Out for delivery", town)
    if outcome == "delivered":
        add("delivered", (2, 6), "Delivered, front door", town)
        return stages
    add("attempt_failed", (3, 6), "Delivery attempted, nobody home - notice left", town)
    if outcome == "attempt_then_delivered":
        add("out_for_delivery", (18, 22), "Out for delivery (second attempt)", town)
        add("delivered", (2, 6), "Delivered, signed by the recipient", town)
        return stages
    add("attempt_failed", (22, 26), "Second delivery attempt failed", town)
    add("returned", (20, 30), "Returned to sender after failed attempts", hub)
    return stages


class Parcels:
    """Every parcel the sandbox knows, found by tracking number; thread-safe."""

    def __init__(self, worlds: Mapping[str, World], now: Callable[[], datetime], *, seed: int = 1,
                 speed: float = 1.0, malformed_rate: float = 0.0) -> None:
        self._worlds, self._now, self.seed, self.speed = worlds, now, seed, speed
        self.malformed_rate = malformed_rate
        self._known: dict[str, Parcel] = {}
        self._indexed: dict[str, int] = {}  # world name -> its version when its parcels were last learnt
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self._now()

    def find(self, number: str, carrier: str = "", *, register: bool = True) -> Parcel | None:
        """The parcel with this number: shipped by a shop, known already, or (``register``) new from now on."""
        with self._lock:
            parcel = self._known.get(number)
            if parcel is None:
                self._index_shops()
                parcel = self._known.get(number)
            if parcel is None and register:
                parcel = self._known[number] = self._parcel(number, carrier, self._now())
            return parcel

    def known(self, number: str) -> Parcel | None:
        with self._lock:
            return self._known.get(number)

    def scans(self, parcel: Parcel) -> list[Stage]:
        """The scans that have happened by now."""
        now = self._now()
        return [s for s in journey(self.seed, parcel.number, parcel.shipped_at, self.speed) if s.at <= now]

    def _parcel(self, number: str, carrier: str, shipped_at: datetime) -> Parcel:
        bad = random.Random(f"{self.seed}:{number}:malformed").random() < self.malformed_rate
        return Parcel(number, carrier, shipped_at, bad)

    def _index_shops(self) -> None:
        """Learn every parcel the shops have shipped so far (their fulfillments carry the tracking numbers)."""
        for name, world in list(self._worlds.items()):
            seen = self._indexed.get(name, -1)
            if not world.changed_since(seen):
                continue  # a desk number looked up a hundred times a batch must not rescan every shop each time
            self._indexed[name] = world.version
            for row in world.rows():
                for fulfillment in row.data.get("fulfillments") or []:
                    number = fulfillment.get("tracking_number")
                    if number and number not in self._known:
                        shipped = datetime.fromisoformat(fulfillment["created_at"])
                        self._known[number] = self._parcel(number, fulfillment.get("tracking_company") or "",
                                                           shipped)

    def shipped_by_shops(self) -> list[Parcel]:
        """Every parcel the shops shipped (tests compare what OpsDesk stored with this)."""
        with self._lock:
            self._index_shops()
            return list(self._known.values())

