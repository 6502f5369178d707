"""Pure display helpers: money, local times, time left, safe text. No Streamlit, no store."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from core.enums import HoldCode

# ISO 4217 currencies whose minor unit is not 2 digits (the ones a shop is likely to meet).
_MINOR_UNITS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "HUF": 2, "BHD": 3, "KWD": 3, "OMR": 3,
                "JOD": 3, "TND": 3}
TIME_FORMAT = "%Y-%m-%d %H:%M"


# Time zones offered in pickers (users, SLA cut-offs); a stored zone not listed is added to the choices.
COMMON_ZONES = ("UTC", "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
                "America/Toronto", "Europe/London", "Europe/Amsterdam", "Europe/Berlin", "Europe/Paris",
                "Australia/Sydney", "Asia/Tokyo")


def zone_choices(current: str) -> tuple[list[str], int]:
    """The zones a picker offers (the common ones plus ``current``) and the position of ``current``."""
    options = sorted({*COMMON_ZONES, current})
    return options, options.index(current)


def zone(tz: str | None) -> ZoneInfo:
    """The user's zone; an unknown or empty name falls back to UTC rather than breaking a page."""
    try:
        return ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def zone_label(tz: str | None) -> str:
    """The zone's name as shown in column headers, e.g. "UTC" or "Europe/Berlin"."""
    return zone(tz).key


def money(amount: Decimal | float | str | None, currency: str | None) -> str:
    """Amount with thousands separators and the currency's own decimals: "1,234.50 USD"."""
    if amount is None or amount == "":
        return ""
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return f"{amount} {currency or ''}".strip()
    code = (currency or "").upper()
    places = _MINOR_UNITS.get(code, 2)
    quantum = Decimal(1).scaleb(-places)
    text = f"{value.quantize(quantum, rounding=ROUND_HALF_UP):,.{places}f}"
    return f"{text} {code}".strip()


def as_utc(value: datetime | str) -> datetime:
    """An aware UTC datetime from an aware datetime or an ISO string (naive means UTC, as stored)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def local_time(value: datetime | str | None, tz: str | None, *, with_zone: bool = False) -> str:
    """"2026-11-16 10:00" in the user's zone; ``with_zone`` appends the zone's name."""
    if value is None or value == "":
        return ""
    text = as_utc(value).astimezone(zone(tz)).strftime(TIME_FORMAT)
    return f"{text} {zone_label(tz)}" if with_zone else text


def time_left(deadline: datetime | str, now: datetime) -> str:
    """How long until a deadline, in words a person scans: "5 h 10 min", "2 d 3 h", "overdue 2 h"."""
    delta = as_utc(deadline) - as_utc(now)
    text = _span(abs(delta))
    return f"overdue {text}" if delta < timedelta(0) else text


def age(since: datetime | str, now: datetime) -> str:
    """How long something has been waiting: "3 h 10 min", "2 d 4 h" (a clock running late reads as new)."""
    return _span(max(as_utc(now) - as_utc(since), timedelta(0)))


def _span(delta: timedelta) -> str:
    """A positive duration in the two largest units a person needs."""
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min" if mins else "less than 1 min"


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=^&])")


def md_escape(text: object) -> str:
    """Text from channels or users, made inert for st.markdown (no links, images, LaTeX, colours, HTML)."""
    if text is None:
        return ""
    # One line: a newline could start a heading, a list or an indented code block.
    flat = " ".join(str(text).split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", flat)


def md_lines(lines: list[object]) -> str:
    """Several escaped lines as one markdown block with hard line breaks; blank lines are dropped."""
    return "  \n".join(md_escape(line) for line in lines if line not in (None, ""))


def address_lines(address: dict[str, object] | None) -> list[str]:
    """A stored ship-to address as the lines on a parcel label."""
    a = address or {}
    city = " ".join(str(p) for p in (a.get("postal_code"), a.get("city"), a.get("region")) if p)
    return [str(v) for v in (a.get("name"), a.get("company"), a.get("address1"), a.get("address2"), city,
                             a.get("country_code"), a.get("phone")) if v]


QUEUE_ID = "id"


def queue_table(rows: pd.DataFrame, tz: str | None, now: datetime) -> pd.DataFrame:
    """The order-queue page as people read it: money with currency, local times named by zone, time left.

    The internal ``id`` column stays (hidden by the page) so a selected row can be opened.
    """
    label = zone_label(tz)
    # Urgency first: the queue is worked from the top, so ship-by and time left lead.
    columns = ["id", "Order", f"Ship by ({label})", "Time left", "Status", "Channel", "Customer", "Country",
               "Total", f"Placed ({label})", "Email"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame({
        "id": rows["id"],
        **_order_cells(rows, tz, now),
        f"Placed ({label})": [local_time(v, tz) for v in rows["placed_at"]],
        "Email": rows["email"],
    })[columns]


def _order_cells(rows: pd.DataFrame, tz: str | None, now: datetime) -> dict[str, object]:
    """The order's own columns, as the queue and the hold queue both show them."""
    return {
        "Order": rows["number"],
        f"Ship by ({zone_label(tz)})": [local_time(v, tz) for v in rows["ship_by"]],
        "Time left": [time_left(v, now) for v in rows["ship_by"]],
        "Status": rows["status"],
        "Channel": rows["channel"],
        "Customer": rows["customer"],
        "Country": rows["country"],
        "Total": [money(t, c) for t, c in zip(rows["total"], rows["currency"], strict=True)],
    }


