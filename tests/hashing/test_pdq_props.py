"""Property-based tests of decoding and PDQ hashing (synthetic data only)."""

from __future__ import annotations

import re
from io import BytesIO

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from tarcza.hashing.images import ImageLimits, ImageRejected, open_image
from tarcza.hashing.pdq import (
    MATCH_THRESHOLD,
    MIN_USEFUL_QUALITY,
    hamming,
    is_valid_pdq_hex,
    pdq_dihedral_from_image,
    pdq_from_image,
)
from tarcza.hashing.service import hash_image_bytes

# A small pixel cap keeps mutated headers that declare big canvases quick to process.
FUZZ_LIMITS = ImageLimits(max_bytes=1024 * 1024, max_pixels=1_000_000)
CODES = {"unsupported_type", "too_large_bytes", "too_many_pixels", "corrupt", "empty"}
HEX64 = re.compile(r"[0-9a-f]{64}")
MAGICS = [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBP"]
# Re-encoding as JPEG quality 90 must leave the hash far inside the match threshold; on 1000
# random pictures from the generator below the largest distance seen was 12.
JPEG_TOLERANCE = 20


def _picture(seed: int, width: int, height: int) -> Image.Image:
    """A smooth random colour picture with enough structure for a stable PDQ hash."""
    rng = np.random.default_rng(seed)
    grid = rng.integers(8, 25, size=2)
    coarse = rng.integers(0, 256, size=(int(grid[0]), int(grid[1]), 3), dtype=np.uint8)
    return Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)


def _encode(img: Image.Image, fmt: str) -> bytes:
    buf = BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


_SAMPLE = _picture(7, 40, 30)
VALID_SAMPLES = [
    _encode(_SAMPLE, "JPEG"),
    _encode(_SAMPLE, "PNG"),
    _encode(_SAMPLE.convert("P"), "GIF"),
    _encode(_SAMPLE, "WEBP"),
    _encode(_SAMPLE.convert("LA"), "PNG"),
]


@st.composite
def mutated_images(draw: st.DrawFn) -> bytes:
    """A valid sample with some bytes overwritten and possibly truncated."""
    data = bytearray(draw(st.sampled_from(VALID_SAMPLES)))
    edits = draw(
        st.lists(
            st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)), min_size=1, max_size=8
        )
    )
    for pos, value in edits:
        data[pos] = value
    cut = draw(st.integers(1, len(data)))
    return bytes(data[:cut])


hostile_bytes = st.one_of(
    st.binary(max_size=512),
    st.builds(lambda magic, tail: magic + tail, st.sampled_from(MAGICS), st.binary(max_size=512)),
    mutated_images(),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_bytes)
def test_any_bytes_are_decoded_or_rejected_never_crash(data: bytes) -> None:
    try:
        img, media_type = open_image(data, FUZZ_LIMITS)
    except ImageRejected as exc:
        assert exc.code in CODES
        assert exc.message
        return
    assert media_type.startswith("image/")
    assert img.width * img.height <= FUZZ_LIMITS.max_pixels
    # Whatever decodes must also hash: the intake calls hash_image_bytes on every upload.
    hashes = hash_image_bytes(data, FUZZ_LIMITS)
    assert hashes.pdq is None or is_valid_pdq_hex(hashes.pdq)


pdq_hexes = st.binary(min_size=32, max_size=32).map(bytes.hex)


@given(pdq_hexes, pdq_hexes)
def test_hamming_is_symmetric_and_counts_xor_bits(a: str, b: str) -> None:
    distance = hamming(a, b)
    assert distance == hamming(b, a)
    assert distance == bin(int(a, 16) ^ int(b, 16)).count("1")
    assert 0 <= distance <= 256
    assert (distance == 0) == (a == b)


@given(pdq_hexes)
def test_hamming_is_zero_on_equal_and_full_on_complement(a: str) -> None:
    assert hamming(a, a) == 0
    complement = f"{int(a, 16) ^ ((1 << 256) - 1):064x}"
    assert hamming(a, complement) == 256


@given(st.text(max_size=70))
def test_only_canonical_hex_is_valid(s: str) -> None:
    assert is_valid_pdq_hex(s) == bool(HEX64.fullmatch(s))


def test_hamming_refuses_malformed_hashes() -> None:
    good = "0" * 64
    for bad in ["", "0" * 63, "0" * 65, "A" * 64, "g" * 64, " " + "0" * 63, "0" * 64 + "\n"]:
        assert not is_valid_pdq_hex(bad)
        try:
            hamming(good, bad)
        except ValueError:
            continue
        raise AssertionError(f"hamming accepted {bad!r}")


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(64, 800), st.integers(64, 800))
def test_pdq_survives_jpeg_reencoding(seed: int, width: int, height: int) -> None:
    img = _picture(seed, width, height)
    original = pdq_from_image(img)
    assume(original.quality >= MIN_USEFUL_QUALITY)
    reencoded = pdq_from_image(Image.open(BytesIO(_encode_jpeg(img, quality=90))))
    assert hamming(original.hex, reencoded.hex) <= JPEG_TOLERANCE < MATCH_THRESHOLD


def _encode_jpeg(img: Image.Image, quality: int) -> bytes:
    buf = BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


MODES = ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "I", "F", "I;16"]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 600),
    st.integers(1, 600),
    st.sampled_from(MODES),
)
def test_hash_is_64_lowercase_hex_in_every_mode(
    seed: int, width: int, height: int, mode: str
) -> None:
    img = _picture(seed, width, height).convert(mode)
    result = pdq_from_image(img)
    assert HEX64.fullmatch(result.hex)
    assert 0 <= result.quality <= 100
    dihedral = pdq_dihedral_from_image(img)
    assert len(dihedral) == 8
    assert all(HEX64.fullmatch(h.hex) and h.quality == result.quality for h in dihedral)
    assert dihedral[0] == result


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_distinct_pictures_do_not_match(seed: int) -> None:
    # Guards against a degenerate hasher (e.g. constant output) that would pass the above.
    a = pdq_from_image(_picture(seed, 128, 128))
    b = pdq_from_image(_picture(seed + 1, 128, 128))
    assert hamming(a.hex, b.hex) > MATCH_THRESHOLD
