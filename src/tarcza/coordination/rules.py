"""National figures' rules — pure: no web, database or network imports.

**Periods.** A period is whole UTC days, both ends included, widened to whole buckets (a week
runs Monday to Sunday, a month from its 1st to its last day), so that every trend bucket lies
inside it and the buckets add up to the period. The previous period is the same number of
buckets just before it (for months: as many calendar months, so not always as many days).

**Small counts.** A count from 1 to ``threshold - 1`` (``TARCZA_SUPPRESS_BELOW``, default 5)
is *primary* suppressed and shows as ``<5``; a zero shows as 0 (nobody is in it). The figures
are published with their totals (each a :class:`Sum` of parts), so a hidden count could be
worked out by taking the visible parts from the total. *Secondary* suppression hides more
cells, shown ``x``, until no hidden count can be worked out: :func:`suppress` repeats

1. what a reader can deduce (:func:`deduce`): every count lies in an interval — a visible
   count is exact, a ``<5`` one in 1..4, an ``x`` one is any count (``x`` means withheld, and
   may stand for a small count too) — and each sum narrows its total and its parts
   (total-minus-parts, repeated until nothing changes: the same reasoning across the trend
   buckets, the breakdowns and the period total, which share their keys);
2. in the first sum in which a ``<5`` count is pinned to one value (alone in its sum, or
   fixed by the bounds, as 1 + 1 = 2), hide the smallest visible non-zero part as ``x``, else
   the total; when all of the sum is hidden already (a total of 4 made of four ``<5``: all
   1), withhold the pinned total, or a pinned part, as ``x`` instead of ``<5``;

until no small count is pinned. Secondary cells are chosen small so that as little as
possible is lost. Figures derived from counts (a median, a share) show only when every count
they are made of is visible and at least the threshold.

Periods do not overlap and no sum spans two, so the previous period shown beside the current
one adds no equation a reader could solve.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

DEFAULT_THRESHOLD = 5
MAX_BUCKETS = {"week": 53, "month": 13}
SECONDARY = "x"
INF = math.inf


class Every(StrEnum):
    """How a trend is cut."""

    WEEK = "week"
    MONTH = "month"


class Mark(StrEnum):
    """Why a count is hidden."""

    PRIMARY = "primary"  # below the threshold: shows "<5"
    SECONDARY = "secondary"  # withheld so that a small one cannot be worked out: shows "x"


@dataclass(frozen=True)
class Span:
    """Whole UTC days from ``start`` to ``end``, both included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def holds(self, day: date) -> bool:
        return self.start <= day <= self.end


def bucket_start(day: date, every: Every) -> date:
    """The first day of the week (Monday) or month that ``day`` is in."""
    if every is Every.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def bucket_end(day: date, every: Every) -> date:
    """The last day of the week (Sunday) or month that ``day`` is in."""
    if every is Every.WEEK:
        return bucket_start(day, every) + timedelta(days=6)
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def snap(start: date, end: date, every: Every) -> Span:
    """The period from ``start`` to ``end`` widened to whole buckets."""
    return Span(bucket_start(start, every), bucket_end(end, every))


def buckets(span: Span, every: Every) -> list[Span]:
    """The weeks or months of a snapped period, in order."""
    out = []
    day = span.start
    while day <= span.end:
        last = min(bucket_end(day, every), span.end)
        out.append(Span(day, last))
        day = last + timedelta(days=1)
    return out


def previous(span: Span, every: Every) -> Span:
    """As many buckets as ``span`` has, just before it."""
    count = len(buckets(span, every))
    end = span.start - timedelta(days=1)
    start = bucket_start(end, every)
    for _ in range(count - 1):
        start = bucket_start(start - timedelta(days=1), every)
    return Span(start, end)


@dataclass(frozen=True)
class Sum:
    """``total`` is the sum of ``parts`` (keys of published counts)."""

    total: str
    parts: tuple[str, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.total, *self.parts)


Bounds = dict[str, tuple[float, float]]


def primary_marks(values: Mapping[str, int], threshold: int) -> dict[str, Mark]:
    """The counts from 1 to ``threshold - 1``."""
    return {key: Mark.PRIMARY for key, v in values.items() if 0 < v < threshold}


