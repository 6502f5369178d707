"""Connector health: every channel's polling at a glance; one channel's runs, error rate and dead letters."""

from __future__ import annotations

from datetime import UTC, datetime

import plotly.express as px
import streamlit as st

from connectors.parsers import parser_for
from core.connector_health import (
    channel_health,
    dead_letters,
    recent_runs,
    replay_dead_letter,
    request_poll,
    runs_by_hour,
    set_channel_enabled,
)
from core.enums import ChannelKind, Permission
from core.errors import DomainError
from ui import auth, carrier_health_view, flash, format
from ui.db import session_scope

actor = auth.require(Permission.VIEW_ORDERS)
may_operate = actor.can(Permission.OPERATE_CONNECTORS)
tz, now = actor.timezone, datetime.now(UTC)

st.title("Connector health")
flash.show()

with session_scope() as db:
    health = channel_health(db, now=now)
if health.empty:
    st.info("No channels yet.")
    carrier_health_view.show_carriers(actor, now)
    st.stop()
overview = format.health_table(health, tz)
st.dataframe(overview, hide_index=True)
st.download_button("Download CSV", format.csv_bytes(overview), file_name="connector-health.csv", mime="text/csv",
                   key="health_csv")

names = dict(zip(health["channel_id"], health["channel"], strict=True))
channel_id = st.selectbox("Channel", list(names), format_func=names.__getitem__)
row = health.set_index("channel_id").loc[channel_id]


def act(verb, done) -> None:  # type: ignore[no-untyped-def]
    """Run one action on the chosen channel; what happened (``done``, or ``done(result)``) goes to the flash."""
    try:
        with session_scope() as db:
            result = verb(db)
    except (DomainError, LookupError) as exc:
        flash.rerun_with(str(exc), ok=False)
    flash.rerun_with(done(result) if callable(done) else done)


if may_operate:
    left, middle, _ = st.columns([1, 1, 3])
    if row["state"] == "paused":
        if left.button("Resume polling", icon=":material/play_arrow:"):
            act(lambda db: set_channel_enabled(db, channel_id, True, actor=actor), f"{names[channel_id]} resumed.")
    elif left.button("Pause polling", icon=":material/pause:"):
        act(lambda db: set_channel_enabled(db, channel_id, False, actor=actor), f"{names[channel_id]} paused.")
    if middle.button("Poll now", icon=":material/sync:", disabled=row["state"] == "paused"):
        act(lambda db: request_poll(db, channel_id, actor=actor),
            f"Asked the worker to poll {names[channel_id]}; it starts within 15 seconds.")

with session_scope() as db:
    hourly = runs_by_hour(db, channel_id, now=now)
    runs = recent_runs(db, channel_id)
    letters = dead_letters(db, channel_id)

st.subheader("Error rate, last 24 hours")
if hourly.empty:
    st.caption("No polls in the last 24 hours.")
else:
    chart = hourly.assign(hour=[format.local_time(v, tz) for v in hourly["hour"]]).rename(
        columns={"hour": f"Hour ({format.zone_label(tz)})", "error_rate_pct": "Failed polls (%)", "runs": "Polls"})
    figure = px.bar(chart, x=chart.columns[0], y="Failed polls (%)", hover_data=["Polls"])
    figure.update_yaxes(range=[0, 100], ticksuffix=" %")
    st.plotly_chart(figure, theme="streamlit", width="stretch")

st.subheader("Recent polls")
shown = format.runs_table(runs, tz)
st.dataframe(shown, hide_index=True)
st.download_button("Download CSV", format.csv_bytes(shown), file_name=f"polls-{names[channel_id]}.csv",
                   mime="text/csv", key="runs_csv")

st.subheader(f"Dead letters ({len(letters):,})")
if letters.empty:
    st.caption("No record of this channel is waiting: everything it sent was stored.")
else:
    st.dataframe(format.letters_table(letters, tz), hide_index=True)
    labels = {int(r.id): f"{r.external_id or 'no id'}: {r.error[:80]}" for r in letters.itertuples()}
    picked = st.selectbox("Dead letter", list(labels), format_func=labels.__getitem__)
    st.caption("Its raw payload, exactly as the channel sent it:")
    st.code(str(letters.set_index("id").loc[picked, "raw"]), language="json", wrap_lines=True)
    if may_operate and st.button("Replay", icon=":material/replay:"):
        kind = ChannelKind(row["kind"])
        act(lambda db: replay_dead_letter(db, picked, parse=parser_for(kind), actor=actor),
            lambda number: f"Dead letter {picked} replayed: order {number} is stored.")

carrier_health_view.show_carriers(actor, now)
