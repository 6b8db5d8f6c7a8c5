"""public status: reports.public_stage and reports.public_changed_at

Existing reports get the stage their recorded work supports, not merely their casework status:
a report whose content item was seen removed reads "content removed"; one referred to a police
agency (open referral) "passed to the police"; one with an item acted on "action taken";
otherwise its status says it (forwarded → action taken). The date is the report's last update,
or the removal's.

Revision ID: 0007
Revises: 0005 (the lead re-chains it after 0006, the notices migration)
Create Date: 2026-11-23 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tarcza.store.base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Facts, newest news first (intake.rules.PUBLIC_ORDER read backwards); constant SQL.
FILL_STAGE = """
UPDATE reports SET public_stage = CASE
    WHEN EXISTS (SELECT 1 FROM content_item_reports cir
                 JOIN content_items ci ON ci.id = cir.item_id
                 WHERE cir.report_id = reports.id AND ci.state = 'removed')
        THEN 'content_removed'
    WHEN status = 'closed' THEN 'closed'
    WHEN EXISTS (SELECT 1 FROM referrals rf
                 JOIN agencies ag ON ag.code = rf.to_agency
                 WHERE rf.report_id = reports.id AND ag.kind = 'police'
                   AND rf.state IN ('pending', 'accepted'))
        THEN 'passed_to_police'
    WHEN status = 'forwarded'
      OR EXISTS (SELECT 1 FROM content_item_reports cir
                 JOIN content_items ci ON ci.id = cir.item_id
                 WHERE cir.report_id = reports.id AND ci.state = 'actioned')
        THEN 'action_taken'
    WHEN status = 'in_assessment'
      OR EXISTS (SELECT 1 FROM content_item_reports cir
                 JOIN content_items ci ON ci.id = cir.item_id
                 WHERE cir.report_id = reports.id AND ci.state IN ('review', 'closed'))
        THEN 'in_assessment'
    ELSE 'received'
END
"""
FILL_DATE = """
UPDATE reports SET public_changed_at = coalesce(
    CASE WHEN public_stage = 'content_removed' THEN
        (SELECT max(ci.removed_at) FROM content_item_reports cir
         JOIN content_items ci ON ci.id = cir.item_id
         WHERE cir.report_id = reports.id AND ci.state = 'removed')
    END,
    updated_at)
"""


def upgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "public_stage", sa.String(length=16), server_default="received", nullable=False
            )
        )
        batch_op.add_column(
            sa.Column(
                "public_changed_at", tarcza.store.base.UTCDateTime(timezone=True), nullable=True
            )
        )
    op.execute(FILL_STAGE)
    op.execute(FILL_DATE)
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.alter_column(
            "public_changed_at",
            existing_type=tarcza.store.base.UTCDateTime(timezone=True),
            nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_column("public_changed_at")
        batch_op.drop_column("public_stage")
