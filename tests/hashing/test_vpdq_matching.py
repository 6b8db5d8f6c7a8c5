"""vPDQ matching by the algorithm in the matcher and the partner API, on SQLite and PostgreSQL.

Before this work a vPDQ query matched only a bank signal of exactly the same frame list, so none
of the 36 cross-video matches of the reference data matched; here a cut or re-encoded video in
a bank matches, an unrelated one does not, each bank applies its own thresholds, and the frame
index gives the same answers as comparing the query with every bank video.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tarcza.config import Settings, load_keys
from tarcza.crypto import KeyRing
from tarcza.hashing import bank_service, vpdq
from tarcza.hashing.bank_service import BankError
from tarcza.hashing.banks import Entry, SignalType
from tarcza.hashing.matcher import Matcher, SignalQuery, video_queries
from tarcza.hashing.models import BankSignal
from tarcza.hashing.partners import create_partner
from tarcza.hashing.videos import hash_video_file
from tarcza.hashing.vpdq import VpdqFrame
from tarcza.store.engine import Database
from tests.hashing.test_vpdq import DATA, needs_data, read_reference

pytestmark = needs_data

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
ACTOR = "analyst:test"


def signal(name: str, every: int = 1) -> str:
    """The reference hashes of a sample video as a vPDQ signal, every ``every``-th frame."""
    return vpdq.to_signal(read_reference(name)[::every])


def query(value: str) -> list[SignalQuery]:
    return [SignalQuery(SignalType.VPDQ, value)]


def make_bank(db: Database, name: str, *entries: Entry, **kwargs: object) -> None:
    with db.transaction() as session:
        bank_service.create_bank(session, name, actor=ACTOR, now=NOW, **kwargs)  # type: ignore[arg-type]
        if entries:
            bank_service.add_signals(session, name, entries, actor=ACTOR, now=NOW)


@pytest.fixture
def matcher(db: Database, tmp_path: Path) -> Matcher:
    return Matcher(db, tmp_path / "index")


def test_a_cut_or_re_encoded_video_matches_and_an_unrelated_one_does_not(
    db: Database, matcher: Matcher
) -> None:
    # Bank videos hashed at every frame, queries at one frame a second (as pytx hashes).
    make_bank(
        db,
        "videos",
        Entry(SignalType.VPDQ, signal("chair-20-sd-bar"), "chair"),
        Entry(SignalType.VPDQ, signal("pattern-longer-no-bar"), "pattern"),
        Entry(SignalType.VPDQ, signal("chair-orig-22-sd-bar", 30), "chair, one a second"),
        source="TEST",
    )
    cut, shorter, doorknob, grey = (
        signal("chair-19-sd-bar", 30),
        signal("pattern-hd-no-bar", 30),
        signal("doorknob-hd-no-bar", 30),
        signal("chair-22-sd-grey-bar", 30),
    )
    results = matcher.match([query(cut), query(shorter), query(doorknob), query(grey)])
    [chair], [pattern] = results[0].matches, results[1].matches
    assert results[2].matches == ()
    # Re-encoded in grey, sampled at the same instants: every frame of either matches.
    assert {(m.label, m.query_match_pct) for m in results[3].matches} >= {
        ("chair, one a second", 100.0)
    }
    assert (chair.label, chair.bank, chair.source, chair.signal_type) == (
        "chair",
        "videos",
        "TEST",
        SignalType.VPDQ,
    )
    expected = vpdq.score(vpdq.parse_signal(cut), vpdq.parse_signal(chair.signal))
    assert chair.query_match_pct == round(expected.query_match_pct, 2) == 100.0
    assert chair.compared_match_pct == round(expected.compared_match_pct, 2) < 100
    assert chair.distance == 0
    assert pattern.label == "pattern" and pattern.query_match_pct == 100.0
    # The old rule (the same frame list, exactly) found none of these.
    assert cut != chair.signal and shorter != pattern.signal


def test_each_bank_applies_its_own_vpdq_thresholds(db: Database, matcher: Matcher) -> None:
    longer = Entry(SignalType.VPDQ, signal("chair-20-sd-bar"))
    make_bank(db, "defaults", longer)
    make_bank(db, "strict", longer, vpdq_compared_match_pct=95.0)
    make_bank(db, "lenient", Entry(SignalType.VPDQ, signal("chair-19-sd-bar")))
    # chair-19 covers 92.76 % of chair-20's frames: enough for "defaults", not for "strict".
    [result] = matcher.match([query(signal("chair-19-sd-bar"))])
    assert sorted(m.bank for m in result.matches) == ["defaults", "lenient"]
    # The other way round only 92.76 % of the query's frames match: still >= 80.
    [back] = matcher.match([query(signal("chair-20-sd-bar"))])
    assert sorted(m.bank for m in back.matches) == ["defaults", "lenient", "strict"]
    [lenient] = [m for m in back.matches if m.bank == "lenient"]
    assert lenient.distance == 8 and lenient.query_match_pct == 92.76
    with db.transaction() as session, pytest.raises(BankError) as caught:
        bank_service.create_bank(session, "bad", actor=ACTOR, now=NOW, vpdq_query_match_pct=101)
    assert caught.value.field == "vpdq_query_match_pct"


def test_new_and_removed_video_signals_are_caught_up(
    db: Database, matcher: Matcher, tmp_path: Path
) -> None:
    make_bank(db, "videos")
    matcher.start()
    wanted = query(signal("chair-22-sd-grey-bar", 15))
    assert matcher.match([wanted])[0].matches == ()
    value = signal("chair-orig-22-sd-bar", 15)
    with db.transaction() as session:
        bank_service.add_signals(
            session, "videos", [Entry(SignalType.VPDQ, value)], actor=ACTOR, now=NOW
        )
    [found] = matcher.match([wanted])[0].matches
    assert matcher.vpdq_count == 1
    matcher.save()
    # A new process loads the saved PDQ index and builds the vPDQ one from the database.
    restarted = Matcher(db, tmp_path / "index")
    assert [m.signal_id for m in restarted.match([wanted])[0].matches] == [found.signal_id]
    with db.transaction() as session:
        bank_service.remove_signal(
            session, "videos", SignalType.VPDQ, found.signal, actor=ACTOR, now=NOW, reason="test"
        )
    assert matcher.match([wanted])[0].matches == ()
    assert restarted.match([wanted])[0].matches == ()
    assert Matcher(db, tmp_path / "index").match([wanted])[0].matches == ()


def test_an_allow_list_video_suppresses_the_block_match(db: Database, matcher: Matcher) -> None:
    make_bank(db, "block", Entry(SignalType.VPDQ, signal("chair-20-sd-bar")))
    make_bank(db, "benign", Entry(SignalType.VPDQ, signal("chair-20-sd-bar")), kind="allow")
    [result] = matcher.match([query(signal("chair-19-sd-bar", 10))])
    assert result.suppressed and result.matches == ()


def test_a_video_without_usable_frames_matches_only_itself_exactly(
    db: Database, matcher: Matcher
) -> None:
    dull = vpdq.to_signal([VpdqFrame("00" * 32, 0, 0.0), VpdqFrame("ff" * 32, 10, 1.0)])
    make_bank(db, "videos", Entry(SignalType.VPDQ, dull))
    [same] = matcher.match([query(dull)])[0].matches
    assert same.distance == 0 and same.query_match_pct is None
    other = vpdq.to_signal([VpdqFrame("00" * 32, 0, 0.0)])
    assert matcher.match([query(other)])[0].matches == ()


def test_the_frame_index_answers_as_comparing_with_every_bank_video(
    db: Database, matcher: Matcher
) -> None:
    """Many bank videos sharing scenes: the index's candidates lose no match."""
    rng = random.Random(12)
    scenes = [rng.getrandbits(256) for _ in range(40)]

    def video() -> list[VpdqFrame]:
        frames = []
        for second in range(rng.randint(3, 12)):
            value = rng.choice(scenes)
            for _ in range(rng.randint(0, 24)):
                value ^= 1 << rng.randrange(256)
            frames.append(VpdqFrame(f"{value:064x}", rng.choice([30, 60, 100]), float(second)))
        return frames

    bank_videos = [video() for _ in range(300)]
    entries = [Entry(SignalType.VPDQ, vpdq.to_signal(v)) for v in bank_videos]
    make_bank(db, "many", *entries, vpdq_query_match_pct=50.0, vpdq_compared_match_pct=20.0)
    queries = [video() for _ in range(25)] + bank_videos[:5]
    results = matcher.match([query(vpdq.to_signal(q)) for q in queries])
    thresholds = vpdq.VpdqThresholds(query_match_pct=50.0, compared_match_pct=20.0)
    total = 0
    for q, result in zip(queries, results, strict=True):
        expected = {vpdq.to_signal(v) for v in bank_videos if vpdq.is_match(q, v, thresholds)}
        assert {m.signal for m in result.matches} == expected
        total += len(expected)
    assert total > 30  # the case is not trivially empty