def suppress(
    values: Mapping[str, int], sums: Sequence[Sum], threshold: int = DEFAULT_THRESHOLD
) -> dict[str, Mark]:
    """The hidden counts (key -> why) so that none can be worked out (see the module)."""
    marks = primary_marks(values, threshold)
    while True:
        bounds = deduce(values, sums, marks, threshold)
        line = next((s for s in sums if _exposed(s, marks, bounds)), None)
        if line is None:
            return marks
        extra = _next_to_hide(line, values, marks)
        if extra is None:  # all hidden, and "<5" still says too much: withhold one as "x"
            pinned = [k for k in line.keys if _pinned(k, marks, bounds)]
            extra = line.total if line.total in pinned else pinned[-1]
        marks[extra] = Mark.SECONDARY


def _exposed(line: Sum, marks: Mapping[str, Mark], bounds: Bounds) -> bool:
    """Whether a small count of this sum is pinned to one value."""
    return any(_pinned(k, marks, bounds) for k in line.keys)


def _pinned(key: str, marks: Mapping[str, Mark], bounds: Bounds) -> bool:
    return marks.get(key) is Mark.PRIMARY and bounds[key][0] == bounds[key][1]


def _next_to_hide(line: Sum, values: Mapping[str, int], marks: Mapping[str, Mark]) -> str | None:
    visible = [k for k in line.parts if k not in marks]
    nonzero = sorted((values[k], k) for k in visible if values[k] > 0)
    if nonzero:
        return nonzero[0][1]
    if line.total not in marks:
        return line.total
    return visible[0] if visible else None


def deduce(
    values: Mapping[str, int],
    sums: Sequence[Sum],
    marks: Mapping[str, Mark],
    threshold: int = DEFAULT_THRESHOLD,
) -> Bounds:
    """What a reader can tell of every count: (lowest, highest) possible, INF when unbounded.

    Visible counts are exact; ``<5`` ones lie in 1..threshold-1; ``x`` ones are any count.
    Each sum narrows its total to the sum of its parts' bounds and each part to the total's
    bounds less the others', repeated until nothing changes.
    """
    bounds: Bounds = {}
    for key, value in values.items():
        mark = marks.get(key)
        if mark is Mark.PRIMARY:
            bounds[key] = (1.0, float(threshold - 1))
        elif mark is Mark.SECONDARY:  # withheld: any count at all
            bounds[key] = (0.0, INF)
        else:
            bounds[key] = (float(value), float(value))
    for _ in range(10 * (len(sums) + 1)):
        if not any([_narrow(line, bounds) for line in sums]):
            break
    return bounds


def _narrow(line: Sum, bounds: Bounds) -> bool:
    """Narrow one sum's bounds; whether anything changed."""
    changed = False
    parts_lo = sum(bounds[k][0] for k in line.parts)
    parts_hi = sum(bounds[k][1] for k in line.parts)
    lo, hi = bounds[line.total]
    new = (max(lo, parts_lo), min(hi, parts_hi))
    if new != (lo, hi):
        bounds[line.total], changed = new, True
    t_lo, t_hi = bounds[line.total]
    for key in line.parts:
        p_lo, p_hi = bounds[key]
        others_hi = _without(parts_hi, p_hi, [bounds[k][1] for k in line.parts])
        others_lo = parts_lo - p_lo
        new = (max(p_lo, t_lo - others_hi), min(p_hi, t_hi - others_lo))
        if new != (p_lo, p_hi):
            bounds[key], changed = new, True
    return changed


def _without(total: float, one: float, all_values: list[float]) -> float:
    """``total`` less ``one`` where either may be INF (INF less INF: INF if another is INF)."""
    if one != INF:
        return total - one
    return (
        INF
        if sum(1 for v in all_values if v == INF) > 1
        else sum(v for v in all_values if v != INF)
    )


def shown(value: int, mark: Mark | None, threshold: int = DEFAULT_THRESHOLD) -> int | str:
    """A count as published: the number, ``<5`` or ``x``."""
    if mark is Mark.PRIMARY:
        return f"<{threshold}"
    if mark is Mark.SECONDARY:
        return SECONDARY
    return value


def usable(counts: Sequence[int], marks: Sequence[Mark | None], threshold: int) -> bool:
    """Whether a figure made of these counts may show: all visible and at least the threshold."""
    return all(m is None and c >= threshold for c, m in zip(counts, marks, strict=True))
