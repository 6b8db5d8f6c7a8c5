"""HMA's matching API as HMA answers it (issue 15), through HTTP on SQLite and PostgreSQL:
boolean spellings, missing parameters, distances of exact matches, a lookup by uploaded file,
the index status, hash comparison, and matches an allow-list suppressed."""

from __future__ import annotations

import io
import secrets

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tarcza.config import Settings
from tarcza.hashing import bank_service
from tarcza.hashing.banks import Entry, SignalType
from tarcza.hashing.service import hash_image_bytes
from tarcza.store.engine import Database
from tests.hashing.test_match_api import ACTOR, NOW, Fixture, auth, flip, world

__all__ = ["world"]  # the fixture, shared with the match API's tests

TRUE = ["true", "True", "TRUE", "1", "yes", "YES", "y", "Y", "on", "On", "t", "T"]
FALSE = ["false", "False", "0", "no", "NO", "n", "N", "off", "OFF", "f", "F"]


@pytest.mark.parametrize("spelling", TRUE + FALSE)
def test_every_boolean_spelling_hma_accepts_is_read(
    client: TestClient, world: Fixture, spelling: str
) -> None:
    content_id = world.known_ids[world.known_pdq]
    params = {"signal_type": "pdq", "signal": world.known_pdq, "include_distance": spelling}
    answer = client.get("/m/raw_lookup", params=params, headers=auth(world))
    assert answer.status_code == 200, answer.text
    if spelling in TRUE:
        assert answer.json() == {"matches": [{"bank_content_id": content_id, "distance": "0"}]}
    else:
        assert answer.json() == {"matches": [content_id]}
    flipped = client.get(
        "/m/lookup",
        params={"signal_type": "pdq", "signal": world.known_pdq, "bypass_coinflip": spelling},
        headers=auth(world),
    )
    assert flipped.status_code == 200 and list(flipped.json()) == ["KNOWN"]


def test_a_word_that_is_no_boolean_answers_422_with_the_validation_list(
    client: TestClient, world: Fixture
) -> None:
    params = {"signal_type": "pdq", "signal": world.known_pdq, "include_distance": "maybe"}
    answer = client.get("/m/raw_lookup", params=params, headers=auth(world))
    assert answer.status_code == 422
    assert [(e["loc"], e["type"]) for e in answer.json()] == [
        (["include_distance"], "bool_parsing")
    ]


def test_missing_parameters_answer_as_hma_does(client: TestClient, world: Fixture) -> None:
    raw = client.get("/m/raw_lookup", headers=auth(world))
    assert raw.status_code == 422
    assert sorted((tuple(e["loc"]), e["type"]) for e in raw.json()) == [
        (("signal",), "missing"),
        (("signal_type",), "missing"),
    ]
    assert all(e["msg"] for e in raw.json())
    # /m/lookup's parameters are all optional in HMA: it answers 400 and says what it needs.
    lookup = client.get("/m/lookup", params={"signal_type": "pdq"}, headers=auth(world))
    assert lookup.status_code == 400
    assert lookup.json()["message"] == "Either url or both signal and signal_type are required"


def test_an_exact_hash_match_reports_its_distance_as_hma_does(
    client: TestClient, world: Fixture
) -> None:
    content_id = world.known_ids[world.known_md5]
    params = {"signal_type": "video_md5", "signal": world.known_md5}
    lookup = client.get("/m/lookup", params=params, headers=auth(world))
    assert lookup.json() == {"KNOWN": [{"bank_content_id": content_id, "distance": "-"}]}
    raw = client.get(
        "/m/raw_lookup", params={**params, "include_distance": "yes"}, headers=auth(world)
    )
    assert raw.json() == {"matches": [{"bank_content_id": content_id, "distance": "-"}]}
    near = client.get(
        "/m/lookup",
        params={"signal_type": "pdq", "signal": flip(world.known_pdq, 2)},
        headers=auth(world),
    )
    assert near.json()["KNOWN"][0]["distance"] == "2"


def test_a_match_an_unseen_allow_list_suppressed_is_said_without_content(
    client: TestClient, world: Fixture
) -> None:
    params = {"signal_type": "pdq", "signal": world.benign_pdq}
    lookup = client.get("/m/lookup", params=params, headers=auth(world))
    assert lookup.status_code == 200 and lookup.json() == {}
    assert lookup.headers["X-Tarcza-Suppressed-Matches"] == "1"
    raw = client.get("/m/raw_lookup", params=params, headers=auth(world))
    assert raw.json() == {"matches": []} and raw.headers["X-Tarcza-Suppressed-Matches"] == "1"
    body = {"signals": [{"signal_type": "pdq", "signal": world.benign_pdq}]}
    batch = client.post("/api/v1/match", json=body, headers=auth(world)).json()
    assert batch["results"][0]["matches"] == []
    assert batch["results"][0]["suppressed_matches"] == 1
    # Nothing suppressed: nothing said (and a match outside the scope is not counted).
    plain = client.get(
        "/m/lookup", params={"signal_type": "pdq", "signal": world.other_pdq}, headers=auth(world)
    )
    assert plain.headers["X-Tarcza-Suppressed-Matches"] == "0"


