"""How the tracker's rows become what people read (used by ``mnr.service``).

The first use seeds the capabilities from the shipped catalogue; a capability's summary carries
its open and overdue actions and its live figures; its full view adds evidence, actions, history
and what the person may change.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tarcza.accounts.permissions import Principal
from tarcza.mnr import rules
from tarcza.mnr.catalogue import Catalogue
from tarcza.mnr.models import MnrAction, MnrCapability, MnrChange, MnrDomain
from tarcza.mnr.views import ActionView, CapabilitySummary, CapabilityView, ChangeView
from tarcza.store.engine import Database


def seed(db: Database, catalogue: Catalogue, now: datetime) -> bool:
    """Give a tracker without capabilities the catalogue's; whether this call did."""
    with db.reading() as session:
        if session.scalar(select(MnrCapability.number).limit(1)) is not None:
            return False
    try:
        with db.transaction() as session:
            for d in catalogue.domains:
                session.add(
                    MnrDomain(
                        code=d.code, position=d.position, name_pl=d.name_pl, name_en=d.name_en
                    )
                )
            session.flush()
            for c in catalogue.capabilities:
                session.add(
                    MnrCapability(
                        number=c.number,
                        domain=c.domain,
                        name_pl=c.name_pl,
                        name_en=c.name_en,
                        description_pl=c.description_pl,
                        description_en=c.description_en,
                        phase=rules.Phase.BUILDING.value,
                        evidence="",
                        agencies=" ".join(c.agencies),
                        institutions=list(c.institutions),
                        updated_at=now,
                    )
                )
    except IntegrityError:
        return False  # another process seeded it at the same moment: the same data
    return True


def agencies_of(row: MnrCapability) -> tuple[str, ...]:
    return tuple(row.agencies.split())


def institutions_of(row: MnrCapability) -> tuple[str, ...]:
    return tuple(str(name) for name in row.institutions)


def responsible(row: MnrCapability) -> tuple[str, ...]:
    """Who may own an action: the agencies' codes, then the other institutions' names."""
    return (*agencies_of(row), *institutions_of(row))


def action_view(row: MnrAction, today: date) -> ActionView:
    state = rules.ActionState(row.state)
    return ActionView(
        id=row.id,
        capability=row.capability,
        title=row.title,
        owner=row.owner,
        due=row.due,
        state=state,
        overdue=rules.is_overdue(row.due, state, today),
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def action_counts(
    session: Session, today: date, number: int | None = None
) -> dict[int, tuple[int, int]]:
    """Per capability: its open actions, and how many of them are overdue."""
    late = func.sum(case((MnrAction.due < today, 1), else_=0))
    query = (
        select(MnrAction.capability, func.count(), late)
        .where(MnrAction.state.in_([s.value for s in rules.OPEN_STATES]))
        .group_by(MnrAction.capability)
    )
    if number is not None:
        query = query.where(MnrAction.capability == number)
    return {n: (int(count), int(overdue or 0)) for n, count, overdue in session.execute(query)}


def summary(
    row: MnrCapability, counts: Mapping[int, tuple[int, int]], live: Mapping[str, rules.Shown]
) -> CapabilitySummary:
    shown = tuple(
        live.get(i.key) or rules.Shown(i.key, i.unit, None, False)
        for i in rules.indicators_of(row.number)
    )
    open_actions, overdue = counts.get(row.number, (0, 0))
    return CapabilitySummary(
        number=row.number,
        domain=row.domain,
        name_pl=row.name_pl,
        name_en=row.name_en,
        phase=rules.Phase(row.phase),
        agencies=agencies_of(row),
        institutions=institutions_of(row),
        open_actions=open_actions,
        overdue_actions=overdue,
        indicators=shown,
        updated_at=row.updated_at,
    )


def full_view(
    session: Session,
    principal: Principal,
    row: MnrCapability,
    live: Mapping[str, rules.Shown],
    today: date,
) -> CapabilityView:
    actions = session.scalars(
        select(MnrAction)
        .where(MnrAction.capability == row.number)
        .order_by(MnrAction.due, MnrAction.id)
    ).all()
    history = session.scalars(
        select(MnrChange)
        .where(MnrChange.capability == row.number)
        .order_by(MnrChange.changed_at.desc(), MnrChange.id.desc())
    ).all()
    return CapabilityView(
        summary=summary(row, action_counts(session, today, row.number), live),
        description_pl=row.description_pl,
        description_en=row.description_en,
        evidence=row.evidence,
        updated_by=row.updated_by,
        actions=[action_view(a, today) for a in actions],
        history=[
            ChangeView(h.field, h.old, h.new, h.action_id, h.changed_by, h.agency, h.changed_at)
            for h in history
        ],
        may_update=rules.may_update(principal, agencies_of(row)),
        may_manage=rules.may_manage(principal),
    )
