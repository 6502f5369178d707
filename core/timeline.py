"""An order's events in plain words, for support and for the order page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.enums import HoldCode, OrderStatus
from core.return_story import describe_return


def _status(value: Any) -> str:
    try:
        return OrderStatus(value).label.lower()
    except ValueError:
        return str(value)


def _money(detail: dict[str, Any]) -> str:
    return f"{detail.get('total', '?')} {detail.get('currency', '')}".strip()


def describe(kind: str, detail: dict[str, Any]) -> str:
    """One sentence for one event. Unknown kinds still read sensibly."""
    if kind == "order_received":
        lines = detail.get("lines", 0)
        return (f"Order {detail.get('number', '')} received from the channel: {lines} "
                f"line{'s' if lines != 1 else ''}, {_money(detail)}, status {_status(detail.get('status'))}.")
    if kind == "status_changed":
        why = f" ({detail['reason']})" if detail.get("reason") else ""
        return f"Status changed from {_status(detail.get('from'))} to {_status(detail.get('to'))}{why}."
    if kind == "order_updated":
        parts = []
        for name, change in detail.items():
            before, after = change.get("before"), change.get("after")
            parts.append(f"{name.replace('_', ' ')} {_short(before)} -> {_short(after)}")
        return "The channel updated the order: " + "; ".join(parts) + "."
    if kind == "shipment_reported":
        return (f"Shipped with {detail.get('carrier', 'a carrier')}, tracking number "
                f"{detail.get('tracking_number', '?')}.")
    if kind == "shipment_created":
        return (f"Shipped from {detail.get('location')} with {detail.get('carrier')}"
                f"{' ' + detail['service'] if detail.get('service') else ''}, tracking number "
                f"{detail.get('tracking_number')}: {detail.get('units')} units.")
    if kind == "parcel_status_changed":
        return (f"Parcel {detail.get('tracking_number')} ({detail.get('carrier')}): "
                f"{_words(detail.get('from'))} -> {_words(detail.get('to'))} (carrier says {detail.get('carrier_status')}).")
    if kind == "channel_status_ignored":
        return (f"The channel reported {_status(detail.get('reported'))}, which cannot follow "
                f"{_status(detail.get('kept'))}; the order was left as it was.")
    if kind == "note_added":
        return f"Note: {detail.get('note', '')}"
    if kind == "hold_opened":
        why = detail.get("note") or detail.get("why")
        return f"{_hold(detail)} hold opened{': ' + why if why else ''}."
    if kind == "hold_released":
        return f"{_hold(detail)} hold released: {detail.get('note', '')}."
    if kind == "hold_cleared":
        return f"{_hold(detail)} hold cleared by itself: {detail.get('reason', 'the condition cleared')}."
    if kind == "hold_assigned":
        who = detail.get("after") or "nobody"
        return f"{_hold(detail)} hold assigned to {who}{': ' + detail['note'] if detail.get('note') else ''}."
    if kind == "allocation_planned":
        parts = ", ".join(f"{p['quantity']} x {p['sku']} from {p['location']}" for p in detail.get("parts", []))
        short = ", ".join(f"{q} x {sku}" for sku, q in (detail.get("short") or {}).items())
        text = f"Allocated {parts}." if parts else "Nothing could be allocated."
        if short:
            text += f" Backordered {short}."
        return f"{text} {detail.get('why', '')}".strip()
    if kind == "allocation_released":
        return f"Reservations released ({detail.get('units', 0)} units): {detail.get('reason', '')}."
    if kind.startswith("return_"):
        return describe_return(kind, detail)
    if kind.startswith("stock_"):
        return (f"Stock of {detail.get('sku')} at {detail.get('location')} {kind[6:]}: "
                f"{detail.get('before')} -> {detail.get('after')}.")
    if kind == "ship_by_changed":
        return (f"Ship-by moved from {_utc(detail.get('before'))} to {_utc(detail.get('after'))}: "
                f"{detail.get('reason', '')}.")
    if kind == "address_fixed":
        return f"Ship-to address corrected: {detail.get('before') or '(empty)'} -> {detail.get('after')}."
    words = kind.replace("_", " ").capitalize()
    extra = ", ".join(f"{k.replace('_', ' ')}: {_short(v)}" for k, v in detail.items())
    return f"{words}{' - ' + extra if extra else ''}."


def _words(value: Any) -> str:
    return str(value or "?").replace("_", " ")


def _utc(value: Any) -> str:
    """An ISO time from an event as "2026-11-16 14:00 UTC" (events keep UTC; pages show local times elsewhere)."""
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return str(value)


def _hold(detail: dict[str, Any]) -> str:
    try:
        return HoldCode(detail.get("code")).label
    except ValueError:
        return str(detail.get("code", "A"))


def _short(value: Any) -> str:
    if value is None or value == "" or value == {}:
        return "(none)"
    if isinstance(value, dict):
        value = ", ".join(str(v) for v in value.values() if v)
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."