@needs_data
def test_an_evidence_video_is_matched_by_its_hashes(db: Database, matcher: Matcher) -> None:
    """What the intake will do with an uploaded video: hash it, then match its queries."""
    make_bank(db, "videos", Entry(SignalType.VPDQ, signal("doorknob-hd-no-bar", 30)))
    with (DATA / "videos" / "doorknob-hd-no-bar.mp4").open("rb") as fh:
        hashes = hash_video_file(fh)
    [result] = matcher.match([video_queries(hashes)])
    [match] = result.matches
    assert match.signal_type is SignalType.VPDQ and match.query_match_pct == 100.0


# -- the partner API ------------------------------------------------------------------------


@pytest.fixture
def partner_key(db: Database, settings: Settings) -> str:
    make_bank(db, "KNOWN", Entry(SignalType.VPDQ, signal("chair-20-sd-bar"), "chair"))
    make_bank(db, "OTHER", Entry(SignalType.VPDQ, signal("pattern-longer-no-bar")))
    with db.transaction() as session:
        _, key = create_partner(
            session, KeyRing(load_keys(settings)), "platform", ["KNOWN"], actor=ACTOR, now=NOW
        )
    return key


def test_partner_lookups_answer_vpdq_by_the_algorithm(
    client: TestClient, db: Database, partner_key: str
) -> None:
    headers = {"Authorization": f"Bearer {partner_key}"}
    with db.sessions() as session:
        [known_id] = session.scalars(select(BankSignal.id).where(BankSignal.label == "chair")).all()
    cut = signal("chair-19-sd-bar", 30)
    body = {
        "signals": [
            {"signal_type": "vpdq", "signal": cut},
            {"signal_type": "video_vpdq", "signal": signal("pattern-hd-no-bar", 30)},
            {"signal_type": "vpdq", "signal": signal("doorknob-hd-no-bar", 30)},
        ]
    }
    response = client.post("/api/v1/match", json=body, headers=headers)
    assert response.status_code == 200, response.text
    first, outside_scope, unrelated = response.json()["results"]
    [match] = first["matches"]
    assert (match["bank"], match["label"], match["bank_content_id"]) == ("KNOWN", "chair", known_id)
    assert match["distance"] == 0 and match["signal_type"] == "vpdq"
    assert outside_scope["matches"] == [] and unrelated["matches"] == []
    hma = client.get("/m/lookup", params={"signal_type": "vpdq", "signal": cut}, headers=headers)
    assert hma.status_code == 200
    # As HMA writes a vPDQ match: the query's and the bank video's matching frame shares.
    assert hma.json() == {"KNOWN": [{"bank_content_id": known_id, "distance": "100%[18%]"}]}
    bad = client.post(
        "/api/v1/match",
        json={"signals": [{"signal_type": "vpdq", "signal": json.dumps(["x,1,0"])}]},
        headers=headers,
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["type"] == "invalid_vpdq"
