"""Partner platforms: their API keys, the banks they may match against, and rate limits.

Only a keyed hash of a key is stored (KeyRing.keyed_hash); the key itself is shown once, when
the partner is added. A partner's scope is a list of banks: a bank outside it does not exist
for that partner.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tarcza.audit import service as audit
from tarcza.crypto import KeyRing
from tarcza.hashing import banks
from tarcza.hashing.bank_service import BankError, BankNotFound
from tarcza.hashing.models import Bank, Partner, PartnerBank
from tarcza.jobs.periodic import Periodic
from tarcza.store.engine import Database
from tarcza.store.rates import LeasedQuota

KEY_PURPOSE = "partner-api-key"
KEY_PREFIX = "tzp_"
MAX_KEY_LENGTH = 200

log = logging.getLogger("tarcza.partners")


@dataclass(frozen=True)
class PartnerScope:
    """An authenticated partner and the ids and names of the banks it may see."""

    id: int
    name: str
    banks: dict[str, int]

    @property
    def bank_ids(self) -> frozenset[int]:
        return frozenset(self.banks.values())


def new_key() -> str:
    """A fresh API key: a prefix that says what it is, and 256 random bits."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def create_partner(
    session: Session,
    keyring: KeyRing,
    name: str,
    bank_names: Sequence[str],
    *,
    actor: str,
    now: datetime,
) -> tuple[PartnerScope, str]:
    """Add a partner scoped to ``bank_names``; returns its scope and its key (shown once)."""
    try:
        name = banks.check_bank_name(name)
    except banks.InvalidSignal as exc:
        raise BankError("name", "invalid_partner_name", exc.message) from exc
    if session.scalar(select(Partner.id).where(Partner.name == name)) is not None:
        raise BankError("name", "partner_exists", f"a partner called {name!r} exists already")
    scope: dict[str, int] = {}
    for bank_name in bank_names:
        bank_id = session.scalar(select(Bank.id).where(Bank.name == bank_name))
        if bank_id is None:
            raise BankNotFound(bank_name)
        scope[bank_name] = bank_id
    key = new_key()
    partner = Partner(
        name=name, key_hash=keyring.keyed_hash(KEY_PURPOSE, key), enabled=True, created_at=now
    )
    session.add(partner)
    session.flush()
    session.add_all(PartnerBank(partner_id=partner.id, bank_id=bid) for bid in scope.values())
    session.flush()
    audit.append(
        session,
        actor=actor,
        action="partner.created",
        subject_type="partner",
        subject_id=name,
        now=now,
        details={"banks": sorted(scope)},
    )
    return PartnerScope(id=partner.id, name=name, banks=scope), key


def authenticate(session: Session, keyring: KeyRing, key: str) -> PartnerScope | None:
    """The enabled partner holding ``key``, with its scope; None for any other key."""
    if not key or len(key) > MAX_KEY_LENGTH:
        return None
    # Looked up by a keyed hash, which an attacker cannot aim at a chosen row.
    key_hash = keyring.keyed_hash(KEY_PURPOSE, key)
    return scopes_by_key_hash(session, [key_hash]).get(key_hash)


def scopes_by_key_hash(session: Session, key_hashes: Sequence[str]) -> dict[str, PartnerScope]:
    """The scopes of the enabled partners among those holding the keys of ``key_hashes`` (keyed
    hashes, as stored), by keyed hash; two queries for up to 500 keys."""
    found: dict[str, PartnerScope] = {}
    for start in range(0, len(key_hashes), 500):
        part = list(key_hashes[start : start + 500])
        partners = session.execute(
            select(Partner.id, Partner.name, Partner.key_hash).where(
                Partner.key_hash.in_(part), Partner.enabled.is_(True)
            )
        ).all()
        if not partners:
            continue
        banks_of: dict[int, dict[str, int]] = {row.id: {} for row in partners}
        rows = session.execute(
            select(PartnerBank.partner_id, Bank.name, Bank.id)
            .join(Bank, PartnerBank.bank_id == Bank.id)
            .where(PartnerBank.partner_id.in_(list(banks_of)))
        )
        for partner_id, bank_name, bank_id in rows:
            banks_of[partner_id][bank_name] = bank_id
        for row in partners:
            found[row.key_hash] = PartnerScope(id=row.id, name=row.name, banks=banks_of[row.id])
    return found


class LookupQuota(LeasedQuota):
    """The signals each partner key may look up, counted for all processes together
    (``partner_lookup_rate``); see LeasedQuota for how a process spends it."""


