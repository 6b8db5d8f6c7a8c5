"""The tracker as the coordinator's monthly report shows it (tarcza.coordination.report).

Each capability's phase, open and overdue actions and evidence, and the history of a month:
the report asks through a function the composition root wires to :meth:`MnrService.for_report`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from tarcza.coordination.tracker import TrackedCapability, Tracker, TrackerChange
from tarcza.mnr import rules
from tarcza.mnr.models import MnrAction, MnrCapability, MnrChange


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def tracker(session: Session, since: date, until: date, today: date) -> Tracker:
    """Capabilities (actions overdue on ``today``) and the changes from ``since`` to ``until``."""
    open_states = [s.value for s in rules.OPEN_STATES]
    actions = session.scalars(
        select(MnrAction).where(MnrAction.state.in_(open_states)).order_by(MnrAction.due)
    ).all()
    capabilities = tuple(
        TrackedCapability(
            number=row.number,
            name_pl=row.name_pl,
            name_en=row.name_en,
            phase=row.phase,
            open_actions=sum(1 for a in actions if a.capability == row.number),
            overdue=tuple(
                a.title
                for a in actions
                if a.capability == row.number and rules.is_overdue(a.due, a.state, today)
            ),
            evidence=row.evidence,
        )
        for row in session.scalars(select(MnrCapability).order_by(MnrCapability.number))
    )
    titles = {a.id: a.title for a in session.scalars(select(MnrAction))}
    rows = session.scalars(
        select(MnrChange)
        .where(MnrChange.changed_at >= _midnight(since), MnrChange.changed_at < _midnight(until))
        .order_by(MnrChange.changed_at, MnrChange.id)
    )
    changes = tuple(
        TrackerChange(
            capability=c.capability,
            field=c.field,
            old=c.old,
            new=c.new,
            agency=c.agency,
            at=c.changed_at,
            action=titles.get(c.action_id) if c.action_id is not None else None,
        )
        for c in rows
    )
    return Tracker(capabilities, changes)
