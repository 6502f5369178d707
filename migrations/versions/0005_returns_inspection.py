"""Returns inspection: the proposed disposition, the recommended refund and where restocked units went.

``returns.updated_at`` is touched by every step, so the RMA's version moves with any change
to it or its lines and a stale form is refused.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_DISPOSITION = sa.Enum('restock', 'restock_open_box', 'refurbish', 'return_to_vendor', 'dispose',
                       name='disposition', native_enum=False, length=32)


def upgrade() -> None:
    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('return_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('proposed_disposition', _DISPOSITION, nullable=True))
        batch_op.add_column(sa.Column('refund_recommended', sa.Numeric(14, 2), nullable=True))
        batch_op.add_column(sa.Column('restocked_sku', sa.String(80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('return_lines', schema=None) as batch_op:
        batch_op.drop_column('restocked_sku')
        batch_op.drop_column('refund_recommended')
        batch_op.drop_column('proposed_disposition')
    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.drop_column('updated_at')
