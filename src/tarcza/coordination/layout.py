"""Which tables the national figures show, and the keys that tie them together.

Counts are keyed ``<quantity>@<slot>``: the slot is ``current``, ``previous`` or a trend
bucket's first day. A quantity's period total carries the same key in its breakdowns and in
its trend, so suppression sees every way of adding it up (tarcza.coordination.rules).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tarcza.cases.rules import OutcomeKind, ReferralState
from tarcza.coordination import rules
from tarcza.coordination.rules import Every, Span
from tarcza.coordination.tables import Cell, Measure, Sheet
from tarcza.hashing.feed import FeedbackAction
from tarcza.helpline.rules import AgeBand, Channel
from tarcza.hotline.rules import Classification
from tarcza.hotline.stats import HotlineFigures, durations
from tarcza.intake.rules import AgeRange, Category

PERIODS = ("current", "previous")
REPORT_CHANNELS = ("public_form", "api", "partner_platform", "helpline", "other")
DURATION_COLUMNS = ("median_seconds", "p90_seconds")


def bucket_key(start: date) -> str:
    return start.isoformat()


@dataclass(frozen=True)
class Window:
    """The current period, the previous one and the current period's trend buckets."""

    current: Span
    before: Span
    every: Every
    buckets: tuple[Span, ...]

    @property
    def since(self) -> datetime:
        return datetime.combine(self.before.start, time(), UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.current.end + timedelta(days=1), time(), UTC)

    def slots(self, day: date) -> tuple[str, ...]:
        """The slots a day counts towards: its period, and its bucket if current."""
        if self.current.holds(day):
            return ("current", bucket_key(rules.bucket_start(day, self.every)))
        if self.before.holds(day):
            return ("previous",)
        return ()


@dataclass
class Tally:
    """Counts by key as read, before they are laid out."""

    slots: Callable[[date], tuple[str, ...]]
    kinds: dict[str, str] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    durations: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    banks: list[tuple[Any, ...]] = field(default_factory=list)
    hotline: dict[str, HotlineFigures] = field(default_factory=dict)
    _slots: dict[date, tuple[str, ...]] = field(default_factory=dict)

    def add(self, base: str, day: date, n: int) -> None:
        slots = self._slots.get(day)
        if slots is None:
            slots = self._slots[day] = self.slots(day)
        for slot in slots:
            self.counts[f"{base}@{slot}"] += n

    def found(self, prefix: str, known: Iterable[str] = ()) -> list[str]:
        """The known names under ``prefix.`` then any others the data holds, sorted."""
        names = list(known)
        seen = {
            k.split("@")[0][len(prefix) + 1 :] for k in self.counts if k.startswith(prefix + ".")
        }
        return names + sorted(seen - set(names))


def lay_out(sheet: Sheet, tally: Tally, window: Window) -> None:
    """Every table of the national figures, in the order the page shows them."""
    _reports(sheet, tally, window)
    _hotline(sheet, tally, window)
    _banks(sheet, tally)
    _helpline(sheet, tally, window)
    _police(sheet, tally)
    _referrals(sheet, tally)


def breakdown(sheet: Sheet, tally: Tally, name: str, prefix: str, total: str,
              known: Iterable[str] = ()) -> None:  # fmt: skip
    """Rows of ``prefix.<name>`` counts and their total, for each period."""
    names = tally.found(prefix, known)
    rows: list[tuple[str, list[Cell]]] = [(n, []) for n in names]
    totals: list[Cell] = []
    for period in PERIODS:
        parts = [f"{prefix}.{n}@{period}" for n in names]
        for (_, cells), key in zip(rows, parts, strict=True):
            cells.append(sheet.count(key, tally.counts[key]))
        totals.append(sheet.total(f"{total}@{period}", parts))
    sheet.table(name, PERIODS, [*rows, ("total", totals)])


def plain(sheet: Sheet, tally: Tally, name: str, rows: Sequence[tuple[str, str]]) -> None:
    """Rows of counts (no total: they do not add up), for each period."""
    sheet.table(
        name,
        PERIODS,
        [(row, [sheet.count(f"{base}@{p}", tally.counts[f"{base}@{p}"]) for p in PERIODS])
         for row, base in rows],
    )  # fmt: skip


