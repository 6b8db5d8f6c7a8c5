"""The staff's work on reports: queue, report view, evidence, status, assignment, referrals.

Every method takes the signed-in :class:`Principal` and asks the access rules
(accounts.permissions). A report the person may not see is filtered out inside
the query and answers ReportNotFound — never a hint that it exists. Every
read of personal data or evidence and every change is audited.
"""

from __future__ import annotations

import hmac
import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from PIL import Image, ImageFilter, ImageOps
from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.orm import Session

from tarcza.accounts.models import Agency, User
from tarcza.accounts.permissions import (
    Action,
    AgencyKind,
    Principal,
    Relation,
    Role,
    permits,
    relation_of,
)
from tarcza.audit import service as audit
from tarcza.audit.models import AuditEntry
from tarcza.cases import rules
from tarcza.cases.models import Assignment, Outcome, Referral
from tarcza.crypto import KeyRing
from tarcza.errors import Denied, NotFound, Refused
from tarcza.hashing.images import ImageLimits, ImageRejected, open_image
from tarcza.hashing.models import Bank, EvidenceMatch
from tarcza.intake.evidence_store import EvidenceStore
from tarcza.intake.models import Evidence, Report
from tarcza.intake.progress import advance_public_stage
from tarcza.intake.rules import Category, PublicStage, Status, stage_event_of_status_change
from tarcza.intake.service import (
    ReportRejected,
    StaffMessageView,
    conversation,
    write_to_reporter,
)
from tarcza.store.base import utcnow
from tarcza.store.engine import Database

PREVIEW_SIZE = 320
_REFERENCE = re.compile(r"^TZ-[0-9A-Z]{4}-[0-9A-Z]{4}$")
REVEAL_SIZE = 1600


# (session, report id) -> the content items the report names, as the hotline summarises them.
ReportItems = Callable[[Session, int], Sequence[Any]]
# (session, report id, the person, their relation) -> the report's danger alert as they see it.
ReportAlert = Callable[[Session, int, Principal, Relation], Any]


class ReportNotFound(NotFound):
    """No such report — or none this person may see (the same answer)."""


class NationalFiguresInstead(Denied):
    """These counts are not suppressed: the coordinator reads the national figures."""

    detail = "Read the national figures (/api/v1/stats/national): small counts suppressed."


class ActionDenied(Denied):
    """The person sees the record but may not do this to it (403)."""


class OnwardReferralDenied(ActionDenied):
    """A receiving agency tried to refer a report on: only its owner refers (403)."""

    detail = (
        "Only the agency that owns the report refers it to another agency; "
        "ask the owning agency to refer it."
    )
    page_message = detail


class CaseRefused(Refused):
    """A change that breaks a rule: ``field`` and ``message`` say which and why (422)."""


@dataclass(frozen=True)
class QueueFilter:
    category: Category | None = None
    status: Status | None = None
    mine: bool = False


@dataclass(frozen=True)
class QueueItem:
    reference: str
    category: Category
    status: Status
    priority: int
    child_in_danger: bool
    created_at: datetime
    owner_agency: str
    relation: Relation
    assignee: str | None
    bank_match: bool
    evidence_count: int
    referral_pending: bool
    # When the report was referred to the person's agency (None for its own reports).
    referred_at: datetime | None = None


@dataclass(frozen=True)
class MatchView:
    bank: str
    signal_type: str
    distance: int


@dataclass(frozen=True)
class EvidenceView:
    id: int
    media_type: str
    size_bytes: int
    width: int
    height: int
    md5: str
    sha256: str
    pdq: str | None
    pdq_quality: int | None
    matches: list[MatchView]


@dataclass(frozen=True)
class ReferralView:
    id: int
    from_agency: str
    to_agency: str
    state: rules.ReferralState
    reason: str
    created_by: str
    created_at: datetime
    answer: str | None
    answered_by: str | None
    answered_at: datetime | None


@dataclass(frozen=True)
class OutcomeView:
    """An outcome the police recorded on a report referred to it."""

    id: int
    agency: str
    outcome: rules.OutcomeKind
    reason: str | None
    recorded_by: str
    recorded_at: datetime


@dataclass(frozen=True)
class HistoryItem:
    at: datetime
    actor: str
    agency: str | None
    action: str
    reason: str | None
    details: dict[str, object]


