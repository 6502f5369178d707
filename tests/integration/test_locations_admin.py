"""Location administration on the store (SQLite and PostgreSQL): checked input, events, and the planner follows."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.auth import Actor
from core.enums import LocationKind, Role
from core.errors import InvalidInput, NotAllowed
from core.locations import LocationForm, location_table, save_location
from core.models import Event, Location

ADMIN = Actor("ada", role=Role.ADMIN)


def form(**changes) -> LocationForm:  # type: ignore[no-untyped-def]
    base = dict(code="tx-wh", name="Dallas warehouse", kind=LocationKind.WAREHOUSE, country="us", region="tx",
                timezone="America/Chicago", zones="US, ca", priority=15, active=True)
    return LocationForm(**{**base, **changes})


def test_an_admin_adds_and_changes_a_location_and_each_is_an_event(db):
    assert save_location(db, form(), actor=ADMIN) == "Added TX-WH."
    loc = db.scalar(select(Location).where(Location.code == "TX-WH"))
    assert (loc.country, loc.region, loc.zones, loc.priority) == ("US", "TX", ["US", "CA"], 15)
    said = save_location(db, form(zones="US-TX", active=False), actor=ADMIN, location_id=loc.id)
    assert said == "TX-WH: zones, active changed."
    db.expire_all()
    assert db.get(Location, loc.id).zones == ["US-TX"] and not db.get(Location, loc.id).active
    detail = db.scalar(select(Event.detail).where(Event.kind == "location_changed"))
    assert detail["zones"] == {"before": ["US", "CA"], "after": ["US-TX"]}
    assert save_location(db, form(zones="US-TX", active=False), actor=ADMIN, location_id=loc.id).endswith(
        "nothing changed.")
    table = location_table(db).set_index("code")
    assert table.loc["TX-WH", ["zones", "active", "reserved_units"]].tolist() == ["US-TX", False, 0]


@pytest.mark.parametrize("changes, message", [
    ({"code": "no spaces"}, "Code"), ({"country": "USA"}, "Country"), ({"timezone": "Mars/Base"}, "Time zone"),
    ({"zones": "United States"}, "Ships to"), ({"zones": ""}, "Ships to"), ({"priority": -1}, "Priority"),
])
def test_bad_input_names_the_field_and_saves_nothing(db, changes, message):
    with pytest.raises(InvalidInput, match=message):
        save_location(db, form(**changes), actor=ADMIN)
    assert db.scalar(select(Location.id).where(Location.code == "TX-WH")) is None


def test_codes_are_unique_and_only_admins_edit(db):
    save_location(db, form(), actor=ADMIN)
    with pytest.raises(InvalidInput, match="already exists"):
        save_location(db, form(name="Another"), actor=ADMIN)
    with pytest.raises(NotAllowed):
        save_location(db, form(code="X1"), actor=Actor("olivia", role=Role.OPS_LEAD))
