"""``GET /m/lookup`` with the staleness bound on (as ``tarcza serve`` runs it), on SQLite and
PostgreSQL: the answers from memory are the route's, hits and errors are the route's, and the
lookup quota still gives exactly its number of answers."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from tarcza.config import Settings
from tarcza.hashing.matcher import Matcher
from tarcza.store.engine import Database
from tests.hashing.test_match_api import Fixture, _setup, auth, flip
from tests.support.app import make_app
from tests.support.windows import clear_of_window_boundary

#: The names of the threads that read the database in the background (not for an answer).
REFRESHERS = frozenset({"tarcza-matcher-refresh", "tarcza-partner-keys"})


def refreshed_client(settings: Settings, db: Database) -> Iterator[TestClient]:
    app = make_app(settings, db)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        matcher = app.state.services.get(Matcher)
        deadline = time.monotonic() + 30
        while not matcher.refreshing and time.monotonic() < deadline:
            time.sleep(0.01)
        assert matcher.refreshing
        yield client


@pytest.fixture
def fast(settings: Settings, db: Database) -> Iterator[tuple[TestClient, Fixture]]:
    settings = settings.model_copy(update={"lookup_staleness_seconds": 0.5})
    world = _setup(db, settings)
    yield from ((c, world) for c in refreshed_client(settings, db))


def lookup(client: TestClient, world: Fixture, **params: str) -> tuple[int, object, dict]:  # type: ignore[type-arg]
    answer = client.get("/m/lookup", params=params, headers=auth(world))
    return answer.status_code, answer.json(), dict(answer.headers)


def test_a_miss_from_memory_is_answered_as_the_route_answers_it(
    fast: tuple[TestClient, Fixture], settings: Settings, db: Database
) -> None:
    client, world = fast
    miss = secrets.token_hex(32)
    lookup(client, world, signal_type="pdq", signal=miss)  # the key is remembered from now on
    status, body, headers = lookup(client, world, signal_type="pdq", signal=miss)
    # The same request through the route alone (no bound: nothing answered from memory).
    for slow in refreshed_or_plain(settings, db):
        reference = slow.get(
            "/m/lookup", params={"signal_type": "pdq", "signal": miss}, headers=auth(world)
        )
    assert (status, body) == (reference.status_code, reference.json()) == (200, {})
    drop = {"date", "x-request-id"}
    assert {k: v for k, v in headers.items() if k not in drop} == {
        k: v for k, v in reference.headers.items() if k not in drop
    }


def refreshed_or_plain(settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(make_app(settings, db), base_url="http://127.0.0.1") as client:
        yield client


def test_hits_from_memory_are_answered_as_the_route_answers_them(
    fast: tuple[TestClient, Fixture], settings: Settings, db: Database
) -> None:
    client, world = fast
    asks = [
        {"signal_type": "pdq", "signal": flip(world.known_pdq, 4)},
        {"signal_type": "pdq", "signal": world.benign_pdq},  # an allow-list bank suppresses it
        {"signal_type": "pdq", "signal": world.known_pdq, "banks": "KNOWN,OTHER"},
        {"signal_type": "pdq", "signal": world.other_pdq},  # outside the key's banks
    ]
    # The key is remembered from now on; no answer has read any of the signals hit.
    assert lookup(client, world, signal_type="pdq", signal=secrets.token_hex(32))[0] == 200
    statements: list[str] = []

    def note(*args: object) -> None:
        # Not the background threads' (the matcher's catch-up, the partner keys' read ahead).
        if threading.current_thread().name not in REFRESHERS:
            statements.append(str(args[2]))

    # The application's own engine (make_app opens one of its own on the same database).
    engine = client.app.state.services.get(Database).engine  # type: ignore[attr-defined]
    event.listen(engine, "before_cursor_execute", note)
    try:
        answers = [client.get("/m/lookup", params=p, headers=auth(world)) for p in asks]
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert statements == []
    for slow in refreshed_or_plain(settings, db):  # no bound: every hit read from the database
        references = [slow.get("/m/lookup", params=p, headers=auth(world)) for p in asks]
    drop = {"date", "x-request-id"}
    for answer, reference in zip(answers, references, strict=True):
        assert (answer.status_code, answer.content) == (reference.status_code, reference.content)
        assert {k: v for k, v in answer.headers.items() if k not in drop} == {
            k: v for k, v in reference.headers.items() if k not in drop
        }
    known = world.known_ids[world.known_pdq]
    assert answers[0].json() == {"KNOWN": [{"bank_content_id": known, "distance": "4"}]}
    assert answers[1].json() == {} and answers[1].headers["x-tarcza-suppressed-matches"] == "1"
    assert answers[2].json() == {"KNOWN": [{"bank_content_id": known, "distance": "0"}]}
    assert answers[3].json() == {} and answers[3].headers["x-tarcza-suppressed-matches"] == "0"


def test_hits_and_errors_are_the_routes(fast: tuple[TestClient, Fixture]) -> None:
    client, world = fast
    for _ in range(2):  # the second time, the key is remembered
        status, body, headers = lookup(
            client, world, signal_type="pdq", signal=flip(world.known_pdq, 4)
        )
        assert status == 200 and list(body) == ["KNOWN"]  # type: ignore[call-overload]
        assert headers["x-tarcza-suppressed-matches"] == "0"
        bad = lookup(client, world, signal_type="pdq", signal="zz")
        assert bad[0] == 400
        assert lookup(client, world, signal_type="pdq")[0] == 400
        assert lookup(client, world, signal_type="pdq", signal="a" * 64, url="x")[0] == 400
        flipped = lookup(
            client, world, signal_type="pdq", signal=world.known_pdq, bypass_coinflip="maybe"
        )
        assert flipped[0] == 422
    # Outside the key's banks (by name): no match, from memory or not.
    scoped = lookup(client, world, signal_type="pdq", signal=world.known_pdq, banks="OTHER")
    assert scoped[:2] == (200, {})
    wrong = client.get(
        "/m/lookup",
        params={"signal_type": "pdq", "signal": secrets.token_hex(32)},
        headers={"Authorization": "Bearer tzp_" + secrets.token_urlsafe(32)},
    )
    assert wrong.status_code == 401


def test_the_quota_gives_exactly_its_number_of_answers(settings: Settings, db: Database) -> None:
    settings = settings.model_copy(
        update={"lookup_staleness_seconds": 0.5, "partner_lookup_rate": "100/hour"}
    )
    world = _setup(db, settings)
    clear_of_window_boundary(3600, 120)
    for client in refreshed_client(settings, db):
        statuses = [
            client.get(
                "/m/lookup",
                params={"signal_type": "pdq", "signal": secrets.token_hex(32)},
                headers=auth(world),
            ).status_code
            for _ in range(130)
        ]
    # Leases of 5 (100 / 20) are spent from memory; every unit leased is answered once.
    assert statuses == [200] * 100 + [429] * 30
