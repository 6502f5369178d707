"""Pure display helpers of the returns page: the queue and an RMA's lines as people read them."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from core.enums import Disposition, Grade, ReturnStatus
from ui.format import age, local_time, money

QUEUE_HEADERS = ["RMA", "Order", "Status", "Location", "Units", "Received", "Reason", "Tracking", "Age", "Opened"]


def queue_table(rows: pd.DataFrame, tz: str | None, now: datetime) -> pd.DataFrame:
    """The queue page as shown (and exported): status labels, age since the RMA was opened, local times."""
    return pd.DataFrame({
        "RMA": rows["number"], "Order": rows["order"],
        "Status": [ReturnStatus(s).label for s in rows["status"]],
        "Location": rows["location"].fillna(""), "Units": rows["units"].fillna(0).astype(int),
        "Received": [("" if pd.isna(r) else int(r)) for r in rows["received"]],
        "Reason": [r.label for r in rows["reason"]], "Tracking": rows["tracking_number"].fillna(""),
        "Age": [age(c, now) for c in rows["created_at"]],
        "Opened": [local_time(c, tz) for c in rows["created_at"]],
    }, columns=QUEUE_HEADERS)


def _label(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else value.label  # type: ignore[attr-defined]


def _amount(value: object, currency: str) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else money(value, currency)


def lines_table(lines: pd.DataFrame, currency: str, tz: str | None) -> pd.DataFrame:
    """An RMA's lines: what was authorised and received, the grade, what happened to the units, the refund."""
    return pd.DataFrame({
        "SKU": lines["sku"], "Title": lines["title"], "Price": [money(p, currency) for p in lines["unit_price"]],
        "Reason": [r.label for r in lines["reason"]], "Authorised": lines["qty_authorised"],
        "Received": [("" if pd.isna(r) else int(r)) for r in lines["qty_received"]],
        "Grade": [_label(g) for g in lines["grade"]],
        "Disposition": [_label(d) for d in lines["disposition"]],
        "Proposed": [_label(d) for d in lines["proposed"]],
        "Why overridden": lines["override_reason"].fillna(""),
        "Notes": lines["notes"].fillna(""),
        "Restocked into": lines["restocked_sku"].fillna(""),
        "Refund (rules)": [_amount(a, currency) if g not in (None, Grade.C, Grade.D) else
                           ("ops lead decides" if g is not None else "")
                           for a, g in zip(lines["refund_recommended"], lines["grade"], strict=True)],
        "Refund decided": [_amount(a, currency) for a in lines["refund_amount"]],
        "Decided by": lines["refund_decided_by"].fillna(""),
        "Decided": [local_time(t, tz) if t is not None and not pd.isna(t) else "" for t in lines["refund_decided_at"]],
    })


GRADE_HELP = ("A resellable: restock. B open box: restock as open box. C damaged: refurbish or return to vendor "
              "(ops lead decides the refund). D unusable: dispose (ops lead decides the refund). "
              "Missing: nothing in the parcel, no refund.")
DISPOSITION_CHOICES: list[Disposition | None] = [None, *Disposition]


def disposition_label(value: Disposition | None) -> str:
    return "As the grade proposes" if value is None else value.label


def pending_refunds(lines: pd.DataFrame) -> list[int]:
    """Line ids whose refund still waits for an ops lead."""
    return [int(i) for i, a, g in zip(lines["line_id"], lines["refund_amount"], lines["grade"], strict=True)
            if g is not None and (a is None or pd.isna(a))]
