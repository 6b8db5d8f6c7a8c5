"""The API answers what its OpenAPI document says, on the edges where it once did not:
a file over the size limit is a 413 (not 422), a key of any length that is no partner's is
a 401 (not 422), a method a path does not take names in ``Allow`` all those it does, each
body is documented by its own model, and an integer's bounds are the ones held to. On SQLite
and PostgreSQL, through HTTP."""

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
from tests.api.test_schemathesis import _openapi_document
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


def test_the_hma_routes_document_their_400_and_422(client: TestClient, world: Fixture) -> None:
    headers = {"Authorization": f"Bearer {world.key}"}
    # As HMA: /m/lookup's parameters are optional (a 400 says what it needs); /m/raw_lookup's
    # are required (a 422 lists what is missing).
    for path, status in (("/m/lookup", 400), ("/m/raw_lookup", 422)):
        answer = client.get(path, params={"signal_type": "pdq"}, headers=headers)
        assert answer.status_code == status
        assert {"400", "401", "422", "429"} <= documented(client, "get", path)
    for method, path in (("post", "/m/lookup"), ("get", "/m/index/status"), ("post", "/m/compare")):
        assert {"400", "401", "429"} <= documented(client, method, path)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/api/v1/helpline/contacts", "GET, POST"),
        ("OPTIONS", "/api/v1/helpline/contacts", "GET, POST"),
        ("PUT", "/api/v1/helpline/cases/7", "GET, PATCH"),
        ("DELETE", "/api/v1/reports", "POST"),
        ("PUT", "/staff/login", "GET, POST"),
        ("POST", "/static/style.css", "GET, HEAD"),  # a static file's own
    ],
)
def test_a_method_the_path_does_not_take_names_all_it_does(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    """Two operations on one path are two routes: ``Allow`` names both, not the first's."""
    answer = client.request(method, path)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == allow


def test_each_helpline_body_is_documented_by_its_own_model() -> None:
    """The helpline's contact and report bodies once shared intake's names and schemas."""
    document = _openapi_document()
    body = document["paths"]["/api/v1/helpline/contacts"]["post"]["requestBody"]
    ref = body["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/HelplineContactIn"
    schemas = document["components"]["schemas"]
    contact = set(schemas["HelplineContactIn"]["properties"])
    assert {"topics", "summary", "identity_reason"} <= contact
    assert "urls" in schemas["HelplineReportIn"]["properties"]
    assert "email" in schemas["ContactIn"]["properties"]  # intake's, still its own
    assert "category" in schemas["ReportIn"]["properties"]


def _integer_bounds(node: Any) -> list[float]:
    if isinstance(node, list):
        return [b for item in node for b in _integer_bounds(item)]
    if not isinstance(node, dict):
        return []
    own = [node[k] for k in ("minimum", "maximum") if node.get("type") == "integer" and k in node]
    return own + [b for value in node.values() for b in _integer_bounds(value)]


def test_every_integer_bound_in_the_document_is_exact() -> None:
    """A body's bounds are floats in the document (FastAPI's models): exact only up to 2**53.

    A row id's bound of 2**63 - 1 in a body was published as 2**63, a value the API refuses.
    """
    bounds = _integer_bounds(_openapi_document())
    assert any(isinstance(b, float) for b in bounds)
    floats = [b for b in bounds if isinstance(b, float)]
    assert [b for b in floats if not (abs(b) <= 2**53 and b.is_integer())] == []
