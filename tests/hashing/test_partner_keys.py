"""Partner keys read ahead, on SQLite and PostgreSQL.

A key in use is re-read before its bound runs out (so a steady stream of lookups never waits
for the database, nor falls back to it all at once when the entry would expire); a key
disabled is forgotten at the next read-ahead, before its bound; an idle key is left to expire;
a read that raced the read-ahead with a later answer keeps it.
"""

from __future__ import annotations

import time

from sqlalchemy import event, update

from tarcza.config import Settings, load_keys
from tarcza.crypto import KeyRing
from tarcza.hashing.models import Partner
from tarcza.hashing.partners import PartnerKeys, create_partner
from tarcza.store.engine import Database
from tests.hashing.test_matcher import ACTOR, NOW, bank

BOUND = 1.0


def partner_key(db: Database, ring: KeyRing, name: str = "platform") -> str:
    with db.transaction() as session:
        _, key = create_partner(session, ring, name, ["known"], actor=ACTOR, now=NOW)
    return key


def test_a_key_in_use_is_read_ahead_and_never_expires(db: Database, settings: Settings) -> None:
    ring = KeyRing(load_keys(settings))
    bank(db, "known")
    key = partner_key(db, ring)
    now = [100.0]
    keys = PartnerKeys(db, ring, ttl=BOUND, clock=lambda: now[0])
    scope = keys.authenticate(key)
    assert scope is not None and scope.banks.keys() == {"known"}
    for _ in range(5):  # far past the bound of the first read, in steps of half the bound
        now[0] += BOUND / 2
        assert keys.remembered(key) == scope
        assert keys.refresh() == 1
    assert keys.remembered(key) == scope
    now[0] += PartnerKeys.IDLE_SECONDS
    assert keys.refresh() == 0  # unused for a minute: no longer read ahead
    now[0] += BOUND
    assert keys.remembered(key) is None


def test_a_disabled_key_is_forgotten_at_the_next_read_ahead(
    db: Database, settings: Settings
) -> None:
    ring = KeyRing(load_keys(settings))
    bank(db, "known")
    key, other = partner_key(db, ring), partner_key(db, ring, "other")
    now = [100.0]
    keys = PartnerKeys(db, ring, ttl=BOUND, clock=lambda: now[0])
    assert keys.authenticate(key) is not None and keys.authenticate(other) is not None
    with db.transaction() as session:
        session.execute(update(Partner).where(Partner.name == "platform").values(enabled=False))
    now[0] += 0.1
    assert keys.remembered(key) is not None  # within the bound, not yet read again
    assert keys.refresh() == 1
    assert keys.remembered(key) is None  # refused before the bound ran out
    assert keys.remembered(other) is not None
    assert keys.authenticate(key) is None


def test_a_later_read_is_not_overwritten_by_an_earlier_read_ahead(
    db: Database, settings: Settings
) -> None:
    ring = KeyRing(load_keys(settings))
    bank(db, "known")
    key = partner_key(db, ring)
    now = [100.0]
    keys = PartnerKeys(db, ring, ttl=BOUND, clock=lambda: now[0])
    assert keys.authenticate(key) is not None
    keys.remembered(key)
    raced: list[bool] = []

    def reread_and_disable(*_: object) -> None:
        # Before the read-ahead's query runs, a request reads the key again (later than the
        # read-ahead began), then the partner is disabled: the read-ahead's older answer
        # ("disabled") must not replace the request's later one within its bound.
        if raced:
            return
        raced.append(True)
        keys._known.pop(ring.keyed_hash("partner-api-key", key))
        now[0] += 0.01
        assert keys.authenticate(key) is not None
        with db.transaction() as session:
            session.execute(update(Partner).values(enabled=False))

    now[0] += 0.1
    event.listen(db.engine, "before_cursor_execute", reread_and_disable)
    try:
        keys.refresh()
    finally:
        event.remove(db.engine, "before_cursor_execute", reread_and_disable)
    assert raced
    assert keys.remembered(key) is not None


def test_the_thread_reads_ahead_and_stops(db: Database, settings: Settings) -> None:
    ring = KeyRing(load_keys(settings))
    bank(db, "known")
    key = partner_key(db, ring)
    keys = PartnerKeys(db, ring, ttl=0.2)
    assert keys.authenticate(key) is not None
    reads: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        reads.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        keys.start_refreshing()
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            assert keys.remembered(key) is not None  # never expires while in use
            time.sleep(0.02)
        keys.stop_refreshing()
        assert reads, "the thread read nothing ahead"
        assert any("partners" in statement for statement in reads)
    finally:
        keys.stop_refreshing()
        event.remove(db.engine, "before_cursor_execute", count)


def test_without_a_bound_there_is_no_thread(db: Database, settings: Settings) -> None:
    keys = PartnerKeys(db, KeyRing(load_keys(settings)), ttl=0)
    keys.start_refreshing()
    assert keys._refresher is None
