"""Bank operations: create, enable and disable banks, add and remove signals, import, export.

Every function takes the session (or the database, for the all-or-nothing import), the acting
person and the time as arguments. Each change to a bank's signals is written to the
``signal_changes`` log in the same transaction, which is how matchers catch up without a rebuild.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from tarcza.audit import service as audit
from tarcza.hashing import banks, formats, vpdq
from tarcza.hashing.banks import BankKind, Entry, SignalType
from tarcza.hashing.changes import (
    CHUNK,
    Known,
    analyse_signals,
    existing_signals,
    insert_signals,
    lock_changes,
    log_changes,
    plan_additions,
    sort_additions,
    write_new_signals,
)
from tarcza.hashing.formats import ExchangeFormat, LineError
from tarcza.hashing.models import Bank, BankSignal
from tarcza.store.engine import Database

log = logging.getLogger(__name__)
#: An import that adds or restores at least this many signals is followed by ANALYZE of the
#: signal tables (smaller ones leave the statistics to autovacuum).
ANALYSE_FROM: Final = 1000

T = TypeVar("T")
V = TypeVar("V")


class BankError(Exception):
    """A bank operation cannot be done: ``field`` says where, ``code`` why."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.code = code
        self.message = message


class BankNotFound(BankError):
    """No bank has this name."""

    def __init__(self, name: str) -> None:
        super().__init__("bank", "unknown_bank", f"there is no bank called {name!r}")


class ImportRejected(BankError):
    """The file has malformed lines; nothing was imported."""

    def __init__(self, errors: tuple[LineError, ...], error_count: int) -> None:
        super().__init__("file", "malformed_file", f"{error_count} malformed line(s)")
        self.errors = errors
        self.error_count = error_count


@dataclass(frozen=True)
class BankInfo:
    """A bank as listed: its settings and how many signals it holds now."""

    id: int
    name: str
    kind: BankKind
    source: str
    terms: str
    pdq_threshold: int
    enabled: bool
    signal_count: int
    created_at: datetime
    vpdq_query_match_pct: float = vpdq.DEFAULT_QUERY_MATCH_PCT
    vpdq_compared_match_pct: float = vpdq.DEFAULT_COMPARED_MATCH_PCT


@dataclass(frozen=True)
class AddResult:
    """What adding signals did: new ones, removed ones restored, ones already there."""

    added: int
    restored: int
    unchanged: int
    #: (what, how many) a file held that tarcza cannot match and so skipped (imports only).
    skipped: tuple[tuple[str, int], ...] = ()


def _info(bank: Bank, count: int) -> BankInfo:
    return BankInfo(
        id=bank.id,
        name=bank.name,
        kind=BankKind(bank.kind),
        source=bank.source,
        terms=bank.terms,
        pdq_threshold=bank.pdq_threshold,
        enabled=bank.enabled,
        signal_count=count,
        created_at=bank.created_at,
        vpdq_query_match_pct=bank.vpdq_query_match_pct,
        vpdq_compared_match_pct=bank.vpdq_compared_match_pct,
    )


def _bank(session: Session, name: str, *, key_share: bool = False) -> Bank:
    """The bank called ``name``; ``key_share``: its row locked FOR KEY SHARE (PostgreSQL) until
    the transaction ends, as a foreign key's check would lock it, so that it is not deleted
    while signals are added to it (bank_signals.bank_id has no foreign key: migration 0021)."""
    query = select(Bank).where(Bank.name == name)
    if key_share:
        query = query.with_for_update(read=True, key_share=True)
    bank = session.scalar(query)
    if bank is None:
        raise BankNotFound(name)
    return bank


def _checked(field: str, check: Callable[[V], T], value: V) -> T:
    try:
        return check(value)
    except banks.InvalidSignal as exc:
        raise BankError(field, exc.code, exc.message) from exc


