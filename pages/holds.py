"""Exceptions & holds: the open items, most urgent first, and the desk's actions on them."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from core import holds
from core.auth import Actor
from core.channels import all_channels
from core.enums import HoldCode, Permission
from core.errors import DomainError, InvalidInput
from core.holds_queue import ANYONE, ME, NOBODY, HoldFilter, active_users, hold_queue, open_counts_by_code
from core.inventory import location_stock_for_order
from core.order_detail import order_detail
from ui import auth, format, nav
from ui.db import session_scope

PAGE_SIZE = 50
TABLE, SEEN, FLASH, NOTE, ASSIGNEE = "holds_table", "holds_seen", "holds_flash", "holds_note", "holds_to"
NO_SELECTION = {"selection": {"rows": [], "columns": [], "cells": []}}
ORDER_ACTIONS = {  # on one order: the tab and button, the form's fields, who may do it
    "fix": ("Fix address", format.ADDRESS_FIELDS, Permission.EDIT_ORDER),
    "hold": ("Put on hold", {"text": "Why hold it"}, Permission.PLACE_MANUAL_HOLD),
    "note": ("Add note", {"text": "Note for the order's timeline"}, Permission.ADD_NOTE),
    "cancel": ("Cancel order", {"text": "Reason"}, Permission.CANCEL_ORDER),
    "reroute": ("Re-route", {"location": "Ship from", "text": "Why"}, Permission.EDIT_ORDER),
}

actor = auth.require(Permission.VIEW_ORDERS)


def act(what: str) -> None:
    """Button callback: one core action on the rows of the table as shown (with the versions on screen)."""
    if (who := auth.current_actor()) is None:  # re-read: a closed account or a changed role counts now
        return
    seen, shown = st.session_state.get(SEEN, []), st.session_state.get(TABLE, NO_SELECTION)["selection"]["rows"]
    try:
        with session_scope() as db:
            done = perform(db, who, what, [seen[i] for i in shown if i < len(seen)])
    except DomainError as exc:  # refused (permission, stale, bad input): say why, change nothing
        done = ("error", str(exc))
    else:
        st.session_state[TABLE], st.session_state[NOTE] = NO_SELECTION, ""
    st.session_state[FLASH] = done if isinstance(done, tuple) else ("success", done)


def perform(db, who: Actor, what: str, rows: list[dict]) -> str | tuple[str, str]:
    """The one core call behind the button ``what``; what happened, in a sentence."""
    text = st.session_state.get(NOTE, "")
    refs = [holds.HoldRef(r["hold_id"], r["hold_version"]) for r in rows]
    on = ", ".join(dict.fromkeys(r["number"] for r in rows))
    if what == "release":
        n = holds.release(db, refs, actor=who, note=text)
        return f"Released {n} hold{'s' * (n != 1)} on {on}. An order moves on once no blocking hold is left."
    if what == "assign":
        n = holds.assign(db, refs, assignee_id=(uid := st.session_state.get(ASSIGNEE)) or None, actor=who, note=text)
        return f"Assigned {n} item{'s' * (n != 1)} on {on} to {users.get(uid, 'nobody')}."
    if len(rows) != 1:
        raise InvalidInput("Select exactly one item.")
    oid, version, number = rows[0]["order_id"], rows[0]["order_version"], rows[0]["number"]
    given = {k: st.session_state.get(f"holds_{what}:{k}:{oid}:{version}") for k in ORDER_ACTIONS[what][1]}
    text = given.get("text") or ""
    if what == "hold":
        holds.place_manual_hold(db, oid, order_version=version, actor=who, note=text)
        return f"Order {number} is on a manual hold."
    if what == "note":
        holds.add_note(db, oid, actor=who, note=text)
        return f"Note added to the timeline of order {number}."
    if what == "cancel":
        holds.cancel_order(db, oid, order_version=version, actor=who, reason=text)
        return f"Order {number} cancelled: its reservations and holds are released."
    if what == "reroute":
        return holds.reroute(db, oid, order_version=version, location_id=int(given["location"] or 0), actor=who,
                             note=text)
    if missing := holds.fix_address(db, oid, order_version=version, address=given, actor=who):
        return "warning", f"Address of order {number} saved, but the {missing}: the address hold stays open."
    return f"Address of order {number} saved; it is complete."


st.title("Exceptions & holds")
with session_scope() as db:
    counts, channels = open_counts_by_code(db), {code: cid for cid, code in all_channels(db)}
    users = dict(active_users(db))
with st.container(horizontal=True):  # one card per code that has open items, in the order of the rules
    for label, n in [("All open", sum(counts.values())), *((c.label, counts[c]) for c in HoldCode if c in counts)]:
        st.metric(label, f"{n:,}", border=True, width="content")

f_code, f_channel, f_who, f_age, f_blocking = st.columns([3, 2, 2, 1.4, 1.6], vertical_alignment="bottom")
codes = f_code.multiselect("Hold", list(HoldCode), format_func=lambda c: c.label, placeholder="All holds")
chosen = f_channel.multiselect("Channel", list(channels), placeholder="All channels")
assignee = f_who.selectbox("Assignee", [ANYONE, ME, NOBODY, *users],
                           format_func=lambda u: users[u] if isinstance(u, int) else u.capitalize())
older = f_age.selectbox("Older than", [None, 1, 4, 24, 72], format_func=lambda h: f"{h} h" if h else "Any age")
blocking = f_blocking.toggle("Blocking only")
flt = HoldFilter(codes=tuple(codes), channel_ids=tuple(channels[c] for c in chosen), assignee=assignee,
                 older_than_hours=older, blocking_only=blocking)

page_key = f"holds_page:{hash(flt)}"  # a new filter starts at page 1
with session_scope() as db:
    wanted = int(st.session_state.get(page_key, 1))
    page = hold_queue(db, flt, user_id=actor.user_id, page=wanted, page_size=PAGE_SIZE)
    if page.rows.empty and wanted > 1:  # the list shrank under this page: show its last page instead
        page = hold_queue(db, flt, user_id=actor.user_id, page=page.pages, page_size=PAGE_SIZE)
seen = format.hold_keys(page.rows)
if seen != st.session_state.get(SEEN) and st.session_state.get(TABLE, NO_SELECTION)["selection"]["rows"]:
    st.session_state[TABLE] = NO_SELECTION  # the rows moved under the selection: never act on the wrong ones
    st.info("The list changed since you selected: select again.")
st.session_state[SEEN] = seen

table = format.hold_table(page.rows, actor.timezone, now := datetime.now(UTC))
rows = [seen[i] for i in st.dataframe(
    table.style.map(format.overdue_style, subset=["Time left"]), height=format.table_height(len(table)),
    hide_index=True, on_select="rerun", selection_mode="multi-row", key=TABLE,
    column_config=format.HOLD_COLUMNS, placeholder="",
).selection.rows if i < len(seen)]  # the ticked rows, as shown
if table.empty:
    st.info("No open items match these filters.")
info, pager, download = st.columns([3, 4, 2], vertical_alignment="center")
info.caption(f"{format.showing(page.page, page.page_size, len(table), page.total)} - loaded "
             f"{format.local_time(now, actor.timezone)} ({format.zone_label(actor.timezone)})")
pager.pagination(page.pages, key=page_key)
download.download_button("Download CSV", format.csv_bytes(table), file_name=f"holds-page-{page.page}.csv",
                         mime="text/csv", on_click="ignore", icon=":material/download:", width="stretch")

if flash := st.session_state.pop(FLASH, None):
    {"success": st.success, "warning": st.warning, "error": st.error}[flash[0]](format.md_escape(flash[1]))

st.subheader(f"{len(rows)} selected" if rows else "Select items in the table to act on them")
with st.form("holds_bulk", border=False, enter_to_submit=False):  # Enter must not release anything
    st.text_input("Note", key=NOTE, placeholder="Why - kept with the action (a release needs one)")
    release_at, assign_to, assign_at = st.columns([1, 2, 1], vertical_alignment="bottom")
    release_at.form_submit_button("Release", on_click=act, args=("release",), type="primary", width="stretch",
                                  icon=":material/lock_open:", disabled=not actor.can(Permission.RELEASE_HOLD))
    assign_to.selectbox("Assign to", [actor.user_id, 0, *(u for u in users if u != actor.user_id)], key=ASSIGNEE,
                        format_func=lambda u: "Me" if u == actor.user_id else users.get(u, "Nobody (unassign)"))
    assign_at.form_submit_button("Assign", on_click=act, args=("assign",), width="stretch",
                                 disabled=not actor.can(Permission.ASSIGN_HOLD), icon=":material/person_add:")

if len(rows) == 1:
    row = rows[0]
    with session_scope() as db:
        order = order_detail(db, row["order_id"]).order
    with st.container(border=True):  # the one order picked: what it is, and what can be done to it
        st.markdown(format.order_summary(order))
        st.page_link(nav.LOOKUP_PATH, label="Open the order and its timeline", icon=":material/open_in_new:",
                     query_params={"order": str(row["order_id"])})
        tabs = st.tabs([title for title, _, _ in ORDER_ACTIONS.values()])
        for tab, (what, (title, fields, permission)) in zip(tabs, ORDER_ACTIONS.items(), strict=True):
            with tab, st.form(f"holds_{what}", border=False, enter_to_submit=False):
                cells = st.columns(min(len(fields), 4))
                for i, (k, label) in enumerate(fields.items()):
                    key = f"holds_{what}:{k}:{row['order_id']}:{row['order_version']}"
                    if k == "location":  # where it could ship from, with each location's stock right now
                        with session_scope() as db:
                            stock = location_stock_for_order(db, row["order_id"])
                        st.dataframe(format.reroute_table(stock), hide_index=True)
                        cells[i % 4].selectbox(label, stock["location_id"].tolist(), key=key,
                                               format_func=dict(zip(stock["location_id"], stock["location"],
                                                                    strict=True)).get)
                        continue
                    cells[i % 4].text_input(label, value=(order["ship_to"] or {}).get(k) or "", key=key)
                st.form_submit_button(title, on_click=act, args=(what,), disabled=not actor.can(permission))
