"""The carrier registry: each tracking API's module. Adding a carrier is one module plus one line here.

What a carrier module provides is described in ``connectors.carrier_base``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from connectors import aftership, easypost, shippo
from connectors.carrier_base import ParcelRef, TrackingSource
from connectors.schemas import Rejection, TrackingUpdate
from core.enums import CarrierKind

CARRIERS: dict[CarrierKind, ModuleType] = {
    CarrierKind.EASYPOST: easypost,
    CarrierKind.SHIPPO: shippo,
    CarrierKind.AFTERSHIP: aftership,
}

__all__ = ["CARRIERS", "ParcelRef", "TrackingSource", "connect", "parser_for"]


def parser_for(kind: CarrierKind) -> Callable[[Any], TrackingUpdate | Rejection]:
    """The raw-tracking parser of a carrier kind (the poll and dead-letter replays use it)."""
    return _module(kind).parse_tracking


def connect(kind: CarrierKind, base_url: str, secret: str, settings: Mapping[str, Any]) -> TrackingSource:
    """The tracking connector of a ``kind`` carrier account, given its secret (read from the environment)."""
    return _module(kind).connect_carrier(base_url, secret, dict(settings or {}))


def _module(kind: CarrierKind) -> ModuleType:
    try:
        return CARRIERS[CarrierKind(kind)]
    except (KeyError, ValueError):
        raise LookupError(f"Carrier kind {kind} has no connector yet.") from None
