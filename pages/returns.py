"""Returns: the RMA queue by status, finding an RMA, and the receive / inspect / refund steps on one."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from core.enums import Permission, ReturnReason, ReturnStatus
from core.errors import DomainError
from core.return_reads import ReturnFilter, find_returns, return_detail, return_queue, status_counts
from core.ui_queries import location_codes
from ui import auth, format, nav, returns_forms, returns_view
from ui.db import session_scope

PAGE_SIZE = 50
TABLE, SEEN, PICKED, FOUND = "ret_table", "ret_seen", "ret_picked", "ret_found"

actor = auth.require(Permission.VIEW_ORDERS)
tz = actor.timezone
if rma := st.query_params.get("rma"):  # a link to one RMA (e.g. from the order page)
    st.session_state[PICKED] = int(rma) if rma.isdigit() else None

st.title("Returns")
returns_forms.show_flash()
with session_scope() as db:
    counts, places = status_counts(db), location_codes(db)
with st.container(horizontal=True):
    for status in ReturnStatus:
        st.metric(status.label, f"{counts.get(status, 0):,}", border=True, width="content")

f_status, f_where, f_reason, f_age = st.columns([3, 2, 3, 1.4], vertical_alignment="bottom")
statuses = f_status.multiselect("Status", list(ReturnStatus), format_func=lambda s: s.label,
                                placeholder="Every status")
where = f_where.multiselect("Location", places, placeholder="All locations")
reasons = f_reason.multiselect("Reason", list(ReturnReason), format_func=lambda r: r.label, placeholder="Any reason")
older = f_age.selectbox("Older than", [None, 24, 72, 168], format_func=lambda h: f"{h // 24} d" if h else "Any age")
flt = ReturnFilter(statuses=tuple(statuses), location_codes=tuple(where), reasons=tuple(reasons),
                   older_than_hours=older)

page_key, now = f"ret_page:{hash(flt)}", datetime.now(UTC)  # a new filter starts at page 1
with session_scope() as db:
    wanted = int(st.session_state.get(page_key, 1))
    rows, total = return_queue(db, flt, now=now, page=wanted, page_size=PAGE_SIZE)
    everything, _ = return_queue(db, flt, now=now, page_size=5000)  # the export: every matching RMA
seen = rows["return_id"].tolist()
if seen != st.session_state.get(SEEN) and TABLE in st.session_state:
    st.session_state[TABLE] = {"selection": {"rows": [], "columns": [], "cells": []}}  # never pick the wrong row
st.session_state[SEEN] = seen
table = returns_view.queue_table(rows, tz, now)
ticked = st.dataframe(table, hide_index=True, height=format.table_height(len(table)), on_select="rerun",
                      selection_mode="single-row", key=TABLE, placeholder="").selection.rows
if table.empty:
    st.info("No returns match these filters.")
info, pager, download = st.columns([4, 3, 2], vertical_alignment="center")
info.caption(f"{format.showing(wanted, PAGE_SIZE, len(table), total)} - oldest first; age since the RMA was opened")
pager.pagination(max(1, -(-total // PAGE_SIZE)), key=page_key)
download.download_button("Download CSV", format.csv_bytes(returns_view.queue_table(everything, tz, now)),
                         file_name="returns.csv", mime="text/csv", on_click="ignore", icon=":material/download:",
                         width="stretch")
if ticked and ticked[0] < len(seen):
    st.session_state[PICKED] = seen[ticked[0]]

ref = st.text_input("Find an RMA", key=FOUND, icon=":material/search:",
                    placeholder="RMA number, order number or tracking number - then Enter")
if ref.strip():
    try:
        with session_scope() as db:
            hits = find_returns(db, ref)
    except DomainError as exc:
        hits = []
        st.error(format.md_escape(str(exc)))
    if not hits:
        st.warning(f"No RMA matches {format.md_escape(ref.strip())}.")
    elif len(hits) == 1 or st.session_state.get(PICKED) not in hits:
        st.session_state[PICKED] = hits[0]
    if len(hits) > 1:
        with session_scope() as db:
            names = {h: return_detail(db, h)[0]["number"] for h in hits}
        st.session_state[PICKED] = st.selectbox("Several RMAs match", hits, format_func=names.get,
                                                index=hits.index(st.session_state[PICKED]))

picked = st.session_state.get(PICKED)
if picked:
    try:
        with session_scope() as db:
            head, lines = return_detail(db, picked)
    except DomainError:
        st.session_state.pop(PICKED, None)
    else:
        with st.container(border=True):
            st.subheader(f"{head['number']} - {head['status'].label}")
            st.markdown(returns_forms.summary(head, tz))
            st.page_link(nav.LOOKUP_PATH, label=f"Order {head['order']} and its timeline",
                         icon=":material/open_in_new:", query_params={"order": str(head["order_id"])})
            st.dataframe(returns_view.lines_table(lines, head["currency"], tz), hide_index=True)
            returns_forms.steps(actor, head, lines)

if actor.can(Permission.AUTHORISE_RETURN):
    returns_forms.authorise_panel(actor, st.query_params.get("order"))
if actor.can(Permission.MANAGE_SETTINGS):
    returns_forms.settings_panel(actor)
