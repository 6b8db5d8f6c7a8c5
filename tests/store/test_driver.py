"""Statements straight to psycopg (store.driver) run on the connection of the session's own
transaction, which ``connection_of`` keeps for the transaction and looks up again for the next."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tarcza.store import driver
from tarcza.store.engine import Database, make_database


def _own_pool(db: Database) -> Database:
    if db.dialect != "postgresql":
        pytest.skip("psycopg")
    return make_database(db.engine.url.render_as_string(hide_password=False))


def test_the_driver_connection_is_the_transactions_and_the_next_transaction_s_is_its_own(
    db: Database,
) -> None:
    fresh = _own_pool(db)
    try:
        with fresh.sessions() as session:
            session.begin()
            first = driver.connection_of(session)
            assert first is session.connection().connection.driver_connection
            assert driver.connection_of(session) is first
            session.commit()
            held = fresh.engine.raw_connection()  # the pool's one connection, taken elsewhere
            try:
                session.begin()
                second = driver.connection_of(session)
                assert second is session.connection().connection.driver_connection
                assert second is not first
                # What the driver runs is part of this transaction: rolled back with it.
                driver.fetch(session, "CREATE TEMPORARY TABLE t (x int)")
                driver.fetch(session, "INSERT INTO t VALUES (1)")
                assert session.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
                session.rollback()
            finally:
                held.close()
            session.begin()
            assert (
                driver.connection_of(session) is session.connection().connection.driver_connection
            )
            assert (
                session.execute(
                    text("SELECT count(*) FROM pg_tables WHERE tablename = 't'")
                ).scalar_one()
                == 0
            )
            session.rollback()
    finally:
        fresh.dispose()
