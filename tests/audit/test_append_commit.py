"""Appending as the last act of a transaction (append_and_commit), on SQLite and PostgreSQL.

On PostgreSQL the database chains the entry to the head itself (its hash computed in SQL from
``chain.body_parts``) and the COMMIT travels with it: the chain must verify exactly as before.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from tarcza.audit import chain
from tarcza.audit import service as audit
from tarcza.audit.models import AuditEntry
from tarcza.intake.models import Report
from tarcza.store.engine import Database

NOW = datetime(2026, 11, 22, 12, 0, 0, 123456, tzinfo=UTC)
# Text that JSON escapes, and text it passes through as it is.
AWKWARD = "zażółć \"cudzysłów\" \\ back\nslash \u2028 \t 🙂 'quote' %s %(x)s $1 ;"


def entry(db: Database, k: int, *, commit: bool) -> AuditEntry:
    with db.transaction() as session:
        do = audit.append_and_commit if commit else audit.append
        return do(
            session,
            actor=f"w{k}{AWKWARD}",
            action="thing.done",
            subject_type="thing",
            subject_id=str(k),
            now=NOW + timedelta(microseconds=k),
            agency=None if k % 2 else "hotline",
            reason=None if k % 3 else AWKWARD,
            details={"k": k, "text": AWKWARD, "nested": {"b": [1, None, True]}},
        )


def test_the_body_parts_make_the_hashed_body() -> None:
    fields = {
        "created_at": NOW,
        "actor": AWKWARD,
        "agency": None,
        "action": "a",
        "subject_type": "s",
        "subject_id": AWKWARD,
        "reason": AWKWARD,
        "details": chain.canonical_json({"x": AWKWARD}),
    }
    parts = chain.body_parts(**fields)
    body = parts.before_prev + "ab" * 32 + parts.before_seq + "12345" + parts.after_seq
    import hashlib

    assert hashlib.sha256(body.encode()).hexdigest() == chain.entry_hash(
        seq=12345, prev_hash="ab" * 32, **fields
    )


def test_entries_chained_by_the_database_verify(db: Database) -> None:
    first = entry(db, 0, commit=True)
    assert (first.seq, first.prev_hash) == (1, chain.GENESIS)
    returned = [first] + [entry(db, k, commit=bool(k % 2)) for k in range(1, 12)]
    with db.sessions() as session:
        stored = list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
        verdict = audit.verify_log(session)
    assert verdict.ok and verdict.count == 12
    assert [(e.seq, e.entry_hash) for e in returned] == [(e.seq, e.entry_hash) for e in stored]
    assert stored[6].reason == AWKWARD and stored[0].created_at == NOW


def test_concurrent_appends_and_commits_keep_one_unbroken_chain(db: Database) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda k: entry(db, k, commit=k % 3 != 0), range(60)))
    with db.sessions() as session:
        verdict = audit.verify_log(session)
    assert verdict.ok and verdict.count == 60


def test_the_transactions_rows_commit_with_the_entry(db: Database) -> None:
    with db.transaction() as session:
        session.add(
            Report(
                reference="TZ-AC000001",
                pin_hash="0" * 64,
                category="csam",
                status="received",
                priority=0,
                owner_agency="hotline",
                child_in_danger=False,
                language="pl",
                source="web",
                urls=[],
                created_at=NOW,
                updated_at=NOW,
            )
        )
        audit.append_and_commit(
            session,
            actor="public",
            action="report.created",
            subject_type="report",
            subject_id="TZ-AC000001",
            now=NOW,
        )
    with db.sessions() as session:
        assert session.scalar(select(Report.reference)) == "TZ-AC000001"
        assert session.scalar(select(AuditEntry.subject_id)) == "TZ-AC000001"


def test_tampering_with_an_entry_chained_by_the_database_is_found(db: Database) -> None:
    for k in range(4):
        entry(db, k, commit=True)
    with db.transaction() as session:
        session.execute(text("UPDATE audit_log SET details = '{}' WHERE seq = 3"))
    with db.sessions() as session:
        verdict = audit.verify_log(session)
    assert not verdict.ok and verdict.broken_seq == 3
