"""What ``tarcza hash FILE...`` prints: hash_command and hash_file_for_cli."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from pathlib import Path

import pytest

from tarcza.hashing.images import ImageLimits
from tarcza.hashing.pdq import hamming
from tarcza.hashing.service import hash_command, hash_file_for_cli

DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "pdq"
IMAGES = ["bridge-mods/aaa-orig.jpg", "reg-test-input/pen-and-coaster.png"]
IMAGE_KEYS = {"path", "md5", "sha256", "pdq", "quality"}


@pytest.fixture(scope="module")
def reference() -> dict[str, dict[str, str]]:
    if not DATA_DIR.is_dir():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PDQ reference test data missing at {DATA_DIR} (required when CI=true)")
        pytest.skip(f"PDQ reference test data not found at {DATA_DIR}")
    with (DATA_DIR / "reference-pdq.csv").open(newline="", encoding="utf-8") as fh:
        return {row["path"]: row for row in csv.DictReader(fh)}


def _run(paths: list[str]) -> tuple[int, list[dict[str, object]], str]:
    out = io.StringIO()
    status = hash_command(paths, out)
    text = out.getvalue()
    return status, [json.loads(line) for line in text.splitlines()], text


def _check_image_line(line: dict[str, object], path: Path, expected: dict[str, str]) -> None:
    assert set(line) == IMAGE_KEYS
    data = path.read_bytes()
    assert line["path"] == str(path)
    assert line["md5"] == hashlib.md5(data).hexdigest()
    assert line["sha256"] == hashlib.sha256(data).hexdigest()
    assert isinstance(line["pdq"], str)
    assert hamming(line["pdq"], expected["pdq_hex"]) <= 10
    assert line["quality"] == int(expected["quality"])


def test_images_and_a_text_file(reference: dict[str, dict[str, str]], tmp_path: Path) -> None:
    notes = tmp_path / "notes.jpg"  # an image name does not make it an image
    notes.write_text("not a picture\n", encoding="utf-8")
    paths = [str(DATA_DIR / IMAGES[0]), str(notes), str(DATA_DIR / IMAGES[1])]
    status, lines, text = _run(paths)
    assert status == 1
    assert text.endswith("\n") and len(text.splitlines()) == 3  # one line per file, in order
    for raw, parsed in zip(text.splitlines(), lines, strict=True):  # compact JSON
        assert raw == json.dumps(parsed, separators=(",", ":"))
    _check_image_line(lines[0], DATA_DIR / IMAGES[0], reference[IMAGES[0]])
    _check_image_line(lines[2], DATA_DIR / IMAGES[1], reference[IMAGES[1]])
    failed = lines[1]
    assert set(failed) == IMAGE_KEYS | {"error"}
    assert failed["path"] == str(notes)
    assert failed["sha256"] == hashlib.sha256(b"not a picture\n").hexdigest()
    assert failed["md5"] == hashlib.md5(b"not a picture\n").hexdigest()
    assert failed["pdq"] is None and failed["quality"] is None
    assert isinstance(failed["error"], str) and "unsupported_type" in failed["error"]


def test_only_images_exit_zero(reference: dict[str, dict[str, str]]) -> None:
    status, lines, _ = _run([str(DATA_DIR / p) for p in IMAGES])
    assert status == 0
    assert len(lines) == 2
    for line, rel in zip(lines, IMAGES, strict=True):
        _check_image_line(line, DATA_DIR / rel, reference[rel])


def test_unreadable_paths_are_reported_and_the_rest_still_hashed(
    reference: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.png"
    status, lines, _ = _run([str(missing), str(tmp_path), str(DATA_DIR / IMAGES[0])])
    assert status == 1
    assert [set(line) for line in lines[:2]] == [{"path", "error"}, {"path", "error"}]
    assert lines[0]["path"] == str(missing)
    assert lines[1]["path"] == str(tmp_path)  # a directory cannot be read as a file
    _check_image_line(lines[2], DATA_DIR / IMAGES[0], reference[IMAGES[0]])


def test_empty_and_oversize_files_keep_their_digests(tmp_path: Path) -> None:
    empty = tmp_path / "empty.gif"
    empty.write_bytes(b"")
    result = hash_file_for_cli(empty, ImageLimits())
    assert result["sha256"] == hashlib.sha256(b"").hexdigest()
    assert result["pdq"] is None and isinstance(result["error"], str)
    assert result["error"].startswith("empty")
    big = tmp_path / "big.jpg"
    payload = b"\xff\xd8\xff" + bytes(3 * 1024 * 1024)  # read in several chunks
    big.write_bytes(payload)
    result = hash_file_for_cli(big, ImageLimits(max_bytes=1024 * 1024))
    assert result["md5"] == hashlib.md5(payload).hexdigest()
    assert result["sha256"] == hashlib.sha256(payload).hexdigest()
    assert isinstance(result["error"], str) and result["error"].startswith("too_large_bytes")


def test_no_files_is_success() -> None:
    assert _run([]) == (0, [], "")
