"""The public intake API over HTTP, on SQLite and on PostgreSQL.

``POST /api/v1/reports`` takes a report (JSON, or multipart with evidence images) and
answers its reference and PIN; ``GET /api/v1/reports/{reference}/status`` answers the
status to whoever holds both. Images in these tests are synthetic (Pillow).
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select, text

from tarcza.audit import service as audit
from tarcza.audit.models import AuditEntry
from tarcza.config import Settings, load_keys
from tarcza.crypto import KeyRing
from tarcza.intake.evidence_store import EvidenceStore
from tarcza.intake.models import Evidence, IdempotencyRecord, Report
from tarcza.schema import registry
from tarcza.store.engine import Database
from tests.support.app import make_app

REPORTS = "/api/v1/reports"
REFERENCE = re.compile(r"^TZ-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")
CANARY = "echo-canary-7f3a"
NOT_FOUND = {"detail": "No report matches this reference and PIN."}
PIN_LIMIT = 5  # Settings.pin_max_failures


# -- helpers ------------------------------------------------------------------------------


def png_bytes(
    width: int = 32, height: int = 24, colour: tuple[int, int, int] = (200, 30, 90)
) -> bytes:
    """A synthetic PNG: a flat colour with a contrasting block, so that PDQ has something to see."""
    img = Image.new("RGB", (width, height), colour)
    img.paste((255 - colour[0], 255 - colour[1], 255 - colour[2]), (0, 0, width // 2, height // 2))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def report(**fields: Any) -> dict[str, Any]:
    """A valid report body, with ``fields`` changed."""
    body: dict[str, Any] = {
        "category": "sextortion",
        "description": "Someone threatens to share my photos unless I pay.",
        "urls": ["https://example.com/profile/someone"],
        "child_in_danger": False,
        "child_age_range": "13_15",
        "platform": "Example chat",
        "usernames": ["someone123"],
        "language": "en",
    }
    body.update(fields)
    return body


def create(client: TestClient, **fields: Any) -> dict[str, str]:
    response = client.post(REPORTS, json=report(**fields))
    assert response.status_code == 201, response.text
    created: dict[str, str] = response.json()
    return created


def multipart(client: TestClient, body: dict[str, Any], files: list[tuple[str, bytes, str]]) -> Any:
    return client.post(
        REPORTS,
        data={"report": json.dumps(body)},
        files=[("files", item) for item in files],
    )


def status(client: TestClient, reference: str, pin: str) -> Any:
    return client.get(f"{REPORTS}/{reference}/status", headers={"X-Report-PIN": pin})


def count(db: Database, model: type[Any]) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def wrong_pin(pin: str) -> str:
    return f"{(int(pin) + 1) % 1_000_000:06d}"


def sealed_files(settings: Settings) -> list[Path]:
    root = settings.resolved_evidence_dir
    return sorted(root.rglob("*")) if root.exists() else []


def evidence_store(settings: Settings) -> EvidenceStore:
    return EvidenceStore(Path(settings.resolved_evidence_dir), KeyRing(load_keys(settings)))


# -- making a report ----------------------------------------------------------------------


def test_a_json_report_answers_201_with_reference_pin_and_status(
    client: TestClient, db: Database
) -> None:
    response = client.post(REPORTS, json=report())

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"reference", "pin", "status"}
    assert REFERENCE.match(body["reference"])
    assert re.fullmatch(r"[0-9]{6}", body["pin"])
    assert body["status"] == "received"
    with db.sessions() as session:
        stored = session.scalars(select(Report)).all()
    assert [r.reference for r in stored] == [body["reference"]]
    assert stored[0].category == "sextortion" and stored[0].source == "api"


def test_a_description_of_exactly_20000_characters_is_taken(client: TestClient) -> None:
    assert client.post(REPORTS, json=report(description="a" * 20_000)).status_code == 201


def test_two_reports_get_different_references_and_pins(client: TestClient) -> None:
    first, second = create(client), create(client)
    assert first["reference"] != second["reference"]


# -- following a report -------------------------------------------------------------------


def test_the_right_pin_shows_the_status(client: TestClient) -> None:
    created = create(client)

    response = status(client, created["reference"], created["pin"])

    assert response.status_code == 200
    assert response.json() | {"changed_at": None} == {
        "reference": created["reference"],
        "status": "received",
        "stage": "received",
        "changed_at": None,
        "next_step": "Twoje zgłoszenie do nas dotarło. Wkrótce przyjrzy mu się analityk. "
        "Nie musisz nic więcej robić.",
        "language": "pl",
        "messages": [],
    }


def test_a_reference_typed_in_lowercase_without_hyphens_is_found(client: TestClient) -> None:
    created = create(client)
    typed = created["reference"].lower().replace("-", "")

    response = status(client, typed, created["pin"])

    assert response.status_code == 200
    assert response.json() | {"changed_at": None} == {
        "reference": created["reference"],
        "status": "received",
        "stage": "received",
        "changed_at": None,
        "next_step": "Twoje zgłoszenie do nas dotarło. Wkrótce przyjrzy mu się analityk. "
        "Nie musisz nic więcej robić.",
        "language": "pl",
        "messages": [],
    }


def test_a_wrong_pin_and_an_unknown_reference_answer_the_same_404(client: TestClient) -> None:
    created = create(client)

    wrong = status(client, created["reference"], wrong_pin(created["pin"]))
    unknown = status(client, "TZ-0000-0000", created["pin"])

    assert wrong.status_code == unknown.status_code == 404
    assert wrong.content == unknown.content
    assert wrong.json() == NOT_FOUND
    assert wrong.headers["content-type"] == unknown.headers["content-type"]


@pytest.mark.parametrize("reference", ["nonsense", "a\x00b", "%00", "TZ-" + "Z" * 60])
def test_a_malformed_reference_answers_the_same_404(client: TestClient, reference: str) -> None:
    response = client.get(
        f"{REPORTS}/{reference.replace(chr(0), '%00')}/status", headers={"X-Report-PIN": "123456"}
    )
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_a_missing_pin_header_is_a_422_naming_the_header(client: TestClient) -> None:
    created = create(client)
    response = client.get(f"{REPORTS}/{created['reference']}/status")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "X-Report-PIN"]


def _guess_until_locked(client: TestClient, reference: str, pin: str) -> list[tuple[int, str]]:
    answers = []
    for _ in range(PIN_LIMIT + 2):
        response = status(client, reference, pin)
        answers.append((response.status_code, response.text))
    return answers


def test_repeated_wrong_pins_lock_a_reference_with_429_and_retry_after(
    client: TestClient,
) -> None:
    created = create(client)
    guess = wrong_pin(created["pin"])

    answers = _guess_until_locked(client, created["reference"], guess)

    assert [code for code, _ in answers] == [404] * PIN_LIMIT + [429, 429]
    locked = status(client, created["reference"], guess)
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    # While locked, even the right PIN is not checked: guessing gains nothing.
    assert status(client, created["reference"], created["pin"]).status_code == 429


def test_the_lock_out_looks_the_same_for_an_existing_and_an_unknown_reference(
    client: TestClient,
) -> None:
    created = create(client)
    guess = wrong_pin(created["pin"])

    existing = _guess_until_locked(client, created["reference"], guess)
    unknown = _guess_until_locked(client, "TZ-0000-0000", guess)

    assert existing == unknown
    assert existing[-1][0] == 429
    retry_existing = status(client, created["reference"], guess).headers["Retry-After"]
    retry_unknown = status(client, "TZ-0000-0000", guess).headers["Retry-After"]
    assert abs(int(retry_existing) - int(retry_unknown)) <= 1


def test_the_lock_out_follows_the_reference_however_it_is_typed(client: TestClient) -> None:
    created = create(client)
    guess = wrong_pin(created["pin"])
    spellings = [created["reference"], created["reference"].lower().replace("-", "")]

    codes = [status(client, spellings[i % 2], guess).status_code for i in range(PIN_LIMIT + 1)]

    assert codes == [404] * PIN_LIMIT + [429]


# -- idempotency --------------------------------------------------------------------------


def test_a_retried_post_with_the_same_idempotency_key_returns_the_same_report(
    client: TestClient, db: Database
) -> None:
    headers = {"Idempotency-Key": "retry-1"}
    first = client.post(REPORTS, json=report(), headers=headers)
    again = client.post(REPORTS, json=report(), headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert count(db, Report) == 1
    assert count(db, IdempotencyRecord) == 1
    with db.sessions() as session:
        assert len(audit.entries_for(session, "report", first.json()["reference"])) == 1


def test_an_idempotency_key_reused_for_another_report_answers_409(
    client: TestClient, db: Database
) -> None:
    headers = {"Idempotency-Key": "retry-2"}
    assert client.post(REPORTS, json=report(), headers=headers).status_code == 201

    other = client.post(REPORTS, json=report(description=f"Another {CANARY}"), headers=headers)

    assert other.status_code == 409
    assert set(other.json()) == {"detail"}
    assert CANARY not in other.text
    assert count(db, Report) == 1


def test_different_idempotency_keys_make_different_reports(
    client: TestClient, db: Database
) -> None:
    first = client.post(REPORTS, json=report(), headers={"Idempotency-Key": "a-1"})
    second = client.post(REPORTS, json=report(), headers={"Idempotency-Key": "a-2"})
    assert first.json()["reference"] != second.json()["reference"]
    assert count(db, Report) == 2


@pytest.mark.parametrize("key", ["has space", "x" * 256, "zażółć"])
def test_a_malformed_idempotency_key_is_a_422(client: TestClient, db: Database, key: str) -> None:
    response = client.post(
        REPORTS, json=report(), headers=[("Idempotency-Key", key.encode("utf-8"))]
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert count(db, Report) == 0


def test_concurrent_identical_idempotent_posts_make_one_report(
    client: TestClient, db: Database
) -> None:
    threads_n = 8
    barrier = threading.Barrier(threads_n)
    answers: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()

    def post() -> None:
        barrier.wait()
        response = client.post(REPORTS, json=report(), headers={"Idempotency-Key": "race-1"})
        with lock:
            answers.append((response.status_code, response.json()))

    threads = [threading.Thread(target=post) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(answers) == threads_n
    assert {code for code, _ in answers} == {201}
    assert len({json.dumps(body, sort_keys=True) for _, body in answers}) == 1
    assert count(db, Report) == 1
    assert count(db, IdempotencyRecord) == 1


# -- validation ---------------------------------------------------------------------------


INVALID_BODIES: list[tuple[str, Any, list[str | int]]] = [
    ("unknown field", report(colour=CANARY), ["body", "colour"]),
    ("bad category", report(category=CANARY), ["body", "category"]),
    ("missing category", {"description": "x"}, ["body", "category"]),
    ("ftp url", report(urls=[f"ftp://{CANARY}.example/x"]), ["body", "urls", 0]),
    (
        "javascript url",
        report(urls=["https://ok.example", "javascript:alert(1)"]),
        ["body", "urls", 1],
    ),
    ("NUL in description", report(description=f"{CANARY}\x00x"), ["body", "description"]),
    ("lone CR in description", report(description=f"{CANARY}\rx"), ["body", "description"]),
    ("C1 control in description", report(description=f"{CANARY}\x85"), ["body", "description"]),
    ("20001-character description", report(description="d" * 20_001), ["body", "description"]),
    ("too many urls", report(urls=[f"https://e.example/{i}" for i in range(51)]), ["body", "urls"]),
    ("child_in_danger 'yes'", report(child_in_danger="yes"), ["body", "child_in_danger"]),
    ("child_in_danger 1", report(child_in_danger=1), ["body", "child_in_danger"]),
    ("bad email", report(contact={"email": f"{CANARY}-at-example"}), ["body", "contact", "email"]),
    ("unknown contact field", report(contact={"fax": "1"}), ["body", "contact", "fax"]),
    ("newline in username", report(usernames=[f"{CANARY}\nx"]), ["body", "usernames", 0]),
    ("bad language", report(language="de"), ["body", "language"]),
    ("bad age range", report(child_age_range="12"), ["body", "child_age_range"]),
    ("nothing reported", report(description="  ", urls=[]), ["body", "description"]),
    ("not an object", [report()], ["body"]),
]


@pytest.mark.parametrize(
    ("body", "loc"),
    [pytest.param(body, loc, id=name) for name, body, loc in INVALID_BODIES],
)
def test_an_invalid_report_is_a_422_with_the_field_and_a_reason(
    client: TestClient, db: Database, body: Any, loc: list[str | int]
) -> None:
    response = client.post(REPORTS, json=body)

    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert [error["loc"] for error in errors][:1] == [loc]
    assert all(isinstance(e["msg"], str) and e["msg"] for e in errors)
    assert set(errors[0]) == {"loc", "msg", "type"}
    assert CANARY not in response.text
    assert count(db, Report) == 0


def test_a_crlf_in_the_description_is_taken(client: TestClient) -> None:
    assert client.post(REPORTS, json=report(description="line 1\r\nline 2")).status_code == 201


def test_malformed_json_is_a_422_on_the_body(client: TestClient, db: Database) -> None:
    response = client.post(
        REPORTS, content=b'{"category": "csam", ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]
    assert count(db, Report) == 0


def test_json_that_is_not_utf8_is_a_422(client: TestClient) -> None:
    body = b'{"category": "csam", "description": "\xff\xfe"}'
    response = client.post(REPORTS, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422


def _big_body() -> bytes:
    body = json.dumps(report(description=CANARY)).encode()
    return body[:-1] + b', "pad": "' + b"x" * (1024 * 1024) + b'"}'


def test_a_body_over_1_mib_is_a_413(client: TestClient, db: Database) -> None:
    response = client.post(
        REPORTS, content=_big_body(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert CANARY not in response.text
    assert count(db, Report) == 0


def test_a_streamed_body_over_1_mib_is_a_413(client: TestClient, db: Database) -> None:
    big = _big_body()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    response = client.post(REPORTS, content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert count(db, Report) == 0


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", ""]
)
def test_a_body_that_is_neither_json_nor_multipart_is_a_415(
    client: TestClient, db: Database, content_type: str
) -> None:
    response = client.post(
        REPORTS, content=json.dumps(report()).encode(), headers={"Content-Type": content_type}
    )
    assert response.status_code == 415
    assert count(db, Report) == 0


def test_error_answers_are_json_with_a_detail(client: TestClient) -> None:
    for response in (
        client.post(REPORTS, json=report(category="x")),
        client.post(REPORTS, content=b"x", headers={"Content-Type": "text/plain"}),
        status(client, "TZ-0000-0000", "000000"),
    ):
        assert response.headers["content-type"].startswith("application/json")
        assert "detail" in response.json()


# -- evidence -----------------------------------------------------------------------------


def test_a_multipart_report_with_a_png_stores_its_hashes(client: TestClient, db: Database) -> None:
    png = png_bytes()

    response = multipart(client, report(), [("photo.png", png, "image/png")])

    assert response.status_code == 201, response.text
    with db.sessions() as session:
        rows = session.scalars(select(Evidence)).all()
        owner = session.scalar(select(Report).where(Report.id == rows[0].report_id))
    assert len(rows) == 1
    row = rows[0]
    assert owner is not None and owner.reference == response.json()["reference"]
    assert row.md5 == hashlib.md5(png).hexdigest()
    assert row.sha256 == hashlib.sha256(png).hexdigest()
    assert row.pdq is not None and re.fullmatch(r"[0-9a-f]{64}", row.pdq)
    assert (row.media_type, row.width, row.height, row.size_bytes) == (
        "image/png",
        32,
        24,
        len(png),
    )


def test_a_report_with_only_a_file_is_taken(client: TestClient, db: Database) -> None:
    response = multipart(client, {"category": "csam"}, [("a.png", png_bytes(), "image/png")])
    assert response.status_code == 201
    assert count(db, Evidence) == 1


def test_the_type_comes_from_the_bytes_not_the_name_or_header(
    client: TestClient, db: Database
) -> None:
    img = Image.new("RGB", (20, 20), (10, 120, 200))
    out = io.BytesIO()
    img.save(out, format="GIF")
    response = multipart(client, report(), [("photo.jpg", out.getvalue(), "image/jpeg")])
    assert response.status_code == 201
    with db.sessions() as session:
        assert session.scalar(select(Evidence.media_type)) == "image/gif"


def test_a_text_file_is_refused_with_a_422_on_the_file(
    client: TestClient, db: Database, settings: Settings
) -> None:
    response = multipart(
        client,
        report(),
        [("a.png", png_bytes(), "image/png"), ("notes.png", f"{CANARY}\n".encode(), "image/png")],
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "files", 1]
    assert response.json()["detail"][0]["type"] == "unsupported_type"
    assert CANARY not in response.text
    assert count(db, Report) == 0 and count(db, Evidence) == 0
    assert [p for p in sealed_files(settings) if p.is_file()] == []


def test_the_first_file_is_named_files_0(client: TestClient) -> None:
    response = multipart(client, report(), [("a.txt", b"hello", "text/plain")])
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "files", 0]


def test_a_decompression_bomb_is_refused(client: TestClient, db: Database) -> None:
    bomb = Image.new("1", (8_000, 6_000))  # 48 megapixels, a few kilobytes as PNG
    out = io.BytesIO()
    bomb.save(out, format="PNG", optimize=True)

    response = multipart(client, report(), [("bomb.png", out.getvalue(), "image/png")])

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "too_many_pixels"
    assert count(db, Report) == 0


def test_a_file_over_the_size_limit_is_refused(settings: Settings, db: Database) -> None:
    small = settings.model_copy(update={"max_file_bytes": 4096})
    noisy = Image.frombytes("RGB", (64, 64), random.Random(7).randbytes(64 * 64 * 3))
    out = io.BytesIO()
    noisy.save(out, format="PNG")
    assert len(out.getvalue()) > 4096

    with TestClient(make_app(small, db), base_url="http://127.0.0.1") as client:
        response = multipart(client, report(), [("big.png", out.getvalue(), "image/png")])

    assert response.status_code == 413  # as the OpenAPI document says, not 422
    assert response.json() == {
        "detail": "files[0]: the file is larger than the limit of 4096 bytes."
    }
    assert count(db, Report) == 0


def test_too_many_files_is_a_422_on_the_files(
    client: TestClient, db: Database, settings: Settings
) -> None:
    files = [
        (f"{i}.png", png_bytes(colour=(i, 0, 0)), "image/png")
        for i in range(settings.max_files + 1)
    ]

    response = multipart(client, report(), files)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "files"]
    assert count(db, Report) == 0


def test_a_report_field_over_1_mib_is_a_413(client: TestClient, db: Database) -> None:
    response = client.post(
        REPORTS, data={"report": _big_body().decode()}, files=[("files", ("a.png", png_bytes()))]
    )
    assert response.status_code == 413
    assert count(db, Report) == 0


@pytest.mark.parametrize(
    ("data", "files", "loc"),
    [
        ({}, [("files", ("a.png", png_bytes(), "image/png"))], ["body", "report"]),
        ({"report": "{not json"}, [("files", ("a.png", png_bytes(), "image/png"))], ["body"]),
        (
            {"report": json.dumps(report()), "extra": "x"},
            [("files", ("a.png", png_bytes(), "image/png"))],
            ["body", "extra"],
        ),
        (
            {"report": json.dumps(report()), "files": "not a file"},
            [("files", ("a.png", png_bytes(), "image/png"))],
            ["body", "files", 0],
        ),
    ],
    ids=["no report field", "report not json", "unknown field", "files given as text"],
)
def test_a_malformed_multipart_report_is_a_422(
    client: TestClient,
    db: Database,
    data: dict[str, str],
    files: list[tuple[str, Any]],
    loc: list[str | int],
) -> None:
    response = client.post(REPORTS, data=data, files=files)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc
    assert count(db, Report) == 0


def test_the_evidence_on_disk_is_sealed_and_opens_with_the_store(
    client: TestClient, db: Database, settings: Settings
) -> None:
    png = png_bytes(48, 48)
    assert multipart(client, report(), [("a.png", png, "image/png")]).status_code == 201
    with db.sessions() as session:
        storage_key = session.scalar(select(Evidence.storage_key))
    assert storage_key is not None

    on_disk = [p for p in sealed_files(settings) if p.is_file()]

    assert len(on_disk) == 1
    raw = on_disk[0].read_bytes()
    assert png not in raw
    assert png[:16] not in raw and b"IHDR" not in raw and b"IDAT" not in raw
    assert evidence_store(settings).get(storage_key) == png
    assert evidence_store(settings).raw(storage_key) == raw


def test_nothing_in_the_database_holds_the_personal_data_in_clear(
    client: TestClient, db: Database
) -> None:
    secret_text = f"description {CANARY}"
    create(
        client,
        description=secret_text,
        usernames=[f"user-{CANARY}"],
        contact={
            "name": f"Name {CANARY}",
            "email": f"{CANARY}@example.com",
            "phone": "+48 600 000 000",
        },
    )

    with db.sessions() as session:
        row = session.execute(
            text("SELECT description_sealed, usernames_sealed, contact_sealed FROM reports")
        ).one()
        dump = [session.execute(select(table)).all() for table in registry.metadata().sorted_tables]

    for column in row:
        assert isinstance(column, bytes | memoryview)
        assert CANARY.encode() not in bytes(column)
    everything = repr(dump)
    assert CANARY not in everything
    assert "600 000 000" not in everything


def test_every_report_is_in_the_audit_log_and_the_log_verifies(
    client: TestClient, db: Database
) -> None:
    references = [create(client)["reference"] for _ in range(3)]
    references.append(
        multipart(client, report(), [("a.png", png_bytes(), "image/png")]).json()["reference"]
    )

    with db.sessions() as session:
        for reference in references:
            entries = audit.entries_for(session, "report", reference)
            assert [e.action for e in entries] == ["report.created"]
            assert entries[0].actor == "public"
            assert CANARY not in entries[0].details
        verdict = audit.verify_log(session)
        created = session.scalar(select(func.count()).where(AuditEntry.action == "report.created"))
    assert verdict.ok and verdict.count >= 4
    assert created == 4


def test_a_refused_report_is_not_audited(client: TestClient, db: Database) -> None:
    client.post(REPORTS, json=report(category="nope"))
    multipart(client, report(), [("a.txt", b"hello", "text/plain")])
    assert count(db, AuditEntry) == 0


# -- the surface ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", REPORTS), ("GET", f"{REPORTS}/TZ-0000-0000/status"), ("GET", "/"), ("GET", "/nope")],
)
def test_every_answer_carries_the_security_headers(
    client: TestClient, method: str, path: str
) -> None:
    response = client.request(method, path, json=report(), headers={"X-Report-PIN": "000000"})

    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_no_route_serves_evidence(client: TestClient, db: Database, settings: Settings) -> None:
    png = png_bytes(40, 40)
    created = multipart(client, report(), [("a.png", png, "image/png")]).json()
    with db.sessions() as session:
        ev = session.scalars(select(Evidence)).one()
    sealed = next(p for p in sealed_files(settings) if p.is_file())
    relative = sealed.relative_to(settings.var_dir)
    candidates = [
        f"/evidence/{ev.storage_key}",
        f"/evidence/{relative}",
        f"/{relative}",
        f"/var/{relative}",
        f"/static/{relative}",
        f"/static/../{relative}",
        f"/static/evidence/{ev.storage_key}",
        f"/api/v1/evidence/{ev.id}",
        f"/api/v1/evidence/{ev.sha256}",
        f"/api/v1/evidence/{ev.storage_key}",
        f"/api/v1/reports/{created['reference']}/evidence",
        f"/api/v1/reports/{created['reference']}/evidence/0",
        f"/api/v1/reports/{created['reference']}/files/0",
        f"/api/v1/reports/{created['reference']}",
    ]

    for path in candidates:
        response = client.get(path, headers={"X-Report-PIN": created["pin"]})
        assert response.status_code in (404, 405), path
        assert png[:32] not in response.content and sealed.read_bytes()[:32] not in response.content
    paths = [getattr(route, "path", "") for route in client.app.routes]  # type: ignore[attr-defined]
    assert not [p for p in paths if "evidence" in p]


def test_the_openapi_document_is_served(client: TestClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert "/api/v1/reports" in document["paths"]
    assert "ReportIn" in document["components"]["schemas"]
