"""Safe decoding of untrusted image uploads.

Uploads come from the public, so every byte string is treated as hostile: the type is decided
from magic bytes (never the file name), only four formats are ever handed to Pillow, the pixel
count is checked from the header before any pixel memory is allocated, and every decoder failure
is reported as :class:`ImageRejected` with a stable ``code`` the caller can translate.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from io import BytesIO
from typing import BinaryIO, Final, Literal

from PIL import Image

# Backstop for code paths that open images without going through open_image(): Pillow only
# *warns* between MAX_IMAGE_PIXELS and twice that, and a warning lets the decode go ahead.
# Turning the warning into an error is process-wide and leaves MAX_IMAGE_PIXELS alone. It is not
# what protects open_image() (a thread elsewhere may swap the warning filters temporarily), the
# explicit size check below is.
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

RejectCode = Literal["unsupported_type", "too_large_bytes", "too_many_pixels", "corrupt", "empty"]

# Magic-byte sniffing result -> the single Pillow plugin allowed to parse those bytes. Restricting
# Pillow to one plugin keeps its many rarely used (and less hardened) decoders out of reach.
_PILLOW_FORMAT: Final[dict[str, str]] = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
}


class ImageRejected(Exception):
    """An upload that is not an acceptable image.

    ``code`` is one of "unsupported_type", "too_large_bytes", "too_many_pixels", "corrupt",
    "empty" and is what callers should branch on and translate; ``message`` is an English
    explanation for logs and the command line.
    """

    def __init__(self, code: RejectCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code: str = code
        self.message: str = message


@dataclass(frozen=True)
class ImageLimits:
    """Upper bounds applied before decoding: file size in bytes and width x height in pixels."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000


def sniff_media_type(data: bytes) -> str | None:
    """Return the media type given by the magic bytes of ``data``, or None if not supported.

    Only image/jpeg, image/png, image/gif and image/webp are recognised.
    """
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _check_pixels(img: Image.Image, limits: ImageLimits) -> None:
    width, height = img.size
    if width <= 0 or height <= 0:
        raise ImageRejected("corrupt", "the image declares no pixels")
    if width * height > limits.max_pixels:
        raise ImageRejected(
            "too_many_pixels",
            f"the image is {width}x{height} pixels, more than the limit of "
            f"{limits.max_pixels} pixels",
        )


def _open_header(source: BinaryIO, pillow_format: str, limits: ImageLimits) -> Image.Image:
    """Parse only the header; Pillow allocates no pixel memory until load()."""
    try:
        img = Image.open(source, formats=[pillow_format])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own check fires at open for very large canvases (only warns up to twice
        # MAX_IMAGE_PIXELS, which the filter above makes an error).
        raise ImageRejected("too_many_pixels", "the image declares too many pixels") from exc
    except Exception as exc:
        # Hostile input reaches many code paths in Pillow's plugins, which raise an open-ended
        # set of types (OSError, SyntaxError, struct.error, IndexError, ...); every one of them
        # means "not a decodable image".
        raise ImageRejected("corrupt", "the image header cannot be read") from exc
    try:
        _check_pixels(img, limits)
    except ImageRejected:
        img.close()
        raise
    return img


def open_header(source: BinaryIO, size: int, limits: ImageLimits) -> tuple[Image.Image, str]:
    """Check an untrusted upload of ``size`` bytes in ``source`` (seekable), up to its header.

    Returns the image, not yet decoded (no pixel memory: ``img.size`` is the declared size),
    and its sniffed media type; :func:`decode` loads it. Raises ImageRejected (and nothing
    else) for anything that is not an acceptable image by its size, type or header.
    """
    if size <= 0:
        raise ImageRejected("empty", "the file is empty")
    if size > limits.max_bytes:
        raise ImageRejected(
            "too_large_bytes",
            f"the file is {size} bytes, more than the limit of {limits.max_bytes} bytes",
        )
    source.seek(0)
    media_type = sniff_media_type(source.read(12))
    source.seek(0)
    if media_type is None:
        raise ImageRejected("unsupported_type", "the file is not a JPEG, PNG, GIF or WebP image")
    return _open_header(source, _PILLOW_FORMAT[media_type], limits), media_type


def decode(img: Image.Image, limits: ImageLimits) -> None:
    """Decode the first frame of an image from :func:`open_header`; closes it on failure.

    Raises ImageRejected (and nothing else) when the pixels cannot be decoded.
    """
    try:
        img.load()  # decodes the current frame, i.e. the first one, only
        # Defence in depth: whatever a plugin did while loading, a caller must never receive a
        # canvas larger than allowed.
        _check_pixels(img, limits)
    except ImageRejected:
        img.close()
        raise
    except Exception as exc:  # as in _open_header: any decoder failure means a bad image
        img.close()
        if isinstance(exc, Image.DecompressionBombError | Image.DecompressionBombWarning):
            raise ImageRejected("too_many_pixels", "the image declares too many pixels") from exc
        raise ImageRejected("corrupt", "the image data is damaged or truncated") from exc


def open_image(data: bytes, limits: ImageLimits) -> tuple[Image.Image, str]:
    """Decode an untrusted upload into a loaded Pillow image and its sniffed media type.

    Only the first frame of an animated GIF, PNG or WebP is decoded. The EXIF orientation is not
    applied. Raises ImageRejected (and nothing else) for anything that is not an acceptable
    image; see ImageRejected for the codes.
    """
    img, media_type = open_header(BytesIO(data), len(data), limits)
    decode(img, limits)
    return img, media_type
