"""The fault knobs, live: ``GET /_sandbox/faults`` shows them, ``PUT`` (or ``POST``) turns them while it runs.

So a demo user can watch an integration get sick on Connector health and heal when the knob
is released, without restarting the sandbox (which would start its shops over). A body names
only the knobs to change, e.g. ``{"rate_5xx": 1.0}``; ``{"reset": true}`` turns every one off.
The malformed rate applies to orders and parcels created from then on: each record's fate is
drawn once, when the simulated shop creates it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

from sandbox import FaultConfig, Faults, Reply, Request

# knob -> (type, lowest, highest)
KNOBS: dict[str, tuple[type, float, float]] = {
    "rate_429": (float, 0.0, 1.0),
    "retry_after_s": (float, 0.0, 3600.0),
    "rate_5xx": (float, 0.0, 1.0),
    "slow_ms": (int, 0, 600_000),
    "malformed_rate": (float, 0.0, 1.0),
}


def checked(changes: Any) -> dict[str, Any]:
    """The knob changes a request asks for, or ValueError saying which one is wrong and why."""
    if not isinstance(changes, dict):
        raise ValueError("expected a JSON object of knobs, e.g. {\"rate_5xx\": 0.5}")
    if changes.get("reset") is True:
        return {name: kind(0) if name != "retry_after_s" else FaultConfig.retry_after_s
                for name, (kind, _, _) in KNOBS.items()}
    out = {}
    for name, value in changes.items():
        if name not in KNOBS:
            raise ValueError(f"unknown knob {name!r}; knobs: {', '.join(KNOBS)} (or reset)")
        kind, low, high = KNOBS[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and value != int(value)):
            raise ValueError(f"{name}: expected a {'whole ' if kind is int else ''}number, got {value!r}")
        if not low <= value <= high:
            raise ValueError(f"{name}: {value} is outside {low:g}..{high:g}")
        out[name] = kind(value)
    return out


def apply(faults: Faults, malformed_holders: Iterable[Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Turn the knobs (already ``checked``); returns every knob's value now."""
    faults.config = dataclasses.replace(faults.config, **changes)
    if "malformed_rate" in changes:
        for holder in malformed_holders:  # the shops and the parcels draw each new record's fate
            holder.malformed_rate = changes["malformed_rate"]
    return current(faults)


def current(faults: Faults) -> dict[str, Any]:
    return {name: getattr(faults.config, name) for name in KNOBS}


def handle(req: Request, faults: Faults, malformed_holders: Iterable[Any]) -> Reply:
    """``/_sandbox/faults``: GET reads the knobs, PUT or POST changes some of them."""
    if req.method == "GET":
        return Reply.json(200, current(faults))
    if req.method not in ("PUT", "POST"):
        return Reply.json(405, {"error": "GET, PUT or POST"}, {"Allow": "GET, PUT, POST"})
    try:
        changes = checked(json.loads(req.body or b"{}"))
    except (ValueError, UnicodeDecodeError) as exc:
        return Reply.json(400, {"error": str(exc)})
    return Reply.json(200, apply(faults, malformed_holders, changes))
