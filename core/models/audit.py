"""Users, the append-only event history, and admin-editable settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.enums import ActorKind, Role
from core.models.base import Base, EnumColumn, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[Role] = mapped_column(EnumColumn(Role))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    external_identity: Mapped[str | None] = mapped_column(String(200), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    last_failed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(Base):
    """Append-only history of what happened to an order or to stock, and who did it."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_order_at", "order_id", "at"), Index("ix_events_at", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(40), default="order")
    kind: Mapped[str] = mapped_column(String(60))
    actor_kind: Mapped[ActorKind] = mapped_column(EnumColumn(ActorKind))
    actor_name: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Setting(Base):
    """An admin-editable value (hold thresholds, SLA windows) with who changed it last."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_by: Mapped[str | None] = mapped_column(String(120))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)



