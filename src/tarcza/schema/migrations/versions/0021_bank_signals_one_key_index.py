"""bank_signals: one unique index (signal_type, lookup_key, bank_id) instead of the unique
(bank_id, signal_type, lookup_key) and the index (signal_type, lookup_key); a plain index on
bank_id for the bank's own queries

Exact matching looks a key up across banks, and a bank's check of its own key is the same
lookup with the bank as the last column, so one index of the keys serves both and keeps the
uniqueness; a bulk import inserts into it once instead of twice. Queries of one bank's whole
set (counts, exports, the import's look-up of what the bank holds) use the index on bank_id,
which costs an import little: its entries are equal and go to the index's right edge.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 14:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_OLD_UNIQUE = "uq_bank_signals_bank_id"
_OLD_INDEX = "ix_bank_signals_type_key"
_UNIQUE = "uq_bank_signals_signal_type"
_BANK_INDEX = "ix_bank_signals_bank_id"


def upgrade() -> None:
    with op.batch_alter_table("bank_signals") as batch:
        batch.drop_index(_OLD_INDEX)
        batch.drop_constraint(_OLD_UNIQUE, type_="unique")
        batch.create_unique_constraint(_UNIQUE, ["signal_type", "lookup_key", "bank_id"])
        batch.create_index(_BANK_INDEX, ["bank_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bank_signals") as batch:
        batch.drop_index(_BANK_INDEX)
        batch.drop_constraint(_UNIQUE, type_="unique")
        batch.create_unique_constraint(_OLD_UNIQUE, ["bank_id", "signal_type", "lookup_key"])
        batch.create_index(_OLD_INDEX, ["signal_type", "lookup_key"], unique=False)
