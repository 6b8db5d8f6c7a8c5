"""Bulk import on SQLite and PostgreSQL (COPY / batched executemany): the same rows and change
log as adding the signals one statement of rows at a time, re-imports that add nothing, files
refused whole, and the statistics refreshed after a big import."""

from __future__ import annotations

import csv
import io
import json
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError

from tarcza.audit.service import entries_for, verify_log
from tarcza.hashing import bank_service, formats
from tarcza.hashing.bank_service import ANALYSE_FROM, ImportRejected
from tarcza.hashing.banks import Entry, SignalType, lookup_key, normalise_signal
from tarcza.hashing.formats import ExchangeFormat
from tarcza.hashing.models import Bank, BankSignal, SignalChange
from tarcza.store.engine import Database

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
ACTOR = "analyst:test"


def pdq() -> str:
    return secrets.token_hex(32)


def vpdq_signal() -> str:
    return json.dumps([f"{pdq()},100,{i}.000" for i in range(3)])


def make_bank(db: Database, name: str) -> None:
    with db.transaction() as session:
        bank_service.create_bank(session, name, actor=ACTOR, now=NOW)


def to_csv(rows: list[tuple[str, str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["signal_type", "signal", "label"])
    writer.writerows(rows)
    return out.getvalue()


Signal = tuple[object, ...]  # signal type, value, lookup key, label, created, removed
Change = tuple[int, str, datetime]  # the signal's place in the bank (by id), op, time


def bank_rows(db: Database, name: str) -> tuple[list[Signal], list[Change]]:
    """A bank's signals in the order of their ids, and their changes in the log's order."""
    with db.sessions() as session:
        bank_id = session.scalar(select(Bank.id).where(Bank.name == name))
        signals = session.execute(
            select(
                BankSignal.id,
                BankSignal.signal_type,
                BankSignal.value,
                BankSignal.lookup_key,
                BankSignal.label,
                BankSignal.created_at,
                BankSignal.removed_at,
            )
            .where(BankSignal.bank_id == bank_id)
            .order_by(BankSignal.id)
        ).all()
        changes = session.execute(
            select(SignalChange.signal_id, SignalChange.op, SignalChange.created_at)
            .join(BankSignal, BankSignal.id == SignalChange.signal_id)
            .where(BankSignal.bank_id == bank_id)
            .order_by(SignalChange.seq)
        ).all()
    place = {row.id: i for i, row in enumerate(signals)}  # the ids differ between banks
    return [tuple(row[1:]) for row in signals], [(place[s], op, at) for s, op, at in changes]


def test_a_bulk_import_writes_what_adding_row_by_row_writes(db: Database) -> None:
    """The same signals, labels, keys, times and change log (restores and duplicates too)."""
    kept, removed, relabelled = pdq(), pdq(), pdq()
    before = [
        Entry(SignalType.PDQ, kept, "old"),
        Entry(SignalType.PDQ, removed),
        Entry(SignalType.PDQ, relabelled, "old"),
    ]
    fresh = [("pdq", pdq().upper(), f"n{i}") for i in range(49)] + [
        ("pdq", pdq(), "C:\\new\\N \\t"),  # backslashes, as COPY's text must escape them
        ("vpdq", vpdq_signal(), ""),
        ("md5", secrets.token_hex(16), ""),
    ]
    content = to_csv(
        [
            fresh[0],
            ("pdq", kept, ""),
            ("pdq", removed, "back"),
            ("pdq", relabelled, "new"),
            *fresh[1:],
            fresh[3],  # twice in the file
        ]
    )
    parsed = formats.parse(ExchangeFormat.CSV, content)
    assert parsed.ok
    for name, bulk in (("bulk", True), ("rows", False)):
        make_bank(db, name)
        with db.transaction() as session:
            bank_service.add_signals(session, name, before, actor=ACTOR, now=NOW)
            bank_service.remove_signal(session, name, SignalType.PDQ, removed, actor=ACTOR, now=NOW)
        if bulk:
            result = bank_service.import_file(
                db, name, ExchangeFormat.CSV, content, actor=ACTOR, now=LATER
            )
        else:
            with db.transaction() as session:
                result = bank_service.add_signals(
                    session, name, parsed.entries, actor=ACTOR, now=LATER, origin="import:csv"
                )
        assert (result.added, result.restored, result.unchanged) == (52, 1, 2)
    signals, changes = bank_rows(db, "bulk")
    assert (signals, changes) == bank_rows(db, "rows")
    new_signals = signals[3:]
    assert [s[1] for s in new_signals] == [
        normalise_signal(SignalType(kind), value) for kind, value, _ in fresh
    ]
    assert all(s[2] == lookup_key(str(s[1])) and s[4] == LATER for s in new_signals)
    assert len(str(new_signals[-2][2])) == 64 != len(str(new_signals[-2][1]))  # vPDQ: SHA-256
    assert signals[1][3:] == ("back", NOW, None)  # restored and relabelled
    assert signals[2][3] == "new"
    # Before: 3 adds and the removal; then one "add" a new signal in the file's order, and
    # the restored one.
    assert changes[:4] == [(0, "add", NOW), (1, "add", NOW), (2, "add", NOW), (1, "remove", NOW)]
    assert changes[4:] == [(i, "add", LATER) for i in range(3, 55)] + [(1, "add", LATER)]
    with db.sessions() as session:
        added = [e for e in entries_for(session, "bank", "bulk") if e.action.endswith("added")]
        assert json.loads(added[-1].details) == {
            "added": 52,
            "restored": 1,
            "origin": "import:csv",
        }
        assert verify_log(session).ok


def test_signals_added_after_a_bulk_import_get_the_next_ids(db: Database) -> None:
    """The bulk import takes its ids as one run; signals added after it (one statement of rows
    at a time, ids from the table's default) come after the run and never collide with it."""
    make_bank(db, "known")
    hashes = [pdq() for _ in range(300)]
    content = "".join(f"{h}\n" for h in hashes)
    result = bank_service.import_file(
        db, "known", ExchangeFormat.TE, content, actor=ACTOR, now=NOW, bare_type=SignalType.PDQ
    )
    assert result.added == len(hashes)
    later = [Entry(SignalType.PDQ, pdq()) for _ in range(3)]
    with db.transaction() as session:
        bank_service.add_signals(session, "known", later, actor=ACTOR, now=LATER)
    signals, log = bank_rows(db, "known")
    assert [s[1] for s in signals] == hashes + [e.value for e in later]
    assert log == [(i, "add", NOW) for i in range(300)] + [
        (i, "add", LATER) for i in range(300, 303)
    ]
    with db.sessions() as session:
        ids = session.scalars(select(BankSignal.id).order_by(BankSignal.id)).all()
    assert ids[:300] == list(range(ids[0], ids[0] + 300))  # one run, in the file's order


def test_reimporting_the_same_file_adds_nothing(db: Database) -> None:
    make_bank(db, "known")
    hashes = [pdq() for _ in range(ANALYSE_FROM + 200)]
    content = "".join(f"pdq {h}\n" for h in hashes)
    first = bank_service.import_file(db, "known", ExchangeFormat.TE, content, actor=ACTOR, now=NOW)
    assert (first.added, first.restored, first.unchanged) == (len(hashes), 0, 0)
    with db.sessions() as session:
        seqs = session.scalars(select(SignalChange.seq).order_by(SignalChange.seq)).all()
    again = bank_service.import_file(
        db, "known", ExchangeFormat.TE, content, actor=ACTOR, now=LATER
    )
    assert (again.added, again.restored, again.unchanged) == (0, 0, len(hashes))
    with db.sessions() as session:
        assert session.scalars(select(SignalChange.seq).order_by(SignalChange.seq)).all() == seqs
        assert len(seqs) == len(hashes) and seqs == sorted(set(seqs))
        assert set(session.scalars(select(BankSignal.value))) == set(hashes)
        assert bank_service.get_bank(session, "known").signal_count == len(hashes)


def test_a_big_file_with_one_bad_line_imports_nothing(db: Database) -> None:
    make_bank(db, "known")
    lines = [pdq() for _ in range(3000)] + ["not-a-hash"] + [pdq() for _ in range(10)]
    with pytest.raises(ImportRejected) as caught:
        bank_service.import_file(
            db,
            "known",
            ExchangeFormat.TE,
            "\n".join(lines) + "\n",
            actor=ACTOR,
            now=NOW,
            bare_type=SignalType.PDQ,
        )
    assert [(e.line, e.code) for e in caught.value.errors] == [(3001, "invalid_pdq")]
    with db.sessions() as session:
        assert session.scalar(select(BankSignal.id)) is None
        assert session.scalar(select(SignalChange.seq)) is None
        actions = [e.action for e in entries_for(session, "bank", "known")]
    assert actions == ["bank.created"]


def test_a_failing_bulk_import_leaves_the_bank_as_it_was(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All or nothing: signals written before the failure are rolled back with it."""
    make_bank(db, "known")

    def fail(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(bank_service.audit, "append", fail)  # after the signals are written
    content = "".join(f"pdq {pdq()}\n" for _ in range(ANALYSE_FROM + 10))
    with pytest.raises(RuntimeError):
        bank_service.import_file(db, "known", ExchangeFormat.TE, content, actor=ACTOR, now=NOW)
    with db.sessions() as session:
        assert session.scalar(select(BankSignal.id)) is None
        assert session.scalar(select(SignalChange.seq)) is None


def test_a_big_import_refreshes_the_planner_statistics(db: Database) -> None:
    make_bank(db, "known")
    count = ANALYSE_FROM + 345  # no other test imports this many: stale statistics differ
    if db.dialect == "sqlite":  # forget what earlier tests' imports left
        with db.transaction() as session:
            if session.scalar(
                text("SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_stat1'")
            ):
                session.execute(text("DELETE FROM sqlite_stat1"))
    content = "".join(f"{pdq()}\n" for _ in range(count))
    bank_service.import_file(
        db, "known", ExchangeFormat.TE, content, actor=ACTOR, now=NOW, bare_type=SignalType.PDQ
    )
    with db.sessions() as session:
        if db.dialect == "postgresql":
            tuples = session.scalar(
                text("SELECT reltuples FROM pg_class WHERE relname = 'bank_signals'")
            )
            assert tuples == count
            assert session.scalar(
                text(
                    "SELECT count(*) FROM pg_stats WHERE tablename = 'bank_signals'"
                    " AND attname = 'lookup_key'"
                )
            )
        else:
            stats = dict(session.execute(text("SELECT idx, stat FROM sqlite_stat1")).all())
            assert stats["ix_bank_signals_bank_id"].split()[0] == str(count)


def test_a_deleted_banks_signals_go_with_it(db: Database) -> None:
    """bank_signals.bank_id has no foreign key (migration 0021): a trigger on banks does what
    its ON DELETE CASCADE did, and a bank's id cannot change under its signals."""
    make_bank(db, "gone")
    make_bank(db, "kept")
    for name in ("gone", "kept"):
        bank_service.import_file(
            db, name, ExchangeFormat.TE, f"{pdq()}\n{pdq()}\n", actor=ACTOR, now=NOW,
            bare_type=SignalType.PDQ,
        )  # fmt: skip
    with db.transaction() as session:
        session.execute(delete(Bank).where(Bank.name == "gone"))
    with db.sessions() as session:
        kept = session.scalar(select(Bank.id).where(Bank.name == "kept"))
        assert session.scalars(select(BankSignal.bank_id)).all() == [kept, kept]
    with pytest.raises(DBAPIError), db.transaction() as session:
        session.execute(update(Bank).where(Bank.id == kept).values(id=kept + 100))
    with db.sessions() as session:
        assert session.scalar(select(Bank.id).where(Bank.name == "kept")) == kept


def test_a_bank_being_added_to_cannot_be_deleted_meanwhile(db: Database) -> None:
    """add_signals holds the bank's row FOR KEY SHARE, as the foreign key's check did: a
    concurrent delete of the bank waits for the import instead of leaving its signals behind.
    (SQLite has one writer at a time anyway.)"""
    if db.dialect != "postgresql":
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE)")
    make_bank(db, "busy")
    with db.transaction() as adding:
        bank_service.add_signals(
            adding, "busy", [Entry(SignalType.PDQ, pdq())], actor=ACTOR, now=NOW
        )
        with pytest.raises(DBAPIError, match="lock timeout"), db.transaction() as deleting:
            deleting.execute(text("SET LOCAL lock_timeout = '200ms'"))
            deleting.execute(delete(Bank).where(Bank.name == "busy"))
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(BankSignal)) == 1


def test_a_signal_naming_no_bank_is_refused(db: Database) -> None:
    """What the foreign key refused, the triggers of migration 0021 refuse: a signal moved to
    another bank and, on SQLite, a row naming no bank (on PostgreSQL that check cost a bulk
    import too much: see the migration)."""
    make_bank(db, "real")
    with db.sessions() as session:
        real = session.scalar(select(Bank.id).where(Bank.name == "real"))
    assert real is not None

    def row(bank_id: int) -> dict[str, object]:
        value = pdq()
        return {
            "bank_id": bank_id, "signal_type": "pdq", "value": value, "lookup_key": value,
            "created_at": NOW,
        }  # fmt: skip

    refused = pytest.raises(DBAPIError, match="a signal names no bank")
    if db.dialect == "sqlite":
        with refused, db.transaction() as session:
            session.execute(BankSignal.__table__.insert(), [row(real), row(real + 1000)])
    with db.transaction() as session:
        session.execute(BankSignal.__table__.insert(), [row(real), row(real)])
    with pytest.raises(DBAPIError, match="a signal does not change bank"):
        make_bank(db, "other")
        with db.transaction() as session:
            other = session.scalar(select(Bank.id).where(Bank.name == "other"))
            session.execute(update(BankSignal).values(bank_id=other))
    with db.sessions() as session:
        assert session.scalars(select(BankSignal.bank_id)).all() == [real, real]
