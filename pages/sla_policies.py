"""SLA policies (admin): each channel's handling time, cut-off, business days and holidays; the at-risk window."""

from __future__ import annotations

import streamlit as st

from core.channels import all_channels, get_channel_by_id
from core.enums import Permission
from core.errors import DomainError, StaleEdit
from core.settings import save_sla_window, sla_window
from core.sla import SlaPolicy, parse_holidays
from core.sla_policy import set_sla_policy
from ui import auth, flash, format
from ui.db import session_scope

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

actor = auth.require(Permission.MANAGE_CHANNELS)

st.title("SLA policies")
st.caption("Orders without a deadline from their channel must ship within the handling time, counted in business "
           "days from the day they arrive (after the cut-off, or on a day off, they count from the next business "
           "day), by the cut-off. A change moves the ship-by of every open order of that channel that took its "
           "deadline from the policy, and each such order's history says so.")
flash.show()

with session_scope() as db:
    channels = all_channels(db)
if not channels:
    st.info("No channels yet.")
    st.stop()
names = dict(channels)
channel_id = st.selectbox("Channel", list(names), format_func=names.__getitem__)
with session_scope() as db:
    stored = dict(get_channel_by_id(db, channel_id).sla_policy or {})
policy = SlaPolicy.from_dict(stored)

with st.form(f"sla_{channel_id}"):
    left, right = st.columns(2)
    handling = left.number_input("Handling time (business days)", min_value=0, max_value=30, value=policy.handling_days)
    cutoff = right.time_input("Daily cut-off", value=policy.cutoff, step=900)
    zone = left.selectbox("Cut-off time zone", *format.zone_choices(policy.timezone))
    days = right.multiselect("Business days", DAYS, default=[DAYS[d] for d in sorted(policy.business_days)])
    holidays = st.text_area("Holidays (YYYY-MM-DD, one per line or comma-separated)",
                            value="\n".join(d.isoformat() for d in sorted(policy.holidays)))
    save = st.form_submit_button("Save policy and move open deadlines", type="primary")

if save:
    bar = st.progress(0.0, text="Saving...")
    try:
        wanted = SlaPolicy(handling_days=int(handling), cutoff=cutoff, timezone=zone,
                           business_days=frozenset(DAYS.index(d) for d in days), holidays=parse_holidays(holidays))
        with session_scope() as db:
            change = set_sla_policy(db, channel_id, wanted, actor=actor, expected=stored,
                                    progress=lambda n, total: bar.progress(
                                        n / max(total, 1), text=f"Moved deadlines of {n:,} of {total:,} open orders"))
    except StaleEdit as exc:  # nothing of the other person's change was overwritten
        st.error(format.md_escape(str(exc)))
    except DomainError as exc:
        st.error(format.md_escape(str(exc)))
    else:
        flash.rerun_with(f"Saved the policy of {change.channel}: {change.deadlines_moved:,} of "
                         f"{change.orders_checked:,} open orders got a new ship-by.")

st.subheader("At-risk window")
with session_scope() as db:
    hours = sla_window(db).total_seconds() / 3600
with st.form("sla_window"):
    wanted_hours = st.number_input("An unshipped order is at risk this many hours before its ship-by",
                                   min_value=0.25, max_value=72.0, value=float(hours), step=0.25)
    if st.form_submit_button("Save window"):
        try:
            with session_scope() as db:
                save_sla_window(db, float(wanted_hours), actor=actor)
        except DomainError as exc:
            st.error(format.md_escape(str(exc)))
        else:
            flash.rerun_with(f"At-risk window set to {wanted_hours:g} h; the next sweep (within a minute) applies it.")
