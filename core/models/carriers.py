"""Carrier accounts: the tracking APIs the worker polls. Secrets are only named, never stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from core.enums import CarrierKind
from core.models.base import Base, EnumColumn, utcnow


class CarrierAccount(Base):
    """One account at a tracking API (EasyPost, Shippo, AfterShip) and which parcels it follows.

    ``carriers`` lists the shipment carrier names it tracks (``["UPS", "USPS"]``, compared
    case-insensitively); ``["*"]`` tracks every parcel no other enabled account names.
    """

    __tablename__ = "carrier_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[CarrierKind] = mapped_column(EnumColumn(CarrierKind))
    base_url: Mapped[str] = mapped_column(String(500))
    credentials_env: Mapped[str | None] = mapped_column(String(120))
    carriers: Mapped[list[str]] = mapped_column(JSON, default=list)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    poll_interval_s: Mapped[int] = mapped_column(default=300)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
