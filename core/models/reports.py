"""Rollups the worker keeps for the SLA history, so its page reads thousands of rows, not millions.

Each row counts orders or parcels of one (channel, location, carrier) in one UTC hour or day.
``RollupMark`` says up to when each rollup is complete; the page reads newer times from the
source tables directly (``core.sla_rollup``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base


class ShippedHour(Base):
    """Orders whose last parcel left in ``hour`` (UTC), by that parcel's location and carrier; how many on time."""

    __tablename__ = "rollup_shipped_hours"
    # Covering: the page sums a range of hours without touching the table.
    __table_args__ = (Index("ix_rollup_shipped_hours_cover", "hour", "channel_id", "location_id", "carrier",
                            "shipped", "on_time"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hour: Mapped[datetime]
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"))
    carrier: Mapped[str] = mapped_column(String(60))
    shipped: Mapped[int]
    on_time: Mapped[int]


class ParcelDurationDay(Base):
    """Parcels shipped in the ``span_days`` from ``day`` (UTC) whose placed -> shipped or shipped -> delivered time
    fell in one bucket.

    ``edge_s`` is the bucket's upper edge in seconds (``core.sqltime.duration_edge``): the
    parcels counted here took more than the previous edge and at most this one. Rows of one
    day (``span_days`` 1) and of whole weeks from Monday (7, their sum): a 90-day window reads
    a dozen weeks and a few days, whatever the volume.
    """

    __tablename__ = "rollup_parcel_days"
    __table_args__ = (Index("ix_rollup_parcel_days_cover", "span_days", "day", "metric", "channel_id", "location_id",
                            "carrier", "edge_s", "parcels"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    span_days: Mapped[int]
    day: Mapped[datetime]
    metric: Mapped[str] = mapped_column(String(16))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"))
    carrier: Mapped[str] = mapped_column(String(60))
    edge_s: Mapped[int]
    parcels: Mapped[int]


class RollupMark(Base):
    """How far a rollup is complete: every hour or day before ``complete_to`` is in it."""

    __tablename__ = "rollup_marks"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    complete_to: Mapped[datetime]
    refreshed_at: Mapped[datetime]
