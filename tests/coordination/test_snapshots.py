"""A window's figures are kept as a snapshot, served while fresh and refreshed by the worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tarcza.accounts.permissions import AgencyKind, Principal, Role
from tarcza.coordination.service import CoordinationService
from tarcza.store.engine import Database
from tests.coordination.seed import MARCH, _report, seed

COORDINATOR = Principal(1, "maria", "ministry", AgencyKind.COORDINATOR, Role.COORDINATOR, True)
MARCH_BY_WEEK = ("2026-03-01", "2026-03-31", "week")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 4, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def csam(service: CoordinationService) -> object:
    return (
        service.figures(COORDINATOR, *MARCH_BY_WEEK)
        .table("reports_by_category")
        .value("csam", "current")
    )


def add_csam_reports(db: Database, n: int) -> None:
    with db.transaction() as session:
        session.add_all([_report(900 + i, "csam", MARCH) for i in range(n)])


def test_a_fresh_snapshot_answers_and_the_worker_refreshes_it(db: Database) -> None:
    seed(db)
    clock = Clock()
    service = CoordinationService(db, hotline_agency="hotline", selfprotect_bank="SELF_PROTECTION",
                                  max_age=timedelta(minutes=15), clock=clock)  # fmt: skip
    assert csam(service) == 20
    add_csam_reports(db, 6)
    clock.now += timedelta(minutes=5)
    assert csam(service) == 20  # the snapshot, 5 minutes old
    assert service.refresh() == 0  # not yet half its age limit... (5 < 7.5 minutes)
    clock.now += timedelta(minutes=5)
    assert service.refresh() == 1  # the worker's tick counts the window again
    assert csam(service) == 26


def test_a_stale_snapshot_is_counted_again_on_request(db: Database) -> None:
    seed(db)
    clock = Clock()
    service = CoordinationService(db, hotline_agency="hotline", selfprotect_bank="SELF_PROTECTION",
                                  max_age=timedelta(minutes=15), clock=clock)  # fmt: skip
    assert csam(service) == 20
    add_csam_reports(db, 6)
    clock.now += timedelta(minutes=16)
    assert csam(service) == 26


def test_without_snapshots_every_answer_is_counted(db: Database) -> None:
    seed(db)
    service = CoordinationService(db, hotline_agency="hotline", selfprotect_bank="SELF_PROTECTION")
    assert csam(service) == 20
    add_csam_reports(db, 6)
    assert csam(service) == 26
