"""When the monitor looks again, when removal is confirmed, when a notice is retried — pure.

Removal is confirmed, not guessed. One "gone" answer (HTTP 404/410, NXDOMAIN, the content
changed) can be a provider's hiccup, a DNS change in flight or a cache; so the check after a
first gone answer comes ``confirm_hours`` later, and the content counts as removed only when
that second conclusive answer is gone too:

- two gone answers (of any gone kind) at least ``confirm_hours`` apart, with no "present"
  between them, confirm the removal;
- a "present" between them resets it: the next gone answer starts a new pair;
- inconclusive answers (``error``, ``refused``) neither confirm nor reset: the site being
  unreachable for a while says nothing about the content;
- ``removed_at`` is the time of the FIRST gone answer of the confirmed pair: that is when the
  monitor first saw the content gone, and the second answer only shows it stayed gone. So the
  removal figures (time to removal, removed within 3 days) measure when the provider acted,
  not when the monitor's confirmation happened to run, and they count confirmed removals only
  (an item awaiting confirmation has no ``removed_at``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

#: Hours before check 1, 2, …, the last repeating (``TARCZA_MONITOR_BACKOFF_HOURS``).
DEFAULT_BACKOFF_HOURS: tuple[float, ...] = (1.0, 4.0, 12.0, 24.0)
#: Hours between the two gone answers that confirm a removal (``TARCZA_MONITOR_CONFIRM_HOURS``).
DEFAULT_CONFIRM_HOURS = 4.0
#: Minutes before retry 1, 2, … of a notice the mail server did not take, the last repeating.
DEFAULT_RETRY_MINUTES: tuple[float, ...] = (1.0, 5.0, 15.0, 60.0)


class Outcome(StrEnum):
    PRESENT = "present"
    GONE = "gone"  # HTTP 404 or 410
    # The name does not exist (NXDOMAIN), or exists with neither an A nor an AAAA record: no
    # one can reach the content by that name any more.
    UNRESOLVABLE = "unresolvable"
    CHANGED = "changed"  # the body's hash differs from the one first seen
    REFUSED = "refused"  # a private address, not fetched (SSRF guard)
    # Timeout, 5xx, refused connection, redirect, or a resolver that failed (SERVFAIL, no
    # answer from the servers): says nothing about the content, try again later.
    ERROR = "error"


_GONE = frozenset({Outcome.GONE, Outcome.UNRESOLVABLE, Outcome.CHANGED})


def gone(outcome: Outcome) -> bool:
    """Whether ``outcome`` says the content is gone (removal still needs confirming)."""
    return outcome in _GONE


def next_check_at(last: datetime, checks_done: int, backoff_hours: Sequence[float]) -> datetime:
    """``backoff_hours[checks_done]`` after ``last``; past the list's end the last value repeats."""
    return last + timedelta(hours=_backoff(checks_done, backoff_hours))


def first_check_at(acted_at: datetime, backoff_hours: Sequence[float]) -> datetime:
    """The first re-check: ``backoff_hours[0]`` after the notice (never at once)."""
    return next_check_at(acted_at, 0, backoff_hours)


def _backoff(checks_done: int, backoff_hours: Sequence[float]) -> float:
    if not backoff_hours or any(h <= 0 for h in backoff_hours):
        raise ValueError("monitor_backoff_hours must be a non-empty list of positive hours")
    return backoff_hours[min(checks_done, len(backoff_hours) - 1)]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one check's answer means for the item.

    ``gone_since``: the first gone answer of a pair awaiting confirmation (None when the last
    conclusive answer was present); ``removed_at``: set when this answer confirmed the
    removal (the first gone answer's time); ``next_check_at``: None once removed.
    """

    gone_since: datetime | None
    removed_at: datetime | None
    next_check_at: datetime | None

    @property
    def removed(self) -> bool:
        return self.removed_at is not None

    @property
    def pending(self) -> bool:
        """A gone answer waits for its confirmation."""
        return self.gone_since is not None and self.removed_at is None


def judge(
    outcome: Outcome,
    *,
    now: datetime,
    gone_since: datetime | None,
    checks_done: int,
    backoff_hours: Sequence[float],
    confirm_hours: float,
) -> Verdict:
    """The verdict on a check answering ``outcome`` at ``now``.

    ``gone_since`` is the item's pending first gone answer, ``checks_done`` the checks made
    before this one (it picks the backoff). Raises ``ValueError`` for a backoff that is not a
    non-empty list of positive hours or a ``confirm_hours`` that is not positive.
    """
    if not confirm_hours > 0:
        raise ValueError("monitor_confirm_hours must be a positive number of hours")
    confirm = timedelta(hours=confirm_hours)
    backoff = timedelta(hours=_backoff(checks_done, backoff_hours))
    if gone(outcome):
        if gone_since is None:
            return Verdict(now, None, now + confirm)
        if now - gone_since >= confirm:
            return Verdict(gone_since, gone_since, None)
        # Checked again too soon (a check scheduled before the first gone answer): wait.
        return Verdict(gone_since, None, gone_since + confirm)
    if outcome is Outcome.PRESENT:
        return Verdict(None, None, now + backoff)
    if gone_since is None:
        return Verdict(None, None, now + backoff)
    # Inconclusive while a removal waits: look again soon, not after the whole backoff.
    return Verdict(gone_since, None, now + min(confirm, backoff))


def pending_since(answers: Iterable[tuple[Outcome, datetime]]) -> datetime | None:
    """The first gone answer awaiting confirmation in ``answers`` (oldest first), or None.

    The same rule as :func:`judge`, read back from the checks a page shows.
    """
    since: datetime | None = None
    for outcome, at in answers:
        if gone(outcome):
            since = since or at
        elif outcome is Outcome.PRESENT:
            since = None
    return since


def escalation_due(
    noticed_at: datetime | None, escalated_at: datetime | None, now: datetime, days: float
) -> bool:
    """Still online ``days`` after the first notice, and again every ``days`` after that."""
    if noticed_at is None:
        return False
    since = escalated_at or noticed_at
    return now - since >= timedelta(days=days)


# --- notices ---------------------------------------------------------------------------------


def notice_retry_at(now: datetime, tries: int, retry_minutes: Sequence[float]) -> datetime:
    """When a notice that failed its ``tries``-th hand-off (1 = the first) is tried again.

    ``retry_minutes[tries - 1]`` after ``now``; past the list's end the last value repeats.
    """
    if not retry_minutes or any(m <= 0 for m in retry_minutes):
        raise ValueError("notice_retry_minutes must be a non-empty list of positive minutes")
    minutes = retry_minutes[min(max(tries, 1) - 1, len(retry_minutes) - 1)]
    return now + timedelta(minutes=minutes)


def notice_gives_up(tries: int, max_tries: int) -> bool:
    """Whether a notice that failed ``tries`` hand-offs for a passing reason is failed for good."""
    return tries >= max_tries
