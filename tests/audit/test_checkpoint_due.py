"""Checkpoints that write themselves: after N entries, after M minutes, at shutdown; a cut
tail after one is caught, and ``tarcza audit verify`` says how many entries no checkpoint
covers yet. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import secrets
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from tarcza.audit import checkpoint
from tarcza.audit import service as audit
from tarcza.audit.checkpoint import CheckpointRefused, CheckpointUnreadable, checkpoint_if_due
from tarcza.config import load_keys, load_settings
from tarcza.store.engine import Database
from tests.audit.test_export_cli import fill, run

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
KEY = secrets.token_bytes(32)


def due(
    db: Database, path: Path, now: datetime, entries: int = 5, minutes: float = 60
) -> int | None:
    """The seq of the checkpoint written, or None."""
    written = checkpoint_if_due(db, KEY, path, now, every_entries=entries, every_minutes=minutes)
    return None if written is None else written.seq


def pending(db: Database, path: Path) -> int:
    with db.sessions() as session:
        return checkpoint.unprotected(session, checkpoint.latest(path))


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_an_empty_log_needs_no_checkpoint(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "cp.jsonl"
    assert due(db, path, NOW) is None
    assert not path.exists()


def test_the_first_entries_get_a_checkpoint_at_once(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "cp.jsonl"
    fill(db, 2)
    assert due(db, path, NOW) == 2
    assert pending(db, path) == 0
    assert due(db, path, NOW + timedelta(days=1)) is None  # nothing new: nothing to vouch for


def test_a_checkpoint_is_due_after_n_entries(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "cp.jsonl"
    fill(db, 1)
    assert due(db, path, NOW) == 1
    fill(db, 4, first_day=1)
    assert pending(db, path) == 4  # appended after the checkpoint: counted
    assert due(db, path, NOW + timedelta(minutes=1)) is None
    fill(db, 1, first_day=5)
    assert due(db, path, NOW + timedelta(minutes=2)) == 6
    assert pending(db, path) == 0
    assert [(c["seq"], c["count"]) for c in lines(path)] == [(1, 1), (6, 6)]


def test_a_checkpoint_is_due_after_m_minutes(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "cp.jsonl"
    fill(db, 1)
    assert due(db, path, NOW) == 1
    fill(db, 1, first_day=1)
    assert due(db, path, NOW + timedelta(minutes=59, seconds=59)) is None
    assert due(db, path, NOW + timedelta(minutes=60)) == 2


def test_at_shutdown_every_entry_gets_covered(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "cp.jsonl"
    fill(db, 1)
    assert due(db, path, NOW, entries=1000) == 1
    fill(db, 1, first_day=1)
    assert due(db, path, NOW, entries=1000) is None
    assert due(db, path, NOW, entries=1, minutes=0) == 2  # what shutdown calls


def test_a_cut_tail_is_caught_and_not_vouched_for(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "cp.jsonl"
    fill(db, 6)
    assert due(db, path, NOW) == 6
    with db.transaction() as session:  # as the database's owner, past any grant
        session.execute(text("DELETE FROM audit_log WHERE seq > 3"))
    fill(db, 5, first_day=50)  # the chain is whole again, and long enough to be due
    with db.sessions() as session:
        assert audit.verify_log(session).ok  # the chain alone cannot see it
        verdict = checkpoint.verify_latest(session, path, KEY)
    assert verdict is not None and not verdict.ok
    assert "entry 6 has another hash" in str(verdict.problem)
    with pytest.raises(CheckpointRefused, match="the last checkpoint fails"):
        due(db, path, NOW + timedelta(hours=2))
    assert len(lines(path)) == 1  # nothing written over the evidence


def test_an_unreadable_file_is_not_papered_over(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "cp.jsonl"
    fill(db, 1)
    path.write_text('{"seq": 1, "cou\n')
    with pytest.raises(CheckpointUnreadable):
        due(db, path, NOW)
    assert path.read_text() == '{"seq": 1, "cou\n'


def test_concurrent_callers_write_one_checkpoint(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "cp.jsonl"
    fill(db, 3)
    barrier = threading.Barrier(4)
    written: list[int | None] = []

    def call() -> None:
        barrier.wait()
        written.append(due(db, path, NOW))

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(written, key=lambda s: s or 0) == [None, None, None, 3]
    assert len(lines(path)) == 1


def test_bad_thresholds_are_refused(db: Database, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="every_entries"):
        due(db, tmp_path / "cp.jsonl", NOW, entries=0)


@pytest.fixture
def var_dir(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The commands' settings: this test's database, keys generated under a temporary folder."""
    monkeypatch.setenv("TARCZA_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("TARCZA_VAR_DIR", str(tmp_path))
    for name in ("TARCZA_ENV", "TARCZA_DATA_KEYS", "TARCZA_HMAC_KEY", "TARCZA_AUDIT_SIGNING_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_verify_counts_the_entries_no_checkpoint_covers_yet(
    db: Database,
    var_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fill(db, 4)
    assert run(capsys, "audit", "verify")[0] == 0  # makes the development keys
    key = load_keys(load_settings()).audit_signing_key
    path = checkpoint.default_path(var_dir)
    assert checkpoint_if_due(db, key, path, NOW, every_entries=1000, every_minutes=60) is not None
    fill(db, 3, first_day=4)
    code, out = run(capsys, "audit", "verify")
    assert code == 0
    assert "3 entries after the last checkpoint are not yet protected by one" in out
    with db.transaction() as session:
        session.execute(text("DELETE FROM audit_log WHERE seq > 2"))
    code, out = run(capsys, "audit", "verify")
    assert code == 1 and "entry 4 is gone: the end of the log was cut off" in out
