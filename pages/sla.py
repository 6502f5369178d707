"""SLA: which open orders breach next and why, and how old the backlog is. Counts come from SQL, never rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import plotly.express as px
import streamlit as st

from core.channels import all_channels
from core.enums import Permission, SlaState
from core.settings import sla_window
from core.sla_history import (
    DIMENSIONS,
    HistoryFilter,
    all_durations,
    filter_choices,
    on_time_by_day,
    rolled_up_at,
)
from core.sla_report import SlaFilter, backlog_by_age, due_next, sla_counts
from ui import auth, format, nav
from ui.db import session_scope

NEXT = 5  # orders listed as links above the full table

actor = auth.require(Permission.VIEW_KPIS)
tz = actor.timezone

st.title("SLA")
with session_scope() as db:
    channels = dict(all_channels(db))
    window = sla_window(db)
picked = st.multiselect("Channels", list(channels), format_func=channels.__getitem__, placeholder="All channels")
flt = SlaFilter(channel_ids=tuple(picked))
now = datetime.now(UTC)
hours = window.total_seconds() / 3600
st.caption(f"Open orders against their ship-by, as of {format.local_time(now, tz, with_zone=True)}. "
           f"At risk: less than {hours:g} h left (the admin's window); breached: past the ship-by and not shipped.")

with session_scope() as db:
    counts = sla_counts(db, flt, now=now, window=window)
    due = due_next(db, flt, now=now, window=window)
    backlog = backlog_by_age(db, flt, now=now)

breached, at_risk, on_track = (counts[s] for s in (SlaState.BREACHED, SlaState.AT_RISK, SlaState.ON_TRACK))
a, b, c = st.columns(3)
a.metric("Breached (orders)", f"{breached:,}")
b.metric(f"At risk, under {hours:g} h left (orders)", f"{at_risk:,}")
c.metric("On track (orders)", f"{on_track:,}")

st.subheader("Breaching next")
if due.empty:
    st.caption("No open order is at risk or past its ship-by.")
else:
    for row in due.head(NEXT).itertuples():  # the very next ones, one click from their order page
        left = format.time_left(row.ship_by, now)
        left = left if left.startswith("overdue") else f"{left} left"
        st.page_link(nav.LOOKUP_PATH, query_params={"order": str(row.id)}, icon=":material/open_in_new:",
                     label=format.md_escape(f"{row.number} ({row.channel}) - {row.state.lower()}, {left} - {row.why}"))
    shown = format.due_table(due, tz, now)
    st.dataframe(shown, hide_index=True, column_config=format.DUE_COLUMNS)
    more = breached + at_risk - len(due)
    st.caption("Most overdue first" + (f"; the first {len(due):,} of {breached + at_risk:,}" if more > 0 else "")
                + ". A click on an order number opens it.")
    st.download_button("Download CSV", format.csv_bytes(shown), file_name="sla-breaching-next.csv", mime="text/csv",
                       key="due_csv")

st.subheader("Backlog by age")
chart = backlog.rename(columns={"age": "Age since placed", "open_orders": "Open orders",
                                "past_ship_by": "Of which past their ship-by"})
figure = px.bar(chart, x="Age since placed", y=["Open orders", "Of which past their ship-by"], barmode="group",
                labels={"value": "Orders", "variable": ""})
figure.update_yaxes(tickformat=",d", rangemode="tozero")  # whole orders, never 0.4 of one
st.plotly_chart(figure, theme="streamlit", width="stretch")
st.download_button("Download CSV", format.csv_bytes(chart), file_name="sla-backlog-by-age.csv", mime="text/csv",
                   key="backlog_csv")

st.header("History")
with session_scope() as db:
    locations, carriers = filter_choices(db)
today = now.astimezone(format.zone(tz)).date()
left, middle, right = st.columns([2, 1, 1])
span = left.date_input("Shipped between", value=(today - timedelta(days=29), today), max_value=today,
                       format="YYYY-MM-DD")
location_names = dict(locations)
picked_locations = middle.multiselect("Locations", list(location_names), format_func=location_names.__getitem__,
                                      placeholder="All locations")
picked_carriers = right.multiselect("Carriers", carriers, placeholder="All carriers")
if not isinstance(span, tuple | list) or len(span) != 2:
    st.info("Pick the last day of the range too.")
    st.stop()
history = HistoryFilter(start=span[0], end=span[1], tz=tz, channel_ids=tuple(picked),
                        location_ids=tuple(picked_locations), carriers=tuple(picked_carriers))
with session_scope() as db:
    days = on_time_by_day(db, history)
    shipped_total, on_time_count = int(days["shipped"].sum()), int(days["on_time"].sum())  # one query, not two
    times = all_durations(db, history)
    rolled = rolled_up_at(db)

rate = f"{100 * on_time_count / shipped_total:.1f} %" if shipped_total else "-"
st.caption("Past days come from the worker's rollups, refreshed every 5 minutes"
           + (f" (last at {format.local_time(rolled, tz, with_zone=True)})" if rolled else " (not built yet)")
           + "; parcels shipped since are counted directly.")
a, b = st.columns(2)
a.metric("On-time ship rate", rate, help="Orders whose last parcel left at or before their ship-by.")
b.metric("Orders shipped", f"{shipped_total:,}")
if days.empty:
    st.caption("Nothing shipped in this range.")
else:
    daily = days.assign(day=days["day"].astype(str)).rename(columns={"day": f"Day ({format.zone_label(tz)})", "shipped": "Shipped (orders)",
                                 "on_time": "On time (orders)", "on_time_pct": "On time (%)"})
    rate_chart = px.line(daily, x=daily.columns[0], y="On time (%)", markers=True, hover_data=["Shipped (orders)"])
    rate_chart.update_yaxes(range=[0, 100], ticksuffix=" %")
    st.plotly_chart(rate_chart, theme="streamlit", width="stretch")
    st.download_button("Download CSV", format.csv_bytes(daily), file_name="sla-on-time-by-day.csv",
                       mime="text/csv", key="days_csv")

st.subheader("Fulfilment and delivery times")
st.caption("Per parcel shipped in the range, in hours: placed to shipped, and shipped to delivered (where the "
           "carrier reported a delivery). p50: half the parcels took at most that long; p90: nine in ten. "
           "Times are counted in steps of 0.1 h up to 2 h, 0.5 h up to 12 h, 1 h up to 2 days, 4 h up to a week, "
           "then 12 h, and a percentile is the top of its step.")
for tab, dimension in zip(st.tabs(["By channel", "By location", "By carrier"]), DIMENSIONS, strict=True):
    with tab:
        frame = format.durations_table(times[dimension], dimension)
        st.dataframe(frame, hide_index=True)
        st.download_button("Download CSV", format.csv_bytes(frame), file_name=f"sla-times-by-{dimension}.csv",
                           mime="text/csv", key=f"times_{dimension}")