def create_bank(
    session: Session,
    name: str,
    *,
    actor: str,
    now: datetime,
    kind: BankKind = BankKind.BLOCK,
    source: str = "",
    terms: str = "",
    pdq_threshold: int = banks.DEFAULT_PDQ_THRESHOLD,
    vpdq_query_match_pct: float = vpdq.DEFAULT_QUERY_MATCH_PCT,
    vpdq_compared_match_pct: float = vpdq.DEFAULT_COMPARED_MATCH_PCT,
) -> BankInfo:
    """Create an empty, enabled bank; names are unique.

    A vPDQ signal of the bank matches a video when at least ``vpdq_query_match_pct`` percent of
    the video's frames and ``vpdq_compared_match_pct`` percent of the signal's frames match.
    """
    bank = Bank(
        name=_checked("name", banks.check_bank_name, name),
        kind=BankKind(kind).value,
        source=_checked("source", banks.check_source, source),
        terms=_checked("terms", banks.check_terms, terms),
        pdq_threshold=_checked("threshold", banks.check_threshold, pdq_threshold),
        vpdq_query_match_pct=_checked(
            "vpdq_query_match_pct", banks.check_vpdq_pct, vpdq_query_match_pct
        ),
        vpdq_compared_match_pct=_checked(
            "vpdq_compared_match_pct", banks.check_vpdq_pct, vpdq_compared_match_pct
        ),
        enabled=True,
        created_at=now,
        updated_at=now,
    )
    if session.scalar(select(Bank.id).where(Bank.name == bank.name)) is not None:
        raise BankError("name", "bank_exists", f"a bank called {bank.name!r} exists already")
    session.add(bank)
    session.flush()
    audit.append(
        session,
        actor=actor,
        action="bank.created",
        subject_type="bank",
        subject_id=bank.name,
        now=now,
        details={
            "kind": bank.kind,
            "source": bank.source,
            "terms": bank.terms,
            "pdq_threshold": bank.pdq_threshold,
            "vpdq_query_match_pct": bank.vpdq_query_match_pct,
            "vpdq_compared_match_pct": bank.vpdq_compared_match_pct,
        },
    )
    return _info(bank, 0)


def list_banks(session: Session) -> list[BankInfo]:
    """Every bank, by name, with the number of signals it holds (removed ones not counted)."""
    counts = dict(
        session.execute(
            select(BankSignal.bank_id, func.count())
            .where(BankSignal.removed_at.is_(None))
            .group_by(BankSignal.bank_id)
        ).all()
    )
    rows = session.scalars(select(Bank).order_by(Bank.name))
    return [_info(bank, counts.get(bank.id, 0)) for bank in rows]


def get_bank(session: Session, name: str) -> BankInfo:
    """One bank by name (BankNotFound if there is none)."""
    bank = _bank(session, name)
    count = session.scalar(
        select(func.count())
        .select_from(BankSignal)
        .where(BankSignal.bank_id == bank.id, BankSignal.removed_at.is_(None))
    )
    return _info(bank, count or 0)


def set_bank_enabled(
    session: Session,
    name: str,
    enabled: bool,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
) -> BankInfo:
    """Enable or disable a bank; a disabled bank never matches. Audited when it changes."""
    bank = _bank(session, name)
    if bank.enabled != enabled:
        bank.enabled, bank.updated_at = enabled, now
        audit.append(
            session,
            actor=actor,
            action="bank.enabled" if enabled else "bank.disabled",
            subject_type="bank",
            subject_id=bank.name,
            now=now,
            reason=reason,
        )
    return get_bank(session, name)


def add_signals(
    session: Session,
    name: str,
    entries: Iterable[Entry],
    *,
    actor: str,
    now: datetime,
    origin: str = "api",
    bulk: bool = False,
) -> AddResult:
    """Add ``entries`` (already validated) to a bank; removed signals are restored.

    A signal already in the bank keeps its row; a new label replaces the old one. ``bulk``
    writes the new signals and their changes with COPY (PostgreSQL) or batched executemany
    (SQLite) instead of statements of CHUNK rows returning their ids: the same rows, for
    imports of many signals.
    """
    lock_changes(session)
    bank = _bank(session, name, key_share=True)
    entries = list(entries)
    keys = ((entry.signal_type.value, banks.lookup_key(entry.value)) for entry in entries)
    holds_any = select(BankSignal.id).where(BankSignal.bank_id == bank.id).limit(1)
    if bulk and session.scalar(holds_any) is None:
        existing: dict[tuple[str, str], Known] = {}  # an empty bank: nothing to look up
    else:
        existing = existing_signals(session, bank.id, keys)
    if bulk:
        new, restored, relabelled, unchanged = sort_additions(entries, existing)
        added = write_new_signals(session, bank.id, new, now)  # with their changes
        to_log = restored
    else:
        new_rows, restored, relabelled, unchanged = plan_additions(bank.id, entries, existing, now)
        new_ids = insert_signals(session, new_rows)
        added, to_log = len(new_ids), new_ids + restored
    for start in range(0, len(restored), CHUNK):
        session.execute(
            update(BankSignal)
            .where(BankSignal.id.in_(restored[start : start + CHUNK]))
            .values(removed_at=None)
        )
    if relabelled:
        session.execute(update(BankSignal), relabelled)
    log_changes(session, to_log, "add", now)
    result = AddResult(added=added, restored=len(restored), unchanged=unchanged)
    audit.append(
        session,
        actor=actor,
        action="bank.signals_added",
        subject_type="bank",
        subject_id=bank.name,
        now=now,
        details={"added": result.added, "restored": result.restored, "origin": origin},
    )
    return result


