"""Locations, stock per location and SKU, the movement ledger, and allocations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.enums import AllocationStatus, LocationKind, MovementKind
from core.models.base import Base, EnumColumn, utcnow


class Location(Base):
    """A place that ships: warehouse, store or 3PL, with the zones (countries/regions) it serves."""

    __tablename__ = "locations"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[LocationKind] = mapped_column(EnumColumn(LocationKind))
    country: Mapped[str] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(20))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    zones: Mapped[list[str]] = mapped_column(JSON, default=list)
    priority: Mapped[int] = mapped_column(default=100)
    active: Mapped[bool] = mapped_column(default=True)


class InventoryLevel(Base):
    """Stock of one SKU at one location. Available = on hand - reserved."""

    __tablename__ = "inventory_levels"
    __table_args__ = (
        UniqueConstraint("location_id", "sku"),
        Index("ix_inventory_levels_sku", "sku"),
        # The database itself refuses an oversell, whatever the code above it does.
        CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="reserved_within_on_hand"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    sku: Mapped[str] = mapped_column(String(80))
    on_hand: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)
    low_stock_threshold: Mapped[int] = mapped_column(default=5)
    version: Mapped[int] = mapped_column(default=1)


class InventoryMovement(Base):
    """Append-only ledger: every change of on hand or reserved, with why and by whom."""

    __tablename__ = "inventory_movements"
    __table_args__ = (Index("ix_inventory_movements_loc_sku_at", "location_id", "sku", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    sku: Mapped[str] = mapped_column(String(80))
    kind: Mapped[MovementKind] = mapped_column(EnumColumn(MovementKind))
    on_hand_delta: Mapped[int] = mapped_column(default=0)
    reserved_delta: Mapped[int] = mapped_column(default=0)
    reason: Mapped[str | None] = mapped_column(String(200))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    reference: Mapped[str | None] = mapped_column(String(120))
    actor: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Allocation(Base):
    """Part of an order line reserved at one location, with the plan that chose it."""

    __tablename__ = "allocations"
    __table_args__ = (
        Index("ix_allocations_order", "order_id"),
        Index("ix_allocations_loc_sku_status", "location_id", "sku", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    sku: Mapped[str] = mapped_column(String(80))
    quantity: Mapped[int]
    status: Mapped[AllocationStatus] = mapped_column(
        EnumColumn(AllocationStatus), default=AllocationStatus.RESERVED
    )
    plan: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
