"""A local HTTP simulator speaking real channel wire formats, for the demo and integration tests.

Start it with ``sandbox.server.make_server(...)``. Each simulated API (Shopify today;
WooCommerce, Amazon and carriers later) is a module exposing a handler that maps a
``Request`` to a ``Reply``; the server routes to it by path prefix. Those two wire types
live here, with the fault knobs, so API modules and the server share them without
importing each other.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Request:
    """What a simulated API sees of one HTTP request."""

    method: str
    path: str
    query: Mapping[str, list[str]]  # parse_qs shape: a name may repeat
    headers: Mapping[str, str]  # keys lower-cased
    base_url: str  # "http://host:port" as the client addressed us, for Link headers
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def param(self, name: str) -> str | None:
        """The last value of a query parameter, like most web frameworks."""
        values = self.query.get(name)
        return values[-1] if values else None


@dataclass
class Reply:
    """What a simulated API answers."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Reply:
        body = json.dumps(payload, separators=(",", ":")).encode()
        return cls(status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})})

    @classmethod
    def text(cls, status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> Reply:
        return cls(status, text.encode(), {"Content-Type": content_type})


@dataclass
class FaultConfig:
    """Faults to inject; all off by default. Rates are probabilities per API request (or per order)."""

    rate_429: float = 0.0
    retry_after_s: float = 2.0  # Shopify sends "Retry-After: 2.0"; tests use tiny values
    rate_5xx: float = 0.0
    slow_ms: int = 0
    malformed_rate: float = 0.0  # fraction of orders whose JSON is broken, decided per order


class Faults:
    """Draws injected faults from their own seeded stream, so they never shift the shop's orders."""

    def __init__(self, config: FaultConfig, seed: int, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self._rng = random.Random(f"{seed}:faults")
        self._lock = threading.Lock()
        self._sleep = sleep

    def draw(self) -> int | None:
        """429, a 5xx status, or None for a normal answer."""
        with self._lock:
            roll, pick = self._rng.random(), self._rng.choice((500, 502, 503, 504))
        if roll < self.config.rate_429:
            return 429
        if roll < self.config.rate_429 + self.config.rate_5xx:
            return pick
        return None

    def delay(self) -> None:
        if self.config.slow_ms > 0:
            self._sleep(self.config.slow_ms / 1000)
