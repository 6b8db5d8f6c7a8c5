"""PDQ perceptual hashes of decoded images.

This module is deliberately pure: it turns an already decoded :class:`PIL.Image.Image` into PDQ
hashes and compares hashes. It performs no file, network or database access, so it can be used
from the web app, background jobs and the command line alike. Decoding untrusted bytes safely is
the job of :mod:`tarcza.hashing.images`.

Hashes are 64 lowercase hex characters, bit for bit in the format of the C++ reference hasher
(``pdq-photo-hasher`` from facebook/ThreatExchange), so they can be exchanged with other hotlines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

# pdqhash ships no type stubs. pyproject.toml may already silence that, hence unused-ignore.
import pdqhash  # type: ignore[import-untyped, unused-ignore]
from PIL import Image

#: Hamming distance at or below which two PDQ hashes are treated as the same picture
#: (the operating point recommended with the reference implementation).
MATCH_THRESHOLD: Final[int] = 31

#: Hashes of lower quality come from (nearly) featureless images and match far too much;
#: matching code must discard them.
MIN_USEFUL_QUALITY: Final[int] = 50

#: The C++ reference hasher (pdq/cpp/io/pdqio.cpp, ``DOWNSAMPLE_DIMS``) resizes every image with a
#: side longer than 512 pixels to exactly 512x512 with CImg's default (nearest-neighbour) resize
#: before hashing. Doing the same makes our hashes identical to the reference's on all the
#: reference images, instead of up to 10 bits (14 for dihedral hashes) away from them.
REFERENCE_DOWNSAMPLE_DIMS: Final[int] = 512

_PDQ_HEX = re.compile(r"[0-9a-f]{64}")

# Modes whose samples are wider than 8 bits. Pillow's own conversion to RGB clips their values at
# 255, which would turn a 16-bit greyscale PNG almost entirely white, so they are rescaled first.
_HIGH_DEPTH_MODES: Final = frozenset({"I", "F", "I;16", "I;16L", "I;16B", "I;16N"})


@dataclass(frozen=True)
class PdqHash:
    """A PDQ hash as 64 lowercase hex characters, with its quality (0-100)."""

    hex: str
    quality: int


def _high_depth_to_grey(img: Image.Image) -> npt.NDArray[np.uint8]:
    """Map an 'I', 'F' or 'I;16*' image onto 8-bit grey levels.

    These modes carry no declared value range, so the range is inferred from the data. PDQ ignores
    the DC term, so a uniform scale changes the hash bits little; the scale mostly matters for the
    quality score, which is why data is never stretched when it already fits a known range.
    """
    values = np.nan_to_num(np.asarray(img, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(values.min()), float(values.max())
    if img.mode == "F" and lo >= 0.0 and hi <= 1.0:
        values = values * 255.0  # floats in 0..1: the usual convention for numpy-made images
    elif lo >= 0.0 and hi <= 255.0:
        pass  # already 8-bit levels, e.g. an 8-bit picture converted to 'I' or 'F'
    elif lo >= 0.0 and hi <= 65535.0:
        values = values * (255.0 / 65535.0)  # 16-bit samples, e.g. a 16-bit greyscale PNG
    else:
        span = hi - lo
        values = (values - lo) * (255.0 / span) if span > 0 else np.zeros_like(values)
    grey: npt.NDArray[np.uint8] = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return grey


def _rgb_pixels(img: Image.Image) -> npt.NDArray[np.uint8]:
    """Return the image's pixels as stored (no EXIF rotation) as an H x W x 3 uint8 array.

    Every mode goes through RGB: pdqhash reads the first three channels as R, G, B, so CMYK,
    palette or greyscale data passed unconverted gives wildly wrong hashes.
    """
    mode = img.mode
    if mode in _HIGH_DEPTH_MODES:
        grey = _high_depth_to_grey(img)
        return np.ascontiguousarray(np.repeat(grey[:, :, np.newaxis], 3, axis=2))
    if mode in ("P", "PA"):
        # Via RGBA the palette and any transparency are applied in one step (P -> RGB warns about
        # byte transparency); the colour under transparent pixels is kept, as the reference does.
        img = img.convert("RGBA")
    elif mode == "La":
        img = img.convert("LA")  # Pillow cannot convert premultiplied La to RGB directly
    if img.mode != "RGB":
        try:
            img = img.convert("RGB")
        except ValueError as exc:
            raise ValueError(f"cannot convert image mode {mode!r} to RGB for PDQ") from exc
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def _reference_downsample(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Resize as the C++ reference does: to 512x512, nearest neighbour, if a side exceeds 512."""
    rows, cols = pixels.shape[0], pixels.shape[1]
    size = REFERENCE_DOWNSAMPLE_DIMS
    if rows <= size and cols <= size:
        return pixels
    # CImg picks source index floor(i * old / new); with new = 512 that ratio is an exact binary
    # fraction, so integer arithmetic reproduces its choice exactly.
    row_idx = (np.arange(size, dtype=np.int64) * rows) // size
    col_idx = (np.arange(size, dtype=np.int64) * cols) // size
    return np.ascontiguousarray(pixels[np.ix_(row_idx, col_idx)])


