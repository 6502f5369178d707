"""Carrier accounts (admin): which tracking API follows which parcels. Secrets only by variable name.

Which account tracks a parcel: the enabled account whose ``carriers`` list names the
shipment's carrier (case-insensitive, e.g. "UPS"); a parcel no enabled account names goes to
the enabled catch-all account (``["*"]``), if there is one. A carrier name belongs to at most
one enabled account, and there is at most one enabled catch-all, so no parcel is polled twice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.auth import SYSTEM, Actor
from core.db import writing
from core.enums import CarrierKind, Permission
from core.errors import InvalidInput, NotFound
from core.events import record_event
from core.models import CarrierAccount, ConnectorRun

_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_ENV = re.compile(r"^[A-Z_][A-Z0-9_]*$")
CATCH_ALL = "*"


def parse_carriers(text: str | Sequence[str] | None) -> list[str]:
    """'UPS, USPS' -> ['UPS', 'USPS']; empty means every parcel ('*')."""
    items = text.split(",") if isinstance(text, str) else list(text or [])
    names = []
    for item in items:
        name = " ".join(str(item).split())
        if name and name.lower() not in {n.lower() for n in names}:
            names.append(name[:60])
    return names or [CATCH_ALL]


def _check(code: str | None, base_url: str, token_env: str | None, poll_interval_s: int) -> None:
    if code is not None and not _CODE.match(code):
        raise InvalidInput("A carrier account code is 1-40 lower-case letters, digits, '-' or '_'.")
    if not base_url.startswith(("http://", "https://")):
        raise InvalidInput("The base URL must start with http:// or https://.")
    if token_env is not None and not _ENV.match(token_env):
        raise InvalidInput("--token-env takes the NAME of an environment variable (e.g. EASYPOST_API_KEY), "
                           "not the secret itself.")
    if not 10 <= poll_interval_s <= 86_400:
        raise InvalidInput("Poll interval: 10 seconds to 1 day.")


def _check_overlap(session: Session, carriers: list[str], *, except_id: int | None) -> None:
    """Refuse a carrier name (or a second catch-all) that another enabled account already tracks."""
    wanted = {c.lower() for c in carriers}
    for other in session.scalars(select(CarrierAccount).where(CarrierAccount.enabled.is_(True))):
        if other.id == except_id:
            continue
        clash = sorted(wanted & {c.lower() for c in other.carriers or []})
        if clash:
            what = "every other parcel" if clash == [CATCH_ALL] else ", ".join(clash)
            raise InvalidInput(f"{other.code} already tracks {what}: a parcel is followed by one account only.")


def add_carrier_account(
    session: Session, code: str, *, kind: CarrierKind, base_url: str, token_env: str | None,
    carriers: str | Sequence[str] | None = None, name: str | None = None, settings: dict[str, Any] | None = None,
    poll_interval_s: int = 300, actor: Actor = SYSTEM,
) -> CarrierAccount:
    """Register a carrier account. ``token_env`` names the environment variable holding its API key."""
    actor.require(Permission.MANAGE_CHANNELS)
    code, base_url = code.strip(), base_url.strip().rstrip("/")
    token_env = (token_env or "").strip() or None
    _check(code, base_url, token_env, poll_interval_s)
    names = parse_carriers(carriers)
    with writing(session):
        if session.scalar(select(CarrierAccount.id).where(CarrierAccount.code == code)) is not None:
            raise InvalidInput(f"Carrier account {code} already exists.")
        _check_overlap(session, names, except_id=None)
        account = CarrierAccount(code=code, name=(name or "").strip() or code, kind=CarrierKind(kind),
                                 base_url=base_url, credentials_env=token_env, carriers=names,
                                 settings=settings or {}, poll_interval_s=poll_interval_s, enabled=True)
        session.add(account)
        session.flush()
        record_event(session, None, "carrier_added", actor, subject="carrier", detail={
            "code": code, "kind": account.kind.value, "base_url": base_url, "token_env": token_env,
            "carriers": names})
    return account


def update_carrier_account(
    session: Session, account_id: int, *, actor: Actor, name: str, base_url: str, token_env: str | None,
    carriers: str | Sequence[str] | None, poll_interval_s: int, enabled: bool,
) -> list[str]:
    """Change a carrier account (admin); returns what changed, each as 'field: before -> after'."""
    actor.require(Permission.MANAGE_CHANNELS)
    base_url = base_url.strip().rstrip("/")
    token_env = (token_env or "").strip() or None
    _check(None, base_url, token_env, poll_interval_s)
    names = parse_carriers(carriers)
    with writing(session):
        account = session.get(CarrierAccount, account_id, populate_existing=True, with_for_update=True)
        if account is None:
            raise NotFound(f"No carrier account with id {account_id}.")
        if enabled:
            _check_overlap(session, names, except_id=account.id)
        wanted = {"name": name.strip() or account.code, "base_url": base_url, "credentials_env": token_env,
                  "carriers": names, "poll_interval_s": int(poll_interval_s), "enabled": bool(enabled)}
        changes = {k: {"before": getattr(account, k), "after": v} for k, v in wanted.items() if getattr(account, k) != v}
        for key in changes:
            setattr(account, key, wanted[key])
        if changes:
            record_event(session, None, "carrier_changed", actor, subject="carrier",
                         detail={"code": account.code, **changes})
    return [f"{k}: {c['before']} -> {c['after']}" for k, c in changes.items()]


def get_carrier_account(session: Session, code: str) -> CarrierAccount:
    account = session.scalar(select(CarrierAccount).where(CarrierAccount.code == code))
    if account is None:
        known = ", ".join(session.scalars(select(CarrierAccount.code).order_by(CarrierAccount.code))) or "none yet"
        raise NotFound(f"No carrier account {code!r} (known: {known}).")
    return account


def enabled_carrier_accounts(session: Session) -> list[CarrierAccount]:
    return list(session.scalars(select(CarrierAccount).where(CarrierAccount.enabled.is_(True))
                                .order_by(CarrierAccount.code)))


def carrier_names_of(session: Session, account: CarrierAccount) -> tuple[list[str] | None, list[str]]:
    """(names this account tracks, or None for the catch-all; names the catch-all must leave alone), lower case."""
    own = [c.lower() for c in account.carriers or [CATCH_ALL]]
    if CATCH_ALL not in own:
        return own, []
    others = [c.lower() for a in enabled_carrier_accounts(session) if a.id != account.id
              for c in a.carriers or [] if c != CATCH_ALL]
    return None, others


def carrier_table(session: Session) -> pd.DataFrame:
    """Carrier accounts with what they track and their last poll - never the secret."""
    last_run = (select(ConnectorRun.carrier_account_id, func.max(ConnectorRun.started_at).label("last_run"))
                .where(ConnectorRun.carrier_account_id.is_not(None)).group_by(ConnectorRun.carrier_account_id)
                .subquery())
    rows = session.execute(
        select(CarrierAccount.code, CarrierAccount.name, CarrierAccount.kind, CarrierAccount.base_url,
               CarrierAccount.credentials_env, CarrierAccount.carriers, CarrierAccount.poll_interval_s,
               CarrierAccount.enabled, last_run.c.last_run)
        .outerjoin(last_run, last_run.c.carrier_account_id == CarrierAccount.id).order_by(CarrierAccount.code)
    ).all()
    return pd.DataFrame.from_records(
        [(c, n, k.value, u, e, ", ".join(cs or [CATCH_ALL]), i, en, lr) for c, n, k, u, e, cs, i, en, lr in rows],
        columns=["code", "name", "kind", "base_url", "token_env", "carriers", "poll_interval_s", "enabled",
                 "last_run"])
