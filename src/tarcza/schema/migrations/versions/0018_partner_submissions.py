"""partner platforms' CyberTipline-shaped submissions, until finished

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tarcza.store.base

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = tarcza.store.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "partner_submissions",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("partner_id", _BIG_ID, nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("xml_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("report_id", _BIG_ID, nullable=True),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("finished_at", _AT, nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_partner_submissions_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_partner_submissions_report_id_reports"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_submissions")),
    )
    for column in ("partner_id", "state", "report_id", "created_at"):
        op.create_index(op.f(f"ix_partner_submissions_{column}"), "partner_submissions", [column])
    op.create_table(
        "partner_submission_files",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("submission_id", _BIG_ID, nullable=False),
        sa.Column("file_id", sa.String(length=32), nullable=False),
        sa.Column("storage_key", sa.String(length=64), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("classification", sa.String(length=2), nullable=True),
        sa.Column("details_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["partner_submissions.id"],
            name=op.f("fk_partner_submission_files_submission_id_partner_submissions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_submission_files")),
        sa.UniqueConstraint("file_id", name=op.f("uq_partner_submission_files_file_id")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_partner_submission_files_storage_key")),
    )
    op.create_index(
        op.f("ix_partner_submission_files_submission_id"),
        "partner_submission_files",
        ["submission_id"],
    )


def downgrade() -> None:
    op.drop_table("partner_submission_files")
    op.drop_table("partner_submissions")
