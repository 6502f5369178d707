"""Hold rules (admin): the thresholds the hold rules use, their change history, and a re-check of open orders."""

from __future__ import annotations

import streamlit as st

from core.enums import Permission
from core.errors import DomainError, StaleEdit
from core.settings import (
    RISK_LEVELS,
    parse_rule_settings,
    rule_settings,
    save_rule_settings,
    settings_history,
)
from core.triage import recheck_open_orders
from ui import auth, flash, format
from ui.db import session_scope

LOADED = "rules_loaded"

actor = auth.require(Permission.MANAGE_SETTINGS)
state = st.session_state

st.title("Hold rules")
st.caption("What the rules hold automatically. A change applies to orders as they arrive or change from now on; "
           "re-check the open orders below to apply it to them too. Holds a person released stay released.")

if LOADED not in state:  # what this form is editing: a save after someone else's is refused, not merged
    with session_scope() as db:
        state[LOADED] = rule_settings(db)
loaded = state[LOADED]

flash.show()

with st.form("hold_rules"):
    high_value = st.text_input("High-value threshold (orders at or above it are held; any currency without "
                               "its own)", value=f"{loaded.high_value_threshold:.2f}")
    by_currency = st.text_input("Thresholds per currency (e.g. EUR 4000, GBP 3500)", value=", ".join(
        f"{code} {amount:.2f}" for code, amount in sorted(loaded.high_value_by_currency.items())))
    risky = st.multiselect("Channel fraud-risk levels that hold an order", RISK_LEVELS,
                           default=[level for level in RISK_LEVELS if level in loaded.risky_levels])
    window = st.number_input("Duplicate window (minutes): same customer, address and items within it",
                             min_value=0, max_value=24 * 60, value=loaded.duplicate_window_minutes, step=1)
    saved = st.form_submit_button("Save thresholds", type="primary")

if saved:
    try:
        wanted = parse_rule_settings(high_value, by_currency, list(risky), int(window))
        with session_scope() as db:
            changed = save_rule_settings(db, wanted, actor=actor, expected=loaded)
    except StaleEdit as exc:  # show what the other person saved; nothing of theirs was overwritten
        state.pop(LOADED, None)
        flash.rerun_with(f"{exc} The form now shows the saved thresholds.", ok=False)
    except DomainError as exc:
        st.error(format.md_escape(str(exc)))
    else:
        state.pop(LOADED, None)
        flash.rerun_with("Thresholds saved." if changed else "Nothing changed.", markdown=True)

st.subheader("Apply to open orders")
st.caption("Runs the rules again over every order not yet shipping, in batches, while the desk keeps working.")
if st.button("Re-check open orders now", icon=":material/rule:"):
    bar = st.progress(0.0, text="Checking open orders...")
    try:
        with session_scope() as db:
            done = recheck_open_orders(db, actor=actor, progress=lambda n, total: bar.progress(
                n / max(total, 1), text=f"Checked {n:,} of {total:,} open orders"))
    except DomainError as exc:
        st.error(format.md_escape(str(exc)))
    else:
        bar.progress(1.0, text=f"Checked {done['checked']:,} open orders")
        st.success(f"Checked {done['checked']:,} open orders: {done['opened']:,} holds opened, "
                   f"{done['cleared']:,} cleared by themselves.")

st.subheader("Changes")
with session_scope() as db:
    history = settings_history(db)
if history.empty:
    st.caption("The thresholds have not been changed yet: the defaults apply.")
else:
    shown = history.assign(at=[format.local_time(v, actor.timezone) for v in history["at"]]).rename(
        columns={"at": f"When ({format.zone_label(actor.timezone)})", "by": "By", "changes": "What changed"})
    st.dataframe(shown, hide_index=True)
    st.download_button("Download CSV", format.csv_bytes(shown), file_name="hold-rule-changes.csv", mime="text/csv")
