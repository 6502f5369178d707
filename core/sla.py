"""Ship-by deadlines from a channel's SLA policy. Pure functions: no store, no clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from core.enums import SlaState
from core.errors import InvalidInput


@dataclass(frozen=True)
class SlaPolicy:
    """Handling time in business days after the order's start day, shipped by the daily cut-off.

    An order placed after the cut-off, or on a day off, starts on the next business day.
    """

    handling_days: int = 1
    cutoff: time = time(14, 0)
    timezone: str = "UTC"
    business_days: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # Monday = 0
    holidays: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> SlaPolicy:
        """Read a policy as stored on a channel (missing keys take the defaults)."""
        raw = raw or {}
        base = cls()
        return cls(
            handling_days=int(raw.get("handling_days", base.handling_days)),
            cutoff=time.fromisoformat(raw["cutoff"]) if raw.get("cutoff") else base.cutoff,
            timezone=str(raw.get("timezone", base.timezone)),
            business_days=frozenset(raw.get("business_days", base.business_days)),
            holidays=frozenset(date.fromisoformat(d) for d in raw.get("holidays", ())),
        )

    def is_business_day(self, day: date) -> bool:
        return day.weekday() in self.business_days and day not in self.holidays

    def to_dict(self) -> dict[str, Any]:
        """The stored form (what ``from_dict`` reads)."""
        return {"handling_days": self.handling_days, "cutoff": self.cutoff.strftime("%H:%M"),
                "timezone": self.timezone, "business_days": sorted(self.business_days),
                "holidays": sorted(d.isoformat() for d in self.holidays)}

    def problems(self) -> list[str]:
        """What makes this policy unusable, in words (empty when it is fine)."""
        out = []
        if not 0 <= self.handling_days <= 30:
            out.append("handling time must be 0 to 30 business days")
        if not self.business_days:
            out.append("at least one business day is needed")
        if not self.business_days <= set(range(7)):
            out.append("business days are 0 (Monday) to 6 (Sunday)")
        try:
            ZoneInfo(self.timezone)
        except (ValueError, KeyError):
            out.append(f"unknown time zone {self.timezone!r}")
        return out


def sla_state(ship_by_at: datetime, now: datetime, at_risk_window: timedelta) -> SlaState:
    """Breached once the ship-by has passed; at risk inside the window before it; else on track."""
    if now >= ship_by_at:
        return SlaState.BREACHED
    if now >= ship_by_at - at_risk_window:
        return SlaState.AT_RISK
    return SlaState.ON_TRACK


def parse_holidays(text: str) -> frozenset[date]:
    """Dates typed one per line or comma-separated ("2026-12-25, 2026-12-26"); InvalidInput names a bad one."""
    days = set()
    for item in filter(None, (part.strip() for part in text.replace(",", "\n").splitlines())):
        try:
            days.add(date.fromisoformat(item))
        except ValueError:
            raise InvalidInput(f"Holiday {item!r} is not a date like 2026-12-25.") from None
    return frozenset(days)


def ship_by(placed_at: datetime, policy: SlaPolicy) -> datetime:
    """The moment (UTC) by which an order placed at ``placed_at`` must ship."""
    if placed_at.tzinfo is None:
        raise ValueError("placed_at must carry a time zone")
    if not policy.business_days:
        raise ValueError("an SLA policy needs at least one business day")
    local = placed_at.astimezone(ZoneInfo(policy.timezone))
    return _deadline(local.date(), local.time() >= policy.cutoff, policy)


@lru_cache(maxsize=4096)
def _deadline(day: date, after_cutoff: bool, policy: SlaPolicy) -> datetime:
    """The ship-by of an order placed on local ``day`` (after its cut-off or not).

    Cached: a page of orders comes from a few days, and ingest asks this once per order.
    """
    if not policy.is_business_day(day) or after_cutoff:
        day = _next_business_day(day, policy)
    for _ in range(policy.handling_days):
        day = _next_business_day(day, policy)
    # Built from the local wall clock so daylight-saving changes land on the right hour.
    zone = ZoneInfo(policy.timezone)
    return datetime.combine(day, policy.cutoff, tzinfo=zone).astimezone(UTC)


def _next_business_day(day: date, policy: SlaPolicy) -> date:
    day += timedelta(days=1)
    while not policy.is_business_day(day):
        day += timedelta(days=1)
    return day
