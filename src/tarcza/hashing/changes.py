"""Writing signals in bulk, and the ``signal_changes`` log that matchers follow.

Writers take :func:`lock_changes` first, so the log's sequence numbers are committed in order
and a reader that remembers the last one it applied never skips a change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import NamedTuple

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from tarcza.hashing import banks
from tarcza.hashing.banks import Entry, SignalType
from tarcza.hashing.models import BankSignal, SignalChange
from tarcza.store.base import UTCDateTime

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


class Known(NamedTuple):
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
    columns = (
        BankSignal.id,
        BankSignal.lookup_key,
        BankSignal.label,
        BankSignal.removed_at.is_not(None),
    )
    found: dict[tuple[str, str], Known] = {}
    connection = session.connection()  # Core rows: no ORM loading for a million of them
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
            for sid, key, label, removed in connection.execute(query):
                if key in wanted:
                    found[(kind, key)] = Known(sid, label, bool(removed))
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


def sort_additions(
    entries: Iterable[Entry], existing: dict[tuple[str, str], Known]
) -> tuple[list[tuple[Entry, str]], list[int], list[dict[str, object]], int]:
    """Sort entries into new ones (with their lookup keys, in order), removed ones to restore,
    relabelled ones and the number unchanged.

    A signal the bank holds keeps its row (a removed one is restored); a new label replaces
    the old one; a signal given twice counts once, the second time as unchanged.
    """
    new: list[tuple[Entry, str]] = []
    restored: list[int] = []
    relabelled: list[dict[str, object]] = []
    seen: set[tuple[str, str]] = set()
    unchanged = 0
    type_names = {kind: kind.value for kind in SignalType}  # an enum's .value is slow
    lookup_key = banks.lookup_key
    for entry in entries:
        key = (type_names[entry.signal_type], lookup_key(entry.value))
        known = existing.get(key)
        if known is None and key not in seen:
            new.append((entry, key[1]))
        elif known is not None and known.removed and key not in seen:
            restored.append(known.id)
        else:
            unchanged += 1
        if known is not None and entry.label is not None and entry.label != known.label:
            relabelled.append({"id": known.id, "label": entry.label})
        seen.add(key)
    return new, restored, relabelled, unchanged


def plan_additions(
    bank_id: int, entries: Iterable[Entry], existing: dict[tuple[str, str], Known], now: datetime
) -> tuple[list[dict[str, object]], list[int], list[dict[str, object]], int]:
    """Sort entries into new rows, removed ones to restore, relabelled ones and unchanged."""
    new, restored, relabelled, unchanged = sort_additions(entries, existing)
    new_rows: list[dict[str, object]] = [
        {
            "bank_id": bank_id,
            "signal_type": entry.signal_type.value,
            "value": entry.value,
            "lookup_key": key,
            "label": entry.label,
            "created_at": now,
        }
        for entry, key in new
    ]
    return new_rows, restored, relabelled, unchanged


# -- bulk writing (imports) -------------------------------------------------------------------

#: Rows a SQLite executemany is given at once (bounds the memory of one batch).
BULK_BATCH = 20_000
#: SQLite's page cache while a bulk import writes (KiB).
SQLITE_CACHE_KIB = 256 * 1024


def write_new_signals(
    session: Session, bank_id: int, new: Sequence[tuple[Entry, str]], now: datetime
) -> int:
    """Insert new signals (entries with their lookup keys) and one "add" change each, in bulk.

    The signals get ids in the order given and their changes sequence numbers in the same
    order, as :func:`insert_signals` then :func:`log_changes` would give them; the rows are
    written sorted by (type, lookup key), so that the indexes on the keys fill in order
    instead of at random. PostgreSQL: ids from the table's sequence, then COPY of text blocks
    into both tables. SQLite: the ids above the highest one (the write transaction holds the
    database's only write lock since BEGIN IMMEDIATE), executemany in batches, then the change
    log from the new ids. The caller holds :func:`lock_changes`. Returns how many.
    """
    if not new:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        ids = _pg_ids(session, len(new))
        created = now.astimezone(UTC).isoformat()
        _copy_signals(session, bank_id, ids, new, created)
        _copy_changes(session, ids, created)
        return len(new)
    top = int(session.scalar(select(func.coalesce(func.max(BankSignal.id), 0))) or 0)
    ids = range(top + 1, top + 1 + len(new))
    type_names = {kind: kind.value for kind in SignalType}  # an enum's .value is slow
    rows = [
        (sid, type_names[entry.signal_type], entry.value, key, entry.label)
        for sid, (entry, key) in zip(ids, new, strict=True)
    ]
    rows.sort(key=itemgetter(1, 3))
    _insert_new_signals(session, bank_id, rows, top + 1, now)
    return len(rows)


_Row = tuple[int, str, str, str, str | None]  # id, signal type, value, lookup key, label
#: Lines of COPY text written at once.
COPY_LINES = 10_000
_NULL = "\\N"  # COPY's text format for NULL
_TAKE_RUN = "SELECT setval({seq}, nextval({seq}) + :n - 1)"


def _pg_run(session: Session, table: str, column: str, count: int) -> range:
    """``count`` new values of ``table.column``'s sequence, ascending: one run, taken by moving
    the sequence past it in one statement instead of a million ``nextval`` calls.

    Every writer of signals and changes holds the change lock (its inserts take their ids and
    sequence numbers from the same sequences), so no other ``nextval`` falls inside the run;
    if one ever did, the primary key refuses the second row with that value and the whole
    import is rolled back.
    """
    sequence = f"pg_get_serial_sequence('{table}', '{column}')"
    last = int(session.scalar(text(_TAKE_RUN.format(seq=sequence)), {"n": count}) or 0)
    return range(last - count + 1, last + 1)


def _pg_ids(session: Session, count: int) -> range:
    """``count`` new signal ids from the table's sequence, ascending (see :func:`_pg_run`)."""
    return _pg_run(session, "bank_signals", "id", count)


def _copy_field(value: str) -> str:
    """``value`` as a field of COPY's text format."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\\", "\\\\").replace("\t", "\\t")
        value = value.replace("\n", "\\n").replace("\r", "\\r")
    return value


def _copy_signals(
    session: Session,
    bank_id: int,
    ids: Sequence[int],
    new: Sequence[tuple[Entry, str]],
    created: str,
) -> None:
    """COPY the new signals, one text line each, sorted by (type, lookup key).

    Each line starts with the type and the key (a tab sorts below every character either
    holds, and the keys are distinct), so sorting the lines sorts the rows.
    """
    type_names = {kind: kind.value for kind in SignalType}  # an enum's .value is slow
    tail = f"\t{bank_id}\t{created}\n"
    lines = [
        f"{type_names[entry.signal_type]}\t{key}\t{sid}\t{_copy_field(entry.value)}\t"
        f"{_NULL if entry.label is None else _copy_field(entry.label)}{tail}"
        for sid, (entry, key) in zip(ids, new, strict=True)
    ]
    lines.sort()
    columns = "signal_type, lookup_key, id, value, label, bank_id, created_at"
    _copy_lines(session, f"COPY bank_signals ({columns}) FROM STDIN", lines)


def _copy_changes(session: Session, ids: Sequence[int], created: str) -> None:
    """COPY one "add" change per new signal, in the order of their ids, with sequence numbers
    taken as one run (see :func:`_pg_run`): no ``nextval`` per row."""
    seqs = _pg_run(session, "signal_changes", "seq", len(ids))
    tail = f"\tadd\t{created}\n"
    lines = [f"{seq}\t{sid}{tail}" for seq, sid in zip(seqs, ids, strict=True)]
    statement = "COPY signal_changes (seq, signal_id, op, created_at) FROM STDIN"
    _copy_lines(session, statement, lines)


def _copy_lines(session: Session, statement: str, lines: list[str]) -> None:
    driver = session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for start in range(0, len(lines), COPY_LINES):
            copy.write("".join(lines[start : start + COPY_LINES]))


def _insert_new_signals(
    session: Session, bank_id: int, rows: list[_Row], first_id: int, now: datetime
) -> None:
    connection = session.connection()
    dialect = connection.dialect
    store = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    created = store(now) if store else now  # as SQLAlchemy stores it
    # The indexes of a big bank outgrow SQLite's default page cache (2 MB): give this
    # connection room for them while it writes, then set it back.
    cache_size = int(connection.exec_driver_sql("PRAGMA cache_size").scalar_one())
    connection.exec_driver_sql(f"PRAGMA cache_size = {-SQLITE_CACHE_KIB}")
    try:
        statement = (
            "INSERT INTO bank_signals (id, signal_type, value, lookup_key, label, bank_id,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        for start in range(0, len(rows), BULK_BATCH):
            connection.exec_driver_sql(
                statement, [(*row, bank_id, created) for row in rows[start : start + BULK_BATCH]]
            )
        connection.exec_driver_sql(
            "INSERT INTO signal_changes (signal_id, op, created_at)"
            " SELECT id, 'add', ? FROM bank_signals WHERE id >= ? ORDER BY id",
            (created, first_id),
        )
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {cache_size}")


def analyse_signals(session: Session) -> None:
    """Refresh the planner's statistics of the signal tables (after a bulk import).

    Without them PostgreSQL plans lookups of a freshly filled table as if it were empty.
    SQLite reads a sample (analysis_limit) instead of every index entry.
    """
    tables = (BankSignal.__tablename__, SignalChange.__tablename__)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"ANALYZE {', '.join(tables)}"))
    else:
        session.execute(text("PRAGMA analysis_limit=2000"))
        for table in tables:
            session.execute(text(f"ANALYZE {table}"))
