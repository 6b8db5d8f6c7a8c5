"""vPDQ hashes of video files, decoded with PyAV (the FFmpeg libraries its wheels carry).

Frames are chosen as the reference ``vpdq`` hasher chooses them: every decoded frame is counted
from 0, the frame rate is the stream's average rate (else its base rate), and frame ``n`` is hashed
when ``n % int(seconds_per_hash * rate) == 0`` (every frame when that is 0); its timestamp is
``n / rate``. Each chosen frame is converted to RGB (Lanczos, as the reference's swscale call) and
hashed by tarcza's own PDQ hasher (:func:`tarcza.hashing.pdq.pdq_from_image`).

Videos are untrusted: only a few container formats are let through to FFmpeg (sniffed from the
magic bytes and enforced with ``format_whitelist``, so that no playlist or concat demuxer can open
other files or URLs), and the size in bytes, pixels per frame, duration and number of decoded
frames are bounded by :class:`VideoLimits`; beyond them :class:`VideoRejected` says which.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from typing import IO, Final, Literal

import av
import av.error
import numpy as np

from tarcza.hashing.pdq import pdq_from_rgb_frame
from tarcza.hashing.vpdq import VpdqFrame, to_signal

#: pytx hashes one frame per second of video by default.
DEFAULT_SECONDS_PER_HASH: Final = 1.0

RejectCode = Literal[
    "unsupported_type",
    "too_large_bytes",
    "too_many_pixels",
    "too_long",
    "too_many_frames",
    "corrupt",
    "empty",
]

# Demuxers FFmpeg may use: ISO BMFF (MP4, MOV, 3GP), Matroska/WebM, AVI, FLV, MPEG-TS/PS.
_FORMAT_WHITELIST: Final = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,flv,mpegts,mpeg"
_READ_CHUNK: Final = 1024 * 1024
_SNIFF_BYTES: Final = 16


class VideoRejected(Exception):
    """A file that is not an acceptable video; ``code`` is stable, ``message`` English."""

    def __init__(self, code: RejectCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code: str = code
        self.message: str = message


@dataclass(frozen=True)
class VideoLimits:
    """Upper bounds on a video: bytes, pixels per frame, seconds and decoded frames."""

    max_bytes: int = 2 * 1024 * 1024 * 1024
    max_pixels: int = 3840 * 2160
    max_seconds: float = 3 * 3600.0
    max_frames: int = 3 * 3600 * 60
    seconds_per_hash: float = DEFAULT_SECONDS_PER_HASH


@dataclass(frozen=True)
class VideoHashes:
    """Digests of a video file and the vPDQ hashes of its sampled frames."""

    md5: str
    sha256: str
    size_bytes: int
    media_type: str
    width: int
    height: int
    frame_rate: float
    frames_decoded: int
    frames: tuple[VpdqFrame, ...]
    frame_numbers: tuple[int, ...]
    decode_seconds: float

    @property
    def vpdq(self) -> str:
        """The canonical vPDQ signal (the JSON list banks hold)."""
        return to_signal(self.frames)


def sniff_video_type(head: bytes) -> str | None:
    """The media type the first bytes of a file announce, if it is a video tarcza decodes."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:10] == b"qt" else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/x-matroska"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head.startswith(b"FLV\x01"):
        return "video/x-flv"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "video/mpeg"
    if len(head) >= 189 and head[0] == 0x47 and head[188] == 0x47:
        return "video/mp2t"
    return None


def _digest(fileobj: IO[bytes], max_bytes: int) -> tuple[str, str, int, bytes]:
    md5 = hashlib.md5(usedforsecurity=False)
    sha256 = hashlib.sha256()
    size = 0
    head = b""
    while chunk := fileobj.read(_READ_CHUNK):
        if not head:
            head = chunk[:256]
        size += len(chunk)
        if size > max_bytes:
            raise VideoRejected(
                "too_large_bytes", f"the file is larger than the limit of {max_bytes} bytes"
            )
        md5.update(chunk)
        sha256.update(chunk)
    return md5.hexdigest(), sha256.hexdigest(), size, head


