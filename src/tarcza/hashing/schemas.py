"""The match API's request and answer models, and the errors the HTTP layer turns into 4xx."""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from tarcza.hashing.matcher import Match

MAX_BATCH: Final = 1000
MAX_SIGNAL_LENGTH: Final = 200_000  # a long video's vPDQ; the body limit still applies


class MatchRequestRejected(Exception):
    """A lookup names an unknown signal type or a malformed signal; nothing was matched.

    ``problems`` are (location, code, message), the location as in pydantic errors.
    """

    def __init__(self, problems: list[tuple[list[str | int], str, str]]) -> None:
        super().__init__(problems[0][2] if problems else "bad request")
        self.problems = problems


class PartnerUnauthorized(Exception):
    """No API key, or one that belongs to no enabled partner."""


class RateLimited(Exception):
    """The partner's key spent its tokens: try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


class SignalIn(BaseModel):
    """One signal to look up."""

    model_config = ConfigDict(extra="forbid")

    signal_type: str = Field(
        max_length=32, description="md5, sha1, sha256, pdq or vpdq", examples=["pdq"]
    )
    signal: str = Field(
        max_length=MAX_SIGNAL_LENGTH, description="The hash: hex (vPDQ: its JSON list)."
    )


class MatchRequest(BaseModel):
    """A batch of signals."""

    model_config = ConfigDict(extra="forbid")

    signals: list[SignalIn] = Field(min_length=1, max_length=MAX_BATCH)


class MatchOut(BaseModel):
    """A bank signal that matched."""

    bank: str
    label: str | None
    source: str = Field(description="Where the bank's signals come from (provenance).")
    signal_type: str
    signal: str = Field(description="The matched hash as the bank holds it.")
    distance: int = Field(description="Hamming distance for PDQ; 0 for exact matches.")
    bank_content_id: int = Field(description="The matched signal's id (as in HMA).")

    @classmethod
    def of(cls, match: Match) -> MatchOut:
        return cls(
            bank=match.bank,
            label=match.label,
            source=match.source,
            signal_type=match.signal_type.value,
            signal=match.signal,
            distance=match.distance,
            bank_content_id=match.signal_id,
        )


class SignalResult(BaseModel):
    """The matches of one looked-up signal (canonical spelling), in the order asked."""

    signal_type: str
    signal: str
    matches: list[MatchOut]


class MatchResponse(BaseModel):
    """One result per signal asked about."""

    results: list[SignalResult]
