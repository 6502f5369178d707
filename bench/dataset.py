"""What the generated shop looks like: channels, customers, catalogue, carriers.

Customers are never stored in memory: every attribute of customer ``k`` is derived from a
hash of ``k``, so a million orders of a few hundred thousand customers cost no RAM and the
same customer always has the same name, e-mail, phone and address.
"""

from __future__ import annotations

import json
import random
from bisect import bisect
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, NamedTuple

from core import search
from core.enums import ChannelKind

_MASK = (1 << 64) - 1


def mix(x: int) -> int:
    """SplitMix64 finaliser: a cheap, well-spread 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


@dataclass(frozen=True)
class ChannelSpec:
    code: str
    name: str
    kind: ChannelKind
    weight: float  # share of all orders
    countries: tuple[tuple[str, float], ...]
    sla_policy: dict[str, Any]
    own_deadline: bool = False  # the channel sends its own ship-by (Amazon LatestShipDate)


CHANNELS: tuple[ChannelSpec, ...] = (
    ChannelSpec("shop-us", "Shopify store", ChannelKind.SHOPIFY, 0.55,
                (("US", 0.70), ("CA", 0.12), ("GB", 0.08), ("AU", 0.10)),
                {"handling_days": 1, "cutoff": "14:00", "timezone": "America/New_York"}),
    ChannelSpec("woo-eu", "WooCommerce EU store", ChannelKind.WOOCOMMERCE, 0.20,
                (("DE", 0.30), ("FR", 0.20), ("NL", 0.20), ("GB", 0.20), ("BE", 0.10)),
                {"handling_days": 2, "cutoff": "12:00", "timezone": "Europe/Amsterdam"}),
    ChannelSpec("amazon-us", "Amazon US", ChannelKind.AMAZON, 0.25, (("US", 0.88), ("CA", 0.12)),
                {"handling_days": 1, "cutoff": "12:00", "timezone": "America/Los_Angeles"}, own_deadline=True),
)

# country -> (currency, phone prefix, [(city, region, postal prefix)])
COUNTRIES: dict[str, tuple[str, str, tuple[tuple[str, str | None, str], ...]]] = {
    "US": ("USD", "+1", (("San Francisco", "CA", "941"), ("Brooklyn", "NY", "112"), ("Austin", "TX", "787"),
                         ("Seattle", "WA", "981"), ("Chicago", "IL", "606"), ("Denver", "CO", "802"),
                         ("Miami", "FL", "331"), ("Boston", "MA", "021"), ("Portland", "OR", "972"))),
    "CA": ("CAD", "+1", (("Toronto", "ON", "M5V"), ("Vancouver", "BC", "V6B"), ("Montréal", "QC", "H2X"))),
    "GB": ("GBP", "+44", (("London", None, "SW1"), ("Manchester", None, "M1"), ("Leeds", None, "LS1"))),
    "AU": ("AUD", "+61", (("Sydney", "NSW", "20"), ("Melbourne", "VIC", "30"), ("Brisbane", "QLD", "40"))),
    "DE": ("EUR", "+49", (("Berlin", None, "10"), ("München", None, "80"), ("Hamburg", None, "20"))),
    "FR": ("EUR", "+33", (("Paris", None, "75"), ("Lyon", None, "69"), ("Nantes", None, "44"))),
    "NL": ("EUR", "+31", (("Amsterdam", None, "10"), ("Utrecht", None, "35"), ("Rotterdam", None, "30"))),
    "BE": ("EUR", "+32", (("Brussels", None, "10"), ("Antwerpen", None, "20"), ("Gent", None, "90"))),
}

FIRST = (
    "Ada Grace Linus Mary Omar Priya Yuki Lars Chloe Mateo Noah Emma Liam Olivia Lucas Mia Ethan Sofia "
    "Aiden Zoe Hannah Leon Amara Kenji Fatima Diego Ingrid Tomasz Aoife Rahul Mei Santiago Nadia Felix "
    "Elena Jonas Aisha Hugo Clara Kofi Lena Marco Sara Ravi Julia Oscar Layla Pablo Freya Ivan Nora "
    "Chen Maya Samuel Alice Ahmed Laura Mateus Isla Arjun Camille Björn Zoé José Siobhán Renée Jürgen"
).split()
_LAST_COMMON = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Martinez Lopez Wilson Anderson Taylor Thomas "
    "Moore Jackson Martin Lee Thompson White Harris Clark Lewis Robinson Walker Young Allen King Wright "
    "Müller Schmidt Schneider Fischer Weber Dubois Martin Bernard Petit Jansen Bakker Visser Peeters "
    "Lovelace Hopper Nakamura Okafor Dubois Rossi Silva Kowalski Byrne O'Brien Nguyen Patel Kim Chen "
    "Singh Tanaka Murphy Kelly Novak Horvat Costa Ferreira Andersson Nielsen Hansen Larsen Ivanova"
).split()
_SYLLABLES = "ka ro mi an el be tor vin dal sen lin mar ost ber gan hol wen fi ru ta che ley son ham".split()

STREETS = ("Market St", "High St", "Main St", "Oak Ave", "Kingsway", "Hauptstraße", "Rue de la Paix",
           "Keizersgracht", "Station Rd", "Elm St", "Park Lane", "Queen St", "Church Rd", "Mill Lane")
DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "gmx.de", "orange.fr",
           "hotmail.co.uk", "example.org")

PRODUCTS = (  # (code, title, base price)
    ("TEE", "Organic tee", 24.0), ("HOOD", "Heavy hoodie", 64.0), ("CAP", "Dad cap", 28.0),
    ("MUG", "Enamel mug", 18.0), ("SOCK", "Merino socks", 16.0), ("JKT", "Rain jacket", 149.0),
    ("BAG", "Canvas tote", 32.0), ("BTL", "Steel bottle", 35.0), ("SHRT", "Oxford shirt", 79.0),
    ("BEAN", "Wool beanie", 29.0), ("PANT", "Chino pant", 89.0), ("SNK", "Court sneaker", 119.0),
    ("BELT", "Leather belt", 54.0), ("SCRF", "Lambswool scarf", 59.0), ("WALL", "Card wallet", 45.0),
    ("NB", "Dot-grid notebook", 14.0), ("PEN", "Brass pen", 39.0), ("CANDLE", "Soy candle", 26.0),
)
COLORS = ("BLK", "WHT", "NVY", "OLV", "RED", "GRY", "SND", "BLU", "GRN", "PNK", "YLW", "BRN")
SIZES = ("XS", "S", "M", "L", "XL", "XXL", "OS")

# country -> [(carrier, service, weight)]
CARRIERS: dict[str, tuple[tuple[str, str, float], ...]] = {
    "US": (("UPS", "Ground", 0.45), ("USPS", "Priority Mail", 0.35), ("FedEx", "Home Delivery", 0.20)),
    "CA": (("Canada Post", "Expedited", 0.7), ("UPS", "Standard", 0.3)),
    "GB": (("Royal Mail", "Tracked 48", 0.6), ("DHL", "Parcel UK", 0.4)),
    "AU": (("Australia Post", "Parcel Post", 0.8), ("DHL", "Express", 0.2)),
}
_EU_CARRIERS = (("DHL", "Paket", 0.5), ("DPD", "Classic", 0.3), ("PostNL", "Pakket", 0.2))


def _zipf_table(n: int, s: float, size: int, rng: random.Random) -> list[int]:
    """A lookup table: uniform index in ``range(size)`` -> Zipf-distributed rank in ``range(n)``."""
    weights = [1.0 / (rank + 1) ** s for rank in range(n)]
    order = list(range(n))
    rng.shuffle(order)  # which name is common is random, the shape is Zipf
    cum = list(accumulate(weights))
    total = cum[-1]
    return [order[min(bisect(cum, (i + 0.5) / size * total), n - 1)] for i in range(size)]


class Customer(NamedTuple):
    name: str
    email: str | None
    phone: str | None
    country: str
    ship_to_json: str
    region: str | None
    search_name: str | None
    search_last: str | None
    search_email: str | None
    search_phone: str | None


class Sku(NamedTuple):
    sku: str
    title: str
    price: float


class Shop:
    """Deterministic pools for one seed: names, catalogue, and the hash-derived customers."""

    def __init__(self, seed: int = 1) -> None:
        rng = random.Random(seed)
        last = list(dict.fromkeys(_LAST_COMMON))
        known = set(last)
        while len(last) < 12_000:  # a long tail of rarer surnames
            word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()
            if word not in known:
                known.add(word)
                last.append(word)
        self.last_names = last
        # Zipf 0.7 over 12,000 names: the commonest surname ~2% of customers, as 'Smith' is in the US
        self._last_table = _zipf_table(len(last), 0.7, 1 << 18, rng)
        self.skus = [
            Sku(f"{code}-{color}-{size}", f"{title} {color.lower()} {size}", round(price * rng.uniform(0.85, 1.2), 2))
            for code, title, price in PRODUCTS for color in COLORS for size in SIZES
        ]
        self._sku_table = _zipf_table(len(self.skus), 1.05, 1 << 16, rng)
        self.seed = seed

    def sku(self, u: int) -> Sku:
        """A popular-skewed SKU for a 16-bit random number."""
        return self.skus[self._sku_table[u & 0xFFFF]]

    def customer(self, k: int, channel: ChannelSpec) -> Customer:
        """Customer ``k`` of ``channel``: the same inputs give the same person."""
        h = mix(k ^ (self.seed << 40))
        h2 = mix(h)  # the name's own bits, independent of country, phone and address
        first = FIRST[h2 % len(FIRST)]
        last = self.last_names[self._last_table[(h2 >> 16) & 0x3FFFF]]
        name = f"{first} {last}"
        country = _pick_country(channel.countries, (h >> 24) & 0xFFFF)
        _currency, prefix, cities = COUNTRIES[country]
        city, region, postal = cities[(h >> 40) % len(cities)]
        local = f"{first}.{last}".lower().replace("'", "")
        if channel.kind is ChannelKind.AMAZON:  # Amazon hands out masked relay addresses
            email: str | None = f"{h & 0xFFFFFFFFFF:010x}{k % 97}@marketplace.amazon.com"
        else:
            style = (h >> 48) % 4
            email = (f"{local}{k}@" if style == 0 else f"{first[0].lower()}{last.lower()}.{k}@" if style == 1
                     else f"{local}.{k % 1000}.{k // 1000}@" if style == 2 else f"{first.lower()}_{k}@")
            email += DOMAINS[(h >> 52) % len(DOMAINS)]
        digits = f"{(h >> 20) % 10_000_000:07d}"
        phone = None if (h >> 56) % 10 < (6 if channel.kind is ChannelKind.AMAZON else 1) else (
            f"{prefix} ({200 + (h >> 12) % 800}) {digits[:3]}-{digits[3:]}" if prefix == "+1"
            else f"{prefix} {(h >> 12) % 90 + 10} {digits[:3]} {digits[3:]}"
        )
        postal_code = f"{postal}{(h >> 28) % 100:02d}" if country != "GB" else f"{postal} {(h >> 28) % 9 + 1}AB"
        address = {"name": name, "company": None, "address1": f"{(h >> 34) % 2000 + 1} {STREETS[(h >> 44) % 14]}",
                   "address2": None, "city": city, "region": region, "postal_code": postal_code,
                   "country_code": country, "phone": phone}
        return Customer(
            name=name, email=email, phone=phone, country=country, ship_to_json=json.dumps(address), region=region,
            search_name=search.norm_text(name), search_last=search.last_name(name),
            search_email=search.norm_text(email), search_phone=search.phone_key(phone),
        )


def _pick_country(countries: tuple[tuple[str, float], ...], u16: int) -> str:
    x = u16 / 65536.0
    for code, weight in countries:
        if x < weight:
            return code
        x -= weight
    return countries[-1][0]


def carrier_for(country: str, u: float) -> tuple[str, str]:
    """(carrier, service) for a parcel to ``country``."""
    options = CARRIERS.get(country, _EU_CARRIERS)
    for carrier, service, weight in options:
        if u < weight:
            return carrier, service
        u -= weight
    return options[-1][0], options[-1][1]


def tracking_number(carrier: str, shipment_id: int) -> str:
    """A carrier-shaped tracking number, unique per shipment id (a bijection of the id)."""
    if carrier == "UPS":
        return f"1Z{(shipment_id * 48271) % 0xFFFFFF:06X}03{(shipment_id * 7_654_321) % 10**8:08d}"
    if carrier == "USPS":
        return f"9400{(shipment_id * 7_654_321 + 99) % 10**18:018d}"
    if carrier in ("Royal Mail", "Australia Post"):
        tag = "GB" if carrier == "Royal Mail" else "AU"
        return f"R{chr(65 + shipment_id % 26)}{(shipment_id * 7_654_321) % 10**9:09d}{tag}"
    if carrier in ("DHL", "DPD", "PostNL"):
        head = {"DHL": "00340", "DPD": "0150", "PostNL": "3S"}[carrier]
        return f"{head}{(shipment_id * 7_654_321 + 17) % 10**12:012d}"
    if carrier == "FedEx":
        return f"{(shipment_id * 7_654_321 + 3) % 10**12:012d}"
    return f"7{(shipment_id * 7_654_321 + 3) % 10**15:015d}"  # Canada Post and the rest
