"""The normalized records that cross from connectors to core - defined here, once.

Connectors build these from each channel's own wire format; core ingests them. Only
``core.enums`` (a leaf module) is imported, so the statuses stay defined once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from core.enums import FinancialStatus, OrderStatus, TrackingStatus

# Times a record may carry: enough for any real order or scan, far from the edges of datetime.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any, info: ValidationInfo) -> Any:
        # NUL has no meaning in any field and PostgreSQL refuses it in text: a hostile "a\x00b" would
        # otherwise fail the whole page at the store. A rejection's raw payload is kept as sent.
        if info.field_name == "raw":
            return value
        return _without_nul(value)

    @field_validator("*", mode="after")
    @classmethod
    def _time_in_range(cls, value: Any) -> Any:
        # Core adds days to these (ship-by, SLA windows): a year-9999 time would overflow there, mid-page.
        if isinstance(value, datetime) and not EARLIEST <= value <= LATEST:
            raise ValueError(f"{value.isoformat()} is outside {EARLIEST.year}-{LATEST.year}")
        return value


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list | tuple):
        return type(value)(_without_nul(v) for v in value)
    if isinstance(value, dict) and any(isinstance(k, str) and "\x00" in k for k in value):
        return {_without_nul(k): v for k, v in value.items()}
    return value


class Address(Record):
    name: str = ""
    company: str | None = None
    address1: str = ""
    address2: str | None = None
    city: str = ""
    region: str | None = None  # province / state code
    postal_code: str | None = None
    # Optional on purpose: an address without a country is the ADDRESS_INVALID hold's business,
    # not a reason to reject the whole order.
    country_code: str | None = Field(default=None, min_length=2, max_length=2)
    phone: str | None = None

    @field_validator("country_code")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else None


class ChannelLine(Record):
    external_id: str = Field(min_length=1, max_length=120)
    sku: str = Field(min_length=1, max_length=80)
    title: str = Field(default="", max_length=300)
    quantity: int = Field(gt=0, le=100_000)
    unit_price: Decimal = Field(ge=0, max_digits=14, decimal_places=2)


class ChannelFulfillment(Record):
    """A parcel the channel already knows about (fulfilled outside or before OpsDesk)."""

    external_id: str = Field(min_length=1, max_length=120)
    carrier: str = Field(min_length=1, max_length=60)
    service: str | None = None
    tracking_number: str = Field(min_length=1, max_length=80)
    shipped_at: AwareDatetime
    # external line id -> quantity in this parcel
    line_quantities: dict[str, int] = Field(default_factory=dict)


class ChannelReturnLine(Record):
    """Units of one order line the channel says are coming back."""

    line_external_id: str = Field(min_length=1, max_length=120)
    quantity: int = Field(gt=0, le=100_000)


class ChannelReturn(Record):
    """Goods the channel itself took back (a Shopify refund with restock_type "return"): core opens an RMA."""

    external_id: str = Field(min_length=1, max_length=120)
    created_at: AwareDatetime
    note: str | None = Field(default=None, max_length=2000)
    lines: tuple[ChannelReturnLine, ...] = Field(min_length=1)


class ChannelOrder(Record):
    """One order as OpsDesk understands it, whatever channel it came from."""

    external_id: str = Field(min_length=1, max_length=120)
    number: str = Field(min_length=1, max_length=60)
    # What the channel's status words mean for OpsDesk: None when the desk decides (unfulfilled, open).
    channel_status: OrderStatus | None = None
    financial_status: FinancialStatus
    raw_financial_status: str | None = None
    raw_fulfillment_status: str | None = None
    placed_at: AwareDatetime
    updated_at: AwareDatetime
    cancelled_at: AwareDatetime | None = None
    ship_by: AwareDatetime | None = None  # the channel's own deadline (Amazon LatestShipDate)
    customer_name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=40)
    ship_to: Address | None = None
    total: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    currency: str = Field(min_length=3, max_length=3)
    tags: tuple[str, ...] = ()
    risk_level: str | None = None
    note: str | None = Field(default=None, max_length=2000)
    # Empty only for a cancelled order whose channel zeroes every quantity (Amazon does): the stored lines stay.
    lines: tuple[ChannelLine, ...] = ()
    fulfillments: tuple[ChannelFulfillment, ...] = ()
    returns: tuple[ChannelReturn, ...] = ()  # returns the channel opened itself, oldest first

    @field_validator("currency")
    @classmethod
    def _currency_upper(cls, value: str) -> str:
        return value.upper()

    @model_validator(mode="after")
    def _lines_unless_cancelled(self) -> ChannelOrder:
        if not self.lines and self.channel_status is not OrderStatus.CANCELLED:
            raise ValueError("lines: an order needs at least one line")
        return self


class Rejection(Record):
    """A record that could not be normalized: kept whole for the dead-letter table."""

    raw: Any
    error: str
    external_id: str | None = None

    @field_validator("external_id", "error", mode="before")
    @classmethod
    def _labels_encodable(cls, value: Any) -> Any:
        # A lone surrogate ("\\ud800" in the JSON) has no UTF-8 form; spelled out, the letter still lands.
        return value.encode("utf-8", "backslashreplace").decode() if isinstance(value, str) else value

    @field_validator("external_id")
    @classmethod
    def _id_fits(cls, value: str | None) -> str | None:
        # Only a label for the dead letter (its column holds 120): a hostile id must not lose the letter.
        return value[:120] or None if value else None


class Page(Record):
    """One page from a channel: what parsed, what did not, and the cursor that covers it."""

    records: tuple[ChannelOrder, ...] = ()
    rejected: tuple[Rejection, ...] = ()
    # Persisted only after this page is stored, in the same transaction.
    cursor: str | None = None

    @property
    def fetched(self) -> int:
        return len(self.records) + len(self.rejected)


class TrackingScan(Record):
    """One carrier scan of a parcel, in OpsDesk's words plus the carrier's own code (the dedup key)."""

    occurred_at: AwareDatetime
    status: TrackingStatus
    carrier_code: str = Field(min_length=1, max_length=60)  # the carrier's word, e.g. "in_transit" or "AttemptFail"
    description: str = Field(default="", max_length=500)
    place: str | None = Field(default=None, max_length=200)


class TrackingUpdate(Record):
    """Where one parcel stands according to its carrier: current status and every scan so far."""

    tracking_number: str = Field(min_length=1, max_length=80)
    status: TrackingStatus
    carrier_status: str = Field(max_length=60)  # the carrier's own status word, kept for people
    detail: str | None = Field(default=None, max_length=200)  # status_detail / substatus / subtag
    estimated_at: AwareDatetime | None = None
    scans: tuple[TrackingScan, ...] = ()


def aware(value: datetime) -> datetime:
    """Guard used by connectors: refuse naive datetimes early."""
    if value.tzinfo is None:
        raise ValueError("timestamp without a time zone")
    return value
