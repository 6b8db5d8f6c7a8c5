"""vPDQ: matching videos by the PDQ hashes of their frames — pure: no web, database or network.

A video's vPDQ signal is the list of its sampled frames, each a PDQ hash with its quality and
timestamp (python-threatexchange's JSON list of ``"pdq_hex,quality,timestamp"`` strings, see
:func:`tarcza.hashing.banks.normalise_signal`). Two videos are compared as the reference does
(facebook/ThreatExchange ``vpdq`` and python-threatexchange's VPDQ signal type):

1. each side's frames are deduplicated by hash (the first of equal hashes is kept), then frames
   of quality below 50 are dropped;
2. a frame matches when a frame of the other side is within Hamming distance 31;
3. ``query_match_pct`` is the share (in %) of the query's frames that match some compared frame,
   ``compared_match_pct`` the share of the compared video's frames that match some query frame;
4. the videos match when ``query_match_pct >= 80`` and ``compared_match_pct >= 0`` (pytx's
   defaults ``VPDQ_QUERY_MATCH_THRESHOLD_PERCENT`` and ``VPDQ_INDEX_MATCH_THRESHOLD_PERCENT``;
   a bank may set its own).

A side with no frame left after step 1 matches nothing (the reference would divide by zero).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

#: Frames of lower PDQ quality are left out of matching (pytx VPDQ_QUALITY_THRESHOLD).
DEFAULT_QUALITY_THRESHOLD: Final = 50
#: Two frames match at or below this Hamming distance (pytx VPDQ_DISTANCE_THRESHOLD).
DEFAULT_DISTANCE_THRESHOLD: Final = 31
#: A video matches when this share (%) of the query's frames match (pytx default).
DEFAULT_QUERY_MATCH_PCT: Final = 80.0
#: ... and this share (%) of the compared (bank) video's frames match (pytx default).
DEFAULT_COMPARED_MATCH_PCT: Final = 0.0
#: Timestamps are written with millisecond precision, as pytx does.
TIMESTAMP_DECIMALS: Final = 3

_PDQ_HEX_LENGTH: Final = 64
_HEX_DIGITS: Final = frozenset("0123456789abcdef")
# Pairwise distances are computed in blocks of at most this many frame pairs (memory bound).
_PAIRS_PER_BLOCK: Final = 1 << 20

U64 = npt.NDArray[np.uint64]


class InvalidVpdq(ValueError):
    """A vPDQ signal or threshold is malformed; ``message`` says how."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class VpdqFrame:
    """One hashed frame: its PDQ hash (64 lowercase hex), quality 0-100, time in seconds."""

    pdq: str
    quality: int
    timestamp: float

    def __str__(self) -> str:
        return f"{self.pdq},{self.quality},{self.timestamp:.{TIMESTAMP_DECIMALS}f}"


@dataclass(frozen=True)
class VpdqThresholds:
    """When two videos match: frame quality, frame distance and the two shares."""

    quality: int = DEFAULT_QUALITY_THRESHOLD
    distance: int = DEFAULT_DISTANCE_THRESHOLD
    query_match_pct: float = DEFAULT_QUERY_MATCH_PCT
    compared_match_pct: float = DEFAULT_COMPARED_MATCH_PCT


DEFAULT_THRESHOLDS: Final = VpdqThresholds()


@dataclass(frozen=True)
class VpdqScore:
    """How much of each video the other covers, in percent (0-100)."""

    query_match_pct: float
    compared_match_pct: float

    def reaches(self, query_match_pct: float, compared_match_pct: float) -> bool:
        """Whether both shares reach the given thresholds (and any frame matched at all)."""
        return (
            self.query_match_pct > 0
            and self.query_match_pct >= query_match_pct
            and self.compared_match_pct >= compared_match_pct
        )


# -- values ---------------------------------------------------------------------------------


def parse_frame(text: str) -> VpdqFrame:
    """One ``"pdq_hex,quality,timestamp"`` string (raises InvalidVpdq)."""
    parts = text.split(",")
    if len(parts) != 3:
        raise InvalidVpdq('a vPDQ frame is "pdq_hex,quality,timestamp"')
    pdq = parts[0].strip().lower()
    if len(pdq) != _PDQ_HEX_LENGTH or not set(pdq) <= _HEX_DIGITS:
        raise InvalidVpdq("a vPDQ frame's hash is 64 hexadecimal characters")
    try:
        quality, seconds = int(parts[1]), float(parts[2])
    except ValueError:
        raise InvalidVpdq("a vPDQ frame's quality is an integer and its time a number") from None
    if not 0 <= quality <= 100:
        raise InvalidVpdq("a vPDQ frame's quality is from 0 to 100")
    if not 0 <= seconds < math.inf:
        raise InvalidVpdq("a vPDQ frame's time is a non-negative number of seconds")
    return VpdqFrame(pdq, quality, seconds)


