"""Shippo Tracks: where parcels are, in Shippo's track JSON, normalized.

Wire facts (DESIGN.md section 5): header ``Authorization: ShippoToken <token>``; one
``GET /tracks/{carrier}/{tracking_number}`` per parcel (``carrier`` is Shippo's token, e.g.
``usps``, ``ups``, ``fedex``, ``dhl_express``). A track has ``tracking_number``, ``eta``,
``tracking_status`` ``{status, status_details, status_date, substatus{code, text}, location{city,
state, zip, country}}`` and ``tracking_history[]`` of the same shape, oldest first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from connectors.carrier_base import (
    CarrierClient,
    Invalid,
    ParcelRef,
    StatusTable,
    carrier_client,
    concurrency,
    fan_out,
    guarded,
    listed,
    lookup,
    maybe_when,
    place,
    when,
    word,
)
from connectors.http import json_body, send_with_retry
from connectors.schemas import Rejection, TrackingScan, TrackingUpdate
from core.enums import TrackingStatus as T

# Shippo's (status, substatus.code) -> OpsDesk's. (status, None) covers any other substatus.
STATUS: StatusTable = {
    ("UNKNOWN", None): T.UNKNOWN,
    ("PRE_TRANSIT", None): T.PRE_TRANSIT,
    ("TRANSIT", None): T.IN_TRANSIT,
    ("TRANSIT", "out_for_delivery"): T.OUT_FOR_DELIVERY,
    ("TRANSIT", "delivery_attempted"): T.FAILED_ATTEMPT,
    ("TRANSIT", "notice_left"): T.FAILED_ATTEMPT,
    ("TRANSIT", "pickup_available"): T.AVAILABLE_FOR_PICKUP,
    ("TRANSIT", "return_to_sender"): T.RETURNED_TO_SENDER,
    ("TRANSIT", "package_damaged"): T.EXCEPTION,
    ("DELIVERED", None): T.DELIVERED,
    ("RETURNED", None): T.RETURNED_TO_SENDER,
    ("FAILURE", None): T.EXCEPTION,  # lost, damaged, undeliverable, disposed
}

# The shipment's carrier name (lower case) -> Shippo's carrier token; others: lower case, '_' for spaces.
CARRIER_TOKENS: Mapping[str, str] = {
    "ups": "ups", "usps": "usps", "fedex": "fedex", "dhl express": "dhl_express", "royal mail": "royal_mail",
}


def carrier_token(carrier: str) -> str:
    name = carrier.strip().lower()
    return CARRIER_TOKENS.get(name, name.replace(" ", "_"))


def parse_tracking(raw: Any) -> TrackingUpdate | Rejection:
    """Normalize one Shippo track; a broken one becomes a Rejection, never an exception."""
    return guarded(_track, raw, "tracking_number")


def _status(item: Any, where: str) -> TrackingScan:
    if not isinstance(item, dict):
        raise Invalid(f"{where}: expected an object")
    status = word(item, "status", f"{where}.")
    sub = item.get("substatus") or {}
    if not isinstance(sub, dict):
        raise Invalid(f"{where}.substatus: expected an object")
    code = word(sub, "code", f"{where}.substatus.", required=False)
    loc = item.get("location") or {}
    if not isinstance(loc, dict):
        raise Invalid(f"{where}.location: expected an object")
    return TrackingScan(
        occurred_at=when(item.get("status_date"), f"{where}.status_date"), status=lookup(STATUS, status, code),
        carrier_code=f"{status}:{code}"[:60] if code else status,
        description=str(item.get("status_details") or sub.get("text") or "")[:500],
        place=place(loc.get("city"), loc.get("state"), loc.get("country")))


def _track(raw: dict[str, Any]) -> TrackingUpdate:
    number = word(raw, "tracking_number", "")
    current = raw.get("tracking_status")
    if not isinstance(current, dict):
        raise Invalid("tracking_status: missing")
    now = _status(current, "tracking_status")
    history = [_status(item, f"tracking_history[{i}]") for i, item in enumerate(listed(raw, "tracking_history", ""))]
    # The current status is a scan too, even before it shows in the history - unless the carrier has
    # seen nothing yet (UNKNOWN, dated when asked): that is no scan at all.
    if now.status is not T.UNKNOWN and not any(
            h.occurred_at == now.occurred_at and h.carrier_code == now.carrier_code for h in history):
        history.append(now)
    sub = current.get("substatus") or {}
    return TrackingUpdate(
        tracking_number=number, status=now.status, carrier_status=str(current["status"])[:60],
        detail=sub.get("code"), estimated_at=maybe_when(raw.get("eta")),
        scans=tuple(sorted(history, key=lambda s: s.occurred_at)))


class ShippoTracks(CarrierClient):
    """Track polling: Shippo answers one parcel per request, so requests run a few at a time."""

    def track(self, parcels: Sequence[ParcelRef]) -> list[TrackingUpdate | Rejection]:
        return fan_out(self._one, list(parcels), self._concurrency)

    def _one(self, parcel: ParcelRef) -> list[TrackingUpdate | Rejection]:
        url = f"/tracks/{quote(carrier_token(parcel.carrier), safe='')}/{quote(parcel.tracking_number, safe='')}"
        return [parse_tracking(json_body(send_with_retry(self._client, "GET", url)))]


def connect_carrier(base_url: str, secret: str, settings: Mapping[str, Any]) -> ShippoTracks:
    """Shippo at ``base_url`` (https://api.goshippo.com) with the API token ``secret``."""
    client = carrier_client(base_url, settings, {"Authorization": f"ShippoToken {secret}"})
    return ShippoTracks(client, concurrency=concurrency(settings))
