"""The fast path of ``POST /api/v1/reports`` (intake.fast_path; issue 16), on SQLite and
PostgreSQL.

A public client's plain JSON report is taken before the framework; it is answered as the route
answers (the same status, headers and JSON), acknowledged only once committed (a row and an audit
entry), held to the limits, and refused through the application's own error handlers. Anything
else reaches the route with its body intact.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.types import Receive, Scope, Send

from tarcza.audit import service as audit
from tarcza.config import Settings
from tarcza.intake.fast_path import ReportFastPath
from tarcza.intake.models import Report
from tarcza.store.engine import Database
from tests.support.app import make_app

REPORTS = "/api/v1/reports"
REPORT = {
    "category": "sextortion",
    "description": "Invented: someone threatens to share photos.",
    "urls": ["https://example.com/profile/fast-path"],
}


class Framework:
    """Counts the requests that reach the application behind the fast path."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)


def _fast_path(app: FastAPI) -> ReportFastPath:
    layer: Any = app.middleware_stack
    while not isinstance(layer, ReportFastPath):
        layer = layer.app
    return layer


def _client(app: FastAPI) -> Iterator[tuple[TestClient, Framework]]:
    with TestClient(app, base_url="http://127.0.0.1") as client:
        client.get("/")  # the middleware stack is built on the first request
        fast = _fast_path(app)
        framework = Framework(fast.app)
        fast.app = framework
        yield client, framework


@pytest.fixture
def served(settings: Settings, db: Database) -> Iterator[tuple[TestClient, Framework]]:
    yield from _client(make_app(settings, db))


def _route_answer(client: TestClient, body: dict[str, Any], key: str) -> Any:
    """The route's own answer (an Idempotency-Key sends a report the route's way)."""
    return client.post(REPORTS, json=body, headers={"Idempotency-Key": key})


def test_a_plain_report_is_taken_before_the_framework_and_answered_as_the_route_answers(
    served: tuple[TestClient, Framework], db: Database
) -> None:
    client, framework = served
    fast = client.post(REPORTS, json=REPORT)
    assert framework.paths == []
    route = _route_answer(client, REPORT, "fast-path-1")
    assert framework.paths == [REPORTS]
    assert fast.status_code == route.status_code == 201
    assert list(fast.headers.keys()) == list(route.headers.keys())
    assert fast.headers["content-type"] == route.headers["content-type"] == "application/json"
    assert fast.headers["x-frame-options"] == "DENY"
    assert fast.json().keys() == route.json().keys() == {"reference", "pin", "status"}
    assert fast.json()["status"] == "received"
    # Committed before the answer: the row, with its URL, and its audit entry on an intact chain.
    with db.reading() as session:
        row = session.scalars(select(Report).where(Report.reference == fast.json()["reference"]))
        assert row.one().urls == REPORT["urls"]
        entries = audit.entries_for(session, "report", fast.json()["reference"])
        assert [e.action for e in entries] == ["report.created"]
        assert audit.verify_log(session).ok


def test_a_report_the_schema_refuses_reaches_the_route_with_its_body(
    served: tuple[TestClient, Framework], db: Database
) -> None:
    client, framework = served
    body = {**REPORT, "category": "no-such-category", "urls": ["ftp://example.com/x"]}
    fast = client.post(
        REPORTS, content=json.dumps(body), headers={"content-type": "application/json"}
    )
    assert framework.paths == [REPORTS]  # handed on
    route = _route_answer(client, body, "fast-path-2")
    assert fast.status_code == route.status_code == 422
    assert fast.json() == route.json()
    assert {tuple(e["loc"]) for e in fast.json()["detail"]} >= {("body", "category")}
    with db.reading() as session:
        assert session.scalars(select(Report)).all() == []


def test_a_report_the_service_refuses_is_answered_by_the_applications_handler(
    served: tuple[TestClient, Framework], db: Database
) -> None:
    client, framework = served
    body = {"category": "sextortion", "description": ""}  # valid JSON, nothing reported
    fast = client.post(REPORTS, json=body)
    assert framework.paths == []
    route = _route_answer(client, body, "fast-path-3")
    assert fast.status_code == route.status_code == 422
    assert fast.json() == route.json()
    assert fast.json()["detail"][0]["type"] == "nothing_reported"
    assert fast.headers["x-content-type-options"] == "nosniff"
    with db.reading() as session:
        assert session.scalars(select(Report)).all() == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer not-a-key"},  # a partner's key: the route checks it (401)
        {"content-type": "text/plain"},  # not JSON: the route answers 415
    ],
)
def test_other_requests_go_the_routes_way(
    served: tuple[TestClient, Framework], headers: dict[str, str]
) -> None:
    client, framework = served
    answer = client.post(REPORTS, content=json.dumps(REPORT), headers=headers)
    assert framework.paths == [REPORTS]
    assert answer.status_code in (401, 415)


def test_a_body_over_the_limit_is_refused_by_the_body_limit(
    settings: Settings, db: Database
) -> None:
    small = settings.model_copy(update={"max_json_bytes": 200})
    for client, framework in _client(make_app(small, db)):
        answer = client.post(REPORTS, json={**REPORT, "description": "x" * 400})
        assert answer.status_code == 413
        assert framework.paths == [REPORTS]


def test_the_limits_apply_on_the_fast_path(settings: Settings, db: Database) -> None:
    limited = settings.model_copy(update={"report_rate_per_client": "2/hour"})
    for client, framework in _client(make_app(limited, db)):
        answers = [client.post(REPORTS, json=REPORT) for _ in range(3)]
        assert [a.status_code for a in answers] == [201, 201, 429]
        assert framework.paths == []
        refused = answers[2]
        assert int(refused.headers["retry-after"]) > 0
        assert refused.json()["help"][0]["number"] == "112"
        assert refused.headers["x-frame-options"] == "DENY"
        with db.reading() as session:
            assert len(session.scalars(select(Report)).all()) == 2


class Concurrency:
    """Wraps a function to count how many calls of it run at once, each held 0.15 s."""

    def __init__(self, func: Any) -> None:
        self.func = func
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.15)
        try:
            return self.func(*args, **kwargs)
        finally:
            with self.lock:
                self.running -= 1


def test_a_process_submits_at_most_its_intake_threads_reports_at_once(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More reports than ``intake_threads`` wait in the process (not at the database), and are
    all taken."""
    few = settings.model_copy(update={"intake_threads": 2})
    for client, framework in _client(make_app(few, db)):
        intake = _fast_path(client.app)._intake  # type: ignore[arg-type]
        counted = Concurrency(intake.submit)
        monkeypatch.setattr(intake, "submit", counted)
        with ThreadPoolExecutor(6) as senders:
            sent = [senders.submit(partial(client.post, REPORTS, json=REPORT)) for _ in range(6)]
            answers = [s.result() for s in sent]
        assert [a.status_code for a in answers] == [201] * 6
        assert framework.paths == []
        assert counted.most == 2
        with db.reading() as session:
            assert len(session.scalars(select(Report)).all()) == 6
