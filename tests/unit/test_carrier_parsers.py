"""The three carrier connectors on recorded payloads: each status table, scans, and broken records as Rejections."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from connectors import aftership, carriers, easypost, shippo
from connectors.carrier_base import ParcelRef
from connectors.schemas import Rejection, TrackingUpdate
from core.enums import CarrierKind, TrackingStatus

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def load(kind: str, name: str) -> dict:
    return json.loads((FIXTURES / kind / f"{name}.json").read_text())


def parsed(result: TrackingUpdate | Rejection) -> TrackingUpdate:
    assert isinstance(result, TrackingUpdate), result
    return result


# --- EasyPost -------------------------------------------------------------------------------------


def test_an_easypost_delivered_tracker_lists_its_scans_oldest_first_with_places():
    update = parsed(easypost.parse_tracking(load("easypost", "tracker_delivered")))
    assert (update.tracking_number, update.status, update.carrier_status) == (
        "1Z5R89390357567127", TrackingStatus.DELIVERED, "delivered")
    assert [s.status for s in update.scans] == [TrackingStatus.PRE_TRANSIT, TrackingStatus.IN_TRANSIT,
                                                TrackingStatus.OUT_FOR_DELIVERY, TrackingStatus.DELIVERED]
    assert update.scans[1].place == "Secaucus, NJ, US"
    assert update.scans[-1].occurred_at == datetime(2026, 11, 18, 19, 38, tzinfo=UTC)
    assert update.scans[-1].carrier_code == "delivered:arrived_at_destination"


def test_an_easypost_delivery_exception_is_a_failed_attempt_and_return_to_sender_is_returned():
    first, second = (parsed(easypost.parse_tracking(t)) for t in load("easypost", "trackers_list")["trackers"])
    assert first.status is TrackingStatus.FAILED_ATTEMPT
    assert first.scans[-1].description.startswith("Notice Left")
    assert second.status is TrackingStatus.RETURNED_TO_SENDER


@pytest.mark.parametrize(("status", "expected"), [
    ("pre_transit", TrackingStatus.PRE_TRANSIT), ("in_transit", TrackingStatus.IN_TRANSIT),
    ("out_for_delivery", TrackingStatus.OUT_FOR_DELIVERY), ("delivered", TrackingStatus.DELIVERED),
    ("available_for_pickup", TrackingStatus.AVAILABLE_FOR_PICKUP),
    ("return_to_sender", TrackingStatus.RETURNED_TO_SENDER), ("failure", TrackingStatus.EXCEPTION),
    ("cancelled", TrackingStatus.CANCELLED), ("error", TrackingStatus.UNKNOWN), ("unknown", TrackingStatus.UNKNOWN),
    ("something_new", TrackingStatus.UNKNOWN),
])
def test_every_easypost_status_word_has_its_meaning(status, expected):
    raw = {**load("easypost", "tracker_delivered"), "status": status, "status_detail": None}
    assert parsed(easypost.parse_tracking(raw)).status is expected


@pytest.mark.parametrize("breakage", ["no_code", "naive_time", "details_not_a_list", "status_number"])
def test_a_broken_easypost_tracker_becomes_a_rejection_with_its_raw_payload(breakage):
    raw = copy.deepcopy(load("easypost", "tracker_delivered"))
    if breakage == "no_code":
        del raw["tracking_code"]
    elif breakage == "naive_time":
        raw["tracking_details"][2]["datetime"] = "2026-11-18 12:05"
    elif breakage == "details_not_a_list":
        raw["tracking_details"] = "none"
    else:
        raw["status"] = 7
    result = easypost.parse_tracking(raw)
    assert isinstance(result, Rejection)
    assert result.raw == raw and result.error
    if breakage == "naive_time":
        assert "tracking_details[2].datetime" in result.error and result.external_id == "1Z5R89390357567127"


def test_the_easypost_client_lists_by_code_creates_what_it_lacks_and_sends_the_key_as_basic_auth():
    listed, seen = load("easypost", "trackers_list"), []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "GET":
            return httpx.Response(200, json=listed)
        body = json.loads(request.content)["tracker"]
        return httpx.Response(200, json={**load("easypost", "tracker_delivered"), "tracking_code": body["tracking_code"]})

    client = httpx.Client(base_url="https://ep.test", transport=httpx.MockTransport(handler))
    client.auth = httpx.BasicAuth("EZAK_key", "")
    parcels = [ParcelRef("9400111899223197428490", "USPS"), ParcelRef("9400111899223197428507", "USPS"),
               ParcelRef("1ZNEW", "UPS")]
    updates = easypost.EasyPostTrackers(client).track(parcels)
    assert sorted(parsed(u).tracking_number for u in updates) == sorted(p.tracking_number for p in parcels)
    assert seen[0].url.params.get_list("tracking_codes") == [p.tracking_number for p in parcels]
    assert seen[0].headers["authorization"].startswith("Basic ")
    assert json.loads(seen[1].content) == {"tracker": {"tracking_code": "1ZNEW", "carrier": "UPS"}}


# --- Shippo ---------------------------------------------------------------------------------------


def test_a_shippo_track_out_for_delivery_keeps_its_history_once():
    update = parsed(shippo.parse_tracking(load("shippo", "track_out_for_delivery")))
    assert update.status is TrackingStatus.OUT_FOR_DELIVERY and update.detail == "out_for_delivery"
    assert [s.status for s in update.scans] == [TrackingStatus.PRE_TRANSIT, TrackingStatus.IN_TRANSIT,
                                                TrackingStatus.OUT_FOR_DELIVERY]
    assert update.scans[-1].place == "Spotsylvania, VA, US"
    assert update.estimated_at == datetime(2026, 11, 19, 18, tzinfo=UTC)


def test_a_lost_shippo_parcel_is_an_exception_and_its_current_status_is_a_scan_too():
    update = parsed(shippo.parse_tracking(load("shippo", "track_lost")))
    assert update.status is TrackingStatus.EXCEPTION and update.carrier_status == "FAILURE"
    assert update.scans[-1].carrier_code == "FAILURE:package_lost" and update.scans[-1].place is None


@pytest.mark.parametrize(("status", "sub", "expected"), [
    ("PRE_TRANSIT", None, TrackingStatus.PRE_TRANSIT), ("TRANSIT", "package_departed", TrackingStatus.IN_TRANSIT),
    ("TRANSIT", "delivery_attempted", TrackingStatus.FAILED_ATTEMPT),
    ("TRANSIT", "pickup_available", TrackingStatus.AVAILABLE_FOR_PICKUP),
    ("DELIVERED", "delivered", TrackingStatus.DELIVERED), ("RETURNED", None, TrackingStatus.RETURNED_TO_SENDER),
    ("FAILURE", "package_damaged", TrackingStatus.EXCEPTION), ("UNKNOWN", None, TrackingStatus.UNKNOWN),
])
def test_every_shippo_status_has_its_meaning(status, sub, expected):
    raw = copy.deepcopy(load("shippo", "track_lost"))
    raw["tracking_status"].update(status=status, substatus={"code": sub} if sub else None)
    assert parsed(shippo.parse_tracking(raw)).status is expected


def test_a_shippo_track_without_a_status_is_rejected():
    raw = {**load("shippo", "track_lost"), "tracking_status": None}
    result = shippo.parse_tracking(raw)
    assert isinstance(result, Rejection) and result.error == "tracking_status: missing"
    assert result.external_id == "784512367790"


def test_the_shippo_client_asks_per_parcel_with_its_token_header():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=load("shippo", "track_lost"))

    client = httpx.Client(base_url="https://shippo.test", headers={"Authorization": "ShippoToken shippo_test_x"},
                          transport=httpx.MockTransport(handler))
    shippo.ShippoTracks(client, concurrency=1).track([ParcelRef("784512367790", "FedEx"),
                                                      ParcelRef("JD1", "DHL Express")])
    assert [r.url.path for r in seen] == ["/tracks/fedex/784512367790", "/tracks/dhl_express/JD1"]
    assert seen[0].headers["authorization"] == "ShippoToken shippo_test_x"


# --- AfterShip ------------------------------------------------------------------------------------


def test_an_aftership_exception_011_is_returned_to_sender_after_a_failed_attempt():
    update = parsed(aftership.parse_tracking(load("aftership", "tracking_returned")["data"]["tracking"]))
    assert update.status is TrackingStatus.RETURNED_TO_SENDER and update.detail == "Exception_011"
    assert [s.status for s in update.scans] == [TrackingStatus.PRE_TRANSIT, TrackingStatus.FAILED_ATTEMPT,
                                                TrackingStatus.RETURNED_TO_SENDER]
    assert update.scans[1].place == "Edinburgh, GBR"
    assert update.scans[2].occurred_at == datetime(2026, 11, 20, 10, 45, tzinfo=UTC)  # no offset given: UTC


def test_aftership_damage_is_an_exception_and_a_bare_expected_date_is_read():
    delivered, damaged = (parsed(aftership.parse_tracking(t))
                          for t in load("aftership", "trackings_list")["data"]["trackings"])
    assert delivered.status is TrackingStatus.DELIVERED
    assert delivered.estimated_at == datetime(2026, 11, 19, tzinfo=UTC)
    assert delivered.scans[0].occurred_at == datetime(2026, 11, 18, 8, tzinfo=UTC)
    assert damaged.status is TrackingStatus.EXCEPTION and damaged.scans[0].carrier_code == "Exception_012"


@pytest.mark.parametrize(("tag", "expected"), [
    ("Pending", TrackingStatus.UNKNOWN), ("InfoReceived", TrackingStatus.PRE_TRANSIT),
    ("InTransit", TrackingStatus.IN_TRANSIT), ("OutForDelivery", TrackingStatus.OUT_FOR_DELIVERY),
    ("AttemptFail", TrackingStatus.FAILED_ATTEMPT), ("Delivered", TrackingStatus.DELIVERED),
    ("AvailableForPickup", TrackingStatus.AVAILABLE_FOR_PICKUP), ("Exception", TrackingStatus.EXCEPTION),
    ("Expired", TrackingStatus.UNKNOWN),
])
def test_every_aftership_tag_has_its_meaning(tag, expected):
    raw = {**load("aftership", "tracking_returned")["data"]["tracking"], "tag": tag, "subtag": None}
    assert parsed(aftership.parse_tracking(raw)).status is expected


def test_an_aftership_checkpoint_with_an_unreadable_time_rejects_the_tracking():
    raw = copy.deepcopy(load("aftership", "tracking_returned")["data"]["tracking"])
    raw["checkpoints"][1]["checkpoint_time"] = "yesterday"
    result = aftership.parse_tracking(raw)
    assert isinstance(result, Rejection) and "checkpoints[1].checkpoint_time" in result.error


def test_the_aftership_client_lists_fifty_numbers_a_request_with_its_api_key_header():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        numbers = request.url.params["tracking_numbers"].split(",")
        return httpx.Response(200, json={"meta": {"code": 200}, "data": {"trackings": [
            {"tracking_number": n, "tag": "InTransit", "checkpoints": []} for n in numbers]}})

    client = aftership.connect_carrier("https://as.test/tracking/2024-04", "asat_key", {"concurrency": 1})
    client._client._transport = httpx.MockTransport(handler)
    updates = client.track([ParcelRef(f"N{i}", "DHL Express") for i in range(120)])
    assert len(updates) == 120 and all(parsed(u).status is TrackingStatus.IN_TRANSIT for u in updates)
    assert [len(r.url.params["tracking_numbers"].split(",")) for r in seen] == [50, 50, 20]
    assert seen[0].url.path == "/tracking/2024-04/trackings" and seen[0].headers["as-api-key"] == "asat_key"


def test_the_registry_serves_every_carrier_kind():
    assert set(carriers.CARRIERS) == set(CarrierKind)
    for kind in CarrierKind:
        assert callable(carriers.parser_for(kind))
