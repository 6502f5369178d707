"""What an action said, kept across ``st.rerun()`` and shown where the page calls ``show()`` on its next run."""

from __future__ import annotations

from typing import NoReturn

import streamlit as st

from ui.format import md_escape

_KEY = "opsdesk_flash"


def rerun_with(message: str, *, ok: bool = True, markdown: bool = False) -> NoReturn:
    """Rerun the page and show ``message`` there (escaped, unless it is trusted ``markdown``)."""
    st.session_state[_KEY] = (ok, message if markdown else md_escape(message))
    st.rerun()


def show() -> None:
    """Show (once) what the last action said: green when it worked, red when it was refused."""
    said = st.session_state.pop(_KEY, None)
    if said:
        (st.success if said[0] else st.error)(said[1])
