"""Returns (RMAs) and their lines, from authorisation to refund recommendation."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.enums import Disposition, Grade, ReturnReason, ReturnStatus
from core.models.base import Base, EnumColumn, utcnow


class Return(Base):
    __tablename__ = "returns"
    # One RMA per channel return (refund) of an order; NULL external ids (the desk's own RMAs) never clash.
    __table_args__ = (Index("ix_returns_status", "status"), Index("ix_returns_order", "order_id"),
                      Index("ux_returns_order_external", "order_id", "external_id", unique=True))

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    status: Mapped[ReturnStatus] = mapped_column(EnumColumn(ReturnStatus), default=ReturnStatus.REQUESTED)
    reason: Mapped[ReturnReason] = mapped_column(EnumColumn(ReturnReason))
    note: Mapped[str | None] = mapped_column(Text)
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    external_id: Mapped[str | None] = mapped_column(String(120))
    tracking_number: Mapped[str | None] = mapped_column(String(80), index=True)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    received_at: Mapped[datetime | None]
    inspected_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # Every step touches it, so the version moves with any change to the RMA or its lines.
    updated_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class ReturnLine(Base):
    __tablename__ = "return_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"), index=True)
    qty_authorised: Mapped[int]
    qty_received: Mapped[int | None]
    reason: Mapped[ReturnReason] = mapped_column(EnumColumn(ReturnReason))
    grade: Mapped[Grade | None] = mapped_column(EnumColumn(Grade))
    proposed_disposition: Mapped[Disposition | None] = mapped_column(EnumColumn(Disposition))
    disposition: Mapped[Disposition | None] = mapped_column(EnumColumn(Disposition))
    override_reason: Mapped[str | None] = mapped_column(String(300))
    inspector: Mapped[str | None] = mapped_column(String(120))
    notes: Mapped[str | None] = mapped_column(Text)
    refund_recommended: Mapped[Decimal | None]  # what the rules say (None: an ops lead decides)
    refund_amount: Mapped[Decimal | None]  # the decision; OpsDesk moves no money itself
    refund_decided_by: Mapped[str | None] = mapped_column(String(120))
    refund_decided_at: Mapped[datetime | None]
    restocked_at: Mapped[datetime | None]
    restocked_sku: Mapped[str | None] = mapped_column(String(80))  # the SKU the units went into (open box has its own)
