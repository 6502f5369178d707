"""Parcels are found by when they left.

The SLA page's history reads the parcels shipped in a date range; without an index on
``shipped_at`` every parcel ever shipped was joined and grouped first.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 03:50:00
"""

from __future__ import annotations

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_shipments_shipped_at', 'shipments', ['shipped_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_shipments_shipped_at', table_name='shipments')
