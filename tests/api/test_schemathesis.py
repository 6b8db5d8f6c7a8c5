"""Property-based tests of the public API from its own OpenAPI document (schemathesis).

Every public operation (the staff and audit API are fuzzed signed in, in
test_schemathesis_staff.py, the helpline's in test_schemathesis_helpline.py) is called with
valid data (positive) and with data that breaks the document (negative), on SQLite and on
PostgreSQL. Every answer must be no server error and must be what the document promises: a
documented status code and content type, a body of the documented schema, valid input
accepted and invalid input refused.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from PIL import Image
from schemathesis import Case
from schemathesis.core.result import Ok
from schemathesis.transport.serialization import Binary

from tarcza.config import Settings
from tarcza.store.engine import Database, make_database
from tests.support.app import make_app
from tests.support.keys import HMAC_KEY, KEY_A

# Bounded for the everyday run; TARCZA_FUZZ_EXAMPLES=1000 digs deeper.
MAX_EXAMPLES = int(os.environ.get("TARCZA_FUZZ_EXAMPLES", "60"))
_FORMATS = ("JPEG", "PNG", "GIF", "WEBP")


def _openapi_document() -> dict[str, Any]:
    """The document as the app serves it (building it touches no database)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            var_dir=Path(tmp),
            data_keys=f"k1:{KEY_A}",
            hmac_key=HMAC_KEY,
            _env_file=None,  # type: ignore[call-arg]
        )
        database = make_database("sqlite://")
        try:
            return make_app(settings, database).openapi()
        finally:
            database.dispose()


# Invalid input must be refused: the usual statuses, and 413 for a body over the limit.
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
        "checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}},
    }
)
# The public operations; the staff and audit API need a session (test_schemathesis_staff.py),
# the helpline's a counsellor's (test_schemathesis_helpline.py); the MNR tracker's API is fuzzed
# signed in (a coordinator) with the staff API.
STAFF_PATHS = r"^/api/v1/(staff|audit|helpline|mnr)/"
schema = schemathesis.openapi.from_dict(_openapi_document(), config=CONFIG).exclude(
    path_regex=STAFF_PATHS
)


def synthetic_image(seed: bytes) -> bytes:
    """A small synthetic image (two flat colours) whose size, colours and format follow ``seed``."""
    d = hashlib.sha256(seed).digest()
    width, height = 1 + d[0] % 48, 1 + d[1] % 48
    img = Image.new("RGB", (width, height), (d[2], d[3], d[4]))
    img.paste((d[5], d[6], d[7]), (0, 0, d[8] % (width + 1), d[9] % (height + 1)))
    out = io.BytesIO()
    img.save(out, format=_FORMATS[d[10] % len(_FORMATS)])
    return out.getvalue()


def _files_as_images(case: Case[Any]) -> None:
    """Evidence files must be images, which JSON Schema cannot say: make generated files images.

    Only a list of strings (binary or text) is replaced (one image for each), so a case made invalid
    through its files (not a list, not binary) stays invalid.
    """
    body: Any = case.body
    if not (isinstance(body, dict) and isinstance(body.get("files"), list)):
        return
    files = body["files"]
    if all(isinstance(item, bytes | str) for item in files):
        body["files"] = [synthetic_image(_as_bytes(item)) for item in files]


def _as_bytes(item: bytes | str) -> bytes:
    if isinstance(item, Binary):
        return item.data
    return item if isinstance(item, bytes) else item.encode("utf-8", "surrogatepass")


@pytest.fixture
def app(settings: Settings, db: Database) -> FastAPI:
    """The app on each migrated database (shared by all examples of one operation)."""
    return make_app(settings, db)


@schema.parametrize()
@hypothesis_settings(
    deadline=None,
    max_examples=MAX_EXAMPLES,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_every_operation_answers_as_documented_and_never_fails(
    case: Case[Any], app: FastAPI
) -> None:
    _files_as_images(case)
    case.call_and_validate(app=app)


def test_the_document_covers_the_intake_operations() -> None:
    paths = _openapi_document()["paths"]
    assert "post" in paths["/api/v1/reports"]
    assert "get" in paths["/api/v1/reports/{reference}/status"]


def test_only_the_public_operations_are_fuzzed_here() -> None:
    results = list(schema.get_all_operations())
    assert all(isinstance(r, Ok) for r in results), results
    fuzzed = {r.ok().path for r in results if isinstance(r, Ok)}
    assert {"/api/v1/reports", "/api/v1/match", "/m/lookup"} <= fuzzed
    assert not any(re.match(STAFF_PATHS, path) for path in fuzzed)
