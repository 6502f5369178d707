"""A deterministic simulated shop: a backlog of orders, new ones over time, and their later updates.

Everything random comes from one seeded ``random.Random`` consumed in event order, so the
same seed and the same clock readings give the same orders, whatever the request timing.
Orders are kept in Shopify's REST JSON shape; a payload dict is never mutated in place
(updates replace it), so a reader may serialize it outside the lock.
"""

from __future__ import annotations

import copy
import heapq
import random
import threading
import time
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

ORDER_ID_BASE = 5_600_000_000_000
LINE_ID_BASE = 14_200_000_000_000
FULFILLMENT_ID_BASE = 4_700_000_000_000
CUSTOMER_ID_BASE = 7_300_000_000_000
REFUND_ID_BASE = 9_200_000_000_000
HIGH_VALUE_SKU = "EBIKE-CITY-500"

# sku, title, variant title, price, grams
CATALOG = [
    ("TEE-BLK-M", "Organic T-shirt", "Black / M", "24.00", 180),
    ("TEE-WHT-L", "Organic T-shirt", "White / L", "24.00", 190),
    ("HOOD-GRY-M", "Heavyweight Hoodie", "Grey / M", "59.00", 620),
    ("CAP-NVY", "Baseball Cap", "Navy", "19.50", 90),
    ("MUG-CER-12", "Ceramic Mug 12 oz", None, "14.00", 350),
    ("BTL-STL-750", "Steel Bottle 750 ml", None, "29.95", 300),
    ("BAG-TOTE-CAN", "Canvas Tote Bag", None, "18.00", 150),
    ("SOCK-3PK", "Merino Socks 3-Pack", "M", "12.99", 120),
    ("JKT-RAIN-L", "Packable Rain Jacket", "Olive / L", "149.00", 480),
    ("BOOT-HIKE-42", "Trail Hiking Boots", "EU 42", "189.00", 1300),
    ("HELM-CYC-M", "Commuter Cycling Helmet", "M", "89.90", 400),
    (HIGH_VALUE_SKU, "City E-Bike 500W", "Step-through / M", "2499.00", 24000),
]
_BY_SKU = {c[0]: (i, c) for i, c in enumerate(CATALOG)}
FIRST = ("Emma Liam Olivia Noah Sofia Lucas Mia Ethan Chloé Mateo Zoë Jonas Amelia Oliver Léa Finn Ava "
         "Hannah Daniel Priya Kenji Aisha").split()
LAST = ["Smith", "Johnson", "Brown", "Müller", "Schmidt", "Dubois", "Martin", "de Vries", "Jansen", "Wilson",
        "Taylor", "Nguyen", "Garcia", "O'Connor", "Patel", "Kowalski", "Rossi", "Fischer", "Lefèvre", "Kim"]
