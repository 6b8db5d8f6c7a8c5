"""When the monitor looks again, what counts as removal, when to escalate — pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum


class Outcome(StrEnum):
    PRESENT = "present"
    GONE = "gone"  # HTTP 404 or 410
    UNRESOLVABLE = "unresolvable"  # the name no longer resolves
    CHANGED = "changed"  # the body's hash differs from the one first seen
    REFUSED = "refused"  # a private address, not fetched (SSRF guard)
    ERROR = "error"  # timeout, 5xx, refused connection, redirect: try again later


_REMOVED = frozenset({Outcome.GONE, Outcome.UNRESOLVABLE, Outcome.CHANGED})


def removed(outcome: Outcome) -> bool:
    """Whether ``outcome`` means the content is gone (the others are inconclusive or present)."""
    return outcome in _REMOVED


def next_check_at(last: datetime, checks_done: int, backoff_hours: Sequence[float]) -> datetime:
    """``backoff_hours[checks_done]`` after ``last``; past the list's end the last value repeats."""
    if not backoff_hours or any(h <= 0 for h in backoff_hours):
        raise ValueError("monitor_backoff_hours must be a non-empty list of positive hours")
    hours = backoff_hours[min(checks_done, len(backoff_hours) - 1)]
    return last + timedelta(hours=hours)


def escalation_due(
    noticed_at: datetime | None, escalated_at: datetime | None, now: datetime, days: float
) -> bool:
    """Still online ``days`` after the first notice, and again every ``days`` after that."""
    if noticed_at is None:
        return False
    since = escalated_at or noticed_at
    return now - since >= timedelta(days=days)
