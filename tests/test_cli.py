"""The command line as a newcomer uses it: db upgrade, demo, hash, audit verify."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tarcza.hashing.pdq import hamming

PDQ_DATA = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "pdq"


def tarcza(*args: str, var_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TARCZA_")}
    full_env.update(TARCZA_VAR_DIR=str(var_dir), **env)
    return subprocess.run(
        [sys.executable, "-m", "tarcza.cli", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_first_run_upgrades_loads_demo_once_and_audit_verifies(tmp_path: Path) -> None:
    assert tarcza("db", "upgrade", var_dir=tmp_path).returncode == 0
    first = tarcza("demo", var_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "reference TZ-" in first.stdout and "PIN" in first.stdout
    # A second run must not duplicate the demo reports: same references come back.
    assert tarcza("demo", var_dir=tmp_path).stdout == first.stdout
    assert (tmp_path / "keys.json").stat().st_mode & 0o077 == 0
    verify = tarcza("audit", "verify", var_dir=tmp_path)
    # 15 of the reports and staff; 4 of self-protection (bank, signals, case, demo platform)
    assert verify.returncode == 0 and "intact: 19 entries" in verify.stdout


def test_production_refuses_to_start_without_keys(tmp_path: Path) -> None:
    result = tarcza("demo", var_dir=tmp_path, TARCZA_ENV="production")
    assert result.returncode == 2
    assert "configuration error" in result.stderr and "TARCZA_DATA_KEYS" in result.stderr
    assert "Traceback" not in result.stderr


def test_tarcza_hash_conforms_to_the_reference_hasher(tmp_path: Path) -> None:
    if not PDQ_DATA.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"reference images missing at {PDQ_DATA}")
        pytest.skip(f"reference images missing at {PDQ_DATA}")
    with (PDQ_DATA / "reference-pdq.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if int(r["quality"]) >= 80]
    result = tarcza("hash", *(str(PDQ_DATA / r["path"]) for r in rows), var_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(printed) == len(rows)
    for row, out in zip(rows, printed, strict=True):
        assert set(out) >= {"path", "md5", "sha256", "pdq", "quality"}
        assert hamming(out["pdq"], row["pdq_hex"]) <= 10, row["path"]


def test_tarcza_hash_reports_a_non_image_and_exits_1(tmp_path: Path) -> None:
    note = tmp_path / "note.jpg"
    note.write_text("not an image")
    result = tarcza("hash", str(note), var_dir=tmp_path)
    assert result.returncode == 1
    out = json.loads(result.stdout)
    assert out["pdq"] is None and "error" in out and len(out["sha256"]) == 64


def test_serve_reads_the_current_saved_index_ahead_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from tarcza import cli
    from tarcza.hashing.idset import IdSet
    from tarcza.hashing.index import PdqIndex
    from tarcza.hashing.snapshots import Snapshot, save_snapshot

    folder = tmp_path / "index"
    assert cli._prefetch_index(folder) is None  # no saved index: nothing to read
    rng = np.random.default_rng(5)
    hashes, ids = rng.integers(0, 256, (300, 32), dtype=np.uint8), np.arange(1, 301)
    banks = np.ones(300, dtype=np.int32)
    old = save_snapshot(
        folder,
        Snapshot(PdqIndex.build(hashes[:100], ids[:100]), IdSet(ids[:100], tags=banks[:100]), 1),
    )
    current = save_snapshot(
        folder, Snapshot(PdqIndex.build(hashes, ids), IdSet(ids, tags=banks), 2)
    )
    advised: list[tuple[str, int]] = []

    def fadvise(fd: int, offset: int, length: int, advice: int) -> None:
        assert (offset, length) == (0, 0)  # the whole file
        advised.append((os.readlink(f"/proc/self/fd/{fd}"), advice))

    monkeypatch.setattr(os, "posix_fadvise", fadvise)
    thread = cli._prefetch_index(folder)
    assert thread is not None
    thread.join(10)
    wanted = sorted(str(p) for p in current.rglob("*.npy"))
    assert len(wanted) == 9  # the index's seven arrays, the ids and their banks
    assert sorted(path for path, _ in advised) == wanted
    assert {advice for _, advice in advised} == {os.POSIX_FADV_WILLNEED}
    assert not any(path.startswith(str(old)) for path, _ in advised)