DOMAINS = ["gmail.com", "outlook.com", "icloud.com", "yahoo.com", "proton.me", "web.de", "orange.fr"]
# code: name, currency, tax rate, taxes included, weight, places (city, province code, province, zip),
#       streets, phone pattern, carriers
COUNTRIES: dict[str, tuple[Any, ...]] = {
    "US": ("United States", "USD", "0.0825", False, 40,
           [("Austin", "TX", "Texas", "787##"), ("Portland", "OR", "Oregon", "972##"),
            ("Brooklyn", "NY", "New York", "112##"), ("Denver", "CO", "Colorado", "802##")],
           ["Maple Ave", "Oak Street", "Congress Ave", "Pearl St"], "+1 512-555-01##",
           ["UPS", "USPS", "FedEx"]),
    "CA": ("Canada", "CAD", "0.13", False, 10,
           [("Toronto", "ON", "Ontario", "M5V 2T6"), ("Vancouver", "BC", "British Columbia", "V6B 1A1"),
            ("Montréal", "QC", "Quebec", "H2X 1Y4")],
           ["King St W", "Granville St", "Rue Sherbrooke"], "+1 416-555-01##", ["UPS", "FedEx"]),
    "GB": ("United Kingdom", "GBP", "0.20", True, 15,
           [("London", None, None, "EC1V 9HX"), ("Manchester", None, None, "M1 1AE"),
            ("Edinburgh", None, None, "EH1 1YZ")],
           ["High Street", "Church Road", "Victoria Road"], "+44 20 7946 0###",
           ["Royal Mail", "DHL Express"]),
    "DE": ("Germany", "EUR", "0.19", True, 12,
           [("Berlin", None, None, "10115"), ("München", None, None, "80331"),
            ("Hamburg", None, None, "20095")],
           ["Hauptstraße", "Bahnhofstraße", "Schillerstraße"], "+49 30 #######", ["DHL Express", "UPS"]),
    "FR": ("France", "EUR", "0.20", True, 8,
           [("Paris", None, None, "75011"), ("Lyon", None, None, "69002")],
           ["Rue de Rivoli", "Avenue Jean Jaurès", "Rue Victor Hugo"], "+33 1 ## ## ## ##",
           ["DHL Express", "UPS"]),
    "AU": ("Australia", "AUD", "0.10", True, 8,
           [("Sydney", "NSW", "New South Wales", "2000"), ("Melbourne", "VIC", "Victoria", "3000")],
           ["George St", "Collins St", "Smith St"], "+61 2 5550 ####", ["DHL Express", "FedEx"]),
    "NL": ("Netherlands", "EUR", "0.21", True, 7,
           [("Amsterdam", None, None, "1012 AB"), ("Utrecht", None, None, "3511 AA")],
           ["Prinsengracht", "Oudegracht", "Kerkstraat"], "+31 20 555 ####", ["DHL Express", "UPS"]),
}
TRACKING_URLS = {
    "UPS": "https://www.ups.com/track?tracknum={}",
    "USPS": "https://tools.usps.com/go/TrackConfirmAction?tLabels={}",
    "FedEx": "https://www.fedex.com/fedextrack/?trknbr={}", "DHL Express": "https://www.dhl.com/track?AWB={}",
    "Royal Mail": "https://www.royalmail.com/track-your-item#/tracking-results/{}",
}
TAGS = ["vip", "wholesale", "gift", "pre-order", "subscription", "influencer", "b2b", "repeat"]
NOTES = ["Please leave at the back door", "Gift - no invoice in the box please", "Call before delivery"]
RETURN_NOTES = ["Customer says the size is too small", "Arrived damaged", "Changed mind", "Wrong colour sent",
                "Stopped working after a week", None]
MALFORMED_KINDS = ("quantity_word", "missing_sku", "bad_total", "missing_created_at")


class OrderRow(NamedTuple):
    """One order: the fields APIs filter on, its clean payload, and how (if) it is served broken."""

    id: int
    created: datetime
    updated: datetime
    closed: bool
    cancelled: bool
    data: dict[str, Any]
    malformed: str | None

    def payload(self) -> dict[str, Any]:
        """The JSON as served: the clean payload, or a realistically broken copy."""
        return corrupt(self.data, self.malformed) if self.malformed else self.data


def corrupt(order: dict[str, Any], kind: str) -> dict[str, Any]:
    """A copy of ``order`` broken the way real feeds break."""
    bad = copy.deepcopy(order)
    if kind == "quantity_word":
        bad["line_items"][0]["quantity"] = "two"
    elif kind == "missing_sku":
        bad["line_items"][0]["sku"] = None
    elif kind == "bad_total":
        bad["total_price"] = "abc"
    elif kind == "missing_created_at":
        del bad["created_at"]
    return bad


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _money(value: Decimal) -> str:
    return str(_cents(value))


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "".join(c for c in folded if c.isalnum())


