"""Appending to and verifying the audit log.

One chain, one writer at a time: an appender holds the chain's lock from reading the head until
its transaction ends. On PostgreSQL the time a lock is held must not include the application's
own turns (a busy server process may not run for milliseconds, and every other writer would
wait): the lock, the head and the new entry are one message, the entry's hash computed by the
database from the head (see ``chain.body_parts``); :func:`append_and_commit` sends the COMMIT in
the same message, so the lock is held only while the database works (issue 16).

Nor is it held while the commit is flushed to disk: that COMMIT is asynchronous (it releases the
lock at once), and the same message then commits a transaction of its own synchronously, whose
flush carries the WAL before it, ours included. The caller hears back only after that flush, so
what it acknowledges is durable; commits queued behind one another flush together. A crash
before the flush loses the transaction and every later one (WAL is replayed in order), never an
entry that a surviving entry chains to.
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import psycopg
from psycopg.adapt import Transformer
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tarcza.audit import chain
from tarcza.audit.models import AuditEntry
from tarcza.store import driver

# Any constant will do; it names the one advisory lock that serialises appends.
_PG_CHAIN_LOCK = 0x7A72_6361


def _lock_chain(session: Session) -> None:
    """Serialise appenders until this transaction ends.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: every write
    transaction already began with BEGIN IMMEDIATE (see store.engine).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_CHAIN_LOCK})


# The lock, then (a new snapshot, which sees the last commit under the lock) the head and the new
# entry chained to it; the statements are sent together, with literals (simple query protocol).
_PG_APPEND = """
SELECT pg_advisory_xact_lock({lock});
WITH last AS (SELECT seq, entry_hash FROM audit_log ORDER BY seq DESC LIMIT 1),
head AS (SELECT coalesce(max(seq), 0) AS seq, coalesce(max(entry_hash), {genesis}) AS hash
         FROM last)
INSERT INTO audit_log (seq, created_at, actor, agency, action, subject_type, subject_id,
                       reason, details, prev_hash, entry_hash)
SELECT head.seq + 1, {created_at}, {actor}, {agency}, {action}, {subject_type}, {subject_id},
       {reason}, {details}, head.hash,
       encode(sha256(convert_to(
           {before_prev} || head.hash || {before_seq} || (head.seq + 1)::text || {after_seq},
           'UTF8')), 'hex')
FROM head
RETURNING seq, prev_hash, entry_hash
"""

# append_and_commit: the transaction commits without waiting for the disk (the lock goes at once),
# then a transaction that takes an id commits synchronously: its flush carries ours.
_PG_ASYNC = "SET LOCAL synchronous_commit = off;\n"
_PG_COMMIT_DURABLY = """;
COMMIT;
SELECT pg_current_xact_id()
"""


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
) -> chain.Entry:
    """Add one entry at the head of the chain, in the caller's transaction.

    Call it last before committing: the chain lock is held until the commit.
    """
    return _append(
        session,
        {
            "created_at": now,
            "actor": actor,
            "agency": agency,
            "action": action,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "reason": reason,
            "details": chain.canonical_json(details or {}),
        },
        commit=False,
    )


def append_and_commit(
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
) -> chain.Entry:
    """Append as :func:`append` does, as the last act of the caller's transaction, and commit.

    On PostgreSQL the COMMIT goes with the entry (the chain's lock is never held while the
    application runs); the caller's ``session.commit()`` then finds nothing to do. Elsewhere the
    caller's commit commits. Nothing may be written in the session after this.
    """
    return _append(
        session,
        {
            "created_at": now,
            "actor": actor,
            "agency": agency,
            "action": action,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "reason": reason,
            "details": chain.canonical_json(details or {}),
        },
        commit=True,
    )


def _append(session: Session, fields: dict[str, Any], *, commit: bool) -> chain.Entry:
    if session.get_bind().dialect.name == "postgresql":
        return _append_pg(session, fields, commit=commit)
    return _append_orm(session, fields)


def _template(text_: str) -> list[tuple[bytes, str | None]]:
    """``text_`` cut at its ``{name}`` fields: (the text before, the name), in order."""
    return [(before.encode(), name) for before, name, _, _ in string.Formatter().parse(text_)]


_PG_APPEND_ONLY = _template(_PG_APPEND)
_PG_APPEND_COMMIT = _template(_PG_ASYNC + _PG_APPEND + _PG_COMMIT_DURABLY)


def _append_pg(session: Session, fields: dict[str, Any], *, commit: bool) -> chain.Entry:
    session.flush()  # the transaction's other rows go first (and commit with the entry)
    parts = chain.body_parts(**fields)
    values = {
        "lock": _PG_CHAIN_LOCK,
        "genesis": chain.GENESIS,
        "before_prev": parts.before_prev,
        "before_seq": parts.before_seq,
        "after_seq": parts.after_seq,
        **fields,
    }
    connection = driver.connection_of(session)
    # The values as the driver's literals (one adapter context for them all: psycopg.sql's
    # Literal makes one each, and parses the template on every call).
    literal = Transformer(connection).as_literal
    statement = b"".join(
        before + (literal(values[name]) if name is not None else b"")
        for before, name in (_PG_APPEND_COMMIT if commit else _PG_APPEND_ONLY)
    )
    with connection.cursor() as cursor:
        try:
            cursor.execute(statement, prepare=False)
        except psycopg.Error as error:  # raised as SQLAlchemy raises every other driver error
            raise driver.as_sqlalchemy_error(error) from error
        row = None
        while row is None:  # one result per statement: the entry's is the one with its hash
            names = [c.name for c in cursor.description or ()]
            if "entry_hash" in names:
                row = cursor.fetchone()
            elif not cursor.nextset():
                raise RuntimeError("the audit entry was not returned")
    seq, prev_hash, entry_hash = row
    return chain.Entry(seq=seq, prev_hash=prev_hash, entry_hash=entry_hash, **fields)


def _append_orm(session: Session, fields: dict[str, Any]) -> chain.Entry:
    _lock_chain(session)
    head = session.execute(
        select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    seq, prev_hash = (head[0] + 1, head[1]) if head else (1, chain.GENESIS)
    entry_hash = chain.entry_hash(seq=seq, prev_hash=prev_hash, **fields)
    session.add(AuditEntry(seq=seq, prev_hash=prev_hash, entry_hash=entry_hash, **fields))
    session.flush()
    return chain.Entry(seq=seq, prev_hash=prev_hash, entry_hash=entry_hash, **fields)


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
