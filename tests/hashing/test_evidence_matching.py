"""Evidence is matched against the banks on arrival (synthetic images only), on both databases:
matches are recorded and raise the report's priority, below a child in danger now."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from io import BytesIO

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from tarcza.hashing import bank_service
from tarcza.hashing.banks import BankKind, Entry, SignalType
from tarcza.hashing.models import EvidenceMatch
from tarcza.hashing.service import hash_image_bytes
from tarcza.intake import rules
from tarcza.intake.models import Evidence, Report
from tarcza.store.engine import Database

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def picture(seed: int) -> bytes:
    """A smooth random colour PNG: enough structure for a PDQ hash of high quality."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(12, 12, 3), dtype=np.uint8)
    image = Image.fromarray(coarse).resize((160, 120), Image.Resampling.BICUBIC)
    out = BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def flip(hex_hash: str, bits: int) -> str:
    return f"{int(hex_hash, 16) ^ (((1 << bits) - 1) << (256 - bits)):064x}"


def bank_of(db: Database, name: str, *entries: Entry, kind: BankKind = BankKind.BLOCK) -> None:
    with db.transaction() as session:
        bank_service.create_bank(session, name, actor="analyst", now=NOW, kind=kind)
        bank_service.add_signals(session, name, entries, actor="analyst", now=NOW)


def submit(client: TestClient, data: bytes, **report: object) -> str:
    body = {"category": "csam", "description": "found this", **report}
    response = client.post(
        "/api/v1/reports",
        data={"report": json.dumps(body)},
        files=[("files", ("evidence.png", data, "image/png"))],
    )
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"reference", "pin", "status"}  # nothing about matches
    return str(response.json()["reference"])


def stored(db: Database, reference: str) -> tuple[Report, list[EvidenceMatch]]:
    with db.sessions() as session:
        report = session.scalar(select(Report).where(Report.reference == reference))
        assert report is not None
        matches = session.scalars(
            select(EvidenceMatch)
            .join(Evidence, Evidence.id == EvidenceMatch.evidence_id)
            .where(Evidence.report_id == report.id)
        ).all()
        return report, list(matches)


def test_an_image_near_a_banked_pdq_is_matched_and_raised(client: TestClient, db: Database) -> None:
    data = picture(1)
    hashes = hash_image_bytes(data)
    assert hashes.pdq is not None and (hashes.pdq_quality or 0) >= 50
    bank_of(db, "known", Entry(SignalType.PDQ, flip(hashes.pdq, 4), "seen before"))
    report, matches = stored(db, submit(client, data))
    assert [(m.signal_type, m.distance) for m in matches] == [("pdq", 4)]
    assert report.priority == rules.BANK_MATCH_PRIORITY


def test_an_exact_digest_match_is_recorded_too(client: TestClient, db: Database) -> None:
    data = picture(2)
    hashes = hash_image_bytes(data)
    bank_of(db, "known", Entry(SignalType.SHA256, hashes.sha256), Entry(SignalType.MD5, hashes.md5))
    report, matches = stored(db, submit(client, data, category="sextortion"))
    assert sorted(m.signal_type for m in matches) == ["md5", "sha256"]
    assert all(m.distance == 0 for m in matches)
    assert report.priority == rules.BANK_MATCH_PRIORITY  # above sextortion's 50


def test_a_match_does_not_outrank_a_child_in_danger_now(client: TestClient, db: Database) -> None:
    data = picture(3)
    bank_of(db, "known", Entry(SignalType.MD5, hash_image_bytes(data).md5))
    report, matches = stored(db, submit(client, data, child_in_danger=True))
    assert matches and report.priority == 100


def test_an_unknown_image_keeps_its_priority(client: TestClient, db: Database) -> None:
    bank_of(db, "known", Entry(SignalType.PDQ, hash_image_bytes(picture(4)).pdq or ""))
    report, matches = stored(db, submit(client, picture(5)))
    assert matches == [] and report.priority == 10


def test_an_allow_listed_image_is_not_matched(client: TestClient, db: Database) -> None:
    data = picture(6)
    hashes = hash_image_bytes(data)
    bank_of(db, "known", Entry(SignalType.PDQ, hashes.pdq or ""))
    bank_of(db, "benign", Entry(SignalType.MD5, hashes.md5), kind=BankKind.ALLOW)
    report, matches = stored(db, submit(client, data))
    assert matches == [] and report.priority == 10


def test_a_failing_matcher_never_costs_the_report(
    client: TestClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    matcher = client.app.state.application.matcher  # type: ignore[attr-defined]

    def broken(*_args: object) -> None:
        raise RuntimeError("index unavailable")

    monkeypatch.setattr(matcher, "match_files", broken)
    report, matches = stored(db, submit(client, picture(7)))
    assert matches == [] and report.priority == 10
