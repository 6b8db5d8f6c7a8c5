"""signal_changes.signal_id without a foreign key: a bulk import's change log is not checked
row by row (on PostgreSQL that check locked each new signal row: ~7 s of 1M)

The log is written only by hashing.changes, with the ids of signals the same transaction
wrote or read, and signals are never deleted (removal is soft), so the check never refused
anything; matchers read the log joined to bank_signals.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 08:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_FK = "fk_signal_changes_signal_id_bank_signals"


def upgrade() -> None:
    with op.batch_alter_table("signal_changes") as batch:
        batch.drop_constraint(_FK, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("signal_changes") as batch:
        batch.create_foreign_key(_FK, "bank_signals", ["signal_id"], ["id"], ondelete="CASCADE")
