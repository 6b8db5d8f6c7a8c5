"""A burst of reports through ``tarcza serve --workers 2`` on PostgreSQL (issue 16): each process
submits ``intake_threads`` (3) reports at once and the rest wait in the process, so the burst
never holds more than a few database connections, however many clients send at once; every
report is still acknowledged only once committed, and the audit chain holds."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import select

from tarcza.audit.service import verify_log
from tarcza.intake.models import Report
from tarcza.schema import migrate
from tarcza.store.engine import make_database
from tests.support.databases import fresh_postgres_database, require_postgres
from tests.support.server import running_server

pytestmark = [pytest.mark.system, pytest.mark.slow]

CLIENTS = 48
WORKERS = 2


@pytest.fixture
def database() -> Iterator[str]:
    require_postgres()
    with fresh_postgres_database() as url:
        migrate.upgrade(url)
        yield url


class Backends:
    """Samples, every 20 ms, how many of the database's backends are in a transaction."""

    def __init__(self, url: str) -> None:
        self.url = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self.name = url.rsplit("/", 1)[1]
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> Backends:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _sample(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                    " AND pid <> pg_backend_pid() AND xact_start IS NOT NULL",
                    (self.name,),
                ).fetchone()
                self.most = max(self.most, int(row[0]) if row else 0)
                time.sleep(0.02)


def burst(url: str, count: int) -> list[tuple[int, dict[str, Any]]]:
    """``count`` reports sent at once, each on a connection of its own: every request is
    written before any answer is read (no event loop: a browser test earlier in the session
    may leave one running in this thread); each answer's status and JSON."""
    host, port = url.removeprefix("http://").split(":")
    connections = [http.client.HTTPConnection(host, int(port), timeout=60) for _ in range(count)]
    try:
        for connection in connections:
            connection.connect()
        for n, connection in enumerate(connections):
            body = {
                "category": "sextortion",
                "description": f"Invented: a burst report, number {n}.",
                "urls": [f"https://example.com/profile/burst-{n % 5}"],
            }
            connection.request(
                "POST",
                "/api/v1/reports",
                body=json.dumps(body),
                headers={"Content-Type": "application/json"},
            )
        answers = []
        for connection in connections:
            response = connection.getresponse()
            answers.append((response.status, json.loads(response.read())))
        return answers
    finally:
        for connection in connections:
            connection.close()


def test_a_burst_of_reports_waits_in_the_server_not_at_the_database(
    database: str, tmp_path: Path
) -> None:
    with running_server(database, tmp_path, workers=WORKERS, timeout=120) as server:
        assert httpx.get(server.url + "/api/v1/openapi.json", timeout=30).status_code == 200
        with Backends(database) as backends:
            answers = [a for _ in range(3) for a in burst(server.url, CLIENTS)]
    assert [status for status, _ in answers] == [201] * 3 * CLIENTS
    # Three reports a process at once (6 measured), and a moment's transaction of a process's
    # other threads (the matcher's and the partner keys' refreshers): with 40 threads a
    # process, 18-20 of the 48 clients' reports were in a transaction at once.
    assert 1 <= backends.most <= WORKERS * 3 + 2, backends.most
    db = make_database(database)
    try:
        with db.reading() as session:
            stored = set(session.scalars(select(Report.reference)))
            assert {answer["reference"] for _, answer in answers} <= stored
            assert verify_log(session).ok
    finally:
        db.dispose()
