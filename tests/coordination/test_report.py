"""The monthly report: a PDF in Polish and English, made once by the job, by the CLI, audited.

Invented figures (tests.coordination.seed): March 2026 beside February, with a count of 3
that the report must never show; an MNR action overdue and a phase changed in March.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from tarcza.accounts.permissions import AgencyKind, Principal, Role
from tarcza.audit.models import AuditEntry
from tarcza.coordination.report import ReportRefused, ReportService, month_of
from tarcza.coordination.service import CoordinationService
from tarcza.errors import Denied
from tarcza.mnr.service import MnrService
from tarcza.mnr.views import CapabilityChange, NewAction
from tarcza.store.engine import Database
from tests.coordination.seed import seed
from tests.support.pdf import text_of

COORDINATOR = Principal(1, "maria", "ministry", AgencyKind.COORDINATOR, Role.COORDINATOR, True)
SUPERVISOR = Principal(2, "halina", "hotline", AgencyKind.HOTLINE, Role.SUPERVISOR, True)
IN_MARCH = datetime(2026, 3, 20, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def service(db: Database, tmp_path: Path, clock: Clock) -> ReportService:
    figures = CoordinationService(
        db, hotline_agency="hotline", selfprotect_bank="SELF_PROTECTION", clock=clock
    )
    mnr = MnrService(db, clock=clock, agency_codes={"hotline": "hotline", "police": "police"})
    return ReportService(figures, db, tmp_path / "reports", tracker=mnr.for_report, clock=clock)


def march_tracker(db: Database, clock: Clock) -> None:
    """In March: capability 4 reaches phase 2; an action due on 10 March is still open."""
    mnr = MnrService(db, clock=clock, agency_codes={"hotline": "hotline", "police": "police"})
    clock.now = IN_MARCH
    mnr.update(COORDINATOR, 4, CapabilityChange(phase=2, evidence="Unit staffed in 16 regions."))
    mnr.add_action(COORDINATOR, 4, NewAction("Train duty officers", "police", "2026-03-10"))


@pytest.fixture
def reports(db: Database, tmp_path: Path) -> ReportService:
    seed(db)
    clock = Clock(IN_MARCH)
    march_tracker(db, clock)
    clock.now = datetime(2026, 4, 1, 0, 5, tzinfo=UTC)
    return service(db, tmp_path, clock)


def test_the_report_is_made_in_polish_and_english(reports: ReportService) -> None:
    polish = text_of(reports.render(date(2026, 3, 1), "pl"))
    english = text_of(reports.render(date(2026, 3, 1), "en"))

    assert "Raport miesięczny: krajowe dane, marzec 2026" in polish
    assert "Monthly report: national figures, March 2026" in english
    for heading in ("What changed since the last report", "Reports by category",
                    "The Model National Response tracker", "Hotline"):  # fmt: skip
        assert heading in english
    assert "Co się zmieniło od poprzedniego raportu" in polish
    # The month beside the one before, suppressed as the page: 20 csam, "<5" sextortion.
    assert re.search(r"CSAM[^\n]*20", english) or "20" in english
    assert "<5" in english and "<5" in polish
    # The tracker: capability 4's phase change and its overdue action.
    assert "Train duty officers" in english
    assert "phase: 1 -> 2" in english
    assert "Unit staffed in 16 regions." in english


def test_no_count_of_three_appears_in_the_report(reports: ReportService) -> None:
    for language in ("pl", "en"):
        text = text_of(reports.render(date(2026, 3, 1), language))
        plain = _without_dates(text)
        found = [plain[max(0, m.start() - 60) : m.end() + 10] for m in THREE.finditer(plain)]
        assert not found, (language, found)


THREE = re.compile(r"(?<![\d.:<\-])3(?![\d.:\-%])")


def _without_dates(text: str) -> str:
    text = re.sub(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2})?", "", text)
    text = re.sub(r"(?m)^\s*\d+\. ", "", text)  # the tracker's capability numbers
    text = re.sub(r"\d+ KiB", "", text)
    return re.sub(r"(?i)(phase|faza|etap) \d|within\s+3\s+days|ciągu\s+3\s+dni|p90|90", "", text)


def test_the_job_makes_last_months_report_once(
    db: Database, tmp_path: Path, reports: ReportService
) -> None:
    assert reports.due() is True
    kept = reports.listing(COORDINATOR)
    assert [(r.month, r.language) for r in kept] == [("2026-03", "pl"), ("2026-03", "en")]
    first = [reports.path("2026-03", lang).stat().st_mtime_ns for lang in ("pl", "en")]

    assert reports.due() is False  # the next tick: already made
    assert [reports.path("2026-03", lang).stat().st_mtime_ns for lang in ("pl", "en")] == first
    with db.sessions() as session:
        made = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "coordination.report_generated")
        ).all()
    assert made == ["system:jobs"]
    assert text_of(reports.download(COORDINATOR, "2026-03", "pl")).startswith("Raport")


def test_only_the_coordinator_generates_and_downloads(reports: ReportService) -> None:
    with pytest.raises(Denied):
        reports.generate(SUPERVISOR, "2026-03")
    with pytest.raises(Denied):
        reports.listing(SUPERVISOR)
    assert reports.generate(COORDINATOR, "2026-03") == [
        "national-2026-03-pl.pdf",
        "national-2026-03-en.pdf",
    ]
    with pytest.raises(Denied):
        reports.download(SUPERVISOR, "2026-03", "pl")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("2026-3", "malformed"),
        ("2026-13", "malformed"),
        ("2026-04", "not_over"),
        ("x", "malformed"),
    ],
)
def test_a_month_must_be_over_and_well_formed(text: str, code: str) -> None:
    with pytest.raises(ReportRefused) as refused:
        month_of(text, date(2026, 4, 1))
    assert (refused.value.field, refused.value.code) == ("month", code)


def test_the_count_check_finds_a_three_when_nothing_is_suppressed(
    db: Database, tmp_path: Path
) -> None:
    """The check above can fail: with a threshold of 2 the 3 sextortion reports show."""
    seed(db)
    clock = Clock(datetime(2026, 4, 1, 0, 5, tzinfo=UTC))
    figures = CoordinationService(
        db, hotline_agency="hotline", selfprotect_bank="SELF_PROTECTION", clock=clock, threshold=2
    )
    open_ = ReportService(figures, db, tmp_path, clock=clock)
    assert THREE.search(_without_dates(text_of(open_.render(date(2026, 3, 1), "en"))))
