"""Sales channels: added by an admin, secrets referenced by environment-variable name only."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.auth import SYSTEM, Actor
from core.db import writing
from core.enums import AmazonOrdersApi, ChannelKind, Permission
from core.errors import InvalidInput, NotFound
from core.events import record_event
from core.models import Channel, ConnectorRun, Order, SyncCursor

_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
# One variable NAME, or several joined by ":" for kinds with more than one secret (WooCommerce KEY_VAR:SECRET_VAR).
_ENV = re.compile(r"^[A-Z_][A-Z0-9_]*(?::[A-Z_][A-Z0-9_]*)*$")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
# What each kind's variables hold, in order; one tuple per accepted form. Core may not import the
# connectors (httpx), so this mirrors their SECRETS / SECRET_SHAPES, and a unit test keeps the two in step.
CREDENTIALS: dict[ChannelKind, tuple[tuple[str, ...], ...]] = {
    ChannelKind.SHOPIFY: (("access token",),),
    ChannelKind.SHOPIFY_GRAPHQL: (("access token",),),
    ChannelKind.WOOCOMMERCE: (("consumer key", "consumer secret"),),
    ChannelKind.AMAZON: (("access token",), ("LWA client id", "LWA client secret", "LWA refresh token")),
}


def check_token_env(kind: ChannelKind, token_env: str | None) -> None:
    """Refuse a variable list the connector could not read, naming the forms the kind takes.

    The CLI and the Channels page call it on what an admin typed. add_channel does not: scripted
    callers (the benchmark's never-polled channels) name one placeholder variable for any kind.
    """
    shapes = CREDENTIALS.get(kind, ())
    if token_env is None or not shapes:
        return
    if not _ENV.match(token_env):  # perhaps a pasted secret: refuse it without repeating it
        raise InvalidInput("The token takes the NAME of an environment variable (e.g. SHOP_TOKEN), not the secret.")
    count = len(token_env.split(":"))
    if any(count == len(shape) for shape in shapes):
        return
    ways = " or ".join(":".join(w.upper().replace(" ", "_") + "_VAR" for w in shape) + f" ({', '.join(shape)})"
                       for shape in shapes)
    raise InvalidInput(f"{kind.label} channels name {ways}; {token_env} names {count} variable"
                       f"{'s' if count != 1 else ''}.")


def _check_settings(kind: ChannelKind, settings: dict[str, Any]) -> None:
    """Refuse settings the connector would refuse later, while the admin is still at the form."""
    api = settings.get("orders_api")
    if api is not None and kind is not ChannelKind.AMAZON:
        raise InvalidInput("Only an Amazon channel takes an Orders API version.")
    if api is not None and (not isinstance(api, str) or api not in [v.value for v in AmazonOrdersApi]):
        raise InvalidInput(f"The Amazon Orders API is {' or '.join(AmazonOrdersApi)}, not {str(api)[:20]!r}.")
    lwa_url = settings.get("lwa_url")
    if lwa_url is None:
        return
    if kind is not ChannelKind.AMAZON:
        raise InvalidInput("Only an Amazon channel takes a Login with Amazon token URL.")
    parts = urlsplit(str(lwa_url))
    # The token request carries the LWA client secret and refresh token: never in clear text over a network.
    if not parts.hostname or not (parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)):
        raise InvalidInput("The Login with Amazon token URL must be https:// (plain http only to 127.0.0.1), "
                           "e.g. https://api.amazon.com/auth/o2/token.")


def add_channel(
    session: Session, code: str, *, kind: ChannelKind, base_url: str, token_env: str | None,
    name: str | None = None, settings: dict[str, Any] | None = None, sla_policy: dict[str, Any] | None = None,
    poll_interval_s: int = 15, actor: Actor = SYSTEM,
) -> Channel:
    """Register a channel. ``token_env`` names the environment variable holding its secret."""
    actor.require(Permission.MANAGE_CHANNELS)
    if not _CODE.match(code):
        raise InvalidInput("A channel code is 1-40 lower-case letters, digits, '-' or '_'.")
    if not base_url.startswith(("http://", "https://")):
        raise InvalidInput("The base URL must start with http:// or https://.")
    if token_env is not None and not _ENV.match(token_env):
        raise InvalidInput("--token-env takes the NAME of an environment variable (e.g. SHOP_TOKEN), "
                           "not the secret itself.")
    if kind is ChannelKind.AMAZON:  # new Amazon channels poll Orders v2026-01-01 unless told otherwise
        settings = {"orders_api": AmazonOrdersApi.V2026.value, **(settings or {})}
    _check_settings(kind, settings or {})
    with writing(session):
        if session.scalar(select(Channel.id).where(Channel.code == code)) is not None:
            raise InvalidInput(f"Channel {code} already exists.")
        channel = Channel(code=code, name=name or code, kind=kind, base_url=base_url.rstrip("/"),
                          credentials_env=token_env, settings=settings or {}, sla_policy=sla_policy or {},
                          poll_interval_s=poll_interval_s, enabled=True)
        session.add(channel)
        session.flush()
        record_event(session, None, "channel_added", actor, subject="channel",
                     detail={"code": code, "kind": kind.value, "base_url": base_url, "token_env": token_env,
                             "name": channel.name, "poll_interval_s": poll_interval_s,
                             **({"settings": settings} if settings else {})})
    return channel


def update_channel(session: Session, channel_id: int, *, actor: Actor, name: str, base_url: str,
                   token_env: str | None, poll_interval_s: int, settings: dict[str, Any] | None = None) -> list[str]:
    """Change a channel's name, address, secret's variable name, poll interval or settings (admin); returns what changed.

    The secret itself is never taken: only the name of the environment variable holding it.
    ``settings`` are merged into the stored ones; a key given as None or "" is removed.
    """
    actor.require(Permission.MANAGE_CHANNELS)
    base_url = base_url.strip().rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise InvalidInput("The base URL must start with http:// or https://.")
    token_env = (token_env or "").strip() or None
    if token_env is not None and not _ENV.match(token_env):
        raise InvalidInput("The token takes the NAME of an environment variable (e.g. SHOP_TOKEN), not the secret.")
    if not 5 <= poll_interval_s <= 86_400:
        raise InvalidInput("Poll interval: 5 seconds to 1 day.")
    with writing(session):
        channel = session.get(Channel, channel_id, populate_existing=True, with_for_update=True)
        if channel is None:
            raise NotFound(f"No channel with id {channel_id}.")
        wanted = {"name": name.strip() or channel.code, "base_url": base_url, "credentials_env": token_env,
                  "poll_interval_s": int(poll_interval_s)}
        before = dict(channel.settings or {})
        after = {k: v for k, v in {**before, **(settings or {})}.items() if v is not None and v != ""}
        _check_settings(channel.kind, after)
        changes = {k: {"before": getattr(channel, k), "after": v} for k, v in wanted.items() if getattr(channel, k) != v}
        for key in changes:
            setattr(channel, key, wanted[key])
        # One change line per setting, so the event says which one moved (a whole dict would hide it).
        changes |= {f"settings.{k}": {"before": before.get(k), "after": after.get(k)}
                    for k in sorted(before.keys() | after.keys()) if before.get(k) != after.get(k)}
        if after != before:
            channel.settings = after
        if changes:
            record_event(session, None, "channel_changed", actor, subject="channel",
                         detail={"code": channel.code, **changes})
    return [f"{k}: {c['before']} -> {c['after']}" for k, c in changes.items()]


def get_channel(session: Session, code: str) -> Channel:
    channel = session.scalar(select(Channel).where(Channel.code == code))
    if channel is None:
        known = ", ".join(session.scalars(select(Channel.code).order_by(Channel.code))) or "none yet"
        raise NotFound(f"No channel {code!r} (known: {known}).")
    return channel


def get_channel_by_id(session: Session, channel_id: int) -> Channel:
    channel = session.get(Channel, channel_id, populate_existing=True)
    if channel is None:
        raise NotFound(f"No channel with id {channel_id}.")
    return channel


def enabled_channels(session: Session) -> list[Channel]:
    return list(session.scalars(select(Channel).where(Channel.enabled.is_(True)).order_by(Channel.code)))


def all_channels(session: Session) -> list[tuple[int, str]]:
    """(id, code) of every channel, for filters."""
    return [(cid, code) for cid, code in session.execute(select(Channel.id, Channel.code).order_by(Channel.code))]


def _api_of(kind: ChannelKind, settings: dict[str, Any] | None) -> str:
    """The API version a channel polls, where its kind has more than one (Amazon's Orders API)."""
    if kind is not ChannelKind.AMAZON:
        return ""
    return f"Orders {(settings or {}).get('orders_api') or AmazonOrdersApi.V0.value}"


def channel_table(session: Session) -> pd.DataFrame:
    """Channels with their order count, cursor and last run - never the secret."""
    orders = select(Order.channel_id, func.count().label("orders")).group_by(Order.channel_id).subquery()
    last_run = (
        select(ConnectorRun.channel_id, func.max(ConnectorRun.started_at).label("last_run"))
        .group_by(ConnectorRun.channel_id).subquery()
    )
    rows = session.execute(
        select(Channel.code, Channel.name, Channel.kind, Channel.base_url, Channel.credentials_env, Channel.settings,
               Channel.enabled, func.coalesce(orders.c.orders, 0), SyncCursor.value, last_run.c.last_run)
        .outerjoin(orders, orders.c.channel_id == Channel.id)
        .outerjoin(last_run, last_run.c.channel_id == Channel.id)
        .outerjoin(SyncCursor, (SyncCursor.channel_id == Channel.id) & (SyncCursor.stream == "orders"))
        .order_by(Channel.code)
    ).all()
    return pd.DataFrame.from_records(
        [(c, n, k.value, _api_of(k, s), u, e, en, o, cur, lr) for c, n, k, u, e, s, en, o, cur, lr in rows],
        columns=["code", "name", "kind", "api", "base_url", "token_env", "enabled", "orders", "cursor", "last_run"],
    )
