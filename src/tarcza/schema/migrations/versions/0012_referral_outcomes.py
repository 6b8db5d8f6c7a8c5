"""referral outcomes: what the police made of a report referred to it

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tarcza.store.base

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "referral_outcomes",
        sa.Column("id", _ID, nullable=False),
        sa.Column("report_id", _ID, nullable=False),
        sa.Column("referral_id", _ID, nullable=False),
        sa.Column("agency", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("reason_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("recorded_by", sa.String(length=40), nullable=False),
        sa.Column("recorded_at", tarcza.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_referral_outcomes_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_referral_outcomes_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_outcomes")),
    )
    with op.batch_alter_table("referral_outcomes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_referral_outcomes_report_id"), ["report_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_referral_outcomes_referral_id"), ["referral_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_referral_outcomes_agency"), ["agency"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("referral_outcomes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referral_outcomes_agency"))
        batch_op.drop_index(batch_op.f("ix_referral_outcomes_referral_id"))
        batch_op.drop_index(batch_op.f("ix_referral_outcomes_report_id"))
    op.drop_table("referral_outcomes")