# st.dataframe column settings for queue_table (plain dicts are what st.column_config builds).
QUEUE_COLUMNS: dict[str, dict[str, object]] = {
    "Order": {"width": 90},
    "Time left": {"width": 140},
    "Status": {"width": 120},
    "Channel": {"width": 110},
    "Country": {"width": 70},
    "Total": {"width": 120, "alignment": "right"},
}


def lookup_columns(tz: str | None) -> list[str]:
    """queue_table columns in the order support reads a search result: who and when first."""
    label = zone_label(tz)
    return ["Order", f"Placed ({label})", "Customer", "Email", "Status", "Channel", "Total", "Country",
            f"Ship by ({label})"]


def hold_table(rows: pd.DataFrame, tz: str | None, now: datetime) -> pd.DataFrame:
    """The hold queue as the desk reads it: what, how urgent, how long it waits, whose it is, and why.

    Rows stay in the order given (the read model sorts them), so a selected row number maps back
    to ``rows``.
    """
    label = zone_label(tz)
    # What to act on first, then whose it is and why; the order's own details last.
    columns = ["Order", "Hold", "Blocks", "Age", f"Ship by ({label})", "Time left", "Total", "Assignee",
               "Why / notes", "Customer", "Country", "Channel", "Status", f"Opened ({label})"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame({
        **_order_cells(rows, tz, now),
        "Hold": [HoldCode(c).label for c in rows["code"]],
        "Blocks": rows["blocking"].astype(bool),
        "Age": [age(v, now) for v in rows["opened_at"]],
        "Assignee": rows["assignee"].fillna(""),
        "Why / notes": [" / ".join(str(n).split("\n")) if n else "" for n in rows["note"]],
        f"Opened ({label})": [local_time(v, tz) for v in rows["opened_at"]],
    })[columns]


HOLD_KEYS = ["hold_id", "hold_version", "order_id", "order_version", "number"]


def hold_keys(rows: pd.DataFrame) -> list[dict[str, int | str]]:
    """What each shown hold row stands for: ids and the versions on screen (plain ints, for the store)."""
    return [{k: str(v) if k == "number" else int(v) for k, v in r.items()}
            for r in rows[HOLD_KEYS].to_dict("records")]


# The ship-to fields a person can correct, with their labels.
ADDRESS_FIELDS = {"name": "Name", "address1": "Street address", "address2": "Address line 2", "city": "City",
                  "region": "State / province", "postal_code": "Postal code",
                  "country_code": "Country (2 letters)"}


def order_summary(order: dict[str, Any]) -> str:
    """One markdown line about an order (from core.order_detail): number, status, total and where it goes."""
    where = ", ".join(address_lines(order.get("ship_to"))) or "no address"
    return (f"**Order {md_escape(order['number'])}** - {md_escape(order['status_label'])} - "
            f"{md_escape(money(order['total'], order['currency']))} - ship to {md_escape(where)}")


# st.dataframe column settings for hold_table.
HOLD_COLUMNS: dict[str, dict[str, object]] = {
    **QUEUE_COLUMNS,
    "Hold": {"width": 130},
    "Blocks": {"width": 60, "help": "A blocking hold stops fulfilment; the others ask for attention."},
    "Age": {"width": 105, "help": "How long the item has been open."},
    "Time left": {"width": 130},
    "Total": {"width": 110, "alignment": "right"},
    "Assignee": {"width": 90},
    "Why / notes": {"width": 340},
}


def showing(page: int, page_size: int, rows: int, total: int) -> str:
    """Which rows of how many a page shows: "Showing 51-64 of 64"."""
    first = (page - 1) * page_size + 1
    return f"Showing {first:,}-{first + rows - 1:,} of {total:,}" if rows else f"Showing 0 of {total:,}"


def overdue_style(value: object) -> str:
    """CSS for a "Time left" cell: overdue reads red at a glance."""
    return "color: #b42318; font-weight: 600" if str(value).startswith("overdue") else ""


def table_height(rows: int, *, visible: int = 12, row_px: int = 35) -> int:
    """Pixels for a st.dataframe showing up to ``visible`` rows without an inner scrollbar."""
    return (min(max(rows, 1), visible) + 1) * row_px + 3


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV for spreadsheets, with channel text that looks like a formula defused (OWASP CSV injection)."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object:
            safe[column] = safe[column].map(
                lambda v: f"'{v}" if isinstance(v, str) and v.startswith(_FORMULA_START) else v
            )
    return safe.to_csv(index=False).encode("utf-8")


def reroute_table(stock: pd.DataFrame) -> pd.DataFrame:
    """The re-route picker's table: each location, whether it ships there and could fill the order, its stock."""
    table = stock.drop(columns=["location_id"]).rename(columns={
        "location": "Location", "ships_there": "Ships there", "priority": "Priority",
        "reserved_for_order": "Reserved for this order", "can_fill": "Can fill all"})
    return table


# ---- stock: the inventory grid, its drill-down, stock alerts and allocation plans -------------------

LOW_STOCK = "Low"


def stock_table(levels: pd.DataFrame) -> pd.DataFrame:
    """The stock grid (from core.inventory.stock_levels): one row per location and SKU, low stock flagged.

    Rows stay in the read model's order, so a selected row number maps back to ``levels``.
    """
    columns = ["Location", "SKU", "On hand", "Reserved", "Available", "Low at", "Stock"]
    if levels.empty:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame({
        "Location": levels["location"], "SKU": levels["sku"], "On hand": levels["on_hand"],
        "Reserved": levels["reserved"], "Available": levels["available"], "Low at": levels["low_stock_threshold"],
        "Stock": [LOW_STOCK if low else "" for low in levels["low"]],
    })[columns]


def reselect(seen: list[tuple[str, str]], shown: list[tuple[str, str]], row: int) -> dict[str, object]:
    """The grid's selection state after its rows moved: the same (location, SKU) ticked if still shown, else none."""
    was = seen[row] if row < len(seen) else None
    return {"selection": {"rows": [shown.index(was)] if was in shown else [], "columns": [], "cells": []}}


# The drill-down's figures of one level: label -> stock_levels column.
LEVEL_METRICS = {"On hand": "on_hand", "Reserved": "reserved", "Available": "available",
                 "Low at": "low_stock_threshold"}


def low_stock_style(row: pd.Series) -> list[str]:
    """CSS for a stock-grid row (``Styler.apply(axis=1)``): a low one reads amber at a glance."""
    return ["background-color: #fef0c7; color: #93370d" if row.get("Stock") == LOW_STOCK else ""] * len(row)


STOCK_COLUMNS: dict[str, dict[str, object]] = {
    "Location": {"width": 110},
    "SKU": {"width": 200},
    "On hand": {"width": 90},
    "Reserved": {"width": 90, "help": "Promised to orders: allocated but not shipped yet."},
    "Available": {"width": 90, "help": "On hand - reserved: what new orders can still get."},
    "Low at": {"width": 80, "help": "Available at or below this is low stock."},
    "Stock": {"width": 70, "help": "Low: available is at or below the low-stock level."},
}


def signed(n: object) -> str:
    """A ledger change as people write it: "+5", "-2"; no change is blank."""
    value = 0 if n is None or pd.isna(n) else int(n)  # type: ignore[call-overload]
    return f"{value:+,}" if value else ""


def order_link(order_id: object, number: object) -> str | None:
    """A relative link to the order lookup (``lookup?order=42``) that also carries the number it shows."""
    if order_id is None or pd.isna(order_id):  # type: ignore[call-overload]
        return None
    shown = quote(str(number or order_id), safe="")
    return f"lookup?order={int(order_id)}&number={shown}"  # type: ignore[call-overload]


# st.dataframe column settings of an order_link column: the cell shows the number, a click opens the order.
ORDER_LINK: dict[str, object] = {"width": 90, "type_config": {"type": "link", "display_text": r"number=([^&]*)$"},
                                 "help": "Opens the order in the lookup, in a new tab."}


def ledger_table(ledger: pd.DataFrame, tz: str | None) -> pd.DataFrame:
    """A SKU's ledger (core.inventory.sku_ledger), newest first, times in the user's zone."""
    when = f"When ({zone_label(tz)})"
    columns = [when, "Location", "Kind", "On hand change", "Reserved change", "Reason", "Reference", "Order", "Who"]
    if ledger.empty:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame({
        when: [local_time(v, tz) for v in ledger["at"]], "Location": ledger["location"], "Kind": ledger["kind"],
        "On hand change": [signed(v) for v in ledger["on_hand_delta"]],
        "Reserved change": [signed(v) for v in ledger["reserved_delta"]],
        "Reason": ledger["reason"].fillna(""), "Reference": ledger["reference"].fillna(""),
        "Order": [order_link(i, n) for i, n in zip(ledger["order_id"], ledger["order"], strict=True)],
        "Who": ledger["actor"],
    })[columns]


LEDGER_COLUMNS: dict[str, dict[str, object]] = {
    "Kind": {"width": 110},
    "On hand change": {"width": 115, "alignment": "right"},
    "Reserved change": {"width": 120, "alignment": "right"},
    "Reason": {"width": 180},
    "Order": ORDER_LINK,
}


RESERVATION_ID = "order_id"


def reservation_table(reservations: pd.DataFrame, tz: str | None) -> pd.DataFrame:
    """Orders holding a SKU (core.inventory.open_reservations), most urgent first; ``order_id`` kept for selection."""
    label = zone_label(tz)
    columns = [RESERVATION_ID, "Order", "Location", "Qty", "Order status", f"Ship by ({label})",
               f"Reserved ({label})"]
    if reservations.empty:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame({
        RESERVATION_ID: reservations["order_id"],
        "Order": [order_link(i, n) for i, n in zip(reservations["order_id"], reservations["order"], strict=True)],
        "Location": reservations["location"], "Qty": reservations["quantity"],
        "Order status": reservations["status"],
        f"Ship by ({label})": [local_time(v, tz) for v in reservations["ship_by"]],
        f"Reserved ({label})": [local_time(v, tz) for v in reservations["reserved_at"]],
    })[columns]


# st.dataframe column settings for reservation_table: the order id stays hidden (it is what a selection opens).
RESERVATION_COLUMNS: dict[str, object] = {RESERVATION_ID: None, "Order": ORDER_LINK}


# The inventory page's stock verbs: tab and button, the quantity's label and lowest value, the text field's label.
STOCK_VERBS: dict[str, tuple[str, str, int | None, str]] = {
    "adjust": ("Adjust", "Change (+/-)", None, "Note"),
    "receive": ("Receive", "Quantity received", 1, "Reference (PO, delivery note)"),
    "count": ("Count", "Counted on hand", 0, "Reference (count sheet)"),
}
# What a stock CSV holds (core.stock_import modes), as the import's choice reads.
IMPORT_MODES = {"receipt": "Receipts: add to on hand", "count": "Counts: on hand becomes the quantity"}


def stock_change(change: Any) -> str:
    """What a ledger verb did (a core.inventory.StockChange), in one sentence."""
    delta = f"{change.delta:+,}" if change.delta else "no change"
    return (f"{change.kind.label} booked: {change.sku} at {change.location} has {change.after:,} on hand "
            f"(was {change.before:,}, {delta}); {change.after - change.reserved:,} available.")


def import_progress(done: int, total: int) -> tuple[float, str]:
    """The import's progress bar: both passes (check every row, then apply) as one bar."""
    rows = max(total // 2, 1)
    if done <= rows:
        return min(done / max(total, 1), 1.0), f"Checking row {done:,} of {rows:,}"
    return min(done / total, 1.0), f"Importing row {done - rows:,} of {rows:,}"


def import_summary(report: Any) -> str:
    """What a stock import did (a core.stock_import.ImportReport), in a sentence or two."""
    rows, levels = f"{report.rows:,} row{'s' * (report.rows != 1)}", f"{report.levels:,} SKU/location"
    if report.mode == "receipt":
        text = f"Imported {rows} of receipts: {report.units:,} units added to on hand at {levels} pairs."
    else:
        text = f"Imported {rows} of counts at {levels} pairs: on hand changed by {report.units:+,} units in all."
    if report.ignored_columns:
        text += f" Ignored columns: {', '.join(report.ignored_columns)}."
    if report.blank_rows:
        text += f" Skipped {report.blank_rows:,} blank row{'s' * (report.blank_rows != 1)}."
    return text


def import_errors(errors: pd.DataFrame) -> pd.DataFrame:
    """Every problem of a rejected import (ImportRejected.as_frame), as a table people read."""
    return errors.rename(columns={"row": "Row", "column": "Column", "reason": "Reason"})


def alerts_table(alerts: pd.DataFrame, tz: str | None, now: datetime) -> pd.DataFrame:
    """Open stock-integrity alerts (core.ui_queries.open_stock_alerts): where, what, and how long open."""
    opened = f"Opened ({zone_label(tz)})"
    columns = [opened, "Age", "Location", "SKU", "Problem", "Stored", "Expected"]
    if alerts.empty:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame({
        opened: [local_time(v, tz) for v in alerts["opened_at"]], "Age": [age(v, now) for v in alerts["opened_at"]],
        "Location": alerts["location"], "SKU": alerts["sku"],
        "Problem": alerts["problem"],
        "Stored": alerts["actual"], "Expected": alerts["expected"],
    })[columns]


def allocation_table(allocations: pd.DataFrame, tz: str | None) -> pd.DataFrame:
    """An order's allocations (core.allocation.order_allocations): where each part is reserved or shipped from."""
    since = f"Since ({zone_label(tz)})"
    columns = ["Location", "SKU", "Qty", "Status", since]
    if allocations.empty:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame({
        "Location": allocations["location"], "SKU": allocations["sku"], "Qty": allocations["quantity"],
        "Status": allocations["status"], since: [local_time(v, tz) for v in allocations["at"]],
    })[columns]


def candidates_table(plan: dict[str, Any]) -> pd.DataFrame:
    """The plan's candidates in rank order, with each SKU's available stock when the plan was made."""
    skus = sorted(plan.get("demand") or {})
    winners = set(plan.get("winners") or ())
    return pd.DataFrame([{
        "Rank": c["rank"], "Location": c["code"], "Proximity": c["proximity"], "Priority": c["priority"],
        **{f"{sku} available": (c.get("available") or {}).get(sku, 0) for sku in skus},
        "Fills whole order": bool(c["fills_whole_order"]), "Chosen": c["code"] in winners,
    } for c in plan.get("candidates") or ()], columns=["Rank", "Location", "Proximity", "Priority",
                                                       *(f"{sku} available" for sku in skus),
                                                       "Fills whole order", "Chosen"])


def plan_caption(plan: dict[str, Any]) -> str:
    """What the plan was for and what it left out, as one escaped markdown line."""
    demand = ", ".join(f"{q} × {sku}" for sku, q in sorted((plan.get("demand") or {}).items()))
    parts = [f"Planned for {demand}" if demand else "Nothing left to plan"]
    if short := plan.get("backordered"):
        parts.append("backordered " + ", ".join(f"{q} × {sku}" for sku, q in sorted(short.items())))
    if excluded := plan.get("excluded"):
        parts.append("not candidates: " + ", ".join(f"{e['code']} ({e['why']})" for e in excluded))
    return md_escape("; ".join(parts) + ".")


def due_table(due: pd.DataFrame, tz: str | None, now: datetime) -> pd.DataFrame:
    """Breached and at-risk orders (core.sla_report.due_next): the order (a link), its deadline, time left, why."""
    deadline = f"Ship by ({zone_label(tz)})"
    columns = ["Order", "Channel", "Status", deadline, "Time left", "SLA", "Why it has not shipped"]
    if due.empty:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame({
        "Order": [order_link(i, n) for i, n in zip(due["id"], due["number"], strict=True)],
        "Channel": due["channel"], "Status": due["status"],
        deadline: [local_time(v, tz) for v in due["ship_by"]],
        "Time left": [time_left(v, now) for v in due["ship_by"]],
        "SLA": due["state"], "Why it has not shipped": due["why"],
    })[columns]


DUE_COLUMNS: dict[str, object] = {"Order": ORDER_LINK}


def durations_table(times: pd.DataFrame, dimension: str) -> pd.DataFrame:
    """p50 / p90 hours per group (core.sla_history.durations), with units in the headers."""
    return times.rename(columns={
        "group": dimension.capitalize(), "parcels": "Parcels", "to_ship_p50": "Placed to shipped p50 (h)",
        "to_ship_p90": "Placed to shipped p90 (h)", "delivered": "Delivered parcels",
        "to_deliver_p50": "Shipped to delivered p50 (h)", "to_deliver_p90": "Shipped to delivered p90 (h)"}).astype(
        {f"{w} p{p} (h)": float for w in ("Placed to shipped", "Shipped to delivered") for p in (50, 90)})


def health_table(health: pd.DataFrame, tz: str | None) -> pd.DataFrame:
    """Every channel's polling at a glance (core.connector_health.channel_health)."""
    last = f"Last successful poll ({zone_label(tz)})"
    return pd.DataFrame({
        "Channel": health["channel"], "Kind": health["kind"],
        "Polling": polling_states(health, tz),
        last: [local_time(v, tz) if v is not None and not pd.isna(v) else "never" for v in health["last_success"]],
        "Lag (min)": health["lag_minutes"], "Polls (24 h)": health["runs_24h"], "Failed (24 h)": health["failed_24h"],
        "Error rate (%)": health["error_rate_pct"], "Dead letters": health["dead_letters"],
        "Last error": health["last_error"].fillna(""),
    })


def polling_states(health: pd.DataFrame, tz: str | None) -> list[str]:
    """Running, paused, or resting after failed polls with the time of the next try in the user's zone."""
    return [state if rest is None or pd.isna(rest) else f"{state}, next try {local_time(rest, tz)}"
            for state, rest in zip(health["state"], health["resting_until"], strict=True)]


def runs_table(runs: pd.DataFrame, tz: str | None) -> pd.DataFrame:
    """A channel's recent polls (core.connector_health.recent_runs), times in the user's zone."""
    zone = zone_label(tz)
    return pd.DataFrame({
        f"Started ({zone})": [local_time(v, tz) for v in runs["started_at"]],
        f"Finished ({zone})": [local_time(v, tz) if v is not None and not pd.isna(v) else "" for v in runs["finished_at"]],
        "Status": runs["status"], "Fetched": runs["fetched"], "Written": runs["written"],
        "Unchanged": runs["unchanged"], "Dead-lettered": runs["dead_lettered"], "Error": runs["error"].fillna(""),
    })


def letters_table(letters: pd.DataFrame, tz: str | None) -> pd.DataFrame:
    """Dead letters waiting for a replay (core.connector_health.dead_letters), without the raw payload."""
    return pd.DataFrame({
        "Id": letters["id"], f"Received ({zone_label(tz)})": [local_time(v, tz) for v in letters["received_at"]],
        "Channel's id": letters["external_id"].fillna(""), "Why it was rejected": letters["error"],
    })
