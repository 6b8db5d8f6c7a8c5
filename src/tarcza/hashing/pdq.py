"""PDQ perceptual hashes of decoded images.

This module is deliberately pure: it turns an already decoded :class:`PIL.Image.Image` into PDQ
hashes and compares hashes. It performs no file, network or database access, so it can be used
from the web app, background jobs and the command line alike. Decoding untrusted bytes safely is
the job of :mod:`tarcza.hashing.images`.

Hashes are 64 lowercase hex characters, bit for bit in the format of the C++ reference hasher
(``pdq-photo-hasher`` from facebook/ThreatExchange), so they can be exchanged with other hotlines.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
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

    Every mode goes through RGB: PDQ reads the first three channels as R, G, B, so CMYK,
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


def _reference_downsample_image(img: Image.Image) -> Image.Image:
    """Pick the very pixels :func:`_reference_downsample` picks, in Pillow, before any conversion.

    Output pixel x is read at x * width / 512 (the -0.5 cancels Pillow's pixel-centre offset), so
    the choice is CImg's floor(x * old / new), exactly. Converting 512x512 pixels instead of a
    whole photo makes large images several times faster to hash.
    """
    sx, sy = img.width / REFERENCE_DOWNSAMPLE_DIMS, img.height / REFERENCE_DOWNSAMPLE_DIMS
    size = (REFERENCE_DOWNSAMPLE_DIMS, REFERENCE_DOWNSAMPLE_DIMS)
    affine = (sx, 0.0, -0.5 * sx, 0.0, sy, -0.5 * sy)
    return img.transform(size, Image.Transform.AFFINE, affine, Image.Resampling.NEAREST)


def _pdq_input(img: Image.Image) -> npt.NDArray[np.uint8]:
    if img.width <= 0 or img.height <= 0:
        raise ValueError("cannot hash an image with no pixels")
    # Conversion to RGB is per pixel except for high-depth modes, whose range comes from all
    # pixels: only those must be converted before the reference's pixels are picked.
    if img.mode not in _HIGH_DEPTH_MODES and max(img.size) > REFERENCE_DOWNSAMPLE_DIMS:
        img = _reference_downsample_image(img)
    return _reference_downsample(_rgb_pixels(img))


# -- the PDQ algorithm (pdqhashing.cpp), with its blur and decimation fused ---------------------
# The reference blurs the whole luma image (two passes of a box filter along each axis), then
# keeps 64x64 samples of it. Both steps are linear and act on each axis alone, so each kept
# sample is a weighted sum of at most 2 * window - 1 (<= 7) neighbours along each axis: only
# those are computed. Same numbers as pdqhash's up to float rounding (identical hashes and
# qualities on the reference images), several times faster. No BLAS call on the way: in a pool
# of worker processes, BLAS's own threads would fight over the cores.

_GRID: Final = 64
_MIN_HASHABLE_DIM: Final = 5
# dct64To16: rows 1..16 of the 64-point DCT-II (the DC row is left out).
_DCT: Final = (
    np.sqrt(2.0 / _GRID)
    * np.cos(np.pi / 2 / _GRID * np.arange(1, 17)[:, None] * (2 * np.arange(_GRID)[None, :] + 1))
).astype(np.float32)
# Coefficient i has frequency i + 1: mirroring the picture negates the odd frequencies.
_MIRROR: Final = np.where(np.arange(16) % 2 == 0, -1.0, 1.0).astype(np.float32)


@functools.cache  # n <= REFERENCE_DOWNSAMPLE_DIMS, so at most 512 small tables
def _axis_taps(n: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
    """For each of the 64 samples PDQ keeps along an axis of n: the indices it sums, weights.

    box1DFloat averages a window clipped at the edges (of the width computeJaroszFilterWindowSize
    gives), jaroszFilterFloat applies it twice, decimateFloat keeps sample floor((k + .5) n / 64).
    """
    window = (n + 2 * _GRID - 1) // (2 * _GRID)
    half = (window + 2) // 2
    i = np.arange(n)
    lo, hi = np.maximum(i - (window - half), 0), np.minimum(i + half - 1, n - 1)
    box = ((i[None, :] >= lo[:, None]) & (i[None, :] <= hi[:, None])) / (hi - lo + 1)[:, None]
    keep = ((np.arange(_GRID) + 0.5) * n / _GRID).astype(np.int64)
    weights = box[keep] @ box  # 64 x n, a few non-zero entries per row
    taps = int((weights > 0).sum(axis=1).max())
    index = np.zeros((_GRID, taps), dtype=np.intp)
    tap_weights = np.zeros((_GRID, taps), dtype=np.float32)
    for k in range(_GRID):
        (nonzero,) = np.nonzero(weights[k])
        index[k, : len(nonzero)] = nonzero
        tap_weights[k, : len(nonzero)] = weights[k, nonzero]
    return index, tap_weights


def _pdq_coefficients(pixels: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.float32], int]:
    """The 16x16 DCT coefficients PDQ's bits come from, and the quality (0-100)."""
    rows, cols = pixels.shape[0], pixels.shape[1]
    if rows < _MIN_HASHABLE_DIM or cols < _MIN_HASHABLE_DIM:
        return np.zeros((16, 16), dtype=np.float32), 0  # the reference's all-zero hash
    # Luma as pdqhash computes it: in float64, then rounded to float32.
    r, g, b = pixels[:, :, 0], pixels[:, :, 1], pixels[:, :, 2]
    luma = (r * 0.299 + g * 0.587 + b * 0.114).astype(np.float32)
    row_index, row_weights = _axis_taps(rows)
    col_index, col_weights = _axis_taps(cols)
    kept_rows = (luma[row_index] * row_weights[:, :, None]).sum(axis=1)  # 64 x cols
    grid = (kept_rows[:, col_index] * col_weights[None, :, :]).sum(axis=2)  # 64 x 64
    # computePDQImageDomainQualityMetric: each step is truncated to an integer before summing.
    down = np.trunc((grid[:-1, :] - grid[1:, :]) * 100 / 255)
    across = np.trunc((grid[:, :-1] - grid[:, 1:]) * 100 / 255)
    quality = min(int(np.abs(down).sum() + np.abs(across).sum()) // 90, 100)
    coefficients: npt.NDArray[np.float32] = _DCT @ grid @ _DCT.T
    return coefficients, quality


def _coefficients_to_hex(coefficients: npt.NDArray[np.float32]) -> str:
    """Bit k (k = 16 i + j) is set when coefficient (i, j) exceeds the median (the 128th value,
    as Torben's median in the reference); the hex shows bit 255 first, as ``Hash256::format``."""
    flat = coefficients.reshape(-1)
    median = np.partition(flat, 127)[127]
    return np.packbits((flat > median)[::-1]).tobytes().hex()


def _dihedral(coefficients: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
    """The coefficients of the eight dihedral transforms, in the reference's order (from
    pdqDihedralHash256esFromFloatLuma: transposing and negating the odd frequencies)."""
    rows, cols, turned = _MIRROR[:, None], _MIRROR[None, :], coefficients.T
    return [
        coefficients,
        turned * rows,
        coefficients * rows * cols,
        turned * cols,
        coefficients * rows,
        coefficients * cols,
        turned,
        turned * rows * cols,
    ]


def pdq_from_image(img: Image.Image) -> PdqHash:
    """Compute the PDQ hash of a decoded image, as the C++ reference hasher would.

    Any colour mode is accepted. The pixels are hashed as stored: the EXIF orientation tag is
    ignored, as the reference and python-threatexchange do, so hashes agree with theirs.
    Raises ValueError for an image without pixels or of a mode that cannot be made RGB.
    """
    coefficients, quality = _pdq_coefficients(_pdq_input(img))
    return PdqHash(hex=_coefficients_to_hex(coefficients), quality=quality)


def pdq_dihedral_from_image(img: Image.Image) -> list[PdqHash]:
    """Compute the eight dihedral PDQ hashes of a decoded image (pixels as stored).

    The order is the reference hasher's: original, rotate 90, rotate 180, rotate 270, flip X,
    flip Y, flip along the main diagonal, flip along the anti-diagonal. All share one quality.
    """
    coefficients, quality = _pdq_coefficients(_pdq_input(img))
    return [PdqHash(_coefficients_to_hex(c), quality) for c in _dihedral(coefficients)]


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


def pdq_from_rgb_frame(pixels: npt.NDArray[np.uint8]) -> PdqHash:
    """Compute the PDQ hash of an H x W x 3 RGB frame at its full size, as vPDQ does.

    The reference video hasher (vpdq's frame buffer hasher) hashes every decoded frame as it is,
    without the photo hasher's resize to 512x512 (:func:`pdq_from_image` does that resize), so
    video frames go through here to give the reference's frame hashes.
    Raises ValueError for an array that is not H x W x 3 bytes.
    """
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError("a frame is an H x W x 3 array of bytes")
    coefficients, quality = _pdq_coefficients(pixels)
    return PdqHash(hex=_coefficients_to_hex(coefficients), quality=quality)
