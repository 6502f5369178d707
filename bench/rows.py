"""Build the generated orders as plain row tuples, exactly as SQLAlchemy stores them on SQLite.

The store keeps datetimes as naive-UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``, enums by value,
booleans as 0/1, JSON as ``json.dumps`` text and money as NUMERIC; the rows below use the
same encodings (the smoke test checks them against rows written by ``core.ingest``).
"""

from __future__ import annotations

import json
import random
from bisect import bisect
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from itertools import accumulate

from bench.dataset import CHANNELS, COUNTRIES, Customer, Shop, carrier_for, tracking_number
from core import search
from core.enums import HoldCode
from core.enums import OrderStatus as S
from core.sla import SlaPolicy, ship_by

ORDER_COLS = (
    "id", "channel_id", "external_id", "number", "status", "is_open", "financial_status", "fulfillment_status",
    "customer_name", "email", "phone", "ship_to", "ship_country", "ship_region", "total", "currency", "placed_at",
    "channel_updated_at", "ship_by", "ship_by_source", "cancelled_at", "priority", "tags", "risk_level", "note",
    "created_at", "updated_at", "search_number", "search_email", "search_name", "search_last", "search_phone_rev",
    "version",
)
LINE_COLS = ("id", "order_id", "external_id", "sku", "title", "quantity", "unit_price", "qty_allocated",
             "qty_shipped", "qty_returned")
SHIPMENT_COLS = ("id", "order_id", "location_id", "external_id", "source", "carrier", "service", "tracking_number",
                 "status", "shipped_at", "estimated_at", "delivered_at", "last_scan_at")
SHIPMENT_LINE_COLS = ("id", "shipment_id", "order_line_id", "quantity")
EVENT_COLS = ("id", "order_id", "subject", "kind", "actor_kind", "actor_name", "at", "detail")
HOLD_COLS = ("id", "order_id", "code", "blocking", "order_ship_by", "state", "opened_at", "assignee_id", "resolution",
             "resolved_by", "resolved_at", "note", "detail", "version")

DAY = 86_400
# Ingest triages orders as they arrive (ready or on hold), so few stay "new".
_OPEN_RECENT = ((S.NEW, 0.03), (S.ON_HOLD, 0.15), (S.READY, 0.37), (S.ALLOCATED, 0.35),
                (S.BACKORDERED, 0.05), (S.PARTIALLY_SHIPPED, 0.05))
_OPEN_OLDER = ((S.NEW, 0.01), (S.ON_HOLD, 0.27), (S.READY, 0.12), (S.ALLOCATED, 0.22),
               (S.BACKORDERED, 0.28), (S.PARTIALLY_SHIPPED, 0.10))
_VERSION = {S.NEW: 1, S.READY: 2, S.ON_HOLD: 2, S.CANCELLED: 2, S.ALLOCATED: 3, S.BACKORDERED: 3,
            S.PARTIALLY_SHIPPED: 4, S.SHIPPED: 4, S.DELIVERED: 5}
_RAW_FULFILMENT = {  # the channel's own word, as the connectors keep it
    "shopify": {S.SHIPPED: "fulfilled", S.DELIVERED: "fulfilled", S.PARTIALLY_SHIPPED: "partial"},
    "woocommerce": {S.SHIPPED: "completed", S.DELIVERED: "completed", S.CANCELLED: "cancelled",
                    S.ON_HOLD: "on-hold"},
    "amazon": {S.SHIPPED: "Shipped", S.DELIVERED: "Shipped", S.CANCELLED: "Canceled",
               S.PARTIALLY_SHIPPED: "PartiallyShipped"},
}
# Why an order sits on hold (a channel's risk or a person's doubt; never a rule the data contradicts)
_HOLD_WHY = {
    HoldCode.PAYMENT_PENDING: "financial status is pending",
    HoldCode.FRAUD_RISK: "the channel rates the order high risk",
    HoldCode.DUPLICATE_SUSPECT: "same e-mail, address and items as another order 6 minutes earlier",
    HoldCode.MANUAL: "customer asked to change the size before shipping",
    HoldCode.BACKORDER: "stock short after allocation",
}
_NOTES = ("Please leave at the front door.", "Gift - no prices on the slip please.", "Ring twice.",
          "Deliver to the neighbour at no. 12 if out.")