def trend(sheet: Sheet, tally: Tally, window: Window, name: str,
          series: Sequence[tuple[str, str]]) -> None:  # fmt: skip
    """A line per series over the current period's buckets, with the period total."""
    columns = [bucket_key(b.start) for b in window.buckets]
    rows: list[tuple[str, list[Cell]]] = []
    for row, base in series:
        parts = [f"{base}@{c}" for c in columns]
        cells: list[Cell] = [sheet.count(k, tally.counts[k]) for k in parts]
        cells.append(sheet.total(f"{base}@current", parts))
        rows.append((row, cells))
    sheet.table(name, [*columns, "total"], rows, chart="trend")


def timing(sheet: Sheet, name: str, base: str, by_period: dict[str, list[float]]) -> None:
    """The median and 90th percentile seconds to an answer, per period.

    How many were answered is not shown: with the answers' breakdown beside it (accepted,
    declined), it would be one more total to take parts from. It gates the times: they show
    only when at least the threshold were answered.
    """
    rows: list[tuple[str, list[Cell]]] = []
    for period in PERIODS:
        d = durations(by_period.get(period, []))
        key = f"{base}@{period}"
        sheet.count(key, d.count)
        rows.append((period, [Measure(d.median_seconds, (key,)),
                              Measure(d.p90_seconds, (key,))]))  # fmt: skip
    sheet.table(name, DURATION_COLUMNS, rows)


def _reports(sheet: Sheet, tally: Tally, window: Window) -> None:
    breakdown(sheet, tally, "reports_by_category", "reports.category", "reports",
              [c.value for c in Category])  # fmt: skip
    breakdown(sheet, tally, "reports_by_channel", "reports.channel", "reports", REPORT_CHANNELS)
    breakdown(sheet, tally, "reports_by_age_band", "reports.age_band", "reports",
              [a.value for a in AgeRange])  # fmt: skip
    plain(sheet, tally, "child_in_danger", [("reports", "danger")])
    timing(sheet, "child_in_danger_acknowledgement", "danger.acknowledged",
           tally.durations.get("danger", {}))  # fmt: skip
    trend(sheet, tally, window, "reports_trend",
          [("reports", "reports"), ("child_in_danger", "danger")])  # fmt: skip


def _hotline(sheet: Sheet, tally: Tally, window: Window) -> None:
    for period, figures in tally.hotline.items():
        counts = tally.counts
        counts[f"items.reported@{period}"] = figures.items_reported
        counts[f"items.assessed@{period}"] = figures.items_assessed
        counts[f"items.removed@{period}"] = sum(d.removed for d in figures.series)
        named = sum(figures.by_classification.values())
        for code, n in figures.by_classification.items():
            counts[f"items.class.{code}@{period}"] = n
        if figures.items_assessed - named:
            counts[f"items.class.unclassified@{period}"] = figures.items_assessed - named
        within = figures.baseline_removed_within_3_days
        counts[f"removal.acted@{period}"] = within.items
        counts[f"removal.fast@{period}"] = within.removed_within_3_days
        counts[f"removal.timed@{period}"] = figures.time_to_removal.count
    current = tally.hotline.get("current")
    for day in current.series if current else []:
        for kind in ("reported", "assessed", "removed"):
            tally.add(f"items.{kind}.trend", day.day, getattr(day, kind))
    plain(sheet, tally, "hotline_items",
          [(k, f"items.{k}") for k in ("reported", "assessed", "removed")])  # fmt: skip
    breakdown(sheet, tally, "hotline_classification", "items.class", "items.assessed",
              [c.value for c in Classification])  # fmt: skip
    _removal(sheet, tally)
    series = [(k, f"items.{k}") for k in ("reported", "assessed", "removed")]
    for _, base in series:  # the trend's buckets under the period's own key
        for key, n in list(tally.counts.items()):
            if key.startswith(f"{base}.trend@"):
                tally.counts[f"{base}@{key.split('@')[1]}"] = n
    trend(sheet, tally, window, "hotline_trend", series)
    plain(sheet, tally, "hosting_countries",
          [(c, f"countries.{c}") for c in tally.found("countries")])  # fmt: skip
    plain(sheet, tally, "forwarded_by_country",
          [(c, f"forwards.{c}") for c in tally.found("forwards")])  # fmt: skip


