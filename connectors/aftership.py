"""AfterShip Trackings: where parcels are, in AfterShip's tracking JSON, normalized.

Wire facts (DESIGN.md section 5): header ``as-api-key`` (older keys: ``aftership-api-key``,
chosen with the ``api_key_header`` setting); ``GET /trackings?tracking_numbers=A,B`` lists
up to 50 trackings by number, answered as ``{"meta": {...}, "data": {"trackings": [...]}}``;
one not tracked yet is created with ``POST /trackings`` ``{"tracking": {"tracking_number",
"slug"}}``. A tracking has ``tracking_number``, ``slug``, ``tag``, ``subtag``,
``expected_delivery`` and ``checkpoints[]`` of ``{checkpoint_time, tag, subtag, message,
location, city, state, country_iso3, zip}``. The base URL carries the API version
(e.g. ``https://api.aftership.com/tracking/2024-04``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from connectors.carrier_base import (
    CarrierClient,
    Invalid,
    ParcelRef,
    StatusTable,
    carrier_client,
    chunks,
    concurrency,
    fan_out,
    guarded,
    index_by,
    listed,
    lookup,
    maybe_when,
    place,
    when,
    with_missing,
    word,
)
from connectors.http import BadResponse, RequestRejected, json_body, send_with_retry
from connectors.schemas import Rejection, TrackingScan, TrackingUpdate
from core.enums import TrackingStatus as T

MAX_NUMBERS = 50  # tracking numbers per list request

# AfterShip's (tag, subtag) -> OpsDesk's. (tag, None) covers any other subtag.
STATUS: StatusTable = {
    ("Pending", None): T.UNKNOWN,  # added, but the carrier has told nothing yet
    ("InfoReceived", None): T.PRE_TRANSIT,
    ("InTransit", None): T.IN_TRANSIT,
    ("OutForDelivery", None): T.OUT_FOR_DELIVERY,
    ("AttemptFail", None): T.FAILED_ATTEMPT,
    ("Delivered", None): T.DELIVERED,
    ("AvailableForPickup", None): T.AVAILABLE_FOR_PICKUP,
    ("Exception", None): T.EXCEPTION,
    ("Exception", "Exception_011"): T.RETURNED_TO_SENDER,
    ("Exception", "Exception_012"): T.EXCEPTION,  # damaged
    ("Exception", "Exception_013"): T.EXCEPTION,  # lost
    ("Expired", None): T.UNKNOWN,  # no news for 30 days: the stale sweep has flagged it long before
}

# The shipment's carrier name (lower case) -> AfterShip's courier slug; others: lower case, '-' for spaces.
SLUGS: Mapping[str, str] = {"ups": "ups", "usps": "usps", "fedex": "fedex", "dhl express": "dhl",
                            "royal mail": "royal-mail"}


def slug(carrier: str) -> str:
    name = carrier.strip().lower()
    return SLUGS.get(name, name.replace(" ", "-"))


def parse_tracking(raw: Any) -> TrackingUpdate | Rejection:
    """Normalize one AfterShip tracking; a broken one becomes a Rejection, never an exception."""
    return guarded(_tracking, raw, "tracking_number")


def _tracking(raw: dict[str, Any]) -> TrackingUpdate:
    number = word(raw, "tracking_number", "")
    tag = word(raw, "tag", "")
    subtag = word(raw, "subtag", "", required=False)
    scans = []
    for i, cp in enumerate(listed(raw, "checkpoints", "")):
        where = f"checkpoints[{i}]."
        if not isinstance(cp, dict):
            raise Invalid(f"{where[:-1]}: expected an object")
        t, s = word(cp, "tag", where), word(cp, "subtag", where, required=False)
        # AfterShip may send a courier's local time without an offset; it is read as UTC rather than lost.
        scans.append(TrackingScan(
            occurred_at=when(cp.get("checkpoint_time"), f"{where}checkpoint_time", naive_is_utc=True),
            status=lookup(STATUS, t, s), carrier_code=(s or t)[:60], description=str(cp.get("message") or "")[:500],
            place=place(cp.get("city"), cp.get("state"), cp.get("country_iso3") or cp.get("country_name"))
            or place(cp.get("location"))))
    return TrackingUpdate(
        tracking_number=number, status=lookup(STATUS, tag, subtag), carrier_status=tag[:60], detail=subtag,
        estimated_at=maybe_when(raw.get("expected_delivery")),
        scans=tuple(sorted(scans, key=lambda s: s.occurred_at)))


def _data(body: Any, where: str) -> dict[str, Any]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise BadResponse(f"{where}: the answer has no data object")
    return data


class AfterShipTrackings(CarrierClient):
    """Tracking polling: one list request per 50 numbers; numbers AfterShip does not track yet are added."""

    def track(self, parcels: Sequence[ParcelRef]) -> list[TrackingUpdate | Rejection]:
        return fan_out(self._batch, list(chunks(parcels, MAX_NUMBERS)), self._concurrency)

    def _batch(self, parcels: Sequence[ParcelRef]) -> list[TrackingUpdate | Rejection]:
        params = {"tracking_numbers": ",".join(p.tracking_number for p in parcels), "limit": 200}
        data = _data(json_body(send_with_retry(self._client, "GET", "/trackings", params=params)), "GET /trackings")
        trackings = data.get("trackings")
        if not isinstance(trackings, list):
            raise BadResponse("GET /trackings: the answer has no trackings list")
        found: dict[str, Any] = {}
        index_by(found, trackings, "tracking_number")
        return [parse_tracking(raw) for raw in with_missing(found, parcels, self._create)]

    def _create(self, parcel: ParcelRef) -> Any:
        courier = slug(parcel.carrier)
        payload = {"tracking": {"tracking_number": parcel.tracking_number, "slug": courier}}
        try:
            # Adding a number twice is refused (4003), never duplicated: safe to repeat.
            body = json_body(send_with_retry(self._client, "POST", "/trackings", json=payload, idempotent=True))
        except RequestRejected:  # already there after all: read it
            body = json_body(send_with_retry(self._client, "GET", f"/trackings/{courier}/{parcel.tracking_number}"))
        data = _data(body, "POST /trackings")
        return data.get("tracking", data)


def connect_carrier(base_url: str, secret: str, settings: Mapping[str, Any]) -> AfterShipTrackings:
    """AfterShip at ``base_url`` (with its API version path) and the API key ``secret``."""
    header = str(settings.get("api_key_header") or "as-api-key")
    return AfterShipTrackings(carrier_client(base_url, settings, {header: secret}), concurrency=concurrency(settings))
