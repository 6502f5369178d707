"""Hold rules (DESIGN.md section 4): pure functions over an order's facts and the admin's thresholds.

Each rule answers "should this hold be open?" and, if so, why. Whether a hold clears by
itself when the answer turns to no is a property of the code (``AUTO_CLEARING``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.enums import FinancialStatus, HoldCode

PAID_ENOUGH = frozenset({FinancialStatus.PAID, FinancialStatus.AUTHORIZED, FinancialStatus.PARTIALLY_REFUNDED})

# Countries whose addresses need a region (state/province) or a postal code to be deliverable.
NEEDS_REGION = frozenset({"US", "CA", "AU", "BR", "MX", "IN"})
NO_POSTAL_CODE = frozenset({"IE", "HK", "AE", "QA", "PA", "JM", "BS", "AO", "GH"})


@dataclass(frozen=True)
class RuleSettings:
    """Thresholds an admin may change (stored in the settings table under ``hold_rules``)."""

    high_value_threshold: Decimal = Decimal("5000")
    high_value_by_currency: dict[str, Decimal] = field(default_factory=dict)
    risky_levels: frozenset[str] = frozenset({"high"})
    duplicate_window_minutes: int = 10

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> RuleSettings:
        raw = raw or {}
        base = cls()
        return cls(
            high_value_threshold=Decimal(str(raw.get("high_value_threshold", base.high_value_threshold))),
            high_value_by_currency={k.upper(): Decimal(str(v)) for k, v in
                                    (raw.get("high_value_by_currency") or {}).items()},
            risky_levels=frozenset(raw.get("risky_levels", base.risky_levels)),
            duplicate_window_minutes=int(raw.get("duplicate_window_minutes", base.duplicate_window_minutes)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "high_value_threshold": str(self.high_value_threshold),
            "high_value_by_currency": {k: str(v) for k, v in self.high_value_by_currency.items()},
            "risky_levels": sorted(self.risky_levels),
            "duplicate_window_minutes": self.duplicate_window_minutes,
        }


@dataclass(frozen=True)
class OrderFacts:
    """What the rules need to know about one order, gathered by core.triage."""

    total: Decimal
    currency: str
    financial_status: FinancialStatus
    risk_level: str | None
    ship_to: dict[str, Any]
    country: str | None
    region: str | None
    ships_to_zone: bool  # some active location serves the ship-to
    duplicate_of: tuple[str, ...] = ()  # other orders' numbers: same email, address and items, close in time


Verdict = str | None  # why the hold should be open, or None
Rule = Callable[[OrderFacts, RuleSettings], Verdict]


def high_value(facts: OrderFacts, settings: RuleSettings) -> Verdict:
    limit = settings.high_value_by_currency.get(facts.currency, settings.high_value_threshold)
    if facts.total >= limit:
        return f"order total {facts.total} {facts.currency} is at or above {limit} {facts.currency}"
    return None


def payment_pending(facts: OrderFacts, settings: RuleSettings) -> Verdict:
    if facts.financial_status not in PAID_ENOUGH:
        return f"payment is {facts.financial_status.label.lower()}, not paid or authorized"
    return None


def fraud_risk(facts: OrderFacts, settings: RuleSettings) -> Verdict:
    if facts.risk_level and facts.risk_level.lower() in settings.risky_levels:
        return f"the channel rates the order's risk {facts.risk_level}"
    return None


def address_invalid(facts: OrderFacts, settings: RuleSettings) -> Verdict:
    return address_problem(facts.ship_to)


def address_problem(ship_to: dict[str, Any]) -> Verdict:
    """What a ship-to lacks for its country, or None when it is deliverable."""
    country = (ship_to.get("country_code") or "").upper()
    missing = [label for key, label in (("name", "name"), ("address1", "street address"), ("city", "city"))
               if not str(ship_to.get(key) or "").strip()]
    if not country:
        missing.append("country")
    if country in NEEDS_REGION and not ship_to.get("region"):
        missing.append("state/province")
    if country and country not in NO_POSTAL_CODE and not str(ship_to.get("postal_code") or "").strip():
        missing.append("postal code")
    return f"ship-to lacks {', '.join(missing)}" if missing else None


def out_of_zone(facts: OrderFacts, settings: RuleSettings) -> Verdict:
    if facts.country and not facts.ships_to_zone:
        where = f"{facts.country}-{facts.region}" if facts.region else facts.country
        return f"no active location ships to {where}"
    return None


def duplicate_suspect(facts: OrderFacts, settings: RuleSettings) -> Verdict:
    if facts.duplicate_of:
        return (f"same email, address and items as {', '.join(facts.duplicate_of)} within "
                f"{settings.duplicate_window_minutes} min")
    return None


RULES: dict[HoldCode, Rule] = {
    HoldCode.HIGH_VALUE: high_value,
    HoldCode.PAYMENT_PENDING: payment_pending,
    HoldCode.FRAUD_RISK: fraud_risk,
    HoldCode.ADDRESS_INVALID: address_invalid,
    HoldCode.OUT_OF_ZONE: out_of_zone,
    HoldCode.DUPLICATE_SUSPECT: duplicate_suspect,
}

# Holds that close by themselves when their condition clears; the others wait for a person.
AUTO_CLEARING = frozenset({HoldCode.PAYMENT_PENDING, HoldCode.ADDRESS_INVALID, HoldCode.OUT_OF_ZONE})


def evaluate(facts: OrderFacts, settings: RuleSettings) -> dict[HoldCode, Verdict]:
    """Every rule's verdict for one order."""
    return {code: rule(facts, settings) for code, rule in RULES.items()}

