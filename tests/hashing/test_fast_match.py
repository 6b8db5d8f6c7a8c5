"""``POST /api/v1/match`` with the staleness bound on (as ``tarcza serve`` runs it), on SQLite and
PostgreSQL: the batches answered before the framework (``hashing.fast_match``) are answered as
the route answers them, byte for byte; anything else is the route's; the quota still gives
exactly its number of signals."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from tarcza.config import Settings
from tarcza.hashing import bank_service
from tarcza.hashing.banks import SignalType
from tarcza.hashing.fast_match import MatchFastPath
from tarcza.hashing.index import PdqIndex
from tarcza.hashing.matcher import ItemResult, Matcher, SignalQuery
from tarcza.store.engine import Database
from tests.hashing.test_fast_lookup import refreshed_client, refreshed_or_plain
from tests.hashing.test_lookup_staleness import _Alive
from tests.hashing.test_match_api import ACTOR, NOW, Fixture, _setup, auth, flip
from tests.support.windows import clear_of_window_boundary

DROP = {"date"}


def fast_path(app: FastAPI) -> MatchFastPath:
    """The application's match fast path (built at start, outside the framework)."""
    layer: Any = app.middleware_stack
    while not isinstance(layer, MatchFastPath):
        layer = layer.app
    return layer


@pytest.fixture
def fast(settings: Settings, db: Database) -> Iterator[tuple[TestClient, Fixture]]:
    settings = unlimited(settings).model_copy(update={"lookup_staleness_seconds": 0.5})
    world = _setup(db, settings)
    yield from ((c, world) for c in refreshed_client(settings, db))


def unlimited(settings: Settings) -> Settings:
    """``settings`` without a lookup quota (the fast and the slow applications share it)."""
    return settings.model_copy(update={"partner_lookup_rate": "none"})


def batch(*signals: tuple[str, str]) -> dict[str, Any]:
    return {"signals": [{"signal_type": t, "signal": s} for t, s in signals]}


def post(client: TestClient, world: Fixture, body: Any, **headers: str) -> Response:
    sent = {**auth(world), **headers}
    if isinstance(body, bytes):
        sent.setdefault("content-type", "application/json")
        return client.post("/api/v1/match", content=body, headers=sent)
    return client.post("/api/v1/match", json=body, headers=sent)


def same(answer: Response, reference: Response) -> None:
    assert (answer.status_code, answer.content) == (reference.status_code, reference.content)
    assert {k: v for k, v in answer.headers.items() if k not in DROP} == {
        k: v for k, v in reference.headers.items() if k not in DROP
    }


def through_route(settings: Settings, db: Database, world: Fixture, bodies: list[Any]) -> list:  # type: ignore[type-arg]
    """The answers of the route alone (no staleness bound: nothing is answered early)."""
    for slow in refreshed_or_plain(unlimited(settings), db):
        answers = [post(slow, world, body) for body in bodies]
        assert fast_path(slow.app).answered == 0  # type: ignore[arg-type]
    return answers


def test_batches_of_pdq_signals_are_answered_as_the_route_answers_them(
    fast: tuple[TestClient, Fixture], settings: Settings, db: Database
) -> None:
    client, world = fast
    miss = secrets.token_hex(32)
    bodies: list[Any] = [
        batch(("pdq", miss)),
        batch(*(("pdq", secrets.token_hex(32)) for _ in range(100))),
        # A hit (label and all), a canonical echo, an allow-list suppression, a bank outside
        # the key's scope, a miss, and the same hit twice, in one batch.
        batch(
            ("pdq", flip(world.known_pdq, 4)),
            ("PDQ", world.known_pdq.upper()),
            ("pdq", world.benign_pdq),
            ("pdq", world.other_pdq),
            ("pdq", miss),
            ("pdq", flip(world.known_pdq, 4)),
        ),
        batch(("pdq", world.other_pdq), ("pdq", miss)),  # a candidate that answers nothing
    ]
    post(client, world, batch(("pdq", miss)))  # the key is remembered from now on
    path = fast_path(client.app)  # type: ignore[arg-type]
    before = path.answered
    answers = [post(client, world, body) for body in bodies]
    assert path.answered - before == len(bodies)  # none fell through to the route
    references = through_route(settings, db, world, bodies)
    for answer, reference in zip(answers, references, strict=True):
        same(answer, reference)
    hits = answers[2].json()["results"]
    known = world.known_ids[world.known_pdq]
    assert [m["bank_content_id"] for m in hits[0]["matches"]] == [known]
    assert hits[0]["matches"][0]["label"] == "cat-a" and hits[0]["matches"][0]["distance"] == 4
    assert hits[1]["signal"] == world.known_pdq and hits[1]["signal_type"] == "pdq"
    assert hits[2]["matches"] == [] and hits[2]["suppressed_matches"] == 1
    assert hits[3]["matches"] == [] and hits[3]["suppressed_matches"] == 0
    assert hits[4]["matches"] == [] and hits[5] == hits[0]