@dataclass(frozen=True)
class ReportView:
    reference: str
    category: Category
    status: Status
    priority: int
    child_in_danger: bool
    child_age_range: str | None
    language: str
    source: str
    platform: str | None
    urls: list[str]
    created_at: datetime
    owner_agency: str
    relation: Relation
    assignee: str | None
    # Personal data: present only when the person may read it (and the read is audited).
    description: str | None
    usernames: list[str] | None
    contact: dict[str, str | None] | None
    evidence: list[EvidenceView]
    items: list[Any]  # the hotline's ItemSummary rows (see ReportItems)
    referrals: list[ReferralView]
    history: list[HistoryItem]
    allowed: frozenset[Action] = field(default_factory=frozenset)
    next_statuses: tuple[Status, ...] = ()
    # What the reporter reads on the public status page.
    public_stage: PublicStage = PublicStage.RECEIVED
    # Counts, shown even to an agency that is still deciding on a referral.
    evidence_count: int = 0
    item_count: int = 0
    # Messages with the reporter (personal data: only with it).
    conversation: list[StaffMessageView] = field(default_factory=list)
    # What the police made of it (seen by those who read the personal data).
    outcomes: list[OutcomeView] = field(default_factory=list)
    # A child in danger now: the alert to the police duty desk (tarcza.alerts), if any.
    alert: Any = None


@dataclass(frozen=True)
class RevealGrant:
    """Permission to fetch one unblurred image until ``expires`` (unix seconds)."""

    evidence_id: int
    expires: int
    signature: str


