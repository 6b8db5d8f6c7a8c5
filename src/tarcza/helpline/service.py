"""The child helpline's work: contacts, cases, and the one-step actions from a contact.

Every method takes the signed-in :class:`Principal` and asks the access rules
(accounts.permissions). A helpline's contacts and cases are its own ("own": the record's
agency is the person's); a police unit a case was referred to reads the case's summary and
nothing else. A record the person may not see answers NotFound, never a hint it exists.
Sealed: summaries, notes, reasons, and a name or number (kept only with a reason).

From a contact, one step each: open or link a case; file a report to the hotline (its links
become the hotline's content items through intake, as any report's do); give the child the
self-protection link; refer to the police with a reason (a report owned by the helpline is
made and referred through casework's ``open_referral``, so it reaches the police's queue).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tarcza.accounts.models import Agency, User
from tarcza.accounts.permissions import Action, AgencyKind, Principal, Relation, permits
from tarcza.alerts.service import AlertService, AlertView
from tarcza.audit import service as audit
from tarcza.cases.models import Referral
from tarcza.cases.referrals import open_referral
from tarcza.cases.rules import OPEN_REFERRAL_STATES, ReferralState
from tarcza.crypto import KeyRing
from tarcza.errors import Denied, NotFound, Refused
from tarcza.helpline import rules
from tarcza.helpline.models import HelplineCase, HelplineContact, HelplineEvent
from tarcza.intake.models import Report
from tarcza.intake.rules import MAX_URLS, RuleViolation, check_url
from tarcza.intake.service import IntakeService, NewReport, ReportRejected
from tarcza.store.base import utcnow
from tarcza.store.engine import Database

# Where a child protects their own pictures (the selfprotect concept's public page).
SELFPROTECT_PATH = "/protect"


class HelplineNotFound(NotFound):
    """No such contact or case — or none this person may see (the same answer)."""


class HelplineDenied(Denied):
    """The person sees the record but may not do this to it (403)."""


class HelplineRefused(Refused):
    """A value breaks a rule: ``field`` and ``message`` say which and why (422)."""


class EventKind:
    NOTE = "note"
    REPORT = "report"  # a report filed to the hotline
    SELFPROTECT = "selfprotect"  # the self-protection link given to the child
    POLICE = "police"  # referred to the police
    SERVICE = "service"  # referred onwards to a local service
    LINKED = "linked"  # the contact joined the case


@dataclass(frozen=True)
class NewContact:
    """A contact as the counsellor enters it (checked by :func:`rules.check_contact`)."""

    channel: str
    caller: str
    age_band: str
    topics: Sequence[str]
    risk: str
    summary: str
    started_at: datetime | None = None  # None: now, less the duration
    duration_minutes: int | str = 0
    name: str | None = None
    number: str | None = None
    identity_reason: str | None = None


@dataclass(frozen=True)
class ContactView:
    id: int
    case_id: int | None
    channel: rules.Channel
    caller: rules.Caller
    age_band: rules.AgeBand
    topics: tuple[rules.Topic, ...]
    risk: rules.Risk
    started_at: datetime
    duration_minutes: int
    summary: str | None  # None in lists (opened only when one contact is read)
    has_identity: bool
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class EventView:
    id: int
    kind: str
    contact_id: int | None
    text: str | None
    report_reference: str | None
    referral_id: int | None
    referral_state: str | None
    service: rules.Service | None
    service_id: str | None
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class CaseView:
    id: int
    agency: str
    status: rules.CaseStatus
    risk: rules.Risk
    assignee: str | None
    next_follow_up: date | None
    created_at: datetime
    closed_at: datetime | None
    relation: Relation
    topics: tuple[rules.Topic, ...]
    age_bands: tuple[rules.AgeBand, ...]
    # The timeline (only for the helpline itself; a referred agency reads the summary).
    contacts: list[ContactView] = field(default_factory=list)
    events: list[EventView] = field(default_factory=list)
    allowed: frozenset[Action] = field(default_factory=frozenset)
    # A child in danger now: the alerts of the case's reports, by reference (the same state
    # the hotline and the police duty desk see).
    alerts: dict[str, AlertView] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueEntry:
    id: int
    risk: rules.Risk
    status: rules.CaseStatus
    assignee: str | None
    next_follow_up: date | None
    due: bool
    topics: tuple[rules.Topic, ...]
    contacts: int
    created_at: datetime


@dataclass(frozen=True)
class Filed:
    """What a one-step action made: the report's reference, and the referral's id if any."""

    reference: str
    referral_id: int | None = None
    items: int = 0


class HelplineService:
    """The helpline's contacts and cases; collaborators are passed in."""

    def __init__(
        self,
        db: Database,
        keyring: KeyRing,
        intake: IntakeService,
        *,
        retention: rules.Retention,
        directory: Sequence[rules.Service] = (),
        police_agency: str = "police",
        alerts: AlertService | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        # A child in danger now: the alert the danger rules raised on a report it filed, which
        # the helpline follows with the hotline and the police duty desk.
        self._alerts = alerts
        self._keys = keyring
        # Reports to the hotline go in through intake, as every report does.
        self._intake = intake
        self._retention = retention
        self._directory = list(directory)
        self._services = {s.id: s for s in self._directory}
        self._police = police_agency
        self._clock = clock

    # -- access -------------------------------------------------------------------------------

    @staticmethod
    def _require(principal: Principal, action: Action) -> None:
        """Actions on no record yet (recording, the queue): the person's own scope."""
        if not permits(principal, action, Relation.OWN):
            raise HelplineDenied()

    def _contact(
        self, session: Session, principal: Principal, contact_id: int, action: Action
    ) -> HelplineContact:
        row = session.get(HelplineContact, contact_id) if _valid_id(contact_id) else None
        if row is None or row.agency != principal.agency:
            raise HelplineNotFound()
        if not permits(principal, Action.HELPLINE_CONTACT_READ, Relation.OWN):
            raise HelplineNotFound()
        if not permits(principal, action, Relation.OWN):
            raise HelplineDenied()
        return row

    def _relation(self, session: Session, principal: Principal, case: HelplineCase) -> Relation:
        if case.agency == principal.agency:
            return Relation.OWN
        states = session.scalars(
            select(Referral.state)
            .join(HelplineEvent, HelplineEvent.referral_id == Referral.id)
            .where(
                HelplineEvent.case_id == case.id,
                HelplineEvent.kind == EventKind.POLICE,
                Referral.to_agency == principal.agency,
            )
        ).all()
        if ReferralState.ACCEPTED.value in states:
            return Relation.REFERRED
        if ReferralState.PENDING.value in states:
            return Relation.REFERRED_PENDING
        return Relation.OTHER

    def _case(
        self, session: Session, principal: Principal, case_id: int, action: Action
    ) -> tuple[HelplineCase, Relation]:
        row = session.get(HelplineCase, case_id) if _valid_id(case_id) else None
        if row is None:
            raise HelplineNotFound()
        relation = self._relation(session, principal, row)
        if not permits(principal, Action.HELPLINE_SUMMARY_READ, relation):
            raise HelplineNotFound()
        if not permits(principal, action, relation):
            raise HelplineDenied()
        return row, relation

    def _audit(
        self,
        session: Session,
        principal: Principal,
        action: str,
        subject_type: str,
        subject_id: object,
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
            subject_id=str(subject_id),
            now=now,
            reason=reason,
            details=details or {},
        )

    # -- contacts -----------------------------------------------------------------------------

    def record_contact(self, principal: Principal, new: NewContact) -> int:
        """Record a contact (sealing its summary, and a name or number only with a reason)."""
        self._require(principal, Action.HELPLINE_CONTACT_RECORD)
        now = self._clock()
        started = new.started_at or now
        try:
            facts = rules.check_contact(
                channel=new.channel,
                caller=new.caller,
                age_band=new.age_band,
                topics=new.topics,
                risk=new.risk,
                started_at=started,
                duration_minutes=new.duration_minutes,
                now=now,
            )
            summary = rules.check_summary(new.summary)
            identity = rules.check_identity(new.name, new.number, new.identity_reason)
        except rules.HelplineRuleViolation as exc:
            raise HelplineRefused(exc.field, exc.code, exc.message) from exc
        with self._db.transaction() as session:
            row = HelplineContact(
                agency=principal.agency,
                channel=facts.channel.value,
                caller=facts.caller.value,
                age_band=facts.age_band.value,
                topics=" ".join(t.value for t in facts.topics),
                risk=facts.risk.value,
                started_at=facts.started_at,
                duration_minutes=facts.duration_minutes,
                summary_sealed=b"",
                created_by=principal.username,
                created_at=now,
            )
            session.add(row)
            session.flush()
            row.summary_sealed = self._keys.seal_text(summary, _ctx("contact", row.id, "summary"))
            if identity is not None:
                blob = json.dumps(
                    {"name": identity.name, "number": identity.number, "reason": identity.reason}
                )
                context = _ctx("contact", row.id, "identity")
                row.identity_sealed = self._keys.seal_text(blob, context)
            self._audit(
                session,
                principal,
                "helpline.contact_recorded",
                "helpline_contact",
                row.id,
                now,
                details={
                    "channel": facts.channel.value,
                    "topics": [t.value for t in facts.topics],
                    "risk": facts.risk.value,
                    "identity": identity is not None,
                },
            )
            return row.id

    def contact(self, principal: Principal, contact_id: int) -> ContactView:
        """One contact with its summary opened."""
        with self._db.sessions() as session:
            row = self._contact(session, principal, contact_id, Action.HELPLINE_CONTACT_READ)
            return self._contact_view(row, opened=True)

    def identity(self, principal: Principal, contact_id: int) -> dict[str, str | None]:
        """The name or number kept with a contact, and why; the reading is audited."""
        now = self._clock()
        with self._db.transaction() as session:
            row = self._contact(session, principal, contact_id, Action.HELPLINE_IDENTITY_READ)
            if row.identity_sealed is None:
                raise HelplineNotFound()
            self._audit(
                session, principal, "helpline.identity_read", "helpline_contact", row.id, now
            )
            found: dict[str, str | None] = json.loads(
                self._keys.open_text(row.identity_sealed, _ctx("contact", row.id, "identity"))
            )
            return found

    def recent_contacts(self, principal: Principal, limit: int = 50) -> list[ContactView]:
        """The agency's latest contacts, newest first (summaries stay sealed)."""
        self._require(principal, Action.HELPLINE_CONTACT_READ)
        with self._db.sessions() as session:
            rows = session.scalars(
                select(HelplineContact)
                .where(HelplineContact.agency == principal.agency)
                .order_by(HelplineContact.started_at.desc(), HelplineContact.id.desc())
                .limit(limit)
            ).all()
            return [self._contact_view(row, opened=False) for row in rows]

    def _contact_view(self, row: HelplineContact, *, opened: bool) -> ContactView:
        return ContactView(
            id=row.id,
            case_id=row.case_id,
            channel=rules.Channel(row.channel),
            caller=rules.Caller(row.caller),
            age_band=rules.AgeBand(row.age_band),
            topics=_topics(row.topics),
            risk=rules.Risk(row.risk),
            started_at=row.started_at,
            duration_minutes=row.duration_minutes,
            summary=self._keys.open_text(row.summary_sealed, _ctx("contact", row.id, "summary"))
            if opened
            else None,
            has_identity=row.identity_sealed is not None,
            created_by=row.created_by,
            created_at=row.created_at,
        )

    # -- one step from a contact ---------------------------------------------------------------

    def open_case(self, principal: Principal, contact_id: int) -> int:
        """Open a case for the contact (its risk the contact's); the contact joins it."""
        now = self._clock()
        with self._db.transaction() as session:
            contact = self._contact(session, principal, contact_id, Action.HELPLINE_CASE_WORK)
            if contact.case_id is not None:
                raise HelplineRefused("contact", "in_case", "The contact is already in a case.")
            case = HelplineCase(
                agency=principal.agency,
                status=rules.CaseStatus.OPEN.value,
                risk=contact.risk,
                assignee=principal.username,
                created_by=principal.username,
                created_at=now,
                updated_at=now,
            )
            session.add(case)
            session.flush()
            self._join(session, principal, contact, case, now)
            self._audit(
                session,
                principal,
                "helpline.case_opened",
                "helpline_case",
                case.id,
                now,
                details={"contact": contact.id, "risk": contact.risk},
            )
            return case.id

    def link_case(self, principal: Principal, contact_id: int, case_id: int) -> None:
        """Add the contact to an open case of the same helpline (the case's risk rises to it)."""
        now = self._clock()
        with self._db.transaction() as session:
            contact = self._contact(session, principal, contact_id, Action.HELPLINE_CASE_WORK)
            try:
                case, relation = self._case(session, principal, case_id, Action.HELPLINE_CASE_WORK)
            except (HelplineNotFound, HelplineDenied):
                raise _no_open_case() from None
            if relation is not Relation.OWN or case.status != rules.CaseStatus.OPEN.value:
                raise _no_open_case()
            if contact.case_id is not None:
                raise HelplineRefused("contact", "in_case", "The contact is already in a case.")
            self._join(session, principal, contact, case, now)
            if rules.RISK_RANK[rules.Risk(contact.risk)] > rules.RISK_RANK[rules.Risk(case.risk)]:
                case.risk = contact.risk
            case.updated_at = now
            self._audit(
                session,
                principal,
                "helpline.contact_linked",
                "helpline_case",
                case.id,
                now,
                details={"contact": contact.id},
            )

    def _join(
        self,
        session: Session,
        principal: Principal,
        contact: HelplineContact,
        case: HelplineCase,
        now: datetime,
    ) -> None:
        contact.case_id = case.id
        # What was done from the contact before it joined belongs to the case now too.
        for event in session.scalars(
            select(HelplineEvent).where(
                HelplineEvent.contact_id == contact.id, HelplineEvent.case_id.is_(None)
            )
        ):
            event.case_id = case.id
        self._event(session, principal, case.id, contact.id, EventKind.LINKED, now)

    def _event(
        self,
        session: Session,
        principal: Principal,
        case_id: int | None,
        contact_id: int | None,
        kind: str,
        now: datetime,
        *,
        text: str | None = None,
        report_reference: str | None = None,
        referral_id: int | None = None,
        service_id: str | None = None,
    ) -> HelplineEvent:
        row = HelplineEvent(
            agency=principal.agency,
            case_id=case_id,
            contact_id=contact_id,
            kind=kind,
            report_reference=report_reference,
            referral_id=referral_id,
            service_id=service_id,
            created_by=principal.username,
            created_at=now,
        )
        session.add(row)
        session.flush()
        if text is not None:
            row.text_sealed = self._keys.seal_text(text, _ctx("event", row.id, "text"))
        return row

    def file_report(
        self, principal: Principal, contact_id: int, urls: Sequence[str], note: str | None = None
    ) -> Filed:
        """File the links the child gave as a report to the hotline (source "helpline").

        The links become the hotline's content items as any report's do; the report's
        reference is kept on the contact (and its case). ``note``: what the hotline should
        know (optional; nothing of the sealed summary goes with it unless typed here).
        """
        cleaned = _checked_urls(urls)
        text = ""
        if note and note.strip():
            text = _checked(lambda: rules.check_note(note), "note")
        with self._db.sessions() as session:
            contact = self._contact(session, principal, contact_id, Action.HELPLINE_REPORT_FILE)
            topics, band = _topics(contact.topics), rules.AgeBand(contact.age_band)
            immediate = contact.risk == rules.Risk.IMMEDIATE.value
        try:
            receipt = self._intake.submit(
                NewReport(
                    category=rules.report_category(topics),
                    description=text,
                    urls=tuple(cleaned),
                    child_in_danger=immediate,
                    child_age_range=rules.age_range(band),
                    language="pl",
                    source="helpline",
                ),
                reporter=None,
            )
        except ReportRejected as exc:
            raise HelplineRefused(exc.field, exc.code, exc.message) from exc
        now = self._clock()
        with self._db.transaction() as session:
            contact = self._contact(session, principal, contact_id, Action.HELPLINE_REPORT_FILE)
            self._event(
                session,
                principal,
                contact.case_id,
                contact.id,
                EventKind.REPORT,
                now,
                report_reference=receipt.reference,
            )
            if self._alerts is not None:
                self._alerts.share_with(session, receipt.reference, principal.agency)
            self._audit(
                session,
                principal,
                "helpline.report_filed",
                "helpline_contact",
                contact.id,
                now,
                details={"report": receipt.reference, "urls": len(cleaned)},
            )
        return Filed(reference=receipt.reference, items=len(cleaned))

    def give_selfprotect_link(self, principal: Principal, contact_id: int) -> str:
        """Record that the child was given the self-protection link; returns its path."""
        now = self._clock()
        with self._db.transaction() as session:
            contact = self._contact(session, principal, contact_id, Action.HELPLINE_CONTACT_RECORD)
            self._event(session, principal, contact.case_id, contact.id, EventKind.SELFPROTECT, now)
            self._audit(
                session,
                principal,
                "helpline.selfprotect_link_given",
                "helpline_contact",
                contact.id,
                now,
            )
        return SELFPROTECT_PATH

    def refer_to_police(
        self,
        principal: Principal,
        reason: str | None,
        *,
        contact_id: int | None = None,
        case_id: int | None = None,
    ) -> Filed:
        """Refer a contact (or a case, through its latest contact) to the police, with a reason.

        A report owned by the helpline carries the facts (categories, risk, age band, the
        reason; never the sealed summary or a name) and casework refers it to the police
        agency, so it reaches the police's queue to be accepted or declined there.
        """
        why = _checked(lambda: rules.check_reason(reason), "reason")
        with self._db.sessions() as session:
            if case_id is not None:
                case, _ = self._case(session, principal, case_id, Action.HELPLINE_POLICE_REFER)
                contact = session.scalars(
                    select(HelplineContact)
                    .where(HelplineContact.case_id == case.id)
                    .order_by(HelplineContact.started_at.desc(), HelplineContact.id.desc())
                ).first()
                if contact is None:  # a case always starts from a contact
                    raise HelplineNotFound()
            elif contact_id is not None:
                contact = self._contact(
                    session, principal, contact_id, Action.HELPLINE_POLICE_REFER
                )
            else:
                raise HelplineRefused("contact", "required", "Name a contact or a case.")
            if self._open_police_referral(session, contact):
                raise HelplineRefused(
                    "reason", "duplicate", "It is already with the police, waiting or accepted."
                )
            police = session.scalar(select(Agency).where(Agency.code == self._police))
            if police is None or police.kind != AgencyKind.POLICE.value:
                raise HelplineRefused("to_agency", "unknown", "No police agency is set up.")
            contact_id, target_case = contact.id, contact.case_id
            topics, risk = _topics(contact.topics), contact.risk
            band = rules.AgeBand(contact.age_band)
        description = _police_description(target_case, topics, band, rules.Risk(risk), why)
        receipt = self._intake.submit(
            NewReport(
                category=rules.report_category(topics),
                description=description,
                child_in_danger=risk == rules.Risk.IMMEDIATE.value,
                child_age_range=rules.age_range(band),
                language="pl",
                source="helpline",
                owner_agency=principal.agency,
            ),
            reporter=None,
        )
        now = self._clock()
        with self._db.transaction() as session:
            contact = self._contact(session, principal, contact_id, Action.HELPLINE_POLICE_REFER)
            report_id = session.scalar(
                select(Report.id).where(Report.reference == receipt.reference)
            )
            assert report_id is not None
            referral = open_referral(
                session,
                self._keys,
                report_id=report_id,
                reference=receipt.reference,
                from_agency=principal.agency,
                to_agency=self._police,
                reason=why,
                actor=principal.username,
                now=now,
                details={"helpline_contact": contact.id, "helpline_case": contact.case_id},
            )
            if referral is None:  # a child in danger now: the danger rules referred it already
                referral = session.scalar(
                    select(Referral.id).where(
                        Referral.report_id == report_id,
                        Referral.to_agency == self._police,
                        Referral.state.in_(OPEN_REFERRAL_STATES),
                    )
                )
            self._event(
                session,
                principal,
                contact.case_id,
                contact.id,
                EventKind.POLICE,
                now,
                text=why,
                report_reference=receipt.reference,
                referral_id=referral,
            )
            self._audit(
                session,
                principal,
                "helpline.referred_to_police",
                "helpline_case" if contact.case_id else "helpline_contact",
                contact.case_id or contact.id,
                now,
                reason=why,
                details={"report": receipt.reference, "referral": referral, "to": self._police},
            )
        return Filed(reference=receipt.reference, referral_id=referral)

    @staticmethod
    def _open_police_referral(session: Session, contact: HelplineContact) -> bool:
        """Whether the contact's case (or the contact, when in no case) is with the police."""
        where = (
            HelplineEvent.case_id == contact.case_id
            if contact.case_id is not None
            else HelplineEvent.contact_id == contact.id
        )
        found = session.scalar(
            select(Referral.id)
            .join(HelplineEvent, HelplineEvent.referral_id == Referral.id)
            .where(
                where,
                HelplineEvent.kind == EventKind.POLICE,
                Referral.state.in_(OPEN_REFERRAL_STATES),
            )
            .limit(1)
        )
        return found is not None

    # -- cases --------------------------------------------------------------------------------

    def case(self, principal: Principal, case_id: int) -> CaseView:
        """The case: for its helpline with the timeline; for a referred police unit, the summary."""
        with self._db.sessions() as session:
            case, relation = self._case(session, principal, case_id, Action.HELPLINE_SUMMARY_READ)
            contacts = session.scalars(
                select(HelplineContact)
                .where(HelplineContact.case_id == case.id)
                .order_by(HelplineContact.started_at, HelplineContact.id)
            ).all()
            topics: list[rules.Topic] = []
            for c in contacts:
                topics.extend(t for t in _topics(c.topics) if t not in topics)
            bands = tuple(dict.fromkeys(rules.AgeBand(c.age_band) for c in contacts))
            full = permits(principal, Action.HELPLINE_CASE_READ, relation)
            return CaseView(
                id=case.id,
                agency=case.agency,
                status=rules.CaseStatus(case.status),
                risk=rules.Risk(case.risk),
                assignee=case.assignee,
                next_follow_up=case.next_follow_up,
                created_at=case.created_at,
                closed_at=case.closed_at,
                relation=relation,
                topics=tuple(topics),
                age_bands=bands,
                contacts=[self._contact_view(c, opened=True) for c in contacts] if full else [],
                events=self._events(session, case.id) if full else [],
                allowed=frozenset(a for a in Action if permits(principal, a, relation)),
                alerts=self._case_alerts(session, case.id) if full else {},
            )

    def _case_alerts(self, session: Session, case_id: int) -> dict[str, AlertView]:
        if self._alerts is None:
            return {}
        references = session.scalars(
            select(HelplineEvent.report_reference).where(
                HelplineEvent.case_id == case_id, HelplineEvent.report_reference.is_not(None)
            )
        ).all()
        return self._alerts.states_of(session, [r for r in references if r])

    def _events(self, session: Session, case_id: int) -> list[EventView]:
        rows = session.execute(
            select(HelplineEvent, Referral.state)
            .outerjoin(Referral, Referral.id == HelplineEvent.referral_id)
            .where(HelplineEvent.case_id == case_id)
            .order_by(HelplineEvent.created_at, HelplineEvent.id)
        ).all()
        return [
            EventView(
                id=row.id,
                kind=row.kind,
                contact_id=row.contact_id,
                text=self._keys.open_text(row.text_sealed, _ctx("event", row.id, "text"))
                if row.text_sealed
                else None,
                report_reference=row.report_reference,
                referral_id=row.referral_id,
                referral_state=state,
                service=self._services.get(row.service_id or ""),
                service_id=row.service_id,
                created_by=row.created_by,
                created_at=row.created_at,
            )
            for row, state in rows
        ]

    def add_note(self, principal: Principal, case_id: int, text: str | None) -> None:
        note = _checked(lambda: rules.check_note(text), "note")
        now = self._clock()
        with self._db.transaction() as session:
            case, _ = self._case(session, principal, case_id, Action.HELPLINE_CASE_WORK)
            self._event(session, principal, case.id, None, EventKind.NOTE, now, text=note)
            case.updated_at = now
            self._audit(session, principal, "helpline.note_added", "helpline_case", case.id, now)

    def refer_to_service(self, principal: Principal, case_id: int, service_id: str) -> None:
        """Record that the child was referred onwards to a local service of the directory."""
        service = self._services.get(service_id)
        if service is None:
            raise HelplineRefused("service_id", "unknown", "Choose a service from the directory.")
        now = self._clock()
        with self._db.transaction() as session:
            case, _ = self._case(session, principal, case_id, Action.HELPLINE_CASE_WORK)
            self._event(
                session, principal, case.id, None, EventKind.SERVICE, now, service_id=service.id
            )
            case.updated_at = now
            self._audit(
                session,
                principal,
                "helpline.referred_to_service",
                "helpline_case",
                case.id,
                now,
                details={"service": service.id},
            )

    def update_case(
        self,
        principal: Principal,
        case_id: int,
        *,
        status: str | None = None,
        risk: str | None = None,
        assignee: str | None = None,
        next_follow_up: str | None = None,
    ) -> None:
        """Change what is given: status, risk, assignee ("" for nobody), next follow-up
        ("" for none). Every change is audited with what it was and became."""
        now = self._clock()
        try:
            wanted_status = rules.CaseStatus(status) if status else None
            wanted_risk = rules.Risk(risk) if risk else None
        except ValueError:
            name = "status" if status and status not in set(rules.CaseStatus) else "risk"
            raise HelplineRefused(name, "unknown", "Choose one of the options.") from None
        follow_up = (
            _checked(lambda: rules.check_follow_up(next_follow_up, now.date()), "next_follow_up")
            if next_follow_up is not None
            else None
        )
        with self._db.transaction() as session:
            case, _ = self._case(session, principal, case_id, Action.HELPLINE_CASE_WORK)
            changes: dict[str, object] = {}
            if wanted_status is not None and wanted_status.value != case.status:
                changes["status"] = [case.status, wanted_status.value]
                case.status = wanted_status.value
                case.closed_at = now if wanted_status is rules.CaseStatus.CLOSED else None
            if wanted_risk is not None and wanted_risk.value != case.risk:
                changes["risk"] = [case.risk, wanted_risk.value]
                case.risk = wanted_risk.value
            if assignee is not None and (assignee or None) != case.assignee:
                if assignee and not self._is_colleague(session, principal, assignee):
                    raise HelplineRefused(
                        "assignee", "unknown", "No counsellor of that name works here."
                    )
                changes["assignee"] = [case.assignee, assignee or None]
                case.assignee = assignee or None
            if next_follow_up is not None and follow_up != case.next_follow_up:
                changes["next_follow_up"] = [
                    case.next_follow_up.isoformat() if case.next_follow_up else None,
                    follow_up.isoformat() if follow_up else None,
                ]
                case.next_follow_up = follow_up
            if not changes:
                return
            case.updated_at = now
            self._audit(
                session,
                principal,
                "helpline.case_changed",
                "helpline_case",
                case.id,
                now,
                details=changes,
            )

    @staticmethod
    def _is_colleague(session: Session, principal: Principal, username: str) -> bool:
        role = session.scalar(
            select(User.role)
            .join(Agency, Agency.id == User.agency_id)
            .where(User.username == username, User.active, Agency.code == principal.agency)
        )
        return role in ("counsellor", "supervisor")

    def queue(self, principal: Principal, *, mine: bool = False) -> list[QueueEntry]:
        """The helpline's open cases: follow-ups due first, then by risk, then follow-up day."""
        self._require(principal, Action.HELPLINE_CASE_READ)
        today = self._clock().date()
        query = select(HelplineCase).where(
            HelplineCase.agency == principal.agency,
            HelplineCase.status == rules.CaseStatus.OPEN.value,
        )
        if mine:
            query = query.where(HelplineCase.assignee == principal.username)
        with self._db.sessions() as session:
            cases = session.scalars(query).all()
            contacts: dict[int, list[HelplineContact]] = {c.id: [] for c in cases}
            if contacts:
                for contact in session.scalars(
                    select(HelplineContact).where(HelplineContact.case_id.in_(list(contacts)))
                ):
                    assert contact.case_id is not None
                    contacts[contact.case_id].append(contact)
        entries = []
        for case in cases:
            topics: list[rules.Topic] = []
            for c in contacts[case.id]:
                topics.extend(t for t in _topics(c.topics) if t not in topics)
            follow_up = case.next_follow_up
            entries.append(
                QueueEntry(
                    id=case.id,
                    risk=rules.Risk(case.risk),
                    status=rules.CaseStatus(case.status),
                    assignee=case.assignee,
                    next_follow_up=follow_up,
                    due=follow_up is not None and follow_up <= today,
                    topics=tuple(topics),
                    contacts=len(contacts[case.id]),
                    created_at=case.created_at,
                )
            )
        entries.sort(key=lambda e: rules.queue_key(e.risk, e.next_follow_up, today, e.created_at))
        return entries

    def colleagues(self, principal: Principal) -> list[str]:
        """Counsellors and supervisors of the person's helpline, to assign a case to."""
        with self._db.sessions() as session:
            return list(
                session.scalars(
                    select(User.username)
                    .join(Agency, Agency.id == User.agency_id)
                    .where(
                        Agency.code == principal.agency,
                        User.active,
                        User.role.in_(["counsellor", "supervisor"]),
                    )
                    .order_by(User.username)
                )
            )

    # -- the directory of local services -----------------------------------------------------

    def services(
        self, principal: Principal, region: str | None = None, query: str = ""
    ) -> list[rules.Service]:
        self._require(principal, Action.HELPLINE_DIRECTORY_READ)
        if region and region not in (*rules.REGIONS_PL, rules.NATIONAL):
            raise HelplineRefused("region", "unknown", "Choose one of the regions.")
        return rules.search_services(self._directory, region or None, query[:200])

    # -- retention ------------------------------------------------------------------------------

    def expire(self, now: datetime | None = None) -> dict[str, int]:
        """Delete the records whose retention has run out; one audit entry per batch.

        Contacts not in any case go after ``retention.contacts`` days; closed cases, with their
        contacts and timeline, ``retention.cases`` days after closing. Reports filed to the
        hotline or the police are theirs and are not touched. Returns the counts deleted.
        """
        now = now or self._clock()
        contact_cutoff = self._retention.contact_cutoff(now)
        case_cutoff = self._retention.case_cutoff(now)
        counts = {"contacts": 0, "cases": 0}
        with self._db.transaction() as session:
            loose = list(
                session.scalars(
                    select(HelplineContact.id).where(
                        HelplineContact.case_id.is_(None),
                        HelplineContact.created_at < contact_cutoff,
                    )
                )
            )
            cases = list(
                session.scalars(
                    select(HelplineCase.id).where(
                        HelplineCase.status == rules.CaseStatus.CLOSED.value,
                        HelplineCase.closed_at < case_cutoff,
                    )
                )
            )
            in_cases = (
                list(
                    session.scalars(
                        select(HelplineContact.id).where(HelplineContact.case_id.in_(cases))
                    )
                )
                if cases
                else []
            )
            for chunk in _chunks(loose):
                session.execute(delete(HelplineEvent).where(HelplineEvent.contact_id.in_(chunk)))
                session.execute(delete(HelplineContact).where(HelplineContact.id.in_(chunk)))
            for chunk in _chunks(cases):
                session.execute(delete(HelplineEvent).where(HelplineEvent.case_id.in_(chunk)))
                session.execute(delete(HelplineContact).where(HelplineContact.case_id.in_(chunk)))
                session.execute(delete(HelplineCase).where(HelplineCase.id.in_(chunk)))
            if loose:
                counts["contacts"] = len(loose)
                audit.append(
                    session,
                    actor="retention",
                    action="helpline.contacts_expired",
                    subject_type="helpline_contact",
                    subject_id="batch",
                    now=now,
                    details={
                        "count": len(loose),
                        "ids": loose,
                        "recorded_before": contact_cutoff.isoformat(),
                    },
                )
            if cases:
                counts["cases"] = len(cases)
                audit.append(
                    session,
                    actor="retention",
                    action="helpline.cases_expired",
                    subject_type="helpline_case",
                    subject_id="batch",
                    now=now,
                    details={
                        "count": len(cases),
                        "ids": cases,
                        "contacts": len(in_cases),
                        "closed_before": case_cutoff.isoformat(),
                    },
                )
        return counts


def _no_open_case() -> HelplineRefused:
    return HelplineRefused("case_id", "unknown", "No open case of that number.")


def _ctx(kind: str, row_id: int, part: str) -> str:
    return f"helpline-{kind}:{row_id}:{part}"


def _topics(stored: str) -> tuple[rules.Topic, ...]:
    return tuple(rules.Topic(t) for t in stored.split())


def _valid_id(value: int) -> bool:
    return 0 < value < 2**63


def _chunks(ids: list[int], size: int = 500) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _checked(check: Callable[[], Any], name: str) -> Any:
    try:
        return check()
    except rules.HelplineRuleViolation as exc:
        raise HelplineRefused(exc.field or name, exc.code, exc.message) from exc


def _checked_urls(urls: Sequence[str]) -> list[str]:
    given = [u.strip() for u in urls if u and u.strip()]
    if not given:
        raise HelplineRefused("urls", "required", "Give at least one link.")
    if len(given) > MAX_URLS:
        raise HelplineRefused("urls", "too_many", f"At most {MAX_URLS} links.")
    cleaned = []
    for i, url in enumerate(given):
        try:
            cleaned.append(check_url(f"urls[{i}]", url))
        except RuleViolation as exc:
            raise HelplineRefused(exc.field, exc.code, exc.message) from exc
    return list(dict.fromkeys(cleaned))


def _police_description(
    case_id: int | None,
    topics: Sequence[rules.Topic],
    band: rules.AgeBand,
    risk: rules.Risk,
    reason: str,
) -> str:
    """The report the police receive: the facts and the counsellor's reason, in Polish."""
    lines = [
        "Zgłoszenie telefonu zaufania dla dzieci i młodzieży 116 111.",
        f"Sprawa telefonu zaufania: {case_id}." if case_id else "Kontakt bez otwartej sprawy.",
        f"Kategorie: {', '.join(t.value for t in topics)}.",
        f"Grupa wiekowa dziecka: {band.value}. Poziom ryzyka: {risk.value}.",
        f"Powód przekazania: {reason}",
    ]
    return "\n".join(lines)
