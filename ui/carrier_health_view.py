"""The connector health page's carriers: every carrier account's tracking polls, and one account's detail."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import plotly.express as px
import streamlit as st

from core.carrier_health import carrier_dead_letters, carrier_health, carrier_runs, carrier_runs_by_hour
from ui import format
from ui.db import session_scope


def show_carriers(tz: str | None, now: datetime) -> None:
    """Carriers beside channels: last success, lag, recent runs, error rate and dead letters."""
    st.header("Carriers")
    with session_scope() as db:
        health = carrier_health(db, now=now)
    if health.empty:
        st.caption("No carrier accounts yet: an admin adds them on the Carriers page.")
        return
    last = f"Last successful poll ({format.zone_label(tz)})"
    st.dataframe(pd.DataFrame({
        "Carrier account": health["carrier"], "API": health["kind"], "Tracks": health["tracks"],
        "Polling": health["state"],
        last: [format.local_time(v, tz) if v is not None and not pd.isna(v) else "never" for v in health["last_success"]],
        "Lag (min)": health["lag_minutes"], "Polls (24 h)": health["runs_24h"], "Failed (24 h)": health["failed_24h"],
        "Error rate (%)": health["error_rate_pct"], "Dead letters": health["dead_letters"],
        "Last error": health["last_error"].fillna("")}), hide_index=True)
    names = dict(zip(health["account_id"], health["carrier"], strict=True))
    account_id = st.selectbox("Carrier account", list(names), format_func=names.__getitem__, key="carrier_account")
    with session_scope() as db:
        hourly = carrier_runs_by_hour(db, account_id, now=now)
        runs = carrier_runs(db, account_id)
        letters = carrier_dead_letters(db, account_id)
    if not hourly.empty:
        chart = hourly.assign(hour=[format.local_time(v, tz) for v in hourly["hour"]]).rename(
            columns={"hour": f"Hour ({format.zone_label(tz)})", "error_rate_pct": "Failed polls (%)", "runs": "Polls"})
        figure = px.bar(chart, x=chart.columns[0], y="Failed polls (%)", hover_data=["Polls"])
        figure.update_yaxes(range=[0, 100], ticksuffix=" %")
        st.plotly_chart(figure, theme="streamlit", width="stretch", key="carrier_chart")
    st.subheader(f"Recent tracking polls of {names[account_id]}")
    st.dataframe(format.runs_table(runs, tz).rename(columns={"Fetched": "Parcels", "Written": "New scans"}),
                 hide_index=True)
    st.subheader(f"Unreadable trackings ({len(letters):,})")
    if letters.empty:
        st.caption("Every tracking this carrier sent was readable.")
    else:
        st.dataframe(format.letters_table(letters, tz).rename(columns={"Channel's id": "Tracking number"}),
                     hide_index=True)
        labels = {int(r.id): f"{r.external_id or 'no number'}: {r.error[:80]}" for r in letters.itertuples()}
        picked = st.selectbox("Unreadable tracking", list(labels), format_func=labels.__getitem__)
        st.caption("Its raw payload, exactly as the carrier sent it:")
        st.code(str(letters.set_index("id").loc[picked, "raw"]), language="json", wrap_lines=True)