class CaseService:
    """The staff's work on reports."""

    def __init__(
        self,
        db: Database,
        keyring: KeyRing,
        evidence: EvidenceStore,
        *,
        image_limits: ImageLimits | None = None,
        reveal_seconds: int = 120,
        clock: Callable[[], datetime] = utcnow,
        report_items: ReportItems | None = None,
        colleagues: Callable[[str], list[str]] | None = None,
        report_alert: ReportAlert | None = None,
    ) -> None:
        self._db = db
        # A child in danger now: the report's alert as the person sees it (the alerts').
        self._report_alert = report_alert
        # Active usernames of an agency, for assigning work (the accounts service's).
        self._colleagues = colleagues
        # The content items a report names (the hotline's), wired by the composition root.
        self._report_items = report_items
        self._keys = keyring
        self._store = evidence
        self._limits = image_limits or ImageLimits()
        self._reveal = timedelta(seconds=reveal_seconds)
        self._clock = clock

    @property
    def evidence_store(self) -> EvidenceStore:
        return self._store

    def colleagues(self, agency: str) -> list[str]:
        """Active usernames of ``agency``, to assign its work to."""
        return self._colleagues(agency) if self._colleagues is not None else []

    # -- access ---------------------------------------------------------------------

    @staticmethod
    def _visible_to(principal: Principal) -> ColumnElement[bool]:
        """The reports the person's agency owns or has an open referral for."""
        referred = exists().where(
            Referral.report_id == Report.id,
            Referral.to_agency == principal.agency,
            Referral.state.in_(rules.OPEN_REFERRAL_STATES),
        )
        return or_(Report.owner_agency == principal.agency, referred)

    def _report(
        self, session: Session, principal: Principal, reference: str, action: Action
    ) -> tuple[Report, Relation]:
        """The report, if the person sees it and may do ``action`` on it."""
        if not _REFERENCE.match(reference):
            raise ReportNotFound()
        report = session.scalar(
            select(Report).where(Report.reference == reference, self._visible_to(principal))
        )
        if report is None:
            raise ReportNotFound()
        relation = self._relation(session, principal, report)
        if not permits(principal, Action.REPORT_SUMMARY_READ, relation):
            raise ReportNotFound()
        if not permits(principal, action, relation):
            raise ActionDenied()
        return report, relation

    def authorised(
        self, session: Session, principal: Principal, reference: str, action: Action
    ) -> Report:
        """The report, if the person sees it and may do ``action`` on it (else the refusal)."""
        report, _ = self._report(session, principal, reference, action)
        return report

    @property
    def database(self) -> Database:
        return self._db

    @staticmethod
    def _relation(session: Session, principal: Principal, report: Report) -> Relation:
        """Own, referred (accepted), referred and pending, or other."""
        rows = session.execute(
            select(Referral.to_agency, Referral.state).where(
                Referral.report_id == report.id,
                Referral.to_agency == principal.agency,
                Referral.state.in_(rules.OPEN_REFERRAL_STATES),
            )
        ).all()
        accepted = frozenset(a for a, st in rows if st == rules.ReferralState.ACCEPTED.value)
        pending = frozenset(a for a, st in rows if st == rules.ReferralState.PENDING.value)
        return relation_of(principal.agency, report.owner_agency, accepted, pending)

    def _audit(
        self,
        session: Session,
        principal: Principal,
        action: str,
        subject_type: str,
        subject_id: str,
        now: datetime,
        reason: str | None = None,
        details: dict[str, object] | None = None,
    ) -> None:
        audit.append(
            session,
            actor=principal.username,
            agency=principal.agency,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            now=now,
            reason=reason,
            details=details or {},
        )

    # -- the queue ------------------------------------------------------------------

    def queue(
        self, principal: Principal, wanted: QueueFilter | None = None, limit: int = 200
    ) -> list[QueueItem]:
        """Reports for the person's agency, highest priority and newest first."""
        if not permits(principal, Action.REPORT_QUEUE_LIST, Relation.OWN):
            raise ActionDenied()
        wanted = wanted or QueueFilter()
        assignee = (
            select(User.username)
            .join(Assignment, Assignment.user_id == User.id)
            .where(Assignment.report_id == Report.id, Assignment.agency == principal.agency)
            .scalar_subquery()
        )
        matched = exists().where(
            EvidenceMatch.evidence_id == Evidence.id, Evidence.report_id == Report.id
        )
        n_evidence = (
            select(func.count(Evidence.id)).where(Evidence.report_id == Report.id).scalar_subquery()
        )
        pending = exists().where(
            Referral.report_id == Report.id,
            Referral.to_agency == principal.agency,
            Referral.state == rules.ReferralState.PENDING.value,
        )
        referred_at = (
            select(func.min(Referral.created_at))
            .where(
                Referral.report_id == Report.id,
                Referral.to_agency == principal.agency,
                Referral.state.in_(rules.OPEN_REFERRAL_STATES),
            )
            .scalar_subquery()
        )
        query = select(Report, assignee, matched, n_evidence, pending, referred_at).where(
            self._visible_to(principal)
        )
        if wanted.category is not None:
            query = query.where(Report.category == wanted.category.value)
        if wanted.status is not None:
            query = query.where(Report.status == wanted.status.value)
        if wanted.mine:
            query = query.where(
                exists().where(
                    Assignment.report_id == Report.id,
                    Assignment.agency == principal.agency,
                    Assignment.user_id == principal.user_id,
                )
            )
        query = query.order_by(Report.priority.desc(), Report.created_at.desc(), Report.id.desc())
        with self._db.sessions() as session:
            rows = session.execute(query.limit(limit)).all()
            return [
                QueueItem(
                    reference=report.reference,
                    category=Category(report.category),
                    status=Status(report.status),
                    priority=report.priority,
                    child_in_danger=report.child_in_danger,
                    created_at=report.created_at,
                    owner_agency=report.owner_agency,
                    relation=Relation.OWN
                    if report.owner_agency == principal.agency
                    else Relation.REFERRED_PENDING
                    if is_pending
                    else Relation.REFERRED,
                    assignee=who,
                    bank_match=bool(hit),
                    evidence_count=int(count or 0),
                    referral_pending=bool(is_pending),
                    referred_at=_aware(since),
                )
                for report, who, hit, count, is_pending, since in rows
            ]

    # -- one report -----------------------------------------------------------------

    def report(self, principal: Principal, reference: str) -> ReportView:
        """Everything about a report the person may see; reading personal data is audited.

        Someone who may not read the personal data (an agency still deciding on a
        referral) gets the summary only: category, priority, dates, counts and the
        referrals made to their own agency — no URLs, content items, evidence rows,
        history or other agencies' referral reasons.
        """
        now = self._clock()
        with self._db.transaction() as session:
            report, relation = self._report(
                session, principal, reference, Action.REPORT_SUMMARY_READ
            )
            personal = permits(principal, Action.REPORT_PERSONAL_READ, relation)
            evidence = permits(principal, Action.EVIDENCE_PREVIEW_READ, relation)
            items = list(self._report_items(session, report.id)) if self._report_items else []
            n_evidence = session.scalar(
                select(func.count(Evidence.id)).where(Evidence.report_id == report.id)
            )
            if personal:
                self._audit(session, principal, "report.personal_read", "report", reference, now)
            return ReportView(
                reference=report.reference,
                category=Category(report.category),
                status=Status(report.status),
                priority=report.priority,
                child_in_danger=report.child_in_danger,
                child_age_range=report.child_age_range,
                language=report.language,
                source=report.source,
                created_at=report.created_at,
                owner_agency=report.owner_agency,
                relation=relation,
                assignee=self._assignee(session, report.id, principal.agency),
                description=self._open(report.description_sealed, reference, "description")
                if personal
                else None,
                usernames=self._open_json(report.usernames_sealed, reference, "usernames")
                if personal
                else None,
                contact=self._open_json(report.contact_sealed, reference, "contact")
                if personal
                else None,
                platform=report.platform if personal else None,
                urls=[str(u) for u in report.urls] if personal else [],
                evidence=self._evidence_views(session, report.id) if evidence else [],
                items=items if personal else [],
                referrals=self._referral_views(
                    session, report.id, None if personal else principal.agency
                ),
                history=self._history(session, reference) if personal else [],
                allowed=frozenset(a for a in _REPORT_ACTIONS if permits(principal, a, relation)),
                next_statuses=tuple(
                    sorted(rules.NEXT_STATUS[Status(report.status)], key=list(Status).index)
                ),
                public_stage=PublicStage(report.public_stage),
                evidence_count=int(n_evidence or 0),
                item_count=len(items),
                conversation=conversation(session, self._keys, report) if personal else [],
                outcomes=self._outcome_views(session, report.id) if personal else [],
                alert=(
                    self._report_alert(session, report.id, principal, relation)
                    if self._report_alert is not None
                    else None
                ),
            )

    def send_message(self, principal: Principal, reference: str, text: str) -> None:
        """A question or a message to the reporter, shown on the report's status page."""
        now = self._clock()
        with self._db.transaction() as session:
            report, _ = self._report(session, principal, reference, Action.REPORT_MESSAGE_SEND)
            try:
                write_to_reporter(
                    session,
                    self._keys,
                    report,
                    agency=principal.agency,
                    author=principal.username,
                    text=text,
                    now=now,
                )
            except ReportRejected as exc:
                raise CaseRefused(exc.field, exc.code, exc.message) from None

    def _open(self, blob: bytes | None, reference: str, part: str) -> str | None:
        if blob is None:
            return None
        return self._keys.open_text(blob, f"report:{reference}:{part}")

    def _open_json(self, blob: bytes | None, reference: str, part: str) -> Any:
        text = self._open(blob, reference, part)
        return json.loads(text) if text is not None else None

    @staticmethod
    def _assignee(session: Session, report_id: int, agency: str) -> str | None:
        return session.scalar(
            select(User.username)
            .join(Assignment, Assignment.user_id == User.id)
            .where(Assignment.report_id == report_id, Assignment.agency == agency)
        )

    @staticmethod
    def _evidence_views(session: Session, report_id: int) -> list[EvidenceView]:
        rows = session.scalars(
            select(Evidence).where(Evidence.report_id == report_id).order_by(Evidence.id)
        ).all()
        matches: dict[int, list[MatchView]] = {row.id: [] for row in rows}
        for match, bank in session.execute(
            select(EvidenceMatch, Bank.name)
            .join(Bank, Bank.id == EvidenceMatch.bank_id)
            .where(EvidenceMatch.evidence_id.in_(list(matches)))
            .order_by(EvidenceMatch.id)
        ):
            matches[match.evidence_id].append(MatchView(bank, match.signal_type, match.distance))
        return [
            EvidenceView(
                id=row.id,
                media_type=row.media_type,
                size_bytes=row.size_bytes,
                width=row.width,
                height=row.height,
                md5=row.md5,
                sha256=row.sha256,
                pdq=row.pdq,
                pdq_quality=row.pdq_quality,
                matches=matches[row.id],
            )
            for row in rows
        ]

    def _referral_views(
        self, session: Session, report_id: int, to_agency: str | None = None
    ) -> list[ReferralView]:
        """The report's referrals (``to_agency``: only those made to that agency)."""
        query = select(Referral).where(Referral.report_id == report_id)
        if to_agency is not None:
            query = query.where(Referral.to_agency == to_agency)
        rows = session.scalars(query.order_by(Referral.id))
        return [
            ReferralView(
                id=row.id,
                from_agency=row.from_agency,
                to_agency=row.to_agency,
                state=rules.ReferralState(row.state),
                reason=self._keys.open_text(row.reason_sealed, f"referral:{row.id}:reason"),
                created_by=row.created_by,
                created_at=row.created_at,
                answer=self._keys.open_text(row.answer_sealed, f"referral:{row.id}:answer")
                if row.answer_sealed
                else None,
                answered_by=row.answered_by,
                answered_at=row.answered_at,
            )
            for row in rows
        ]

    @staticmethod
    def _history(session: Session, reference: str) -> list[HistoryItem]:
        """Changes to the report, oldest first (reads are in the audit log, not here)."""
        rows = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.subject_type == "report", AuditEntry.subject_id == reference)
            .where(AuditEntry.action.not_in(_READ_ACTIONS))
            .order_by(AuditEntry.seq)
        )
        return [
            HistoryItem(
                at=row.created_at,
                actor=row.actor,
                agency=row.agency,
                action=row.action,
                reason=row.reason,
                details=json.loads(row.details),
            )
            for row in rows
        ]

    # -- evidence -------------------------------------------------------------------

    def _evidence(
        self, session: Session, principal: Principal, evidence_id: int, action: Action
    ) -> tuple[Evidence, str]:
        row = session.get(Evidence, evidence_id) if _valid_id(evidence_id) else None
        if row is None:
            raise ReportNotFound()
        report, _ = self._report(session, principal, row.report.reference, action)
        return row, report.reference

    def preview(self, principal: Principal, evidence_id: int) -> bytes:
        """A small, blurred, greyscale PNG of an evidence image (the view is audited)."""
        now = self._clock()
        with self._db.transaction() as session:
            row, reference = self._evidence(
                session, principal, evidence_id, Action.EVIDENCE_PREVIEW_READ
            )
            self._audit(
                session,
                principal,
                "evidence.preview_viewed",
                "report",
                reference,
                now,
                details={"evidence": evidence_id},
            )
            storage_key = row.storage_key
        return blurred_preview(self._store.get(storage_key), self._limits)

    def reveal(self, principal: Principal, evidence_id: int, reason: str | None) -> RevealGrant:
        """Record why the person reveals an image, and grant its unblurred view for a while."""
        now = self._clock()
        with self._db.transaction() as session:
            _, reference = self._evidence(
                session, principal, evidence_id, Action.EVIDENCE_IMAGE_REVEAL
            )
            why = _checked_reason(reason)  # asked after access: a stranger learns nothing
            self._audit(
                session,
                principal,
                "evidence.revealed",
                "report",
                reference,
                now,
                reason=why,
                details={"evidence": evidence_id},
            )
        expires = int((now + self._reveal).timestamp())
        return RevealGrant(
            evidence_id, expires, self._grant_signature(principal, evidence_id, expires)
        )

    def _grant_signature(self, principal: Principal, evidence_id: int, expires: int) -> str:
        return self._keys.keyed_hash("reveal", f"{principal.user_id}:{evidence_id}:{expires}")

    def revealed(
        self, principal: Principal, evidence_id: int, expires: int, signature: str
    ) -> bytes:
        """The image, re-encoded as PNG, for a live grant made by :meth:`reveal`."""
        expected = self._grant_signature(principal, evidence_id, expires)
        if not hmac.compare_digest(expected, signature) or expires < self._clock().timestamp():
            raise ActionDenied()
        now = self._clock()
        with self._db.transaction() as session:
            row, reference = self._evidence(
                session, principal, evidence_id, Action.EVIDENCE_IMAGE_REVEAL
            )
            self._audit(
                session,
                principal,
                "evidence.revealed_viewed",
                "report",
                reference,
                now,
                details={"evidence": evidence_id},
            )
            storage_key = row.storage_key
        return reencoded(self._store.get(storage_key), self._limits)

    # -- changes --------------------------------------------------------------------

    def change_status(
        self, principal: Principal, reference: str, status: Status, reason: str | None
    ) -> None:
        """Move the report along the workflow, with a reason (the public sees the status)."""
        now = self._clock()
        with self._db.transaction() as session:
            report, _ = self._report(session, principal, reference, Action.REPORT_STATUS_CHANGE)
            why = _checked_reason(reason)
            current = Status(report.status)
            try:
                rules.check_transition(current, status)
            except rules.CaseRuleViolation as exc:
                raise CaseRefused(exc.field, exc.code, exc.message) from exc
            report.status, report.updated_at = status.value, now
            stage, reopen = stage_event_of_status_change(current, status)
            self._tell_reporter(session, principal, report, stage, now, reopen=reopen)
            self._audit(
                session,
                principal,
                "report.status_changed",
                "report",
                reference,
                now,
                reason=why,
                details={"from": current.value, "to": status.value},
            )

    @staticmethod
    def _tell_reporter(
        session: Session,
        principal: Principal,
        report: Report,
        stage: PublicStage,
        now: datetime,
        *,
        reopen: bool = False,
    ) -> None:
        """Move what the public status page says, in this change's transaction."""
        advance_public_stage(
            session,
            [report.id],
            stage,
            now,
            actor=principal.username,
            agency=principal.agency,
            reopen=reopen,
        )

    def assign(self, principal: Principal, reference: str, username: str | None) -> None:
        """Give the report to a colleague of the same agency (or to nobody)."""
        now = self._clock()
        with self._db.transaction() as session:
            report, _ = self._report(session, principal, reference, Action.REPORT_ASSIGNMENT_CHANGE)
            current = session.scalar(
                select(Assignment).where(
                    Assignment.report_id == report.id, Assignment.agency == principal.agency
                )
            )
            if not username:
                if current is not None:
                    session.delete(current)
                assignee = None
            else:
                user = session.scalar(
                    select(User)
                    .join(Agency, Agency.id == User.agency_id)
                    .where(User.username == username, User.active, Agency.code == principal.agency)
                )
                if user is None or not permits(
                    _as_principal(user, principal), Action.REPORT_SUMMARY_READ, Relation.OWN
                ):
                    raise CaseRefused(
                        "assignee", "unknown", "No colleague of that name works reports here."
                    )
                if current is None:
                    current = Assignment(report_id=report.id, agency=principal.agency)
                    session.add(current)
                current.user_id, current.assigned_at = user.id, now
                assignee = user.username
            self._audit(
                session,
                principal,
                "report.assigned",
                "report",
                reference,
                now,
                details={"to": assignee},
            )

    def refer(
        self, principal: Principal, reference: str, to_agency: str, reason: str | None
    ) -> int:
        """Hand the report to another agency with a reason; it accepts or declines."""
        now = self._clock()
        with self._db.transaction() as session:
            report, relation = self._report(
                session, principal, reference, Action.REPORT_SUMMARY_READ
            )
            if not permits(principal, Action.REPORT_REFERRAL_CREATE, relation):
                # Access passed on by a receiving agency would outlive its own (defect 4).
                if relation in (Relation.REFERRED, Relation.REFERRED_PENDING):
                    raise OnwardReferralDenied()
                raise ActionDenied()
            why = _checked_reason(reason)
            target = session.scalar(select(Agency).where(Agency.code == to_agency))
            if target is None or target.kind in ("platform", "coordinator"):
                raise CaseRefused("to_agency", "unknown", "Choose an agency that works cases.")
            if target.code in (principal.agency, report.owner_agency):
                raise CaseRefused("to_agency", "own", "The report is already with that agency.")
            already = session.scalar(
                select(Referral.id).where(
                    Referral.report_id == report.id,
                    Referral.to_agency == target.code,
                    Referral.state.in_(rules.OPEN_REFERRAL_STATES),
                )
            )
            if already is not None:
                raise CaseRefused("to_agency", "duplicate", "It is already referred there.")
            row = Referral(
                report_id=report.id,
                from_agency=principal.agency,
                to_agency=target.code,
                state=rules.ReferralState.PENDING.value,
                reason_sealed=b"",
                created_by=principal.username,
                created_at=now,
            )
            session.add(row)
            session.flush()
            row.reason_sealed = self._keys.seal_text(why, f"referral:{row.id}:reason")
            self._audit(
                session,
                principal,
                "report.referred",
                "report",
                reference,
                now,
                reason=why,
                details={"referral": row.id, "to": target.code},
            )
            return row.id

    def answer(
        self, principal: Principal, referral_id: int, accept: bool, reason: str | None
    ) -> None:
        """The receiving agency accepts (the report is forwarded) or declines (access ends)."""
        now = self._clock()
        with self._db.transaction() as session:
            row = (
                session.get(Referral, referral_id, with_for_update=True)
                if _valid_id(referral_id)
                else None
            )
            if row is None:
                raise ReportNotFound()
            reference = session.scalar(select(Report.reference).where(Report.id == row.report_id))
            assert reference is not None
            report, relation = self._report(
                session, principal, reference, Action.REPORT_SUMMARY_READ
            )
            # Only while the agency is still deciding (an accepted report is not re-answered).
            if row.to_agency != principal.agency or not permits(
                principal, Action.REFERRAL_ANSWER, relation
            ):
                raise ActionDenied()
            why = _checked_reason(reason)
            if row.state != rules.ReferralState.PENDING.value:
                raise CaseRefused("referral", "answered", "This referral was already answered.")
            state = rules.ReferralState.ACCEPTED if accept else rules.ReferralState.DECLINED
            row.state, row.answered_by, row.answered_at = state.value, principal.username, now
            row.answer_sealed = self._keys.seal_text(why, f"referral:{row.id}:answer")
            details: dict[str, object] = {"referral": row.id, "answer": state.value}
            if accept:
                before = Status(report.status)
                after = rules.status_after_acceptance(before)
                report.status, report.updated_at = after.value, now
                details.update({"from": before.value, "to": after.value})
                # The reporter may hear "the police" and nothing more precise about who.
                police = principal.agency_kind is AgencyKind.POLICE
                stage = PublicStage.PASSED_TO_POLICE if police else PublicStage.ACTION_TAKEN
                self._tell_reporter(session, principal, report, stage, now)
            self._audit(
                session,
                principal,
                "referral.answered",
                "report",
                reference,
                now,
                reason=why,
                details=details,
            )
            if not accept:
                self._end_derived(session, principal, report, row, now)

    def withdraw(self, principal: Principal, referral_id: int, reason: str | None) -> None:
        """The owning agency takes a pending or accepted referral back (access ends).

        Every referral the receiving agency made of the report (before onward referrals
        were refused) ends with it, in the same transaction.
        """
        now = self._clock()
        with self._db.transaction() as session:
            row = (
                session.get(Referral, referral_id, with_for_update=True)
                if _valid_id(referral_id)
                else None
            )
            if row is None:
                raise ReportNotFound()
            reference = session.scalar(select(Report.reference).where(Report.id == row.report_id))
            assert reference is not None
            report, relation = self._report(
                session, principal, reference, Action.REPORT_SUMMARY_READ
            )
            if not permits(principal, Action.REPORT_REFERRAL_CREATE, relation):
                raise ActionDenied()
            why = _checked_reason(reason)
            if row.state not in rules.OPEN_REFERRAL_STATES:
                raise CaseRefused("referral", "ended", "This referral has already ended.")
            before = row.state
            row.state = rules.ReferralState.WITHDRAWN.value
            row.answered_by, row.answered_at = principal.username, now
            self._audit(
                session,
                principal,
                "referral.withdrawn",
                "report",
                reference,
                now,
                reason=why,
                details={"referral": row.id, "to": row.to_agency, "was": before},
            )
            self._end_derived(session, principal, report, row, now)

    def _end_derived(
        self, session: Session, principal: Principal, report: Report, ended: Referral, now: datetime
    ) -> None:
        """Withdraw every open referral of ``report`` made by an agency whose access ended.

        Followed down the chain: an agency whose referral is withdrawn here loses its access
        too, so the referrals it made end as well. Each one is audited.
        """
        lost = [ended.to_agency]
        while lost:
            agency = lost.pop()
            derived = session.scalars(
                select(Referral)
                .where(
                    Referral.report_id == report.id,
                    Referral.from_agency == agency,
                    Referral.to_agency != report.owner_agency,
                    Referral.state.in_(rules.OPEN_REFERRAL_STATES),
                )
                .order_by(Referral.id)
                .with_for_update()
            ).all()
            for row in derived:
                before = row.state
                row.state = rules.ReferralState.WITHDRAWN.value
                row.answered_by, row.answered_at = principal.username, now
                self._audit(
                    session,
                    principal,
                    "referral.withdrawn",
                    "report",
                    report.reference,
                    now,
                    details={
                        "referral": row.id,
                        "to": row.to_agency,
                        "was": before,
                        "ended_with": ended.id,
                    },
                )
                lost.append(row.to_agency)

    # -- outcomes -------------------------------------------------------------------

    def record_outcome(
        self, principal: Principal, reference: str, outcome: str | None, reason: str | None
    ) -> int:
        """Record what the police made of a report referred to it (no action needs a reason)."""
        now = self._clock()
        with self._db.transaction() as session:
            report, _ = self._report(session, principal, reference, Action.REFERRAL_OUTCOME_RECORD)
            try:
                kind, why = rules.check_outcome(outcome, reason)
            except rules.CaseRuleViolation as exc:
                raise CaseRefused(exc.field, exc.code, exc.message) from exc
            referral_id = session.scalar(
                select(Referral.id)
                .where(
                    Referral.report_id == report.id,
                    Referral.to_agency == principal.agency,
                    Referral.state == rules.ReferralState.ACCEPTED.value,
                )
                .order_by(Referral.id.desc())
                .limit(1)
            )
            assert referral_id is not None  # the relation "referred" is an accepted referral
            row = Outcome(
                report_id=report.id,
                referral_id=referral_id,
                agency=principal.agency,
                outcome=kind.value,
                recorded_by=principal.username,
                recorded_at=now,
            )
            session.add(row)
            session.flush()
            if why is not None:
                row.reason_sealed = self._keys.seal_text(why, f"outcome:{row.id}:reason")
            self._audit(
                session,
                principal,
                "referral.outcome_recorded",
                "report",
                reference,
                now,
                reason=why,
                details={"outcome": kind.value, "referral": referral_id, "id": row.id},
            )
            return row.id

    def _outcome_views(self, session: Session, report_id: int) -> list[OutcomeView]:
        rows = session.scalars(
            select(Outcome).where(Outcome.report_id == report_id).order_by(Outcome.id)
        )
        return [
            OutcomeView(
                id=row.id,
                agency=row.agency,
                outcome=rules.OutcomeKind(row.outcome),
                reason=self._keys.open_text(row.reason_sealed, f"outcome:{row.id}:reason")
                if row.reason_sealed
                else None,
                recorded_by=row.recorded_by,
                recorded_at=row.recorded_at,
            )
            for row in rows
        ]

    def outcome_views(self, session: Session, report_id: int) -> list[OutcomeView]:
        """The outcomes recorded on a report, oldest first (for the evidence package)."""
        return self._outcome_views(session, report_id)

    def agencies_to_refer(self, principal: Principal) -> list[tuple[str, str]]:
        """(code, name) of the agencies a report can be referred to from here."""
        with self._db.sessions() as session:
            rows = session.execute(
                select(Agency.code, Agency.name)
                .where(Agency.kind.not_in(["platform", "coordinator"]))
                .where(Agency.code != principal.agency)
                .order_by(Agency.code)
            ).all()
            return [(code, name) for code, name in rows]

    def figures(self, principal: Principal) -> dict[str, dict[str, int]]:
        """Counts only — by status, category, agency and referral state — never a record.

        The coordinator counts the whole country; a supervisor counts what their
        agency sees (its reports and those referred to it), so no count leaks
        another agency's work.
        """
        if not permits(principal, Action.STATS_AGGREGATE_READ, Relation.OWN):
            raise ActionDenied()
        if principal.agency_kind is AgencyKind.COORDINATOR:
            raise NationalFiguresInstead()
        national = principal.role is Role.COORDINATOR
        reports = None if national else self._visible_to(principal)
        referrals = (
            None
            if national
            else or_(
                Referral.from_agency == principal.agency, Referral.to_agency == principal.agency
            )
        )
        # Outcomes of the reports the agency sees (its own work, or on its reports).
        outcomes = (
            None if reports is None else Outcome.report_id.in_(select(Report.id).where(reports))
        )
        with self._db.sessions() as session:
            return {
                "status": _counts(session, Report.status, reports),
                "category": _counts(session, Report.category, reports),
                "agency": _counts(session, Report.owner_agency, reports),
                "referral": _counts(session, Referral.state, referrals),
                "outcome": _counts(session, Outcome.outcome, outcomes),
            }


