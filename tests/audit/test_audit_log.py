"""The audit log in the database, on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from tarcza.audit import service as audit
from tarcza.store.engine import Database

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def append(db: Database, n: int) -> None:
    for i in range(n):
        with db.transaction() as session:
            audit.append(
                session,
                actor="tester",
                action="thing.done",
                subject_type="thing",
                subject_id=str(i),
                now=NOW,
                details={"i": i, "text": "zażółć"},
            )


def test_appended_entries_verify(db: Database) -> None:
    append(db, 5)
    with db.sessions() as session:
        verdict = audit.verify_log(session)
    assert verdict.ok and verdict.count == 5


def test_an_updated_row_is_found_by_verify(db: Database) -> None:
    append(db, 5)
    with db.transaction() as session:
        session.execute(text("UPDATE audit_log SET actor = 'intruder' WHERE seq = 3"))
    with db.sessions() as session:
        verdict = audit.verify_log(session)
    assert not verdict.ok and verdict.broken_seq == 3


def test_a_deleted_row_is_found_by_verify(db: Database) -> None:
    append(db, 5)
    with db.transaction() as session:
        session.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    with db.sessions() as session:
        verdict = audit.verify_log(session)
    assert not verdict.ok and verdict.broken_seq == 2


def test_concurrent_appends_keep_one_unbroken_chain(db: Database) -> None:
    def work(k: int) -> None:
        with db.transaction() as session:
            audit.append(
                session,
                actor=f"w{k}",
                action="thing.done",
                subject_type="thing",
                subject_id=str(k),
                now=NOW,
            )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(work, range(40)))
    with db.sessions() as session:
        verdict = audit.verify_log(session)
    assert verdict.ok and verdict.count == 40


def test_verify_cli_names_the_broken_entry(
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    from tarcza import cli

    append(db, 3)
    monkeypatch.setenv("TARCZA_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("TARCZA_VAR_DIR", str(tmp_path))  # no checkpoint file of a dev run
    assert cli.main(["audit", "verify"]) == 0
    assert "intact: 3 entries" in capsys.readouterr().out
    with db.transaction() as session:
        session.execute(text("UPDATE audit_log SET details = '{}' WHERE seq = 2"))
    assert cli.main(["audit", "verify"]) == 1
    assert "BROKEN at entry 2" in capsys.readouterr().out
