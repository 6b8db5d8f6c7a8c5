"""notices exactly once, removal confirmed

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 09:00:00.000000

``item_actions`` gains what the outbox needs to send each notice once: the hand-offs tried,
the last failure, when to try again, and the lease of a ``sending`` row. ``content_items``
gains ``gone_since``, the first "gone" answer of a removal awaiting confirmation. Existing
rows need no filling: a notice already sent keeps its message id; a pending one has tried
nothing; no item has a removal awaiting confirmation.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tarcza.store.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("item_actions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tries", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("next_try_at", tarcza.store.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("lease_until", tarcza.store.base.UTCDateTime(timezone=True), nullable=True)
        )

    with op.batch_alter_table("content_items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("gone_since", tarcza.store.base.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("content_items", schema=None) as batch_op:
        batch_op.drop_column("gone_since")

    with op.batch_alter_table("item_actions", schema=None) as batch_op:
        batch_op.drop_column("lease_until")
        batch_op.drop_column("next_try_at")
        batch_op.drop_column("last_error")
        batch_op.drop_column("tries")
