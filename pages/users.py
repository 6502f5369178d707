"""Users (admin): every account, adding one, changing a role, time zone or access, resetting a password."""

from __future__ import annotations

import streamlit as st

from core.auth import add_user
from core.enums import Permission, Role
from core.errors import DomainError
from core.users import reset_password, update_user, user_table
from ui import auth, flash, format
from ui.db import session_scope

actor = auth.require(Permission.MANAGE_USERS)

st.title("Users")
flash.show()


with session_scope() as db:
    users = user_table(db)
shown = users.drop(columns=["id"]).assign(
    created_at=[format.local_time(v, actor.timezone) for v in users["created_at"]]).rename(columns={
        "username": "Username", "name": "Name", "role": "Role", "timezone": "Time zone", "active": "Active",
        "failed_logins": "Failed sign-ins", "created_at": f"Created ({format.zone_label(actor.timezone)})"})
st.dataframe(shown, hide_index=True)
st.download_button("Download CSV", format.csv_bytes(shown), file_name="users.csv", mime="text/csv")

roles = list(Role)
add, change, reset = st.tabs(["Add a user", "Change a user", "Reset a password"])
with add, st.form("add_user", clear_on_submit=True):
    username = st.text_input("Username")
    name = st.text_input("Name shown on the desk")
    role = st.selectbox("Role", roles, format_func=lambda r: r.label, key="add_role")
    zone = st.selectbox("Time zone", format.COMMON_ZONES, key="add_zone")
    password = st.text_input("First password (at least 8 characters; tell it to them yourself)", type="password")
    if st.form_submit_button("Add user", type="primary"):
        try:
            with session_scope() as db:
                add_user(db, username, password, role, display_name=name or None, timezone=zone, actor=actor)
        except DomainError as exc:
            st.error(format.md_escape(str(exc)))
        else:
            flash.rerun_with(f"Added {username.strip().lower()} ({role.label}).")

labels = dict(zip(users["id"], users["username"], strict=True))
with change:
    picked = st.selectbox("User", list(labels), format_func=labels.__getitem__, key="change_user")
    current = users.set_index("id").loc[picked]
    with st.form(f"change_{picked}"):
        new_role = st.selectbox("Role", roles, index=[r.label for r in roles].index(current["role"]),
                                format_func=lambda r: r.label)
        new_zone = st.selectbox("Time zone", *format.zone_choices(current["timezone"]))
        new_name = st.text_input("Name shown on the desk", value=current["name"])
        new_active = st.checkbox("May sign in", value=bool(current["active"]))
        if st.form_submit_button("Save changes"):
            try:
                with session_scope() as db:
                    changed = update_user(db, int(picked), actor=actor, role=new_role, timezone=new_zone,
                                          active=new_active, display_name=new_name.strip() or None)
            except DomainError as exc:
                st.error(format.md_escape(str(exc)))
            else:
                flash.rerun_with(f"{labels[picked]}: " + ("; ".join(changed) if changed else "nothing changed") + ".")

with reset:
    who = st.selectbox("User", list(labels), format_func=labels.__getitem__, key="reset_user")
    with st.form("reset_password", clear_on_submit=True):
        fresh = st.text_input("New password (at least 8 characters)", type="password")
        if st.form_submit_button("Reset password"):
            try:
                with session_scope() as db:
                    reset_password(db, int(who), fresh, actor=actor)
            except DomainError as exc:
                st.error(format.md_escape(str(exc)))
            else:
                flash.rerun_with(f"New password set for {labels[who]}.")
