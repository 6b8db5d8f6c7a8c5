"""The partner lookup API through HTTP, on SQLite and PostgreSQL: keys, scope, batches,
errors, rate limits, and HMA's /m/lookup and /m/raw_lookup shapes."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tarcza.config import Settings, load_keys
from tarcza.crypto import KeyRing
from tarcza.hashing import bank_service
from tarcza.hashing.banks import BankKind, Entry, SignalType
from tarcza.hashing.models import BankSignal
from tarcza.hashing.partners import create_partner
from tarcza.hashing.schemas import MAX_BATCH
from tarcza.store.engine import Database

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ACTOR = "analyst:test"


def flip(hex_hash: str, bits: int) -> str:
    return f"{int(hex_hash, 16) ^ (((1 << bits) - 1) << (256 - bits)):064x}"


@dataclass
class Fixture:
    key: str
    known_pdq: str
    known_md5: str
    other_pdq: str
    benign_pdq: str
    known_ids: dict[str, int]


def _setup(db: Database, settings: Settings) -> Fixture:
    known_pdq, known_md5 = secrets.token_hex(32), secrets.token_hex(16)
    other_pdq, benign_pdq = secrets.token_hex(32), secrets.token_hex(32)
    with db.transaction() as session:
        for name, kind in (("KNOWN", BankKind.BLOCK), ("OTHER", BankKind.BLOCK)):
            bank_service.create_bank(session, name, actor=ACTOR, now=NOW, kind=kind, source="TEST")
        bank_service.create_bank(session, "BENIGN", actor=ACTOR, now=NOW, kind=BankKind.ALLOW)
        bank_service.add_signals(
            session,
            "KNOWN",
            [Entry(SignalType.PDQ, known_pdq, "cat-a"), Entry(SignalType.MD5, known_md5)],
            actor=ACTOR,
            now=NOW,
        )
        bank_service.add_signals(
            session, "OTHER", [Entry(SignalType.PDQ, other_pdq)], actor=ACTOR, now=NOW
        )
        bank_service.add_signals(
            session, "BENIGN", [Entry(SignalType.PDQ, benign_pdq)], actor=ACTOR, now=NOW
        )
        bank_service.add_signals(
            session, "KNOWN", [Entry(SignalType.PDQ, benign_pdq)], actor=ACTOR, now=NOW
        )
        _, key = create_partner(
            session, KeyRing(load_keys(settings)), "platform", ["KNOWN"], actor=ACTOR, now=NOW
        )
    with db.sessions() as session:
        ids = {v: i for v, i in session.execute(select(BankSignal.value, BankSignal.id))}
    return Fixture(key, known_pdq, known_md5, other_pdq, benign_pdq, ids)


@pytest.fixture
def world(db: Database, settings: Settings) -> Fixture:
    return _setup(db, settings)


def auth(world: Fixture) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.key}"}


def match(client: TestClient, world: Fixture, *signals: tuple[str, str]) -> dict:  # type: ignore[type-arg]
    body = {"signals": [{"signal_type": t, "signal": s} for t, s in signals]}
    response = client.post("/api/v1/match", json=body, headers=auth(world))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_lookups_need_a_valid_key(client: TestClient, world: Fixture) -> None:
    body = {"signals": [{"signal_type": "pdq", "signal": world.known_pdq}]}
    for headers in ({}, {"Authorization": "Bearer tzp_wrong"}, {"Authorization": world.key}):
        response = client.post("/api/v1/match", json=body, headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
    hma = client.get("/m/lookup", params={"signal_type": "pdq", "signal": world.known_pdq})
    assert hma.status_code == 401 and "message" in hma.json()


def test_a_batch_answers_each_signal_with_its_matches(client: TestClient, world: Fixture) -> None:
    near = flip(world.known_pdq, 5)
    answer = match(
        client,
        world,
        ("pdq", near.upper()),
        ("video_md5", world.known_md5),
        ("pdq", secrets.token_hex(32)),
    )
    first, second, third = answer["results"]
    assert first["signal"] == near and first["signal_type"] == "pdq"  # canonical echo
    assert first["matches"] == [
        {
            "bank": "KNOWN",
            "label": "cat-a",
            "source": "TEST",
            "signal_type": "pdq",
            "signal": world.known_pdq,
            "distance": 5,
            "bank_content_id": world.known_ids[world.known_pdq],
            "query_match_pct": None,  # vPDQ only
            "compared_match_pct": None,
        }
    ]
    assert [m["distance"] for m in second["matches"]] == [0]
    assert third["matches"] == []


def test_a_partner_never_sees_banks_outside_its_scope(client: TestClient, world: Fixture) -> None:
    answer = match(client, world, ("pdq", world.other_pdq))
    assert answer["results"][0]["matches"] == []
    hma = client.get(
        "/m/lookup",
        params={"signal_type": "pdq", "signal": world.other_pdq, "banks": "OTHER,KNOWN"},
        headers=auth(world),
    )
    assert hma.status_code == 200 and hma.json() == {}


def test_an_allow_list_match_suppresses_the_block_match(client: TestClient, world: Fixture) -> None:
    answer = match(client, world, ("pdq", world.benign_pdq))
    assert answer["results"][0]["matches"] == []


def test_bad_signals_are_refused_with_field_and_reason(client: TestClient, world: Fixture) -> None:
    body = {
        "signals": [
            {"signal_type": "pdq", "signal": world.known_pdq},
            {"signal_type": "pdq", "signal": "abc"},
            {"signal_type": "photodna", "signal": "abc"},
        ]
    }
    response = client.post("/api/v1/match", json=body, headers=auth(world))
    assert response.status_code == 422
    assert [(d["loc"], d["type"]) for d in response.json()["detail"]] == [
        (["body", "signals", 1, "signal"], "invalid_pdq"),
        (["body", "signals", 2, "signal_type"], "unknown_signal_type"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"signals": []},
        {"signals": [{"signal_type": "md5", "signal": "0" * 32}] * (MAX_BATCH + 1)},
        {"signals": [{"signal_type": "md5"}]},
        {"signals": [{"signal_type": "md5", "signal": 5}]},
        {"signals": "pdq"},
        [],
    ],
)
def test_malformed_batches_answer_422(client: TestClient, world: Fixture, body: object) -> None:
    response = client.post("/api/v1/match", json=body, headers=auth(world))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "body"


def test_hma_lookup_answers_banks_with_content_ids_and_distances(
    client: TestClient, world: Fixture
) -> None:
    params = {"signal_type": "pdq", "signal": flip(world.known_pdq, 3), "seed": "x"}
    response = client.get("/m/lookup", params=params, headers=auth(world))
    assert response.status_code == 200
    assert response.json() == {
        "KNOWN": [{"bank_content_id": world.known_ids[world.known_pdq], "distance": "3"}]
    }


def test_hma_raw_lookup_answers_ids_or_ids_with_distances(
    client: TestClient, world: Fixture
) -> None:
    content_id = world.known_ids[world.known_pdq]
    params = {"signal_type": "pdq", "signal": world.known_pdq}
    plain = client.get("/m/raw_lookup", params=params, headers=auth(world))
    assert plain.json() == {"matches": [content_id]}
    detailed = client.get(
        "/m/raw_lookup", params={**params, "include_distance": "true"}, headers=auth(world)
    )
    assert detailed.json() == {"matches": [{"bank_content_id": content_id, "distance": "0"}]}


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/m/lookup", {"signal_type": "pdq"}, "signal"),
        ("/m/raw_lookup", {"signal": "0" * 64, "signal_type": "nope"}, "signal_type"),
        ("/m/lookup", {"signal_type": "pdq", "signal": "xyz"}, "signal"),
        ("/m/lookup", {"signal_type": "nope", "signal": "0" * 64}, "signal_type"),
        ("/m/lookup", {"url": "https://example.org/a.jpg"}, "url"),
        ("/m/lookup", {"signal": "0" * 64}, "signal_type"),
    ],
)
def test_hma_errors_answer_400_with_message_and_field(
    client: TestClient, world: Fixture, path: str, params: dict[str, str], field: str
) -> None:
    response = client.get(path, params=params, headers=auth(world))
    assert response.status_code == 400
    body = response.json()
    assert body["message"] and body["detail"][0]["loc"] == ["query", field]


@pytest.fixture
def tight_client(settings: Settings, db: Database) -> Iterator[TestClient]:
    from tests.support.app import make_app

    tight = settings.model_copy(update={"partner_lookup_rate": "3/minute"})
    with TestClient(make_app(tight, db), base_url="http://127.0.0.1") as test_client:
        yield test_client


def test_a_key_over_its_rate_gets_429_with_retry_after(
    tight_client: TestClient, world: Fixture
) -> None:
    from tests.support.windows import clear_of_window_boundary

    clear_of_window_boundary(60, 15)
    params = {"signal_type": "md5", "signal": world.known_md5}
    for _ in range(3):
        assert tight_client.get("/m/lookup", params=params, headers=auth(world)).status_code == 200
    refused = tight_client.get("/m/lookup", params=params, headers=auth(world))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    body = {"signals": [{"signal_type": "md5", "signal": world.known_md5}]}
    batch = tight_client.post("/api/v1/match", json=body, headers=auth(world))
    assert batch.status_code == 429


def test_the_batch_answer_is_the_documented_model() -> None:
    """``POST /api/v1/match`` writes its JSON without the models: the same fields, in order."""
    from tarcza.hashing.banks import BankKind as Kind
    from tarcza.hashing.matcher import Match
    from tarcza.hashing.routes import match_out
    from tarcza.hashing.schemas import MatchOut

    for pct in (None, 87.5):
        match = Match(
            signal_id=7, signal_type=SignalType.VPDQ, signal="x", bank_id=1, bank="KNOWN",
            kind=Kind.BLOCK, label="ą-label", source="TEST", distance=13,
            query_match_pct=pct, compared_match_pct=pct,
        )  # fmt: skip
        assert match_out(match) == MatchOut.of(match).model_dump(mode="json")
        assert list(match_out(match)) == list(MatchOut.model_fields)
