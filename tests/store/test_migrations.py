"""Migrations are production code: they build the schema, and match the models."""

from __future__ import annotations

from sqlalchemy import inspect

from tarcza.schema import migrate, registry
from tarcza.store.engine import Database


def test_migrations_build_every_table_of_the_models(db: Database) -> None:
    tables = set(inspect(db.engine).get_table_names())
    assert {t.name for t in registry.metadata().sorted_tables} <= tables


def test_models_and_migrations_do_not_drift(database_url: str) -> None:
    # alembic check raises when autogenerate would produce any operation.
    migrate.check(database_url)


def test_upgrade_is_idempotent(database_url: str) -> None:
    migrate.upgrade(database_url)
    migrate.check(database_url)


def test_no_index_is_the_prefix_of_another_on_the_report_tables(db: Database) -> None:
    # Each costs every new report a btree insert and serves no query the longer one does not
    # (0019 dropped two); a unique index is a constraint, not only an index, and stays.
    inspector = inspect(db.engine)
    for table in ("reports", "content_items", "content_item_reports", "audit_log"):
        indexes = [
            (i["name"], list(i["column_names"]), i["unique"]) for i in inspector.get_indexes(table)
        ]
        uniques = [
            (c["name"], list(c["column_names"]), True)
            for c in inspector.get_unique_constraints(table)
        ]
        every = indexes + uniques
        redundant = [
            (name, other)
            for name, columns, unique in indexes
            if not unique
            for other, longer, _ in every
            if other != name and len(longer) > len(columns) and longer[: len(columns)] == columns
        ]
        assert redundant == [], table
