"""What the analyst reads about a content item: plain dataclasses built from the tables."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tarcza.accounts.models import User
from tarcza.hashing.models import Bank, BankSignal, EvidenceMatch
from tarcza.hotline import rules, schedule
from tarcza.hotline.models import (
    ContentItem,
    ItemAction,
    ItemAssessment,
    ItemCheck,
    ItemReport,
    ItemTrace,
)
from tarcza.intake.models import Evidence, Report


@dataclass(frozen=True)
class BankHint:
    """The hash bank knows evidence of a report naming this item."""

    bank: str
    label: str | None
    suggests: str | None  # a Classification value, when the label suggests one


@dataclass(frozen=True)
class ItemReportView:
    reference: str
    url_as_reported: str
    reported_at: datetime


@dataclass(frozen=True)
class AssessmentView:
    id: int
    username: str
    classification: str
    content_type: str
    age_group: str
    site_type: str
    state: str
    bank_label: str | None
    reviews_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class TraceView:
    host: str
    addresses: list[dict[str, object]]
    country: str | None
    location: str
    error: str | None
    traced_at: datetime


@dataclass(frozen=True)
class ActionView:
    action: str
    recipient: str | None
    language: str | None
    status: str
    attempt: int
    detail: str | None
    created_at: datetime
    done_at: datetime | None


@dataclass(frozen=True)
class CheckView:
    outcome: str
    http_status: int | None
    detail: str | None
    checked_at: datetime


@dataclass(frozen=True)
class ItemView:
    """A content item as the analyst sees it: what, who reported, what was done, what is due."""

    id: int
    url: str
    host: str
    state: str
    classification: str | None
    first_reported_at: datetime
    assessed_at: datetime | None
    noticed_at: datetime | None
    removed_at: datetime | None
    next_check_at: datetime | None
    reports: list[ItemReportView]
    bank_hints: list[BankHint]
    assessments: list[AssessmentView]
    traces: list[TraceView]
    actions: list[ActionView]
    checks: list[CheckView]  # newest first
    pending_review_by: str | None  # who made the assessment waiting for a second analyst

    @property
    def suggested(self) -> str | None:
        """The classification the bank suggests (the first label that suggests one)."""
        return next((h.suggests for h in self.bank_hints if h.suggests), None)

    @property
    def removal_seen_at(self) -> datetime | None:
        """When the monitor first saw the content gone, while the removal awaits its
        confirming check (None otherwise)."""
        if self.state != rules.ItemState.ACTIONED.value:
            return None
        answers = [(schedule.Outcome(c.outcome), c.checked_at) for c in reversed(self.checks)]
        return schedule.pending_since(answers)


@dataclass(frozen=True)
class ItemRow:
    """A line of the items list."""

    id: int
    url: str
    host: str
    state: str
    classification: str | None
    reports: int
    first_reported_at: datetime


def bank_hints(session: Session, item_id: int) -> list[BankHint]:
    """What the hash bank knows of the evidence of the reports naming the item."""
    rows = session.execute(
        select(Bank.name, BankSignal.label)
        .select_from(ItemReport)
        .join(Evidence, Evidence.report_id == ItemReport.report_id)
        .join(EvidenceMatch, EvidenceMatch.evidence_id == Evidence.id)
        .join(Bank, Bank.id == EvidenceMatch.bank_id)
        .join(BankSignal, BankSignal.id == EvidenceMatch.signal_id)
        .where(ItemReport.item_id == item_id)
        .distinct()
        .order_by(Bank.name, BankSignal.label)
    ).all()
    hints = []
    for bank, label in rows:
        suggests = rules.classification_from_label(label)
        hints.append(BankHint(bank, label, suggests.value if suggests else None))
    return hints


def reports(session: Session, item_id: int) -> list[ItemReportView]:
    rows = session.execute(
        select(Report.reference, ItemReport.url_as_reported, ItemReport.reported_at)
        .join(Report, Report.id == ItemReport.report_id)
        .where(ItemReport.item_id == item_id)
        .order_by(ItemReport.reported_at, ItemReport.id)
    ).all()
    return [ItemReportView(ref, spelling, at) for ref, spelling, at in rows]


def assessments(session: Session, item_id: int) -> list[AssessmentView]:
    rows = session.execute(
        select(ItemAssessment, User.username)
        .join(User, User.id == ItemAssessment.user_id)
        .where(ItemAssessment.item_id == item_id)
        .order_by(ItemAssessment.id.desc())
    ).all()
    return [
        AssessmentView(
            a.id,
            username,
            a.classification,
            a.content_type,
            a.age_group,
            a.site_type,
            a.state,
            a.bank_label,
            a.reviews_id,
            a.created_at,
        )
        for a, username in rows
    ]


def traces(session: Session, item_id: int) -> list[TraceView]:
    rows = session.scalars(
        select(ItemTrace).where(ItemTrace.item_id == item_id).order_by(ItemTrace.id.desc())
    )
    return [
        TraceView(t.host, json.loads(t.addresses), t.country, t.location, t.error, t.traced_at)
        for t in rows
    ]


def actions(session: Session, item_id: int) -> list[ActionView]:
    rows = session.scalars(
        select(ItemAction).where(ItemAction.item_id == item_id).order_by(ItemAction.id)
    )
    return [
        ActionView(
            a.action,
            a.recipient,
            a.language,
            a.status,
            a.attempt,
            a.detail,
            a.created_at,
            a.done_at,
        )
        for a in rows
    ]


def checks(session: Session, item_id: int, limit: int = 20) -> list[CheckView]:
    rows = session.scalars(
        select(ItemCheck)
        .where(ItemCheck.item_id == item_id)
        .order_by(ItemCheck.id.desc())
        .limit(limit)
    )
    return [CheckView(c.outcome, c.http_status, c.detail, c.checked_at) for c in rows]


def _at(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def item_records_of_report(session: Session, report_id: int) -> list[dict[str, object]]:
    """The content items a report names, as plain JSON for the evidence package.

    Each item with its standing classification, the assessments, every hosting trace, every
    action taken (notices, forwards, referrals, escalations), the re-checks and the removal.
    """
    rows = session.execute(
        select(ContentItem, ItemReport.url_as_reported)
        .join(ItemReport, ItemReport.item_id == ContentItem.id)
        .where(ItemReport.report_id == report_id)
        .order_by(ItemReport.id)
    ).all()
    records: list[dict[str, object]] = []
    for item, as_reported in rows:
        records.append(
            {
                "id": item.id,
                "url": item.url,
                "url_as_reported": as_reported,
                "host": item.host,
                "state": item.state,
                "classification": item.classification,
                "first_reported_at": _at(item.first_reported_at),
                "assessed_at": _at(item.assessed_at),
                "noticed_at": _at(item.noticed_at),
                "removed_at": _at(item.removed_at),
                "assessments": [
                    {
                        "by": a.username,
                        "classification": a.classification,
                        "content_type": a.content_type,
                        "age_group": a.age_group,
                        "site_type": a.site_type,
                        "state": a.state,
                        "at": _at(a.created_at),
                    }
                    for a in reversed(assessments(session, item.id))
                ],
                "traces": [
                    {
                        "host": t.host,
                        "addresses": t.addresses,
                        "country": t.country,
                        "location": t.location,
                        "error": t.error,
                        "at": _at(t.traced_at),
                    }
                    for t in reversed(traces(session, item.id))
                ],
                "actions": [
                    {
                        "action": a.action,
                        "recipient": a.recipient,
                        "language": a.language,
                        "status": a.status,
                        "attempt": a.attempt,
                        "detail": a.detail,
                        "at": _at(a.created_at),
                        "done_at": _at(a.done_at),
                    }
                    for a in actions(session, item.id)
                ],
                "checks": [
                    {
                        "outcome": c.outcome,
                        "http_status": c.http_status,
                        "detail": c.detail,
                        "at": _at(c.checked_at),
                    }
                    for c in reversed(checks(session, item.id, limit=1000))
                ],
            }
        )
    return records
