"""bank vPDQ thresholds: the shares of frames a video match needs, per bank

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing banks get python-threatexchange's defaults (80 % of the query, 0 % of the bank's).
    op.add_column(
        "banks",
        sa.Column("vpdq_query_match_pct", sa.Float(), server_default=sa.text("80"), nullable=False),
    )
    op.add_column(
        "banks",
        sa.Column(
            "vpdq_compared_match_pct", sa.Float(), server_default=sa.text("0"), nullable=False
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("banks") as batch:
        batch.drop_column("vpdq_compared_match_pct")
        batch.drop_column("vpdq_query_match_pct")
