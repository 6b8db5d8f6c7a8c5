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
