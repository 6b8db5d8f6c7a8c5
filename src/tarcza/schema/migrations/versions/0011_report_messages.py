"""report messages: more information from the reporter, questions and messages from the staff

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 10:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tarcza.store.base

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "report_messages",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("report_id", _BIG_ID, nullable=False),
        sa.Column("sender", sa.String(length=8), nullable=False),
        sa.Column("agency", sa.String(length=32), nullable=True),
        sa.Column("author", sa.String(length=100), nullable=True),
        sa.Column("body_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("urls", sa.JSON(), nullable=False),
        sa.Column("files", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", tarcza.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_report_messages_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_messages")),
    )
    op.create_index(op.f("ix_report_messages_report_id"), "report_messages", ["report_id"])


def downgrade() -> None:
    op.drop_table("report_messages")
