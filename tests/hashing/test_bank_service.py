"""Bank operations on SQLite and PostgreSQL: banks, signals, audit, atomic import, export."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tarcza.audit.service import entries_for, verify_log
from tarcza.hashing import bank_service
from tarcza.hashing.bank_service import BankError, BankNotFound, ImportRejected
from tarcza.hashing.banks import BankKind, Entry, SignalType
from tarcza.hashing.formats import ExchangeFormat
from tarcza.hashing.models import BankSignal, SignalChange
from tarcza.store.engine import Database

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ACTOR = "analyst:test"


def pdq() -> str:
    return secrets.token_hex(32)


def md5() -> str:
    return secrets.token_hex(16)


def make_bank(db: Database, name: str = "known", **kwargs: object) -> None:
    with db.transaction() as session:
        bank_service.create_bank(session, name, actor=ACTOR, now=NOW, **kwargs)  # type: ignore[arg-type]


def add(db: Database, name: str, *entries: Entry) -> bank_service.AddResult:
    with db.transaction() as session:
        return bank_service.add_signals(session, name, entries, actor=ACTOR, now=NOW)


def test_a_new_bank_is_listed_with_its_settings_and_no_signals(db: Database) -> None:
    make_bank(db, "ncmec", source="NCMEC", terms="TLP:AMBER", pdq_threshold=20)
    make_bank(db, "benign", kind=BankKind.ALLOW)
    with db.sessions() as session:
        listed = {b.name: b for b in bank_service.list_banks(session)}
    assert listed["ncmec"].source == "NCMEC" and listed["ncmec"].terms == "TLP:AMBER"
    assert listed["ncmec"].pdq_threshold == 20 and listed["ncmec"].kind is BankKind.BLOCK
    assert listed["benign"].kind is BankKind.ALLOW and listed["benign"].pdq_threshold == 31
    assert all(b.enabled and b.signal_count == 0 for b in listed.values())


def test_bank_names_are_unique_and_checked(db: Database) -> None:
    make_bank(db, "known")
    with pytest.raises(BankError) as taken:
        make_bank(db, "known")
    assert taken.value.code == "bank_exists"
    with pytest.raises(BankError) as bad:
        make_bank(db, "no spaces please")
    assert bad.value.field == "name"
    with pytest.raises(BankError) as threshold:
        make_bank(db, "loose", pdq_threshold=200)
    assert threshold.value.field == "threshold"


def test_adding_signals_counts_new_unchanged_and_relabelled(db: Database) -> None:
    make_bank(db)
    first, second = pdq(), md5()
    result = add(db, "known", Entry(SignalType.PDQ, first), Entry(SignalType.MD5, second, "a"))
    assert (result.added, result.restored, result.unchanged) == (2, 0, 0)
    again = add(db, "known", Entry(SignalType.MD5, second, "b"))
    assert (again.added, again.unchanged) == (0, 1)
    with db.sessions() as session:
        assert bank_service.get_bank(session, "known").signal_count == 2
        assert {e.label for e in bank_service.bank_entries(session, "known")} == {None, "b"}


def test_removing_a_signal_is_soft_audited_and_logged(db: Database) -> None:
    make_bank(db)
    value = pdq()
    add(db, "known", Entry(SignalType.PDQ, value))
    with db.transaction() as session:
        bank_service.remove_signal(
            session, "known", SignalType.PDQ, value.upper(), actor=ACTOR, now=NOW, reason="error"
        )
    with db.sessions() as session:
        row = session.scalar(select(BankSignal).where(BankSignal.value == value))
        assert row is not None and row.removed_at == NOW  # kept, marked removed
        assert bank_service.get_bank(session, "known").signal_count == 0
        ops = session.execute(select(SignalChange.op).order_by(SignalChange.seq)).scalars().all()
        assert ops == ["add", "remove"]
        removal = [e for e in entries_for(session, "bank", "known") if "removed" in e.action]
        assert removal[0].reason == "error" and value in removal[0].details
        assert verify_log(session).ok
    restored = add(db, "known", Entry(SignalType.PDQ, value))
    assert restored.restored == 1


def test_removing_an_unknown_signal_says_so(db: Database) -> None:
    make_bank(db)
    with pytest.raises(BankError) as caught, db.transaction() as session:
        bank_service.remove_signal(session, "known", SignalType.PDQ, pdq(), actor=ACTOR, now=NOW)
    assert caught.value.code == "unknown_signal"


def test_disabling_and_enabling_a_bank_is_audited(db: Database) -> None:
    make_bank(db)
    with db.transaction() as session:
        info = bank_service.set_bank_enabled(session, "known", False, actor=ACTOR, now=NOW)
    assert not info.enabled
    with db.transaction() as session:
        bank_service.set_bank_enabled(session, "known", True, actor=ACTOR, now=NOW)
    with db.sessions() as session:
        actions = [e.action for e in entries_for(session, "bank", "known")]
    assert actions == ["bank.created", "bank.disabled", "bank.enabled"]


def test_operations_on_a_missing_bank_raise_not_found(db: Database) -> None:
    with pytest.raises(BankNotFound), db.transaction() as session:
        bank_service.add_signals(session, "nope", [], actor=ACTOR, now=NOW)


def test_an_import_with_a_bad_line_imports_nothing(db: Database) -> None:
    make_bank(db)
    text = f"pdq,{pdq()},ok\npdq,{'0' * 63},short\nmd5,{md5()}\nmd5,xyz\n"
    with pytest.raises(ImportRejected) as caught:
        bank_service.import_file(db, "known", ExchangeFormat.CSV, text, actor=ACTOR, now=NOW)
    assert [e.line for e in caught.value.errors] == [2, 4]
    with db.sessions() as session:
        assert bank_service.get_bank(session, "known").signal_count == 0
        assert session.scalar(select(SignalChange.seq)) is None


def test_an_import_into_a_missing_bank_leaves_no_trace(db: Database) -> None:
    with pytest.raises(BankNotFound):
        bank_service.import_file(
            db, "nope", ExchangeFormat.TE, f"pdq {pdq()}\n", actor=ACTOR, now=NOW
        )
    with db.sessions() as session:
        assert session.scalar(select(BankSignal.id)) is None


SAMPLES = {
    ExchangeFormat.CSV: lambda: f"signal_type,signal,label\npdq,{pdq()},x\nmd5,{md5()},\n",
    ExchangeFormat.TE: lambda: f"pdq {pdq()}\nvideo_md5 {md5()}\nsha256 {secrets.token_hex(32)}\n",
    ExchangeFormat.VICS: lambda: json.dumps(
        {
            "value": [
                {"MediaID": 1, "Category": 1, "MD5": md5().upper(), "SHA1": secrets.token_hex(20)}
            ]
        }
    ),
}


@pytest.mark.parametrize("fmt", list(ExchangeFormat))
def test_export_then_import_gives_the_same_signals(db: Database, fmt: ExchangeFormat) -> None:
    make_bank(db, "first")
    make_bank(db, "second")
    bank_service.import_file(db, "first", fmt, SAMPLES[fmt](), actor=ACTOR, now=NOW)
    with db.sessions() as session:
        exported, skipped = bank_service.export_file(session, "first", fmt)
    assert skipped == 0
    bank_service.import_file(db, "second", fmt, exported, actor=ACTOR, now=NOW)
    with db.sessions() as session:
        first = set(bank_service.bank_entries(session, "first"))
        second = set(bank_service.bank_entries(session, "second"))
    assert first == second and len(first) >= 2


def test_every_change_is_logged_in_order(db: Database) -> None:
    make_bank(db)
    values = [pdq() for _ in range(5)]
    add(db, "known", *(Entry(SignalType.PDQ, v) for v in values))
    with db.transaction() as session:
        bank_service.remove_signal(
            session, "known", SignalType.PDQ, values[0], actor=ACTOR, now=NOW
        )
    with db.sessions() as session:
        seqs = session.scalars(select(SignalChange.seq).order_by(SignalChange.seq)).all()
        assert len(seqs) == 6 and seqs == sorted(set(seqs))
        assert verify_log(session).ok
