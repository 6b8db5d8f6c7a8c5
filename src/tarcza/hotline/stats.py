"""The hotline's measures for a period, as INHOPE hotlines report them.

- reports_received: reports of the intake agency created in the period;
- items_reported / items_assessed: content items first reported / first assessed in it;
- by_classification: items assessed in the period by their standing classification;
- time_to_assessment, time_to_notice, time_to_removal: for items first reported in the period,
  seconds from the first report to the assessment, the first notice sent, and the removal seen
  by the monitor: count, median and p90 (nearest rank);
- baseline_removed_within_3_days: of the baseline items first reported in the period and
  notified, how many were removed within 3 days of the first report.
The period is whole UTC days, both ends included. Percentiles are computed in Python, so both
databases give the same figures.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tarcza.hotline.models import ContentItem
from tarcza.intake.models import Report

MAX_DAYS = 366
WITHIN = timedelta(days=3)


class PeriodRefused(ValueError):
    """A period that cannot be used; ``field`` names the parameter."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time(), UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time(), UTC)

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def period_of(start: str | None, end: str | None, today: date) -> Period:
    """The period from query text (ISO dates); the last 30 days ending today by default."""
    last = _day(end, "to") if end else today
    first = _day(start, "from") if start else last - timedelta(days=29)
    if last < first:
        raise PeriodRefused("to", "the end is before the start")
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodRefused("to", f"a period is at most {MAX_DAYS} days")
    return Period(first, last)


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PeriodRefused(field, "a date such as 2026-11-23") from None


@dataclass(frozen=True)
class Durations:
    count: int
    median_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True)
class WithinThreeDays:
    items: int
    removed_within_3_days: int
    share: float | None


@dataclass(frozen=True)
class Day:
    day: date
    reported: int
    assessed: int
    removed: int


@dataclass(frozen=True)
class HotlineFigures:
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


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty): 1..10 → p50 5, p90 9."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def durations(values: list[float]) -> Durations:
    ordered = sorted(values)
    return Durations(len(ordered), percentile(ordered, 50), percentile(ordered, 90))


def hotline_figures(session: Session, period: Period, agency: str) -> HotlineFigures:
    """The measures of ``period`` for the hotline ``agency`` (its reports)."""
    since, until = period.since, period.until
    reports = session.scalar(
        select(func.count())
        .select_from(Report)
        .where(Report.owner_agency == agency, Report.created_at >= since, Report.created_at < until)
    )
    rows = session.execute(
        select(
            ContentItem.first_reported_at,
            ContentItem.assessed_at,
            ContentItem.noticed_at,
            ContentItem.removed_at,
            ContentItem.classification,
        ).where(
            (ContentItem.first_reported_at < until)
            & (
                (ContentItem.first_reported_at >= since)
                | (ContentItem.assessed_at >= since)
                | (ContentItem.removed_at >= since)
            )
        )
    ).all()

    def inside(moment: datetime | None) -> bool:
        return moment is not None and since <= moment < until

    reported = [r for r in rows if inside(r.first_reported_at)]
    assessed = [r for r in rows if inside(r.assessed_at)]

    def spans(attribute: str) -> list[float]:
        return [
            (getattr(r, attribute) - r.first_reported_at).total_seconds()
            for r in reported
            if getattr(r, attribute) is not None
        ]

    baseline = [r for r in reported if r.classification == "baseline" and r.noticed_at]
    fast = [r for r in baseline if r.removed_at and r.removed_at - r.first_reported_at <= WITHIN]
    counts: dict[str, Counter[date]] = {
        name: Counter(
            getattr(r, f"{name}_at").date() for r in rows if inside(getattr(r, f"{name}_at"))
        )
        for name in ("assessed", "removed")
    }
    counts["reported"] = Counter(r.first_reported_at.date() for r in reported)
    return HotlineFigures(
        period=period,
        reports_received=int(reports or 0),
        items_reported=len(reported),
        items_assessed=len(assessed),
        by_classification=dict(Counter(r.classification for r in assessed if r.classification)),
        time_to_assessment=durations(spans("assessed_at")),
        time_to_notice=durations(spans("noticed_at")),
        time_to_removal=durations(spans("removed_at")),
        baseline_removed_within_3_days=WithinThreeDays(
            len(baseline), len(fast), len(fast) / len(baseline) if baseline else None
        ),
        series=[
            Day(d, counts["reported"][d], counts["assessed"][d], counts["removed"][d])
            for d in period.days()
        ],
    )
