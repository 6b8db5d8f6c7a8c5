"""The matcher on SQLite and PostgreSQL: exact and PDQ matches, thresholds, allow-lists,
disabled banks, scope, and an index that is saved, loaded and caught up without a rebuild."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tarcza.hashing import bank_service
from tarcza.hashing.banks import BankKind, Entry, SignalType
from tarcza.hashing.matcher import Matcher, SignalQuery, file_queries
from tarcza.hashing.service import FileHashes
from tarcza.hashing.snapshots import CURRENT
from tarcza.store.engine import Database

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ACTOR = "analyst:test"


def flip(hex_hash: str, bits: int) -> str:
    """``hex_hash`` with its first ``bits`` bits inverted: exactly that Hamming distance."""
    value = int(hex_hash, 16) ^ (((1 << bits) - 1) << (256 - bits))
    return f"{value:064x}"


def bank(db: Database, name: str, *entries: Entry, **kwargs: object) -> int:
    with db.transaction() as session:
        info = bank_service.create_bank(session, name, actor=ACTOR, now=NOW, **kwargs)  # type: ignore[arg-type]
        if entries:
            bank_service.add_signals(session, name, entries, actor=ACTOR, now=NOW)
    return info.id


def pdq_query(value: str) -> list[SignalQuery]:
    return [SignalQuery(SignalType.PDQ, value)]


@pytest.fixture
def matcher(db: Database, tmp_path: Path) -> Matcher:
    return Matcher(db, tmp_path / "index")


def test_exact_signals_match_with_bank_label_and_provenance(db: Database, matcher: Matcher) -> None:
    md5, sha = secrets.token_hex(16), secrets.token_hex(32)
    bank(
        db,
        "known",
        Entry(SignalType.MD5, md5, "cat-a"),
        Entry(SignalType.SHA256, sha),
        source="NCMEC",
    )
    [result] = matcher.match([[SignalQuery(SignalType.MD5, md5)]])
    [match] = result.matches
    assert (match.bank, match.label, match.source, match.distance) == ("known", "cat-a", "NCMEC", 0)
    assert match.signal == md5 and match.signal_type is SignalType.MD5
    [none] = matcher.match([[SignalQuery(SignalType.MD5, secrets.token_hex(16))]])
    assert none.matches == ()


def test_pdq_matches_within_the_threshold_with_its_distance(db: Database, matcher: Matcher) -> None:
    stored = secrets.token_hex(32)
    bank(db, "known", Entry(SignalType.PDQ, stored))
    near, far = matcher.match([pdq_query(flip(stored, 7)), pdq_query(flip(stored, 32))])
    assert [(m.signal, m.distance) for m in near.matches] == [(stored, 7)]
    assert far.matches == ()


def test_each_bank_applies_its_own_threshold(db: Database, matcher: Matcher) -> None:
    stored = secrets.token_hex(32)
    bank(db, "strict", Entry(SignalType.PDQ, stored), pdq_threshold=10)
    bank(db, "loose", Entry(SignalType.PDQ, stored), pdq_threshold=40)
    [result] = matcher.match([pdq_query(flip(stored, 20))])
    assert [m.bank for m in result.matches] == ["loose"]
    [close] = matcher.match([pdq_query(flip(stored, 3))])
    assert sorted(m.bank for m in close.matches) == ["loose", "strict"]


def test_a_disabled_bank_never_matches(db: Database, matcher: Matcher) -> None:
    stored, md5 = secrets.token_hex(32), secrets.token_hex(16)
    bank(db, "known", Entry(SignalType.PDQ, stored), Entry(SignalType.MD5, md5))
    assert matcher.match([pdq_query(stored)])[0].matches
    with db.transaction() as session:
        bank_service.set_bank_enabled(session, "known", False, actor=ACTOR, now=NOW)
    both = [SignalQuery(SignalType.PDQ, stored), SignalQuery(SignalType.MD5, md5)]
    assert matcher.match([both]) == matcher.match([[]])


def test_an_allow_list_match_suppresses_block_matches_of_the_same_item(
    db: Database, matcher: Matcher
) -> None:
    benign, other, md5 = secrets.token_hex(32), secrets.token_hex(32), secrets.token_hex(16)
    bank(db, "known", Entry(SignalType.PDQ, benign), Entry(SignalType.PDQ, other))
    bank(
        db, "benign", Entry(SignalType.PDQ, benign), Entry(SignalType.MD5, md5), kind=BankKind.ALLOW
    )
    file_with_allowed_md5 = [SignalQuery(SignalType.MD5, md5), SignalQuery(SignalType.PDQ, other)]
    allowed, by_md5, plain = matcher.match(
        [pdq_query(flip(benign, 2)), file_with_allowed_md5, pdq_query(other)]
    )
    assert allowed.suppressed and allowed.matches == ()
    assert by_md5.suppressed and by_md5.matches == ()
    assert not plain.suppressed and [m.bank for m in plain.matches] == ["known"]


def test_scope_limits_block_matches_to_the_given_banks(db: Database, matcher: Matcher) -> None:
    stored = secrets.token_hex(32)
    first = bank(db, "first", Entry(SignalType.PDQ, stored))
    bank(db, "second", Entry(SignalType.PDQ, stored))
    [result] = matcher.match([pdq_query(stored)], scope=frozenset({first}))
    assert [m.bank for m in result.matches] == ["first"]


def test_new_and_removed_signals_are_caught_up_without_a_rebuild(
    db: Database, matcher: Matcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank(db, "known", Entry(SignalType.PDQ, secrets.token_hex(32)))
    matcher.start()
    assert matcher.pdq_count == 1
    monkeypatch.setattr(matcher, "_build", lambda: pytest.fail("rebuilt"))
    added = secrets.token_hex(32)
    with db.transaction() as session:
        bank_service.add_signals(
            session, "known", [Entry(SignalType.PDQ, added)], actor=ACTOR, now=NOW
        )
    assert matcher.match([pdq_query(added)])[0].matches
    assert matcher.pdq_count == 2
    with db.transaction() as session:
        bank_service.remove_signal(session, "known", SignalType.PDQ, added, actor=ACTOR, now=NOW)
    assert matcher.match([pdq_query(added)])[0].matches == ()
    assert matcher.pdq_count == 1


def test_a_saved_index_is_loaded_and_caught_up_on_the_next_start(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_hash, second_hash = secrets.token_hex(32), secrets.token_hex(32)
    bank(db, "known", Entry(SignalType.PDQ, first_hash))
    Matcher(db, tmp_path / "index").start()  # builds and saves
    with db.transaction() as session:
        bank_service.add_signals(
            session, "known", [Entry(SignalType.PDQ, second_hash)], actor=ACTOR, now=NOW
        )
    later = Matcher(db, tmp_path / "index")
    monkeypatch.setattr(later, "_build", lambda: pytest.fail("rebuilt"))
    later.start()
    assert later.pdq_count == 2
    found = later.match([pdq_query(first_hash), pdq_query(second_hash)])
    assert all(result.matches for result in found)


def test_a_damaged_index_is_rebuilt_from_the_database(db: Database, tmp_path: Path) -> None:
    stored = secrets.token_hex(32)
    bank(db, "known", Entry(SignalType.PDQ, stored))
    Matcher(db, tmp_path / "index").start()
    current = (tmp_path / "index" / CURRENT).read_text().strip()
    (tmp_path / "index" / current / "meta.json").write_text("{broken")
    again = Matcher(db, tmp_path / "index")
    assert again.match([pdq_query(stored)])[0].matches


def test_an_index_ahead_of_the_database_is_rebuilt(db: Database, tmp_path: Path) -> None:
    # E.g. the database was restored from an older backup: the saved index knows too much.
    removed = secrets.token_hex(32)
    bank(db, "known", Entry(SignalType.PDQ, removed))
    Matcher(db, tmp_path / "index").start()
    with db.transaction() as session:
        from sqlalchemy import delete

        from tarcza.hashing.models import SignalChange

        session.execute(delete(SignalChange))
        bank_service.remove_signal(session, "known", SignalType.PDQ, removed, actor=ACTOR, now=NOW)
        session.execute(delete(SignalChange))
    fresh = Matcher(db, tmp_path / "index")
    fresh.start()
    assert fresh.pdq_count == 0


def test_files_are_matched_by_pdq_only_when_it_is_of_useful_quality() -> None:
    common = {"media_type": "image/png", "width": 8, "height": 8, "size_bytes": 10}
    good = FileHashes("a" * 32, "b" * 64, "c" * 64, 90, **common)
    flat = FileHashes("a" * 32, "b" * 64, "c" * 64, 10, **common)
    assert SignalType.PDQ in {q.signal_type for q in file_queries(good)}
    assert {q.signal_type for q in file_queries(flat)} == {SignalType.MD5, SignalType.SHA256}
