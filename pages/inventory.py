"""Inventory: stock per location and SKU, one SKU's ledger and reservations, and the ops lead's stock changes."""

from __future__ import annotations

import streamlit as st

from core.enums import AdjustmentReason, Permission
from core.errors import DomainError
from core.inventory import adjust_stock, open_reservations, receive_stock, set_count, sku_ledger, stock_levels
from core.stock_import import ImportRejected, import_stock_csv
from core.ui_queries import location_codes
from ui import auth, format, nav
from ui.db import session_scope

PAGE_SIZE = 50
TABLE, SEEN, PICKED, FLASH, IMPORTED = "inv_table", "inv_seen", "inv_picked", "inv_flash", "inv_imported"
LOC, SKU, UPLOADS = "inv_location", "inv_sku", "inv_uploads"

actor = auth.require(Permission.VIEW_ORDERS)
tz, may_change = actor.timezone, actor.can(Permission.ADJUST_STOCK)


def change(what: str) -> None:
    """Button callback: one stock verb on the chosen location and SKU; what happened goes to the flash."""
    if (who := auth.current_actor()) is None:  # re-read: a closed account or a changed role counts now
        return
    state = st.session_state
    where, sku, text = state.get(LOC) or "", state.get(SKU) or "", state.get(f"inv_{what}:text") or None
    qty = int(state.get(f"inv_{what}:qty") or 0)
    try:
        with session_scope() as db:
            if what == "adjust":
                done = adjust_stock(db, where, sku, qty, reason=state["inv_adjust:reason"], actor=who, note=text)
            elif what == "receive":
                done = receive_stock(db, where, sku, qty, actor=who, reference=text)
            else:
                done = set_count(db, where, sku, qty, actor=who, reference=text)
    except DomainError as exc:  # refused (permission, below reserved, bad input): say why, change nothing
        state[FLASH] = ("error", str(exc))
    else:
        state[FLASH], state[f"inv_{what}:text"] = ("success", format.stock_change(done)), ""
        if what != "count":  # pressing again must not book the same goods twice
            state[f"inv_{what}:qty"] = format.STOCK_VERBS[what][2] or 0


st.title("Inventory")
with session_scope() as db:
    codes = location_codes(db)
f_loc, f_sku, f_low = st.columns([3, 3, 1.4], vertical_alignment="bottom")
places = f_loc.multiselect("Locations", codes, placeholder="All locations")
search = f_sku.text_input("Search SKU", placeholder="Part of a SKU, e.g. TEE-BLK", icon=":material/search:")
low_only = f_low.toggle("Low stock only")

flt = {"location_codes": tuple(places), "sku_search": search.strip(), "low_only": low_only, "page_size": PAGE_SIZE}
page_key = f"inv_page:{hash(tuple(flt.values()))}"  # new filters start at page 1
with session_scope() as db:
    wanted = int(st.session_state.get(page_key, 1))
    levels, total = stock_levels(db, **flt, page=wanted)
    if levels.empty and wanted > 1:  # the list shrank under this page: start again at the top
        del st.session_state[page_key]
        wanted, (levels, total) = 1, stock_levels(db, **flt)
keys = list(zip(levels["location"], levels["sku"], strict=True))
ticked = st.session_state.get(TABLE, {"selection": {"rows": []}})["selection"]["rows"]
if ticked and keys != st.session_state.get(SEEN, []):  # the rows moved: keep the same level ticked, or none
    st.session_state[TABLE] = format.reselect(st.session_state.get(SEEN, []), keys, ticked[0])
st.session_state[SEEN] = keys