def test_other_batches_and_bad_bodies_are_the_routes(
    fast: tuple[TestClient, Fixture], settings: Settings, db: Database
) -> None:
    client, world = fast
    miss = secrets.token_hex(32)
    bodies: list[Any] = [
        batch(("pdq", miss), ("md5", world.known_md5)),  # exact types: the database's
        batch(("sha256", secrets.token_hex(32))),
        b"{not json",
        b'{"signals": [{"signal_type": "pdq", "signal": NaN}]}',
        b"\xff\xfe",
        {"signals": []},
        {"signals": [{"signal_type": "pdq", "signal": miss}] * 1001},
        {"signals": [{"signal_type": "pdq", "signal": miss, "extra": 1}]},
        {"signals": [{"signal_type": "pdq", "signal": miss}], "extra": 1},
        {"signals": [{"signal_type": "pdq", "signal": 5}]},
        {"signals": {"signal_type": "pdq", "signal": miss}},
        [{"signal_type": "pdq", "signal": miss}],
        batch(("pdq", "zz"), ("nope", miss)),
        batch(("pdq", "a" * 65)),
        batch(("p" * 33, miss)),
    ]
    post(client, world, batch(("pdq", miss)))  # the key is remembered from now on
    path = fast_path(client.app)  # type: ignore[arg-type]
    before = path.answered
    answers = [post(client, world, body) for body in bodies]
    assert path.answered == before  # every one handed on
    references = through_route(settings, db, world, bodies)
    for answer, reference in zip(answers, references, strict=True):
        same(answer, reference)
    assert [a.status_code for a in answers[:2]] == [200, 200]
    assert {a.status_code for a in answers[2:]} <= {400, 422}
    assert answers[0].json()["results"][1]["matches"][0]["bank"] == "KNOWN"
    # Not JSON by its type, a wrong key, no key: the route's answers too.
    text = post(client, world, b'{"signals": []}', **{"content-type": "text/plain"})
    assert text.status_code == 422
    for headers in ({"Authorization": "Bearer tzp_wrong"}, {"Authorization": world.key}):
        body = batch(("pdq", miss))
        assert client.post("/api/v1/match", json=body, headers=headers).status_code == 401
    assert path.answered == before


@pytest.mark.parametrize("rate", ["4000/hour", "1000/hour"])
def test_the_quota_gives_exactly_its_number_of_signals(
    settings: Settings, db: Database, rate: str
) -> None:
    """A batch of N costs N: from the process's lease (4000/hour: leases of 200), or from the
    shared store when a batch costs more than a lease (1000/hour: leases of 50)."""
    settings = settings.model_copy(
        update={"lookup_staleness_seconds": 0.5, "partner_lookup_rate": rate}
    )
    world = _setup(db, settings)
    batches = int(rate.split("/")[0]) // 100
    clear_of_window_boundary(3600, 120)
    for client in refreshed_client(settings, db):
        path = fast_path(client.app)  # type: ignore[arg-type]
        # The key is remembered from now on (one signal of the quota).
        assert post(client, world, batch(("pdq", secrets.token_hex(32))))
        before = path.answered
        answers = [
            post(client, world, batch(*(("pdq", secrets.token_hex(32)) for _ in range(100))))
            for _ in range(batches + 3)
        ]
        answered = path.answered - before
        last = post(client, world, batch(("pdq", secrets.token_hex(32))))
    statuses = [a.status_code for a in answers]
    # The first signal took a unit (from a lease of 200, or of 50): the store's count is at a
    # lease, the last 100-signal batch that fits is the one before the quota's end.
    assert statuses == [200] * (batches - 1) + [429] * 4
    assert answered == batches - 1
    assert answers[-1].headers["retry-after"].isdigit()
    assert answers[-1].headers["x-content-type-options"] == "nosniff"
    assert last.status_code == 200  # the lease still holds a unit


