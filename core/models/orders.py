"""Orders and their lines: the heart of the desk."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.enums import FinancialStatus, OrderStatus
from core.models.base import Base, EnumColumn, SearchText, utcnow


class Order(Base):
    """A customer order from one channel, unique by (channel, external id)."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("channel_id", "external_id"),
        # The live queue: open orders by ship-by, then placed time - read straight off the index; the
        # channel rides along so a channel filter and its count never touch the table.
        Index("ix_orders_queue", "is_open", "ship_by", "placed_at", "id", "channel_id"),
        Index("ix_orders_status_ship_by", "status", "ship_by", "placed_at"),
        Index("ix_orders_placed_at", "placed_at"),
        Index("ix_orders_search_email", "search_email"),
        Index("ix_orders_search_name", "search_name"),
        Index("ix_orders_search_last", "search_last"),
        Index("ix_orders_search_phone", "search_phone_rev"),
        Index("ix_orders_search_number", "search_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    external_id: Mapped[str] = mapped_column(String(120))
    number: Mapped[str] = mapped_column(String(60))
    status: Mapped[OrderStatus] = mapped_column(EnumColumn(OrderStatus), default=OrderStatus.NEW)
    # Derived from status by the one transition function; stored so the queue is one index range.
    is_open: Mapped[bool] = mapped_column(default=True)
    financial_status: Mapped[FinancialStatus] = mapped_column(EnumColumn(FinancialStatus))
    fulfillment_status: Mapped[str | None] = mapped_column(String(32))
    customer_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    ship_to: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ship_country: Mapped[str | None] = mapped_column(String(2))
    ship_region: Mapped[str | None] = mapped_column(String(20))
    total: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    placed_at: Mapped[datetime]
    channel_updated_at: Mapped[datetime]
    ship_by: Mapped[datetime]
    ship_by_source: Mapped[str] = mapped_column(String(16), default="policy")
    cancelled_at: Mapped[datetime | None]
    priority: Mapped[int] = mapped_column(default=0)
    tags: Mapped[str] = mapped_column(String(500), default="")
    risk_level: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Normalized search keys (lower case, digits only, reversed phone) so lookups are index ranges.
    search_number: Mapped[str] = mapped_column(SearchText(60))
    search_email: Mapped[str | None] = mapped_column(SearchText(254))
    search_name: Mapped[str | None] = mapped_column(SearchText(200))
    search_last: Mapped[str | None] = mapped_column(SearchText(120))
    search_phone_rev: Mapped[str | None] = mapped_column(SearchText(40))
    version: Mapped[int] = mapped_column(default=1)

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.id", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}


class OrderLine(Base):
    """One SKU on an order, with what has been allocated, shipped and returned of it."""

    __tablename__ = "order_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "external_id"),
        Index("ix_order_lines_sku", "sku"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(120))
    sku: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(300), default="")
    quantity: Mapped[int]
    unit_price: Mapped[Decimal]
    qty_allocated: Mapped[int] = mapped_column(default=0)
    qty_shipped: Mapped[int] = mapped_column(default=0)
    qty_returned: Mapped[int] = mapped_column(default=0)

    order: Mapped[Order] = relationship(back_populates="lines")
