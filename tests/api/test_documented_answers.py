"""The API answers what its OpenAPI document says, on the edges where it once did not:
a file over the size limit is a 413 (not 422), a key of any length that is no partner's is
a 401 (not 422). On SQLite and PostgreSQL, through HTTP."""

from __future__ import annotations

import io
import random
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tarcza.config import Settings
from tarcza.intake.models import Report
from tarcza.store.engine import Database
from tests.api.test_reports_api import count, multipart, png_bytes, report
from tests.hashing.test_match_api import Fixture, _setup
from tests.support.app import make_app


def documented(client: TestClient, method: str, path: str) -> set[str]:
    """The statuses the served OpenAPI document lists for one operation."""
    document: dict[str, Any] = client.get("/api/v1/openapi.json").json()
    return set(document["paths"][path][method]["responses"])


def noise_png(side: int) -> bytes:
    """A PNG that does not compress: about 3 bytes a pixel."""
    noisy = Image.frombytes("RGB", (side, side), random.Random(side).randbytes(side * side * 3))
    out = io.BytesIO()
    noisy.save(out, format="PNG")
    return out.getvalue()


def test_a_file_over_the_size_limit_is_the_documented_413_naming_it(
    settings: Settings, db: Database
) -> None:
    small = settings.model_copy(update={"max_file_bytes": 4096})
    big = noise_png(64)
    assert len(big) > 4096

    with TestClient(make_app(small, db), base_url="http://127.0.0.1") as client:
        response = multipart(
            client,
            report(),
            [("ok.png", png_bytes(), "image/png"), ("big.png", big, "image/png")],
        )
        statuses = documented(client, "post", "/api/v1/reports")

    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "detail": "files[1]: the file is larger than the limit of 4096 bytes."
    }
    assert "413" in statuses
    assert count(db, Report) == 0


def test_a_file_at_the_size_limit_is_taken(settings: Settings, db: Database) -> None:
    png = png_bytes()
    exact = settings.model_copy(update={"max_file_bytes": len(png)})

    with TestClient(make_app(exact, db), base_url="http://127.0.0.1") as client:
        response = multipart(client, report(), [("a.png", png, "image/png")])

    assert response.status_code == 201, response.text


@pytest.fixture
def world(db: Database, settings: Settings) -> Fixture:
    return _setup(db, settings)


LONG_KEYS = ["tzp_" + "a" * 197, "tzp_" + "a" * 400, "x" * 8000]


@pytest.mark.parametrize("key", LONG_KEYS, ids=lambda k: f"{len(k)}-chars")
def test_an_over_long_key_is_the_documented_401(
    client: TestClient, world: Fixture, key: str
) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    signal = {"signal_type": "pdq", "signal": world.known_pdq}

    batch = client.post("/api/v1/match", json={"signals": [signal]}, headers=headers)
    hma = client.get("/m/lookup", params=signal, headers=headers)
    raw = client.get("/m/raw_lookup", params=signal, headers=headers)

    for answer in (batch, hma, raw):
        assert answer.status_code == 401, answer.text
        assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert "message" in hma.json() and "message" in raw.json()  # HMA's error shape
    assert "401" in documented(client, "post", "/api/v1/match")
    assert "401" in documented(client, "get", "/m/lookup")


def test_the_hma_routes_document_their_400(client: TestClient, world: Fixture) -> None:
    headers = {"Authorization": f"Bearer {world.key}"}
    for path in ("/m/lookup", "/m/raw_lookup"):
        answer = client.get(path, params={"signal_type": "pdq"}, headers=headers)
        assert answer.status_code == 400
        assert {"400", "401", "429"} <= documented(client, "get", path)
