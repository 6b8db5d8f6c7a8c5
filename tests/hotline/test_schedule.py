"""The monitor's and the outbox's pure timing rules: removal confirmed, not guessed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tarcza.hotline import schedule
from tarcza.hotline.schedule import Outcome, Verdict, judge

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BACKOFF = (1.0, 4.0, 12.0, 24.0)
HOUR = timedelta(hours=1)


def verdict(
    outcome: Outcome, at: datetime, gone_since: datetime | None, checks: int = 1
) -> Verdict:
    return judge(
        outcome,
        now=at,
        gone_since=gone_since,
        checks_done=checks,
        backoff_hours=BACKOFF,
        confirm_hours=4.0,
    )


def test_the_first_check_waits_the_first_backoff() -> None:
    assert schedule.first_check_at(NOW, BACKOFF) == NOW + HOUR
    assert schedule.first_check_at(NOW, [0.25]) == NOW + timedelta(minutes=15)
    with pytest.raises(ValueError, match="monitor_backoff_hours"):
        schedule.first_check_at(NOW, [])


@pytest.mark.parametrize("first", [Outcome.GONE, Outcome.UNRESOLVABLE, Outcome.CHANGED])
def test_one_gone_answer_only_asks_for_a_confirmation_hours_later(first: Outcome) -> None:
    seen = verdict(first, NOW, None)
    assert not seen.removed and seen.pending
    assert (seen.gone_since, seen.next_check_at) == (NOW, NOW + 4 * HOUR)


def test_a_second_gone_answer_confirms_and_dates_the_removal_from_the_first() -> None:
    confirmed = verdict(Outcome.UNRESOLVABLE, NOW + 4 * HOUR, NOW)
    assert confirmed.removed and not confirmed.pending
    assert (confirmed.removed_at, confirmed.next_check_at) == (NOW, None)


def test_a_second_gone_answer_too_soon_waits_for_the_confirmation_time() -> None:
    early = verdict(Outcome.GONE, NOW + HOUR, NOW)
    assert not early.removed and early.pending
    assert early.next_check_at == NOW + 4 * HOUR


def test_present_in_between_resets_the_pair() -> None:
    back = verdict(Outcome.PRESENT, NOW + 4 * HOUR, NOW, checks=2)
    assert (back.gone_since, back.removed_at) == (None, None)
    assert back.next_check_at == NOW + 4 * HOUR + 12 * HOUR  # the backoff again


@pytest.mark.parametrize("inconclusive", [Outcome.ERROR, Outcome.REFUSED])
def test_an_inconclusive_answer_neither_confirms_nor_resets(inconclusive: Outcome) -> None:
    waiting = verdict(inconclusive, NOW + 4 * HOUR, NOW, checks=3)
    assert waiting.pending and waiting.gone_since == NOW
    assert waiting.next_check_at == NOW + 8 * HOUR  # min(confirm 4 h, backoff 24 h)
    assert verdict(Outcome.GONE, NOW + 8 * HOUR, NOW).removed_at == NOW


def test_confirm_hours_must_be_positive() -> None:
    with pytest.raises(ValueError, match="monitor_confirm_hours"):
        judge(Outcome.GONE, now=NOW, gone_since=None, checks_done=0, backoff_hours=BACKOFF,
              confirm_hours=0)  # fmt: skip


def test_pending_since_reads_the_same_rule_back_from_checks() -> None:
    answers = [
        (Outcome.GONE, NOW),
        (Outcome.PRESENT, NOW + HOUR),
        (Outcome.CHANGED, NOW + 2 * HOUR),
        (Outcome.ERROR, NOW + 3 * HOUR),
        (Outcome.GONE, NOW + 4 * HOUR),
    ]
    assert schedule.pending_since(answers) == NOW + 2 * HOUR
    assert schedule.pending_since(answers[:2]) is None
    assert schedule.pending_since([]) is None


def test_notice_retries_follow_the_list_then_repeat_its_last_value() -> None:
    minutes = [1.0, 5.0, 15.0, 60.0]
    waits = [schedule.notice_retry_at(NOW, n, minutes) - NOW for n in range(1, 7)]
    assert waits == [timedelta(minutes=m) for m in (1, 5, 15, 60, 60, 60)]
    assert not schedule.notice_gives_up(9, 10) and schedule.notice_gives_up(10, 10)
    with pytest.raises(ValueError, match="notice_retry_minutes"):
        schedule.notice_retry_at(NOW, 1, [])


# --- properties: a monitor run folded over random answers ------------------------------------

ANSWERS = st.sampled_from(list(Outcome))


@dataclass
class Run:
    """What the fold saw: every answer with its time, and the removal if one was confirmed."""

    answers: list[tuple[Outcome, datetime]]
    removed_at: datetime | None
    removed_on: int | None  # index of the answer that confirmed it


def monitor(outcomes: list[Outcome], delays: list[float], confirm: float) -> Run:
    """Feed ``outcomes`` to :func:`judge`, each check ``delays[i]`` hours after it was due."""
    gone_since: datetime | None = None
    due = NOW
    answers: list[tuple[Outcome, datetime]] = []
    for i, outcome in enumerate(outcomes):
        at = due + timedelta(hours=delays[i % len(delays)])
        result = judge(
            outcome,
            now=at,
            gone_since=gone_since,
            checks_done=i,
            backoff_hours=BACKOFF,
            confirm_hours=confirm,
        )
        answers.append((outcome, at))
        if result.removed:
            return Run(answers, result.removed_at, i)
        assert result.next_check_at is not None and result.next_check_at > at  # never before now
        gone_since, due = result.gone_since, result.next_check_at
    return Run(answers, None, None)


RUNS = {
    "outcomes": st.lists(ANSWERS, min_size=1, max_size=25),
    "delays": st.lists(st.floats(0, 30), min_size=1, max_size=5),
    "confirm": st.floats(0.01, 48),
}


@given(**RUNS)
def test_never_removed_on_a_single_gone_answer(
    outcomes: list[Outcome], delays: list[float], confirm: float
) -> None:
    run = monitor(outcomes, delays, confirm)
    if run.removed_on is not None:
        gone = [o for o, _ in run.answers if schedule.gone(o)]
        assert len(gone) >= 2
        assert schedule.gone(run.answers[run.removed_on][0])  # removed only on a gone answer


@given(**RUNS)
def test_never_removed_when_a_present_lies_between(
    outcomes: list[Outcome], delays: list[float], confirm: float
) -> None:
    run = monitor(outcomes, delays, confirm)
    if run.removed_on is None:
        return
    first = next(i for i, (_, at) in enumerate(run.answers) if at == run.removed_at)
    between = [o for o, _ in run.answers[first : run.removed_on + 1]]
    assert schedule.gone(between[0]) and Outcome.PRESENT not in between
    confirming_at = run.answers[run.removed_on][1]
    assert confirming_at - run.removed_at >= timedelta(hours=confirm)  # type: ignore[operator]


@given(**RUNS)
def test_removal_happens_exactly_when_the_rule_says(
    outcomes: list[Outcome], delays: list[float], confirm: float
) -> None:
    """An independent statement of the rule: the first gone answer that lies ``confirm``
    hours or more after the first gone answer of its streak (no present since) removes."""
    run = monitor(outcomes, delays, confirm)
    streak: datetime | None = None
    expected: tuple[int, datetime] | None = None
    for i, (outcome, at) in enumerate(run.answers):
        if outcome is Outcome.PRESENT:
            streak = None
        elif schedule.gone(outcome):
            if streak is not None and at - streak >= timedelta(hours=confirm):
                expected = (i, streak)
                break
            streak = streak or at
    assert (None if expected is None else expected) == (
        None if run.removed_on is None else (run.removed_on, run.removed_at)
    )
