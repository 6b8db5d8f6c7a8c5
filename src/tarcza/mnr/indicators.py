"""The live indicators tarcza holds for the MNR tracker: aggregates of the last 90 days.

A simple provider over the concepts' tables — counts and medians only, never a row about a
person — which the composition root wires into the tracker (``MnrService(indicators=...)``).
Each figure comes with the number of records it rests on, so the tracker can suppress small
counts (``rules.show``). The keys are those of ``rules.INDICATORS``:

- 4 dedicated law enforcement: referrals to the police agencies, those acknowledged (accepted
  or declined), the median hours to acknowledge, outcomes the police recorded;
- 7 image databases: hashes in the enabled banks, evidence files matching a bank;
- 11 child helpline: contacts recorded, cases opened;
- 12 hotline: reports to the intake agency, content items assessed and removed;
- 16 takedown: median hours from first report to removal, the share of acted-on baseline
  items removed within 3 days (of the items first reported in the window);
- 17 industry reporting: reports from partner platforms, partners' feedback on matches from
  their lookups (tarcza keeps no row per lookup: only rate windows, which are swept).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from tarcza.accounts.models import Agency
from tarcza.accounts.permissions import AgencyKind
from tarcza.cases.models import Outcome, Referral
from tarcza.hashing.models import Bank, BankSignal, EvidenceMatch, SignalFeedback
from tarcza.helpline.models import HelplineCase, HelplineContact
from tarcza.hotline.models import ContentItem
from tarcza.hotline.stats import WITHIN, percentile
from tarcza.intake.models import Report
from tarcza.mnr.rules import Measure
from tarcza.store.engine import Database

WINDOW = timedelta(days=90)
HOUR = 3600.0

Provider = Callable[[datetime], dict[str, Measure]]


def _count(value: int | None) -> Measure:
    return Measure(float(value or 0), int(value or 0))


def _median_hours(seconds: list[float]) -> Measure:
    ordered = sorted(seconds)
    median = percentile(ordered, 50)
    return Measure(None if median is None else round(median / HOUR, 1), len(ordered))


def _scalar(session: Session, query: Select[Any]) -> int:
    return int(session.scalar(query) or 0)


class LiveIndicators:
    """``provider(now)``: the figures of the 90 days up to ``now``."""

    def __init__(self, db: Database, *, intake_agency: str) -> None:
        self._db = db
        self._intake = intake_agency

    def __call__(self, now: datetime) -> dict[str, Measure]:
        since = now - WINDOW
        with self._db.reading() as session:
            return {
                **self._police(session, since),
                **self._banks(session, since),
                **self._helpline(session, since),
                **self._hotline(session, since),
                **self._industry(session, since),
            }

    def _police(self, session: Session, since: datetime) -> dict[str, Measure]:
        police = select(Agency.code).where(Agency.kind == AgencyKind.POLICE.value)
        recent = (Referral.to_agency.in_(police), Referral.created_at >= since)
        received = _scalar(session, select(func.count()).select_from(Referral).where(*recent))
        answered = session.execute(
            select(Referral.created_at, Referral.answered_at).where(
                *recent, Referral.answered_at.is_not(None)
            )
        ).all()
        outcomes = _scalar(
            session,
            select(func.count())
            .select_from(Outcome)
            .where(Outcome.agency.in_(police), Outcome.recorded_at >= since),
        )
        return {
            "police.referrals": _count(received),
            "police.acknowledged": _count(len(answered)),
            "police.hours_to_acknowledge": _median_hours(
                [(done - made).total_seconds() for made, done in answered if done is not None]
            ),
            "police.outcomes": _count(outcomes),
        }

    def _banks(self, session: Session, since: datetime) -> dict[str, Measure]:
        signals = _scalar(
            session,
            select(func.count())
            .select_from(BankSignal)
            .join(Bank, Bank.id == BankSignal.bank_id)
            .where(Bank.enabled.is_(True), BankSignal.removed_at.is_(None)),
        )
        matches = _scalar(
            session,
            select(func.count(func.distinct(EvidenceMatch.evidence_id))).where(
                EvidenceMatch.created_at >= since
            ),
        )
        return {"banks.signals": _count(signals), "banks.evidence_matches": _count(matches)}

    def _helpline(self, session: Session, since: datetime) -> dict[str, Measure]:
        contacts = _scalar(
            session,
            select(func.count())
            .select_from(HelplineContact)
            .where(HelplineContact.created_at >= since),
        )
        cases = _scalar(
            session,
            select(func.count()).select_from(HelplineCase).where(HelplineCase.created_at >= since),
        )
        return {"helpline.contacts": _count(contacts), "helpline.cases_opened": _count(cases)}

    def _hotline(self, session: Session, since: datetime) -> dict[str, Measure]:
        reports = _scalar(
            session,
            select(func.count())
            .select_from(Report)
            .where(Report.owner_agency == self._intake, Report.created_at >= since),
        )
        assessed = _scalar(
            session,
            select(func.count()).select_from(ContentItem).where(ContentItem.assessed_at >= since),
        )
        removed = _scalar(
            session,
            select(func.count()).select_from(ContentItem).where(ContentItem.removed_at >= since),
        )
        rows = session.execute(
            select(
                ContentItem.first_reported_at,
                ContentItem.removed_at,
                ContentItem.noticed_at,
                ContentItem.classification,
            ).where(ContentItem.first_reported_at >= since)
        ).all()
        spans = [(gone - first).total_seconds() for first, gone, _n, _c in rows if gone]
        acted = [
            (first, gone) for first, gone, noticed, kind in rows if noticed and kind == "baseline"
        ]
        fast = [1 for first, gone in acted if gone is not None and gone - first <= WITHIN]
        share = Measure(round(len(fast) / len(acted), 3) if acted else None, len(acted))
        return {
            "hotline.reports": _count(reports),
            "hotline.items_assessed": _count(assessed),
            "hotline.items_removed": _count(removed),
            "takedown.hours_to_removal": _median_hours(spans),
            "takedown.removed_within_3_days": share,
        }

    def _industry(self, session: Session, since: datetime) -> dict[str, Measure]:
        partner_reports = _scalar(
            session,
            select(func.count())
            .select_from(Report)
            .where(Report.source == "partner", Report.created_at >= since),
        )
        feedback = _scalar(
            session,
            select(func.coalesce(func.sum(SignalFeedback.count), 0)).where(
                SignalFeedback.created_at >= since
            ),
        )
        return {
            "industry.partner_reports": _count(partner_reports),
            "industry.partner_feedback": _count(feedback),
        }
