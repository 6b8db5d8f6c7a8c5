"""Partner platforms: their API keys, the banks they may match against, and rate limits.

Only a keyed hash of a key is stored (KeyRing.keyed_hash); the key itself is shown once, when
the partner is added. A partner's scope is a list of banks: a bank outside it does not exist
for that partner.
"""

from __future__ import annotations

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
from tarcza.store.engine import Database
from tarcza.store.rates import LeasedQuota

KEY_PURPOSE = "partner-api-key"
KEY_PREFIX = "tzp_"
MAX_KEY_LENGTH = 200


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
    partner = session.scalar(
        select(Partner).where(Partner.key_hash == keyring.keyed_hash(KEY_PURPOSE, key))
    )
    if partner is None or not partner.enabled:
        return None
    rows = session.execute(
        select(Bank.name, Bank.id)
        .join(PartnerBank, PartnerBank.bank_id == Bank.id)
        .where(PartnerBank.partner_id == partner.id)
    )
    return PartnerScope(id=partner.id, name=partner.name, banks={n: i for n, i in rows})


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
    """

    MAX_ENTRIES = 10_000

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
        self._known: dict[str, tuple[PartnerScope, float]] = {}
        self._lock = threading.Lock()

    def remembered(self, key: str) -> PartnerScope | None:
        """The scope of ``key`` when it was read within the last ``ttl`` seconds, else None
        (then :meth:`authenticate` must ask the database). Touches no database."""
        if self.ttl <= 0 or not key or len(key) > MAX_KEY_LENGTH:
            return None
        entry = self._known.get(self._keyring.keyed_hash(KEY_PURPOSE, key))
        if entry is None or self._clock() - entry[1] >= self.ttl:
            return None
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
            with self._lock:
                if len(self._known) >= self.MAX_ENTRIES:
                    self._known.clear()
                self._known[self._keyring.keyed_hash(KEY_PURPOSE, key)] = (scope, read_at)
        return scope
