"""Channels and everything the worker records about talking to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.enums import ChannelKind, RunStatus
from core.models.base import Base, EnumColumn, utcnow


class Channel(Base):
    """A sales channel. Its secret is never stored: only the name of the environment variable."""

    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[ChannelKind] = mapped_column(EnumColumn(ChannelKind))
    base_url: Mapped[str] = mapped_column(String(500))
    credentials_env: Mapped[str | None] = mapped_column(String(120))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sla_policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    poll_interval_s: Mapped[int] = mapped_column(default=15)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SyncCursor(Base):
    """Where a connector stream resumes: advanced in the same transaction as the data it covers."""

    __tablename__ = "sync_cursors"
    __table_args__ = (UniqueConstraint("channel_id", "stream"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    stream: Mapped[str] = mapped_column(String(40))
    value: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConnectorRun(Base):
    """One poll cycle of one connector: what it fetched, wrote and rejected."""

    __tablename__ = "connector_runs"
    __table_args__ = (Index("ix_connector_runs_connector_started", "connector", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="SET NULL"))
    # A carrier account's tracking poll (then channel_id is None); core.carrier_health reads these.
    carrier_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("carrier_accounts.id", ondelete="SET NULL"), index=True)
    connector: Mapped[str] = mapped_column(String(60))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    status: Mapped[RunStatus] = mapped_column(EnumColumn(RunStatus), default=RunStatus.RUNNING)
    fetched: Mapped[int] = mapped_column(default=0)
    written: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    errors: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)


class DeadLetter(Base):
    """A channel record that failed validation, kept whole so nothing is lost and it can be replayed."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="SET NULL"), index=True)
    carrier_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("carrier_accounts.id", ondelete="SET NULL"), index=True)
    connector: Mapped[str] = mapped_column(String(60))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("connector_runs.id", ondelete="SET NULL"))
    external_id: Mapped[str | None] = mapped_column(String(120))
    raw: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    replayed_at: Mapped[datetime | None]
