"""Locations (admin): add a warehouse, store or 3PL, and change what it ships to, its priority or whether it ships.

A location's zones are what the allocation planner matches ship-to addresses against: "US"
covers all of the US, "US-CA" only California. Pausing a location keeps its stock and open
reservations; new plans stop choosing it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.auth import Actor
from core.db import writing
from core.enums import AllocationStatus, LocationKind, Permission
from core.errors import InvalidInput, NotFound
from core.events import plain_value, record_event
from core.models import Allocation, Location

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,39}$")
_ZONE = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")


@dataclass(frozen=True)
class LocationForm:
    """A location as typed on the admin form."""

    code: str
    name: str
    kind: LocationKind
    country: str
    region: str
    timezone: str
    zones: str  # "US, CA" or one per line
    priority: int
    active: bool = True

    def checked(self) -> dict[str, object]:
        """The column values, or InvalidInput naming the field that is wrong."""
        code = self.code.strip().upper()
        if not _CODE.match(code):
            raise InvalidInput("Code: 1-40 capital letters, digits, '-' or '_' (e.g. NJ-WH).")
        country = self.country.strip().upper()
        if not re.fullmatch(r"[A-Z]{2}", country):
            raise InvalidInput("Country: the two-letter ISO code (e.g. US).")
        try:
            ZoneInfo(self.timezone)
        except (ValueError, KeyError):
            raise InvalidInput(f"Time zone: unknown {self.timezone!r}.") from None
        zones = [z.strip().upper() for z in self.zones.replace(",", "\n").splitlines() if z.strip()]
        bad = [z for z in zones if not _ZONE.match(z)]
        if bad or not zones:
            raise InvalidInput("Ships to: one or more of US (a country) or US-CA (a region), "
                               f"comma-separated{'; not ' + ', '.join(bad) if bad else ''}.")
        if not 0 <= self.priority <= 1000:
            raise InvalidInput("Priority: 0 (first choice) to 1000.")
        return {"code": code, "name": self.name.strip() or code, "kind": self.kind, "country": country,
                "region": self.region.strip().upper() or None, "timezone": self.timezone,
                "zones": list(dict.fromkeys(zones)), "priority": int(self.priority), "active": self.active}


def location_table(session: Session) -> pd.DataFrame:
    """Every location with its open reservations (units), for the admin page."""
    reserved = (select(Allocation.location_id, func.sum(Allocation.quantity).label("units"))
                .where(Allocation.status == AllocationStatus.RESERVED).group_by(Allocation.location_id).subquery())
    rows = session.execute(
        select(Location.id, Location.code, Location.name, Location.kind, Location.country, Location.region,
               Location.timezone, Location.zones, Location.priority, Location.active, reserved.c.units)
        .outerjoin(reserved, reserved.c.location_id == Location.id).order_by(Location.code)
    ).all()
    return pd.DataFrame(
        [(i, c, n, k.label, co, r, tz, ", ".join(z or []), p, a, int(u or 0)) for i, c, n, k, co, r, tz, z, p, a, u in rows],
        columns=["id", "code", "name", "kind", "country", "region", "timezone", "zones", "priority", "active",
                 "reserved_units"])


def save_location(session: Session, form: LocationForm, *, actor: Actor, location_id: int | None = None) -> str:
    """Add a location (no id) or change one; returns what happened, in words. Every change is an event."""
    actor.require(Permission.MANAGE_CHANNELS)
    values = form.checked()
    with writing(session):
        clash = session.scalar(select(Location.id).where(Location.code == values["code"]))
        if clash is not None and clash != location_id:
            raise InvalidInput(f"Location {values['code']} already exists.")
        if location_id is None:
            session.add(Location(**values))
            record_event(session, None, "location_added", actor, subject="location",
                         detail={k: plain_value(v) for k, v in values.items()})
            return f"Added {values['code']}."
        location = session.get(Location, location_id, populate_existing=True, with_for_update=True)
        if location is None:
            raise NotFound(f"No location with id {location_id}.")
        changes = {k: {"before": plain_value(getattr(location, k)), "after": plain_value(v)}
                   for k, v in values.items() if getattr(location, k) != v}
        for key in changes:
            setattr(location, key, values[key])
        if changes:
            record_event(session, None, "location_changed", actor, subject="location",
                         detail={"code": values["code"], **changes})
    return f"{values['code']}: " + (", ".join(changes) + " changed." if changes else "nothing changed.")
