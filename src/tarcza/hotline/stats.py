"""The hotline's measures for a period, as INHOPE hotlines report them.

- period: ``from`` and ``to`` as ISO dates (YYYY-MM-DD), whole UTC days, both ends included;
  by default the last 30 days ending today; at most 366 days; ``to`` not before ``from``;
- reports_received: reports of the intake agency (``settings.intake_agency``) created in it;
- items_reported / items_assessed: content items whose ``first_reported_at`` /
  ``assessed_at`` falls in it;
- by_classification: the items assessed in it, counted by their standing classification;
- time_to_assessment, time_to_notice, time_to_removal: for the items first reported in it,
  seconds from ``first_reported_at`` to ``assessed_at``, to ``noticed_at`` (the first notice or
  forward sent) and to ``removed_at`` (the removal the monitor saw); items without that moment
  are left out; each gives the count, the median and the 90th percentile (nearest rank on the
  sorted list: the value at position ceil(p/100 * n); None when there is no value);
- baseline_removed_within_3_days: of the items classified baseline, first reported in it and
  acted on (``noticed_at`` set), how many were removed within 3 days (72 hours) of the first
  report, and their share (None when there is none);
- series: for each day of the period, the items first reported, assessed and removed that day.
Everything is counted in the database, grouped by UTC day; the percentiles are ranked there
too (nearest rank, in integers), so both databases give the same figures; times are to the
millisecond.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Date, case, cast, func, select
from sqlalchemy.orm import Session

from tarcza.hotline.models import ContentItem
from tarcza.intake.models import Report

MAX_DAYS = 366
WITHIN = timedelta(days=3)
DEFAULT_DAYS = 30
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class PeriodRefused(ValueError):
    """A period that cannot be used: ``field`` names the parameter, ``code`` the rule.

    Codes: ``malformed`` (not a YYYY-MM-DD date), ``order`` (the end before the start),
    ``too_long`` (over MAX_DAYS days); ``reason`` says it in English for the API.
    """

    def __init__(self, field: str, code: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Period:
    """Whole UTC days from ``start`` to ``end``, both included."""

    start: date
    end: date  # inclusive

    @property
    def since(self) -> datetime:
        """The first moment of the period."""
        return datetime.combine(self.start, time(), UTC)

    @property
    def until(self) -> datetime:
        """The first moment after the period."""
        return datetime.combine(self.end + timedelta(days=1), time(), UTC)

    def holds(self, moment: datetime | None) -> bool:
        """Whether ``moment`` falls on one of the period's days (UTC)."""
        return moment is not None and self.since <= moment < self.until

    def days(self) -> list[date]:
        """Every day of the period, in order."""
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def period_of(start: str | None, end: str | None, today: date) -> Period:
    """The period from query text (ISO dates); the last 30 days ending ``today`` by default.

    Raises :class:`PeriodRefused` naming ``from`` or ``to`` for a malformed date, an end
    before the start, or a span over 366 days (blamed on the date the caller gave).
    """
    last = _day(end, "to") if end else today
    first = _day(start, "from") if start else last - timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        raise PeriodRefused("to", "order", "the end is before the start")
    if (last - first).days + 1 > MAX_DAYS:
        field = "to" if end else "from"
        raise PeriodRefused(field, "too_long", f"a period is at most {MAX_DAYS} days")
    return Period(first, last)


def _day(text: str, field: str) -> date:
    # fromisoformat alone also takes 20261123 and 2026-W47-1; the API promises YYYY-MM-DD.
    try:
        if not _ISO_DATE.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise PeriodRefused(field, "malformed", "a date such as 2026-11-23 (YYYY-MM-DD)") from None


@dataclass(frozen=True)
class Durations:
    """Seconds from the first report to one moment: how many, median, p90."""

    count: int
    median_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True)
class WithinThreeDays:
    """Acted-on baseline items, those removed within 3 days, and the share."""

    items: int
    removed_within_3_days: int
    share: float | None


@dataclass(frozen=True)
class Day:
    """One day's counts of items first reported, assessed and removed."""

    day: date
    reported: int
    assessed: int
    removed: int


@dataclass(frozen=True)
class HotlineFigures:
    """Every measure of one period (see the module's definitions)."""

    period: Period
    reports_received: int
    items_reported: int
    items_assessed: int
    by_classification: dict[str, int]
    time_to_assessment: Durations
    time_to_notice: Durations
    time_to_removal: Durations
    baseline_removed_within_3_days: WithinThreeDays
    series: list[Day]