# What may be done to a report (the helpline's actions are on its own contacts and cases).
_REPORT_ACTIONS = tuple(a for a in Action if not a.value.startswith("helpline:"))

_READ_ACTIONS = (
    "report.personal_read",
    "evidence.preview_viewed",
    "evidence.revealed_viewed",
)


def _counts(session: Session, column: Any, where: ColumnElement[bool] | None) -> dict[str, int]:
    query = select(column, func.count()).group_by(column)
    if where is not None:
        query = query.where(where)
    rows = session.execute(query).all()
    return {str(key): int(n) for key, n in rows}


def _aware(moment: datetime | None) -> datetime | None:
    """A time read through a bare SQL expression: SQLite gives it back without its zone."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _as_principal(user: User, colleague_of: Principal) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        agency=colleague_of.agency,
        agency_kind=colleague_of.agency_kind,
        role=Role(user.role),
        mfa_passed=True,
    )


def _valid_id(value: int) -> bool:
    """Row ids are positive 64-bit integers; anything else names no row."""
    return 0 < value < 2**63


def _checked_reason(reason: str | None) -> str:
    try:
        return rules.check_reason(reason)
    except rules.CaseRuleViolation as exc:
        raise CaseRefused(exc.field, exc.code, exc.message) from exc


def blurred_preview(data: bytes, limits: ImageLimits) -> bytes:
    """Greyscale, heavily blurred, at most 320 px: enough to tell images apart, not to see."""
    try:
        img, _ = open_image(data, limits)
    except ImageRejected:
        img = Image.new("L", (PREVIEW_SIZE, PREVIEW_SIZE // 2), 128)
    with img:
        small = ImageOps.grayscale(img)
        small.thumbnail((PREVIEW_SIZE, PREVIEW_SIZE))
        radius = max(6, max(small.size) // 12)
        blurred = small.filter(ImageFilter.GaussianBlur(radius))
        out = io.BytesIO()
        blurred.save(out, format="PNG")
        return out.getvalue()


def reencoded(data: bytes, limits: ImageLimits) -> bytes:
    """The image decoded and saved again as PNG (no metadata, no original bytes), ≤1600 px.

    A video (or anything else no image) gives a plain grey picture: it is examined from the
    evidence package, never played in the browser."""
    try:
        img, _ = open_image(data, limits)
    except ImageRejected:
        img = Image.new("L", (PREVIEW_SIZE, PREVIEW_SIZE // 2), 128)
    with img:
        rgb = img.convert("RGB")
        rgb.thumbnail((REVEAL_SIZE, REVEAL_SIZE))
        out = io.BytesIO()
        rgb.save(out, format="PNG")
        return out.getvalue()