@contextmanager
def _opened(fileobj: IO[bytes]) -> Iterator[av.container.InputContainer]:
    try:
        container = av.open(
            fileobj,
            mode="r",
            options={"format_whitelist": _FORMAT_WHITELIST, "protocol_whitelist": "file"},
        )
    except (av.error.FFmpegError, ValueError, EOFError) as exc:
        raise VideoRejected("corrupt", f"the video cannot be opened: {exc}") from None
    try:
        yield container
    finally:
        container.close()


def _frame_rate(stream: av.video.stream.VideoStream) -> Fraction:
    for rate in (stream.average_rate, stream.base_rate, stream.guessed_rate):
        if rate:
            return Fraction(rate)
    raise VideoRejected("corrupt", "the video stream has no frame rate")


def hash_video_file(fileobj: IO[bytes], limits: VideoLimits | None = None) -> VideoHashes:
    """Digest a seekable video file object and vPDQ-hash its frames.

    Reads the file once for MD5 and SHA-256 (streamed, never all in memory), seeks back to the
    start and decodes the first video stream. ``limits.seconds_per_hash`` chooses the frames
    (0: every frame). Raises VideoRejected when the file is no acceptable video within ``limits``.
    """
    limits = limits or VideoLimits()
    if limits.seconds_per_hash < 0:
        raise ValueError("seconds_per_hash must be 0 or more")
    md5, sha256, size, head = _digest(fileobj, limits.max_bytes)
    if size == 0:
        raise VideoRejected("empty", "the file is empty")
    media_type = sniff_video_type(head)
    if media_type is None:
        raise VideoRejected(
            "unsupported_type", "not a video tarcza decodes (MP4, MOV, WebM, MKV, AVI, FLV, MPEG)"
        )
    fileobj.seek(0)
    started = time.perf_counter()
    with _opened(fileobj) as container:
        if not container.streams.video:
            raise VideoRejected("corrupt", "the file has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        width, height = stream.codec_context.width, stream.codec_context.height
        _check_pixels(width, height, limits)
        rate = _frame_rate(stream)
        if container.duration is not None and container.duration / 1_000_000 > limits.max_seconds:
            raise VideoRejected("too_long", f"the video is longer than {limits.max_seconds:g} s")
        every = max(int(limits.seconds_per_hash * float(rate)), 1)
        frames: list[VpdqFrame] = []
        numbers: list[int] = []
        count = 0
        try:
            for frame in container.decode(stream):
                if count >= limits.max_frames:
                    raise VideoRejected(
                        "too_many_frames", f"the video has more than {limits.max_frames} frames"
                    )
                if count / rate > limits.max_seconds:
                    raise VideoRejected(
                        "too_long", f"the video is longer than {limits.max_seconds:g} s"
                    )
                if count % every == 0:
                    _check_pixels(frame.width, frame.height, limits)
                    pixels = frame.to_ndarray(format="rgb24", interpolation="LANCZOS")
                    pdq = pdq_from_rgb_frame(np.asarray(pixels, dtype=np.uint8))
                    frames.append(VpdqFrame(pdq.hex, pdq.quality, round(float(count / rate), 3)))
                    numbers.append(count)
                count += 1
        except (av.error.FFmpegError, ValueError, EOFError) as exc:
            raise VideoRejected("corrupt", f"the video cannot be decoded: {exc}") from None
    if not frames:
        raise VideoRejected("empty", "the video has no frames")
    return VideoHashes(
        md5=md5,
        sha256=sha256,
        size_bytes=size,
        media_type=media_type,
        width=width,
        height=height,
        frame_rate=float(rate),
        frames_decoded=count,
        frames=tuple(frames),
        frame_numbers=tuple(numbers),
        decode_seconds=time.perf_counter() - started,
    )


def _check_pixels(width: int, height: int, limits: VideoLimits) -> None:
    if width <= 0 or height <= 0:
        raise VideoRejected("corrupt", "the video has no frame size")
    if width * height > limits.max_pixels:
        raise VideoRejected(
            "too_many_pixels",
            f"frames of {width}x{height} exceed the limit of {limits.max_pixels} pixels",
        )
