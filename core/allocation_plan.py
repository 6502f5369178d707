"""Allocation planning: which locations ship which part of an order (pure, no store).

DESIGN.md section 4, step 1. The store side (``core.allocation``) reads the candidates'
stock, calls ``plan_allocation`` and reserves what the plan says; this module only decides,
and says why in a JSON-ready explanation that is stored with the allocation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import combinations
from typing import Any

# Up to this many candidates the fewest-locations split is exact (every subset is tried,
# smallest first); above it a greedy cover is used (see ``_choose_split``).
EXACT_SPLIT_LIMIT = 10  # at most 1,023 subsets: a few ms, inside the write transaction

PROXIMITY = ("same region", "same country", "other country")
_MAX_LISTED = 50  # keeps the stored explanation small when there are many locations
Available = Callable[["Site", str], int]


@dataclass(frozen=True)
class Site:
    """A location as the planner sees it."""

    location_id: int
    code: str
    country: str
    region: str | None
    zones: tuple[str, ...]
    priority: int
    active: bool = True


@dataclass(frozen=True)
class LineDemand:
    """What is still to be allocated of one order line."""

    line_id: int
    sku: str
    quantity: int


@dataclass(frozen=True)
class Part:
    """Reserve ``quantity`` of ``sku`` for line ``line_id`` at one location."""

    line_id: int
    sku: str
    location_id: int
    location_code: str
    quantity: int


@dataclass(frozen=True)
class Shortfall:
    """What of a line no candidate can supply now: it is backordered."""

    line_id: int
    sku: str
    quantity: int


@dataclass(frozen=True)
class Plan:
    parts: tuple[Part, ...]
    backordered: tuple[Shortfall, ...]
    method: str  # "whole", "split", "none" (no stock anywhere) or "no_candidates"
    reason: str  # one sentence for people
    explanation: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def complete(self) -> bool:
        return not self.backordered and self.method != "no_candidates"

    @property
    def location_codes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.location_code for p in self.parts))

    @property
    def summary(self) -> dict[str, Any]:
        """What an allocation row keeps of its plan (the full explanation is on the order's event)."""
        return {"method": self.method, "why": self.reason, "winners": list(self.location_codes)}

    @property
    def allocated_units(self) -> int:
        return sum(p.quantity for p in self.parts)

    @property
    def short_by_sku(self) -> dict[str, int]:
        return _by_sku(self.backordered)


def _by_sku(shortfalls: Iterable[Shortfall]) -> dict[str, int]:
    short: dict[str, int] = {}
    for s in shortfalls:
        short[s.sku] = short.get(s.sku, 0) + s.quantity
    return dict(sorted(short.items()))


def ships_to(zones: Iterable[str], country: str | None, region: str | None) -> bool:
    """Whether zones like ``["US", "CA-QC"]`` cover a ship-to: "US" covers all of the US, "US-CA" only California."""
    if not country:
        return False
    country, region = country.upper(), (region or "").upper()
    for zone in zones:
        zone_country, _, zone_region = zone.strip().upper().partition("-")
        if zone_country == country and (not zone_region or zone_region == region):
            return True
    return False


@lru_cache(maxsize=512)
def _candidates(all_sites: tuple[Site, ...], country: str, region: str | None) -> tuple[list[Site], list[dict]]:
    """Active sites that ship there, and why each other one does not (the same for every order to that place).

    Cached: a batch plans many orders to the same few places over the same locations. Callers
    only read the lists.
    """
    sites = [s for s in all_sites if s.active and ships_to(s.zones, country, region)]
    chosen = set(sites)
    excluded = [{"code": s.code, "why": "inactive" if not s.active else "does not ship there"}
                for s in sorted(all_sites, key=lambda s: s.code) if s not in chosen]
    return sites, excluded


def _proximity(site: Site, country: str, region: str | None) -> int:
    if site.country.upper() != country:
        return 2
    return 0 if region and (site.region or "").upper() == region else 1


def plan_allocation(
    lines: Sequence[LineDemand],
    ship_to_country: str | None,
    ship_to_region: str | None,
    locations: Iterable[Site],
    stock: Mapping[tuple[int, str], int],
) -> Plan:
    """Plan an order: one location for the whole order where possible, else the fewest locations; the rest backordered.

    ``stock`` maps (location id, SKU) to the quantity available right now (on hand - reserved).
    Candidates are active locations whose zones cover the ship-to, ranked by proximity (same
    region, same country, other), then priority (lower first), then most available stock of
    the order's SKUs, then code - so the same inputs always give the same plan.
    """
    lines = [line for line in lines if line.quantity > 0]
    country = (ship_to_country or "").upper()
    region = (ship_to_region or "").upper() or None
    demand: dict[str, int] = {}
    for line in lines:
        demand[line.sku] = demand.get(line.sku, 0) + line.quantity
    sites, excluded = _candidates(tuple(locations), country, region)
    base: dict[str, Any] = {
        "ship_to": {"country": country or None, "region": region},
        "demand": dict(sorted(demand.items())),
        "excluded": excluded[:_MAX_LISTED],
    }
    if not demand:
        why = "nothing left to allocate"
        return Plan((), (), "whole", why, {**base, "candidates": [], "winners": [], "method": "whole", "why": why})
    if not sites:
        reason = f"no location ships to {country or 'an unknown country'}"
        shortfalls = tuple(Shortfall(ln.line_id, ln.sku, ln.quantity) for ln in lines)
        return Plan((), shortfalls, "no_candidates", reason,
                    {**base, "candidates": [], "winners": [], "method": "no_candidates", "why": reason,
                     "backordered": dict(sorted(demand.items()))})

    def available(site: Site, sku: str) -> int:
        return max(0, stock.get((site.location_id, sku), 0))

    def rank_key(site: Site) -> tuple[int, int, int, str]:
        total = sum(available(site, sku) for sku in demand)
        return (_proximity(site, country, region), site.priority, -total, site.code)

    ranked = sorted(sites, key=rank_key)
    fills = {s.code: all(available(s, sku) >= q for sku, q in demand.items()) for s in ranked}
    candidates = [
        {"rank": i + 1, "code": s.code, "location_id": s.location_id,
         "proximity": PROXIMITY[rank_key(s)[0]], "priority": s.priority,
         "total_available": -rank_key(s)[2], "available": {sku: available(s, sku) for sku in sorted(demand)},
         "fills_whole_order": fills[s.code]}
        for i, s in enumerate(ranked)
    ]
    whole = next((s for s in ranked if fills[s.code]), None)
    if whole is not None:
        chosen, method = [whole], "whole"
    else:
        chosen, method = _choose_split(ranked, demand, available), "split"
    parts, shortfalls = _assign(lines, chosen, available)
    if not parts:
        method = "none"
    why = _why(method, ranked, chosen, candidates, parts, shortfalls, country, region)
    explanation = {
        **base, "candidates": candidates, "winners": [s.code for s in chosen if any(
            p.location_id == s.location_id for p in parts)],
        "method": method, "why": why,
        "split_search": ("exact" if len(ranked) <= EXACT_SPLIT_LIMIT else "greedy") if method == "split" else None,
        "backordered": _by_sku(shortfalls),
    }
    return Plan(tuple(parts), tuple(shortfalls), method, why, explanation)


def _choose_split(ranked: list[Site], demand: dict[str, int], available: Available) -> list[Site]:
    """The fewest locations that together supply as much of the order as all candidates could.

    Exact for up to EXACT_SPLIT_LIMIT candidates: subsets are tried smallest first and, within
    a size, in rank order, so ties go to the better-ranked locations. Above the limit, greedy
    set cover (repeatedly take the location that supplies most of what is still missing) -
    at most a logarithmic factor more locations, and in practice the same answer.
    """
    best = {sku: min(q, sum(available(s, sku) for s in ranked)) for sku, q in demand.items()}
    if not any(best.values()):
        return []

    def supplies(group: Sequence[Site]) -> dict[str, int]:
        return {sku: min(q, sum(available(s, sku) for s in group)) for sku, q in demand.items()}

    if len(ranked) <= EXACT_SPLIT_LIMIT:
        for size in range(1, len(ranked) + 1):
            for group in combinations(ranked, size):
                if supplies(group) == best:
                    return list(group)
    chosen: list[Site] = []
    missing = dict(best)
    while any(missing.values()):
        def gain(site: Site) -> int:
            return sum(min(missing[sku], available(site, sku)) for sku in missing)
        site = max((s for s in ranked if s not in chosen), key=gain)  # max keeps the first (best-ranked) tie
        if gain(site) == 0:
            break
        chosen.append(site)
        for sku in missing:
            missing[sku] -= min(missing[sku], available(site, sku))
    return sorted(chosen, key=ranked.index)


def _assign(lines: Sequence[LineDemand], chosen: list[Site], available: Available) -> tuple[list[Part], list[Shortfall]]:
    """Fill each line from the chosen locations in rank order; what is left is short."""
    left = {(s.location_id, ln.sku): available(s, ln.sku) for s in chosen for ln in lines}
    parts: list[Part] = []
    shortfalls: list[Shortfall] = []
    for line in lines:
        need = line.quantity
        for site in chosen:
            take = min(need, left[(site.location_id, line.sku)])
            if take > 0:
                parts.append(Part(line.line_id, line.sku, site.location_id, site.code, take))
                left[(site.location_id, line.sku)] -= take
                need -= take
            if need == 0:
                break
        if need:
            shortfalls.append(Shortfall(line.line_id, line.sku, need))
    return parts, shortfalls


def _why(method: str, ranked: list[Site], chosen: list[Site], candidates: list[dict[str, Any]], parts: list[Part],
         shortfalls: list[Shortfall], country: str, region: str | None) -> str:
    """One sentence a person reads on the order page."""
    where = f"{country}-{region}" if region else country
    if method == "none":
        return f"No stock for this order at any of the {len(ranked)} locations that ship to {where}; all of it is backordered."
    info = {c["code"]: c for c in candidates}
    if method == "whole":
        site = chosen[0]
        c = info[site.code]
        passed = [s.code for s in ranked[: ranked.index(site)]]
        tail = f"; {', '.join(passed)} ranked higher but cannot fill it" if passed else ""
        return f"{site.code} fills the whole order: {c['proximity']}, priority {c['priority']}{tail}."
    used = [s.code for s in chosen if any(p.location_id == s.location_id for p in parts)]
    short = sum(s.quantity for s in shortfalls)
    total = short + sum(p.quantity for p in parts)
    names = " and ".join(used) if len(used) <= 2 else ", ".join(used[:-1]) + " and " + used[-1]
    if not short:
        return f"No single location has everything; {names} together fill the whole order ({len(used)} locations, the fewest possible)."
    return (f"No location has everything; {names} supply {total - short} of {total} units "
            f"(the fewest locations that can) and {short} are backordered.")
