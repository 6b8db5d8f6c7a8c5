"""Evidence videos are hashed (vPDQ) and matched on arrival (issue 12), both databases.

A bank holds the reference vPDQ of a benign sample video (every frame); a report sends a
different encoding of the same footage as evidence; the evidence matches by the vPDQ
algorithm and the report's priority rises. An unrelated video does not match.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tarcza.hashing import bank_service
from tarcza.hashing.banks import Entry, SignalType
from tarcza.hashing.models import EvidenceMatch
from tarcza.hashing.vpdq import VpdqFrame, to_signal
from tarcza.intake.models import Evidence
from tests.support.databases import IN_CI
from tests.support.staff import context

VPDQ = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "vpdq"
NOW = datetime(2026, 12, 2, tzinfo=UTC)


def _reference(name: str) -> str:
    frames = []
    for line in (VPDQ / "sample-hashes" / f"{name}.txt").read_text().splitlines():
        _, quality, pdq, timestamp = line.split(",")
        frames.append(VpdqFrame(pdq, int(quality), float(timestamp)))
    return to_signal(frames)


@pytest.fixture
def bank(client: TestClient) -> None:
    if not VPDQ.is_dir():
        (pytest.fail if IN_CI else pytest.skip)(f"vPDQ test data missing at {VPDQ}")
    ctx = context(client)
    with ctx.db.transaction() as session:
        bank_service.create_bank(session, "VIDEOS", actor="test", now=NOW)
        bank_service.add_signals(
            session,
            "VIDEOS",
            [Entry(SignalType.VPDQ, _reference("pattern-sd-with-small-logo-bar"))],
            actor="test",
            now=NOW,
        )


def _send(client: TestClient, video: str) -> str:
    data = (VPDQ / "videos" / f"{video}.mp4").read_bytes()
    answer = client.post(
        "/api/v1/reports",
        data={"report": '{"category": "csam", "description": "a video (benign test footage)"}'},
        files={"files": (f"{video}.mp4", data, "video/mp4")},
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["reference"])


def test_a_video_of_banked_footage_matches_on_arrival(client: TestClient, bank: None) -> None:
    _send(client, "pattern-sd-grey-bar")
    ctx = context(client)
    with ctx.db.sessions() as session:
        evidence = session.scalars(select(Evidence)).one()
        assert evidence.media_type == "video/mp4" and evidence.pdq is None
        assert evidence.vpdq and evidence.vpdq.startswith("[")
        match = session.scalars(select(EvidenceMatch)).one()
        assert match.signal_type == "vpdq"


def test_an_unrelated_video_does_not_match(client: TestClient, bank: None) -> None:
    _send(client, "doorknob-hd-no-bar")
    ctx = context(client)
    with ctx.db.sessions() as session:
        assert session.scalars(select(EvidenceMatch)).all() == []
        assert session.scalars(select(Evidence)).one().vpdq


def test_a_file_that_claims_to_be_a_video_is_refused_naming_it(client: TestClient) -> None:
    fake = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200
    answer = client.post(
        "/api/v1/reports",
        data={"report": '{"category": "csam", "description": "x"}'},
        files={"files": ("clip.mp4", fake, "video/mp4")},
    )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "files", 0]
