"""KPI overview for managers: orders, fulfilment, exceptions, returns and connector lag - all aggregated in SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import plotly.express as px
import streamlit as st

from core.channels import all_channels
from core.enums import Permission
from core.kpi import KpiFilter, connector_lag, exceptions, fulfilment, orders_per_day, returns
from ui import auth, format
from ui.db import session_scope

actor = auth.require(Permission.VIEW_KPIS)
tz = actor.timezone
now = datetime.now(UTC)
today = now.astimezone(format.zone(tz)).date()

st.title("KPI overview")
with session_scope() as db:
    channels = dict(all_channels(db))
left, right = st.columns([1, 2])
span = left.date_input("Orders placed between", value=(today - timedelta(days=29), today), max_value=today,
                       format="YYYY-MM-DD")
picked = right.multiselect("Channels", list(channels), format_func=channels.__getitem__, placeholder="All channels")
if not isinstance(span, tuple | list) or len(span) != 2:
    st.info("Pick the last day of the range too.")
    st.stop()
flt = KpiFilter(start=span[0], end=span[1], tz=tz, channel_ids=tuple(picked))
st.caption(f"Days are in your time zone ({format.zone_label(tz)}). Orders count by when they were placed.")

with session_scope() as db:
    per_day = orders_per_day(db, flt)
    done = fulfilment(db, flt)
    held = exceptions(db, flt)
    returned = returns(db, flt)
    lag = connector_lag(db, now=now)

a, b, c, d = st.columns(4)
a.metric("Orders placed", f"{done['placed']:,}")
b.metric("Fulfilment rate", "-" if done["rate_pct"] is None else f"{done['rate_pct']:.1f} %",
         help="Shipped or delivered, of the orders placed in the range that were not cancelled.")
c.metric("Cancelled (orders)", f"{done['cancelled']:,}")
d.metric("Return rate", "-" if returned["rate_pct"] is None else f"{returned['rate_pct']:.1f} %",
         help="Orders with a return authorised, of the orders placed in the range that shipped.")


def download(frame, name: str) -> None:  # type: ignore[no-untyped-def]
    st.download_button("Download CSV", format.csv_bytes(frame), file_name=f"kpi-{name}.csv", mime="text/csv",
                       key=f"kpi_{name}")


st.subheader("Orders per day")
if per_day.empty:
    st.caption("No orders placed in this range.")
else:
    daily = per_day.assign(day=per_day["day"].astype(str)).rename(  # whole days: one bar each, no clock ticks
        columns={"day": f"Day ({format.zone_label(tz)})", "channel": "Channel", "orders": "Orders"})
    chart = px.bar(daily, x=daily.columns[0], y="Orders", color="Channel")
    chart.update_yaxes(tickformat=",d")
    st.plotly_chart(chart, theme="streamlit", width="stretch")
    download(daily, "orders-per-day")

st.subheader("Exceptions")
st.caption("Order holds opened in the range, and those resolved in it with the hours they took (p50: half were "
           "resolved at or under it; p90: nine in ten).")
if held.empty:
    st.caption("No holds opened or resolved in this range.")
else:
    table = held.rename(columns={"code": "Hold", "opened": "Opened", "resolved": "Resolved",
                                 "hours_to_resolve_p50": "Hours to resolve p50",
                                 "hours_to_resolve_p90": "Hours to resolve p90"}).astype(
        {"Hours to resolve p50": float, "Hours to resolve p90": float})  # nothing resolved: an empty cell
    st.dataframe(table, hide_index=True)
    download(table, "exceptions")

st.subheader("Returns")
reasons = returned["reasons"]
if reasons.empty:
    st.caption(f"No returns authorised for orders placed in this range ({returned['orders_shipped']:,} shipped).")
else:
    table = reasons.rename(columns={"reason": "Reason", "units": "Units"})
    st.plotly_chart(px.bar(table, x="Reason", y="Units"), theme="streamlit", width="stretch")
    download(table, "return-reasons")
    dock, grades = returned["dock_to_stock_hours"], returned["grades"]
    left, right = st.columns(2)
    left.metric("Dock to stock p50", "-" if dock["p50"] is None else f"{dock['p50']:.1f} h",
                help=f"Hours from receiving a return to its units back in stock ({dock['n']:,} restocked lines).")
    right.metric("Dock to stock p90", "-" if dock["p90"] is None else f"{dock['p90']:.1f} h")
    if not grades.empty:
        st.caption("Grade mix of the units received")
        st.dataframe(grades.rename(columns={"grade": "Grade", "units": "Units"}), hide_index=True)

st.subheader("Connector lag")
table = lag.assign(last_success=[format.local_time(v, tz) if v is not None else "never" for v in lag["last_success"]])
table = table.rename(columns={"channel": "Channel", "enabled": "Enabled",
                              "last_success": f"Last successful poll ({format.zone_label(tz)})",
                              "lag_minutes": "Minutes since", "runs_24h": "Polls (24 h)", "failed_24h": "Failed (24 h)"})
st.dataframe(table, hide_index=True)
download(table, "connector-lag")
