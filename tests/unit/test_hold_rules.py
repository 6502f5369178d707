"""Each hold rule, and the triage decision, as pure functions."""

from decimal import Decimal

import pytest

from core.enums import FinancialStatus, HoldCode, OrderStatus
from core.rules import (
    OrderFacts,
    RuleSettings,
    address_invalid,
    address_problem,
    duplicate_suspect,
    evaluate,
    fraud_risk,
    high_value,
    out_of_zone,
    payment_pending,
)
from core.triage import decide

GOOD_ADDRESS = {"name": "Ada Rossi", "address1": "1 Main St", "city": "Boston", "region": "MA",
                "postal_code": "02110", "country_code": "US"}


def facts(**overrides) -> OrderFacts:
    base = dict(total=Decimal("48.00"), currency="USD", financial_status=FinancialStatus.PAID, risk_level=None,
                ship_to=GOOD_ADDRESS, country="US", region="MA", ships_to_zone=True, duplicate_of=())
    base.update(overrides)
    return OrderFacts(**base)


DEFAULT = RuleSettings()


def test_an_ordinary_paid_order_raises_no_hold():
    assert all(why is None for why in evaluate(facts(), DEFAULT).values())


@pytest.mark.parametrize(("total", "held"), [("4999.99", False), ("5000.00", True), ("12000", True)])
def test_high_value_at_or_above_the_threshold(total, held):
    assert (high_value(facts(total=Decimal(total)), DEFAULT) is not None) == held


def test_high_value_thresholds_can_differ_per_currency():
    settings = RuleSettings.from_dict({"high_value_threshold": "5000", "high_value_by_currency": {"jpy": 700000}})
    assert high_value(facts(total=Decimal("600000"), currency="JPY"), settings) is None
    assert high_value(facts(total=Decimal("6000"), currency="EUR"), settings) is not None


@pytest.mark.parametrize("status", [FinancialStatus.PENDING, FinancialStatus.PARTIALLY_PAID, FinancialStatus.VOIDED,
                                    FinancialStatus.UNKNOWN])
def test_payment_pending_unless_paid_or_authorized(status):
    assert "not paid" in payment_pending(facts(financial_status=status), DEFAULT)


@pytest.mark.parametrize("status", [FinancialStatus.PAID, FinancialStatus.AUTHORIZED])
def test_paid_and_authorized_orders_pass_the_payment_rule(status):
    assert payment_pending(facts(financial_status=status), DEFAULT) is None


def test_fraud_risk_follows_the_channels_rating_and_the_settings():
    assert fraud_risk(facts(risk_level="HIGH"), DEFAULT) is not None
    assert fraud_risk(facts(risk_level="medium"), DEFAULT) is None
    strict = RuleSettings.from_dict({"risky_levels": ["high", "medium"]})
    assert fraud_risk(facts(risk_level="medium"), strict) is not None


@pytest.mark.parametrize(("missing", "words"), [
    ("postal_code", "postal code"), ("region", "state/province"), ("city", "city"), ("address1", "street address"),
    ("country_code", "country"),
])
def test_an_address_lacking_what_its_country_needs_is_invalid(missing, words):
    assert words in address_problem({**GOOD_ADDRESS, missing: None})


def test_countries_differ_in_what_an_address_needs():
    irish = {"name": "Aoife", "address1": "1 Quay St", "city": "Galway", "country_code": "IE"}
    assert address_problem(irish) is None  # no region, no postal code needed
    german = {**irish, "city": "Berlin", "country_code": "DE"}
    assert address_problem(german) == "ship-to lacks postal code"
    assert address_invalid(facts(ship_to=GOOD_ADDRESS), DEFAULT) is None


def test_out_of_zone_when_no_active_location_ships_there():
    assert out_of_zone(facts(country="KE", region=None, ships_to_zone=False), DEFAULT) == \
        "no active location ships to KE"
    assert out_of_zone(facts(ships_to_zone=True), DEFAULT) is None
    assert out_of_zone(facts(country=None, ships_to_zone=False), DEFAULT) is None  # that is the address rule's


def test_duplicate_suspect_names_the_earlier_twin():
    assert "#1001" in duplicate_suspect(facts(duplicate_of=("#1001",)), DEFAULT)
    assert duplicate_suspect(facts(), DEFAULT) is None


def test_a_new_order_with_a_blocking_verdict_goes_on_hold_else_ready():
    held = decide(OrderStatus.NEW, {HoldCode.HIGH_VALUE: "big"}, set(), set())
    assert held.to_open == {HoldCode.HIGH_VALUE: "big"} and held.target is OrderStatus.ON_HOLD
    assert decide(OrderStatus.NEW, {HoldCode.HIGH_VALUE: None}, set(), set()).target is OrderStatus.READY


def test_auto_clearing_holds_clear_and_release_the_order_but_manual_ones_wait_for_a_person():
    cleared = decide(OrderStatus.ON_HOLD, {HoldCode.PAYMENT_PENDING: None}, {HoldCode.PAYMENT_PENDING}, set())
    assert cleared.to_clear == (HoldCode.PAYMENT_PENDING,) and cleared.target is OrderStatus.READY
    waits = decide(OrderStatus.ON_HOLD, {HoldCode.HIGH_VALUE: None}, {HoldCode.HIGH_VALUE}, set())
    assert waits.to_clear == () and waits.target is None


def test_a_hold_a_person_released_is_not_reopened_by_its_rule():
    again = decide(OrderStatus.READY, {HoldCode.HIGH_VALUE: "big"}, set(), {HoldCode.HIGH_VALUE})
    assert again.to_open == {} and again.target is None


def test_a_blocking_hold_on_an_allocated_order_puts_it_on_hold():
    assert decide(OrderStatus.ALLOCATED, {HoldCode.FRAUD_RISK: "risky"}, set(), set()).target is OrderStatus.ON_HOLD
    assert decide(OrderStatus.PARTIALLY_SHIPPED, {HoldCode.FRAUD_RISK: "x"}, set(), set()).target is None