class PartnerKeys:
    """Partner authentication with the scopes of keys recently seen kept in memory.

    Keyed by the key's keyed hash (the key itself is never kept), each scope is trusted for
    ``ttl`` seconds after it was read from the database: a partner disabled, re-scoped or
    removed is refused (or answered with its new scope) within ``ttl`` seconds in every
    process. An unknown key is never remembered: it is asked of the database each time (and
    the cache cannot be filled by guessing). ``ttl`` 0 reads the database on every call.

    Read ahead: with :meth:`start_refreshing`, a background thread re-reads every
    ``ttl / 2`` seconds the scopes of the keys used within the last ``IDLE_SECONDS`` (two
    queries for all of them), so that a key in steady use never reaches the end of its bound
    and no request waits for the database, nor falls back to the slow path all at once when
    its entry would expire. A key idle longer is left to expire. Should the thread fall behind
    (the database away), entries expire as they would without it: the bound holds either way.
    """

    MAX_ENTRIES = 10_000
    #: A key unused for this long is no longer read ahead (its entry then expires).
    IDLE_SECONDS = 60.0

    def __init__(
        self,
        db: Database,
        keyring: KeyRing,
        *,
        ttl: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._keyring = keyring
        self.ttl = ttl
        self._clock = clock
        # keyed hash -> (scope, when its read began); replaced under _lock, read without it.
        self._known: dict[str, tuple[PartnerScope, float]] = {}
        self._used: dict[str, float] = {}  # keyed hash -> when last remembered
        self._lock = threading.Lock()
        self._refresher: Periodic | None = None

    def remembered(self, key: str) -> PartnerScope | None:
        """The scope of ``key`` when it was read within the last ``ttl`` seconds, else None
        (then :meth:`authenticate` must ask the database). Touches no database."""
        if self.ttl <= 0 or not key or len(key) > MAX_KEY_LENGTH:
            return None
        key_hash = self._keyring.keyed_hash(KEY_PURPOSE, key)
        entry = self._known.get(key_hash)
        if entry is None:
            return None
        now = self._clock()
        if now - entry[1] >= self.ttl:
            return None
        self._used[key_hash] = now
        return entry[0]

    def authenticate(self, key: str) -> PartnerScope | None:
        """The enabled partner holding ``key`` (see :func:`authenticate`), from memory when
        read within ``ttl`` seconds."""
        scope = self.remembered(key)
        if scope is not None:
            return scope
        read_at = self._clock()
        with self._db.reading() as session:
            scope = authenticate(session, self._keyring, key)
        if scope is not None and self.ttl > 0:
            key_hash = self._keyring.keyed_hash(KEY_PURPOSE, key)
            with self._lock:
                if len(self._known) >= self.MAX_ENTRIES:
                    self._known.clear()
                    self._used.clear()
                self._known[key_hash] = (scope, read_at)
                self._used[key_hash] = read_at
        return scope

    def refresh(self) -> int:
        """Re-read the scopes of the keys used within ``IDLE_SECONDS`` (forgetting the keys of
        partners no longer enabled, and the idle keys' use); returns how many were read."""
        now = self._clock()
        with self._lock:
            idle = [h for h, used in self._used.items() if now - used >= self.IDLE_SECONDS]
            for key_hash in idle:
                del self._used[key_hash]
            wanted = [h for h in self._used if h in self._known]
        if not wanted:
            return 0
        read_at = self._clock()
        with self._db.reading() as session:
            scopes = scopes_by_key_hash(session, wanted)
        with self._lock:
            for key_hash in wanted:
                entry = self._known.get(key_hash)
                if entry is not None and entry[1] > read_at:
                    continue  # read again meanwhile, later than this read: kept
                scope = scopes.get(key_hash)
                if scope is None:  # disabled or removed: refused from now on
                    self._known.pop(key_hash, None)
                    self._used.pop(key_hash, None)
                else:
                    self._known[key_hash] = (scope, read_at)
        return len(scopes)

    def start_refreshing(self) -> None:
        """Start (once) the thread that reads ahead every ``ttl / 2`` seconds (see the class);
        nothing when ``ttl`` is 0."""
        if self.ttl > 0 and self._refresher is None:
            self._refresher = Periodic(self.refresh, self.ttl / 2, "tarcza-partner-keys")
            self._refresher.start()

    def stop_refreshing(self) -> None:
        """Stop the thread (if any) and wait for it."""
        refresher, self._refresher = self._refresher, None
        if refresher is not None:
            refresher.stop()