def remove_signal(
    session: Session,
    name: str,
    signal_type: SignalType,
    value: str,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
) -> None:
    """Take one signal out of a bank (soft: the row stays, marked removed) and audit it."""
    lock_changes(session)
    bank = _bank(session, name)
    try:
        canonical = banks.normalise_signal(signal_type, value)
    except banks.InvalidSignal as exc:
        raise BankError("signal", exc.code, exc.message) from exc
    row = session.scalar(
        select(BankSignal).where(
            BankSignal.bank_id == bank.id,
            BankSignal.signal_type == signal_type.value,
            BankSignal.lookup_key == banks.lookup_key(canonical),
            BankSignal.removed_at.is_(None),
        )
    )
    if row is None:
        raise BankError("signal", "unknown_signal", "the bank does not hold this signal")
    row.removed_at = now
    session.flush()
    log_changes(session, [row.id], "remove", now)
    audit.append(
        session,
        actor=actor,
        action="bank.signal_removed",
        subject_type="bank",
        subject_id=bank.name,
        now=now,
        reason=reason,
        details={"signal_id": row.id, "signal_type": row.signal_type, "signal": row.lookup_key},
    )


def import_file(
    db: Database,
    name: str,
    fmt: ExchangeFormat,
    content: str,
    *,
    actor: str,
    now: datetime,
    bare_type: SignalType | None = None,
) -> AddResult:
    """Import a whole file into a bank in one transaction, or nothing at all.

    Every line is validated first; if any is malformed, ImportRejected lists them (up to
    formats.MAX_REPORTED_ERRORS, with the total) and the bank is left as it was. Items of
    kinds tarcza cannot match (a dump's URLs, a VICS item's PhotoDNA) are skipped and counted
    in the result. ``bare_type`` is the type of bare lines of a ``te`` file.

    The new signals are written in bulk (see :func:`add_signals`); after an import of at least
    ANALYSE_FROM signals the signal tables are ANALYZEd, so that lookups are planned for their
    new size at once.
    """
    with _collector_paused():
        parsed = formats.parse(fmt, content, bare_type)
        if not parsed.ok:
            raise ImportRejected(parsed.errors, parsed.error_count)
        with db.transaction() as session:
            result = add_signals(
                session,
                name,
                parsed.entries,
                actor=actor,
                now=now,
                origin=f"import:{fmt.value}",
                bulk=True,
            )
    if result.added + result.restored >= ANALYSE_FROM:
        _analyse(db)
    return replace(result, skipped=parsed.skipped)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection for a while: a million new entries, rows and keys (none in
    a cycle) would otherwise set off full collections over them again and again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _analyse(db: Database) -> None:
    """ANALYZE the signal tables after a big import; the import stands even if this fails."""
    try:
        with db.transaction() as session:
            analyse_signals(session)
    except SQLAlchemyError:
        log.warning("ANALYZE after the import failed", exc_info=True)


def bank_entries(session: Session, name: str) -> list[Entry]:
    """The signals a bank holds now, as entries."""
    bank = _bank(session, name)
    rows = session.execute(
        select(BankSignal.signal_type, BankSignal.value, BankSignal.label).where(
            BankSignal.bank_id == bank.id, BankSignal.removed_at.is_(None)
        )
    )
    return [Entry(SignalType(kind), value, label) for kind, value, label in rows]


def export_file(session: Session, name: str, fmt: ExchangeFormat) -> tuple[str, int]:
    """A bank's signals in ``fmt``, and how many of them the format cannot hold."""
    return formats.serialise(fmt, bank_entries(session, name))
