"""The MNR tracker as the monthly report shows it: what the tracker hands the report.

The tracker (tarcza.mnr) sits above the national figures; the composition root wires its
:meth:`MnrService.for_report` in as the report's :data:`TrackerSource`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class TrackedCapability:
    """One MNR capability as the report shows it."""

    number: int
    name_pl: str
    name_en: str
    phase: int
    open_actions: int
    overdue: tuple[str, ...]  # the titles of its actions open past their due day
    evidence: str


@dataclass(frozen=True)
class TrackerChange:
    """One field of the tracker changed during the month (from its history)."""

    capability: int
    field: str
    old: str | None
    new: str | None
    agency: str
    at: datetime
    action: str | None  # the action's title when the change was to an action


@dataclass(frozen=True)
class Tracker:
    capabilities: tuple[TrackedCapability, ...]
    changes: tuple[TrackerChange, ...]


# (first day of the month, first day after it, the day overdue is judged) -> the tracker
TrackerSource = Callable[[date, date, date], Tracker]
