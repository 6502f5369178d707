"""The returns rules without a store: grade to disposition, where units go back, what to refund."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.enums import Disposition, Grade, ReturnReason, ReturnStatus
from core.return_rules import (
    ReturnSettings,
    open_box_sku,
    over_received,
    proposed_disposition,
    recommend_refund,
    restock_sku,
    returnable,
    status_after_inspection,
)
from core.return_story import describe_return

FEE = Decimal("15")


@pytest.mark.parametrize(("grade", "disposition"), [
    (Grade.A, Disposition.RESTOCK), (Grade.B, Disposition.RESTOCK_OPEN_BOX), (Grade.C, Disposition.REFURBISH),
    (Grade.D, Disposition.DISPOSE), (Grade.MISSING, None)])
def test_each_grade_proposes_its_disposition(grade, disposition):
    assert proposed_disposition(grade) is disposition


def test_restock_goes_to_the_sku_and_open_box_to_its_own_sku_unless_open_box_may_sell():
    assert restock_sku(Disposition.RESTOCK, "TEE", open_box_sellable=False) == "TEE"
    assert restock_sku(Disposition.RESTOCK_OPEN_BOX, "TEE", open_box_sellable=False) == open_box_sku("TEE") != "TEE"
    assert restock_sku(Disposition.RESTOCK_OPEN_BOX, "TEE", open_box_sellable=True) == "TEE"
    for other in (Disposition.REFURBISH, Disposition.RETURN_TO_VENDOR, Disposition.DISPOSE, None):
        assert restock_sku(other, "TEE", open_box_sellable=True) is None


@pytest.mark.parametrize("grade", [Grade.A, Grade.B])
def test_a_and_b_refund_the_price_of_the_units_received(grade):
    assert recommend_refund(grade, ReturnReason.DEFECTIVE, Decimal("24.00"), 2, FEE) == Decimal("48.00")
    assert recommend_refund(grade, ReturnReason.DEFECTIVE, Decimal("24.00"), 1, FEE) == Decimal("24.00")


def test_changed_mind_pays_the_restocking_fee_rounded_to_the_cent():
    assert recommend_refund(Grade.A, ReturnReason.CHANGED_MIND, Decimal("24.00"), 2, FEE) == Decimal("40.80")
    assert recommend_refund(Grade.B, ReturnReason.CHANGED_MIND, Decimal("9.99"), 1, Decimal("12.5")) == Decimal("8.74")
    assert recommend_refund(Grade.A, ReturnReason.CHANGED_MIND, Decimal("10"), 1, Decimal("0")) == Decimal("10.00")


def test_missing_refunds_nothing_and_c_and_d_are_left_to_a_person():
    assert recommend_refund(Grade.MISSING, ReturnReason.DAMAGED, Decimal("24.00"), 2, FEE) == Decimal("0.00")
    assert recommend_refund(Grade.A, ReturnReason.DAMAGED, Decimal("24.00"), 0, FEE) == Decimal("0.00")
    assert recommend_refund(Grade.C, ReturnReason.DAMAGED, Decimal("24.00"), 2, FEE) is None
    assert recommend_refund(Grade.D, ReturnReason.CHANGED_MIND, Decimal("24.00"), 2, FEE) is None


def test_only_what_shipped_and_is_not_yet_on_an_rma_may_be_returned():
    assert returnable(3, 0) == 3 and returnable(3, 2) == 1 and returnable(3, 3) == 0 and returnable(1, 2) == 0


def test_over_receiving_names_every_line_that_is_over():
    assert over_received([("TEE", 2, 2), ("MUG", 1, 0)]) is None
    said = over_received([("TEE", 2, 3), ("MUG", 1, 1), ("CAP", 1, 4)])
    assert "TEE: 3 received but only 2 authorised" in said and "CAP: 4 received but only 1 authorised" in said
    assert "MUG" not in said


def test_an_rma_closes_once_every_refund_is_decided():
    assert status_after_inspection([True, True]) is ReturnStatus.CLOSED
    assert status_after_inspection([True, False]) is ReturnStatus.INSPECTED


def test_settings_round_trip_and_fall_back_to_every_reason():
    custom = ReturnSettings(reasons=(ReturnReason.DAMAGED, ReturnReason.OTHER), restocking_fee_pct=Decimal("10"),
                            open_box_sellable=True)
    assert ReturnSettings.from_dict(custom.to_dict()) == custom
    assert ReturnSettings.from_dict({"reasons": ["gone"]}).reasons == tuple(ReturnReason)
    assert ReturnSettings.from_dict({}).restocking_fee_pct == FEE


def test_return_events_read_as_sentences():
    text = describe_return("return_inspected", {"rma": "RMA-1004-1", "lines": [
        {"sku": "TEE", "grade": "B", "disposition": "dispose", "proposed": "restock_open_box",
         "override_reason": "stained", "refund": "48.00"},
        {"sku": "MUG", "grade": "C", "disposition": "refurbish", "proposed": "refurbish", "refund": None}]})
    assert text == ("Return RMA-1004-1 inspected: TEE graded B - open box: dispose instead of restock open box "
                    "(stained), refund 48.00; MUG graded C - damaged: refurbish, refund for an ops lead to decide.")
    assert describe_return("return_received", {"rma": "R", "location": "NJ-WH", "received": {"TEE": 1},
                                               "missing": {"TEE": 1}}) == \
        "Return R received at NJ-WH: 1 x TEE; missing 1 x TEE."