def _removal(sheet: Sheet, tally: Tally) -> None:
    rows: list[tuple[str, list[Cell]]] = []
    for period in PERIODS:
        figures = tally.hotline.get(period)
        acted, fast, timed = (f"removal.{k}@{period}" for k in ("acted", "fast", "timed"))
        share = figures.baseline_removed_within_3_days.share if figures else None
        times = figures.time_to_removal if figures else None
        cells: list[Cell] = [
            sheet.count(acted, tally.counts[acted]),
            sheet.count(fast, tally.counts[fast]),
            Measure(share, (acted, fast)),
            Measure(times.median_seconds if times else None, (timed,)),
            Measure(times.p90_seconds if times else None, (timed,)),
        ]
        sheet.count(timed, tally.counts[timed])
        rows.append((period, cells))
    columns = ("acted_on", "removed_within_3_days", "share", "median_seconds", "p90_seconds")
    sheet.table("hotline_removal", columns, rows)


def _banks(sheet: Sheet, tally: Tally) -> None:
    rows: list[tuple[str, list[Cell]]] = []
    for name, size_now, size_before in tally.banks:
        cells: list[Cell] = [
            sheet.count(f"bank.{name}@end", size_now),
            sheet.count(f"bank.{name}@previous_end", size_before),
        ]
        for period in PERIODS:
            key = f"matches.{name}@{period}"
            cells.append(sheet.count(key, tally.counts[key]))
        rows.append((str(name), cells))
    columns = ("size", "size_previous", "evidence_matches", "evidence_matches_previous")
    sheet.table("hash_banks", columns, rows)
    actions = tally.found("feedback", [a.value for a in FeedbackAction])
    plain(sheet, tally, "partner_feedback", [(a, f"feedback.{a}") for a in actions])
    plain(sheet, tally, "self_protection",
          [("cases_opened", "protection_cases"), ("copies_blocked", "blocked_copies")])  # fmt: skip


def _helpline(sheet: Sheet, tally: Tally, window: Window) -> None:
    breakdown(sheet, tally, "helpline_contacts_by_channel", "contacts.channel", "contacts",
              [c.value for c in Channel])  # fmt: skip
    breakdown(sheet, tally, "helpline_contacts_by_age_band", "contacts.age_band", "contacts",
              [a.value for a in AgeBand])  # fmt: skip
    plain(sheet, tally, "helpline_contacts_by_topic",
          [(t, f"topics.{t}") for t in tally.found("topics")])  # fmt: skip
    plain(sheet, tally, "helpline_cases", [("opened", "helpline_cases")])
    trend(sheet, tally, window, "helpline_trend", [("contacts", "contacts")])


def _police(sheet: Sheet, tally: Tally) -> None:
    breakdown(sheet, tally, "police_referrals", "police", "police",
              [s.value for s in ReferralState])  # fmt: skip
    timing(sheet, "police_acknowledgement", "police.answered", tally.durations.get("police", {}))
    breakdown(sheet, tally, "police_outcomes", "outcomes", "outcomes",
              [o.value for o in OutcomeKind])  # fmt: skip


def _referrals(sheet: Sheet, tally: Tally) -> None:
    """Referrals between kinds of agency by state, current period: a table with both totals."""
    states = [s.value for s in ReferralState]
    pairs = sorted({k.split(".")[1] for k in tally.counts if k.startswith("referrals.")})
    rows: list[tuple[str, list[Cell]]] = []
    for pair in pairs:
        parts = [f"referrals.{pair}.{s}@current" for s in states]
        cells: list[Cell] = [sheet.count(k, tally.counts[k]) for k in parts]
        cells.append(sheet.total(f"referrals.{pair}@current", parts))
        rows.append((pair, cells))
    column_totals: list[Cell] = [
        sheet.total(f"referrals.all.{s}@current", [f"referrals.{p}.{s}@current" for p in pairs])
        for s in states
    ]
    grand = sheet.total("referrals@current", [f"referrals.{p}@current" for p in pairs])
    sheet.total("referrals@current", [f"referrals.all.{s}@current" for s in states])
    # The police's answers (police_referrals) are these rows' sums: the same counts, tied.
    to_police = [p for p in pairs if p.endswith("_to_police")]
    for state in states:
        sheet.total(f"police.{state}@current",
                    [f"referrals.{p}.{state}@current" for p in to_police])  # fmt: skip
    sheet.total("police@current", [f"referrals.{p}@current" for p in to_police])
    rows.append(("total", [*column_totals, grand]))
    sheet.table("referrals_between_agencies", [*states, "total"], rows)
