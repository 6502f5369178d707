"""Return (RMA) events in plain words, for the order's timeline."""

from __future__ import annotations

from typing import Any

from core.enums import Disposition, Grade, ReturnReason


def _label(enum: type, value: Any) -> str:
    try:
        return enum(value).label.lower()
    except ValueError:
        return str(value)


def _grade(value: Any) -> str:
    try:
        return Grade(value).label
    except ValueError:
        return str(value)


def _units(counts: dict[str, Any]) -> str:
    return ", ".join(f"{n} x {sku}" for sku, n in counts.items()) or "nothing"


def describe_return(kind: str, d: dict[str, Any]) -> str:
    """One sentence for one return event; an unknown return event still reads sensibly."""
    rma = d.get("rma", "an RMA")
    if kind == "return_authorised":
        lines = ", ".join(f"{ln['quantity']} x {ln['sku']} ({_label(ReturnReason, ln['reason'])})"
                          for ln in d.get("lines", []))
        extra = f" Note: {d['note']}" if d.get("note") else ""
        return f"Return {rma} authorised: {lines}, to come back to {d.get('location')}.{extra}"
    if kind == "return_in_transit":
        return f"Return {rma} is on its way back, tracking number {d.get('tracking_number')}."
    if kind == "return_received":
        missing = f"; missing {_units(d['missing'])}" if d.get("missing") else ""
        return f"Return {rma} received at {d.get('location')}: {_units(d.get('received', {}))}{missing}."
    if kind == "return_inspected":
        parts = []
        for ln in d.get("lines", []):
            what = _label(Disposition, ln["disposition"]) if ln.get("disposition") else "nothing to put away"
            over = f" instead of {_label(Disposition, ln['proposed'])} ({ln['override_reason']})" \
                if ln.get("override_reason") else ""
            refund = f", refund {ln['refund']}" if ln.get("refund") is not None else ", refund for an ops lead to decide"
            parts.append(f"{ln['sku']} graded {_grade(ln['grade'])}: {what}{over}{refund}")
        return f"Return {rma} inspected: " + "; ".join(parts) + "."
    if kind == "return_disposition_overridden":
        return (f"Return {rma}: {d.get('sku')} now {_label(Disposition, d.get('after'))} instead of "
                f"{_label(Disposition, d.get('before'))}: {d.get('reason')}.")
    if kind == "return_refund_decided":
        note = f" ({d['note']})" if d.get("note") else ""
        return f"Return {rma}: refund for {d.get('sku')} set to {d.get('after')}{note}."
    if kind == "return_closed":
        return f"Return {rma} closed: refunds total {d.get('refund_total')} (recorded, not paid by OpsDesk)."
    if kind == "return_channel_skipped":
        return (f"The channel reported a return (refund {d.get('external_id')}), but no RMA was opened: "
                f"{d.get('why')}.")
    return f"Return {rma}: {kind.removeprefix('return_').replace('_', ' ')}."
