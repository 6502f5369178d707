"""Order queue: every open order, most urgent ship-by first, live."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from core.channels import all_channels
from core.enums import OrderStatus, Permission
from core.queries import QueueFilter, open_status_counts, order_queue
from ui import auth, format, nav
from ui.db import session_scope

PAGE_SIZE = 50

actor = auth.require(Permission.VIEW_ORDERS)

st.title("Order queue")
with session_scope() as db:
    channels = {code: cid for cid, code in all_channels(db)}

f_channel, f_status, f_dates, f_text = st.columns([2, 2, 2, 3], vertical_alignment="bottom")
codes = f_channel.multiselect("Channel", list(channels), placeholder="All channels")
statuses = f_status.multiselect("Status", list(OrderStatus), format_func=lambda s: s.label,
                                placeholder="All open")
dates = f_dates.date_input("Placed", value=(), format="YYYY-MM-DD")
text = f_text.text_input("Search", placeholder="Number, email, name, phone or tracking number")

dates = tuple(dates) if isinstance(dates, (tuple, list)) else (dates,) if dates else ()
flt = QueueFilter(
    channel_ids=tuple(channels[c] for c in codes), statuses=tuple(statuses),
    placed_from=dates[0] if dates else None, placed_to=dates[1] if len(dates) > 1 else None,
    text=text or "", tz=actor.timezone,
)


@st.fragment(run_every=5)
def live_queue(flt: QueueFilter) -> None:
    """Re-query the current page every few seconds: new and changed orders show up without a reload."""
    # The page number belongs to one set of filters: new filters start a new pager at page 1.
    page_key = f"queue_page:{hash(flt)}"
    with session_scope() as db:
        counts = open_status_counts(db)
        wanted = int(st.session_state.get(page_key, 1))
        page = order_queue(db, flt, page=wanted, page_size=PAGE_SIZE)
        if page.rows.empty and wanted > 1:  # the queue shrank under us: start again at the top
            del st.session_state[page_key]
            page = order_queue(db, flt, page=1, page_size=PAGE_SIZE)

    cells = st.columns(len(counts))
    for cell, (status, n) in zip(cells, counts.items(), strict=True):
        cell.metric(status.label, f"{n:,}", border=True, height="stretch")

    now = datetime.now(UTC)
    table = format.queue_table(page.rows, flt.tz, now)
    picked = st.dataframe(
        table.style.map(format.overdue_style, subset=["Time left"]), height=format.table_height(len(table)),
        hide_index=True, on_select="rerun", selection_mode="single-row", key="queue_table",
        column_order=[c for c in table.columns if c != format.QUEUE_ID],
        column_config=format.QUEUE_COLUMNS,
        placeholder="",  # a missing cell (no email) stays blank
    )
    if table.empty:
        st.info("No open orders match these filters.")
    if picked.selection.rows:
        order_id = int(table.iloc[picked.selection.rows[0]][format.QUEUE_ID])
        st.switch_page(nav.LOOKUP_PATH, query_params={"order": str(order_id)})

    first = (page.page - 1) * page.page_size + 1 if page.total else 0
    last = (page.page - 1) * page.page_size + len(page.rows)
    info, pager, download = st.columns([3, 4, 2], vertical_alignment="center")
    shown = f"{first:,}-{last:,}" if page.total else "0"
    info.caption(f"Showing {shown} of {page.total:,}{'+' if page.capped else ''} - refreshed {format.local_time(now, flt.tz)}"
                 f" ({format.zone_label(flt.tz)})")
    with pager:
        st.pagination(page.pages, key=page_key)
    download.download_button(
        "Download CSV", format.csv_bytes(table.drop(columns=[format.QUEUE_ID])),
        file_name=f"order-queue-page-{page.page}.csv", mime="text/csv", on_click="ignore",
        icon=":material/download:", width="stretch",
    )


live_queue(flt)
