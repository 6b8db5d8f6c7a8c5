"""Self-protection rules — pure: no web, database or network imports.

A person protects their own images by sending only their hashes, computed on their device: a
case number and a PIN follow the case; no name, no e-mail, no phone, an age band only. What a
hash must look like, which hashes wait for a supervisor, and what the bank's terms say.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

from tarcza.intake.rules import PIN_DIGITS, REFERENCE_ALPHABET

CASE_PREFIX = "OC"
_CASE_BODY = 8
_READ_ALIKE = str.maketrans({"O": "0", "I": "1", "L": "1"})
_HEX = re.compile(r"[0-9a-f]+")

#: Below this PDQ quality an image is too plain to hash well: it would match far too much.
QUALITY_FLOOR = 50
#: The most frames a video's vPDQ may carry (a frame a second: over an hour).
MAX_VPDQ_FRAMES = 4000

#: What a match in the self-protection bank means, for the platforms that receive it.
SHARING_TERMS = (
    "Self-protection bank: hashes that people submitted of their own intimate images, "
    "computed on their own devices; tarcza never saw the images. A match is a reason to "
    "review the upload before it is published, not to remove it unseen: anybody can submit a "
    "hash, so a match alone does not show that the content is what the person feared. "
    "Report back what you did through POST /api/v1/feedback (counts only). Removed hashes "
    "(a person withdrew them) appear in the change feed: stop using them at once."
)


class AgeBand(StrEnum):
    """How old the person was in the images (the only thing asked about them)."""

    UNDER_13 = "under_13"
    FROM_13_TO_15 = "13_15"
    FROM_16_TO_17 = "16_17"
    ADULT = "18_plus"


class ItemKind(StrEnum):
    """An image or a video."""

    IMAGE = "image"
    VIDEO = "video"


class ItemRefused(ValueError):
    """A hashed item that cannot be taken: which field, a stable code, a sentence."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ProtectedItem:
    """One image or video as hashes: exact digests and a perceptual hash (PDQ or vPDQ).

    ``vpdq`` is the canonical vPDQ signal (a JSON list of "pdq,quality,timestamp").
    """

    kind: ItemKind
    md5: str
    sha256: str
    pdq: str | None = None
    quality: int | None = None
    vpdq: str | None = None

    def signals(self) -> list[tuple[str, str]]:
        """(signal type, value) pairs for the bank."""
        out = [("md5", self.md5), ("sha256", self.sha256)]
        if self.pdq is not None:
            out.append(("pdq", self.pdq))
        if self.vpdq is not None:
            out.append(("vpdq", self.vpdq))
        return out


def _hex(field: str, value: object, length: int) -> str:
    if not isinstance(value, str):
        raise ItemRefused(field, "missing", "a hash is required")
    text = value.strip().lower()
    if len(text) != length or not _HEX.fullmatch(text):
        raise ItemRefused(field, "invalid_hash", f"must be {length} hexadecimal characters")
    return text


def _quality(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise ItemRefused(field, "invalid_quality", "must be a whole number from 0 to 100")
    return value


def check_item(index: int, raw: object) -> ProtectedItem:
    """A hashed item as the browser sent it, checked; ItemRefused naming ``items[i].field``.

    An image's PDQ quality must reach QUALITY_FLOOR; a video keeps its frames of useful
    quality (at least one).
    """
    at = f"items[{index}]"
    if not isinstance(raw, dict):
        raise ItemRefused(at, "invalid_item", "each item is an object of hashes")
    try:
        kind = ItemKind(str(raw.get("kind")))
    except ValueError:
        raise ItemRefused(f"{at}.kind", "invalid_kind", "must be image or video") from None
    md5 = _hex(f"{at}.md5", raw.get("md5"), 32)
    sha256 = _hex(f"{at}.sha256", raw.get("sha256"), 64)
    if kind is ItemKind.IMAGE:
        pdq = _hex(f"{at}.pdq", raw.get("pdq"), 64)
        quality = _quality(f"{at}.quality", raw.get("quality"))
        if quality < QUALITY_FLOOR:
            raise ItemRefused(
                f"{at}.quality",
                "low_quality",
                "this picture is too plain to recognise reliably (quality "
                f"{quality} of 100, at least {QUALITY_FLOOR} is needed)",
            )
        return ProtectedItem(kind, md5, sha256, pdq=pdq, quality=quality)
    frames = raw.get("vpdq")
    if not isinstance(frames, list) or not frames:
        raise ItemRefused(f"{at}.vpdq", "missing", "a video needs its vPDQ frames")
    if len(frames) > MAX_VPDQ_FRAMES:
        raise ItemRefused(f"{at}.vpdq", "too_long", f"at most {MAX_VPDQ_FRAMES} frames")
    kept: list[str] = []
    for n, frame in enumerate(frames):
        where = f"{at}.vpdq[{n}]"
        if not isinstance(frame, dict):
            raise ItemRefused(where, "invalid_frame", "each frame is {pdq, quality, timestamp}")
        pdq = _hex(f"{where}.pdq", frame.get("pdq"), 64)
        quality = _quality(f"{where}.quality", frame.get("quality"))
        timestamp = frame.get("timestamp")
        if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
            raise ItemRefused(f"{where}.timestamp", "invalid_timestamp", "seconds, a number")
        if not 0 <= timestamp < 10**6:
            raise ItemRefused(f"{where}.timestamp", "invalid_timestamp", "seconds, a number")
        if quality >= QUALITY_FLOOR:
            kept.append(f"{pdq},{quality},{float(timestamp):.3f}")
    if not kept:
        raise ItemRefused(
            f"{at}.vpdq",
            "low_quality",
            "no frame of this video is clear enough to recognise reliably",
        )
    return ProtectedItem(kind, md5, sha256, vpdq=json.dumps(kept, separators=(",", ":")))


class HoldReason(StrEnum):
    """Why a hash waits for a supervisor before it is shared."""

    ALLOW_LISTED = "allow_listed"  # it matches a hash of known lawful content
    COMMON = "common"  # many unrelated cases submitted it (a meme, a stock photo)


def hold_reason(*, allow_listed: bool, cases_with_it: int, review_after: int) -> HoldReason | None:
    """Whether a hash is held back for review, and why; None: share it at once."""
    if allow_listed:
        return HoldReason.ALLOW_LISTED
    if cases_with_it >= review_after:
        return HoldReason.COMMON
    return None


def new_case_reference() -> str:
    """A fresh case number such as ``OC-7K2M-9QXP`` (40 random bits)."""
    body = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(_CASE_BODY))
    return f"{CASE_PREFIX}-{body[:4]}-{body[4:]}"


def normalise_case_reference(raw: str) -> str | None:
    """The canonical case number for what was typed, or None (as report references read)."""
    compact = "".join(ch for ch in raw.upper() if ch not in " -\t")
    if compact.startswith(CASE_PREFIX) and len(compact) == _CASE_BODY + len(CASE_PREFIX):
        compact = compact[len(CASE_PREFIX) :]
    compact = compact.translate(_READ_ALIKE)
    if len(compact) != _CASE_BODY or any(ch not in REFERENCE_ALPHABET for ch in compact):
        return None
    return f"{CASE_PREFIX}-{compact[:4]}-{compact[4:]}"


def new_case_pin() -> str:
    """A fresh PIN for a case (as long as a report's)."""
    return "".join(secrets.choice("0123456789") for _ in range(PIN_DIGITS))