@lru_cache(maxsize=4096)
def _day_text(day: int) -> str:
    return datetime.fromtimestamp(day * DAY, UTC).strftime("%Y-%m-%d")


def ts_text(ts: int) -> str:
    """Epoch seconds as the store's SQLite DATETIME text (naive UTC, microseconds)."""
    day, sod = divmod(ts, DAY)
    return f"{_day_text(day)} {sod // 3600:02d}:{sod // 60 % 60:02d}:{sod % 60:02d}.000000"


def day_plan(orders: int, days: int, now_ts: int) -> list[tuple[int, int]]:
    """(window start, order count) per 24 h window ending at ``now_ts``: growth, weekdays, peak season."""
    weights = []
    for d in range(days):
        start = now_ts - (days - d) * DAY
        when = datetime.fromtimestamp(start, UTC)
        weekday = (1.0, 1.05, 1.0, 0.98, 0.95, 0.8, 0.85)[when.weekday()]
        season = 1.7 if (when.month, when.day) >= (11, 24) and when.month == 11 or (
            when.month == 12 and when.day <= 2) else 1.25 if when.month == 12 and when.day <= 20 else 1.0
        weights.append((1.0 + d / max(days - 1, 1)) * weekday * season)
    cum = list(accumulate(weights))
    bounds = [round(orders * c / cum[-1]) for c in cum]
    return [(now_ts - (days - d) * DAY, bounds[d] - (bounds[d - 1] if d else 0)) for d in range(days)]


@dataclass
class Ids:
    """Next free id of each table (explicit ids let lines and parcels point at their order)."""

    order: int = 1
    line: int = 1
    shipment: int = 1
    shipment_line: int = 1
    event: int = 1
    hold: int = 1


@dataclass
class Batch:
    orders: list[tuple] = field(default_factory=list)
    lines: list[tuple] = field(default_factory=list)
    shipments: list[tuple] = field(default_factory=list)
    shipment_lines: list[tuple] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)
    holds: list[tuple] = field(default_factory=list)
    open_orders: int = 0

    @property
    def rows(self) -> int:
        return (len(self.orders) + len(self.lines) + len(self.shipments) + len(self.shipment_lines)
                + len(self.events) + len(self.holds))


def _weighted(options: tuple[tuple[S, float], ...], u: float) -> S:
    for value, weight in options:
        if u < weight:
            return value
        u -= weight
    return options[-1][0]


