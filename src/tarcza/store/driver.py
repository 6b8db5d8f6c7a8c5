"""Statements sent straight to PostgreSQL's driver (psycopg), in a session's transaction.

For the few statements on a hot path (a new report, its URLs, its audit entry): SQLAlchemy's
execution machinery costs several times the driver's own work per statement (issue 16). The
statement runs on the session's connection, so it is part of the session's transaction; a
driver error is raised as SQLAlchemy raises every other one (``IntegrityError`` and so on), so
callers catch the same exceptions either way. PostgreSQL only: callers keep their SQLAlchemy
statement for the other databases.

Queries use psycopg's placeholders (``%(name)s``); the driver prepares a query on the server
once it has run a few times on a connection (``prepare_threshold``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import psycopg
from sqlalchemy import exc
from sqlalchemy.orm import Session


def is_postgresql(session: Session) -> bool:
    """Whether ``session`` talks to PostgreSQL."""
    return session.get_bind().dialect.name == "postgresql"


_DRIVER = "tarcza_driver_connection"


def connection_of(session: Session) -> psycopg.Connection[Any]:
    """The psycopg connection under ``session``'s transaction (begun if need be).

    Kept in ``session.info`` beside the transaction it belongs to: a report asks three times
    (its row, its URLs, its audit entry), and SQLAlchemy's way down to the driver's connection
    cost more than a tenth of a server worker's time (issue 16). A later transaction of the same
    session (its connection may be another) looks it up again.
    """
    transaction = session.get_transaction()
    kept = session.info.get(_DRIVER)
    if kept is not None and transaction is not None and kept[0] is transaction:
        return cast(psycopg.Connection[Any], kept[1])
    driver = session.connection().connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    session.info[_DRIVER] = (session.get_transaction(), driver)
    return driver


def fetch(
    session: Session,
    query: str | bytes,
    params: Mapping[str, Any] | None = None,
    *,
    prepare: bool | None = None,
) -> list[tuple[Any, ...]]:
    """Run ``query`` in ``session``'s transaction and return its rows (none for a statement
    that returns none)."""
    connection = connection_of(session)
    try:
        with connection.cursor() as cursor:
            cursor.execute(query, params, prepare=prepare)
            return cursor.fetchall() if cursor.description is not None else []
    except psycopg.Error as error:
        raise as_sqlalchemy_error(error) from error


def as_sqlalchemy_error(error: psycopg.Error) -> exc.DBAPIError:
    """The SQLAlchemy exception that wraps ``error`` (``IntegrityError`` for a unique key)."""
    wrapped = exc.DBAPIError.instance("driver statement", None, error, psycopg.Error, ismulti=False)
    assert isinstance(wrapped, exc.DBAPIError)  # a psycopg.Error always wraps as one
    return wrapped
