"""The coordinator's national figures: every table of a period beside the previous one.

``CoordinationService.figures`` reads counts grouped by day (tarcza.coordination.queries),
puts each day into the current period, the previous one and the current period's trend
buckets, lays the tables out on one :class:`~tarcza.coordination.tables.Sheet` and publishes
them suppressed (small counts ``<5``, secondary ``x``). The hotline's own measures (items,
classification mix, time to removal, removed within 3 days) come from tarcza.hotline.stats,
for each period. Only the coordinator's people read them: aggregates, never a record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session

from tarcza.accounts.permissions import Action, AgencyKind, Principal, Relation, permits
from tarcza.coordination import queries, rules
from tarcza.coordination.layout import Tally, Window, lay_out
from tarcza.coordination.rules import Every
from tarcza.coordination.tables import Sheet, Table
from tarcza.errors import Denied
from tarcza.hotline import stats
from tarcza.store.base import utcnow
from tarcza.store.engine import Database

DEFAULT_MONTHS = 3


class NotTheCoordinator(Denied):
    """National figures are the coordinator's (a supervisor reads their agency's own)."""

    detail = "National figures are for the coordinator's people."


def window_of(start: str | None, end: str | None, every: str | None, today: date) -> Window:
    """The window from query text; :class:`stats.PeriodRefused` names a bad field.

    By default: monthly, the current month and the two before it. A period is at most 366
    days as given, then widened to whole weeks or months.
    """
    try:
        cut = Every(every or Every.MONTH)
    except ValueError:
        raise stats.PeriodRefused("every", "malformed", "week or month") from None
    if start is None and end is None:
        first = today.replace(day=1)
        for _ in range(DEFAULT_MONTHS - 1):
            first = (first - timedelta(days=1)).replace(day=1)
        start = first.isoformat()
    period = stats.period_of(start, end, today)
    span = rules.snap(period.start, period.end, cut)
    return Window(span, rules.previous(span, cut), cut, tuple(rules.buckets(span, cut)))


@dataclass(frozen=True)
class NationalFigures:
    """Every published table of one window (suppressed: see tarcza.coordination.rules)."""

    window: Window
    threshold: int
    tables: tuple[Table, ...]

    def table(self, name: str) -> Table:
        """The table called ``name`` (KeyError when there is none)."""
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)


class CoordinationService:
    """The national figures, for the coordinator's people."""

    def __init__(
        self,
        db: Database,
        *,
        hotline_agency: str,
        selfprotect_bank: str,
        threshold: int = rules.DEFAULT_THRESHOLD,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._hotline = hotline_agency
        self._bank = selfprotect_bank
        self._threshold = threshold
        self._clock = clock

    @property
    def threshold(self) -> int:
        return self._threshold

    def figures(
        self,
        principal: Principal,
        start: str | None = None,
        end: str | None = None,
        every: str | None = None,
    ) -> NationalFigures:
        """The national figures of a window; :class:`stats.PeriodRefused` for a bad one."""
        if not permits(principal, Action.STATS_AGGREGATE_READ, Relation.OWN):
            raise Denied()
        if principal.agency_kind is not AgencyKind.COORDINATOR:
            raise NotTheCoordinator()
        window = window_of(start, end, every, self._clock().date())
        with self._db.sessions() as session:
            tally = self._tally(session, window)
        sheet = Sheet(threshold=self._threshold)
        lay_out(sheet, tally, window)
        return NationalFigures(window, self._threshold, tuple(sheet.publish()))

    def _tally(self, session: Session, window: Window) -> Tally:
        since, until = window.since, window.until
        kinds = queries.agency_kinds(session)
        police = sorted(code for code, kind in kinds.items() if kind == AgencyKind.POLICE)
        tally = Tally(window.slots, kinds=kinds)
        for category, source, age, danger, day, n in queries.reports(session, since, until):
            for dim, value in (("category", category), ("channel", channel_of(source)),
                               ("age_band", age or "unknown")):  # fmt: skip
                tally.add(f"reports.{dim}.{value}", day, n)
            tally.add("reports", day, n)
            if danger:
                tally.add("danger", day, n)
        for dim, rows in (
            ("countries", queries.hosting_countries(session, since, until)),
            ("forwards", queries.forwards(session, since, until)),
            ("matches", queries.evidence_matches(session, since, until)),
            ("feedback", queries.partner_feedback(session, since, until)),
            ("outcomes", queries.outcomes(session, since, until)),
        ):
            for key, day, n in rows:
                tally.add(f"{dim}.{key or 'unknown'}", day, n)
        for dim, rows in (
            ("protection_cases", queries.protection_cases(session, since, until)),
            ("blocked_copies", queries.blocked_copies(session, since, until, self._bank)),
            ("helpline_cases", queries.helpline_cases(session, since, until)),
        ):
            for day, n in rows:
                tally.add(dim, day, n)
        _tally_contacts(tally, queries.contacts(session, since, until))
        _tally_referrals(tally, queries.referrals(session, since, until))
        ends = [datetime.combine(s.end + timedelta(days=1), time(), UTC)
                for s in (window.current, window.before)]  # fmt: skip
        tally.banks = queries.bank_sizes(session, ends)
        tally.durations["danger"] = _split(
            window, queries.danger_acknowledgement_times(session, since, until, police)
        )
        tally.durations["police"] = _split(
            window, queries.answer_times(session, since, until, police)
        )
        for name, span in (("current", window.current), ("previous", window.before)):
            period = stats.Period(span.start, span.end)
            tally.hotline[name] = stats.hotline_figures(session, period, self._hotline)
        return tally


CHANNELS = {"web": "public_form", "api": "api", "partner": "partner_platform"}


def channel_of(source: str) -> str:
    """The channel a report came by: public form, API, partner platform, helpline, other."""
    return CHANNELS.get(source, source if source == "helpline" else "other")


def _tally_contacts(tally: Tally, rows: Iterable[tuple[object, ...]]) -> None:
    for channel, age, topics, day, n in rows:
        assert isinstance(day, date) and isinstance(n, int)
        tally.add(f"contacts.channel.{channel}", day, n)
        tally.add(f"contacts.age_band.{age}", day, n)
        tally.add("contacts", day, n)
        for topic in str(topics).split():
            tally.add(f"topics.{topic}", day, n)


def _tally_referrals(tally: Tally, rows: Iterable[tuple[object, ...]]) -> None:
    kinds = tally.kinds
    for source, target, state, day, n in rows:
        assert isinstance(day, date) and isinstance(n, int)
        pair = f"{kinds.get(str(source), 'other')}_to_{kinds.get(str(target), 'other')}"
        tally.add(f"referrals.{pair}.{state}", day, n)
        if kinds.get(str(target)) == AgencyKind.POLICE:
            tally.add(f"police.{state}", day, n)


def _split(
    window: Window, pairs: Sequence[tuple[datetime, datetime | None]]
) -> dict[str, list[float]]:
    """Seconds from each start to its answer, by period (unanswered ones left out)."""
    out: dict[str, list[float]] = {"current": [], "previous": []}
    for start, answered in pairs:
        slots = window.slots(start.date())
        if answered is not None and slots:
            out[slots[0]].append((answered - start).total_seconds())
    return out
