"""The audit commands as an operator and an oversight body use them: checkpoint, verify, export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from tarcza import cli
from tarcza.audit import service as audit
from tarcza.store.engine import Database

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def var_dir(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The commands' settings: this test's database, keys generated under a temporary folder."""
    monkeypatch.setenv("TARCZA_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("TARCZA_VAR_DIR", str(tmp_path))
    for name in ("TARCZA_ENV", "TARCZA_DATA_KEYS", "TARCZA_HMAC_KEY", "TARCZA_AUDIT_SIGNING_KEY"):
        monkeypatch.delenv(name, raising=False)
    yield tmp_path


def fill(db: Database, n: int, first_day: int = 0) -> None:
    for i in range(first_day, first_day + n):
        with db.transaction() as session:
            audit.append(
                session,
                actor="anna",
                agency="hotline",
                action="report.created",
                subject_type="report",
                subject_id=f"TZ-0000-{i:04d}",
                now=START + timedelta(days=i),
            )


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


# -- checkpoints -------------------------------------------------------------------------------


def test_a_checkpoint_is_written_outside_the_database_and_verify_checks_it(
    db: Database, var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(db, 5)
    code, out = run(capsys, "audit", "checkpoint")
    assert code == 0 and "entry 5 (5 entries)" in out
    line = json.loads((var_dir / "audit-checkpoints.jsonl").read_text().splitlines()[-1])
    assert set(line) == {"seq", "entry_hash", "count", "at", "signature"}
    assert (line["seq"], line["count"]) == (5, 5)
    fill(db, 2, first_day=5)  # the log grows after the checkpoint: still fine
    code, out = run(capsys, "audit", "verify")
    assert code == 0
    assert "audit log intact: 7 entries" in out
    assert "checkpoint of" in out and "holds: entry 5 and 5 entries" in out


def test_a_cut_off_tail_is_caught_by_the_checkpoint(
    db: Database, var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(db, 6)
    assert run(capsys, "audit", "checkpoint")[0] == 0
    with db.transaction() as session:
        session.execute(text("DELETE FROM audit_log WHERE seq > 3"))
    code, out = run(capsys, "audit", "verify")
    assert code == 1
    assert "audit log intact: 3 entries" in out  # the chain alone cannot see it ...
    assert "audit log BROKEN: checkpoint of" in out  # ... the checkpoint does
    assert "entry 6 is gone: the end of the log was cut off" in out


def test_a_rewritten_tail_is_caught_by_the_checkpoint(
    db: Database, var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(db, 4)
    assert run(capsys, "audit", "checkpoint")[0] == 0
    with db.transaction() as session:
        session.execute(text("DELETE FROM audit_log WHERE seq > 2"))
    fill(db, 2, first_day=100)  # a whole chain again, as long as before, but other entries
    code, out = run(capsys, "audit", "verify")
    assert code == 1 and "entry 4 has another hash: the log was rewritten" in out


def test_a_forged_checkpoint_is_refused(
    db: Database, var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(db, 3)
    assert run(capsys, "audit", "checkpoint")[0] == 0
    path = var_dir / "audit-checkpoints.jsonl"
    forged = json.loads(path.read_text())
    forged["count"] = 1
    path.write_text(json.dumps(forged) + "\n")
    code, out = run(capsys, "audit", "verify")
    assert code == 1 and "signature does not match" in out


def test_an_unreadable_checkpoint_file_fails_verify(
    db: Database, var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(db, 1)
    (var_dir / "audit-checkpoints.jsonl").write_text('{"seq": 1, "cou\n')
    code, out = run(capsys, "audit", "verify")
    assert code == 1 and "checkpoint unreadable" in out


def test_without_a_checkpoint_verify_says_what_it_cannot_see(
    db: Database, var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(db, 2)
    code, out = run(capsys, "audit", "verify")
    assert code == 0 and "audit log intact: 2 entries" in out and "no checkpoint at" in out


def test_no_checkpoint_is_written_for_a_broken_log(
    db: Database, var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(db, 3)
    with db.transaction() as session:
        session.execute(text("UPDATE audit_log SET actor = 'intruder' WHERE seq = 2"))
    code, out = run(capsys, "audit", "checkpoint", "--file", str(var_dir / "elsewhere.jsonl"))
    assert code == 1 and "broken at entry 2" in out
    assert not (var_dir / "elsewhere.jsonl").exists()


def test_the_file_option_names_another_checkpoint_file(
    db: Database, var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = var_dir / "offsite" / "checkpoints.jsonl"
    fill(db, 2)
    assert run(capsys, "audit", "checkpoint", "--file", str(other))[0] == 0
    assert run(capsys, "audit", "checkpoint", "--file", str(other))[0] == 0
    assert len(other.read_text().splitlines()) == 2
    with db.transaction() as session:
        session.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    code, out = run(capsys, "audit", "verify")  # not the default file: the cut is unseen
    assert code == 0 and "no checkpoint at" in out
    code, out = run(capsys, "audit", "verify", "--file", str(other))
    assert code == 1 and "entry 2 is gone" in out


def test_an_empty_log_can_be_checkpointed(
    db: Database, var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "audit", "checkpoint")[0] == 0
    code, out = run(capsys, "audit", "verify")
    assert code == 0 and "holds: entry 0 and 0 entries" in out


# -- exports -----------------------------------------------------------------------------------


def test_an_export_verifies_with_the_public_key_and_tampering_is_named(
    db: Database, var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(db, 4)
    out_file = var_dir / "export.json"
    code, out = run(capsys, "audit", "export", "--out", str(out_file))
    assert code == 0 and "4 audit entries (entries 1 to 4) exported" in out
    assert out_file.stat().st_mode & 0o077 == 0
    code, key = run(capsys, "audit", "public-key")
    key = key.strip()
    assert code == 0 and len(key) == 44

    code, out = run(capsys, "audit", "verify-export", str(out_file), "--public-key", key)
    assert code == 0
    assert "audit export intact: 4 entries (entries 1 to 4)" in out
    assert "signed by the trusted public key" in out

    code, out = run(capsys, "audit", "verify-export", str(out_file))
    assert code == 0 and "WARNING" in out and "--public-key" in out

    doc = json.loads(out_file.read_bytes())
    doc["entries"][1]["actor"] = "someone else"
    out_file.write_text(json.dumps(doc))
    code, out = run(capsys, "audit", "verify-export", str(out_file), "--public-key", key)
    assert code == 1 and "audit export BROKEN: entry 2 its content was altered" in out
    # The export itself is in the log.
    code, out = run(capsys, "audit", "verify")
    assert code == 0 and "intact: 5 entries" in out


def test_an_export_of_a_period_takes_whole_days(
    db: Database, var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(db, 6)
    out_file = var_dir / "period.json"
    code, _ = run(
        capsys,
        "audit",
        "export",
        "--out",
        str(out_file),
        "--since",
        "2026-01-02",
        "--until",
        "2026-01-04",
    )
    assert code == 0
    doc = json.loads(out_file.read_bytes())
    assert [e["seq"] for e in doc["entries"]] == [2, 3, 4]
    assert doc["exported_by"] == "command-line"
    assert run(capsys, "audit", "verify-export", str(out_file))[0] == 0


def test_another_key_is_not_the_trusted_one(
    db: Database, var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(db, 1)
    out_file = var_dir / "export.json"
    assert run(capsys, "audit", "export", "--out", str(out_file))[0] == 0
    stranger = "A" * 43 + "="
    code, out = run(capsys, "audit", "verify-export", str(out_file), "--public-key", stranger)
    assert code == 1 and "another key than the trusted public key" in out
    code, out = run(capsys, "audit", "verify-export", str(out_file), "--public-key", "not base64!")
    assert code == 1 and "trusted public key cannot be read" in out


@pytest.mark.parametrize(
    "args",
    [
        ("--since", "yesterday"),
        ("--until", "2026-02-30"),
        ("--since", "2026-01-05", "--until", "2026-01-01"),
    ],
)
def test_an_unreadable_period_is_a_usage_error(
    db: Database, var_dir: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    code, out = run(capsys, "audit", "export", "--out", str(var_dir / "x.json"), *args)
    assert code == 2 and "tarcza:" in out
    assert not (var_dir / "x.json").exists()


def test_a_missing_export_file_is_a_usage_error(
    var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(capsys, "audit", "verify-export", str(var_dir / "nowhere.json"))
    assert code == 2 and "cannot read" in out
