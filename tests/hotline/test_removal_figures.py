"""The hotline's removal figures: computed on both databases, served as JSON and as a page."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tarcza.accounts.permissions import Role
from tarcza.hotline.models import ContentItem
from tarcza.hotline.monitor import CheckResult
from tarcza.hotline.monitoring import run_check
from tarcza.hotline.schedule import Outcome
from tarcza.hotline.stats import Period, PeriodRefused, hotline_figures, percentile, period_of
from tarcza.intake.models import Report
from tarcza.store.engine import Database
from tests.support.staff import add_agencies, add_staff, context, sign_in

DAY = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)


def item(db: Database, n: int, reported: datetime, **kw: object) -> None:
    with db.transaction() as session:
        session.add(
            ContentItem(
                url_key=f"k{n}",
                url=f"http://example.test/{n}",
                host="example.test",
                state=str(kw.pop("state", "open")),
                first_reported_at=reported,
                last_reported_at=reported,
                **kw,
            )
        )


def report(db: Database, n: int, at: datetime, agency: str = "hotline") -> None:
    with db.transaction() as session:
        session.add(
            Report(
                reference=f"TZ-AAAA-{n:04d}",
                pin_hash="x" * 64,
                category="csam",
                status="received",
                priority=0,
                owner_agency=agency,
                child_in_danger=False,
                language="pl",
                source="web",
                urls=[],
                created_at=at,
                updated_at=at,
            )
        )


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 11)]
    assert (percentile(values, 50), percentile(values, 90)) == (5.0, 9.0)
    assert percentile([], 50) is None
    assert percentile([7.0], 90) == 7.0


def test_periods_default_and_refused() -> None:
    today = date(2026, 11, 23)
    assert period_of(None, None, today) == Period(date(2026, 10, 25), today)
    with pytest.raises(PeriodRefused) as bad:
        period_of("2026-11-23", "2026-11-01", today)
    assert bad.value.field == "to"
    with pytest.raises(PeriodRefused) as malformed:
        period_of("23.11.2026", None, today)
    assert malformed.value.field == "from"
    with pytest.raises(PeriodRefused):
        period_of("2024-01-01", "2026-01-01", today)


def test_every_figure_of_a_period(db: Database) -> None:
    hours = timedelta(hours=1)
    # Baseline, removed in 2 days; baseline, removed in 4 days; national, not removed.
    item(
        db,
        1,
        DAY,
        state="removed",
        classification="baseline",
        assessed_at=DAY + 2 * hours,
        noticed_at=DAY + 3 * hours,
        removed_at=DAY + timedelta(days=2),
    )
    item(
        db,
        2,
        DAY + hours,
        state="removed",
        classification="baseline",
        assessed_at=DAY + 5 * hours,
        noticed_at=DAY + 6 * hours,
        removed_at=DAY + hours + timedelta(days=4),
    )
    item(
        db,
        3,
        DAY,
        state="actioned",
        classification="national",
        assessed_at=DAY + 4 * hours,
        noticed_at=DAY + 5 * hours,
    )
    item(db, 4, DAY, state="open")
    item(db, 5, DAY - timedelta(days=40), state="open")  # before the period
    report(db, 1, DAY)
    report(db, 2, DAY + hours)
    report(db, 3, DAY, agency="helpline")  # another agency's report
    with db.sessions() as session:
        figures = hotline_figures(session, Period(date(2026, 11, 1), date(2026, 11, 30)), "hotline")
    assert figures.reports_received == 2
    assert (figures.items_reported, figures.items_assessed) == (4, 3)
    assert figures.by_classification == {"baseline": 2, "national": 1}
    assert figures.time_to_assessment.count == 3
    assert figures.time_to_assessment.median_seconds == 4 * 3600
    assert figures.time_to_assessment.p90_seconds == 4 * 3600
    assert figures.time_to_notice.median_seconds == 5 * 3600
    assert figures.time_to_removal.count == 2
    assert figures.time_to_removal.median_seconds == 2 * 86400
    assert figures.time_to_removal.p90_seconds == 4 * 86400
    within = figures.baseline_removed_within_3_days
    assert (within.items, within.removed_within_3_days, within.share) == (2, 1, 0.5)
    by_day = {d.day: d for d in figures.series}
    assert len(figures.series) == 30
    assert by_day[date(2026, 11, 10)].reported == 4
    assert by_day[date(2026, 11, 12)].removed == 1 and by_day[date(2026, 11, 14)].removed == 1


def test_removal_counts_once_confirmed_and_dates_from_the_first_gone_answer(
    db: Database,
) -> None:
    # Reported at DAY, notice 3 hours later; the monitor sees it gone at 2 days 22 hours and
    # confirms it 4 hours later, past the 3 days: the provider acted within 3 days.
    item(
        db,
        1,
        DAY,
        state="actioned",
        classification="baseline",
        assessed_at=DAY + timedelta(hours=2),
        noticed_at=DAY + timedelta(hours=3),
    )
    first_gone = DAY + timedelta(days=2, hours=22)
    period = Period(date(2026, 11, 1), date(2026, 11, 30))

    def gone(url: str, baseline: str | None) -> CheckResult:
        return CheckResult(Outcome.GONE, 404, None, None)

    def figures_at(at: datetime) -> tuple[int, float | None, int | None]:
        with db.transaction() as session:
            row = session.scalars(select(ContentItem)).one()
            row.next_check_at = row.next_check_at or at  # due now (the backoff is not tested here)
        run_check(db, row.id, gone, [1.0], 3, at, confirm_hours=4.0)
        with db.sessions() as session:
            f = hotline_figures(session, period, "hotline")
        within = f.baseline_removed_within_3_days
        return (
            f.time_to_removal.count,
            f.time_to_removal.median_seconds,
            within.removed_within_3_days,
        )

    # One gone answer: not removed yet, so not counted anywhere.
    assert figures_at(first_gone) == (0, None, 0)
    # The confirming answer: counted, from the first gone answer.
    assert figures_at(first_gone + timedelta(hours=4)) == (1, (first_gone - DAY).total_seconds(), 1)
    with db.sessions() as session:
        f = hotline_figures(session, period, "hotline")
    assert {d.day: d.removed for d in f.series}[first_gone.date()] == 1


def test_an_empty_period_has_zeros_and_no_times(db: Database) -> None:
    with db.sessions() as session:
        figures = hotline_figures(session, Period(date(2026, 1, 1), date(2026, 1, 1)), "hotline")
    assert figures.items_reported == 0 and figures.time_to_removal.median_seconds is None
    assert figures.baseline_removed_within_3_days.share is None


def test_who_reads_the_figures_through_http(client: TestClient) -> None:
    ctx = context(client)
    add_agencies(ctx)
    item(
        ctx.db,
        1,
        datetime.now(UTC) - timedelta(days=1),
        state="removed",
        classification="baseline",
        assessed_at=datetime.now(UTC) - timedelta(hours=20),
        noticed_at=datetime.now(UTC) - timedelta(hours=19),
        removed_at=datetime.now(UTC),
    )

    def person(agency: str, role: Role) -> TestClient:
        who = TestClient(client.app, base_url="http://127.0.0.1")
        sign_in(who, add_staff(ctx, agency, role))
        return who

    supervisor = person("hotline", Role.SUPERVISOR)
    answer = supervisor.get("/api/v1/stats/hotline")
    assert answer.status_code == 200
    assert answer.json()["time_to_removal"]["count"] == 1
    assert answer.json()["baseline_removed_within_3_days"]["share"] == 1.0
    assert person("ministry", Role.COORDINATOR).get("/api/v1/stats/hotline").status_code == 200
    assert person("police", Role.SUPERVISOR).get("/api/v1/stats/hotline").status_code == 404
    assert person("hotline", Role.ANALYST).get("/api/v1/stats/hotline").status_code == 403
    anonymous = TestClient(client.app, base_url="http://127.0.0.1")
    assert anonymous.get("/api/v1/stats/hotline").status_code == 401

    bad = supervisor.get("/api/v1/stats/hotline", params={"from": "2026-13-01"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "from"]

    page = supervisor.get("/staff/hotline/stats")
    assert page.status_code == 200
    assert 'role="img"' in page.text and 'id="time_to_removal"' in page.text
    assert "Treści bazowe usunięte w ciągu 3 dni" in page.text
    english = supervisor.get("/staff/hotline/stats", params={"lang": "en"})
    assert "Baseline items removed within 3 days" in english.text
    refused = supervisor.get(
        "/staff/hotline/stats", params={"from": "2026-11-23", "to": "x", "lang": "pl"}
    )
    assert refused.status_code == 422 and "Podaj koniec" in refused.text
