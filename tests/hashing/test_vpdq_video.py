"""Hashing videos (hashing/videos.py) against the reference's frame hashes, bounded decoding,
and ``tarcza hash VIDEO``.

The reference regression rule (vpdq/python/tests/test_vpdq_hash.py): with every frame hashed,
the same frame numbers as the reference file, and every frame where both qualities are >= 50
within distance < 31 of the reference hash.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tarcza.hashing import vpdq
from tarcza.hashing.pdq import hamming
from tarcza.hashing.service import hash_command, hash_file_for_cli
from tarcza.hashing.videos import VideoLimits, VideoRejected, hash_video_file
from tests.hashing.test_vpdq import DATA, needs_data, read_numbered, read_reference

EVERY_FRAME = VideoLimits(seconds_per_hash=0)


def frame_conformance(name: str) -> tuple[int, int, int]:
    """(frames, frames passing the reference rule, worst distance) for one sample video."""
    with (DATA / "videos" / f"{name}.mp4").open("rb") as fh:
        hashes = hash_video_file(fh, EVERY_FRAME)
    reference = read_numbered(name)
    assert list(hashes.frame_numbers) == [number for number, _ in reference]
    passed, worst = 0, 0
    for (_, expected), got in zip(reference, hashes.frames, strict=True):
        assert got.timestamp == pytest.approx(expected.timestamp, abs=0.0011)
        if expected.quality >= 50 and got.quality >= 50:
            distance = hamming(expected.pdq, got.pdq)
            worst = max(worst, distance)
            passed += distance < 31
        else:
            passed += 1
    # And the video as a whole matches the reference's hashes both ways.
    score = vpdq.score(hashes.frames, read_reference(name))
    assert score.query_match_pct >= 80 and score.compared_match_pct >= 80
    return len(reference), passed, worst


@needs_data
def test_every_frame_of_a_short_video_agrees_with_the_reference() -> None:
    frames, passed, worst = frame_conformance("doorknob-hd-no-bar")
    assert (frames, passed) == (120, 120)
    assert worst <= 22  # as the reference's own build measured on this machine


@needs_data
@pytest.mark.slow
def test_every_frame_of_every_sample_video_agrees_with_the_reference() -> None:
    """All ten sample videos, every frame (about 3,200 frames: half a minute)."""
    results = {
        path.stem: frame_conformance(path.stem) for path in sorted((DATA / "videos").glob("*.mp4"))
    }
    assert len(results) == 10
    assert {name: (f, p) for name, (f, p, _) in results.items() if f != p} == {}


@needs_data
def test_one_frame_a_second_by_default_with_digests_of_the_file() -> None:
    path = DATA / "videos" / "doorknob-hd-no-bar.mp4"
    data = path.read_bytes()
    hashes = hash_video_file(io.BytesIO(data))
    assert hashes.frame_numbers == (0, 30, 60, 90)  # 120 frames at 30 per second
    assert [f.timestamp for f in hashes.frames] == [0.0, 1.0, 2.0, 3.0]
    assert (hashes.width, hashes.height, hashes.frame_rate) == (1280, 720, 30.0)
    assert hashes.frames_decoded == 120 and hashes.media_type == "video/mp4"
    assert hashes.md5 == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert hashes.sha256 == hashlib.sha256(data).hexdigest()
    every = dict(read_numbered("doorknob-hd-no-bar"))
    for number, frame in zip(hashes.frame_numbers, hashes.frames, strict=True):
        assert frame.quality == pytest.approx(every[number].quality, abs=10)
        if min(frame.quality, every[number].quality) >= 50:
            assert hamming(frame.pdq, every[number].pdq) <= 22
    two = hash_video_file(io.BytesIO(data), VideoLimits(seconds_per_hash=2))
    assert two.frame_numbers == (0, 60)


@needs_data
@pytest.mark.parametrize(
    ("limits", "code"),
    [
        (VideoLimits(max_bytes=1000), "too_large_bytes"),
        (VideoLimits(max_pixels=1280 * 720 - 1), "too_many_pixels"),
        (VideoLimits(max_seconds=2.5), "too_long"),
        (VideoLimits(max_frames=100), "too_many_frames"),
    ],
)
def test_videos_beyond_the_limits_are_refused_clearly(limits: VideoLimits, code: str) -> None:
    path = DATA / "videos" / "doorknob-hd-no-bar.mp4"
    with path.open("rb") as fh, pytest.raises(VideoRejected) as caught:
        hash_video_file(fh, limits)
    assert caught.value.code == code


def test_files_that_are_not_acceptable_videos_are_refused() -> None:
    png = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(png, "PNG")
    cases = {
        b"": "empty",
        png.getvalue(): "unsupported_type",
        b"#EXTM3U\n#EXT-X-VERSION:3\nhttp://127.0.0.1:9/x.ts\n": "unsupported_type",
        b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200: "corrupt",
    }
    for data, code in cases.items():
        with pytest.raises(VideoRejected) as caught:
            hash_video_file(io.BytesIO(data))
        assert caught.value.code == code, data[:20]


@needs_data
def test_a_truncated_video_is_refused_or_hashed_never_crashes() -> None:
    data = (DATA / "videos" / "test-padded-dimensions.mp4").read_bytes()
    try:
        hashes = hash_video_file(io.BytesIO(data[: len(data) // 2]))
    except VideoRejected as exc:
        assert exc.code == "corrupt"
    else:
        assert hashes.frames


@needs_data
def test_tarcza_hash_prints_a_video_s_vpdq(tmp_path: Path) -> None:
    video = DATA / "videos" / "doorknob-hd-no-bar.mp4"
    bogus = tmp_path / "broken.mp4"
    bogus.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200)
    out = io.StringIO()
    status = hash_command([str(video), str(bogus)], out, seconds_per_hash=1)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert status == 1
    assert set(first) == {"path", "md5", "sha256", "vpdq"}
    assert first["path"] == str(video) and len(first["vpdq"]) == 4
    frames = vpdq.parse_signal(json.dumps(first["vpdq"]))
    assert [f.timestamp for f in frames] == [0.0, 1.0, 2.0, 3.0]
    assert second["vpdq"] is None and second["error"].startswith("corrupt:")
    assert len(second["sha256"]) == 64
    every = hash_file_for_cli(video, video_limits=EVERY_FRAME)
    assert isinstance(every["vpdq"], list) and len(every["vpdq"]) == 120
