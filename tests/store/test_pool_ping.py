"""A pooled PostgreSQL connection that died while idle is replaced before anyone uses it.

The engine looks at each connection it hands out (store.engine): a socket with nothing to read is
a connection at rest, handed out without a round trip; one the server spoke on is pinged (one
empty query). A connection the server ended (a restart, an idle timeout, an administrator) says
so before it closes, and is not given to a transaction.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from tarcza.store.engine import Database, _quiet
from tests.support.databases import PG_ADMIN_URL


def _backend(db: Database) -> int:
    with db.transaction() as session:
        return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_ended_by_the_server_is_replaced_at_checkout(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("a PostgreSQL pool")
    first = _backend(db)
    assert _backend(db) == first  # the pool hands the same connection back
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [first]).fetchone() == (True,)
        # Until the backend is gone, a ping could still be answered.
        admin.execute(
            "DO $$ DECLARE deadline timestamptz := clock_timestamp() + interval '10 s'; "
            "BEGIN WHILE EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = "
            f"{first}) AND clock_timestamp() < deadline LOOP PERFORM pg_sleep(0.01); "
            "END LOOP; END $$"
        )
    second = _backend(db)  # no error: the dead connection was found and replaced
    assert second != first
    with db.transaction() as session:
        assert session.execute(text("SELECT 1")).scalar_one() == 1


def _pgconn(db: Database) -> tuple[Any, int]:
    """A pooled connection's libpq connection (checked in again) and its backend's pid."""
    with db.engine.connect() as connection:
        pid = int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())
        connection.commit()
        driver = connection.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        return driver.pgconn, pid


def test_a_connection_at_rest_is_handed_out_without_a_round_trip(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("a PostgreSQL pool")
    pgconn, pid = _pgconn(db)
    assert _quiet(pgconn)  # nothing to read: no query at checkout
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        deadline = time.monotonic() + 10
        while _quiet(pgconn) and time.monotonic() < deadline:  # the server's goodbye arrives
            time.sleep(0.01)
    assert not _quiet(pgconn)  # so the checkout tries it, finds it dead, and replaces it
    with db.transaction() as session:
        assert int(session.execute(text("SELECT pg_backend_pid()")).scalar_one()) != pid


def test_a_connection_the_server_spoke_on_is_tried(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("a PostgreSQL pool")
    with db.engine.connect() as connection:
        connection.execute(text("LISTEN tarcza_ping_test"))
        connection.commit()
        driver = connection.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        pgconn = driver.pgconn
    assert _quiet(pgconn)
    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as other:
        other.execute("NOTIFY tarcza_ping_test")
    deadline = time.monotonic() + 10
    while _quiet(pgconn) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _quiet(pgconn)  # a notification waits: the checkout's empty query reads it
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar_one() == 1
