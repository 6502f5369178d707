"""Stock integrity: check the stock invariants now, and read the alerts still open. Nothing here repairs stock."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from core.enums import Permission
from core.errors import DomainError
from core.integrity import check_and_alert, resolve_alert
from core.ui_queries import open_stock_alerts
from ui import auth, format
from ui.db import session_scope
from ui.format import md_escape

actor = auth.require(Permission.ADJUST_STOCK)

st.title("Stock integrity")
st.caption("What must always hold, per location and SKU: 0 ≤ reserved ≤ on hand; reserved equals the open "
           "allocations; on hand and reserved equal the sums of the ledger. The worker checks this on a schedule; "
           "a break opens an alert and is never repaired silently.")

if st.button("Check now", type="primary", icon=":material/fact_check:"):
    try:
        with session_scope() as db:
            found = check_and_alert(db, actor=actor)
    except DomainError as exc:
        st.error(md_escape(str(exc)))
    else:
        when = format.local_time(datetime.now(UTC), actor.timezone, with_zone=True)
        if found:
            st.error(f"{len(found)} problem{'s' * (len(found) != 1)} found at {md_escape(when)}; each has an open "
                     "alert below:  \n" + format.md_lines([v.message for v in found]))
        else:
            st.success(f"Checked at {md_escape(when)}: every stock invariant holds.")

with session_scope() as db:
    alerts = open_stock_alerts(db)
st.subheader(f"Open alerts ({len(alerts):,})")
if alerts.empty:
    st.caption("No open stock alerts.")
else:
    shown = format.alerts_table(alerts, actor.timezone, datetime.now(UTC))
    st.dataframe(shown, hide_index=True)
    st.download_button("Download CSV", format.csv_bytes(shown), file_name="stock-alerts.csv", mime="text/csv")
    with st.form("resolve_alert", clear_on_submit=True):
        labels = {int(r.hold_id): f"{r.sku} at {r.location}: {r.problem}" for r in alerts.itertuples()}
        picked = st.selectbox("Alert", list(labels), format_func=labels.__getitem__)
        cause = st.text_input("What was the cause, and how was it put right?")
        resolve = st.form_submit_button("Mark resolved", icon=":material/task_alt:")
    if resolve:
        try:
            with session_scope() as db:
                resolve_alert(db, int(picked), note=cause, actor=actor)
        except DomainError as exc:
            st.error(md_escape(str(exc)))
        else:
            st.success(md_escape(f"Resolved: {labels[int(picked)]}"))
            st.rerun()
st.caption("Find the cause first: the SKU's ledger on the Inventory page tells its story. Adjustments and counts "
           "move on hand and the ledger together, so they do not close a gap between the two.")
