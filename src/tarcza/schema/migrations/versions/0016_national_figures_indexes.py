"""national figures: indexes on the moments they count by, and their snapshots

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 13:10:00

The national figures (tarcza.coordination.queries) group a period's rows by UTC day in the
database; each read is a range scan on the moment it counts by. Reports get a covering index
(created_at, the owner agency and the four dimensions), so PostgreSQL answers from the index alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tarcza.store.base

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# (table, index name, columns)
INDEXES = (
    ("reports", "ix_reports_figures",
     ["created_at", "owner_agency", "category", "source", "child_age_range",
      "child_in_danger"]),
    ("content_items", "ix_content_items_first_reported_at", ["first_reported_at"]),
    ("content_items", "ix_content_items_assessed_at", ["assessed_at"]),
    ("content_items", "ix_content_items_removed_at", ["removed_at"]),
    ("item_traces", "ix_item_traces_traced_at", ["traced_at"]),
    ("item_actions", "ix_item_actions_action_created_at", ["action", "created_at"]),
    ("evidence_matches", "ix_evidence_matches_created_at", ["created_at"]),
    ("signal_feedback", "ix_signal_feedback_created_at", ["created_at"]),
    ("protection_cases", "ix_protection_cases_created_at", ["created_at"]),
    ("helpline_cases", "ix_helpline_cases_created_at", ["created_at"]),
    ("referrals", "ix_referrals_created_at", ["created_at"]),
    ("referral_outcomes", "ix_referral_outcomes_recorded_at", ["recorded_at"]),
)  # fmt: skip


def upgrade() -> None:
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)
    op.create_table(
        "figure_snapshots",
        sa.Column("span_key", sa.String(length=40), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("computed_at", tarcza.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("asked_at", tarcza.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("span_key", name=op.f("pk_figure_snapshots")),
    )
    op.create_index(
        op.f("ix_figure_snapshots_asked_at"), "figure_snapshots", ["asked_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_figure_snapshots_asked_at"), table_name="figure_snapshots")
    op.drop_table("figure_snapshots")
    for table, name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
