"""``tarcza scan``: a generated folder tree (synthetic images only) hashed, skipped with reasons,
interrupted (by an exception and by SIGKILL) and resumed to the very same output."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tarcza.cli import main
from tarcza.hashing.images import ImageLimits
from tarcza.hashing.scan import (
    InProcess,
    LocalPool,
    ScanError,
    ScanRecord,
    checkpoint_path,
    hash_batch,
    scan_tree,
)
from tarcza.hashing.service import FileHashes, hash_image_bytes

FORMATS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}
SKIPS = {
    "corrupt": 1,
    "empty": 1,
    "folder_link": 1,
    "not_a_file": 1,
    "not_image": 1,
    "too_many_pixels": 1,
    "unreadable": 1,
}


@dataclass(frozen=True)
class Tree:
    root: Path
    images: tuple[str, ...]  # relative paths of the files that must be hashed
    duplicates: tuple[tuple[str, str], ...]  # (copy, original)
    walked_files: int  # files os.walk lists (everything but the folder link)


def picture(seed: int, width: int, height: int) -> Image.Image:
    """A smooth random colour picture: enough structure for a stable, high-quality PDQ."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(int(rng.integers(6, 14)), 9, 3), dtype=np.uint8)
    return Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)


def encoded(img: Image.Image, fmt: str) -> bytes:
    buf = BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header claims width x height pixels (a decompression bomb)."""
    data = bytearray(encoded(Image.new("L", (1, 1)), "PNG"))
    data[16:20], data[20:24] = width.to_bytes(4, "big"), height.to_bytes(4, "big")
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    return bytes(data)


def make_tree(root: Path) -> Tree:
    """~30 images of the four formats in nested folders, duplicates, and one file per skip."""
    images: list[str] = []
    for n in range(24):
        fmt = list(FORMATS)[n % 4]
        folder = ["", "DCIM/", "DCIM/100CAM/", "Users/x/Pictures/deep/er/"][n // 6]
        rel = f"{folder}img{n:02d}.{FORMATS[fmt]}"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(encoded(picture(n, 160 + 8 * n, 120 + 4 * n), fmt))
        images.append(rel)
    duplicates = (
        ("copies/img00.jpg", "img00.jpg"),
        ("copies/renamed.bin", "DCIM/img09.png"),  # the type is sniffed, not read off the name
        ("folder.jpg/img14.gif", "DCIM/100CAM/img14.gif"),  # a folder named like a file
    )
    for copy, original in duplicates:
        (root / copy).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / original, root / copy)
        images.append(copy)
    jpeg = (root / "img00.jpg").read_bytes()
    (root / "broken/half.jpg").parent.mkdir()
    (root / "broken/half.jpg").write_bytes(jpeg[: len(jpeg) // 2])  # corrupt
    (root / "broken/bomb.png").write_bytes(bomb_png(30_000, 30_000))  # too_many_pixels
    (root / "notes.txt").write_text("not a picture\n")  # not_image
    (root / "empty.jpg").write_bytes(b"")  # empty
    (root / "gone.jpg").symlink_to(root / "no-such-file.jpg")  # unreadable
    os.mkfifo(root / "pipe.jpg")  # not_a_file: opening it would block the scan
    (root / "loop").symlink_to(root / "DCIM", target_is_directory=True)  # folder_link
    return Tree(root, tuple(images), duplicates, walked_files=len(images) + 6)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    return make_tree(tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="module")
def reference(tree: Tree, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The JSON output of one uninterrupted scan in this process."""
    out = tmp_path_factory.mktemp("reference") / "results.json"
    scan_tree(tree.root, out, backend=InProcess())
    return out.read_bytes()


class CountingHasher:
    """hash_batch that counts the paths it hashes and can be made slow."""

    def __init__(self) -> None:
        self.hashed: list[str] = []

    def __call__(self, root: str, rels: Sequence[str], limits: ImageLimits) -> list[ScanRecord]:
        self.hashed.extend(rels)
        return hash_batch(root, rels, limits)


def by_path(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["path"]: row for row in document["files"]}


