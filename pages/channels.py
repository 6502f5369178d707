"""Channels (admin): every sales channel, adding one and changing one. Secrets are never typed here."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from connectors.parsers import PARSERS
from core.channels import add_channel, channel_table, check_token_env, get_channel, update_channel
from core.enums import AmazonOrdersApi, ChannelKind, Permission
from core.errors import DomainError
from ui import auth, flash, format
from ui.db import session_scope

SUPPORTED = tuple(PARSERS)  # the kinds with a connector today
LWA_LABEL = "Login with Amazon token URL (Amazon only; blank: https://api.amazon.com/auth/o2/token)"
API_LABEL = "Amazon Orders API (Amazon only)"
API_HELP = ("2026-01-01 reads each order with its items and parcels, 100 orders a call. v0 needs one more call per "
            "order and is what channels added before 2026-01-01 existed keep; Amazon removes it in March 2027.")
LWA_HELP = ("Where an Amazon channel with three token variables exchanges its refresh token for access tokens: "
            "https://api.amazon.co.uk/auth/o2/token in Europe, https://api.amazon.co.jp/auth/o2/token in the Far East.")



def channel_settings(kind: ChannelKind, lwa_url: str, orders_api: AmazonOrdersApi) -> dict[str, str] | None:
    """What the form's Amazon fields set; a token URL typed for another kind goes to core, which refuses it."""
    lwa = {"lwa_url": lwa_url.strip()} if lwa_url.strip() else {}
    return {"orders_api": orders_api.value, **lwa} if kind is ChannelKind.AMAZON else lwa or None


def changed_settings(lwa_url: str, orders_api: AmazonOrdersApi, was: AmazonOrdersApi) -> dict[str, str]:
    """The change form's Amazon settings; the API version only when moved, so saving a name keeps what runs."""
    return {"lwa_url": lwa_url.strip(), **({"orders_api": orders_api.value} if orders_api is not was else {})}


actor = auth.require(Permission.MANAGE_CHANNELS)

st.title("Channels")
st.caption("A channel's secret (API token) is never stored or typed here: give the NAME of the environment variable "
           "that holds it on the worker's machine. Pause, resume and poll now are on Connector health; deadlines on "
           "SLA policies.")
flash.show()

with session_scope() as db:
    channels = channel_table(db)
shown = channels.assign(last_run=[format.local_time(v, actor.timezone) if v is not None and not pd.isna(v) else ""
                                  for v in channels["last_run"]]).rename(columns={
    "code": "Code", "name": "Name", "kind": "Kind", "api": "API", "base_url": "Base URL", "token_env": "Token variable",
    "enabled": "Polling", "orders": "Orders", "cursor": "Cursor",
    "last_run": f"Last poll ({format.zone_label(actor.timezone)})"})
st.dataframe(shown, hide_index=True)
st.download_button("Download CSV", format.csv_bytes(shown), file_name="channels.csv", mime="text/csv")


add, change = st.tabs(["Add a channel", "Change a channel"])
with add, st.form("add_channel", clear_on_submit=True):
    code = st.text_input("Code (lower case, e.g. shop-eu)")
    name = st.text_input("Name")
    kind = st.selectbox("Kind", SUPPORTED, format_func=lambda k: k.label)
    base_url = st.text_input("Base URL (e.g. https://my-shop.myshopify.com)")
    token_env = st.text_input("Token variable (the NAME of an environment variable, e.g. SHOP_EU_TOKEN)",
                              help="WooCommerce needs two: KEY_VAR:SECRET_VAR (consumer key, consumer secret). "
                                   "Amazon takes an access token, or Login with Amazon's three: "
                                   "CLIENT_ID_VAR:CLIENT_SECRET_VAR:REFRESH_TOKEN_VAR (tokens renewed every hour).")
    lwa_url = st.text_input(LWA_LABEL, help=LWA_HELP)
    orders_api = st.selectbox(API_LABEL, list(AmazonOrdersApi), format_func=lambda v: v.label, help=API_HELP)
    interval = st.number_input("Poll every (seconds)", min_value=5, max_value=86_400, value=60)
    if st.form_submit_button("Add channel", type="primary"):
        try:
            check_token_env(kind, token_env.strip() or None)
            with session_scope() as db:
                add_channel(db, code.strip(), kind=kind, base_url=base_url.strip(), token_env=token_env.strip() or None,
                            name=name.strip() or None, poll_interval_s=int(interval), actor=actor,
                            settings=channel_settings(kind, lwa_url, orders_api))
        except DomainError as exc:
            st.error(format.md_escape(str(exc)))
        else:
            flash.rerun_with(f"Added {code.strip()}; the worker starts polling it within 15 seconds.")

with change:
    if channels.empty:
        st.caption("No channels yet.")
    else:
        picked = st.selectbox("Channel", list(channels["code"]))
        with session_scope() as db:
            channel = get_channel(db, picked)
            current = (channel.id, channel.name, channel.base_url, channel.credentials_env or "", channel.poll_interval_s)
            picked_kind = channel.kind
            amazon = picked_kind is ChannelKind.AMAZON
            old_lwa = str((channel.settings or {}).get("lwa_url") or "")
            old_api = AmazonOrdersApi((channel.settings or {}).get("orders_api") or AmazonOrdersApi.V0)
        with st.form(f"change_{picked}"):
            new_name = st.text_input("Name", value=current[1])
            new_url = st.text_input("Base URL", value=current[2])
            new_env = st.text_input("Token variable", value=current[3])
            new_lwa = st.text_input(LWA_LABEL, value=old_lwa, help=LWA_HELP) if amazon else ""
            new_api = st.selectbox(API_LABEL, list(AmazonOrdersApi), index=list(AmazonOrdersApi).index(old_api),
                                   format_func=lambda v: v.label, help=API_HELP) if amazon else old_api
            new_interval = st.number_input("Poll every (seconds)", min_value=5, max_value=86_400, value=current[4])
            if st.form_submit_button("Save changes"):
                try:
                    check_token_env(picked_kind, new_env.strip() or None)
                    with session_scope() as db:
                        changed = update_channel(db, current[0], actor=actor, name=new_name, base_url=new_url,
                                                 token_env=new_env, poll_interval_s=int(new_interval),
                                                 settings=changed_settings(new_lwa, new_api, old_api) if amazon else None)
                except DomainError as exc:
                    st.error(format.md_escape(str(exc)))
                else:
                    flash.rerun_with(f"{picked}: " + ("; ".join(changed) if changed else "nothing changed") + ".")