def synthetic_png(seed: int) -> bytes:
    """A synthetic pattern (stripes and a square), never a real picture."""
    img = Image.new("RGB", (64, 64), (seed % 256, 40, 200))
    for x in range(0, 64, 8):
        img.paste((250, (seed * 7) % 256, 10), (x, 0, x + 4, 64))
    img.paste((0, 0, 0), (10, 10, 30 + seed % 20, 40))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def test_a_lookup_by_uploaded_photo_answers_by_signal_type(
    client: TestClient, world: Fixture, db: Database
) -> None:
    data = synthetic_png(3)
    hashes = hash_image_bytes(data)
    assert hashes.pdq is not None
    with db.transaction() as session:
        bank_service.add_signals(
            session,
            "KNOWN",
            [Entry(SignalType.PDQ, hashes.pdq), Entry(SignalType.SHA256, hashes.sha256)],
            actor=ACTOR,
            now=NOW,
        )
    answer = client.post(
        "/m/lookup", files={"photo": ("x.png", data, "image/png")}, headers=auth(world)
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"pdq", "video_md5", "video_sha256"}
    assert [m["distance"] for m in body["pdq"]["KNOWN"]] == ["0"]
    assert [m["distance"] for m in body["video_sha256"]["KNOWN"]] == ["-"]
    assert body["video_md5"] == {}
    assert answer.headers["X-Tarcza-Suppressed-Matches"] == "0"


@pytest.mark.parametrize(
    ("files", "status"),
    [
        ({"photo": ("x.txt", b"not an image", "text/plain")}, 400),
        ({"document": ("x.png", synthetic_png(1), "image/png")}, 400),
        (
            {
                "photo": ("x.png", synthetic_png(1), "image/png"),
                "video": ("y.png", synthetic_png(2), "image/png"),
            },
            400,
        ),
        ({}, 400),
    ],
)
def test_a_lookup_by_upload_refuses_what_it_cannot_hash(
    client: TestClient, world: Fixture, files: dict[str, tuple[str, bytes, str]], status: int
) -> None:
    kwargs = {"files": files} if files else {"data": {"x": "y"}}
    answer = client.post("/m/lookup", headers=auth(world), **kwargs)  # type: ignore[arg-type]
    assert answer.status_code == status, answer.text
    assert answer.json()["message"]


def test_an_upload_needs_the_key_and_spends_the_quota(client: TestClient, world: Fixture) -> None:
    files = {"photo": ("x.png", synthetic_png(4), "image/png")}
    assert client.post("/m/lookup", files=files).status_code == 401


def test_the_index_status_counts_the_partners_signals_by_type(
    client: TestClient, world: Fixture
) -> None:
    answer = client.get("/m/index/status", headers=auth(world))
    assert answer.status_code == 200
    status = answer.json()
    assert set(status) == {"pdq", "vpdq", "video_md5", "video_sha256", "sha1"}
    # KNOWN holds two PDQ and one MD5; OTHER and BENIGN are outside the key's scope.
    assert status["pdq"]["size"] == 2 and status["pdq"]["present"] is True
    assert status["video_md5"]["size"] == 1 and status["vpdq"]["size"] == 0
    assert isinstance(status["pdq"]["built_to"], int)
    one = client.get("/m/index/status", params={"signal_type": "pdq"}, headers=auth(world))
    assert list(one.json()) == ["pdq"]
    bad = client.get("/m/index/status", params={"signal_type": "nope"}, headers=auth(world))
    assert bad.status_code == 400 and bad.json()["message"] == "No such signal type 'nope'"
    assert client.get("/m/index/status").status_code == 401


def test_compare_answers_match_and_distance_per_signal_type(
    client: TestClient, world: Fixture
) -> None:
    a = secrets.token_hex(32)
    md5 = secrets.token_hex(16)
    body = {"pdq": [a, flip(a, 9)], "video_md5": [md5, md5]}
    answer = client.post("/m/compare", json=body, headers=auth(world))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "pdq": [True, {"distance": 9}],  # HMA's (match, similarity) pair
        "video_md5": [True, {}],
    }
    far = client.post("/m/compare", json={"pdq": [a, flip(a, 40)]}, headers=auth(world))
    assert far.json() == {"pdq": [False, {"distance": 40}]}
    for wrong in ([a, a], {"pdq": [a]}, {"pdq": "x"}, {"nope": [a, a]}, {"pdq": [a, "xyz"]}):
        refused = client.post("/m/compare", json=wrong, headers=auth(world))
        assert refused.status_code == 400 and refused.json()["message"]
    assert client.post("/m/compare", json=body).status_code == 401


def test_an_upload_over_the_file_limit_is_413(
    settings: Settings, db: Database, world: Fixture
) -> None:
    from tests.support.app import make_app

    small = settings.model_copy(update={"max_file_bytes": 2000})
    with TestClient(make_app(small, db), base_url="http://127.0.0.1") as tight:
        big = {"photo": ("x.png", b"\x89PNG" + secrets.token_bytes(5000), "image/png")}
        answer = tight.post("/m/lookup", files=big, headers=auth(world))
        assert answer.status_code == 413
        fits = {"photo": ("x.png", synthetic_png(5), "image/png")}
        assert tight.post("/m/lookup", files=fits, headers=auth(world)).status_code == 200
