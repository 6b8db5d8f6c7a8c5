"""The lookup path's bounded staleness, on SQLite and PostgreSQL.

A refreshed matcher (``staleness`` > 0, a background thread) answers a signal added within the
bound; ``match`` never answers one removed, ``match_in_memory`` (the ``/m/`` lookups) no later
than the bound, nor a disabled bank's; a lookup it can answer from memory touches no database;
a partner key's remembered scope is trusted for the bound only, so a disabled key is refused
after it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import event, update

from tarcza.config import Settings, load_keys
from tarcza.crypto import KeyRing
from tarcza.hashing import bank_service
from tarcza.hashing.banks import BankKind, Entry, SignalType
from tarcza.hashing.matcher import ItemResult, Matcher, SignalQuery
from tarcza.hashing.models import Bank, Partner
from tarcza.hashing.partners import PartnerKeys, create_partner
from tarcza.store.engine import Database
from tests.hashing.test_matcher import ACTOR, NOW, bank, flip, pdq_query

BOUND = 0.6


@pytest.fixture
def refreshed(db: Database, tmp_path: Path) -> Iterator[Matcher]:
    matcher = Matcher(db, tmp_path / "index", staleness=BOUND)
    matcher.start_refreshing()
    deadline = time.monotonic() + 30
    while not matcher.refreshing and time.monotonic() < deadline:
        time.sleep(0.01)
    yield matcher
    matcher.stop_refreshing()


def found_within(matcher: Matcher, value: str, seconds: float) -> float | None:
    """Seconds until a lookup of ``value`` matches (None if not within ``seconds``)."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if matcher.match([pdq_query(value)])[0].matches:
            return time.monotonic() - started
        time.sleep(0.01)
    return None


def test_a_signal_added_is_found_within_the_bound(db: Database, refreshed: Matcher) -> None:
    bank(db, "known", Entry(SignalType.PDQ, secrets.token_hex(32)))
    value = secrets.token_hex(32)
    with db.transaction() as session:
        bank_service.add_signals(
            session, "known", [Entry(SignalType.PDQ, value)], actor=ACTOR, now=NOW
        )
    took = found_within(refreshed, flip(value, 3), 5 * BOUND)
    # The bound is documented as one refresh period plus a catch-up: leave room for a slow CI.
    assert took is not None and took < BOUND + 0.5


def test_a_removed_signal_is_never_answered_even_before_the_refresh(
    db: Database, refreshed: Matcher
) -> None:
    value = secrets.token_hex(32)
    bank(db, "known", Entry(SignalType.PDQ, value))
    assert found_within(refreshed, value, 5 * BOUND) is not None
    refreshed.stop_refreshing()  # the index keeps the signal: only the database check remains
    with db.transaction() as session:
        bank_service.remove_signal(session, "known", SignalType.PDQ, value, actor=ACTOR, now=NOW)
    assert refreshed.match([pdq_query(value)])[0].matches == ()


def test_a_miss_touches_no_database_and_a_lookup_never_catches_up(
    db: Database, refreshed: Matcher
) -> None:
    value, newer = secrets.token_hex(32), secrets.token_hex(32)
    bank(db, "known", Entry(SignalType.PDQ, value))
    assert found_within(refreshed, value, 5 * BOUND) is not None
    with db.transaction() as session:
        bank_service.add_signals(
            session, "known", [Entry(SignalType.PDQ, newer)], actor=ACTOR, now=NOW
        )
    refreshed.stop_refreshing()
    refreshed.catch_up()  # the index holds ``newer``; no answer has read it yet
    refreshed._refresher = _Alive()  # type: ignore[assignment]  # as if still refreshing
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    miss = [SignalQuery(SignalType.PDQ, flip(value, 128))]
    assert refreshed.match_in_memory([miss]) == [ItemResult()]
    assert refreshed.match([miss])[0].matches == ()
    # Hits, on a signal an answer has read and on one none has, are answered from memory.
    hit = refreshed.match_in_memory([pdq_query(flip(value, 5))])
    assert hit is not None and [m.distance for m in hit[0].matches] == [5]
    answer = refreshed.match_in_memory([pdq_query(newer)])
    assert answer is not None and [m.signal for m in answer[0].matches] == [newer]
    assert statements == []
    # match checks against the database (one statement), never a catch-up of the log.
    assert refreshed.match([pdq_query(newer)])[0].matches
    queries = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(queries) == 1 and "signal_changes" not in queries[0]


