"""a child in danger now: alerts to the police duty desk and their notifications

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tarcza.store.base

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = tarcza.store.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "danger_alerts",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("report_id", _BIG_ID, nullable=False),
        sa.Column("referral_id", _BIG_ID, nullable=True),
        sa.Column("to_agency", sa.String(length=32), nullable=False),
        sa.Column("shared_with", sa.String(length=32), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("raised_at", _AT, nullable=False),
        sa.Column("next_escalation_at", _AT, nullable=True),
        sa.Column("acknowledged_by", sa.String(length=40), nullable=True),
        sa.Column("acknowledged_at", _AT, nullable=True),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_danger_alerts_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_danger_alerts_referral_id_referrals"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_danger_alerts")),
        sa.UniqueConstraint("report_id", name=op.f("uq_danger_alerts_report_id")),
    )
    op.create_index(op.f("ix_danger_alerts_to_agency"), "danger_alerts", ["to_agency"])
    op.create_index(op.f("ix_danger_alerts_shared_with"), "danger_alerts", ["shared_with"])
    op.create_index(
        op.f("ix_danger_alerts_next_escalation_at"), "danger_alerts", ["next_escalation_at"]
    )
    op.create_table(
        "alert_notifications",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("alert_id", _BIG_ID, nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("next_try_at", _AT, nullable=True),
        sa.Column("lease_until", _AT, nullable=True),
        sa.Column("sent_at", _AT, nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["danger_alerts.id"],
            name=op.f("fk_alert_notifications_alert_id_danger_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_notifications")),
    )
    op.create_index(op.f("ix_alert_notifications_alert_id"), "alert_notifications", ["alert_id"])
    op.create_index(op.f("ix_alert_notifications_status"), "alert_notifications", ["status"])


def downgrade() -> None:
    op.drop_table("alert_notifications")
    op.drop_table("danger_alerts")
