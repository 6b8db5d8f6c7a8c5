"""Evidence uploads are streamed into sealed storage (issue 11, defect 3), on both databases.

A multipart report's files go to evidence storage as they arrive, never held whole in memory;
a file over the limit is a 413 naming it; a bad image a 422 as before; and when every upload
slot of the process stays taken, a 429 with Retry-After.
"""

from __future__ import annotations

import hashlib
import io
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from tarcza.config import Settings
from tarcza.intake.models import Evidence, Report
from tarcza.store.engine import Database
from tarcza.web.uploads import UploadSlots
from tests.support.app import make_app
from tests.support.loop import run as run_async

REPORTS = "/api/v1/reports"
BOUNDARY = "tarcza-streamed-upload-test"
REPORT = {"category": "csam", "description": "Invented report for an upload test."}


def png(width: int, height: int, seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG", compress_level=0)
    return out.getvalue()


def count(db: Database, model: type[Any]) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def evidence_files(settings: Settings) -> list[Path]:
    root = settings.resolved_evidence_dir
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def multipart(files: list[tuple[str, bytes]]) -> dict[str, Any]:
    return {
        "data": {"report": json.dumps(REPORT)},
        "files": [("files", (name, data, "image/png")) for name, data in files],
    }


def test_a_report_with_several_files_stores_each_sealed_with_its_hashes(
    client: TestClient, db: Database, settings: Settings
) -> None:
    images = [png(40 + i, 30, i) for i in range(3)]

    response = client.post(REPORTS, **multipart([(f"{i}.png", d) for i, d in enumerate(images)]))

    assert response.status_code == 201, response.text
    with db.sessions() as session:
        rows = session.scalars(select(Evidence).order_by(Evidence.id)).all()
    assert [r.sha256 for r in rows] == [hashlib.sha256(d).hexdigest() for d in images]
    assert [r.md5 for r in rows] == [hashlib.md5(d).hexdigest() for d in images]
    assert [r.width for r in rows] == [40, 41, 42]
    stored = evidence_files(settings)
    assert len(stored) == 3
    assert all(p.suffix == ".sealed" and p.read_bytes()[:2] == b"T2" for p in stored)


def test_a_file_over_the_limit_after_good_ones_is_a_413_naming_it_and_leaves_nothing(
    settings: Settings, db: Database
) -> None:
    small = settings.model_copy(update={"max_file_bytes": 50_000})
    files = [("a.png", png(20, 20, 1)), ("b.png", png(20, 20, 2)), ("big.png", png(200, 200))]
    assert len(files[2][1]) > 50_000

    with TestClient(make_app(small, db), base_url="http://127.0.0.1") as client:
        response = client.post(REPORTS, **multipart(files))

    assert response.status_code == 413
    assert response.json() == {
        "detail": "files[2]: the file is larger than the limit of 50000 bytes."
    }
    assert count(db, Report) == 0 and count(db, Evidence) == 0
    assert evidence_files(small) == []


def test_a_bad_image_after_a_good_one_is_a_422_and_leaves_nothing(
    client: TestClient, db: Database, settings: Settings
) -> None:
    response = client.post(
        REPORTS, **multipart([("a.png", png(20, 20)), ("b.png", png(20, 20)[:200])])
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "files", 1]
    assert response.json()["detail"][0]["type"] == "corrupt"
    assert count(db, Evidence) == 0 and evidence_files(settings) == []


def test_an_idempotent_replay_keeps_no_second_copy_of_the_files(
    client: TestClient, db: Database, settings: Settings
) -> None:
    body = multipart([("a.png", png(30, 30))])
    headers = {"Idempotency-Key": "streamed-1"}
    first = client.post(REPORTS, headers=headers, **body)
    again = client.post(REPORTS, headers=headers, **body)
    assert first.status_code == again.status_code == 201
    assert first.json()["reference"] == again.json()["reference"]
    assert count(db, Evidence) == 1 and len(evidence_files(settings)) == 1


@pytest.fixture
def one_slot(settings: Settings, db: Database) -> Iterator[tuple[TestClient, UploadSlots]]:
    busy = settings.model_copy(update={"max_concurrent_uploads": 1, "upload_wait_seconds": 0.3})
    app = make_app(busy, db)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client, app.state.upload_slots


def test_when_every_upload_slot_stays_taken_an_upload_is_a_429_with_retry_after(
    one_slot: tuple[TestClient, UploadSlots], db: Database
) -> None:
    client, slots = one_slot
    assert client.portal is not None
    client.portal.call(slots.acquire)  # another upload holds the only slot
    try:
        refused = client.post(REPORTS, **multipart([("a.png", png(20, 20))]))
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0
        assert "detail" in refused.json()
        # A JSON report carries no files: it needs no slot.
        assert client.post(REPORTS, json=REPORT).status_code == 201
    finally:
        client.portal.call(slots.release)
    assert client.post(REPORTS, **multipart([("a.png", png(20, 20))])).status_code == 201
    assert count(db, Evidence) == 1


def test_the_openapi_document_names_the_429_of_a_report(client: TestClient) -> None:
    operation = client.get("/api/v1/openapi.json").json()["paths"][REPORTS]["post"]
    assert "429" in operation["responses"]


def _body_pieces(image: bytes, piece: int = 65536) -> Iterator[bytes]:
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="report"\r\n\r\n'
        f"{json.dumps(REPORT)}\r\n--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="files"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    for at in range(0, len(image), piece):
        yield image[at : at + piece]
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def _post_streamed(app: FastAPI, image: bytes) -> int:
    """POST a multipart body to the ASGI app in 64 KiB pieces (as a server hands it over)."""
    pieces = _body_pieces(image)
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        piece = next(pieces, None)
        if piece is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": piece, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 50000),
        "path": REPORTS,
        "raw_path": REPORTS.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
        ],
    }

    async def go() -> None:
        await app(scope, receive, send)  # type: ignore[arg-type]

    run_async(go)
    return status[0]


