"""The returns page's forms: each gathers input, calls one core verb in a button callback, and says what happened.

Callbacks run before the next script run, with the RMA version the form was showing (kept in
session state at render time), so an RMA someone else changed meanwhile is refused as stale.
Widget keys carry the RMA and line ids only, so typed input survives reruns and refusals.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import streamlit as st

from core import returns
from core.auth import Actor
from core.enums import Disposition, Grade, Permission, ReturnReason, ReturnStatus
from core.errors import DomainError, InvalidInput
from core.order_detail import resolve_order
from core.return_reads import active_locations, returnable_lines
from core.return_rules import RECEIVABLE, ReturnSettings
from ui import auth, format, returns_view
from ui.db import session_scope

FLASH, PICKED = "ret_flash", "ret_picked"


def show_flash() -> None:
    if said := st.session_state.pop(FLASH, None):
        (st.success if said[0] else st.error)(format.md_escape(said[1]))


def summary(head: dict[str, Any], tz: str) -> str:
    """Who opened the RMA and when, where it comes back to, and how far it got."""
    esc, when = format.md_escape, (lambda t: format.local_time(t, tz) if t else "-")
    parts = [f"Order **{esc(head['order'])}** · to **{esc(head['location'] or '-')}**",
             f"opened {when(head['created_at'])} by {esc(head['created_by'])}",
             f"received {when(head['received_at'])} · inspected {when(head['inspected_at'])} · closed "
             f"{when(head['closed_at'])}"]
    if head["tracking_number"]:
        parts.append(f"return tracking {esc(head['tracking_number'])}")
    if head["note"]:
        parts.append(f"note: {esc(head['note'])}")
    return "  \n".join(parts)


def _run(rid: int | None, call) -> None:  # type: ignore[no-untyped-def]
    """Button callback body: the signed-in actor (re-read), one core call, its sentence to the flash."""
    if (who := auth.current_actor()) is None:
        return
    try:
        with session_scope() as db:
            said = call(db, who, st.session_state.get(f"ret_version:{rid}"))
    except DomainError as exc:  # refused (permission, stale, over-received...): nothing changed, the input stays
        st.session_state[FLASH] = (False, str(exc))
    else:
        st.session_state[FLASH] = (True, said)


def _received(rid: int, line_ids: list[int]) -> None:
    def call(db, who, version):  # type: ignore[no-untyped-def]
        got = {lid: int(st.session_state.get(f"ret_recv:{rid}:{lid}") or 0) for lid in line_ids}
        rma = returns.receive_return(db, rid, version=version, received=got, actor=who,
                                     note=st.session_state.get(f"ret_recv_note:{rid}") or "")
        return f"{rma.number} received: {sum(got.values())} units. Grade them below."
    _run(rid, call)


def _inspected(rid: int, line_ids: list[int]) -> None:
    def call(db, who, version):  # type: ignore[no-untyped-def]
        state, verdicts = st.session_state, []
        for lid in line_ids:
            grade = state.get(f"ret_grade:{rid}:{lid}")
            if grade is None:
                raise InvalidInput("Choose a grade for every line that arrived.")
            verdicts.append(returns.LineInspection(lid, grade, state.get(f"ret_notes:{rid}:{lid}") or "",
                                                   state.get(f"ret_disp:{rid}:{lid}"),
                                                   state.get(f"ret_why:{rid}:{lid}") or ""))
        rma = returns.inspect_return(db, rid, version=version, verdicts=verdicts, actor=who)
        return f"{rma.number} inspected: {rma.status.label.lower()}."
    _run(rid, call)


def _in_transit(rid: int) -> None:
    def call(db, who, version):  # type: ignore[no-untyped-def]
        returns.mark_in_transit(db, rid, version=version, tracking_number=st.session_state.get(f"ret_track:{rid}")
                                or "", actor=who)
        return "Marked in transit."
    _run(rid, call)


def _refund(rid: int) -> None:
    def call(db, who, version):  # type: ignore[no-untyped-def]
        amount = st.session_state.get(f"ret_refund_amt:{rid}")
        returns.decide_refund(db, rid, version=version, line_id=st.session_state.get(f"ret_refund_line:{rid}"),
                              amount=Decimal(str(amount or 0)), actor=who,
                              note=st.session_state.get(f"ret_refund_note:{rid}") or "")
        return f"Refund recorded: {amount:.2f} (OpsDesk does not pay it out)."
    _run(rid, call)


def _override(rid: int) -> None:
    def call(db, who, version):  # type: ignore[no-untyped-def]
        state = st.session_state
        returns.override_disposition(db, rid, version=version, line_id=state.get(f"ret_over_line:{rid}"),
                                     disposition=state.get(f"ret_over_disp:{rid}"),
                                     reason=state.get(f"ret_over_why:{rid}") or "", actor=who)
        return "Disposition changed; the stock followed through the ledger."
    _run(rid, call)


def steps(actor: Actor, head: dict[str, Any], lines: pd.DataFrame) -> None:
    """The forms for the step this RMA is at, each enabled only for a role that may do it."""
    rid, status = head["id"], head["status"]
    st.session_state[f"ret_version:{rid}"] = head["version"]  # what this screen shows: a later change is stale
    sku = dict(zip(lines["line_id"], lines["sku"], strict=True))
    if status in RECEIVABLE:
        with st.form(f"ret_receive:{rid}", enter_to_submit=False):
            st.markdown("**Receive** - units that arrived per line; fewer than authorised are recorded missing")
            cells = st.columns(max(1, min(len(lines), 4)))
            for i, (lid, auth_qty) in enumerate(zip(lines["line_id"], lines["qty_authorised"], strict=True)):
                st.session_state.setdefault(f"ret_recv:{rid}:{lid}", int(auth_qty))
                cells[i % 4].number_input(f"{sku[lid]} (authorised {auth_qty})", min_value=0, step=1,
                                          key=f"ret_recv:{rid}:{lid}")
            st.text_input("Receiving note", key=f"ret_recv_note:{rid}")
            st.form_submit_button("Receive", type="primary", on_click=_received, args=(rid, list(sku)),
                                  disabled=not actor.can(Permission.RECEIVE_RETURN))
    if status is ReturnStatus.REQUESTED and actor.can(Permission.AUTHORISE_RETURN):
        with st.form(f"ret_transit:{rid}", enter_to_submit=False):
            st.text_input("Return tracking number", key=f"ret_track:{rid}")
            st.form_submit_button("Mark in transit", on_click=_in_transit, args=(rid,))
    if status is ReturnStatus.RECEIVED:
        arrived = [int(i) for i, q in zip(lines["line_id"], lines["qty_received"], strict=True) if q]
        with st.form(f"ret_inspect:{rid}", enter_to_submit=False):
            st.markdown("**Inspect** - a grade per line proposes what happens to the units")
            st.caption(returns_view.GRADE_HELP + " Lines where nothing arrived are graded missing.")
            may_override = actor.can(Permission.OVERRIDE_DISPOSITION)
            for lid in arrived:
                cells = st.columns([2, 3, 2, 3] if may_override else [2, 3])
                cells[0].selectbox(f"Grade {sku[lid]}", list(Grade), index=None, key=f"ret_grade:{rid}:{lid}",
                                   format_func=lambda g: g.label, placeholder="Choose a grade")
                cells[1].text_input(f"Notes {sku[lid]}", key=f"ret_notes:{rid}:{lid}")
                if may_override:
                    cells[2].selectbox(f"Disposition {sku[lid]}", returns_view.DISPOSITION_CHOICES,
                                       format_func=returns_view.disposition_label, key=f"ret_disp:{rid}:{lid}")
                    cells[3].text_input(f"Why another disposition ({sku[lid]})", key=f"ret_why:{rid}:{lid}")
            st.form_submit_button("Save inspection", type="primary", on_click=_inspected, args=(rid, arrived),
                                  disabled=not actor.can(Permission.INSPECT_RETURN))
    if status in (ReturnStatus.INSPECTED, ReturnStatus.CLOSED):
        _decisions(actor, rid, lines, sku)


def _decisions(actor: Actor, rid: int, lines: pd.DataFrame, sku: dict[int, str]) -> None:
    """The ops lead's refund decision and disposition override on an inspected RMA."""
    pending = returns_view.pending_refunds(lines)
    if pending:
        st.info(f"Refund to decide for {', '.join(sku[i] for i in pending)} (grade C or D).")
    if not (actor.can(Permission.DECIDE_REFUND) or actor.can(Permission.OVERRIDE_DISPOSITION)):
        return  # the clerk and the manager read the decisions in the table above
    refund, override = st.columns(2)
    with refund.form(f"ret_refund:{rid}", enter_to_submit=False):
        st.markdown("**Refund decision**")
        st.selectbox("Line", list(sku), format_func=sku.get, key=f"ret_refund_line:{rid}",
                      index=list(sku).index(pending[0]) if pending else 0)
        st.number_input("Refund amount", min_value=0.0, step=1.0, format="%.2f", key=f"ret_refund_amt:{rid}")
        st.text_input("Why", key=f"ret_refund_note:{rid}")
        st.form_submit_button("Record refund", on_click=_refund, args=(rid,),
                              disabled=not actor.can(Permission.DECIDE_REFUND))
    with override.form(f"ret_override:{rid}", enter_to_submit=False):
        st.markdown("**Override disposition**")
        st.selectbox("Line", list(sku), format_func=sku.get, key=f"ret_over_line:{rid}")
        st.selectbox("New disposition", list(Disposition), format_func=lambda d: d.label, key=f"ret_over_disp:{rid}")
        st.text_input("Reason", key=f"ret_over_why:{rid}")
        st.form_submit_button("Override", on_click=_override, args=(rid,),
                              disabled=not actor.can(Permission.OVERRIDE_DISPOSITION))


