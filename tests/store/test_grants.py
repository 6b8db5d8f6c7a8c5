"""On PostgreSQL the application role may append to the audit log but never rewrite it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from tarcza.audit import service as audit
from tarcza.schema import migrate
from tarcza.schema.grants import apply_grants, grant_statements
from tarcza.store.base import utcnow
from tarcza.store.engine import Database, make_database
from tests.support.databases import fresh_postgres_database, require_postgres


@pytest.fixture
def pg() -> Iterator[Database]:
    """A migrated PostgreSQL database of its own (roles and grants are PostgreSQL's)."""
    require_postgres()
    with fresh_postgres_database() as url:
        migrate.upgrade(url)
        database = make_database(url)
        yield database
        database.dispose()


def test_grant_statements_keep_the_audit_log_append_only() -> None:
    sql = grant_statements("tarcza_app")
    assert "GRANT SELECT, INSERT ON audit_log TO tarcza_app" in sql
    assert not any("UPDATE" in s and "audit_log" in s for s in sql)
    with pytest.raises(ValueError):
        grant_statements("app; DROP TABLE reports")


def test_the_app_role_appends_but_cannot_update_or_delete(pg: Database) -> None:
    role = f"tarcza_app_{uuid.uuid4().hex[:8]}"
    with pg.transaction() as session:
        session.execute(text(f"CREATE ROLE {role} NOLOGIN"))
    try:
        apply_grants(pg, role)
        with pg.transaction() as session:
            session.execute(text(f"SET LOCAL ROLE {role}"))
            audit.append(
                session,
                actor="t",
                action="test.append",
                subject_type="t",
                subject_id="1",
                now=utcnow(),
            )
        for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
            with (
                pytest.raises(ProgrammingError, match="permission denied"),
                pg.transaction() as session,
            ):
                session.execute(text(f"SET LOCAL ROLE {role}"))
                session.execute(text(statement))
    finally:
        with pg.transaction() as session:
            session.execute(text(f"DROP OWNED BY {role}"))
            session.execute(text(f"DROP ROLE {role}"))
