"""Hashing of uploaded or local files: cryptographic digests plus PDQ for images, vPDQ for videos.

The intake digests uploads as they stream past (:class:`Digests`) and decodes them for PDQ from
storage (:func:`hash_image_file`); ``tarcza hash FILE...`` (``hash_command``) and the scanner use
:func:`hash_image_bytes`, which goes through the same code. Every decode holds its declared
pixels of the process's :data:`~tarcza.hashing.budget.DECODE_BUDGET` while its pixels exist.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import BinaryIO, TextIO

from tarcza.hashing.budget import DECODE_BUDGET, PixelBudget
from tarcza.hashing.images import ImageLimits, ImageRejected, decode, open_header
from tarcza.hashing.pdq import pdq_from_image
from tarcza.hashing.videos import (
    DEFAULT_SECONDS_PER_HASH,
    VideoLimits,
    VideoRejected,
    hash_video_file,
    sniff_video_type,
)

DEFAULT_LIMITS = ImageLimits()

_READ_CHUNK = 1024 * 1024
_VIDEO_SNIFF_BYTES = 256

CliResult = dict[str, str | int | list[str] | None]


@dataclass(frozen=True)
class FileHashes:
    """Digests and basic facts of an accepted image (or video).

    ``pdq`` is set for every decoded image, even when ``pdq_quality`` is below
    MIN_USEFUL_QUALITY (matching code discards those); it is None only if the decoded pixels
    could not be hashed at all, and for a video, whose frames are in ``vpdq`` (the canonical
    vPDQ signal).
    """

    md5: str
    sha256: str
    pdq: str | None
    pdq_quality: int | None
    media_type: str
    width: int
    height: int
    size_bytes: int
    vpdq: str | None = None


@dataclass(frozen=True)
class FileDigests:
    """The cryptographic digests and the size of a file's bytes."""

    md5: str
    sha256: str
    size_bytes: int


class Digests:
    """MD5 and SHA-256 of bytes given piece by piece (as they stream past)."""

    def __init__(self) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha256 = hashlib.sha256()
        self.size_bytes = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._md5.update(data)
        self._sha256.update(data)
        self.size_bytes += len(data)

    def result(self) -> FileDigests:
        return FileDigests(self._md5.hexdigest(), self._sha256.hexdigest(), self.size_bytes)


def digests_of(data: bytes) -> FileDigests:
    """The digests of bytes in memory."""
    digests = Digests()
    digests.update(data)
    return digests.result()


def hash_image_file(
    source: BinaryIO,
    digests: FileDigests,
    limits: ImageLimits = DEFAULT_LIMITS,
    budget: PixelBudget = DECODE_BUDGET,
) -> FileHashes:
    """Decode an image from a seekable ``source`` (whose digests are known) and add its PDQ hash.

    The declared pixels are taken from ``budget`` before the pixels are decoded and given back
    once they are freed. Raises ImageRejected if the bytes are not an acceptable image within
    ``limits``.
    """
    img, media_type = open_header(source, digests.size_bytes, limits)
    with img:
        width, height = img.size
        with budget.hold(width * height):
            decode(img, limits)
            width, height = img.size
            try:
                pdq = pdq_from_image(img)
            except ValueError:
                # Decoded but unhashable pixel data (e.g. an exotic mode). The digests still let
                # the file be matched exactly, so it is not rejected.
                pdq = None
            finally:
                img.close()  # the pixels are freed before the budget is given back
    return FileHashes(
        md5=digests.md5,
        sha256=digests.sha256,
        pdq=None if pdq is None else pdq.hex,
        pdq_quality=None if pdq is None else pdq.quality,
        media_type=media_type,
        width=width,
        height=height,
        size_bytes=digests.size_bytes,
    )


def hash_image_bytes(data: bytes, limits: ImageLimits = DEFAULT_LIMITS) -> FileHashes:
    """Decode ``data`` safely and return its MD5, SHA-256 and PDQ hashes.

    Raises ImageRejected if the bytes are not an acceptable image within ``limits``.
    """
    return hash_image_file(BytesIO(data), digests_of(data), limits)


