"""self-protection: cases and their hashes; partners' feedback on bank signals

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 10:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tarcza.store.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "protection_cases",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("pin_hash", sa.String(length=64), nullable=False),
        sa.Column("age_band", sa.String(length=8), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("created_at", tarcza.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", tarcza.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protection_cases")),
        sa.UniqueConstraint("reference", name=op.f("uq_protection_cases_reference")),
    )
    op.create_table(
        "protected_hashes",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("case_id", _BIG_ID, nullable=False),
        sa.Column("item", sa.SmallInteger(), nullable=False),
        sa.Column("signal_type", sa.String(length=8), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("lookup_key", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=True),
        sa.Column("created_at", tarcza.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", tarcza.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["protection_cases.id"],
            name=op.f("fk_protected_hashes_case_id_protection_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protected_hashes")),
    )
    op.create_index("ix_protected_hashes_key", "protected_hashes", ["signal_type", "lookup_key"])
    op.create_index(op.f("ix_protected_hashes_case_id"), "protected_hashes", ["case_id"])
    op.create_index(op.f("ix_protected_hashes_state"), "protected_hashes", ["state"])
    op.create_table(
        "signal_feedback",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("signal_id", _BIG_ID, nullable=False),
        sa.Column("partner_id", _BIG_ID, nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("created_at", tarcza.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["signal_id"],
            ["bank_signals.id"],
            name=op.f("fk_signal_feedback_signal_id_bank_signals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_signal_feedback_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signal_feedback")),
    )
    op.create_index(op.f("ix_signal_feedback_signal_id"), "signal_feedback", ["signal_id"])


def downgrade() -> None:
    op.drop_table("signal_feedback")
    op.drop_table("protected_hashes")
    op.drop_table("protection_cases")
