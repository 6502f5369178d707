"""The returns rules as pure functions: what a grade proposes, where restocked units go, what to refund.

No store here: ``core.returns`` applies these inside its transactions, and the unit tests
exercise them directly (DESIGN.md section 4, "Returns inspection").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from core.enums import Disposition, Grade, ReturnReason, ReturnStatus

CENT = Decimal("0.01")
DEFAULT_RESTOCKING_FEE_PCT = Decimal("15")
OPEN_BOX_SUFFIX = "/OB"  # open-box units live under their own SKU, which no order line asks for

# What each grade proposes; an ops lead may choose another disposition, with a reason.
PROPOSED: dict[Grade, Disposition | None] = {
    Grade.A: Disposition.RESTOCK,
    Grade.B: Disposition.RESTOCK_OPEN_BOX,
    Grade.C: Disposition.REFURBISH,
    Grade.D: Disposition.DISPOSE,
    Grade.MISSING: None,  # nothing arrived: nothing to put anywhere
}
RESTOCKING = frozenset({Disposition.RESTOCK, Disposition.RESTOCK_OPEN_BOX})
PERSON_DECIDES = frozenset({Grade.C, Grade.D})  # the refund of a damaged or unusable unit is an ops lead's call

# Statuses in which each step is possible.
RECEIVABLE = (ReturnStatus.REQUESTED, ReturnStatus.IN_TRANSIT)
OPEN_RETURN_STATUSES = (ReturnStatus.REQUESTED, ReturnStatus.IN_TRANSIT, ReturnStatus.RECEIVED,
                        ReturnStatus.INSPECTED)


@dataclass(frozen=True)
class ReturnSettings:
    """Desk-wide returns settings (admin): the reasons offered, the restocking fee, open-box sales."""

    reasons: tuple[ReturnReason, ...] = tuple(ReturnReason)
    restocking_fee_pct: Decimal = DEFAULT_RESTOCKING_FEE_PCT  # taken off "changed mind" refunds
    open_box_sellable: bool = False  # when on, grade B goes back to the sellable stock new orders draw from

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReturnSettings:
        reasons = tuple(ReturnReason(r) for r in data.get("reasons", []) if r in ReturnReason._value2member_map_)
        return cls(reasons=reasons or tuple(ReturnReason),
                   restocking_fee_pct=Decimal(str(data.get("restocking_fee_pct", DEFAULT_RESTOCKING_FEE_PCT))),
                   open_box_sellable=bool(data.get("open_box_sellable", False)))

    def to_dict(self) -> dict[str, Any]:
        return {"reasons": [r.value for r in self.reasons], "restocking_fee_pct": str(self.restocking_fee_pct),
                "open_box_sellable": self.open_box_sellable}


def proposed_disposition(grade: Grade) -> Disposition | None:
    """The disposition a grade proposes (None for MISSING)."""
    return PROPOSED[Grade(grade)]


def open_box_sku(sku: str) -> str:
    """The SKU under which open-box units of ``sku`` are stocked."""
    return f"{sku}{OPEN_BOX_SUFFIX}"


def restock_sku(disposition: Disposition | None, sku: str, *, open_box_sellable: bool) -> str | None:
    """Which stock a disposition puts units back into, or None if they do not go back on the shelf."""
    if disposition is Disposition.RESTOCK:
        return sku
    if disposition is Disposition.RESTOCK_OPEN_BOX:
        return sku if open_box_sellable else open_box_sku(sku)
    return None


def recommend_refund(grade: Grade, reason: ReturnReason, unit_price: Decimal, qty_received: int,
                     restocking_fee_pct: Decimal) -> Decimal | None:
    """The refund the rules recommend for a line, or None when an ops lead must decide (C and D).

    A and B: the price of the units received; less the restocking fee when the customer changed
    their mind. MISSING: nothing. Units that never arrived are never refunded.
    """
    grade = Grade(grade)
    if grade in PERSON_DECIDES:
        return None
    if grade is Grade.MISSING or qty_received <= 0:
        return Decimal("0.00")
    price = Decimal(unit_price) * qty_received
    if ReturnReason(reason) is ReturnReason.CHANGED_MIND:
        price -= price * Decimal(restocking_fee_pct) / 100
    return max(Decimal("0.00"), price.quantize(CENT, rounding=ROUND_HALF_UP))


def returnable(shipped: int, claimed: int) -> int:
    """Units of a line that may still go on a new RMA: shipped minus those already on RMAs."""
    return max(0, shipped - claimed)


def over_received(lines: list[tuple[str, int, int]]) -> str | None:
    """A sentence naming every line received above what was authorised, or None. ``(sku, authorised, received)``."""
    over = [f"{sku}: {received} received but only {authorised} authorised" for sku, authorised, received in lines
            if received > authorised]
    if not over:
        return None
    return ("More arrived than this RMA authorises (" + "; ".join(over) + "). Receive at most the authorised "
            "quantity, and authorise a new RMA for the rest.")


def status_after_inspection(refunds_decided: list[bool]) -> ReturnStatus:
    """Inspected until every line's refund is decided; then closed."""
    return ReturnStatus.CLOSED if all(refunds_decided) else ReturnStatus.INSPECTED


# Words in a channel's refund note that name the reason plainly, first match wins; else "other".
_NOTE_REASONS: tuple[tuple[re.Pattern[str], ReturnReason], ...] = tuple((re.compile(rf"\b(?:{words})\b"), reason) for words, reason in (
    (r"damaged|broken|cracked|torn", ReturnReason.DAMAGED),
    (r"defect\w*|faulty|not working|doesn'?t work|does not work|stopped working", ReturnReason.DEFECTIVE),
    (r"wrong (?:item|product|colou?r|model)|sent the wrong", ReturnReason.WRONG_ITEM),
    (r"not as (?:described|pictured|advertised)", ReturnReason.NOT_AS_DESCRIBED),
    (r"size|fit|fits|too (?:small|big|large|tight|loose)", ReturnReason.SIZE_OR_FIT),
    (r"changed? (?:my |of )?mind|no longer (?:need|want)\w*", ReturnReason.CHANGED_MIND),
    (r"(?:arrived|came|too) late|delayed", ReturnReason.ARRIVED_LATE),
))


def reason_from_note(note: str | None) -> ReturnReason:
    """The reason a channel's free-text refund note names plainly (e.g. "too small": size or fit), else other."""
    text = (note or "").lower()
    return next((reason for pattern, reason in _NOTE_REASONS if pattern.search(text)), ReturnReason.OTHER)