def _read_with_digests(path: Path, max_bytes: int) -> tuple[bytes | None, str, str]:
    """Digest a file in chunks; keep its content only if it is small enough to decode.

    Streaming lets the CLI report the digests of files of any size (e.g. videos) without holding
    them in memory.
    """
    md5 = hashlib.md5(usedforsecurity=False)
    sha256 = hashlib.sha256()
    chunks: list[bytes] | None = []
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_READ_CHUNK):
            md5.update(chunk)
            sha256.update(chunk)
            size += len(chunk)
            if chunks is not None and size <= max_bytes:
                chunks.append(chunk)
            else:
                chunks = None
    return (None if chunks is None else b"".join(chunks)), md5.hexdigest(), sha256.hexdigest()


def hash_file_for_cli(
    path: Path,
    limits: ImageLimits = DEFAULT_LIMITS,
    video_limits: VideoLimits | None = None,
) -> CliResult:
    """Return the JSON object that ``tarcza hash`` prints for one file.

    Images give {"path", "md5", "sha256", "pdq", "quality"}. A readable file that is not an
    acceptable image gives the same keys with "pdq" and "quality" null plus "error". A path that
    cannot be read gives {"path", "error"}. A video (told by its first bytes) gives
    {"path", "md5", "sha256", "vpdq"}: "vpdq" the list of "pdq_hex,quality,timestamp" frames
    (frames chosen by ``video_limits.seconds_per_hash``), or null with "error".
    """
    name = str(path)
    try:
        with path.open("rb") as fh:
            is_video = sniff_video_type(fh.read(_VIDEO_SNIFF_BYTES)) is not None
    except OSError as exc:
        return {"path": name, "error": f"cannot read file: {exc.strerror or exc}"}
    if is_video:
        return _hash_video_for_cli(path, video_limits or VideoLimits())
    try:
        data, md5, sha256 = _read_with_digests(path, limits.max_bytes)
    except OSError as exc:
        return {"path": name, "error": f"cannot read file: {exc.strerror or exc}"}
    result: CliResult = {"path": name, "md5": md5, "sha256": sha256, "pdq": None, "quality": None}
    if data is None:
        result["error"] = (
            f"too_large_bytes: the file is larger than the limit of {limits.max_bytes} bytes"
        )
        return result
    try:
        hashes = hash_image_bytes(data, limits)
    except ImageRejected as exc:
        result["error"] = f"{exc.code}: {exc.message}"
        return result
    if hashes.pdq is None:
        result["error"] = "corrupt: the image pixels cannot be hashed"
        return result
    result["pdq"] = hashes.pdq
    result["quality"] = hashes.pdq_quality
    return result


def _hash_video_for_cli(path: Path, limits: VideoLimits) -> CliResult:
    name = str(path)
    try:
        with path.open("rb") as fh:
            hashes = hash_video_file(fh, limits)
    except OSError as exc:
        return {"path": name, "error": f"cannot read file: {exc.strerror or exc}"}
    except VideoRejected as exc:
        try:
            _, md5, sha256 = _read_with_digests(path, 0)
        except OSError:
            return {"path": name, "vpdq": None, "error": f"{exc.code}: {exc.message}"}
        return {
            "path": name,
            "md5": md5,
            "sha256": sha256,
            "vpdq": None,
            "error": f"{exc.code}: {exc.message}",
        }
    return {
        "path": name,
        "md5": hashes.md5,
        "sha256": hashes.sha256,
        "vpdq": [str(frame) for frame in hashes.frames],
    }


def hash_command(
    paths: list[str], out: TextIO, *, seconds_per_hash: float = DEFAULT_SECONDS_PER_HASH
) -> int:
    """Print one compact JSON object per file to ``out``, in the order given.

    Videos are vPDQ-hashed, one frame every ``seconds_per_hash`` seconds (0: every frame).
    Returns the exit status: 0 if every file was hashed, 1 if any failed (all files are still
    processed and printed).
    """
    status = 0
    video_limits = VideoLimits(seconds_per_hash=seconds_per_hash)
    for raw in paths:
        result = hash_file_for_cli(Path(raw), DEFAULT_LIMITS, video_limits)
        if "error" in result:
            status = 1
        # ASCII-only output keeps undecodable file names (surrogate escapes) printable.
        out.write(json.dumps(result, separators=(",", ":")) + "\n")
    return status
