"""Writing signals in bulk, and the ``signal_changes`` log that matchers follow.

Writers take :func:`lock_changes` first, so the log's sequence numbers are committed in order
and a reader that remembers the last one it applied never skips a change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from tarcza.hashing import banks
from tarcza.hashing.banks import Entry
from tarcza.hashing.models import BankSignal, SignalChange

# Any constant will do; it names the advisory lock that keeps signal_changes in commit order.
_PG_CHANGE_LOCK = 0x7A72_6362
CHUNK = 500
# Above this many keys of one type, reading the bank's keys beats looking each up.
SCAN_ABOVE = 2000


def lock_changes(session: Session) -> None:
    """Serialise writers of signal_changes until this transaction ends.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: every write transaction already
    began with BEGIN IMMEDIATE (see store.engine).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_CHANGE_LOCK})


@dataclass(frozen=True)
class Known:
    """A signal the bank holds already (perhaps removed)."""

    id: int
    label: str | None
    removed: bool


def existing_signals(
    session: Session, bank_id: int, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Known]:
    """The bank's signals with these (type, lookup key) pairs.

    A few keys are looked up through the unique index; a big batch reads the bank's keys of
    those types in one streamed pass instead, whose cost does not depend on the planner
    having statistics (right after a bulk import it has none, and IN lists then scan).
    """
    by_type: dict[str, set[str]] = {}
    for kind, key in keys:
        by_type.setdefault(kind, set()).add(key)
    columns = (BankSignal.id, BankSignal.lookup_key, BankSignal.label, BankSignal.removed_at)
    found: dict[tuple[str, str], Known] = {}
    for kind, wanted in by_type.items():
        where = [BankSignal.bank_id == bank_id, BankSignal.signal_type == kind]
        if len(wanted) > SCAN_ABOVE:
            queries = [select(*columns).where(*where).execution_options(yield_per=10_000)]
        else:
            ordered = sorted(wanted)
            queries = [
                select(*columns).where(*where, BankSignal.lookup_key.in_(ordered[i : i + CHUNK]))
                for i in range(0, len(ordered), CHUNK)
            ]
        for query in queries:
            for sid, key, label, removed_at in session.execute(query):
                if key in wanted:
                    found[(kind, key)] = Known(sid, label, removed_at is not None)
    return found


def insert_signals(session: Session, rows: list[dict[str, object]]) -> list[int]:
    """Insert signal rows in bulk; their new ids, in order."""
    ids: list[int] = []
    statement = insert(BankSignal).returning(BankSignal.id, sort_by_parameter_order=True)
    for start in range(0, len(rows), CHUNK):
        ids.extend(session.scalars(statement, rows[start : start + CHUNK]).all())
    return ids


def log_changes(session: Session, signal_ids: Sequence[int], op: str, now: datetime) -> None:
    """Append one ``op`` ("add" or "remove") change per signal to the log."""
    for start in range(0, len(signal_ids), CHUNK):
        chunk = signal_ids[start : start + CHUNK]
        session.execute(
            insert(SignalChange),
            [{"signal_id": sid, "op": op, "created_at": now} for sid in chunk],
        )


def plan_additions(
    bank_id: int, entries: Iterable[Entry], existing: dict[tuple[str, str], Known], now: datetime
) -> tuple[list[dict[str, object]], list[int], list[dict[str, object]], int]:
    """Sort entries into new rows, removed ones to restore, relabelled ones and unchanged."""
    new_rows: list[dict[str, object]] = []
    restored: list[int] = []
    relabelled: list[dict[str, object]] = []
    seen: set[tuple[str, str]] = set()
    unchanged = 0
    for entry in entries:
        key = (entry.signal_type.value, banks.lookup_key(entry.value))
        known = existing.get(key)
        if known is None and key not in seen:
            new_rows.append(
                {
                    "bank_id": bank_id,
                    "signal_type": key[0],
                    "value": entry.value,
                    "lookup_key": key[1],
                    "label": entry.label,
                    "created_at": now,
                }
            )
        elif known is not None and known.removed and key not in seen:
            restored.append(known.id)
        else:
            unchanged += 1
        if known is not None and entry.label is not None and entry.label != known.label:
            relabelled.append({"id": known.id, "label": entry.label})
        seen.add(key)
    return new_rows, restored, relabelled, unchanged