def _authorised(order_id: int, line_ids: list[int]) -> None:
    def call(db, who, _version):  # type: ignore[no-untyped-def]
        state = st.session_state
        wanted = [returns.LineRequest(lid, int(state.get(f"ret_auth_qty:{order_id}:{lid}") or 0),
                                      state.get(f"ret_auth_reason:{order_id}:{lid}")) for lid in line_ids]
        rma = returns.authorise_return(db, order_id, wanted, actor=who, note=state.get(f"ret_auth_note:{order_id}") or "",
                                       location_id=state.get(f"ret_auth_loc:{order_id}"),
                                       tracking_number=state.get(f"ret_auth_track:{order_id}") or None)
        state[PICKED] = rma.id
        return f"{rma.number} authorised: {rma.status.label.lower()}."
    _run(None, call)


def authorise_panel(actor: Actor, order_param: str | None) -> None:
    """Support and ops leads open an RMA from an order's shipped lines."""
    with st.expander("Authorise a return (RMA)", expanded=bool(order_param)):
        if order_param and "ret_auth_order" not in st.session_state:
            st.session_state["ret_auth_order"] = f"id:{order_param}" if order_param.isdigit() else order_param
        ref = st.text_input("Order", key="ret_auth_order", placeholder="Order number or channel order id")
        if not ref.strip():
            return
        try:
            with session_scope() as db:
                order, lines = returnable_lines(db, resolve_order(db, ref))
                settings, places = returns.return_settings(db), active_locations(db)
        except DomainError as exc:
            st.error(format.md_escape(str(exc)))
            return
        oid = order["id"]
        st.caption(f"Order {format.md_escape(order['number'])} ({order['status'].lower()}): at most shipped minus "
                   "what is already on RMAs comes back.")
        with st.form(f"ret_authorise:{oid}", enter_to_submit=False):
            for row in lines.itertuples():
                qty, why = st.columns([1, 2])
                qty.number_input(f"{row.sku} - {row.returnable} returnable", min_value=0,
                                 max_value=int(row.returnable), step=1, key=f"ret_auth_qty:{oid}:{row.order_line_id}")
                why.selectbox(f"Reason ({row.sku})", list(settings.reasons), format_func=lambda r: r.label,
                              key=f"ret_auth_reason:{oid}:{row.order_line_id}")
            ids = [i for i, _ in places]
            st.selectbox("Receive at", ids, format_func=dict(places).get, key=f"ret_auth_loc:{oid}",
                         index=ids.index(order["location_id"]) if order["location_id"] in ids else 0)
            st.text_input("Note", key=f"ret_auth_note:{oid}")
            st.text_input("Return tracking number (if the parcel is already on its way)", key=f"ret_auth_track:{oid}")
            st.form_submit_button("Authorise", type="primary", on_click=_authorised,
                                  args=(oid, lines["order_line_id"].tolist()),
                                  disabled=not actor.can(Permission.AUTHORISE_RETURN))