def test_a_large_file_is_never_held_whole_in_memory(settings: Settings, db: Database) -> None:
    """Python's allocations while a ~18 MiB upload is taken stay a few MiB, whatever its size.

    (The old code spooled the file in memory, then read it whole: twice the file at least.)
    """
    image = png(2500, 2500, 7)  # noise stored uncompressed: ~18 MiB
    app = make_app(settings, db)
    _post_streamed(app, png(20, 20))  # warm up: imports, first connection, middleware stack

    tracemalloc.start()
    try:
        status = _post_streamed(app, image)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert status == 201
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.1f} MiB, file {len(image) / 2**20:.1f} MiB"
    with db.sessions() as session:
        assert session.scalar(select(Evidence.sha256).where(Evidence.width == 2500)) == (
            hashlib.sha256(image).hexdigest()
        )


# -- the public form streams its files the same way -------------------------------------------


FORM = {"category": "csam", "description": "Zmyślony opis do testu formularza.", "lang": "en"}


def test_the_form_stores_chosen_files_and_skips_an_empty_file_input(
    client: TestClient, db: Database, settings: Settings
) -> None:
    image = png(30, 20)
    response = client.post(
        "/report?lang=en",
        data=FORM,
        files=[("files", ("a.png", image, "image/png")), ("files", ("", b"", "application/x"))],
    )
    assert response.status_code == 200, response.text
    with db.sessions() as session:
        assert session.scalars(select(Evidence.sha256)).all() == [hashlib.sha256(image).hexdigest()]
    assert len(evidence_files(settings)) == 1


def test_the_form_shows_a_file_over_the_limit_and_keeps_what_was_typed(
    settings: Settings, db: Database
) -> None:
    small = settings.model_copy(update={"max_file_bytes": 50_000})
    with TestClient(make_app(small, db), base_url="http://127.0.0.1") as client:
        response = client.post(
            "/report?lang=en",
            data=FORM,
            files=[
                ("files", ("a.png", png(20, 20), "image/png")),
                ("files", ("b.png", png(200, 200), "image/png")),
            ],
        )
    assert response.status_code == 422
    assert "File 2: This file is too large." in response.text
    assert "Zmyślony opis do testu formularza." in response.text
    assert count(db, Report) == 0 and evidence_files(small) == []


def test_the_form_with_a_bad_image_keeps_no_file(
    client: TestClient, db: Database, settings: Settings
) -> None:
    response = client.post(
        "/report?lang=en",
        data=FORM,
        files=[
            ("files", ("a.png", png(20, 20), "image/png")),
            ("files", ("b.png", b"GIF89a..", "image/gif")),
        ],
    )
    assert response.status_code == 422
    assert "File 2:" in response.text
    assert count(db, Report) == 0 and evidence_files(settings) == []