def parse_signal(value: str) -> list[VpdqFrame]:
    """The frames of a vPDQ signal: a JSON list of frame strings (raises InvalidVpdq)."""
    try:
        items = json.loads(value)
    except ValueError:
        raise InvalidVpdq("a vPDQ signal is a JSON list of frame strings") from None
    if not isinstance(items, list) or not items:
        raise InvalidVpdq("a vPDQ signal is a non-empty JSON list of frame strings")
    if not all(isinstance(item, str) for item in items):
        raise InvalidVpdq("a vPDQ signal is a JSON list of frame strings")
    return [parse_frame(item) for item in items]


def to_signal(frames: Iterable[VpdqFrame]) -> str:
    """The canonical vPDQ signal of ``frames`` (compact JSON, as banks store it)."""
    return json.dumps([str(frame) for frame in frames], separators=(",", ":"))


def check_match_pct(value: float, what: str = "match percentage") -> float:
    """A match threshold in percent: a number from 0 to 100."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise InvalidVpdq(f"the vPDQ {what} is a number from 0 to 100")
    return float(value)


# -- the algorithm --------------------------------------------------------------------------


def usable_hashes(
    frames: Iterable[VpdqFrame], quality: int = DEFAULT_QUALITY_THRESHOLD
) -> list[str]:
    """The hashes that take part in matching: deduplicated (first kept), quality >= ``quality``.

    Deduplicating first, as the reference matcher does: all frames of one hash have one quality
    in practice (the quality comes from the same pixels), so the order hardly ever matters.
    """
    seen: set[str] = set()
    kept: list[str] = []
    for frame in frames:
        if frame.pdq in seen:
            continue
        seen.add(frame.pdq)
        if frame.quality >= quality:
            kept.append(frame.pdq)
    return kept


def hashes_to_words(hashes: Sequence[str]) -> U64:
    """PDQ hex hashes as an (n, 4) array of big-endian 64-bit words."""
    if not hashes:
        return np.zeros((0, 4), dtype=np.uint64)
    raw = bytes.fromhex("".join(hashes))
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64).reshape(len(hashes), 4)


def matched_rows(query: U64, compared: U64, distance: int) -> tuple[npt.NDArray[np.bool_], ...]:
    """For each query row, whether some compared row is within ``distance``; and vice versa."""
    q_hit = np.zeros(query.shape[0], dtype=np.bool_)
    c_hit = np.zeros(compared.shape[0], dtype=np.bool_)
    if query.shape[0] == 0 or compared.shape[0] == 0:
        return q_hit, c_hit
    step = max(1, _PAIRS_PER_BLOCK // compared.shape[0])
    for start in range(0, query.shape[0], step):
        block = query[start : start + step]
        xor = block[:, None, :] ^ compared[None, :, :]
        close = np.bitwise_count(xor).sum(axis=2, dtype=np.int32) <= distance
        q_hit[start : start + step] = close.any(axis=1)
        c_hit |= close.any(axis=0)
    return q_hit, c_hit


def score_hashes(query: Sequence[str], compared: Sequence[str], distance: int) -> VpdqScore:
    """The two shares for already prepared (deduplicated, filtered) hash lists."""
    q_hit, c_hit = matched_rows(hashes_to_words(query), hashes_to_words(compared), distance)
    return VpdqScore(_pct(int(q_hit.sum()), len(query)), _pct(int(c_hit.sum()), len(compared)))


def score(
    query: Iterable[VpdqFrame],
    compared: Iterable[VpdqFrame],
    thresholds: VpdqThresholds = DEFAULT_THRESHOLDS,
) -> VpdqScore:
    """How much of ``query`` matches ``compared`` and the other way round, in percent."""
    return score_hashes(
        usable_hashes(query, thresholds.quality),
        usable_hashes(compared, thresholds.quality),
        thresholds.distance,
    )


def is_match(
    query: Iterable[VpdqFrame],
    compared: Iterable[VpdqFrame],
    thresholds: VpdqThresholds = DEFAULT_THRESHOLDS,
) -> bool:
    """Whether two videos match: both shares reach the thresholds."""
    result = score(query, compared, thresholds)
    return result.reaches(thresholds.query_match_pct, thresholds.compared_match_pct)


def _pct(count: int, total: int) -> float:
    return count * 100 / total if total else 0.0
