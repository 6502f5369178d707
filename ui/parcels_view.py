"""The order page's parcels: each parcel's journey (carrier scans with place and local time) and the
ops lead's form to mark reserved allocations shipped."""

from __future__ import annotations

import streamlit as st

from core.auth import Actor
from core.enums import OrderStatus, Permission
from core.errors import DomainError
from core.shipping import SHIPPABLE, ship_allocations, shippable_allocations
from core.tracking import parcel_journeys
from ui import flash, format
from ui.db import session_scope
from ui.format import md_escape


def show_journey(order_id: int, tz: str | None) -> None:
    """Every carrier scan of the order's parcels, parcel by parcel, oldest first."""
    with session_scope() as db:
        scans = parcel_journeys(db, order_id)
    st.markdown("**Parcel journey**")
    if scans.empty:
        st.caption("No carrier scans yet.")
        return
    when = f"When ({format.zone_label(tz)})"
    for (_sid, carrier, number), rows in scans.groupby(["shipment_id", "carrier", "tracking_number"], sort=False):
        st.markdown(f"{md_escape(carrier)} `{md_escape(number)}`")
        st.dataframe([{when: format.local_time(r.occurred_at, tz), "Status": r.status, "Where": r.place or "",
                       "What the carrier said": r.description} for r in rows.itertuples()], hide_index=True)


def ship_form(order: dict, actor: Actor) -> None:  # type: ignore[type-arg]
    """Mark reserved allocations shipped (ops lead): carrier, service, tracking number; refused if stale."""
    flash.show()
    if not actor.can(Permission.SHIP_ORDER) or OrderStatus(order["status"]) not in SHIPPABLE:
        return
    with session_scope() as db:
        parts = shippable_allocations(db, order["id"])
    if parts.empty:
        return
    labels = {int(r.allocation_id): f"{r.quantity} x {r.sku} from {r.location}" for r in parts.itertuples()}
    with st.form(f"ship_{order['id']}"):
        st.markdown("**Mark shipped**")
        picked = st.multiselect("Allocations in this parcel", list(labels), default=list(labels),
                                format_func=labels.__getitem__)
        left, middle, right = st.columns(3)
        carrier = left.text_input("Carrier", placeholder="e.g. UPS")
        service = middle.text_input("Service", placeholder="e.g. Ground")
        tracking = right.text_input("Tracking number")
        if st.form_submit_button("Mark shipped", type="primary"):
            try:
                with session_scope() as db:
                    done = ship_allocations(db, order["id"], order_version=order["version"], allocation_ids=picked,
                                            carrier=carrier, service=service, tracking_number=tracking, actor=actor)
            except DomainError as exc:
                st.error(md_escape(str(exc)))
            else:
                flash.rerun_with(f"Order {done.order_number}: {done.units} units shipped from {done.location} with "
                                 f"{carrier.strip()} {tracking.strip()}; the order is {done.order_status.label.lower()}.")
