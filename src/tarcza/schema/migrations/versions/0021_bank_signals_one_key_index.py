"""bank_signals: one unique index (signal_type, lookup_key, bank_id) instead of the unique
(bank_id, signal_type, lookup_key) and the index (signal_type, lookup_key); a plain index on
bank_id for the bank's own queries; bank_id without a foreign key (a trigger on banks
deletes a deleted bank's signals instead)

Exact matching looks a key up across banks, and a bank's check of its own key is the same
lookup with the bank as the last column, so one index of the keys serves both and keeps the
uniqueness; a bulk import inserts into it once instead of twice. Queries of one bank's whole
set (counts, exports, the import's look-up of what the bank holds) use the index on bank_id,
which costs an import little: its entries are equal and go to the index's right edge.

The foreign key's check ran once per new row (on PostgreSQL a query and a row lock on the
bank each: ~5 s of a 1M import's ~16 s of server CPU). Only hashing.bank_service.add_signals
inserts signals, with the id of the bank it read and locked (FOR KEY SHARE, once, as each of
those checks did) in the same transaction, and tarcza never deletes a bank (it disables it);
what the key did when a bank is deleted by hand, deleting its signals, the trigger
``banks_delete_signals`` does, and ``banks_keep_id`` refuses a change of a bank's id as the
key did. A signal never changes bank: ``bank_signals_keep_bank`` refuses a new bank_id.
On SQLite ``bank_signals_known_bank`` refuses a row naming no bank, as the key did. On
PostgreSQL nothing does: a statement trigger checking each INSERT's new rows against banks
(one anti-join over a transition table) cost 2.6 s of a 1M import's server CPU (17.5 s ->
20.0 s through the CLI, measured side by side), about half of what the key cost. Such a row
could come only from SQL written by hand, and it is never answered: matching reads only the
signals of enabled banks (a join, or the matcher's banks by id). (A batch migration that recreates ``banks`` or ``bank_signals`` on
SQLite drops their triggers: make them again.)

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
_FK = "fk_bank_signals_bank_id_banks"

_PG_TRIGGERS = (
    """CREATE FUNCTION banks_delete_signals() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM bank_signals WHERE bank_id = OLD.id;
        RETURN OLD;
    END $$""",
    """CREATE TRIGGER banks_delete_signals AFTER DELETE ON banks
    FOR EACH ROW EXECUTE FUNCTION banks_delete_signals()""",
    """CREATE FUNCTION banks_keep_id() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE foreign_key_violation USING MESSAGE = 'a bank''s id does not change';
    END $$""",
    """CREATE TRIGGER banks_keep_id BEFORE UPDATE OF id ON banks
    FOR EACH ROW WHEN (NEW.id <> OLD.id) EXECUTE FUNCTION banks_keep_id()""",
    """CREATE FUNCTION bank_signals_keep_bank() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE foreign_key_violation USING MESSAGE = 'a signal does not change bank';
    END $$""",
    """CREATE TRIGGER bank_signals_keep_bank BEFORE UPDATE OF bank_id ON bank_signals
    FOR EACH ROW WHEN (NEW.bank_id <> OLD.bank_id) EXECUTE FUNCTION bank_signals_keep_bank()""",
)
_SQLITE_TRIGGERS = (
    """CREATE TRIGGER banks_delete_signals AFTER DELETE ON banks
    BEGIN DELETE FROM bank_signals WHERE bank_id = OLD.id; END""",
    """CREATE TRIGGER banks_keep_id BEFORE UPDATE OF id ON banks WHEN NEW.id <> OLD.id
    BEGIN SELECT RAISE(ABORT, 'a bank''s id does not change'); END""",
    """CREATE TRIGGER bank_signals_known_bank BEFORE INSERT ON bank_signals
    WHEN NOT EXISTS (SELECT 1 FROM banks WHERE id = NEW.bank_id)
    BEGIN SELECT RAISE(ABORT, 'a signal names no bank'); END""",
    """CREATE TRIGGER bank_signals_keep_bank BEFORE UPDATE OF bank_id ON bank_signals
    WHEN NEW.bank_id <> OLD.bank_id
    BEGIN SELECT RAISE(ABORT, 'a signal does not change bank'); END""",
)
_DROP_TRIGGERS = {
    "postgresql": (
        "DROP TRIGGER bank_signals_keep_bank ON bank_signals",
        "DROP FUNCTION bank_signals_keep_bank()",
        "DROP TRIGGER banks_keep_id ON banks",
        "DROP FUNCTION banks_keep_id()",
        "DROP TRIGGER banks_delete_signals ON banks",
        "DROP FUNCTION banks_delete_signals()",
    ),
    "sqlite": (
        "DROP TRIGGER bank_signals_keep_bank",
        "DROP TRIGGER bank_signals_known_bank",
        "DROP TRIGGER banks_keep_id",
        "DROP TRIGGER banks_delete_signals",
    ),
}


def upgrade() -> None:
    with op.batch_alter_table("bank_signals") as batch:
        batch.drop_constraint(_FK, type_="foreignkey")
        batch.drop_index(_OLD_INDEX)
        batch.drop_constraint(_OLD_UNIQUE, type_="unique")
        batch.create_unique_constraint(_UNIQUE, ["signal_type", "lookup_key", "bank_id"])
        batch.create_index(_BANK_INDEX, ["bank_id"], unique=False)
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in _PG_TRIGGERS if postgres else _SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    for statement in _DROP_TRIGGERS[op.get_bind().dialect.name]:
        op.execute(statement)
    with op.batch_alter_table("bank_signals") as batch:
        batch.drop_index(_BANK_INDEX)
        batch.drop_constraint(_UNIQUE, type_="unique")
        batch.create_unique_constraint(_OLD_UNIQUE, ["bank_id", "signal_type", "lookup_key"])
        batch.create_index(_OLD_INDEX, ["signal_type", "lookup_key"], unique=False)
        batch.create_foreign_key(_FK, "banks", ["bank_id"], ["id"], ondelete="CASCADE")
