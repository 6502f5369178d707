"""OpsDesk UI entry point: page config, the database check, the login gate and role-based navigation.

Run with ``streamlit run app.py``. Pages live in ``pages/`` and are registered here only for
roles that may see them, so another role's page cannot be reached by URL either.
"""

from __future__ import annotations

import streamlit as st

from ui import auth, db, nav

st.set_page_config(page_title="OpsDesk", page_icon=":material/local_shipping:", layout="wide")

problem = db.unreachable_reason()
if problem:
    st.error(f"The database is not reachable: {problem}")
    st.stop()
if refusal := db.demo_accounts_problem():
    st.error(refusal)
    st.stop()

actor = auth.current_actor()
if actor is None:
    # Only the sign-in form is registered (at every address): no URL reaches a pages/ script.
    st.navigation(nav.gate_pages(auth.login_page), position="hidden").run()
    st.stop()

pages = nav.navigation_pages(actor)
auth.sidebar(actor)
if not pages:
    st.navigation([st.Page(auth.no_screens, title="OpsDesk", url_path="home")], position="hidden").run()
    st.stop()

page = st.navigation(pages, position="sidebar", expanded=True)  # every screen listed, none behind "View more"
with db.session_scope():
    page.run()
