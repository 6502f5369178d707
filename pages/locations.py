"""Locations (admin): every warehouse, store and 3PL with what it ships to; add one or change one."""

from __future__ import annotations

import streamlit as st

from core.enums import LocationKind, Permission
from core.errors import DomainError
from core.locations import LocationForm, location_table, save_location
from ui import auth, flash, format
from ui.db import session_scope

actor = auth.require(Permission.MANAGE_CHANNELS)

st.title("Locations")
st.caption("Where orders ship from. \"Ships to\" lists countries (US) or regions (US-CA); the allocation planner "
           "only chooses active locations whose zones cover the address, ranked by priority (lower first). "
           "Pausing a location keeps its stock and reservations; new plans stop choosing it.")
flash.show()

with session_scope() as db:
    locations = location_table(db)
shown = locations.drop(columns=["id"]).rename(columns={
    "code": "Code", "name": "Name", "kind": "Kind", "country": "Country", "region": "Region",
    "timezone": "Time zone", "zones": "Ships to", "priority": "Priority", "active": "Active",
    "reserved_units": "Reserved (units)"})
st.dataframe(shown, hide_index=True)
st.download_button("Download CSV", format.csv_bytes(shown), file_name="locations.csv", mime="text/csv")

labels = {None: "New location", **dict(zip(locations["id"], locations["code"], strict=True))}
picked = st.selectbox("Add or change", list(labels), format_func=labels.__getitem__)
current = locations.set_index("id").loc[picked] if picked is not None else None
kinds = list(LocationKind)


def value(column: str, default: object) -> object:
    return default if current is None else current[column]


with st.form(f"location_{picked}"):
    left, right = st.columns(2)
    code = left.text_input("Code", value=str(value("code", "")))
    name = right.text_input("Name", value=str(value("name", "")))
    kind = left.selectbox("Kind", kinds, format_func=lambda k: k.label,
                          index=[k.label for k in kinds].index(value("kind", kinds[0].label)))
    country = right.text_input("Country (ISO code)", value=str(value("country", "")))
    region = left.text_input("Region (optional)", value=str(value("region", "") or ""))
    zone = right.text_input("Time zone", value=str(value("timezone", "UTC")))
    zones = st.text_input("Ships to (e.g. US, CA or US-CA)", value=str(value("zones", "")))
    priority = left.number_input("Priority (lower is chosen first)", min_value=0, max_value=1000,
                                 value=int(value("priority", 100)))
    active = right.checkbox("Active (ships orders)", value=bool(value("active", True)))
    if st.form_submit_button("Save location", type="primary"):
        try:
            with session_scope() as db:
                said = save_location(db, LocationForm(code, name, kind, country, region, zone, zones, int(priority),
                                                      active), actor=actor, location_id=picked)
        except DomainError as exc:
            st.error(format.md_escape(str(exc)))
        else:
            flash.rerun_with(said)
