"""Demo data: one account per role, the sandbox channel, and a few locations."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.auth import SYSTEM, add_user
from core.channels import add_channel
from core.db import writing
from core.enums import AmazonOrdersApi, ChannelKind, LocationKind, Role
from core.inventory import receive_stock
from core.models import Channel, InventoryLevel, Location, User


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    role: Role
    display_name: str


DEMO_ACCOUNTS = (
    DemoAccount("ops", "ops-demo-pass", Role.OPS_LEAD, "Olivia Ops (ops lead)"),
    DemoAccount("support", "support-demo-pass", Role.SUPPORT, "Sam Support"),
    DemoAccount("manager", "manager-demo-pass", Role.MANAGER, "Maya Manager"),
    DemoAccount("admin", "admin-demo-pass", Role.ADMIN, "Ada Admin"),
    DemoAccount("clerk", "clerk-demo-pass", Role.CLERK, "Carl Clerk (returns)"),
)

DEMO_LOCATIONS = (
    ("NJ-WH", "Newark warehouse", LocationKind.WAREHOUSE, "US", "NJ", "America/New_York", ["US", "CA"], 10),
    ("CA-WH", "Reno warehouse", LocationKind.WAREHOUSE, "US", "NV", "America/Los_Angeles", ["US", "CA"], 20),
    ("UK-3PL", "Midlands 3PL", LocationKind.THREE_PL, "GB", None, "Europe/London", ["GB"], 10),
    ("EU-WH", "Venlo warehouse", LocationKind.WAREHOUSE, "NL", None, "Europe/Amsterdam",
     ["NL", "DE", "FR", "BE", "AT", "IT", "ES", "GB"], 20),
    ("SYD-STORE", "Sydney store", LocationKind.STORE, "AU", "NSW", "Australia/Sydney", ["AU", "NZ"], 30),
)

SANDBOX_CHANNEL = "shop-sandbox"
SANDBOX_TOKEN_ENV = "OPSDESK_SANDBOX_SHOPIFY_TOKEN"
SANDBOX_WOO_KEY_ENV = "OPSDESK_SANDBOX_WC_KEY"  # the sandbox's consumer key; its secret is the sandbox token
# The sandbox seller's Login with Amazon client id and refresh token; the client secret is the sandbox token.
SANDBOX_LWA_ID_ENV, SANDBOX_LWA_REFRESH_ENV = "OPSDESK_SANDBOX_LWA_CLIENT_ID", "OPSDESK_SANDBOX_LWA_REFRESH_TOKEN"
SANDBOX_LWA_PATH = "/auth/o2/token"
_SANDBOX_POLICY = {"handling_days": 1, "cutoff": "14:00", "timezone": "America/New_York"}
# The other channel kinds, each selling from its own simulated shop in the same sandbox.
SANDBOX_CHANNELS = (
    ("graphql-sandbox", ChannelKind.SHOPIFY_GRAPHQL, "Sandbox Shopify (GraphQL)", SANDBOX_TOKEN_ENV, {}),
    ("woo-sandbox", ChannelKind.WOOCOMMERCE, "Sandbox WooCommerce store", f"{SANDBOX_WOO_KEY_ENV}:{SANDBOX_TOKEN_ENV}", {}),
    ("amazon-sandbox", ChannelKind.AMAZON, "Sandbox Amazon seller",
     f"{SANDBOX_LWA_ID_ENV}:{SANDBOX_TOKEN_ENV}:{SANDBOX_LWA_REFRESH_ENV}",  # tokens through Login with Amazon
     {"orders_api": AmazonOrdersApi.V2026.value,  # searchOrders: items and parcels in one call per 100 orders
      "marketplace_ids": ["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1F83G8C2ARO7P", "A1PA6795UKMFR9", "A13V1IB3VIYZZH",
                          "A1805IZSGTT6HS", "A39IBJ37TRP1C6"]}),
)


def seed_demo(session: Session, *, sandbox_url: str | None = None, all_kinds: bool = False) -> list[str]:
    """Create what is missing of the demo set; return what was created (idempotent).

    With ``all_kinds`` the sandbox also gets a Shopify GraphQL, a WooCommerce and an Amazon channel.
    """
    created = []
    existing = set(session.scalars(select(User.username)))
    for account in DEMO_ACCOUNTS:
        if account.username not in existing:
            add_user(session, account.username, account.password, account.role, display_name=account.display_name)
            created.append(f"user {account.username}")
    with writing(session):
        have = set(session.scalars(select(Location.code)))
        for code, name, kind, country, region, tz, zones, priority in DEMO_LOCATIONS:
            if code not in have:
                session.add(Location(code=code, name=name, kind=kind, country=country, region=region,
                                     timezone=tz, zones=zones, priority=priority, active=True))
                created.append(f"location {code}")
    if sandbox_url and session.scalar(select(Channel.id).where(Channel.code == SANDBOX_CHANNEL)) is None:
        add_channel(session, SANDBOX_CHANNEL, kind=ChannelKind.SHOPIFY, base_url=sandbox_url,
                    token_env=SANDBOX_TOKEN_ENV, name="Sandbox Shopify store", poll_interval_s=5,
                    sla_policy=dict(_SANDBOX_POLICY))
        created.append(f"channel {SANDBOX_CHANNEL}")
    if sandbox_url and all_kinds:
        have_codes = set(session.scalars(select(Channel.code)))
        for code, kind, name, token_env, settings in SANDBOX_CHANNELS:
            if code not in have_codes:
                if kind is ChannelKind.AMAZON:
                    settings = {**settings, "lwa_url": sandbox_url + SANDBOX_LWA_PATH}
                add_channel(session, code, kind=kind, base_url=sandbox_url, token_env=token_env, name=name,
                            settings=settings, poll_interval_s=5, sla_policy=dict(_SANDBOX_POLICY))
                created.append(f"channel {code}")
    return created


def seed_stock(session: Session, stock: dict[str, dict[str, int]]) -> int:
    """Receive opening stock (location code -> SKU -> units) through the ledger, where none exists yet."""
    have = {(code, sku) for code, sku in session.execute(
        select(Location.code, InventoryLevel.sku).join(InventoryLevel, InventoryLevel.location_id == Location.id))}
    received = 0
    for code, skus in stock.items():
        for sku, units in skus.items():
            if (code, sku) not in have and units > 0:
                receive_stock(session, code, sku, units, actor=SYSTEM, reference="opening stock")
                received += 1
    return received


DEMO_FLAG = "OPSDESK_DEMO"  # set to 1 to run the published demo accounts on a shared database on purpose


def published_accounts_in_use(session: Session) -> list[str]:
    """Active demo accounts that still have their published password (from the README), by username."""
    from core.auth import password_matches

    wanted = {a.username: a.password for a in DEMO_ACCOUNTS}
    users = session.scalars(select(User).where(User.username.in_(list(wanted)), User.active.is_(True))).all()
    return sorted(u.username for u in users if password_matches(u, wanted[u.username]))


def demo_accounts_refusal(backend: str, in_use: list[str], demo_flag: str | None) -> str | None:
    """Pure: why the app must not serve, or None. The published demo logins are fine on a local SQLite
    demo; on a shared database (anything else) they are an open door unless this is declared a demo."""
    if backend == "sqlite" or not in_use or (demo_flag or "").strip() == "1":
        return None
    return (f"This database still has the demo accounts with their published passwords ({', '.join(in_use)}). "
            f"Change their passwords or deactivate them (opsdesk user ...), or set {DEMO_FLAG}=1 if this "
            "server really is a demo. OpsDesk will not serve until then.")
