"""The coordinator's monthly report for the interministerial team (PDF, Polish and English).

A report holds the national figures of one month beside the month before, suppressed exactly
as ``/staff/national?from=<1st>&to=<last>&every=month`` shows them (the same
:meth:`CoordinationService.published`), their charts, the MNR tracker (each capability's
phase, overdue actions and evidence) and what changed since the last report: the figures'
differences and the tracker's history of the month. The tracker comes from a function the
composition root wires in (the tracker sits above the national figures).

Reports are files under ``var/reports/`` (``national-2026-11-pl.pdf``): the job worker's tick
makes last month's once it is over (:meth:`ReportService.due`), the coordinator on demand.
Every generation and every download is audited.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from tarcza.accounts.permissions import Action, AgencyKind, Principal, Relation, permits
from tarcza.audit import service as audit
from tarcza.coordination.service import CoordinationService, NotTheCoordinator
from tarcza.coordination.tracker import Tracker, TrackerSource
from tarcza.errors import Denied, NotFound, Refused
from tarcza.store.base import utcnow
from tarcza.store.engine import Database

LANGUAGES = ("pl", "en")
_MONTH = re.compile(r"\d{4}-\d{2}")
_FILE = re.compile(r"national-(\d{4}-\d{2})-(pl|en)\.pdf")


@dataclass(frozen=True)
class StoredReport:
    month: str  # YYYY-MM
    language: str
    size: int
    made_at: datetime


class ReportRefused(Refused):
    """A month the report cannot be made for: ``field`` and ``code`` say why (422)."""


class NoSuchReport(NotFound):
    detail = "No report for this month and language."


def month_of(text: str, today: date) -> date:
    """The first day of a finished month given as ``YYYY-MM``; ReportRefused otherwise."""
    if not isinstance(text, str) or not _MONTH.fullmatch(text.strip()):
        raise ReportRefused("month", "malformed", "A month such as 2026-11 (YYYY-MM).")
    try:
        first = date.fromisoformat(text.strip() + "-01")
    except ValueError:
        raise ReportRefused("month", "malformed", "A month such as 2026-11 (YYYY-MM).") from None
    if first.year < 2000 or next_month(first) > today:
        raise ReportRefused("month", "not_over", "A month that is over.")
    return first


def next_month(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


def last_month(today: date) -> date:
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


class ReportService:
    """Makes, keeps and hands out the monthly reports."""

    def __init__(
        self,
        coordination: CoordinationService,
        db: Database,
        directory: Path,
        *,
        tracker: TrackerSource | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._figures = coordination
        self._db = db
        self._dir = directory
        self._tracker = tracker
        self._clock = clock

    @staticmethod
    def _check(principal: Principal) -> None:
        if not permits(principal, Action.STATS_AGGREGATE_READ, Relation.OWN):
            raise Denied()
        if principal.agency_kind is not AgencyKind.COORDINATOR:
            raise NotTheCoordinator()

    def path(self, month: str, language: str) -> Path:
        return self._dir / f"national-{month}-{language}.pdf"

    def listing(self, principal: Principal) -> list[StoredReport]:
        """The reports kept, newest month first (Polish before English)."""
        self._check(principal)
        if not self._dir.is_dir():
            return []
        found = []
        for entry in self._dir.iterdir():
            match = _FILE.fullmatch(entry.name)
            if match:
                stat = entry.stat()
                made = datetime.fromtimestamp(stat.st_mtime, UTC)
                found.append(StoredReport(match[1], match[2], stat.st_size, made))
        order = {lang: i for i, lang in enumerate(LANGUAGES)}
        found.sort(key=lambda r: (r.month, -order[r.language]), reverse=True)
        return found

    def render(self, first: date, language: str) -> bytes:
        """One month's report in one language, as PDF bytes (nothing kept, nothing audited)."""
        from tarcza.coordination.report_pdf import report_pdf

        end = next_month(first)
        figures = self._figures.published(
            first.isoformat(), (end - timedelta(days=1)).isoformat(), "month"
        )
        tracker = self._tracker(first, end, end) if self._tracker else Tracker((), ())
        return report_pdf(figures, tracker, first, language, self._clock())

    def make(self, first: date, *, actor: str, agency: str | None, trigger: str) -> list[str]:
        """Make and keep a month's report in both languages; audited. The files' names."""
        month = first.strftime("%Y-%m")
        self._dir.mkdir(parents=True, exist_ok=True)
        names = []
        for language in LANGUAGES:
            data = self.render(first, language)
            target = self.path(month, language)
            partial = target.with_suffix(f".{os.getpid()}.part")
            partial.write_bytes(data)
            partial.replace(target)
            names.append(target.name)
        now = self._clock()
        with self._db.transaction() as session:
            audit.append(session, actor=actor, agency=agency, now=now,
                         action="coordination.report_generated",
                         subject_type="national_report", subject_id=month,
                         details={"files": names, "trigger": trigger})  # fmt: skip
        return names

    def audit_written(self, first: date, language: str, *, actor: str) -> None:
        """Audit a report written elsewhere (``tarcza coordination report --out``)."""
        with self._db.transaction() as session:
            audit.append(session, actor=actor, now=self._clock(),
                         action="coordination.report_generated", subject_type="national_report",
                         subject_id=first.strftime("%Y-%m"),
                         details={"language": language, "trigger": "cli"})  # fmt: skip

    def generate(self, principal: Principal, month: str) -> list[str]:
        """The coordinator's "generate now"."""
        self._check(principal)
        first = month_of(month, self._clock().date())
        return self.make(first, actor=principal.username, agency=principal.agency, trigger="page")

    def download(self, principal: Principal, month: str, language: str) -> bytes:
        """A kept report's bytes; audited."""
        self._check(principal)
        if not _MONTH.fullmatch(month) or language not in LANGUAGES:
            raise NoSuchReport()
        path = self.path(month, language)
        if not path.is_file():
            raise NoSuchReport()
        data = path.read_bytes()
        with self._db.transaction() as session:
            audit.append(session, actor=principal.username, agency=principal.agency,
                         action="coordination.report_downloaded", subject_type="national_report",
                         subject_id=f"{month}-{language}", now=self._clock())  # fmt: skip
        return data

    def due(self) -> bool:
        """The job's check: make last month's report if it is not kept yet; whether it did."""
        first = last_month(self._clock().date())
        month = first.strftime("%Y-%m")
        if all(self.path(month, lang).is_file() for lang in LANGUAGES):
            return False
        self.make(first, actor="system:jobs", agency=None, trigger="job")
        return True
