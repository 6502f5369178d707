"""Order lookup: find an order from whatever the customer quotes, and read its whole story."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from core.allocation import allocation_explanation, order_allocations
from core.enums import FinancialStatus, OrderStatus, Permission, ShipmentStatus
from core.errors import DomainError
from core.order_detail import OrderDetail, order_detail, resolve_order
from core.queries import find_orders
from core.return_reads import order_returns
from ui import auth, format, parcels_view, returns_view
from ui.db import session_scope
from ui.format import md_escape

SEARCH_LABEL = "Order number, channel order id, email, name, phone or tracking number"
RESULT_LIMIT = 50

actor = auth.require(Permission.VIEW_ORDERS)
tz = actor.timezone


def _new_search() -> None:
    """A new search closes the order that was open (its link no longer matches what is on screen)."""
    st.query_params.pop("order", None)


def show_order(detail: OrderDetail, allocations: pd.DataFrame, plan: dict | None) -> None:
    """One order: header, people, lines, where they ship from and why, parcels and the timeline in plain words."""
    o = detail.order
    st.divider()
    st.subheader(f"Order {md_escape(o['number'])}")
    st.caption(f"{md_escape(o['channel_name'])} ({md_escape(o['channel'])}) - channel order id "
               f"{md_escape(o['external_id'])} - internal id {o['id']}")
    ship_by = format.local_time(o["ship_by"], tz)
    is_open = OrderStatus(o["status"]).is_open
    left = format.time_left(o["ship_by"], datetime.now(UTC)) if is_open else None
    zone = md_escape(format.zone_label(tz))
    cells = st.columns([1, 1, 1.3, 1.7, 1.7])
    cells[0].metric("Status", o["status_label"], border=True, height="stretch")
    cells[1].metric("Payment", FinancialStatus(o["financial_status"]).label, border=True, height="stretch")
    cells[2].metric("Total", md_escape(format.money(o["total"], o["currency"])), border=True, height="stretch")
    cells[3].metric(f"Placed ({zone})", format.local_time(o["placed_at"], tz), border=True, height="stretch")
    cells[4].metric(f"Ship by ({zone})", ship_by, delta=left, border=True, delta_arrow="off", height="stretch",
                    delta_color="red" if left and left.startswith("overdue") else "gray")

    who, where = st.columns(2)
    with who:
        st.markdown("**Customer**")
        st.markdown(format.md_lines([o["customer_name"], o["email"], o["phone"]]) or "_none given_")
    with where:
        st.markdown("**Ship to**")
        st.markdown(format.md_lines(format.address_lines(o["ship_to"])) or "_no address_")
    if o.get("note"):
        st.markdown(f"**Note from the channel:** {md_escape(o['note'])}")

    st.markdown("**Lines**")
    st.dataframe(
        [{"SKU": li["sku"], "Title": li["title"], "Qty": li["quantity"],
          "Unit price": format.money(li["unit_price"], o["currency"]), "Allocated": li["allocated"],
          "Shipped": li["shipped"], "Returned": li["returned"]} for li in detail.lines],
        hide_index=True, column_config={"Unit price": st.column_config.TextColumn(alignment="right")},
    )
    show_allocation(allocations, plan)
    st.markdown("**Shipments**")
    if detail.shipments:
        st.dataframe(
            [{"Carrier": s["carrier"], "Service": s["service"] or "", "Tracking": s["tracking_number"],
              "Status": ShipmentStatus(s["status"]).label,
              f"Shipped ({format.zone_label(tz)})": format.local_time(s["shipped_at"], tz),
              f"Delivered ({format.zone_label(tz)})": format.local_time(s["delivered_at"], tz)}
             for s in detail.shipments],
            hide_index=True,
        )
    else:
        st.caption("Nothing shipped yet.")
    parcels_view.ship_form(o, actor)
    parcels_view.show_journey(o["id"], tz)
    show_returns(o["id"])

    st.markdown("**Timeline**")
    st.markdown("\n".join(
        f"- `{format.local_time(e['at'], tz)}` **{md_escape(e['actor'])}** - {md_escape(e['text'])}"
        for e in detail.events
    ) or "_No events yet._")
    st.caption(f"Times in {format.zone_label(tz)}, oldest first.")


def show_returns(order_id: int) -> None:
    """The order's RMAs (their story is on the timeline below) and the way to the Returns page."""
    st.markdown("**Returns**")
    with session_scope() as db:
        rmas = order_returns(db, order_id)
    if rmas.empty:
        st.caption("No returns.")
    else:
        st.dataframe(returns_view.queue_table(rmas, tz, datetime.now(UTC)).drop(columns=["Order"]), hide_index=True)
    label = "Open a return" if actor.can(Permission.AUTHORISE_RETURN) else "Returns page"
    st.page_link("pages/returns.py", label=label, icon=":material/assignment_return:",
                 query_params={"order": str(order_id)})


def show_allocation(allocations: pd.DataFrame, plan: dict | None) -> None:
    """Where the order's stock is reserved, and why the plan chose those locations over the others."""
    st.markdown("**Allocation**")
    if plan:
        st.markdown(md_escape(plan.get("why") or ""))
    if not allocations.empty:
        st.dataframe(format.allocation_table(allocations, tz), hide_index=True)
    if plan and plan.get("candidates"):
        st.caption("How the plan chose: the locations that ship there, ranked by proximity (same region, then same "
                   "country), priority and stock, with what each had available at that moment.")
        st.dataframe(format.candidates_table(plan), hide_index=True)
    if plan:
        st.caption(format.plan_caption(plan))
    if allocations.empty and not plan:
        st.caption("Not allocated yet.")


st.title("Order lookup")
term = st.text_input(SEARCH_LABEL, key="lookup_term", on_change=_new_search, icon=":material/search:",
                     placeholder="e.g. #1042, ada@example.com, 555 0142, 1Z999AA10123456784")

with session_scope() as db:
    if term.strip():
        found = find_orders(db, term, limit=RESULT_LIMIT)
        if found.empty:
            st.info(f"No order matches {md_escape(term.strip())}.")
        else:
            many = "+" if len(found) >= RESULT_LIMIT else ""
            st.caption(f"{len(found)}{many} order{'s' if len(found) != 1 else ''} match, newest first. "
                       "Select one to open it.")
            table = format.queue_table(found, tz, datetime.now(UTC))
            picked = st.dataframe(
                table, hide_index=True, on_select="rerun", selection_mode="single-row",
                key=f"lookup_results:{term.strip()}",
                column_order=format.lookup_columns(tz), column_config=format.QUEUE_COLUMNS,
            )
            if picked.selection.rows:
                st.query_params["order"] = str(int(table.iloc[picked.selection.rows[0]][format.QUEUE_ID]))
            elif len(found) == 1 and "order" not in st.query_params:
                st.query_params["order"] = str(int(found.iloc[0]["id"]))  # one match: open it

    ref = st.query_params.get("order", "").strip()
    if ref:
        try:
            # An internal id is what links carry; anything else is resolved like a reference.
            order_id = int(ref) if ref.isdigit() else resolve_order(db, ref)
            show_order(order_detail(db, order_id), order_allocations(db, order_id),
                       allocation_explanation(db, order_id))
        except DomainError as exc:
            st.warning(str(exc))