class World:
    """The simulated shop. Thread-safe: every read advances the clock and mutates under one lock."""

    def __init__(self, *, seed: int = 1, now: Callable[[], datetime] | None = None, time_scale: float = 1.0,
                 orders_per_minute: float = 20.0, backlog: int = 150, backlog_days: float = 3.0,
                 malformed_rate: float = 0.0, shop_tz: str = "America/New_York", return_rate: float = 0.2) -> None:
        """``now`` is the simulated clock; without it, real time runs ``time_scale`` times faster.

        ``return_rate``: the share of fully shipped orders a customer later sends goods back on (a
        refund with restock_type "return", some hours to days after the parcel left).
        """
        if now is None:
            origin, mono0 = datetime.now(UTC), time.monotonic()
            now = lambda: origin + timedelta(seconds=(time.monotonic() - mono0) * time_scale)  # noqa: E731
        self._clock = now
        self.seed, self.tz, self.malformed_rate = seed, ZoneInfo(shop_tz), malformed_rate
        self.return_rate = return_rate
        self.rate_per_s = orders_per_minute / 60
        self.lock = threading.RLock()
        self._rng = random.Random(seed)
        self._orders: dict[int, OrderRow] = {}
        self.version = 0  # bumped by every new order and every change: readers can tell nothing changed
        self._listings: dict[str, tuple[int, list[tuple[int, int]], list[OrderRow]]] = {}
        self._indexes: dict[str, tuple[int, dict[Any, OrderRow]]] = {}
        self._events: list[tuple[datetime, int, int, str, tuple[Any, ...]]] = []
        self._seq = self._count = self._line_seq = self._fulfillment_seq = self._refund_seq = 0
        self._customers: list[dict[str, Any]] = []
        self._start = start = self.now()
        span = backlog_days * 86400
        # Backlog arrivals go through the same event loop as live ones, so order numbers and
        # double submissions interleave in time order; pop() yields the earliest.
        arrivals = (start - timedelta(seconds=self._rng.uniform(0, span)) for _ in range(backlog))
        self._backlog = sorted(arrivals, reverse=True)
        self._next_arrival = self._following(start)
        self.advance()

    def now(self) -> datetime:
        return self._clock().astimezone(UTC).replace(microsecond=0)

    def advance(self) -> None:
        """Create every order and apply every update that is due by now, in time order."""
        with self.lock:
            t = self.now()
            while True:
                due = self._events[0][0] if self._events else None
                arrival = self._next_arrival
                if arrival is not None and arrival <= t and (due is None or arrival <= due):
                    self._create(arrival)
                    self._next_arrival = self._following(arrival)
                elif due is not None and due <= t:
                    when, _, oid, kind, args = heapq.heappop(self._events)
                    getattr(self, f"_on_{kind}")(self._orders[oid], when, *args)
                else:
                    return

    def changed_since(self, version: int) -> bool:
        """Whether any order was created or changed (as of now) since ``version``."""
        with self.lock:
            self.advance()
            return self.version != version

    def rows(self) -> list[OrderRow]:
        """Every order as of now (payloads are shared: treat them as read-only)."""
        with self.lock:
            self.advance()
            return list(self._orders.values())

    def listing(self, by: str) -> tuple[list[tuple[int, int]], list[OrderRow]]:
        """Every order sorted by (whole seconds of ``by`` - "created" or "updated" - then id), with those keys.

        Kept until the shop changes, so that an API serves a page with a bisect instead of sorting the
        whole shop on every request (a 10,000-order backlog is read in 100 pages).
        """
        with self.lock:
            self.advance()
            cached = self._listings.get(by)
            if cached is None or cached[0] != self.version:
                rows = sorted(self._orders.values(), key=lambda r: (int(getattr(r, by).timestamp()), r.id))
                cached = self._listings[by] = (self.version, [(int(getattr(r, by).timestamp()), r.id) for r in rows], rows)
            return cached[1], cached[2]

    def find(self, name: str, key: Callable[[int], Any], wanted: Any) -> OrderRow | None:
        """The order whose ``key(id)`` is ``wanted`` (an API's own order id), through an index kept per ``name``."""
        with self.lock:
            self.advance()
            cached = self._indexes.get(name)
            if cached is None or cached[0] != self.version:
                cached = self._indexes[name] = (self.version, {key(oid): row for oid, row in self._orders.items()})
            return cached[1].get(wanted)

    def orders_snapshot(self) -> list[dict[str, Any]]:
        """Deep copies of every order exactly as the API serves it, oldest id first."""
        return [copy.deepcopy(r.payload()) for r in sorted(self.rows(), key=lambda r: r.id)]

    def malformed_ids(self) -> set[int]:
        return {r.id for r in self.rows() if r.malformed}

    def _following(self, t: datetime) -> datetime | None:
        """When the next order arrives: the backlog first, then a Poisson stream from start."""
        if self._backlog:
            return self._backlog.pop()
        if self.rate_per_s <= 0:
            return None
        return max(t, self._start) + timedelta(seconds=max(1, round(self._rng.expovariate(self.rate_per_s))))

    def _schedule(self, when: datetime, oid: int, kind: str, *args: Any) -> None:
        self._seq += 1
        heapq.heappush(self._events, (when.replace(microsecond=0), self._seq, oid, kind, args))

    def _ts(self, t: datetime) -> str:
        return t.astimezone(self.tz).isoformat(timespec="seconds")

    def _customer(self) -> dict[str, Any]:
        rng = self._rng
        if self._customers and rng.random() < 0.15:  # repeat buyers make search realistic
            return rng.choice(self._customers)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        cc = rng.choices(list(COUNTRIES), weights=[c[4] for c in COUNTRIES.values()])[0]
        name, _cur, _rate, _incl, _w, places, streets, phone_pattern, _car = COUNTRIES[cc]
        city, prov_code, prov, zip_pattern = rng.choice(places)
        a, b = _ascii(first), _ascii(last)
        local = rng.choice([f"{a}.{b}", f"{a[0]}{b}{rng.randint(1, 99)}"])
        num, street = rng.randint(1, 420), rng.choice(streets)
        address1 = f"{street} {num}" if cc in ("DE", "NL") else f"{num} {street}"
        phone = self._digits(phone_pattern) if rng.random() < 0.8 else None
        customer = {
            "id": CUSTOMER_ID_BASE + len(self._customers) * 7, "first_name": first, "last_name": last,
            "email": f"{local}@{rng.choice(DOMAINS)}", "phone": phone, "country_code": cc,
            "address": {
                "first_name": first, "last_name": last, "name": f"{first} {last}",
                "company": rng.choice(["Northwind Traders", "Acme GmbH"]) if rng.random() < 0.07 else None,
                "address1": address1, "address2": f"Apt {rng.randint(1, 40)}" if rng.random() < 0.2 else None,
                "city": city, "province": prov, "province_code": prov_code, "zip": self._digits(zip_pattern),
                "country": name, "country_code": cc, "phone": phone, "latitude": None, "longitude": None,
            },
        }
        self._customers.append(customer)
        return customer

    def _digits(self, pattern: str) -> str:
        return "".join(str(self._rng.randint(0, 9)) if c == "#" else c for c in pattern)

    def _create(self, created: datetime, clone_of: OrderRow | None = None) -> None:
        rng, n = self._rng, self._count
        self._count += 1
        oid, number = ORDER_ID_BASE + n * 1013, 1001 + n
        created = created.replace(microsecond=0)
        if clone_of is not None:  # a double submission: same buyer, address and items, new id
            src = clone_of.data
            customer = next(c for c in self._customers if c["id"] == src["customer"]["id"])
            picks = [(li["sku"], li["quantity"]) for li in src["line_items"]]
        else:
            customer = self._customer()
            regular = [c[0] for c in CATALOG if c[0] != HIGH_VALUE_SKU]
            picks = [(s, rng.choices([1, 2, 3], weights=[6, 3, 1])[0])
                     for s in rng.sample(regular, rng.choice([1, 1, 1, 2, 2, 3, 4]))]
            if rng.random() < 0.05:  # high value: two or three e-bikes
                picks.insert(0, (HIGH_VALUE_SKU, rng.choice([2, 2, 3])))
        cc = customer["country_code"]
        _name, currency, rate, included, _w, _places, _streets, _phone, carriers = COUNTRIES[cc]
        lines = []
        for sku, qty in picks:
            idx, (_sku, title, variant, price, grams) = _BY_SKU[sku]
            self._line_seq += 1
            lid = LINE_ID_BASE + self._line_seq * 31
            lines.append({
                "id": lid, "admin_graphql_api_id": f"gid://shopify/LineItem/{lid}",
                "variant_id": 44_000_000_000_000 + idx * 101, "product_id": 8_100_000_000_000 + idx,
                "sku": sku, "title": title, "variant_title": variant,
                "name": f"{title} - {variant}" if variant else title, "vendor": "OpsDesk Demo Co",
                "quantity": qty, "current_quantity": qty, "fulfillable_quantity": qty, "price": price,
                "fulfillment_status": None, "total_discount": "0.00", "grams": grams, "taxable": True,
                "requires_shipping": True, "gift_card": False, "fulfillment_service": "manual",
            })
        subtotal = sum((Decimal(li["price"]) * li["quantity"] for li in lines), Decimal(0))
        shipping = Decimal(0) if subtotal >= 100 else Decimal("6.95")
        gross = subtotal + shipping
        # Round the tax first, so total == subtotal + shipping + tax to the cent, as Shopify shows it.
        tax = _cents((gross - gross / (1 + Decimal(rate))) if included else gross * Decimal(rate))
        total = gross if included else gross + tax
        roll = rng.random()
        financial = "pending" if roll < 0.12 else "authorized" if roll < 0.15 else "paid"
        tags = ", ".join(rng.sample(TAGS, rng.choice([0, 0, 0, 1, 1, 2])))
        ts, gateway = self._ts(created), "bank_deposit" if financial == "pending" else "shopify_payments"
        buyer = {k: customer[k] for k in ("id", "email", "first_name", "last_name", "phone")}
        data = {
            "id": oid, "admin_graphql_api_id": f"gid://shopify/Order/{oid}", "name": f"#{number}",
            "order_number": number, "number": number - 1000, "token": f"{rng.getrandbits(128):032x}",
            "email": customer["email"], "contact_email": customer["email"], "phone": customer["phone"],
            "created_at": ts, "updated_at": ts, "processed_at": ts, "closed_at": None, "cancelled_at": None,
            "cancel_reason": None, "currency": currency, "presentment_currency": currency,
            "financial_status": financial, "fulfillment_status": None, "payment_gateway_names": [gateway],
            "subtotal_price": _money(subtotal), "total_line_items_price": _money(subtotal),
            "total_discounts": "0.00", "total_tax": _money(tax), "total_price": _money(total),
            "current_total_price": _money(total), "taxes_included": included,
            "total_weight": sum(li["grams"] * li["quantity"] for li in lines),
            "tags": tags, "note": rng.choice(NOTES) if rng.random() < 0.06 else None, "source_name": "web",
            "test": False, "confirmed": True, "buyer_accepts_marketing": rng.random() < 0.4,
            "customer": {**buyer, "state": "enabled", "verified_email": True, "currency": currency},
            "shipping_address": dict(customer["address"]), "billing_address": dict(customer["address"]),
            "line_items": lines, "fulfillments": [], "refunds": [],
            "shipping_lines": [{"id": oid + 7, "title": "Standard Shipping", "code": "STANDARD",
                                "price": _money(shipping), "source": "shopify"}]}
        marks = random.Random(f"{self.seed}:{oid}")  # per order, so the rate never shifts the shop
        malformed = marks.choice(MALFORMED_KINDS) if marks.random() < self.malformed_rate else None
        self._orders[oid] = OrderRow(oid, created, created, False, False, data, malformed)
        self.version += 1
        self._plan(oid, created, financial, [li["id"] for li in lines], carriers, clone_of is None)

    def _plan(self, oid: int, created: datetime, financial: str, line_ids: list[int], carriers: list[str],
              may_clone: bool) -> None:
        """Decide this order's future now, so later updates consume no randomness."""
        rng = self._rng
        later = lambda lo, hi: created + timedelta(minutes=rng.uniform(lo, hi))  # noqa: E731
        ready = created
        if may_clone and rng.random() < 0.01:
            self._schedule(later(2, 8), oid, "clone")
        if financial == "pending":
            roll = rng.random()
            if roll >= 0.4:  # never paid: keeps ~8% of orders pending; a few get cancelled
                if roll < 0.5:
                    self._schedule(later(60, 2880), oid, "cancel", "customer")
                return
            ready = later(5, 240)  # paid later, by bank transfer
            self._schedule(ready, oid, "pay")
        if rng.random() < 0.035:
            reason = rng.choice(["customer", "fraud", "inventory", "declined"])
            self._schedule(later(10, 480), oid, "cancel", reason)
            return
        if rng.random() < 0.34:
            first = ready + timedelta(minutes=rng.uniform(20, 1200))
            carrier = rng.choice(carriers)
            if len(line_ids) > 1 and rng.random() < 0.15:  # partial: first line ships, the rest maybe later
                self._schedule(first, oid, "fulfil", tuple(line_ids[:1]), carrier, self._tracking(carrier))
                if rng.random() < 0.5:
                    self._schedule(first + timedelta(hours=rng.uniform(12, 72)), oid, "fulfil",
                                   tuple(line_ids[1:]), carrier, self._tracking(carrier))
            else:
                tracking = self._tracking(carrier) if rng.random() > 0.03 else None  # local drop-off
                self._schedule(first, oid, "fulfil", tuple(line_ids), carrier, tracking)

    def _tracking(self, carrier: str) -> str:
        """A number in the carrier's format: 1Z... (UPS), 9400... (USPS), XX123456789GB (Royal Mail)."""
        letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
        if carrier == "UPS":
            shipper = "".join(self._rng.choice(letters + "0123456789") for _ in range(6))
            return "1Z" + shipper + self._digits("03" + "#" * 8)
        if carrier == "Royal Mail":
            return "".join(self._rng.choice(letters) for _ in range(2)) + self._digits("#" * 9 + "GB")
        return self._digits({"USPS": "9400" + "#" * 18, "FedEx": "#" * 12}.get(carrier, "#" * 10))

    # Updates: each replaces the payload and bumps updated_at.
    def _put(self, row: OrderRow, when: datetime, changes: dict[str, Any], **flags: bool) -> None:
        data = {**row.data, **changes, "updated_at": self._ts(when)}
        self._orders[row.id] = row._replace(data=data, updated=when, **flags)
        self.version += 1

    def _on_pay(self, row: OrderRow, when: datetime) -> None:
        self._put(row, when, {"financial_status": "paid"})  # only pending orders, never cancelled, get this

    def _on_clone(self, row: OrderRow, when: datetime) -> None:
        self._create(when, clone_of=row)

    def _on_cancel(self, row: OrderRow, when: datetime, reason: str) -> None:
        refunded = row.data["financial_status"] in ("paid", "partially_paid")
        changes = {"cancelled_at": self._ts(when), "cancel_reason": reason, "closed_at": self._ts(when),
                   "financial_status": "refunded" if refunded else "voided"}
        self._put(row, when, changes, cancelled=True, closed=True)

    def _on_fulfil(self, row: OrderRow, when: datetime, line_ids: tuple[int, ...], carrier: str,
                   tracking: str | None) -> None:
        if row.cancelled:
            return
        self._fulfillment_seq += 1
        fid = FULFILLMENT_ID_BASE + self._fulfillment_seq * 13
        lines, shipped = [], []
        for li in row.data["line_items"]:
            if li["id"] in line_ids and li["fulfillable_quantity"] > 0:
                shipped.append({**li, "quantity": li["fulfillable_quantity"], "fulfillable_quantity": 0})
                li = {**li, "fulfillable_quantity": 0, "fulfillment_status": "fulfilled"}
            lines.append(li)
        done = all(li["fulfillable_quantity"] == 0 for li in lines)
        ts = self._ts(when)
        fulfillment = {
            "id": fid, "admin_graphql_api_id": f"gid://shopify/Fulfillment/{fid}", "order_id": row.id,
            "name": f"{row.data['name']}.{len(row.data['fulfillments']) + 1}", "status": "success",
            "service": "manual", "location_id": 71_000_000_000 + 1, "shipment_status": None,
            "created_at": ts, "updated_at": ts, "tracking_company": carrier if tracking else None,
            "tracking_number": tracking, "tracking_numbers": [tracking] if tracking else [],
            "tracking_url": TRACKING_URLS[carrier].format(tracking) if tracking else None,
            "tracking_urls": [TRACKING_URLS[carrier].format(tracking)] if tracking else [],
            "line_items": shipped,
        }
        status = "fulfilled" if done else "partial"
        changes: dict[str, Any] = {"line_items": lines, "fulfillment_status": status,
                                   "fulfillments": [*row.data["fulfillments"], fulfillment]}
        if row.data["financial_status"] == "authorized":
            changes["financial_status"] = "paid"  # captured when it ships
        paid = changes.get("financial_status", row.data["financial_status"]) == "paid"
        if done and paid:  # Shopify's default: archive orders once fulfilled and paid
            changes["closed_at"] = ts
        self._put(row, when, changes, closed=done and paid)
        if done and tracking:
            self._plan_return(row.id, when, shipped)

    def _plan_return(self, oid: int, shipped_at: datetime, shipped: list[dict[str, Any]]) -> None:
        """Maybe the customer sends something back later; a per-order draw, so the shop's stream never shifts."""
        marks = random.Random(f"{self.seed}:{oid}:return")
        if marks.random() >= self.return_rate or not shipped:
            return
        item = marks.choice(shipped)
        quantity = marks.randint(1, item["quantity"])
        when = shipped_at + timedelta(hours=marks.uniform(2, 96))
        self._schedule(when, oid, "refund", item["id"], quantity, marks.choice(RETURN_NOTES))

    def _on_refund(self, row: OrderRow, when: datetime, line_id: int, quantity: int, note: str | None) -> None:
        """A refund with restock_type "return" (the goods come back), as Shopify's refunds[] shows it."""
        if row.cancelled:
            return
        self._refund_seq += 1
        rid, ts = REFUND_ID_BASE + self._refund_seq * 17, self._ts(when)
        item = next(li for li in row.data["line_items"] if li["id"] == line_id)
        amount = _money(Decimal(item["price"]) * quantity)
        refund = {
            "id": rid, "admin_graphql_api_id": f"gid://shopify/Refund/{rid}", "order_id": row.id,
            "created_at": ts, "processed_at": ts, "note": note, "restock": True, "user_id": None,
            "refund_line_items": [{
                "id": rid + 1, "line_item_id": line_id, "quantity": quantity, "restock_type": "return",
                "location_id": 71_000_000_000 + 1, "subtotal": amount, "total_tax": "0.00",
                "line_item": {k: item[k] for k in ("id", "sku", "title", "quantity", "price")}}],
            "transactions": [{"id": rid + 2, "kind": "refund", "status": "success", "amount": amount,
                              "currency": row.data["currency"], "gateway": "shopify_payments"}],
            "order_adjustments": [],
        }
        lines = [{**li, "current_quantity": li["current_quantity"] - quantity} if li["id"] == line_id else li
                 for li in row.data["line_items"]]
        changes: dict[str, Any] = {"refunds": [*row.data.get("refunds", []), refund], "line_items": lines}
        if row.data["financial_status"] == "paid":
            changes["financial_status"] = "partially_refunded"
        self._put(row, when, changes)
