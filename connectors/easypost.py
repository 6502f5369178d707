"""EasyPost Trackers: where parcels are, in EasyPost's tracker JSON, normalized.

Wire facts (DESIGN.md section 5, EasyPost API v2): HTTP Basic auth with the API key as the
user name and an empty password; ``GET /v2/trackers`` lists trackers filtered by
``tracking_codes`` (``page_size`` up to 100, ``has_more`` with ``before_id`` for the next
page); a tracker that does not exist yet is created with ``POST /v2/trackers``
``{"tracker": {"tracking_code", "carrier"}}`` (EasyPost answers the existing tracker for a
code it already tracks, so repeating it is harmless). A tracker has ``tracking_code``,
``status``, ``status_detail``, ``est_delivery_date`` and ``tracking_details[]`` of
``{datetime, status, status_detail, message, tracking_location{city, state, country, zip}}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

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
from connectors.http import BadResponse, json_body, send_with_retry
from connectors.schemas import Rejection, TrackingScan, TrackingUpdate
from core.enums import TrackingStatus as T

MAX_PAGE_SIZE = 100

# EasyPost's tracker and tracking-detail words -> OpsDesk's. (status, None) covers any other detail.
STATUS: StatusTable = {
    ("unknown", None): T.UNKNOWN,
    ("pre_transit", None): T.PRE_TRANSIT,
    ("in_transit", None): T.IN_TRANSIT,
    # A delivery exception while out for delivery (or back in transit) is a failed attempt.
    ("in_transit", "delivery_exception"): T.FAILED_ATTEMPT,
    ("out_for_delivery", "delivery_exception"): T.FAILED_ATTEMPT,
    ("out_for_delivery", None): T.OUT_FOR_DELIVERY,
    ("available_for_pickup", None): T.AVAILABLE_FOR_PICKUP,
    ("delivered", None): T.DELIVERED,
    ("return_to_sender", None): T.RETURNED_TO_SENDER,
    ("failure", None): T.EXCEPTION,  # lost, damaged, undeliverable
    ("cancelled", None): T.CANCELLED,
    ("error", None): T.UNKNOWN,  # the carrier could not track the code: nothing is known of the parcel
}

# The shipment's carrier name (lower case) -> EasyPost's carrier name; others are sent without spaces.
CARRIER_NAMES: Mapping[str, str] = {
    "ups": "UPS", "usps": "USPS", "fedex": "FedEx", "dhl express": "DHLExpress", "royal mail": "RoyalMail",
}


def carrier_name(carrier: str) -> str:
    return CARRIER_NAMES.get(carrier.strip().lower(), carrier.replace(" ", ""))


def parse_tracking(raw: Any) -> TrackingUpdate | Rejection:
    """Normalize one EasyPost tracker; a broken one becomes a Rejection, never an exception."""
    return guarded(_tracker, raw, "tracking_code")


def _tracker(raw: dict[str, Any]) -> TrackingUpdate:
    code = word(raw, "tracking_code", "")
    status = word(raw, "status", "")
    detail = word(raw, "status_detail", "", required=False)
    scans = []
    for i, item in enumerate(listed(raw, "tracking_details", "")):
        where = f"tracking_details[{i}]."
        if not isinstance(item, dict):
            raise Invalid(f"{where[:-1]}: expected an object")
        s, d = word(item, "status", where), word(item, "status_detail", where, required=False)
        loc = item.get("tracking_location") or {}
        if not isinstance(loc, dict):
            raise Invalid(f"{where}tracking_location: expected an object")
        scans.append(TrackingScan(
            occurred_at=when(item.get("datetime"), f"{where}datetime"), status=lookup(STATUS, s, d),
            carrier_code=f"{s}:{d}"[:60] if d else s, description=str(item.get("message") or "")[:500],
            place=place(loc.get("city"), loc.get("state"), loc.get("country"))))
    return TrackingUpdate(
        tracking_number=code, status=lookup(STATUS, status, detail), carrier_status=status[:60],
        detail=detail, estimated_at=maybe_when(raw.get("est_delivery_date")),
        scans=tuple(sorted(scans, key=lambda s: s.occurred_at)))


class EasyPostTrackers(CarrierClient):
    """Tracker polling: one list request per batch of codes; codes EasyPost does not track yet are created."""

    def __init__(self, client: httpx.Client, *, page_size: int = MAX_PAGE_SIZE, concurrency: int = 4) -> None:
        super().__init__(client, concurrency=concurrency)
        self._page_size = max(1, min(page_size, MAX_PAGE_SIZE))

    def track(self, parcels: Sequence[ParcelRef]) -> list[TrackingUpdate | Rejection]:
        """Current tracking of each parcel (in no promised order), bad trackers as Rejections."""
        return fan_out(self._batch, list(chunks(parcels, self._page_size)), self._concurrency)

    def _batch(self, parcels: Sequence[ParcelRef]) -> list[TrackingUpdate | Rejection]:
        found: dict[str, Any] = {}
        params: dict[str, Any] = {"tracking_codes": [p.tracking_number for p in parcels],
                                  "page_size": self._page_size}
        while True:
            body = json_body(send_with_retry(self._client, "GET", "/v2/trackers", params=params))
            trackers = body.get("trackers") if isinstance(body, dict) else None
            if not isinstance(trackers, list):
                raise BadResponse("GET /v2/trackers: the answer has no trackers list")
            index_by(found, trackers, "tracking_code")
            if not body.get("has_more") or not trackers or not isinstance(trackers[-1], dict):
                break
            params = {**params, "before_id": trackers[-1].get("id")}
        return [parse_tracking(raw) for raw in with_missing(found, parcels, self._create)]

    def _create(self, parcel: ParcelRef) -> Any:
        payload = {"tracker": {"tracking_code": parcel.tracking_number, "carrier": carrier_name(parcel.carrier)}}
        # EasyPost answers the existing tracker for a code it already tracks: safe to repeat.
        return json_body(send_with_retry(self._client, "POST", "/v2/trackers", json=payload, idempotent=True))


def connect_carrier(base_url: str, secret: str, settings: Mapping[str, Any]) -> EasyPostTrackers:
    """EasyPost at ``base_url`` (https://api.easypost.com) with the API key ``secret``."""
    client = carrier_client(base_url, settings)
    client.auth = httpx.BasicAuth(secret, "")
    return EasyPostTrackers(client, page_size=int(settings.get("page_size", MAX_PAGE_SIZE)),
                            concurrency=concurrency(settings))
