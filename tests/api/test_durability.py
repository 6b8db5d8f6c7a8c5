"""Killing the server mid-stream loses no report that was answered 201 (PostgreSQL)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tarcza.audit.service import verify_log
from tarcza.intake.models import Report
from tarcza.schema import migrate
from tarcza.store.engine import make_database
from tests.support.databases import fresh_postgres_database, require_postgres
from tests.support.server import running_server

pytestmark = pytest.mark.slow


def test_sigkill_during_posts_loses_no_acknowledged_report(tmp_path: Path) -> None:
    require_postgres()
    with fresh_postgres_database() as url:
        migrate.upgrade(url)
        acknowledged: list[str] = []
        broken: list[str] = []
        stop = threading.Event()
        with running_server(url, tmp_path, workers=2) as server:

            def post_forever(worker: int) -> None:
                with httpx.Client(base_url=server.url, timeout=5) as client:
                    n = 0
                    while not stop.is_set() and n < 2000:
                        n += 1
                        body = {"category": "csam", "urls": [f"https://example.com/{worker}/{n}"]}
                        try:
                            answer = client.post("/api/v1/reports", json=body)
                        except httpx.HTTPError as exc:
                            broken.append(type(exc).__name__)
                            return
                        if answer.status_code == 201:
                            acknowledged.append(answer.json()["reference"])

            threads = [threading.Thread(target=post_forever, args=(i,)) for i in range(6)]
            for thread in threads:
                thread.start()
            time.sleep(1.5)
            server.kill()
            stop.set()
            for thread in threads:
                thread.join(timeout=10)
        assert acknowledged, "no report was acknowledged before the kill"
        assert broken, "the kill interrupted no request in flight"
        db = make_database(url)
        with db.sessions() as session:
            stored = set(session.scalars(select(Report.reference)))
            verdict = verify_log(session)
        db.dispose()
        assert set(acknowledged) <= stored
        assert verdict.ok