def test_a_removed_signal_the_index_still_holds_is_not_answered(
    fast: tuple[TestClient, Fixture], db: Database
) -> None:
    """As the route: a hit in memory is checked against the database before it is answered."""
    client, world = fast
    body = batch(("pdq", flip(world.known_pdq, 2)), ("pdq", secrets.token_hex(32)))
    assert post(client, world, body).json()["results"][0]["matches"] != []
    matcher = client.app.state.services.get(Matcher)  # type: ignore[attr-defined]
    matcher.stop_refreshing()  # the index keeps the signal from now on
    matcher._refresher = _Alive()  # as if still refreshing
    try:
        with db.transaction() as session:
            bank_service.remove_signal(
                session, "KNOWN", SignalType.PDQ, world.known_pdq, actor=ACTOR, now=NOW
            )
        assert matcher.match_in_memory([[SignalQuery(SignalType.PDQ, world.known_pdq)]]) != [
            ItemResult()
        ]  # memory still has it
        path = fast_path(client.app)  # type: ignore[arg-type]
        before = path.answered
        answer = post(client, world, body)
        assert path.answered == before + 1
        assert [r["matches"] for r in answer.json()["results"]] == [[], []]
    finally:
        matcher._refresher = None


def test_a_failure_in_the_search_is_answered_as_the_route_answers(
    fast: tuple[TestClient, Fixture], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quota is spent before the search: a batch is answered here from then on (handed on,
    the route would spend it again), a failure with the application's own 500."""
    client, world = fast
    body = batch(("pdq", flip(world.known_pdq, 2)), ("pdq", secrets.token_hex(32)))
    assert post(client, world, body).status_code == 200  # the key is remembered from now on
    matcher = client.app.state.services.get(Matcher)  # type: ignore[attr-defined]

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("broken")

    monkeypatch.setattr(matcher, "match", broken)
    path = fast_path(client.app)  # type: ignore[arg-type]
    before = path.answered
    failed = post(client, world, body)
    assert failed.status_code == 500
    assert failed.json() == {"detail": "Internal error. The request was not completed."}
    assert failed.headers["x-content-type-options"] == "nosniff"
    assert path.answered == before + 1


def test_a_batch_with_hits_is_searched_once(
    fast: tuple[TestClient, Fixture], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One index search per batch, hits or not: the database checks the candidates that
    search found (the batch was once searched a second time for its signals with hits)."""
    client, world = fast
    searches: list[int] = []
    for name in ("search_batch", "search_batch_with_hashes"):
        real = getattr(PdqIndex, name)

        def counted(self: PdqIndex, queries: Any, *args: Any, _real: Any = real) -> Any:
            searches.append(len(queries))
            return _real(self, queries, *args)

        monkeypatch.setattr(PdqIndex, name, counted)
    body = batch(
        ("pdq", flip(world.known_pdq, 2)),
        ("pdq", secrets.token_hex(32)),
        ("pdq", world.known_pdq),
    )
    assert post(client, world, body).status_code == 200  # the key is remembered from now on
    searches.clear()
    path = fast_path(client.app)  # type: ignore[arg-type]
    before = path.answered
    answer = post(client, world, body)
    assert answer.status_code == 200 and path.answered == before + 1
    assert [bool(r["matches"]) for r in answer.json()["results"]] == [True, False, True]
    assert searches == [3]


def test_a_batch_over_the_quota_is_refused_before_any_search(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings.model_copy(
        update={"lookup_staleness_seconds": 0.5, "partner_lookup_rate": "150/hour"}
    )
    world = _setup(db, settings)
    clear_of_window_boundary(3600, 60)
    for client in refreshed_client(settings, db):
        path = fast_path(client.app)  # type: ignore[arg-type]
        assert post(client, world, batch(("pdq", secrets.token_hex(32)))).status_code == 200
        matcher = client.app.state.services.get(Matcher)  # type: ignore[attr-defined]
        searched: list[str] = []
        for name in ("match_in_memory", "match"):
            real = getattr(matcher, name)

            def counted(
                *args: Any, _real: Any = real, _name: str = name, _log: Any = searched, **kw: Any
            ) -> Any:
                _log.append(_name)
                return _real(*args, **kw)

            monkeypatch.setattr(matcher, name, counted)
        before = path.answered
        over = post(client, world, batch(*(("pdq", secrets.token_hex(32)) for _ in range(150))))
        assert over.status_code == 429 and over.headers["retry-after"].isdigit()
        assert searched == [] and path.answered == before
        within = post(client, world, batch(*(("pdq", secrets.token_hex(32)) for _ in range(100))))
        assert within.status_code == 200 and searched == ["match"]
        assert path.answered == before + 1