def _pdq_input(img: Image.Image) -> npt.NDArray[np.uint8]:
    if img.width <= 0 or img.height <= 0:
        raise ValueError("cannot hash an image with no pixels")
    return _reference_downsample(_rgb_pixels(img))


def _bits_to_hex(bits: Any) -> str:
    """Format pdqhash's bit vector like the reference's ``Hash256::format``.

    pdqhash returns bit 255 first and bit 0 last; packing them big-endian and printing the bytes
    in order gives the reference's most-significant-word-first hex (checked against the CSVs).
    """
    vector = np.asarray(bits, dtype=np.uint8)
    if vector.shape != (256,):
        raise RuntimeError(f"pdqhash returned {vector.shape} bits, expected 256")
    return np.packbits(vector).tobytes().hex()


def pdq_from_image(img: Image.Image) -> PdqHash:
    """Compute the PDQ hash of a decoded image, as the C++ reference hasher would.

    Any colour mode is accepted. The pixels are hashed as stored: the EXIF orientation tag is
    ignored, as the reference and python-threatexchange do, so hashes agree with theirs.
    Raises ValueError for an image without pixels or of a mode that cannot be made RGB.
    """
    bits, quality = pdqhash.compute(_pdq_input(img))
    return PdqHash(hex=_bits_to_hex(bits), quality=int(quality))


def pdq_dihedral_from_image(img: Image.Image) -> list[PdqHash]:
    """Compute the eight dihedral PDQ hashes of a decoded image (pixels as stored).

    The order is the reference hasher's: original, rotate 90, rotate 180, rotate 270, flip X,
    flip Y, flip along the main diagonal, flip along the anti-diagonal. All share one quality.
    """
    vectors, quality = pdqhash.compute_dihedral(_pdq_input(img))
    return [PdqHash(hex=_bits_to_hex(bits), quality=int(quality)) for bits in vectors]


def is_valid_pdq_hex(s: object) -> bool:
    """Tell whether ``s`` is a PDQ hash in canonical form: exactly 64 lowercase hex characters."""
    return isinstance(s, str) and _PDQ_HEX.fullmatch(s) is not None


def hamming(a_hex: str, b_hex: str) -> int:
    """Return the number of differing bits between two canonical PDQ hex hashes.

    Raises ValueError if either is not canonical (see :func:`is_valid_pdq_hex`): silently
    comparing malformed hashes could turn a corrupted record into a false match.
    """
    if not is_valid_pdq_hex(a_hex) or not is_valid_pdq_hex(b_hex):
        raise ValueError("PDQ hashes must be 64 lowercase hex characters")
    return (int(a_hex, 16) ^ int(b_hex, 16)).bit_count()
