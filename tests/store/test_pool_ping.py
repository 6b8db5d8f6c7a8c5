"""A pooled PostgreSQL connection that died while idle is replaced before anyone uses it.

The engine pings each connection it hands out (one empty query, store.engine); a connection the
server ended (a restart, an idle timeout, an administrator) is not given to a transaction.
"""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from tarcza.store.engine import Database
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
