"""child helpline: contacts, cases and their timeline

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tarcza.store.base

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = tarcza.store.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "helpline_cases",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("agency", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("risk", sa.String(length=10), nullable=False),
        sa.Column("assignee", sa.String(length=40), nullable=True),
        sa.Column("next_follow_up", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
        sa.Column("closed_at", _AT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_helpline_cases")),
    )
    op.create_index(op.f("ix_helpline_cases_agency"), "helpline_cases", ["agency"])
    op.create_index(op.f("ix_helpline_cases_status"), "helpline_cases", ["status"])
    op.create_index(op.f("ix_helpline_cases_closed_at"), "helpline_cases", ["closed_at"])
    op.create_table(
        "helpline_contacts",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("agency", sa.String(length=32), nullable=False),
        sa.Column("case_id", _BIG_ID, nullable=True),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("caller", sa.String(length=16), nullable=False),
        sa.Column("age_band", sa.String(length=8), nullable=False),
        sa.Column("topics", sa.String(length=400), nullable=False),
        sa.Column("risk", sa.String(length=10), nullable=False),
        sa.Column("started_at", _AT, nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("summary_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("identity_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["helpline_cases.id"],
            name=op.f("fk_helpline_contacts_case_id_helpline_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_helpline_contacts")),
    )
    op.create_index(op.f("ix_helpline_contacts_agency"), "helpline_contacts", ["agency"])
    op.create_index(op.f("ix_helpline_contacts_case_id"), "helpline_contacts", ["case_id"])
    op.create_index(op.f("ix_helpline_contacts_created_at"), "helpline_contacts", ["created_at"])
    op.create_table(
        "helpline_events",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("agency", sa.String(length=32), nullable=False),
        sa.Column("case_id", _BIG_ID, nullable=True),
        sa.Column("contact_id", _BIG_ID, nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("report_reference", sa.String(length=16), nullable=True),
        sa.Column("referral_id", _BIG_ID, nullable=True),
        sa.Column("service_id", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["helpline_cases.id"],
            name=op.f("fk_helpline_events_case_id_helpline_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["helpline_contacts.id"],
            name=op.f("fk_helpline_events_contact_id_helpline_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_helpline_events")),
    )
    op.create_index(op.f("ix_helpline_events_case_id"), "helpline_events", ["case_id"])
    op.create_index(op.f("ix_helpline_events_contact_id"), "helpline_events", ["contact_id"])
    op.create_index(op.f("ix_helpline_events_referral_id"), "helpline_events", ["referral_id"])


def downgrade() -> None:
    op.drop_table("helpline_events")
    op.drop_table("helpline_contacts")
    op.drop_table("helpline_cases")
