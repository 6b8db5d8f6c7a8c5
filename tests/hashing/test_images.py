"""Safe decoding of untrusted uploads (synthetic images only)."""

from __future__ import annotations

import struct
import subprocess
import sys
import warnings
import zlib
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from tarcza.hashing.images import ImageLimits, ImageRejected, open_image, sniff_media_type
from tarcza.hashing.service import hash_file_for_cli, hash_image_bytes

LIMITS = ImageLimits()


def _synthetic(width: int = 96, height: int = 64, seed: int = 1) -> Image.Image:
    """A smooth random colour picture: enough structure for a meaningful PDQ hash."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    return Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)


def _encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _blank_bilevel_png(width: int, height: int) -> bytes:
    """A complete, valid, all-black 1-bit PNG of any size, built without holding its pixels.

    Rows are streamed through zlib, so a 20000x20000 canvas (400 million pixels) costs a few tens
    of kilobytes here, while decoding it would need hundreds of megabytes.
    """
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte 0, then packed bits
    compressor = zlib.compressobj(9)
    parts = []
    batch = row * 256
    for start in range(0, height, 256):
        parts.append(
            compressor.compress(batch if height - start >= 256 else row * (height - start))
        )
    parts.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", b"".join(parts))
        + _png_chunk(b"IEND", b"")
    )


def _rejected(data: bytes, limits: ImageLimits = LIMITS) -> str:
    with pytest.raises(ImageRejected) as info:
        open_image(data, limits)
    assert info.value.message  # a human-readable reason always accompanies the code
    return info.value.code


@pytest.mark.parametrize(
    ("fmt", "media_type", "params"),
    [
        ("JPEG", "image/jpeg", {"quality": 90}),
        ("PNG", "image/png", {}),
        ("GIF", "image/gif", {}),
        ("WEBP", "image/webp", {"quality": 90}),
        ("WEBP", "image/webp", {"lossless": True}),
    ],
)
def test_supported_formats_are_decoded(
    fmt: str, media_type: str, params: dict[str, object]
) -> None:
    data = _encode(_synthetic(), fmt, **params)
    assert sniff_media_type(data) == media_type
    img, sniffed = open_image(data, LIMITS)
    assert sniffed == media_type
    assert img.size == (96, 64)
    hashes = hash_image_bytes(data)
    assert hashes.media_type == media_type
    assert (hashes.width, hashes.height, hashes.size_bytes) == (96, 64, len(data))
    assert hashes.pdq is not None and hashes.pdq_quality is not None


def test_pillow_is_limited_to_the_sniffed_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pillow must not fall back to its other (less hardened) plugins for hostile bytes.
    seen: list[object] = []
    original = Image.open

    def spy(fp: object, mode: str = "r", formats: object = None) -> Image.Image:
        seen.append(formats)
        return original(fp, mode, formats)  # type: ignore[arg-type]

    monkeypatch.setattr(Image, "open", spy)
    for fmt in ("JPEG", "PNG", "GIF", "WEBP"):
        open_image(_encode(_synthetic(), fmt), LIMITS)
    assert seen == [["JPEG"], ["PNG"], ["GIF"], ["WEBP"]]


def test_type_comes_from_content_not_file_name(tmp_path: Path) -> None:
    jpeg = _encode(_synthetic(), "JPEG")
    misnamed = tmp_path / "holiday.png.txt"
    misnamed.write_bytes(jpeg)
    result = hash_file_for_cli(misnamed, LIMITS)
    assert "error" not in result
    assert result["pdq"] == hash_image_bytes(jpeg).pdq
    # ...and a real PNG named .jpg is still a PNG.
    png = _encode(_synthetic(), "PNG")
    assert hash_image_bytes(png).media_type == "image/png"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"Hello, this is a plain text report.\n", id="text"),
        pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", id="pdf"),
        pytest.param(_encode(_synthetic(), "BMP"), id="bmp"),
        pytest.param(_encode(_synthetic(), "TIFF"), id="tiff"),
        pytest.param(b"RIFF\x10\x00\x00\x00WAVEfmt ", id="riff-wave"),
        pytest.param(b"\xff\xd8", id="two-byte-jpeg-prefix"),
    ],
)
def test_other_content_is_unsupported(data: bytes) -> None:
    assert sniff_media_type(data) is None
    assert _rejected(data) == "unsupported_type"


def test_bmp_and_tiff_are_refused_even_though_pillow_decodes_them() -> None:
    # Shows the refusal is our allow-list, not a Pillow failure.
    for fmt in ("BMP", "TIFF"):
        data = _encode(_synthetic(), fmt)
        assert Image.open(BytesIO(data)).format == fmt
        assert _rejected(data) == "unsupported_type"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP"])
def test_truncated_image_is_corrupt(fmt: str) -> None:
    data = _encode(_synthetic(256, 256), fmt)
    assert _rejected(data[: len(data) // 2]) == "corrupt"


@pytest.mark.parametrize(
    "data",
    [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBP"],
    ids=["jpeg", "png", "gif", "webp"],
)
def test_bare_magic_bytes_are_corrupt(data: bytes) -> None:
    assert _rejected(data) == "corrupt"


def test_empty_is_rejected() -> None:
    assert _rejected(b"") == "empty"


def test_oversize_bytes_are_rejected_before_decoding() -> None:
    data = _encode(_synthetic(), "PNG")
    assert _rejected(data, ImageLimits(max_bytes=len(data) - 1)) == "too_large_bytes"
    open_image(data, ImageLimits(max_bytes=len(data)))  # the limit itself is allowed
    # The default limit is 20 MiB; junk behind a JPEG signature is refused on size alone.
    assert _rejected(b"\xff\xd8\xff" + bytes(20 * 1024 * 1024)) == "too_large_bytes"


def test_pixel_limit_is_inclusive() -> None:
    data = _encode(_synthetic(100, 50), "PNG")
    open_image(data, ImageLimits(max_pixels=5000))
    assert _rejected(data, ImageLimits(max_pixels=4999)) == "too_many_pixels"


@pytest.fixture
def load_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every pixel decode Pillow starts (ImageFile.load allocates the pixel buffer)."""
    calls: list[str] = []
    original = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> object:
        calls.append(f"{self.format} {self.size}")
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return calls


