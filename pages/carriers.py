"""Carriers (admin): the tracking accounts the worker polls, adding one and changing one. No secret is typed here."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from connectors.carriers import CARRIERS
from core.carriers import add_carrier_account, carrier_table, get_carrier_account, update_carrier_account
from core.enums import Permission
from core.errors import DomainError
from ui import auth, flash, format
from ui.db import session_scope

actor = auth.require(Permission.MANAGE_CHANNELS)

st.title("Carriers")
st.caption("Each carrier account polls one tracking API for the parcels whose carrier it names (e.g. UPS, USPS); "
           "'*' takes every parcel no other account names. Its API key is never stored or typed here: give the NAME "
           "of the environment variable that holds it on the worker's machine.")
flash.show()

with session_scope() as db:
    accounts = carrier_table(db)
shown = accounts.assign(last_run=[format.local_time(v, actor.timezone) if v is not None and not pd.isna(v) else ""
                                  for v in accounts["last_run"]]).rename(columns={
    "code": "Code", "name": "Name", "kind": "API", "base_url": "Base URL", "token_env": "Key variable",
    "carriers": "Tracks", "poll_interval_s": "Every (s)", "enabled": "Polling",
    "last_run": f"Last poll ({format.zone_label(actor.timezone)})"})
st.dataframe(shown, hide_index=True)

add, change = st.tabs(["Add a carrier account", "Change a carrier account"])
with add, st.form("add_carrier", clear_on_submit=True):
    code = st.text_input("Code (lower case, e.g. easypost-us)")
    name = st.text_input("Name")
    kind = st.selectbox("API", tuple(CARRIERS), format_func=lambda k: k.label)
    base_url = st.text_input("Base URL (e.g. https://api.easypost.com)")
    token_env = st.text_input("Key variable (the NAME of an environment variable, e.g. EASYPOST_API_KEY)")
    carriers = st.text_input("Tracks parcels of (comma-separated carrier names, or * for all others)", value="*")
    interval = st.number_input("Poll every (seconds)", min_value=10, max_value=86_400, value=300)
    if st.form_submit_button("Add carrier account", type="primary"):
        try:
            with session_scope() as db:
                add_carrier_account(db, code.strip(), kind=kind, base_url=base_url, token_env=token_env,
                                    carriers=carriers, name=name, poll_interval_s=int(interval), actor=actor)
        except DomainError as exc:
            st.error(format.md_escape(str(exc)))
        else:
            flash.rerun_with(f"Added {code.strip()}; the worker starts tracking within 15 seconds.")

with change:
    if accounts.empty:
        st.caption("No carrier accounts yet.")
    else:
        picked = st.selectbox("Carrier account", list(accounts["code"]))
        with session_scope() as db:
            a = get_carrier_account(db, picked)
            current = (a.id, a.name, a.base_url, a.credentials_env or "", ", ".join(a.carriers or ["*"]),
                       a.poll_interval_s, a.enabled)
        with st.form(f"change_{picked}"):
            new_name = st.text_input("Name", value=current[1])
            new_url = st.text_input("Base URL", value=current[2])
            new_env = st.text_input("Key variable", value=current[3])
            new_carriers = st.text_input("Tracks parcels of", value=current[4])
            new_interval = st.number_input("Poll every (seconds)", min_value=10, max_value=86_400, value=current[5])
            new_enabled = st.checkbox("Polling", value=current[6])
            if st.form_submit_button("Save changes"):
                try:
                    with session_scope() as db:
                        changed = update_carrier_account(db, current[0], actor=actor, name=new_name,
                                                         base_url=new_url, token_env=new_env, carriers=new_carriers,
                                                         poll_interval_s=int(new_interval), enabled=new_enabled)
                except DomainError as exc:
                    st.error(format.md_escape(str(exc)))
                else:
                    flash.rerun_with(f"{picked}: " + ("; ".join(changed) if changed else "nothing changed") + ".")
