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
from typing import Any, SupportsFloat

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
    return _hours(percentile(ordered, 50), len(ordered))


def _hours(median_seconds: SupportsFloat | None, basis: int) -> Measure:
    if median_seconds is None:
        return Measure(None, basis)
    return Measure(round(float(median_seconds) / HOUR, 1), basis)


def _share(part: int, whole: int) -> Measure:
    return Measure(round(part / whole, 3) if whole else None, whole)


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
        acknowledged, hours = self._acknowledgements(session, since, police)
        outcomes = _scalar(
            session,
            select(func.count())
            .select_from(Outcome)
            .where(Outcome.agency.in_(police), Outcome.recorded_at >= since),
        )
        return {
            "police.referrals": _count(received),
            "police.acknowledged": _count(acknowledged),
            "police.hours_to_acknowledge": hours,
            "police.outcomes": _count(outcomes),
        }

    def _acknowledgements(
        self, session: Session, since: datetime, police: Select[Any]
    ) -> tuple[int, Measure]:
        """Referrals answered, and the median hours from referral to answer."""
        recent = (Referral.to_agency.in_(police), Referral.created_at >= since)
        if self._db.dialect == "postgresql":  # the median in the database: no rows travel
            n, median = session.execute(
                select(
                    func.count(Referral.answered_at),
                    func.percentile_disc(0.5).within_group(
                        func.extract("epoch", Referral.answered_at - Referral.created_at)
                    ),
                ).where(*recent)
            ).one()
            return int(n), _hours(median, int(n))
        answered = session.execute(
            select(Referral.created_at, Referral.answered_at).where(
                *recent, Referral.answered_at.is_not(None)
            )
        ).all()
        spans = [(done - made).total_seconds() for made, done in answered if done is not None]
        return len(spans), _median_hours(spans)

    def _takedown(self, session: Session, since: datetime) -> tuple[Measure, Measure]:
        """Of the items first reported since ``since``: the median hours to removal, and the
        share of acted-on baseline items removed within 3 days."""
        item = ContentItem
        if self._db.dialect == "postgresql":  # aggregates in the database: no rows travel
            acted = (item.noticed_at.is_not(None)) & (item.classification == "baseline")
            fast = acted & (item.removed_at - item.first_reported_at <= WITHIN)
            removed, median, n_acted, n_fast = session.execute(
                select(
                    func.count(item.removed_at),
                    func.percentile_disc(0.5).within_group(
                        func.extract("epoch", item.removed_at - item.first_reported_at)
                    ),
                    func.count().filter(acted),
                    func.count().filter(fast),
                ).where(item.first_reported_at >= since)
            ).one()
            return _hours(median, int(removed)), _share(int(n_fast), int(n_acted))
        rows = session.execute(
            select(
                item.first_reported_at, item.removed_at, item.noticed_at, item.classification
            ).where(item.first_reported_at >= since)
        ).all()
        spans = [(gone - first).total_seconds() for first, gone, _n, _c in rows if gone]
        acted_rows = [(f, g) for f, g, noticed, kind in rows if noticed and kind == "baseline"]
        quick = sum(1 for f, g in acted_rows if g is not None and g - f <= WITHIN)
        return _median_hours(spans), _share(quick, len(acted_rows))

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
        hours, share = self._takedown(session, since)
        return {
            "hotline.reports": _count(reports),
            "hotline.items_assessed": _count(assessed),
            "hotline.items_removed": _count(removed),
            "takedown.hours_to_removal": hours,
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
