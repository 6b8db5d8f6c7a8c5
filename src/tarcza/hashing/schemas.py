"""The match API's request and answer models, and the errors the HTTP layer turns into 4xx."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from tarcza.errors import Refused, Throttled, Unauthenticated
from tarcza.hashing.feed import FeedbackAction
from tarcza.hashing.matcher import Match

MAX_BATCH: Final = 1000
MAX_SIGNAL_LENGTH: Final = 200_000  # a long video's vPDQ; the body limit still applies


class MatchRequestRejected(Refused):
    """A lookup names an unknown signal type or a malformed signal; nothing was matched.

    ``problems`` are (location, code, message), the location as in pydantic errors.
    """

    def __init__(self, problems: list[tuple[list[str | int], str, str]]) -> None:
        first = problems[0] if problems else (["query"], "bad_request", "bad request")
        super().__init__(str(first[0][-1]), first[1], first[2])
        self._problems = problems

    @property
    def problems(self) -> Sequence[tuple[list[str | int], str, str]]:
        return self._problems


class PartnerUnauthorized(Unauthenticated):
    """No API key, or one that belongs to no enabled partner."""

    detail = "A valid API key is required: Authorization: Bearer <key>."
    challenge = "Bearer"


class RateLimited(Throttled):
    """The partner's key spent its tokens: try again after ``retry_after`` seconds."""

    detail = "Too many lookups. Try again later."


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
    distance: int = Field(
        description="Hamming distance for PDQ; 0 for exact matches; for vPDQ the share of the "
        "query's frames (per cent, rounded up) that matched no frame of the bank's video."
    )
    bank_content_id: int = Field(description="The matched signal's id (as in HMA).")
    query_match_pct: float | None = Field(
        default=None, description="vPDQ: per cent of the query's frames found in the bank's video."
    )
    compared_match_pct: float | None = Field(
        default=None, description="vPDQ: per cent of the bank video's frames found in the query."
    )

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
            query_match_pct=match.query_match_pct,
            compared_match_pct=match.compared_match_pct,
        )


class SignalResult(BaseModel):
    """The matches of one looked-up signal (canonical spelling), in the order asked."""

    signal_type: str
    signal: str
    matches: list[MatchOut]
    suppressed_matches: int = Field(
        default=0,
        description="How many matches in this key's banks an allow-list bank (known benign "
        "content, perhaps one this key cannot see) suppressed; they are not listed.",
    )


class MatchResponse(BaseModel):
    """One result per signal asked about."""

    results: list[SignalResult]


class ChangeOut(BaseModel):
    """One addition to or removal from a bank."""

    cursor: str = Field(description="Resume after this change by passing it as ?cursor=")
    op: str = Field(description="add or remove", examples=["add"])
    signal_type: str = Field(examples=["pdq"])
    signal: str
    at: datetime


class FeedOut(BaseModel):
    """A page of a bank's changes, oldest first."""

    bank: str
    changes: list[ChangeOut]
    next_cursor: str = Field(description="Pass as ?cursor= for the changes after this page.")
    has_more: bool = Field(description="More changes wait after this page.")


class FeedbackIn(BaseModel):
    """What the partner did about matches of one signal (never the content)."""

    model_config = ConfigDict(extra="forbid")

    signal_type: str = Field(max_length=32, examples=["pdq"])
    signal: str = Field(max_length=MAX_SIGNAL_LENGTH)
    action: FeedbackAction = Field(
        description="blocked: an upload was stopped; removed: reviewed and taken down; "
        "reviewed_kept: reviewed and left; false_positive: the match was wrong."
    )
    count: int = Field(default=1, ge=1, le=1_000_000, description="How many times.")


class FeedbackOut(BaseModel):
    """How many of the partner's bank signals the feedback was recorded on."""

    recorded: int
