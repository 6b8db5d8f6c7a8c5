"""The national figures' reads: counts grouped in the database, by day (UTC) and dimension.

Each read covers the previous period and the current one in one pass (``since`` to
``until``, the end excluded) and groups by the UTC day, so the database returns a few hundred
rows whatever the volume; the service puts the days into periods and trend buckets. The
indexes these reads use are added by migration 0016 (see bench/national.py for the figures).
Nothing here returns a record: only counts, and durations for medians.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from tarcza.accounts.models import Agency
from tarcza.alerts.models import DangerAlert
from tarcza.cases.models import Outcome, Referral
from tarcza.hashing.feed import STOPPED
from tarcza.hashing.models import Bank, BankSignal, EvidenceMatch, SignalFeedback
from tarcza.helpline.models import HelplineCase, HelplineContact
from tarcza.hotline.models import ItemAction, ItemTrace
from tarcza.hotline.rules import Action as HotlineAction
from tarcza.hotline.stats import as_day, utc_day
from tarcza.intake.models import Report
from tarcza.selfprotect.models import ProtectionCase

Rows = list[tuple[Any, ...]]


def _grouped(session: Session, moment: Any, since: datetime, until: datetime, *dims: Any,
             measure: Any = None, where: Sequence[Any] = ()) -> Rows:  # fmt: skip
    """(dims..., day, n) for the rows whose ``moment`` falls in [since, until)."""
    day = utc_day(session, moment).label("day")
    n = measure if measure is not None else func.count()
    query = (
        select(*dims, day, n).where(moment >= since, moment < until, *where).group_by(*dims, day)
    )
    return [(*row[:-2], as_day(row[-2]), int(row[-1] or 0)) for row in session.execute(query)]


def reports(session: Session, since: datetime, until: datetime) -> Rows:
    """(category, source, age range, child in danger, day, n) of reports created."""
    return _grouped(
        session, Report.created_at, since, until,
        Report.category, Report.source, Report.child_age_range, Report.child_in_danger,
    )  # fmt: skip


def danger_acknowledgement_times(
    session: Session, since: datetime, until: datetime
) -> list[tuple[datetime, datetime | None]]:
    """(raised, acknowledged) for each child-in-danger alert raised to the police duty desk.

    The acknowledgement is the duty desk's own (``DangerAlert.acknowledged_at``, who took it),
    not its later answer to the referral; None while no one has acknowledged it.
    """
    query = select(DangerAlert.raised_at, DangerAlert.acknowledged_at).where(
        DangerAlert.raised_at >= since, DangerAlert.raised_at < until
    )
    return [(raised, acknowledged) for raised, acknowledged in session.execute(query)]


def hosting_countries(session: Session, since: datetime, until: datetime) -> Rows:
    """(country, day, n): content items traced, by the hosting country the trace found.

    An item traced twice in a window (re-assessed) counts once for each trace's day.
    """
    return _grouped(session, ItemTrace.traced_at, since, until, ItemTrace.country)


def forwards(session: Session, since: datetime, until: datetime) -> Rows:
    """(country, day, n): forwards to partner hotlines made, by the item's hosting country."""
    latest = (
        select(ItemTrace.item_id, func.max(ItemTrace.id).label("trace_id"))
        .join(ItemAction, ItemAction.item_id == ItemTrace.item_id)
        .where(*_forwarded(since, until))
        .group_by(ItemTrace.item_id)
        .subquery()
    )
    return _grouped(
        session, ItemAction.created_at, since, until, ItemTrace.country,
        where=[
            ItemAction.action == HotlineAction.FORWARD_PARTNER_HOTLINE.value,
            latest.c.item_id == ItemAction.item_id,
            ItemTrace.id == latest.c.trace_id,
        ],
    )  # fmt: skip


def _forwarded(since: datetime, until: datetime) -> tuple[Any, ...]:
    return (
        ItemAction.action == HotlineAction.FORWARD_PARTNER_HOTLINE.value,
        ItemAction.created_at >= since,
        ItemAction.created_at < until,
    )


