"""Small reads the Streamlit UI needs that the other core modules do not offer (yet)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.auth import Actor, actor_for
from core.enums import HoldCode, HoldState
from core.integrity import KINDS
from core.models import Hold, Location, User


def current_account(session: Session, user_id: int | None) -> tuple[Actor, str] | None:
    """The signed-in account as the store knows it now, with its display name.

    None when the account was removed or deactivated, so that (and a role or time-zone change)
    takes effect on the person's next click rather than at their next sign-in.
    """
    if user_id is None:
        return None
    user = session.get(User, user_id)
    if user is None or not user.active:
        return None
    return actor_for(user), user.display_name


def location_codes(session: Session) -> list[str]:
    """Every location's code, alphabetically: the inventory filters and stock forms offer these."""
    return list(session.scalars(select(Location.code).order_by(Location.code)))


ALERT_COLUMNS = ["hold_id", "opened_at", "kind", "problem", "location", "sku", "expected", "actual", "note"]


def open_stock_alerts(session: Session, *, limit: int = 500) -> pd.DataFrame:
    """Open STOCK_INTEGRITY alerts, newest first, with what ``core.integrity`` stored about each (and in words)."""
    rows = session.execute(
        select(Hold.id, Hold.opened_at, Hold.detail, Hold.note)
        .where(Hold.code == HoldCode.STOCK_INTEGRITY, Hold.state == HoldState.OPEN)
        .order_by(Hold.opened_at.desc(), Hold.id.desc()).limit(limit)
    ).all()
    return pd.DataFrame.from_records(
        [(hid, at, (d := detail or {}).get("kind", ""),
          KINDS.get(d.get("kind", ""), note or ""), d.get("location", ""), d.get("sku", ""),
          d.get("expected"), d.get("actual"), note) for hid, at, detail, note in rows],
        columns=ALERT_COLUMNS)
