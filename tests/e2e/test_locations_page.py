"""The admin's Locations page through AppTest: a new location appears, a bad one is refused naming the field."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.auth import Actor
from core.db import engine_for, new_session
from core.enums import Role
from core.models import Location
from tests.e2e.conftest import PASSWORDS, app_for, sign_in
from tests.e2e.test_app_pages import plain
from ui import nav

PAGE = "pages/locations.py"


def admin_page(monkeypatch, url: str):  # type: ignore[no-untyped-def]
    at = sign_in(app_for(monkeypatch, url), *PASSWORDS["admin"])
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def fill(at, **values: str) -> None:  # type: ignore[no-untyped-def]
    fields = {w.label: w for w in at.text_input}
    for label, value in values.items():
        fields[label].set_value(value)


def test_an_admin_adds_a_location_and_a_bad_zone_is_refused(monkeypatch, fresh_shop):
    at = admin_page(monkeypatch, fresh_shop.url)
    before = len(at.dataframe[0].value)
    fill(at, **{"Code": "TX-WH", "Name": "Dallas warehouse", "Country (ISO code)": "US", "Region (optional)": "TX",
                "Time zone": "America/Chicago", "Ships to (e.g. US, CA or US-CA)": "United States"})
    next(b for b in at.button if b.label == "Save location").click().run()
    assert "Ships to" in plain(at.error[0].value)
    fill(at, **{"Ships to (e.g. US, CA or US-CA)": "US"})
    next(b for b in at.button if b.label == "Save location").click().run()
    assert "Added TX-WH." in plain(at.success[0].value)
    assert len(at.dataframe[0].value) == before + 1
    with new_session(engine_for(fresh_shop.url)) as db:
        assert db.scalar(select(Location.zones).where(Location.code == "TX-WH")) == ["US"]


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN])
def test_only_an_admin_sees_the_page(role):
    assert "locations" not in [s.key for s in nav.screens_for(Actor("x", role=role))]
