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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from tarcza.accounts.permissions import Action, AgencyKind, Principal, Relation, permits
from tarcza.coordination import queries, rules, snapshots
from tarcza.coordination.layout import Tally, Window, lay_out
from tarcza.coordination.rules import Every, Span
from tarcza.coordination.tables import Sheet, Table
from tarcza.errors import Denied
from tarcza.hotline import stats
from tarcza.store.base import utcnow
from tarcza.store.engine import Database

DEFAULT_MONTHS = 3
READERS = 4


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
        max_age: timedelta = timedelta(0),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._hotline = hotline_agency
        self._bank = selfprotect_bank
        self._threshold = threshold
        self._clock = clock
        self._max_age = max_age  # 0: no snapshots, always count
        # The reads of one answer run side by side (each on a connection of the pool).
        self._pool = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="figures")

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
        return self.published(start, end, every)

    def published(
        self, start: str | None = None, end: str | None = None, every: str | None = None
    ) -> NationalFigures:
        """The same suppressed figures without a reader: for the monthly report and the open
        data, which publish aggregates only (their callers decide who receives them)."""
        now = self._clock()
        window = window_of(start, end, every, now.date())
        key = snapshots.key_of(window, self._threshold)
        if self._max_age:
            with self._db.transaction() as session:
                kept = snapshots.fresh(session, key, now, self._max_age)
            if kept is not None:
                return NationalFigures(window, self._threshold, kept)
        tables = self._count(window)
        if self._max_age:
            with self._db.transaction() as session:
                snapshots.keep(session, key, tables, now)
        return NationalFigures(window, self._threshold, tables)

    def refresh(self) -> int:
        """Count again the windows asked for in the last day whose snapshot is getting old.

        The job worker's tick calls it, so that the page and the API answer from a snapshot
        no older than ``max_age``. Returns how many windows were counted.
        """
        if not self._max_age:
            return 0
        now = self._clock()
        with self._db.transaction() as session:
            snapshots.forget_old(session, now)
            keys = snapshots.due(session, now, self._max_age)
        for key in keys:
            window, threshold = snapshots.window_of_key(key)
            if threshold != self._threshold:
                continue
            tables = self._count(window)
            with self._db.transaction() as session:
                snapshots.keep(session, key, tables, now)
        return len(keys)

    def _count(self, window: Window) -> tuple[Table, ...]:
        """Every table of a window, counted now and suppressed."""
        tally = self._tally(window)
        sheet = Sheet(threshold=self._threshold)
        lay_out(sheet, tally, window)
        return tuple(sheet.publish())

    def _read(self, reads: dict[str, Callable[[Session], Any]]) -> dict[str, Any]:
        """Run independent reads at once, each in its own session (the database's cores)."""

        def one(read: Callable[[Session], Any]) -> Any:
            with self._db.sessions() as session:
                return read(session)

        names = list(reads)
        return dict(zip(names, self._pool.map(one, [reads[n] for n in names]), strict=True))

    def _tally(self, window: Window) -> Tally:
        since, until = window.since, window.until
        ends = [datetime.combine(s.end + timedelta(days=1), time(), UTC)
                for s in (window.current, window.before)]  # fmt: skip
        spans = {"current": window.current, "previous": window.before}
        # The slowest reads first, so that the pool's threads finish together.
        got = self._read({
            **{f"hotline.{name}": _hotline_read(span, self._hotline)
               for name, span in spans.items()},
            "forwards": lambda s: queries.forwards(s, since, until),
            "reports": lambda s: queries.reports(s, since, until),
            "countries": lambda s: queries.hosting_countries(s, since, until),
            "banks": lambda s: queries.bank_sizes(s, ends),
            "contacts": lambda s: queries.contacts(s, since, until),
            "referrals": lambda s: queries.referrals(s, since, until),
            "danger": lambda s: queries.danger_acknowledgement_times(s, since, until),
            "police": lambda s: queries.answer_times(s, since, until),
            "matches": lambda s: queries.evidence_matches(s, since, until),
            "feedback": lambda s: queries.partner_feedback(s, since, until),
            "outcomes": lambda s: queries.outcomes(s, since, until),
            "protection_cases": lambda s: queries.protection_cases(s, since, until),
            "blocked_copies": lambda s: queries.blocked_copies(s, since, until, self._bank),
            "helpline_cases": lambda s: queries.helpline_cases(s, since, until),
            "kinds": queries.agency_kinds,
        })  # fmt: skip
        tally = Tally(window.slots, kinds=got["kinds"])
        _tally_reports(tally, got["reports"])
        for dim in ("countries", "forwards", "matches", "feedback", "outcomes"):
            for key, day, n in got[dim]:
                tally.add(f"{dim}.{key or 'unknown'}", day, n)
        for dim in ("protection_cases", "blocked_copies", "helpline_cases"):
            for day, n in got[dim]:
                tally.add(dim, day, n)
        _tally_contacts(tally, got["contacts"])
        _tally_referrals(tally, got["referrals"])
        tally.banks = got["banks"]
        tally.durations["danger"] = _split(window, got["danger"])
        tally.durations["police"] = _split(window, got["police"])
        tally.hotline = {name: got[f"hotline.{name}"] for name in spans}
        return tally


def _hotline_read(span: Span, agency: str) -> Callable[[Session], stats.HotlineFigures]:
    return lambda s: stats.hotline_figures(s, stats.Period(span.start, span.end), agency)


def _tally_reports(tally: Tally, rows: Iterable[tuple[Any, ...]]) -> None:
    for category, source, age, danger, day, n in rows:
        for dim, value in (("category", category), ("channel", channel_of(source)),
                           ("age_band", age or "unknown")):  # fmt: skip
            tally.add(f"reports.{dim}.{value}", day, n)
        tally.add("reports", day, n)
        if danger:
            tally.add("danger", day, n)


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