def test_scan_hashes_every_image_as_hash_image_bytes_does(tree: Tree, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    summary = scan_tree(tree.root, out, backend=LocalPool(2, batch_size=3))
    document = json.loads(out.read_text())
    rows = by_path(document)
    hashed = {path for path, row in rows.items() if row["status"] == "hashed"}
    assert hashed == set(tree.images)
    for rel in tree.images:
        expected = hash_image_bytes((tree.root / rel).read_bytes())
        row = rows[rel]
        assert row["reason"] is None and row["matches"] == []
        assert (row["md5"], row["sha256"], row["pdq"], row["quality"]) == (
            expected.md5,
            expected.sha256,
            expected.pdq,
            expected.pdq_quality,
        )
        assert (row["media_type"], row["width"], row["height"], row["size_bytes"]) == (
            expected.media_type,
            expected.width,
            expected.height,
            expected.size_bytes,
        )
        assert row["quality"] >= 50
    for copy, original in tree.duplicates:
        assert rows[copy]["md5"] == rows[original]["md5"]
        assert rows[copy]["pdq"] == rows[original]["pdq"]
    assert summary.hashed == len(tree.images) and summary.reasons == SKIPS
    assert document["summary"] == {
        "files": len(tree.images) + sum(SKIPS.values()),
        "hashed": len(tree.images),
        "skipped": SKIPS,
        "matched": 0,
    }


def test_each_skipped_file_is_listed_with_its_reason(tree: Tree, reference: bytes) -> None:
    rows = by_path(json.loads(reference))
    reasons = {path: row["reason"] for path, row in rows.items() if row["status"] == "skipped"}
    assert reasons == {
        "broken/half.jpg": "corrupt",
        "broken/bomb.png": "too_many_pixels",
        "notes.txt": "not_image",
        "empty.jpg": "empty",
        "gone.jpg": "unreadable",
        "pipe.jpg": "not_a_file",
        "loop": "folder_link",
    }
    # An image that cannot be decoded still gets its digests, for exact matching.
    corrupt = (tree.root / "broken/half.jpg").read_bytes()
    assert rows["broken/half.jpg"]["md5"] == hashlib.md5(corrupt).hexdigest()
    assert rows["broken/half.jpg"]["pdq"] is None
    assert rows["notes.txt"]["md5"] is None and rows["notes.txt"]["size_bytes"] == 14


def test_the_same_tree_gives_byte_identical_output_on_any_backend(
    tree: Tree, reference: bytes, tmp_path: Path
) -> None:
    scan_tree(tree.root, tmp_path / "pool.json", backend=LocalPool(2, batch_size=5))
    assert (tmp_path / "pool.json").read_bytes() == reference
    assert not checkpoint_path(tmp_path / "pool.json").exists()


def test_command_writes_csv_and_prints_the_count_per_reason(
    tree: Tree, reference: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.csv"
    assert main(["scan", str(tree.root), "--out", str(out), "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert f"{len(tree.images) + 7} files: {len(tree.images)} hashed, 7 skipped" in printed
    for reason in SKIPS:
        assert f"  {reason}: 1" in printed
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    expected = by_path(json.loads(reference))
    assert [row["path"] for row in rows] == list(expected)
    for row in rows:
        want = expected[row["path"]]
        assert row["status"] == want["status"]
        assert row["reason"] == (want["reason"] or "")
        assert row["pdq"] == (want["pdq"] or "")
        assert row["quality"] == ("" if want["quality"] is None else str(want["quality"]))


def test_an_interrupted_scan_resumes_without_hashing_any_file_twice(
    tree: Tree, reference: bytes, tmp_path: Path
) -> None:
    out = tmp_path / "results.json"
    first = CountingHasher()
    batches = 0

    def crash_after_three(_records: list[ScanRecord]) -> None:
        nonlocal batches
        batches += 1
        if batches == 3:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        scan_tree(
            tree.root, out, backend=InProcess(first, batch_size=4), on_batch=crash_after_three
        )
    assert not out.exists()
    assert len(checkpoint_path(out).read_text().splitlines()) == 1 + 12
    with pytest.raises(ScanError, match="--resume"):
        scan_tree(tree.root, out, backend=InProcess())
    second = CountingHasher()
    summary = scan_tree(tree.root, out, backend=InProcess(second), resume=True)
    assert not set(first.hashed) & set(second.hashed)
    assert sorted(first.hashed + second.hashed) == sorted(set(first.hashed + second.hashed))
    assert len(first.hashed) + len(second.hashed) == tree.walked_files
    assert summary.resumed == 12 and summary.hashed_now == tree.walked_files - 12
    assert out.read_bytes() == reference
    assert not checkpoint_path(out).exists()


SLOW_SCAN = """
import sys, time
from tarcza.hashing.scan import InProcess, hash_batch, scan_tree

def slow(root, rels, limits):
    time.sleep(0.1)
    return hash_batch(root, rels, limits)

scan_tree(sys.argv[1], sys.argv[2], backend=InProcess(slow, batch_size=1))
"""


def test_a_scan_killed_with_sigkill_resumes_to_the_same_output(
    tree: Tree, reference: bytes, tmp_path: Path
) -> None:
    out = tmp_path / "results.json"
    checkpoint = checkpoint_path(out)
    proc = subprocess.Popen([sys.executable, "-c", SLOW_SCAN, str(tree.root), str(out)])
    try:
        deadline = time.monotonic() + 20
        while not checkpoint.exists() or len(checkpoint.read_bytes().splitlines()) < 6:
            assert proc.poll() is None, "the scan ended before it could be killed"
            assert time.monotonic() < deadline, "the scan made no progress"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    recorded = len(checkpoint.read_bytes().splitlines()) - 1
    assert 5 <= recorded < tree.walked_files
    with checkpoint.open("ab") as fh:  # as if killed in the middle of writing a line
        fh.write(b'{"path": "DCIM/img0')
    counter = CountingHasher()
    summary = scan_tree(tree.root, out, backend=InProcess(counter), resume=True)
    assert len(counter.hashed) == tree.walked_files - recorded
    assert summary.resumed == recorded
    assert out.read_bytes() == reference


def test_a_checkpoint_of_another_folder_is_refused(tree: Tree, tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    other = tmp_path / "other"
    other.mkdir()
    checkpoint_path(out).write_text(json.dumps({"format": "x", "root": str(other)}) + "\n")
    with pytest.raises(ScanError, match="not the checkpoint of a scan of"):
        scan_tree(tree.root, out, backend=InProcess(), resume=True)


def test_resume_without_a_checkpoint_scans_everything(tree: Tree, reference: bytes) -> None:
    out = tree.root.parent / "fresh.json"
    summary = scan_tree(tree.root, out, backend=InProcess(), resume=True)
    assert summary.resumed == 0 and out.read_bytes() == reference


def test_output_and_checkpoint_inside_the_tree_are_not_scanned(tmp_path: Path) -> None:
    root = tmp_path / "export"
    root.mkdir()
    (root / "a.png").write_bytes(encoded(picture(1, 200, 150), "PNG"))
    out = root / "results.csv"
    first = scan_tree(root, out, backend=InProcess())
    second = scan_tree(root, out, backend=InProcess())  # results.csv is in the tree now
    assert first.files == second.files == 1


def test_too_large_images_are_skipped_with_streamed_digests(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    data = encoded(picture(2, 400, 300), "PNG")
    (tmp_path / "t/big.png").write_bytes(data)
    limits = ImageLimits(max_bytes=len(data) // 3)
    scan_tree(tmp_path / "t", tmp_path / "r.json", backend=InProcess(), limits=limits)
    [row] = json.loads((tmp_path / "r.json").read_text())["files"]
    assert row["reason"] == "too_large_bytes"
    assert row["sha256"] == hashlib.sha256(data).hexdigest()
    assert row["size_bytes"] == len(data)


def test_matches_from_the_match_function_are_written_per_file(tree: Tree, tmp_path: Path) -> None:
    known = hash_image_bytes((tree.root / "img00.jpg").read_bytes()).md5
    seen: list[int] = []

    def match(files: list[FileHashes]) -> list[list[dict[str, Any]]]:
        seen.append(len(files))
        return [[{"bank": "known", "distance": 0}] if f.md5 == known else [] for f in files]

    out = tmp_path / "results.json"
    summary = scan_tree(tree.root, out, backend=InProcess(), match=match)
    rows = by_path(json.loads(out.read_text()))
    matched = sorted(path for path, row in rows.items() if row["matches"])
    assert matched == ["copies/img00.jpg", "img00.jpg"]
    assert summary.matched == 2
    # Every file with digests is offered to the matcher: the images and the undecodable one.
    assert sum(seen) == len(tree.images) + 2


def test_bad_arguments_are_refused_before_any_work(tree: Tree, tmp_path: Path) -> None:
    with pytest.raises(ScanError, match=r"\.csv or \.json"):
        scan_tree(tree.root, tmp_path / "results.txt")
    with pytest.raises(ScanError, match="not a folder"):
        scan_tree(tmp_path / "missing", tmp_path / "results.csv")
    assert main(["scan", str(tmp_path / "missing"), "--out", str(tmp_path / "r.csv")]) == 2


def test_the_progress_bar_runs_to_the_end(
    tree: Tree, reference: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.json"
    scan_tree(tree.root, out, backend=InProcess(), show_progress=True)
    assert out.read_bytes() == reference
    assert f"{tree.walked_files}/{tree.walked_files}" in capsys.readouterr().err


@pytest.fixture
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh SQLite database for the bank commands."""
    for name in ("TARCZA_DATABASE_URL", "TARCZA_DATA_KEYS", "TARCZA_HMAC_KEY", "TARCZA_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TARCZA_VAR_DIR", str(tmp_path))
    assert main(["db", "upgrade"]) == 0
    yield tmp_path


def test_scan_with_bank_lists_the_bank_matches_of_each_file(
    tree: Tree, var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The matcher's PDQ index (tarcza.hashing.index) is written separately; until it is there
    # the bank matcher cannot start.
    pytest.importorskip("tarcza.hashing.index", reason="tarcza.hashing.index not written yet")
    exact = hash_image_bytes((tree.root / "img00.jpg").read_bytes())
    similar = hash_image_bytes((tree.root / "DCIM/img09.png").read_bytes())
    assert similar.pdq is not None
    near = f"{int(similar.pdq, 16) ^ 0b1011:064x}"  # 3 bits away
    assert main(["bank", "create", "known"]) == 0
    signals = var_dir / "known.csv"
    signals.write_text(f"signal_type,signal,label\nmd5,{exact.md5},a\npdq,{near},b\n")
    assert main(["bank", "import", "known", str(signals), "--format", "csv"]) == 0
    out = var_dir / "results.json"
    capsys.readouterr()
    args = ["scan", str(tree.root), "--bank", "known", "--out", str(out), "--workers", "1"]
    assert main(args) == 0
    assert "4 files matched a bank" in capsys.readouterr().out
    rows = by_path(json.loads(out.read_text()))
    assert {
        p: [(m["bank"], m["signal_type"], m["distance"]) for m in r["matches"]]
        for p, r in rows.items()
        if r["matches"]
    } == {
        "img00.jpg": [("known", "md5", 0)],
        "copies/img00.jpg": [("known", "md5", 0)],
        "DCIM/img09.png": [("known", "pdq", 3)],
        "copies/renamed.bin": [("known", "pdq", 3)],
    }
    assert main(["scan", str(tree.root), "--bank", "unknown", "--out", str(out)]) == 1
    assert "unknown" in capsys.readouterr().err


# The scan's throughput rests on tarcza's own PDQ core (pdq.py computes the reference's blur and
# decimation as matrix products). It must keep giving pdqhash's hashes: identical as a rule,
# a couple of bits off only where float rounding reorders coefficients next to the median.
# (This belongs with tests/hashing/test_pdq_props.py; it is here while that file is not ours.)
PDQ_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "pdq"


def test_pdq_core_gives_pdqhash_hashes_and_qualities() -> None:
    pdqhash = pytest.importorskip("pdqhash")
    from tarcza.hashing.pdq import _pdq_input, pdq_dihedral_from_image, pdq_from_image

    pictures = [picture(seed, 40 + 37 * seed, 700 - 29 * seed) for seed in range(20)]
    pictures += [Image.open(p) for p in sorted(PDQ_DATA.glob("**/*.jpg"))[:30]]
    identical = 0
    for img in pictures:
        pixels = _pdq_input(img)
        bits, quality = pdqhash.compute(pixels)
        vectors, _ = pdqhash.compute_dihedral(pixels)
        expected = [np.packbits(np.asarray(v, dtype=np.uint8)).tobytes().hex() for v in vectors]
        ours = pdq_from_image(img)
        assert ours.quality == quality
        distances = [
            (int(h.hex, 16) ^ int(e, 16)).bit_count()
            for h, e in zip(pdq_dihedral_from_image(img), expected, strict=True)
        ]
        assert max(distances) <= 2, distances
        identical += ours.hex == np.packbits(np.asarray(bits, np.uint8)).tobytes().hex()
    assert identical >= len(pictures) - 1


def test_a_checkpoint_torn_in_its_header_starts_the_scan_afresh(
    tree: Tree, reference: bytes, tmp_path: Path
) -> None:
    out = tmp_path / "results.json"
    checkpoint_path(out).write_bytes(b'{"format": "tarcza-sc')
    summary = scan_tree(tree.root, out, backend=InProcess(), resume=True)
    assert summary.resumed == 0 and out.read_bytes() == reference
