"""Engine and session factory for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import select
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import pq
from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from tarcza.config import Settings


@dataclass
class Database:
    """One database: its engine and a session factory."""

    engine: Engine
    sessions: sessionmaker[Session]
    # Sessions that only read: on SQLite they begin DEFERRED, so that they never queue for the
    # write lock (in WAL mode a reader waits for no writer); elsewhere the same as ``sessions``.
    reads: sessionmaker[Session] | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def reading(self) -> Session:
        """A session for reads only (a write in it may fail on SQLite: use ``transaction``)."""
        return (self.reads or self.sessions)()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so that BEGIN IMMEDIATE is ours to emit.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before the report is acknowledged.
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        # A writer waits this long for the lock: under a burst of large uploads the disk is
        # busy flushing evidence and every commit's fsync waits behind it.
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers queue for the lock at BEGIN instead of failing mid-transaction;
        # the audit chain relies on it to read its head and append atomically.
        # Sessions made by ``Database.reads`` only read: a deferred BEGIN waits for nobody.
        if conn.get_execution_options().get("tarcza_reads_only"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def _ping_on_checkout(engine: Engine) -> None:
    """Every connection taken from the pool is tried first; a dead one is replaced.

    What ``pool_pre_ping`` does, for a fraction of its CPU. First the socket is looked at
    without a round trip: a server that ends a connection (a restart, an idle timeout, an
    administrator) says so and closes it, which leaves the socket readable, while a connection
    at rest between two transactions has nothing to read. Only then is it tried with one empty
    query on libpq's own connection (an answer and nothing parsed), where SQLAlchemy's ping
    switches the driver to autocommit and back around a cursor's ``SELECT 1``. Every transaction
    pays the look; the query, only a connection the server spoke on (issue 16).
    """

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        pgconn = getattr(dbapi_conn, "pgconn", None)
        if pgconn is None:  # not psycopg: SQLAlchemy's own ping, then
            if not engine.dialect.do_ping(dbapi_conn):
                raise exc.DisconnectionError()
            return
        if _quiet(pgconn):
            return
        try:
            answer = pgconn.exec_(b"")  # releases the GIL while it waits
        except psycopg.Error as error:
            raise exc.DisconnectionError(str(error)) from error
        if answer.status != pq.ExecStatus.EMPTY_QUERY:
            raise exc.DisconnectionError(pgconn.get_error_message() or "the ping failed")


def _quiet(pgconn: Any) -> bool:
    """Whether the server sent nothing on ``pgconn`` since its last answer (its socket has
    nothing to read, and is open): a connection at rest."""
    if pgconn.status != pq.ConnStatus.OK or pgconn.transaction_status != pq.TransactionStatus.IDLE:
        return False
    try:
        poller = select.poll()
        poller.register(pgconn.socket, select.POLLIN | select.POLLPRI)
        return not poller.poll(0)
    except (AttributeError, OSError, ValueError, psycopg.Error):  # no poll, no socket: query
        return False


def ensure_sqlite_folder(url: str) -> None:
    """Create the folder of a SQLite file, so that the first run needs no set-up."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def make_database(url: str, settings: Settings | None = None) -> Database:
    """Create the engine for ``url`` (a SQLAlchemy URL) with tarcza's settings."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"future": True}
    ensure_sqlite_folder(url)
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs["pool_size"] = settings.db_pool_size if settings else 20  # Settings' defaults
        kwargs["max_overflow"] = settings.db_max_overflow if settings else 10
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        _configure_sqlite(engine)
    elif parsed.get_backend_name() == "postgresql":
        _ping_on_checkout(engine)
    reads = sessionmaker(engine.execution_options(tarcza_reads_only=True), expire_on_commit=False)
    return Database(
        engine=engine, sessions=sessionmaker(engine, expire_on_commit=False), reads=reads
    )
