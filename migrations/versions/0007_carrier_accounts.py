"""Carrier accounts (EasyPost, Shippo, AfterShip) and their tracking polls' runs and dead letters.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'carrier_accounts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=40), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('kind', sa.Enum('easypost', 'shippo', 'aftership', name='carrierkind', native_enum=False,
                                  length=32), nullable=False),
        sa.Column('base_url', sa.String(length=500), nullable=False),
        sa.Column('credentials_env', sa.String(length=120), nullable=True),
        sa.Column('carriers', sa.JSON(), nullable=False),
        sa.Column('settings', sa.JSON(), nullable=False),
        sa.Column('poll_interval_s', sa.Integer(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_carrier_accounts')),
        sa.UniqueConstraint('code', name=op.f('uq_carrier_accounts_code')),
    )
    for table in ('connector_runs', 'dead_letters'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('carrier_account_id', sa.Integer(), nullable=True))
            batch_op.create_foreign_key(op.f(f'fk_{table}_carrier_account_id_carrier_accounts'), 'carrier_accounts',
                                        ['carrier_account_id'], ['id'], ondelete='SET NULL')
            batch_op.create_index(op.f(f'ix_{table}_carrier_account_id'), ['carrier_account_id'], unique=False)


def downgrade() -> None:
    for table in ('dead_letters', 'connector_runs'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(op.f(f'ix_{table}_carrier_account_id'))
            batch_op.drop_constraint(op.f(f'fk_{table}_carrier_account_id_carrier_accounts'), type_='foreignkey')
            batch_op.drop_column('carrier_account_id')
    op.drop_table('carrier_accounts')