table = format.stock_table(levels)
ticked = st.dataframe(
    table.style.apply(format.low_stock_style, axis=1), height=format.table_height(len(table)), hide_index=True,
    on_select="rerun", selection_mode="single-row", key=TABLE, column_config=format.STOCK_COLUMNS,
).selection.rows
info, pager, download = st.columns([4, 3, 2], vertical_alignment="center")
info.caption(f"{format.showing(wanted, PAGE_SIZE, len(table), total)} - select a row for its ledger and orders")
pager.pagination(max(1, -(-total // PAGE_SIZE)), key=page_key)
download.download_button("Download CSV", format.csv_bytes(table), file_name=f"stock-page-{wanted}.csv",
                         mime="text/csv", on_click="ignore", icon=":material/download:", width="stretch")

if ticked and ticked[0] < len(keys):  # the drill-down: one level, its SKU's ledger and the orders holding it
    (where, sku), level = keys[ticked[0]], levels.iloc[ticked[0]]
    if st.session_state.get(PICKED) != (where, sku):  # a new pick fills in the change form below
        st.session_state[PICKED], st.session_state[LOC], st.session_state[SKU] = (where, sku), where, sku
    with st.container(border=True):
        st.subheader(f"{format.md_escape(sku)} at {format.md_escape(where)}")
        for cell, (label, column) in zip(st.columns(4), format.LEVEL_METRICS.items(), strict=True):
            cell.metric(label, f"{int(level[column]):,}", border=True)
        everywhere = st.toggle("Ledger of every location", key="inv_everywhere")
        with session_scope() as db:
            ledger, held = sku_ledger(db, sku, None if everywhere else where), open_reservations(db, sku)
        history, orders = st.tabs([f"Ledger ({len(ledger):,})", f"Open reservations ({len(held):,})"])
        with history:
            st.dataframe(format.ledger_table(ledger, tz), hide_index=True, column_config=format.LEDGER_COLUMNS,
                         placeholder="")
            st.caption(f"Newest first{', the latest 200' * (len(ledger) >= 200)}; times in {format.zone_label(tz)}.")
        with orders:
            shown = format.reservation_table(held, tz)
            opened = st.dataframe(
                shown, hide_index=True, on_select="rerun", selection_mode="single-row", key=f"inv_res:{where}:{sku}",
                column_config=format.RESERVATION_COLUMNS, placeholder="",
            ).selection.rows
            st.caption("Every location, most urgent ship-by first. Select a row to open its order here.")
            if opened:
                st.switch_page(nav.LOOKUP_PATH, query_params={"order": str(int(held.iloc[opened[0]]["order_id"]))})
else:
    st.session_state.pop(PICKED, None)  # ticking the same row again fills in the change form again

st.subheader("Change stock")
if not may_change:
    st.caption(f"Your role ({actor.role.label if actor.role else 'none'}) may read stock but not change it.")
where_at, sku_at = st.columns([1, 2])
where_at.selectbox("Location", codes, key=LOC)
sku_at.text_input("SKU", key=SKU, max_chars=80, placeholder="Select a row above, or type a SKU")
for tab, (what, (title, qty_label, lowest, text_label)) in zip(st.tabs([v[0] for v in format.STOCK_VERBS.values()]),
                                                               format.STOCK_VERBS.items(), strict=True):
    with tab, st.form(f"inv_{what}", border=False, enter_to_submit=False):  # Enter must not book anything
        st.session_state.setdefault(f"inv_{what}:qty", lowest or 0)
        cells = st.columns([1, 1, 2] if what == "adjust" else [1, 3], vertical_alignment="bottom")
        cells[0].number_input(qty_label, min_value=lowest, step=1, key=f"inv_{what}:qty")
        if what == "adjust":
            cells[1].selectbox("Reason", list(AdjustmentReason), format_func=lambda r: r.label,
                               key="inv_adjust:reason")
        cells[-1].text_input(text_label, key=f"inv_{what}:text", max_chars=120)
        st.form_submit_button(title, on_click=change, args=(what,), type="primary", disabled=not may_change)
if flash := st.session_state.pop(FLASH, None):
    (st.success if flash[0] == "success" else st.error)(format.md_escape(flash[1]))

st.subheader("Import a CSV")
st.caption("Columns location, sku, quantity and optionally reason, reference, named in the first row. "
           "Every row is checked first: if one is wrong, nothing is imported.")
mode_at, file_at = st.columns([1, 2])
mode = mode_at.radio("The file holds", list(format.IMPORT_MODES), format_func=format.IMPORT_MODES.get)
upload = file_at.file_uploader("Stock CSV", type=["csv"], key=f"inv_csv:{st.session_state.get(UPLOADS, 0)}",
                              disabled=not may_change)
if st.button("Import", type="primary", icon=":material/upload:", disabled=not may_change or upload is None):
    bar = st.progress(0.0, text="Checking the file")
    try:
        with session_scope() as db:
            report = import_stock_csv(db, upload.getvalue(), mode=mode, actor=actor,
                                      progress=lambda done, total: bar.progress(*format.import_progress(done, total)))
    except DomainError as exc:
        bar.empty()
        st.error(format.md_escape(str(exc)))
        if isinstance(exc, ImportRejected):  # every bad row, so the file can be fixed in one go
            st.dataframe(format.import_errors(exc.as_frame()), hide_index=True)
    else:  # a fresh page shows the new figures; a fresh uploader cannot import the same file twice by accident
        st.session_state.update({IMPORTED: format.import_summary(report),
                                 UPLOADS: st.session_state.get(UPLOADS, 0) + 1})
        st.rerun()
if imported := st.session_state.pop(IMPORTED, None):
    st.success(format.md_escape(imported))
