"""drop two indexes that a composite index already serves (issue 16)

Every new report wrote both into btrees no query needs: ``content_item_reports(item_id)`` is
the prefix of the unique ``(item_id, report_id)``, and ``reports(created_at)`` the prefix of
``ix_reports_figures`` (created_at first, 0016); a query on the column alone uses the composite.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 08:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# (table, index, column)
_DROPPED = (
    ("content_item_reports", "ix_content_item_reports_item_id", "item_id"),
    ("reports", "ix_reports_created_at", "created_at"),
)


def upgrade() -> None:
    for table, index, _column in _DROPPED:
        op.drop_index(index, table_name=table, if_exists=True)


def downgrade() -> None:
    for table, index, column in _DROPPED:
        op.create_index(index, table, [column], unique=False, if_not_exists=True)
