"""Test databases: a fresh SQLite file and a fresh PostgreSQL database, both migrated."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PG_ADMIN_URL = os.environ.get("TARCZA_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def postgres_available() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 — any failure means "not available"
        return f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {exc.__class__.__name__}: {exc}"
    return None


def require_postgres() -> None:
    """Skip with a visible reason — or fail in CI, where PostgreSQL is required."""
    reason = postgres_available()
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"CI requires PostgreSQL: {reason}")
    pytest.skip(reason)


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create an empty database, yield its SQLAlchemy URL, drop it afterwards."""
    import psycopg

    name = f"tarcza_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