def _saved() -> None:
    def call(db, who, _version):  # type: ignore[no-untyped-def]
        state = st.session_state
        changed = returns.save_return_settings(db, ReturnSettings(
            reasons=tuple(state.get("ret_set_reasons") or ()), restocking_fee_pct=Decimal(str(state["ret_set_fee"])),
            open_box_sellable=bool(state.get("ret_set_open_box"))), actor=who)
        return "Returns settings saved." if changed else "Nothing changed."
    _run(None, call)


def settings_panel(actor: Actor) -> None:
    """Admin: the reasons offered, the restocking fee on changed-mind returns, open-box selling."""
    with session_scope() as db:
        now = returns.return_settings(db)
    with st.expander("Returns settings (admin)"), st.form("ret_settings", enter_to_submit=False):
        st.multiselect("Reasons offered", list(ReturnReason), default=list(now.reasons), format_func=lambda r: r.label,
                       key="ret_set_reasons")
        st.number_input("Restocking fee on changed-mind returns (%)", min_value=0.0, max_value=100.0,
                        value=float(now.restocking_fee_pct), step=0.5, key="ret_set_fee")
        st.toggle("New orders may ship open-box (grade B) units", value=now.open_box_sellable, key="ret_set_open_box")
        st.form_submit_button("Save settings", on_click=_saved, disabled=not actor.can(Permission.MANAGE_SETTINGS))
