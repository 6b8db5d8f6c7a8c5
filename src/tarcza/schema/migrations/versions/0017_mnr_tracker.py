"""the MNR tracker: domains, capabilities, actions and their history

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 13:00:00

The 21 capabilities are seeded from ``tarcza/mnr/data/capabilities.toml`` on the tracker's
first use (the service), not here: the names are the coordinator's to edit, and a database
emptied of them is seeded again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tarcza.store.base

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = tarcza.store.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "mnr_domains",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("name_pl", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_mnr_domains")),
    )
    op.create_table(
        "mnr_capabilities",
        sa.Column("number", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("domain", sa.String(length=16), nullable=False),
        sa.Column("name_pl", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("description_pl", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column("phase", sa.SmallInteger(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("agencies", sa.String(length=400), nullable=False),
        sa.Column("institutions", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=40), nullable=True),
        sa.Column("updated_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["domain"], ["mnr_domains.code"], name=op.f("fk_mnr_capabilities_domain_mnr_domains")
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_mnr_capabilities")),
    )
    op.create_table(
        "mnr_actions",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("capability", sa.SmallInteger(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("owner", sa.String(length=120), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["capability"],
            ["mnr_capabilities.number"],
            name=op.f("fk_mnr_actions_capability_mnr_capabilities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mnr_actions")),
    )
    op.create_index(op.f("ix_mnr_actions_capability"), "mnr_actions", ["capability"])
    op.create_table(
        "mnr_changes",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("capability", sa.SmallInteger(), nullable=False),
        sa.Column("action_id", _BIG_ID, nullable=True),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("old", sa.Text(), nullable=True),
        sa.Column("new", sa.Text(), nullable=True),
        sa.Column("changed_by", sa.String(length=40), nullable=False),
        sa.Column("agency", sa.String(length=32), nullable=False),
        sa.Column("changed_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"], ["mnr_actions.id"], name=op.f("fk_mnr_changes_action_id_mnr_actions")
        ),
        sa.ForeignKeyConstraint(
            ["capability"],
            ["mnr_capabilities.number"],
            name=op.f("fk_mnr_changes_capability_mnr_capabilities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mnr_changes")),
    )
    op.create_index(op.f("ix_mnr_changes_capability"), "mnr_changes", ["capability"])


def downgrade() -> None:
    op.drop_table("mnr_changes")
    op.drop_table("mnr_actions")
    op.drop_table("mnr_capabilities")
    op.drop_table("mnr_domains")
