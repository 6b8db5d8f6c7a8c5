"""What partners read of a bank and tell back: its change feed, and their feedback on matches.

The feed is the bank's part of the ``signal_changes`` log (additions and removals in commit
order), read page by page from an opaque cursor, so a partner that stores the last cursor it
applied resumes where it stopped and never misses a removal. Feedback records what a partner
did about a match (blocked an upload, reviewed it, found it a false positive) and how many
times — never the content.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tarcza.errors import NotFound, Refused
from tarcza.hashing import banks
from tarcza.hashing.models import Bank, BankSignal, SignalChange, SignalFeedback

MAX_PAGE = 1000
DEFAULT_PAGE = 500
_CURSOR_PREFIX = "c1:"


class FeedRefused(Refused):
    """A cursor, page size or feedback that cannot be used."""


class NoSuchBank(NotFound):
    """No bank of this name that the partner may read."""

    detail = "No bank of this name that this key may read."


class FeedbackAction(StrEnum):
    """What a partner did about a match."""

    BLOCKED = "blocked"  # the upload was stopped (a copy that did not go online)
    REMOVED = "removed"  # reviewed and taken down
    REVIEWED_KEPT = "reviewed_kept"  # reviewed: not the banked content, or lawful
    FALSE_POSITIVE = "false_positive"  # the match was wrong


# The actions that count as a copy stopped, for the person who protected an image.
STOPPED = frozenset({FeedbackAction.BLOCKED, FeedbackAction.REMOVED})


@dataclass(frozen=True)
class Change:
    """One entry of a bank's feed."""

    cursor: str
    op: str  # "add" or "remove"
    signal_type: str
    signal: str
    at: datetime


@dataclass(frozen=True)
class FeedPage:
    """A page of changes; ``next_cursor`` resumes after its last one."""

    bank: str
    changes: list[Change]
    next_cursor: str
    has_more: bool


def encode_cursor(seq: int) -> str:
    """The opaque cursor for a position in the log."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The log position a cursor stands for (0, the beginning, for none)."""
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    seq = raw.removeprefix(_CURSOR_PREFIX)
    if not raw.startswith(_CURSOR_PREFIX) or not seq.isdigit() or len(seq) > 18:
        raise FeedRefused("cursor", "invalid_cursor", "not a cursor this feed gave")
    return int(seq)


def read_changes(
    session: Session, bank_id: int, bank_name: str, cursor: str | None, limit: int
) -> FeedPage:
    """The changes of one bank after ``cursor``, oldest first, at most ``limit``."""
    if not 1 <= limit <= MAX_PAGE:
        raise FeedRefused("limit", "invalid_limit", f"a page holds 1 to {MAX_PAGE} changes")
    after = decode_cursor(cursor)
    rows = session.execute(
        select(SignalChange.seq, SignalChange.op, SignalChange.created_at, BankSignal)
        .join(BankSignal, BankSignal.id == SignalChange.signal_id)
        .where(BankSignal.bank_id == bank_id, SignalChange.seq > after)
        .order_by(SignalChange.seq)
        .limit(limit + 1)
    ).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    changes = [
        Change(
            cursor=encode_cursor(seq),
            op=op,
            signal_type=signal.signal_type,
            signal=signal.value,
            at=at,
        )
        for seq, op, at, signal in rows
    ]
    last = rows[-1][0] if rows else after
    return FeedPage(bank_name, changes, encode_cursor(last), has_more)


def record_feedback(
    session: Session,
    partner_id: int,
    scope: frozenset[int],
    signal_type: str,
    signal: str,
    action: FeedbackAction,
    count: int,
    now: datetime,
) -> int:
    """Record feedback on every live signal within ``scope`` equal to this one; how many."""
    try:
        kind = banks.parse_signal_type(signal_type)
        canonical = banks.normalise_signal(kind, signal)
    except banks.InvalidSignal as exc:
        raise FeedRefused("signal", exc.code, exc.message) from None
    signal_ids = session.scalars(
        select(BankSignal.id)
        .join(Bank, Bank.id == BankSignal.bank_id)
        .where(
            BankSignal.bank_id.in_(scope),
            BankSignal.signal_type == kind.value,
            BankSignal.lookup_key == banks.lookup_key(canonical),
        )
    ).all()
    if not signal_ids:
        raise FeedRefused("signal", "unknown_signal", "no bank of yours holds this signal")
    session.add_all(
        SignalFeedback(
            signal_id=sid, partner_id=partner_id, action=action.value, count=count, created_at=now
        )
        for sid in signal_ids
    )
    return len(signal_ids)


def stopped_copies(session: Session, signal_ids: Sequence[int]) -> int:
    """How many copies of these signals partners said they stopped (blocked or removed)."""
    if not signal_ids:
        return 0
    total = session.scalar(
        select(func.coalesce(func.sum(SignalFeedback.count), 0)).where(
            SignalFeedback.signal_id.in_(list(signal_ids)),
            SignalFeedback.action.in_([a.value for a in STOPPED]),
        )
    )
    return int(total or 0)