def bank_sizes(session: Session, ends: Sequence[datetime]) -> Rows:
    """(bank name, live signals at each of ``ends``...) for every bank."""
    columns = [
        func.sum(
            case(
                (and_(BankSignal.created_at < end,
                      (BankSignal.removed_at.is_(None)) | (BankSignal.removed_at >= end)), 1),
                else_=0,
            )
        )
        for end in ends
    ]  # fmt: skip
    query = (
        select(Bank.name, *columns)
        .select_from(Bank)
        .outerjoin(BankSignal, BankSignal.bank_id == Bank.id)
        .group_by(Bank.name)
    )
    return [(name, *(int(v or 0) for v in counts)) for name, *counts in session.execute(query)]


def evidence_matches(session: Session, since: datetime, until: datetime) -> Rows:
    """(bank name, day, n) of evidence matches found."""
    return _grouped(
        session, EvidenceMatch.created_at, since, until, Bank.name,
        where=[Bank.id == EvidenceMatch.bank_id],
    )  # fmt: skip


def partner_feedback(session: Session, since: datetime, until: datetime) -> Rows:
    """(action, day, copies) the partner platforms reported on their matches."""
    return _grouped(
        session, SignalFeedback.created_at, since, until, SignalFeedback.action,
        measure=func.sum(SignalFeedback.count),
    )  # fmt: skip


def protection_cases(session: Session, since: datetime, until: datetime) -> Rows:
    """(day, n) of self-protection cases opened."""
    return _grouped(session, ProtectionCase.created_at, since, until)


def blocked_copies(session: Session, since: datetime, until: datetime, bank: str) -> Rows:
    """(day, copies) partners stopped of the self-protection bank's hashes."""
    return _grouped(
        session, SignalFeedback.created_at, since, until,
        measure=func.sum(SignalFeedback.count),
        where=[
            SignalFeedback.action.in_([a.value for a in STOPPED]),
            BankSignal.id == SignalFeedback.signal_id,
            Bank.id == BankSignal.bank_id,
            Bank.name == bank,
        ],
    )  # fmt: skip


def contacts(session: Session, since: datetime, until: datetime) -> Rows:
    """(channel, age band, topics, day, n) of helpline contacts recorded."""
    return _grouped(
        session, HelplineContact.created_at, since, until,
        HelplineContact.channel, HelplineContact.age_band, HelplineContact.topics,
    )  # fmt: skip


def helpline_cases(session: Session, since: datetime, until: datetime) -> Rows:
    """(day, n) of helpline cases opened."""
    return _grouped(session, HelplineCase.created_at, since, until)


def referrals(session: Session, since: datetime, until: datetime) -> Rows:
    """(from agency, to agency, state, day, n) of referrals made."""
    return _grouped(
        session, Referral.created_at, since, until,
        Referral.from_agency, Referral.to_agency, Referral.state,
    )  # fmt: skip


def answer_times(
    session: Session, since: datetime, until: datetime
) -> list[tuple[datetime, datetime | None]]:
    """(made, answered) of the answered referrals to the police made in the window."""
    query = select(Referral.created_at, Referral.answered_at).where(
        Referral.to_agency.in_(_police()),
        Referral.answered_at.is_not(None),
        Referral.created_at >= since,
        Referral.created_at < until,
    )
    return [(a, b) for a, b in session.execute(query)]


def outcomes(session: Session, since: datetime, until: datetime) -> Rows:
    """(outcome, day, n) of the police outcomes recorded."""
    return _grouped(session, Outcome.recorded_at, since, until, Outcome.outcome)


def _police() -> Any:
    """The codes of the police agencies (a subquery)."""
    return select(Agency.code).where(Agency.kind == "police")


def agency_kinds(session: Session) -> dict[str, str]:
    """Every agency's code and kind (institutions, not people)."""
    return {code: kind for code, kind in session.execute(select(Agency.code, Agency.kind))}
