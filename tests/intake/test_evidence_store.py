"""Evidence storage: files written piece by piece as sealed streams; older blobs still read."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from tarcza.config import Keys
from tarcza.crypto import STREAM_CHUNK, KeyRing
from tarcza.intake.evidence_store import EvidenceStore
from tests.support.keys import KEY_A, KEY_B


def ring(*ids: str) -> KeyRing:
    keys = {"a": base64.b64decode(KEY_A), "b": base64.b64decode(KEY_B)}
    return KeyRing(Keys(data_keys={i: keys[i] for i in ids}, current_key_id=ids[0], hmac_key=b""))


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_a_file_written_in_pieces_is_sealed_durable_and_reads_back(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path, ring("a"))
    data = os.urandom(STREAM_CHUNK * 2 + 12345)
    writer = store.begin()
    for at in range(0, len(data), 300_000):
        writer.write(data[at : at + 300_000])
        # Only sealed bytes lie on disk, in a temporary file, while the file is written.
        (tmp,) = files(tmp_path)
        assert tmp.suffix == ".tmp" and data[:64] not in tmp.read_bytes()
    storage_key = writer.finish()

    (sealed,) = files(tmp_path)
    assert sealed.name == f"{storage_key}.sealed"
    assert sealed.stat().st_mode & 0o777 == 0o600
    assert data[1000:1064] not in sealed.read_bytes()
    assert store.get(storage_key) == data
    with store.open(storage_key) as reader:
        reader.seek(STREAM_CHUNK + 5)
        assert reader.read(10) == data[STREAM_CHUNK + 5 : STREAM_CHUNK + 15]


def test_abort_removes_the_unfinished_file_and_a_finished_one(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path, ring("a"))
    unfinished = store.begin()
    unfinished.write(b"partial")
    unfinished.abort()
    assert files(tmp_path) == []

    finished = store.begin()
    finished.write(b"complete")
    finished.finish()
    assert len(files(tmp_path)) == 1
    finished.abort()
    assert files(tmp_path) == []


def test_a_file_sealed_whole_in_the_older_format_still_reads_and_reseals(tmp_path: Path) -> None:
    old = EvidenceStore(tmp_path, ring("a"))
    storage_key = "ab" * 16
    path = tmp_path / storage_key[:2] / f"{storage_key}.sealed"
    path.parent.mkdir(parents=True)
    data = os.urandom(5000)
    path.write_bytes(ring("a").seal(data, f"evidence:{storage_key}"))  # the "T1" blob format
    assert old.get(storage_key) == data
    with old.open(storage_key) as reader:
        reader.seek(4000)
        assert reader.read() == data[4000:]

    rotated = EvidenceStore(tmp_path, ring("b", "a"))
    assert rotated.reseal(storage_key) is True
    assert path.read_bytes()[:2] == b"T2" and KeyRing.key_id(path.read_bytes()) == "b"
    assert rotated.get(storage_key) == data
    assert rotated.reseal(storage_key) is False
    assert files(tmp_path) == [path]  # no temporary file left


def test_a_stream_is_resealed_under_the_new_key(tmp_path: Path) -> None:
    data = os.urandom(STREAM_CHUNK + 1)
    storage_key = EvidenceStore(tmp_path, ring("a")).put(data)
    rotated = EvidenceStore(tmp_path, ring("b", "a"))
    assert rotated.reseal(storage_key) is True
    only_b = EvidenceStore(tmp_path, ring("b"))
    assert only_b.get(storage_key) == data
    assert only_b.reseal(storage_key) is False


def test_a_file_does_not_open_under_another_storage_key(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path, ring("a"))
    storage_key = store.put(b"evidence")
    other = "cd" * 16
    target = tmp_path / other[:2] / f"{other}.sealed"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(store.raw(storage_key))
    with pytest.raises(Exception, match="context"):
        store.get(other)
