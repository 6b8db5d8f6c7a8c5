"""The hotline's measures for a period, computed on both databases from chosen timestamps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import count

import pytest

from tarcza.hotline.folding import fold_report_urls
from tarcza.hotline.models import ContentItem
from tarcza.hotline.stats import (
    HotlineFigures,
    Period,
    PeriodRefused,
    hotline_figures,
    percentile,
    period_of,
)
from tarcza.intake.models import Report
from tarcza.store.engine import Database

NOVEMBER = Period(date(2026, 11, 1), date(2026, 11, 30))
START = datetime(2026, 11, 1, tzinfo=UTC)
AFTER = datetime(2026, 12, 1, tzinfo=UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
_REFERENCES = count(1)


def report(
    db: Database, at: datetime, urls: tuple[str, ...] = (), agency: str = "hotline"
) -> list[int]:
    """A report created at ``at``; its URLs become content items (ids returned) reported then."""
    with db.transaction() as session:
        row = Report(
            reference=f"TZ-T{next(_REFERENCES):07d}",
            pin_hash="0" * 64,
            category="csam",
            status="received",
            priority=0,
            owner_agency=agency,
            child_in_danger=False,
            language="pl",
            source="web",
            urls=list(urls),
            created_at=at,
            updated_at=at,
        )
        session.add(row)
        session.flush()
        return fold_report_urls(session, row.id, urls, at)


def item(
    db: Database,
    url: str,
    reported: datetime,
    *,
    classification: str | None = None,
    assessed: timedelta | None = None,
    noticed: timedelta | None = None,
    removed: timedelta | None = None,
) -> None:
    """A content item reported at ``reported``, then assessed/noticed/removed after the spans."""
    [item_id] = report(db, reported, (url,))
    with db.transaction() as session:
        row = session.get_one(ContentItem, item_id)
        row.classification = classification
        row.assessed_at = reported + assessed if assessed is not None else None
        row.noticed_at = reported + noticed if noticed is not None else None
        row.removed_at = reported + removed if removed is not None else None


def figures(db: Database, period: Period = NOVEMBER) -> HotlineFigures:
    with db.sessions() as session:
        return hotline_figures(session, period, "hotline")


def test_nearest_rank_percentiles() -> None:
    one_to_ten = [float(v) for v in range(1, 11)]
    assert percentile(one_to_ten, 50) == 5.0
    assert percentile(one_to_ten, 90) == 9.0
    # 70% of 10 is exactly rank 7 (a float product would round it up to 8).
    assert percentile(one_to_ten, 70) == 7.0
    assert percentile([1.0, 2.0, 3.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([7.0], 90) == 7.0
    assert percentile([], 50) is None


def test_the_default_period_is_the_last_30_days() -> None:
    today = date(2026, 11, 23)
    assert period_of(None, None, today) == Period(date(2026, 10, 25), today)
    assert period_of("", "", today) == Period(date(2026, 10, 25), today)
    assert period_of(None, "2026-02-10", today) == Period(date(2026, 1, 12), date(2026, 2, 10))
    assert period_of("2026-11-20", None, today) == Period(date(2026, 11, 20), today)
    assert period_of("2026-11-23", "2026-11-23", today).days() == [today]


@pytest.mark.parametrize(
    ("start", "end", "field", "code"),
    [
        ("23.11.2026", None, "from", "malformed"),
        ("20261101", None, "from", "malformed"),
        ("2026-W47-1", None, "from", "malformed"),
        (None, "2026-02-30", "to", "malformed"),
        ("2026-11-23", "2026-11-22", "to", "order"),
        ("2025-01-01", "2026-01-02", "to", "too_long"),
        ("2024-01-01", None, "from", "too_long"),
    ],
)
def test_a_bad_period_names_the_field(
    start: str | None, end: str | None, field: str, code: str
) -> None:
    with pytest.raises(PeriodRefused) as refused:
        period_of(start, end, date(2026, 11, 23))
    assert (refused.value.field, refused.value.code) == (field, code)


def test_a_period_of_366_days_is_allowed() -> None:
    period = period_of("2024-01-01", "2024-12-31", date(2026, 11, 23))
    assert len(period.days()) == 366


def test_every_figure_of_a_period(db: Database) -> None:
    at = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)
    # Baseline: assessed in 1 h, notice in 2 h, removed in 2 days (within 3 days).
    item(
        db,
        "http://a.example/1",
        at,
        classification="baseline",
        assessed=HOUR,
        noticed=2 * HOUR,
        removed=2 * DAY,
    )
    # Baseline, removed exactly 72 hours after the first report: still within 3 days.
    item(
        db,
        "http://a.example/2",
        at,
        classification="baseline",
        assessed=2 * HOUR,
        noticed=3 * HOUR,
        removed=3 * DAY,
    )
    # Baseline, removed a second too late.
    item(
        db,
        "http://a.example/3",
        at,
        classification="baseline",
        assessed=3 * HOUR,
        noticed=4 * HOUR,
        removed=3 * DAY + timedelta(seconds=1),
    )
    # Baseline, assessed but not acted on yet: not among the acted-on baseline items.
    item(db, "http://a.example/4", at, classification="baseline", assessed=4 * HOUR)
    # Nationally illegal, notified, still online.
    item(
        db, "http://a.example/5", at, classification="national", assessed=5 * HOUR, noticed=6 * HOUR
    )
    # Waiting for assessment.
    item(db, "http://a.example/6", at)
    # One report outside the agency, one before the period: neither is counted as received.
    report(db, at, agency="helpline")
    report(db, START - timedelta(microseconds=1))

    got = figures(db)

    assert got.reports_received == 6
    assert (got.items_reported, got.items_assessed) == (6, 5)
    assert got.by_classification == {"baseline": 4, "national": 1}
    assessment = got.time_to_assessment
    assert (assessment.count, assessment.median_seconds, assessment.p90_seconds) == (
        5,
        3 * 3600,
        5 * 3600,
    )
    notice = got.time_to_notice
    assert (notice.count, notice.median_seconds, notice.p90_seconds) == (4, 3 * 3600, 6 * 3600)
    removal = got.time_to_removal
    assert (removal.count, removal.median_seconds, removal.p90_seconds) == (
        3,
        3 * 86400,
        3 * 86400 + 1,
    )
    within = got.baseline_removed_within_3_days
    assert (within.items, within.removed_within_3_days) == (3, 2)
    assert within.share == pytest.approx(2 / 3)
    by_day = {d.day: (d.reported, d.assessed, d.removed) for d in got.series}
    assert [d.day for d in got.series] == NOVEMBER.days()
    assert by_day[date(2026, 11, 10)] == (6, 5, 0)
    assert by_day[date(2026, 11, 12)] == (0, 0, 1)
    assert by_day[date(2026, 11, 13)] == (0, 0, 2)
    assert sum(r + a + x for r, a, x in by_day.values()) == 6 + 5 + 3


def test_both_ends_of_the_period_are_included(db: Database) -> None:
    last_moment = AFTER - timedelta(microseconds=1)
    item(db, "http://b.example/first", START, classification="national", assessed=HOUR)
    item(db, "http://b.example/last", last_moment)
    item(db, "http://b.example/after", AFTER, classification="national", assessed=HOUR)
    item(db, "http://b.example/before", START - timedelta(microseconds=1))

    got = figures(db)

    assert got.reports_received == 2
    assert (got.items_reported, got.items_assessed) == (2, 1)
    assert (got.series[0].day, got.series[0].reported) == (date(2026, 11, 1), 1)
    assert (got.series[-1].day, got.series[-1].reported) == (date(2026, 11, 30), 1)


def test_an_older_item_assessed_and_removed_in_the_period_counts_only_there(
    db: Database,
) -> None:
    old = START - 2 * DAY
    item(
        db,
        "http://c.example/old",
        old,
        classification="baseline",
        assessed=3 * DAY,
        noticed=3 * DAY,
        removed=4 * DAY,
    )

    got = figures(db)

    assert (got.items_reported, got.items_assessed) == (0, 1)
    assert got.by_classification == {"baseline": 1}
    # Times belong to the period of the first report, so none here.
    assert got.time_to_assessment.count == 0 and got.time_to_removal.count == 0
    assert got.baseline_removed_within_3_days.items == 0
    by_day = {d.day: d for d in got.series}
    assert (by_day[date(2026, 11, 2)].assessed, by_day[date(2026, 11, 3)].removed) == (1, 1)
    assert sum(d.reported for d in got.series) == 0


def test_an_empty_period_has_zeros_and_no_times(db: Database) -> None:
    item(db, "http://d.example/elsewhere", datetime(2026, 10, 5, tzinfo=UTC))

    got = figures(db)

    assert (got.reports_received, got.items_reported, got.items_assessed) == (0, 0, 0)
    assert got.by_classification == {}
    for durations in (got.time_to_assessment, got.time_to_notice, got.time_to_removal):
        assert (durations.count, durations.median_seconds, durations.p90_seconds) == (0, None, None)
    within = got.baseline_removed_within_3_days
    assert (within.items, within.removed_within_3_days, within.share) == (0, 0, None)
    assert len(got.series) == 30
    assert all((d.reported, d.assessed, d.removed) == (0, 0, 0) for d in got.series)


def test_an_address_reported_twice_is_one_item_from_its_first_report(db: Database) -> None:
    first = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
    report(db, first, ("http://e.example/page",))
    report(db, first + DAY, ("http://E.EXAMPLE/page?utm_source=mail",))

    got = figures(db)

    assert got.reports_received == 2
    assert got.items_reported == 1
    assert {d.day: d.reported for d in got.series if d.reported} == {date(2026, 11, 3): 1}
