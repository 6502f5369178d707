"""EasyPost, Shippo and AfterShip tracking APIs, served from the sandbox's parcels (``sandbox.parcels``).

Each renders the same journeys in its own wire shape and words (DESIGN.md section 5) and
checks its own credential: EasyPost HTTP Basic with the key as user name, Shippo
``Authorization: ShippoToken <token>``, AfterShip ``as-api-key`` (or ``aftership-api-key``).
The fault knobs apply to every request; a parcel marked malformed is served broken.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from sandbox import Faults, Reply, Request
from sandbox.parcels import Parcel, Parcels, Stage

EASYPOST_PREFIX = "/v2/trackers"
SHIPPO_PREFIX = "/tracks/"
AFTERSHIP_PREFIX = "/tracking/2024-04/"  # the AfterShip base URL is <sandbox>/tracking/2024-04

EASYPOST_WORDS = {"label": ("pre_transit", "label_created"), "in_transit": ("in_transit", "arrived_at_facility"),
                  "out_for_delivery": ("out_for_delivery", "out_for_delivery"),
                  "attempt_failed": ("out_for_delivery", "delivery_exception"),
                  "delivered": ("delivered", "arrived_at_destination"), "returned": ("return_to_sender", "return"),
                  "lost": ("failure", "lost"), "damaged": ("failure", "damaged")}
SHIPPO_WORDS = {"label": ("PRE_TRANSIT", "information_received"), "in_transit": ("TRANSIT", "package_departed"),
                "out_for_delivery": ("TRANSIT", "out_for_delivery"),
                "attempt_failed": ("TRANSIT", "delivery_attempted"), "delivered": ("DELIVERED", "delivered"),
                "returned": ("RETURNED", "return_to_sender"), "lost": ("FAILURE", "package_lost"),
                "damaged": ("FAILURE", "package_damaged")}
AFTERSHIP_WORDS = {"label": ("InfoReceived", "InfoReceived_001"), "in_transit": ("InTransit", "InTransit_002"),
                   "out_for_delivery": ("OutForDelivery", "OutForDelivery_001"),
                   "attempt_failed": ("AttemptFail", "AttemptFail_001"), "delivered": ("Delivered", "Delivered_001"),
                   "returned": ("Exception", "Exception_011"), "lost": ("Exception", "Exception_013"),
                   "damaged": ("Exception", "Exception_012")}
ISO3 = {"US": "USA", "CA": "CAN", "GB": "GBR", "DE": "DEU", "FR": "FRA"}


def _z(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _CarrierApi:
    """Shared: faults first, then the credential, then the route."""

    def __init__(self, parcels: Parcels, faults: Faults, token: str) -> None:
        self.parcels, self.faults, self.token = parcels, faults, token

    def __call__(self, req: Request) -> Reply:
        self.faults.delay()
        fault = self.faults.draw()
        if fault == 429:
            return Reply.json(429, self.error(429, "Too many requests"),
                              {"Retry-After": f"{self.faults.config.retry_after_s:g}"})
        if fault is not None:
            return Reply.json(fault, self.error(fault, "Internal server error"))
        if not self.authorized(req):
            return Reply.json(401, self.error(401, "Invalid credentials"))
        return self.route(req)

    def error(self, status: int, message: str) -> dict[str, Any]:
        return {"error": {"code": str(status), "message": message}}

    def authorized(self, req: Request) -> bool:
        raise NotImplementedError

    def route(self, req: Request) -> Reply:
        raise NotImplementedError


class EasyPostApi(_CarrierApi):
    """GET/POST /v2/trackers: trackers exist once created, as on EasyPost."""

    def __init__(self, parcels: Parcels, faults: Faults, token: str) -> None:
        super().__init__(parcels, faults, token)
        self._trackers: dict[str, str] = {}  # tracking code -> tracker id

    def authorized(self, req: Request) -> bool:
        auth = req.header("authorization") or ""
        try:
            user = base64.b64decode(auth.removeprefix("Basic ")).decode().split(":", 1)[0]
        except (binascii.Error, UnicodeDecodeError):
            return False
        return auth.startswith("Basic ") and user == self.token

    def route(self, req: Request) -> Reply:
        if req.method == "POST" and req.path == EASYPOST_PREFIX:
            try:
                body = json.loads(req.body or b"{}")["tracker"]
                code, carrier = str(body["tracking_code"]), str(body.get("carrier") or "")
            except (ValueError, KeyError, TypeError):
                return Reply.json(422, self.error(422, "tracker.tracking_code is required"))
            parcel = self.parcels.find(code, carrier)
            assert parcel is not None
            self._trackers.setdefault(code, f"trk_{zlib.crc32(code.encode()):010d}")
            return Reply.json(200, self.tracker(parcel))
        if req.method == "GET" and req.path == EASYPOST_PREFIX:
            codes = req.query.get("tracking_codes") or req.query.get("tracking_codes[]") or []
            size = min(int(req.param("page_size") or 20), 100)
            found = [p for c in codes if c in self._trackers and (p := self.parcels.known(c)) is not None]
            return Reply.json(200, {"trackers": [self.tracker(p) for p in found[:size]], "has_more": False})
        return Reply.json(404, self.error(404, "Not found"))

    def tracker(self, parcel: Parcel) -> dict[str, Any]:
        scans = self.parcels.scans(parcel)
        details = [{"object": "TrackingDetail", "message": s.message, "description": "",
                    "status": EASYPOST_WORDS[s.kind][0], "status_detail": EASYPOST_WORDS[s.kind][1],
                    "datetime": _z(s.at), "source": parcel.carrier,
                    "tracking_location": {"object": "TrackingLocation", "city": s.city, "state": s.state,
                                          "country": s.country, "zip": None}} for s in scans]
        status, detail = EASYPOST_WORDS[scans[-1].kind] if scans else ("unknown", None)
        tracker = {"id": self._trackers.get(parcel.number), "object": "Tracker", "mode": "test",
                   "tracking_code": parcel.number, "status": status, "status_detail": detail,
                   "carrier": parcel.carrier, "created_at": _z(parcel.shipped_at),
                   "updated_at": _z(scans[-1].at if scans else parcel.shipped_at), "est_delivery_date": None,
                   "tracking_details": details, "fees": []}
        if parcel.malformed and details:
            details[-1]["datetime"] = "yesterday"
        return tracker


class ShippoApi(_CarrierApi):
    """GET /tracks/{carrier}/{tracking_number}."""

    def authorized(self, req: Request) -> bool:
        return req.header("authorization") == f"ShippoToken {self.token}"

    def error(self, status: int, message: str) -> dict[str, Any]:
        return {"detail": message}

    def route(self, req: Request) -> Reply:
        parts = req.path[len(SHIPPO_PREFIX):].split("/")
        if req.method != "GET" or len(parts) != 2 or not all(parts):
            return Reply.json(404, self.error(404, "Not found."))
        carrier, number = unquote(parts[0]), unquote(parts[1])
        parcel = self.parcels.find(number, carrier)
        assert parcel is not None
        return Reply.json(200, self.track(parcel, carrier))

    def track(self, parcel: Parcel, carrier: str) -> dict[str, Any]:
        history = [self.status(s) for s in self.parcels.scans(parcel)]
        current = history[-1] if history else {
            "status": "UNKNOWN", "status_details": "The carrier has not scanned this parcel yet.",
            "status_date": _z(self.parcels.now()), "substatus": None, "location": None}
        body = {"carrier": carrier, "tracking_number": parcel.number, "eta": None, "original_eta": None,
                "servicelevel": {"token": None, "name": None}, "metadata": None, "messages": [],
                "tracking_status": current, "tracking_history": history}
        if parcel.malformed:
            body["tracking_status"] = None
        return body

    @staticmethod
    def status(stage: Stage) -> dict[str, Any]:
        status, code = SHIPPO_WORDS[stage.kind]
        return {"object_id": f"{stage.step}", "status": status, "status_details": stage.message,
                "status_date": _z(stage.at), "substatus": {"code": code, "text": stage.message, "action_required":
                                                           stage.kind in ("lost", "damaged")},
                "location": {"city": stage.city, "state": stage.state, "zip": None, "country": stage.country}}


class AfterShipApi(_CarrierApi):
    """GET /trackings?tracking_numbers=..., POST /trackings, GET /trackings/{slug}/{number}."""

    def __init__(self, parcels: Parcels, faults: Faults, token: str) -> None:
        super().__init__(parcels, faults, token)
        self._added: dict[str, str] = {}  # tracking number -> slug

    def authorized(self, req: Request) -> bool:
        return self.token in (req.header("as-api-key"), req.header("aftership-api-key"))

    def error(self, status: int, message: str) -> dict[str, Any]:
        return {"meta": {"code": status, "message": message, "type": "Error"}, "data": {}}

    def route(self, req: Request) -> Reply:
        path = req.path[len(AFTERSHIP_PREFIX):].rstrip("/")
        if req.method == "GET" and path == "trackings":
            numbers = [n for n in (req.param("tracking_numbers") or "").split(",") if n]
            found = [p for n in numbers if n in self._added and (p := self.parcels.known(n)) is not None]
            return Reply.json(200, {"meta": {"code": 200}, "data": {
                "page": 1, "limit": 200, "count": len(found), "trackings": [self.tracking(p) for p in found]}})
        if req.method == "POST" and path == "trackings":
            try:
                body = json.loads(req.body or b"{}")["tracking"]
                number, slug = str(body["tracking_number"]), str(body.get("slug") or "")
            except (ValueError, KeyError, TypeError):
                return Reply.json(400, self.error(4001, "tracking.tracking_number is required"))
            if number in self._added:
                return Reply.json(400, self.error(4003, "Tracking already exists."))
            self._added[number] = slug
            parcel = self.parcels.find(number, slug)
            assert parcel is not None
            return Reply.json(201, {"meta": {"code": 201}, "data": {"tracking": self.tracking(parcel)}})
        parts = path.split("/")
        if req.method == "GET" and len(parts) == 3 and parts[0] == "trackings" and parts[2] in self._added:
            parcel = self.parcels.known(parts[2])
            if parcel is not None:
                return Reply.json(200, {"meta": {"code": 200}, "data": {"tracking": self.tracking(parcel)}})
        return Reply.json(404, self.error(4004, "Tracking does not exist."))

    def tracking(self, parcel: Parcel) -> dict[str, Any]:
        scans = self.parcels.scans(parcel)
        checkpoints = [{"slug": self._added.get(parcel.number), "checkpoint_time": _z(s.at),
                        "tag": AFTERSHIP_WORDS[s.kind][0], "subtag": AFTERSHIP_WORDS[s.kind][1],
                        "message": s.message, "location": ", ".join(p for p in (s.city, s.state) if p),
                        "city": s.city, "state": s.state, "country_iso3": ISO3.get(s.country, s.country),
                        "zip": None} for s in scans]
        tag, subtag = AFTERSHIP_WORDS[scans[-1].kind] if scans else ("Pending", "Pending_001")
        body = {"id": f"as{zlib.crc32(parcel.number.encode()):010d}", "tracking_number": parcel.number,
                "slug": self._added.get(parcel.number), "tag": tag, "subtag": subtag, "expected_delivery": None,
                "created_at": _z(parcel.shipped_at), "checkpoints": checkpoints}
        if parcel.malformed:
            body["tag"] = None
        return body


def mount(add_route: Callable[[str, Any], None], parcels: Parcels, faults: Faults, token: str) -> None:
    """Serve all three carrier APIs from one set of parcels."""
    add_route(EASYPOST_PREFIX, EasyPostApi(parcels, faults, token))
    add_route(SHIPPO_PREFIX, ShippoApi(parcels, faults, token))
    add_route(AFTERSHIP_PREFIX, AfterShipApi(parcels, faults, token))
