"""The connector health page's carriers: every carrier account's tracking polls, and one account's detail."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pandas as pd
import plotly.express as px
import streamlit as st
from sqlalchemy.orm import Session

from connectors.carriers import parser_for
from core.auth import Actor
from core.carrier_health import carrier_dead_letters, carrier_health, carrier_runs, carrier_runs_by_hour
from core.carrier_ops import replay_carrier_letter, request_carrier_poll, set_carrier_enabled
from core.enums import CarrierKind, Permission
from core.errors import DomainError
from ui import flash, format
from ui.db import session_scope


def show_carriers(actor: Actor, now: datetime) -> None:
    """Carriers beside channels: last success, lag, the breaker, recent runs, error rate and dead letters;
    pause, resume and poll now for those who operate connectors."""
    tz = actor.timezone
    st.header("Carriers")
    with session_scope() as db:
        health = carrier_health(db, now=now)
    if health.empty:
        st.caption("No carrier accounts yet: an admin adds them on the Carriers page.")
        return
    last = f"Last successful poll ({format.zone_label(tz)})"
    st.dataframe(pd.DataFrame({
        "Carrier account": health["carrier"], "API": health["kind"], "Tracks": health["tracks"],
        "Polling": format.polling_states(health, tz),
        last: [format.local_time(v, tz) if v is not None and not pd.isna(v) else "never" for v in health["last_success"]],
        "Lag (min)": health["lag_minutes"], "Polls (24 h)": health["runs_24h"], "Failed (24 h)": health["failed_24h"],
        "Error rate (%)": health["error_rate_pct"], "Dead letters": health["dead_letters"],
        "Last error": health["last_error"].fillna("")}), hide_index=True)
    names = dict(zip(health["account_id"], health["carrier"], strict=True))
    account_id = st.selectbox("Carrier account", list(names), format_func=names.__getitem__, key="carrier_account")
    if actor.can(Permission.OPERATE_CONNECTORS):
        _actions(actor, account_id, names[account_id], health.set_index("account_id").loc[account_id, "state"])
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
        if actor.can(Permission.OPERATE_CONNECTORS) and st.button("Replay", icon=":material/replay:",
                                                                  key="carrier_replay"):
            kinds = {k.label: k for k in CarrierKind}
            parse = parser_for(kinds[health.set_index("account_id").loc[account_id, "kind"]])
            _act(lambda db: replay_carrier_letter(db, picked, parse=parse, actor=actor),
                 f"Unreadable tracking {picked} replayed: its scans are on the parcel.")


def _actions(actor: Actor, account_id: int, name: str, state: str) -> None:
    left, middle, _ = st.columns([1, 1, 3])
    if state == "paused":
        if left.button("Resume tracking", icon=":material/play_arrow:", key="carrier_resume"):
            _act(lambda db: set_carrier_enabled(db, account_id, True, actor=actor), f"{name} resumed.")
    elif left.button("Pause tracking", icon=":material/pause:", key="carrier_pause"):
        _act(lambda db: set_carrier_enabled(db, account_id, False, actor=actor), f"{name} paused.")
    if middle.button("Poll now", icon=":material/sync:", disabled=state == "paused", key="carrier_poll"):
        _act(lambda db: request_carrier_poll(db, account_id, actor=actor),
             f"Asked the worker to poll {name}; it starts within 15 seconds.")


def _act(verb: Callable[[Session], object], done: str) -> None:
    """Run one action on the account; what happened goes to the flash shown at the top of the page."""
    try:
        with session_scope() as db:
            verb(db)
    except (DomainError, LookupError) as exc:
        flash.rerun_with(str(exc), ok=False)
    flash.rerun_with(done)
