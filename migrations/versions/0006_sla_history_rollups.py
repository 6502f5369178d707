"""The SLA history's rollups: shipped orders per hour, parcel durations per day and week, how far each is complete.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 08:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'rollup_shipped_hours',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
        sa.Column('channel_id', sa.Integer(), nullable=False),
        sa.Column('location_id', sa.Integer(), nullable=True),
        sa.Column('carrier', sa.String(length=60), nullable=False),
        sa.Column('shipped', sa.Integer(), nullable=False),
        sa.Column('on_time', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_rollup_shipped_hours_channel_id_channels'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['location_id'], ['locations.id'],
                                name=op.f('fk_rollup_shipped_hours_location_id_locations'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rollup_shipped_hours')),
    )
    op.create_index('ix_rollup_shipped_hours_cover', 'rollup_shipped_hours',
                    ['hour', 'channel_id', 'location_id', 'carrier', 'shipped', 'on_time'], unique=False)
    op.create_table(
        'rollup_parcel_days',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('span_days', sa.Integer(), nullable=False),
        sa.Column('day', sa.DateTime(timezone=True), nullable=False),
        sa.Column('metric', sa.String(length=16), nullable=False),
        sa.Column('channel_id', sa.Integer(), nullable=False),
        sa.Column('location_id', sa.Integer(), nullable=True),
        sa.Column('carrier', sa.String(length=60), nullable=False),
        sa.Column('edge_s', sa.Integer(), nullable=False),
        sa.Column('parcels', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_rollup_parcel_days_channel_id_channels'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['location_id'], ['locations.id'],
                                name=op.f('fk_rollup_parcel_days_location_id_locations'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rollup_parcel_days')),
    )
    op.create_index('ix_rollup_parcel_days_cover', 'rollup_parcel_days',
                    ['span_days', 'day', 'metric', 'channel_id', 'location_id', 'carrier', 'edge_s', 'parcels'], unique=False)
    op.create_table(
        'rollup_marks',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('complete_to', sa.DateTime(timezone=True), nullable=False),
        sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_rollup_marks')),
    )


def downgrade() -> None:
    op.drop_table('rollup_marks')
    op.drop_index('ix_rollup_parcel_days_cover', table_name='rollup_parcel_days')
    op.drop_table('rollup_parcel_days')
    op.drop_index('ix_rollup_shipped_hours_cover', table_name='rollup_shipped_hours')
    op.drop_table('rollup_shipped_hours')