def test_a_hit_never_read_is_answered_from_memory_as_match_answers_it(
    db: Database, refreshed: Matcher
) -> None:
    """Bank, id, distance and value as the database-checked answer, the label left unread;
    each bank's own threshold, allow-list suppression and the asker's scope applied."""
    value, other, allowed = (secrets.token_hex(32) for _ in range(3))
    loose = bank(db, "loose", Entry(SignalType.PDQ, value, "cat-a"), source="NCMEC")
    tight = bank(db, "tight", Entry(SignalType.PDQ, flip(value, 8)), pdq_threshold=10)
    bank(db, "also", Entry(SignalType.PDQ, other))
    bank(db, "allowed", Entry(SignalType.PDQ, allowed), kind=BankKind.ALLOW)
    probe = flip(value, 20)  # 20 bits from ``value``, 12 from the tight bank's signal
    assert found_within(refreshed, probe, 5 * BOUND) is not None
    refreshed.stop_refreshing()
    refreshed.catch_up()
    refreshed._refresher = _Alive()  # type: ignore[assignment]  # as if still refreshing
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    items = [
        pdq_query(probe),
        pdq_query(flip(value, 3)),  # within both banks' thresholds
        pdq_query(other),
        [SignalQuery(SignalType.PDQ, flip(other, 2)), SignalQuery(SignalType.PDQ, allowed)],
        pdq_query(flip(other, 200)),
    ]
    for scope in (None, frozenset({loose}), frozenset({tight})):
        statements.clear()
        answers = refreshed.match_in_memory(items, scope=scope)
        assert answers is not None and statements == []
        checked = refreshed.match(items, scope=scope)
        assert statements  # the database was asked
        assert answers == [
            replace(r, matches=tuple(replace(m, label=None) for m in r.matches)) for r in checked
        ]
    answers = refreshed.match_in_memory(items)
    assert answers is not None
    assert [(m.bank_id, m.distance) for m in answers[0].matches] == [(loose, 20)]
    assert [(m.bank_id, m.distance) for m in answers[1].matches] == [(loose, 3), (tight, 5)]
    first = answers[1].matches[0]
    assert (first.signal, first.source, first.label) == (value, "NCMEC", None)
    assert answers[3].suppressed and answers[3].withheld == 1 and answers[4].matches == ()


def gone_from_memory_within(matcher: Matcher, value: str, seconds: float) -> float | None:
    """Seconds until match_in_memory answers ``value`` with no match (None: not within)."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        answer = matcher.match_in_memory([pdq_query(value)])
        assert answer is not None  # the index holds it, or held it: memory answers
        if answer[0].matches == ():
            return time.monotonic() - started
        time.sleep(0.01)
    return None


def test_a_removed_signal_leaves_the_answers_from_memory_within_the_bound(
    db: Database, refreshed: Matcher
) -> None:
    value = secrets.token_hex(32)
    bank(db, "known", Entry(SignalType.PDQ, value))
    assert found_within(refreshed, value, 5 * BOUND) is not None
    answer = refreshed.match_in_memory([pdq_query(value)])
    assert answer is not None and answer[0].matches
    with db.transaction() as session:
        bank_service.remove_signal(session, "known", SignalType.PDQ, value, actor=ACTOR, now=NOW)
    assert refreshed.match([pdq_query(value)])[0].matches == ()  # match: at once
    took = gone_from_memory_within(refreshed, value, 5 * BOUND)
    assert took is not None and took < BOUND + 0.5  # as test_a_signal_added_is_found…


def test_a_disabled_bank_leaves_the_answers_from_memory_within_the_bound(
    db: Database, refreshed: Matcher
) -> None:
    value = secrets.token_hex(32)
    bank(db, "known", Entry(SignalType.PDQ, value))
    assert found_within(refreshed, value, 5 * BOUND) is not None
    with db.transaction() as session:
        session.execute(update(Bank).values(enabled=False))
    assert refreshed.match([pdq_query(value)])[0].matches == ()
    took = gone_from_memory_within(refreshed, value, 5 * BOUND)
    assert took is not None and took < BOUND + 0.5
    # Enabled again: answered again, from memory too.
    with db.transaction() as session:
        session.execute(update(Bank).values(enabled=True))
    assert found_within(refreshed, value, 5 * BOUND) is not None
    answer = refreshed.match_in_memory([pdq_query(value)])
    assert answer is not None and [m.signal for m in answer[0].matches] == [value]


class _Alive:
    running = True

    def stop(self, timeout: float = 30.0) -> None:
        return None


def test_a_disabled_key_is_refused_once_the_bound_has_passed(
    db: Database, settings: Settings
) -> None:
    ring = KeyRing(load_keys(settings))
    bank(db, "known")
    with db.transaction() as session:
        scope, key = create_partner(session, ring, "platform", ["known"], actor=ACTOR, now=NOW)
    now = [100.0]
    keys = PartnerKeys(db, ring, ttl=BOUND, clock=lambda: now[0])
    assert keys.authenticate(key) == scope
    with db.transaction() as session:
        session.execute(update(Partner).values(enabled=False))
    now[0] += BOUND / 2
    assert keys.remembered(key) == scope  # within the bound: the remembered scope
    now[0] += BOUND / 2 + 0.01
    assert keys.remembered(key) is None
    assert keys.authenticate(key) is None  # past it: the database says no
    assert keys.authenticate("tzp_" + secrets.token_urlsafe(32)) is None


def test_without_a_bound_every_call_reads_the_database(db: Database, settings: Settings) -> None:
    ring = KeyRing(load_keys(settings))
    bank(db, "known")
    with db.transaction() as session:
        _, key = create_partner(session, ring, "platform", ["known"], actor=ACTOR, now=NOW)
    keys = PartnerKeys(db, ring, ttl=0)
    assert keys.authenticate(key) is not None
    assert keys.remembered(key) is None
    with db.transaction() as session:
        session.execute(update(Partner).values(enabled=False))
    assert keys.authenticate(key) is None