class OrderFactory:
    """Turns placed-at times into orders with lines, parcels and their first event."""

    def __init__(self, shop: Shop, channel_ids: list[int], now_ts: int, ids: Ids, *, customers: int,
                 seed: int = 1) -> None:
        self.shop, self.channel_ids, self.now, self.ids = shop, channel_ids, now_ts, ids
        self.rng = random.Random(seed * 7919 + 1)
        self.channel_cum = list(accumulate(c.weight for c in CHANNELS))
        starts = [0, *accumulate(max(1, int(customers * c.weight)) for c in CHANNELS)]
        self.segments = [(starts[i], starts[i + 1] - starts[i]) for i in range(len(CHANNELS))]
        self.policies = [SlaPolicy.from_dict(c.sla_policy) for c in CHANNELS]
        self.seq = [0] * len(CHANNELS)
        self._ship_by: dict[tuple[int, int], str] = {}
        self.customer = lru_cache(maxsize=65_536)(self._customer)

    def _customer(self, k: int, ci: int) -> Customer:
        return self.shop.customer(k, CHANNELS[ci])

    def ship_by_text(self, ci: int, ts: int) -> str:
        """Ship-by as the app computes it; policy results depend only on the 15-minute slot."""
        if CHANNELS[ci].own_deadline:  # Amazon's LatestShipDate: two days later, end of the US day
            return ts_text((ts // DAY + 2) * DAY + 28_799)
        key = (ci, ts // 900)
        text = self._ship_by.get(key)
        if text is None:
            deadline = ship_by(datetime.fromtimestamp(key[1] * 900, UTC), self.policies[ci])
            text = self._ship_by[key] = ts_text(int(deadline.timestamp()))
        return text

    def build(self, times: list[int]) -> Batch:
        """One batch of orders placed at ``times`` (sorted), with everything that hangs off them."""
        batch = Batch()
        for ts in times:
            self._order(ts, batch)
        return batch

    def _order(self, ts: int, batch: Batch) -> None:  # noqa: C901 - one straight recipe
        r, ids, now = self.rng.random, self.ids, self.now
        ci = bisect(self.channel_cum, r() * self.channel_cum[-1])
        spec = CHANNELS[ci]
        seq = self.seq[ci]
        self.seq[ci] += 1
        start, size = self.segments[ci]
        cust = self.customer(start + int(size * r() ** 1.8), ci)  # a few loyal customers buy often
        oid = ids.order
        ids.order += 1
        kind = spec.kind.value
        if kind == "shopify":
            external_id, number = str(5_200_000_000_000 + seq * 13), f"#{1001 + seq}"
        elif kind == "woocommerce":
            external_id = number = str(20_001 + seq)
        else:
            x = (seq * 7_654_321 + 1_234_567) % 10**14
            external_id = number = f"{111 + seq % 4}-{x // 10**7:07d}-{x % 10**7:07d}"
        age_days = (now - ts) / DAY
        # Most orders leave within days; a tail waits on stock, payment or a person (about 3 % open over 180 days).
        p_open = 0.95 if age_days < 2 else 0.5 if age_days < 5 else 0.1 if age_days < 14 else 0.03 if age_days < 30 \
            else 0.004
        created = min(ts + 30 + int(150 * r()), now)
        ship_at = deliver_at = cancelled_at = None
        if r() < p_open:
            status = _weighted(_OPEN_RECENT if age_days < 2 else _OPEN_OLDER, r())
        elif r() < 0.04:
            status = S.CANCELLED
            cancelled_at = min(ts + int(3600 * (0.2 + 30 * r())), now)
        else:
            status = S.DELIVERED
        if status in (S.DELIVERED, S.PARTIALLY_SHIPPED):
            ship_at = ts + int(3600 * (2 + 40 * r() ** 2))
            if ship_at > now - 300:
                ship_at = ts + int((now - ts) * 0.8)
            deliver_at = ship_at + int(DAY * (1 + 5 * r()))
            if deliver_at > now or (status is S.DELIVERED and r() < 0.005):
                deliver_at = None
                if status is S.DELIVERED:
                    status = S.SHIPPED
        is_open = status.is_open
        batch.open_orders += is_open
        fin = "paid"
        u = r()
        if status is S.CANCELLED:
            fin = "voided" if u < 0.6 else "refunded"
        elif status is S.ON_HOLD:  # an unpaid order is held (PAYMENT_PENDING) until the channel says paid
            fin = "pending" if u < 0.35 else "paid"
        elif is_open:
            fin = "authorized" if u < 0.1 else "paid"
        else:
            fin = "partially_refunded" if u < 0.02 else "refunded" if u < 0.03 else "paid"
        # lines
        n_lines = 1 if (u := r()) < 0.55 else 2 if u < 0.82 else 3 if u < 0.94 else 4
        if status is S.PARTIALLY_SHIPPED and n_lines == 1:
            n_lines = 2
        shipped_lines: list[tuple[int, int]] = []
        subtotal = 0.0
        rnd = self.rng.getrandbits
        for li in range(n_lines):
            sku = self.shop.sku(rnd(16))
            qty = 1 if (u := r()) < 0.82 else 2 if u < 0.96 else 3
            subtotal += qty * sku.price
            lid = ids.line
            ids.line += 1
            if status in (S.SHIPPED, S.DELIVERED) or (status is S.PARTIALLY_SHIPPED and li < n_lines - 1):
                shipped, allocated = qty, qty
                shipped_lines.append((lid, qty))
            elif status in (S.ALLOCATED, S.PARTIALLY_SHIPPED) or (status is S.BACKORDERED and li < n_lines - 1):
                shipped, allocated = 0, qty
            else:
                shipped, allocated = 0, 0
            line_ext = str(lid) if kind == "woocommerce" else str(14_000_000_000_000 + lid * 7)
            batch.lines.append((lid, oid, line_ext, sku.sku, sku.title, qty, sku.price, allocated, shipped, 0))
        total = round(subtotal + (0.0 if subtotal >= 75 else 4.95), 2)
        last_change = created
        if ship_at is not None:
            sid = ids.shipment
            ids.shipment += 1
            carrier, service = carrier_for(cust.country, r())
            scan = deliver_at or min(ship_at + int(DAY * 2 * r()), now)
            batch.shipments.append((
                sid, oid, None, f"F{sid}", "channel", carrier, service, tracking_number(carrier, sid),
                "delivered" if deliver_at else "in_transit", ts_text(ship_at), ts_text(ship_at + 3 * DAY),
                ts_text(deliver_at) if deliver_at else None, ts_text(scan),
            ))
            for lid, qty in shipped_lines:
                batch.shipment_lines.append((ids.shipment_line, sid, lid, qty))
                ids.shipment_line += 1
            last_change = max(last_change, scan)
        if cancelled_at is not None:
            last_change = max(last_change, cancelled_at)
        currency = COUNTRIES[cust.country][0]
        tags = ""
        risk = None
        if kind == "shopify":
            u = r()
            tags = "vip" if u < 0.08 else "wholesale" if u < 0.11 else "gift" if u < 0.16 else ""
            risk = "low" if (u := r()) < 0.95 else "medium" if u < 0.99 else "high"
        note = _NOTES[int(r() * 4)] if r() < 0.03 else None
        hold = self._hold(status, fin, kind, r(), r() < 0.02)
        if hold is HoldCode.FRAUD_RISK:
            risk = "high"
        updated = ts_text(last_change)
        received = ts_text(created)
        batch.orders.append((
            oid, self.channel_ids[ci], external_id, number, status.value, int(is_open), fin,
            _RAW_FULFILMENT[kind].get(status), cust.name, cust.email, cust.phone, cust.ship_to_json, cust.country,
            cust.region, total, currency, ts_text(ts), updated, self.ship_by_text(ci, ts),
            "channel" if spec.own_deadline else "policy", ts_text(cancelled_at) if cancelled_at else None,
            1 if r() < 0.03 else 0, tags, risk, note, received, updated, search.norm_number(number),
            cust.search_email, cust.search_name, cust.search_last, cust.search_phone, _VERSION[status],
        ))
        detail = json.dumps({"number": number, "status": "new", "total": f"{total:.2f}", "currency": currency,
                             "lines": n_lines})
        batch.events.append((ids.event, oid, "order", "order_received", "channel", f"channel:{spec.code}",
                             received, detail))
        ids.event += 1
        if hold is not None:
            self._add_hold(batch, oid, hold, is_open, created, spec.code, last_change, self.ship_by_text(ci, ts))

    @staticmethod
    def _hold(status: S, fin: str, kind: str, u: float, resolved_earlier: bool) -> HoldCode | None:
        """The hold an order carries: every on-hold order one blocking hold, backorders their BACKORDER."""
        if status is S.ON_HOLD:
            if fin == "pending":
                return HoldCode.PAYMENT_PENDING
            if kind == "shopify" and u < 0.3:
                return HoldCode.FRAUD_RISK
            return HoldCode.DUPLICATE_SUSPECT if u < 0.55 else HoldCode.MANUAL
        if status is S.BACKORDERED:
            return HoldCode.BACKORDER
        if not status.is_open and resolved_earlier:  # held once, released by a person, then shipped
            return HoldCode.MANUAL
        return None

    def _add_hold(self, batch: Batch, oid: int, code: HoldCode, is_open: bool, opened: int, channel: str,
                  last_change: int, ship_by: str) -> None:
        ids, why = self.ids, _HOLD_WHY[code]
        at = ts_text(opened)
        if is_open:
            batch.holds.append((ids.hold, oid, code.value, int(code.blocking), ship_by, "open", at, None, None, None, None,
                                why, json.dumps({"why": why}), 1))
            batch.events.append((ids.event, oid, "order", "hold_opened", "channel", f"channel:{channel}", at,
                                 json.dumps({"code": code.value, "blocking": code.blocking, "note": why})))
            ids.event += 1
        else:
            resolved = ts_text(min(opened + 3600, last_change))
            batch.holds.append((ids.hold, oid, code.value, int(code.blocking), ship_by, "resolved", at, None, "released",
                                "bench", resolved, why, json.dumps({"why": why}), 2))
        ids.hold += 1
