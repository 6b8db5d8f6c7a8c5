"""Fixtures shared by the whole suite.

Storage-touching tests take the ``db`` fixture, which runs them on SQLite and
on PostgreSQL; both databases are built by the Alembic migrations.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from tarcza.config import Settings
from tarcza.schema import migrate, registry
from tarcza.store.engine import Database, make_database
from tests.support.databases import fresh_postgres_database, require_postgres
from tests.support.keys import HMAC_KEY, KEY_A


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database of each kind, once per test session."""
    if request.param == "postgresql":
        require_postgres()
        with fresh_postgres_database() as url:
            migrate.upgrade(url)
            yield url
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.sqlite3'}"
        migrate.upgrade(url)
        yield url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """The database, emptied after each test."""
    database = make_database(database_url)
    yield database
    with database.transaction() as session:
        for table in reversed(registry.metadata().sorted_tables):
            session.execute(delete(table))
    database.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for one test: keys given, files under a temporary folder."""
    return Settings(
        var_dir=tmp_path,
        data_keys=f"k1:{KEY_A}",
        hmac_key=HMAC_KEY,
        # Tests make many reports from one client at once: the limits on new reports are the
        # subject of tests/intake/test_report_limits.py and the abuse suite, which set them.
        report_rate_per_client="",
        report_rate_overall="",
        # Every lookup reads the database, so that a test sees a change at once; the bounded
        # staleness of the lookup path is the subject of tests/hashing/test_lookup_staleness.py.
        lookup_staleness_seconds=0.0,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    """An HTTP client for the app, on each database."""
    from tests.support.app import make_app

    with TestClient(make_app(settings, db), base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium through Playwright (never a downloaded browser): one for the whole run,
    shared by the browser and the system tests (two Playwright loops cannot share a thread)."""
    from tests.support.browser import CHROMIUM, FLAGS

    if not CHROMIUM.exists():
        reason = (
            "Debian's Chromium is not installed at /usr/bin/chromium (apt-get install chromium)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()
