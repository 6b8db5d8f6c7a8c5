"""Appending to and verifying the audit log."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tarcza.audit import chain
from tarcza.audit.models import AuditEntry

# Any constant will do; it names the one advisory lock that serialises appends.
_PG_CHAIN_LOCK = 0x7A72_6361


def _lock_chain(session: Session) -> None:
    """Serialise appenders until this transaction ends.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: every write
    transaction already began with BEGIN IMMEDIATE (see store.engine).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_CHAIN_LOCK})


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    now: datetime,
    agency: str | None = None,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Add one entry at the head of the chain, in the caller's transaction.

    Call it last before committing: the chain lock is held until the commit.
    """
    _lock_chain(session)
    head = session.execute(
        select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    seq, prev_hash = (head[0] + 1, head[1]) if head else (1, chain.GENESIS)
    details_json = chain.canonical_json(details or {})
    entry = AuditEntry(
        seq=seq,
        created_at=now,
        actor=actor,
        agency=agency,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        reason=reason,
        details=details_json,
        prev_hash=prev_hash,
    )
    entry.entry_hash = chain.entry_hash(
        seq=seq,
        created_at=now,
        actor=actor,
        agency=agency,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        reason=reason,
        details=details_json,
        prev_hash=prev_hash,
    )
    session.add(entry)
    session.flush()
    return entry


def _stored_entries(session: Session, batch: int = 5000) -> Iterator[chain.Entry]:
    last = 0
    while True:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield chain.Entry(
                seq=row.seq,
                created_at=row.created_at,
                actor=row.actor,
                agency=row.agency,
                action=row.action,
                subject_type=row.subject_type,
                subject_id=row.subject_id,
                reason=row.reason,
                details=row.details,
                prev_hash=row.prev_hash,
                entry_hash=row.entry_hash,
            )
        last = rows[-1].seq
        session.expunge_all()


def verify_log(session: Session) -> chain.Verdict:
    """Recompute the whole chain from the database."""
    return chain.verify(_stored_entries(session))


def entries_for(session: Session, subject_type: str, subject_id: str) -> list[AuditEntry]:
    """The entries about one subject, oldest first."""
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.subject_type == subject_type, AuditEntry.subject_id == subject_id)
            .order_by(AuditEntry.seq)
        )
    )