def percentile(sorted_values: list[float], p: int) -> float | None:
    """Nearest-rank ``p``-th percentile (0-100) of an ascending list, None when it is empty.

    The value at position ceil(p/100 * n), counted from 1: for 1..10, p50 is 5 and p90 is 9.
    """
    if not sorted_values:
        return None
    # Integer ceiling: a float product such as 0.7 * 10 would round up past the rank.
    rank = max(1, -(-p * len(sorted_values) // 100))
    return sorted_values[rank - 1]


def durations(values: list[float]) -> Durations:
    """Count, median and 90th percentile (nearest rank) of ``values`` in seconds."""
    ordered = sorted(values)
    return Durations(len(ordered), percentile(ordered, 50), percentile(ordered, 90))


def hotline_figures(session: Session, period: Period, agency: str) -> HotlineFigures:
    """The measures of ``period`` for the hotline ``agency`` (its reports and all items).

    Counted in the database (grouped by UTC day; the moments are indexed): the answer reads a
    few rows per day whatever the volume, so the coordinator's national figures use it too.
    """
    since, until = period.since, period.until
    reports = session.scalar(
        select(func.count())
        .select_from(Report)
        .where(Report.owner_agency == agency, Report.created_at >= since, Report.created_at < until)
    )
    reported = _by_day(session, ContentItem.first_reported_at, period)
    removed = _by_day(session, ContentItem.removed_at, period)
    day = utc_day(session, ContentItem.assessed_at)
    assessed: Counter[date] = Counter()
    by_classification: Counter[str] = Counter()
    for when, classification, n in session.execute(
        select(day, ContentItem.classification, func.count())
        .where(ContentItem.assessed_at >= since, ContentItem.assessed_at < until)
        .group_by(day, ContentItem.classification)
    ):
        assessed[as_day(when)] += n
        if classification:
            by_classification[classification] += n
    first = ContentItem.first_reported_at
    in_period = (first >= since, first < until)
    return HotlineFigures(
        period=period,
        reports_received=int(reports or 0),
        items_reported=sum(reported.values()),
        items_assessed=sum(assessed.values()),
        by_classification=dict(by_classification),
        time_to_assessment=_durations(session, ContentItem.assessed_at, in_period),
        time_to_notice=_durations(session, ContentItem.noticed_at, in_period),
        time_to_removal=_durations(session, ContentItem.removed_at, in_period),
        baseline_removed_within_3_days=_within_three_days(session, in_period),
        series=[Day(d, reported[d], assessed[d], removed[d]) for d in period.days()],
    )


def utc_day(session: Session, column: Any) -> ColumnElement[Any]:
    """The UTC day of a timestamp column: a date (PostgreSQL) or YYYY-MM-DD text (SQLite).

    Read it back with :func:`as_day`.
    """
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    # SQLite keeps UTC timestamps as text that starts with the day.
    return func.substr(column, 1, 10)


def as_day(value: date | str) -> date:
    """A day read through :func:`utc_day`."""
    return value if isinstance(value, date) else date.fromisoformat(value)


def seconds_between(session: Session, start: Any, end: Any) -> ColumnElement[float]:
    """Seconds from ``start`` to ``end`` (to the millisecond), on either database."""
    if session.get_bind().dialect.name == "postgresql":
        return func.round(func.extract("epoch", end - start), 3)
    return func.round((func.julianday(end) - func.julianday(start)) * 86400.0, 3)


def _by_day(session: Session, moment: Any, period: Period) -> Counter[date]:
    day = utc_day(session, moment)
    rows = session.execute(
        select(day, func.count()).where(moment >= period.since, moment < period.until).group_by(day)
    )
    return Counter({as_day(when): int(n) for when, n in rows})


def _durations(session: Session, moment: Any, where: tuple[Any, ...]) -> Durations:
    """Count, median and p90 (nearest rank) of the seconds from the first report to ``moment``.

    The ranks are taken in the database (row_number over the sorted seconds): only the two
    values come back. Rank ceil(p/100 * n) in integers, as :func:`percentile` takes it.
    """
    seconds = seconds_between(session, ContentItem.first_reported_at, moment).label("s")
    ranked = (
        select(
            seconds,
            func.row_number().over(order_by=seconds).label("rank"),
            func.count().over().label("n"),
        )
        .where(moment.is_not(None), *where)
        .subquery()
    )
    wanted = [(p * ranked.c.n + 99) // 100 for p in (50, 90)]
    rows = session.execute(
        select(ranked.c.s, ranked.c.rank, ranked.c.n).where(ranked.c.rank.in_(wanted))
    ).all()
    if not rows:
        return Durations(0, None, None)
    n = int(rows[0].n)
    at = {int(row.rank): float(row.s) for row in rows}
    return Durations(n, at[max(1, -(-50 * n // 100))], at[max(1, -(-90 * n // 100))])


def _within_three_days(session: Session, where: tuple[Any, ...]) -> WithinThreeDays:
    seconds = seconds_between(session, ContentItem.first_reported_at, ContentItem.removed_at)
    fast = case((seconds <= WITHIN.total_seconds(), 1), else_=0)
    acted, removed = session.execute(
        select(func.count(), func.coalesce(func.sum(fast), 0)).where(
            ContentItem.classification == "baseline", ContentItem.noticed_at.is_not(None), *where
        )
    ).one()
    share = removed / acted if acted else None
    return WithinThreeDays(int(acted), int(removed), share)