def test_decompression_bomb_is_rejected_without_decoding(load_calls: list[str]) -> None:
    bomb = _blank_bilevel_png(20_000, 20_000)
    assert len(bomb) < 100_000  # 400 million pixels in a small upload
    assert _rejected(bomb) == "too_many_pixels"
    assert load_calls == []


def test_own_pixel_check_does_not_depend_on_pillow_or_warning_filters(
    load_calls: list[str],
) -> None:
    # 3000x3000 is far below Pillow's own bomb thresholds, so only our check can stop it; the
    # warnings are silenced the way another thread might, to show the check does not need them.
    data = _blank_bilevel_png(3000, 3000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _rejected(data, ImageLimits(max_pixels=1_000_000)) == "too_many_pixels"
    assert load_calls == []
    img, _ = open_image(data, ImageLimits(max_pixels=9_000_000))
    assert img.size == (3000, 3000)
    assert load_calls == ["PNG (3000, 3000)"]


def test_pillow_bomb_warning_is_an_error_after_import(tmp_path: Path) -> None:
    # 10000x10000 is above MAX_IMAGE_PIXELS (where Pillow only warns) but below twice it.
    assert Image.MAX_IMAGE_PIXELS is not None
    assert Image.MAX_IMAGE_PIXELS < 10_000 * 10_000 < 2 * Image.MAX_IMAGE_PIXELS
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_blank_bilevel_png(10_000, 10_000))
    # A fresh interpreter: pytest wraps collection and each test in warnings.catch_warnings(),
    # which discards filters installed while importing test modules.
    script = (
        "import sys\n"
        "from PIL import Image\n"
        "import tarcza.hashing.images\n"
        "try:\n"
        "    Image.open(sys.argv[1])\n"
        "except Image.DecompressionBombWarning:\n"
        "    sys.exit(0)\n"
        "sys.exit(3)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(bomb)], capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    # Even where the filter is gone (as in this process), open_image still refuses the image.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        assert _rejected(bomb.read_bytes()) == "too_many_pixels"


def test_huge_declared_gif_canvas_is_rejected(load_calls: list[str]) -> None:
    gif = bytearray(_encode(_synthetic(8, 8), "GIF"))
    gif[6:10] = struct.pack("<HH", 65535, 65535)  # logical screen size
    assert _rejected(bytes(gif)) == "too_many_pixels"
    assert load_calls == []


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_only_first_frame_of_animation_is_decoded(fmt: str) -> None:
    red = Image.new("RGB", (32, 32), (255, 0, 0))
    blue = Image.new("RGB", (32, 32), (0, 0, 255))
    params: dict[str, object] = {"save_all": True, "append_images": [blue], "duration": 100}
    if fmt == "WEBP":
        params["lossless"] = True
    data = _encode(red, fmt, **params)
    img, _ = open_image(data, LIMITS)
    assert getattr(img, "n_frames", 1) == 2
    assert img.tell() == 0
    assert img.convert("RGB").getpixel((16, 16)) == (255, 0, 0)


def test_exif_orientation_is_not_applied() -> None:
    img = _synthetic(90, 60)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    data = _encode(img, "JPEG", exif=exif.tobytes())
    decoded, _ = open_image(data, LIMITS)
    assert decoded.size == (90, 60)
    assert decoded.getexif().get(0x0112) == 6
