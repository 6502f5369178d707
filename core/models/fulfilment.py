"""Holds and exceptions, shipments and the carrier's tracking events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from core.enums import HoldCode, HoldState, ShipmentStatus, TrackingStatus
from core.models.base import Base, EnumColumn, utcnow


class Hold(Base):
    """One triage item: a blocking hold or a non-blocking exception on an order (or on stock)."""

    __tablename__ = "holds"
    __table_args__ = (
        Index("ix_holds_state_code", "state", "code"),
        Index("ix_holds_order", "order_id"),
        # The hold queue's order (blocking first, then the order's ship-by): its first page is an index range.
        Index("ix_holds_urgency", "state", text("blocking DESC"), "order_ship_by", "opened_at", "id", "order_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    code: Mapped[HoldCode] = mapped_column(EnumColumn(HoldCode))
    blocking: Mapped[bool]
    # A copy of the order's ship-by (kept in step by core.holds.sync_hold_deadlines), so the hold
    # queue sorts by urgency off one index instead of joining and sorting every open item.
    order_ship_by: Mapped[datetime | None]
    state: Mapped[HoldState] = mapped_column(EnumColumn(HoldState), default=HoldState.OPEN)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resolution: Mapped[str | None] = mapped_column(String(40))
    resolved_by: Mapped[str | None] = mapped_column(String(120))
    resolved_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class Shipment(Base):
    """A parcel: from the channel's fulfillment or marked shipped on the desk."""

    __tablename__ = "shipments"
    __table_args__ = (
        UniqueConstraint("order_id", "tracking_number"),
        Index("ix_shipments_tracking_number", "tracking_number"),
        Index("ix_shipments_status", "status"),
        Index("ix_shipments_shipped_at", "shipped_at"),  # the SLA history reads parcels by when they left
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    external_id: Mapped[str | None] = mapped_column(String(120))
    source: Mapped[str] = mapped_column(String(16), default="channel")
    carrier: Mapped[str] = mapped_column(String(60))
    service: Mapped[str | None] = mapped_column(String(60))
    tracking_number: Mapped[str] = mapped_column(String(80))
    status: Mapped[ShipmentStatus] = mapped_column(
        EnumColumn(ShipmentStatus), default=ShipmentStatus.LABEL_CREATED
    )
    shipped_at: Mapped[datetime]
    estimated_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    last_scan_at: Mapped[datetime | None]


class ShipmentLine(Base):
    __tablename__ = "shipment_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[int]


class TrackingEvent(Base):
    """One carrier scan, stored once however often it is polled."""

    __tablename__ = "tracking_events"
    __table_args__ = (UniqueConstraint("shipment_id", "occurred_at", "carrier_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime]
    status: Mapped[TrackingStatus] = mapped_column(EnumColumn(TrackingStatus))
    carrier_code: Mapped[str] = mapped_column(String(60))
    description: Mapped[str] = mapped_column(String(500), default="")
    place: Mapped[str | None] = mapped_column(String(200))
