"""Builders of realistic normalized records for tests (no HTTP, no sandbox)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.schemas import Address, ChannelFulfillment, ChannelLine, ChannelOrder, Page
from core.channels import add_channel, get_channel
from core.db import writing
from core.enums import ChannelKind, FinancialStatus, LocationKind
from core.errors import NotFound
from core.ingest import apply_page
from core.models import Channel, Location

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)  # a Monday
FIRST = ["Ada", "Grace", "Linus", "Mary", "Omar", "Priya", "Yuki", "Lars", "Chloe", "Mateo"]
LAST = ["Lovelace", "Hopper", "Nakamura", "Okafor", "Schmidt", "Dubois", "Rossi", "Silva", "Kowalski", "Byrne"]


def order_record(i: int, *, minutes_later: int = 0, **overrides) -> ChannelOrder:  # type: ignore[no-untyped-def]
    """The i-th order of a plausible shop; ``minutes_later`` makes a later update of the same order."""
    first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
    placed = T0 + timedelta(minutes=7 * i)
    fields = dict(
        external_id=str(5_600_000_000_000 + i), number=f"#{1001 + i}", financial_status=FinancialStatus.PAID,
        raw_financial_status="paid", placed_at=placed, updated_at=placed + timedelta(minutes=minutes_later),
        customer_name=f"{first} {last}", email=f"{first.lower()}.{last.lower()}{i}@example.com",
        phone=f"+1 415 555 {i % 10000:04d}",
        ship_to=Address(name=f"{first} {last}", address1=f"{i} Market St", city="San Francisco", region="CA",
                        postal_code="94103", country_code="US"),
        total=Decimal("48.00"), currency="USD",
        lines=(ChannelLine(external_id=f"{i}-1", sku="TEE-BLK-M", title="Tee black M", quantity=2,
                           unit_price=Decimal("24.00")),),
    )
    fields.update(overrides)
    return ChannelOrder(**fields)


def parcel(i: int, tracking: str, *, carrier: str = "UPS") -> ChannelFulfillment:
    return ChannelFulfillment(external_id=f"F{i}", carrier=carrier, tracking_number=tracking,
                              shipped_at=T0 + timedelta(minutes=7 * i, hours=5))


def make_location(session: Session, code: str = "NJ-WH", *, zones: tuple[str, ...] = ("US", "CA"),
                  country: str = "US", region: str | None = "NJ", priority: int = 10) -> Location:
    """A location (created once) that ships to ``zones``."""
    found = session.scalar(select(Location).where(Location.code == code))
    if found is not None:
        return found
    with writing(session):
        location = Location(code=code, name=code, kind=LocationKind.WAREHOUSE, country=country, region=region,
                            zones=list(zones), priority=priority, active=True)
        session.add(location)
    return location


def make_channel(session: Session, code: str = "test-shop", *, with_location: bool = True) -> Channel:
    """A Shopify channel; by default also a US warehouse, so the shop's US orders are in zone."""
    if with_location:
        make_location(session)
    try:
        return get_channel(session, code)
    except NotFound:
        return add_channel(session, code, kind=ChannelKind.SHOPIFY, base_url="http://127.0.0.1:9",
                           token_env="TEST_SHOP_TOKEN")


def ingest(session: Session, channel: Channel, records: list[ChannelOrder], cursor: str | None = None):  # type: ignore[no-untyped-def]
    return apply_page(session, channel, Page(records=tuple(records), cursor=cursor))
