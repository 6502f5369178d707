"""Queue index carries the channel; foreign-key indexes.

Fewer indexes on orders to write per ingested order (the channel filter reads the queue index),
and indexes on the order_line_id foreign keys so deleting an order line does not scan its children.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 01:06:04.975720
"""

from __future__ import annotations

from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_allocations_order_line_id'), ['order_line_id'], unique=False)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_external_id'))
        batch_op.drop_index(batch_op.f('ix_orders_queue_channel'))
        batch_op.drop_index(batch_op.f('ix_orders_queue'))
        batch_op.create_index('ix_orders_queue', ['is_open', 'ship_by', 'placed_at', 'id', 'channel_id'], unique=False)

    with op.batch_alter_table('return_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_return_lines_order_line_id'), ['order_line_id'], unique=False)

    with op.batch_alter_table('shipment_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shipment_lines_order_line_id'), ['order_line_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('shipment_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shipment_lines_order_line_id'))

    with op.batch_alter_table('return_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_return_lines_order_line_id'))

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_queue')
        batch_op.create_index(batch_op.f('ix_orders_queue'), ['is_open', 'ship_by', 'placed_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_queue_channel'), ['is_open', 'channel_id', 'ship_by', 'placed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_external_id'), ['external_id'], unique=False)

    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_allocations_order_line_id'))

