"""A child in danger now: raise the alert with the report, notify, escalate, acknowledge.

Intake tells the root of every new report inside its transaction; the root hands it to
:meth:`AlertService.on_report`, which by the deployment's :class:`~tarcza.alerts.rules.DangerRule`
refers it to the police duty desk at once (casework's referral, so it is in the police's inbox)
and queues a notification for the roster's first contact (and the webhook). The job system
sends them (:meth:`deliver_due`, enqueued right after the report commits and on every tick)
and escalates what no one acknowledged in time (:meth:`escalate_due`). Every step is audited.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Protocol

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from tarcza.accounts.models import Agency
from tarcza.accounts.permissions import Action, Principal, Relation, permits
from tarcza.alerts import rules
from tarcza.alerts.models import AlertNotification, DangerAlert
from tarcza.audit import service as audit
from tarcza.cases.models import Referral
from tarcza.cases.referrals import open_referral
from tarcza.cases.rules import DANGER_POLICE, ReferralState, system_reason
from tarcza.crypto import KeyRing
from tarcza.errors import Denied, NotFound
from tarcza.intake.models import Report
from tarcza.intake.progress import advance_public_stage
from tarcza.intake.rules import PublicStage
from tarcza.intake.service import MadeReport
from tarcza.store.base import utcnow
from tarcza.store.engine import Database

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"
# How long a notification is left "sending" before another pass presumes the send interrupted.
LEASE = timedelta(seconds=60)
_WEBHOOK_TIMEOUT = 10.0


class Mailer(Protocol):
    """Where e-mail goes (the deployment's SMTP transport, or the development mail catcher)."""

    def send(self, message: EmailMessage) -> None: ...


# (url, body, headers, timeout) -> the HTTP status; raises OSError-like errors when unreachable.
WebhookPost = Callable[[str, bytes, dict[str, str], float], int]


class AlertNotFound(NotFound):
    """No such alert, or not one the person may see."""

    api_message = "No such alert."


class AlertDenied(Denied):
    """The person may not acknowledge this alert."""

    api_message = "Only the duty desk the alert went to acknowledges it."


@dataclass(frozen=True)
class NotificationView:
    level: int  # 1: the first contact
    channel: str
    recipient: str
    status: str
    tries: int
    sent_at: datetime | None
    detail: str | None


@dataclass(frozen=True)
class AlertView:
    """An alert as every agency that follows it sees it: the same state for all."""

    id: int
    reference: str
    to_agency: str
    state: str
    level: int  # 1: the first contact
    levels: int
    raised_at: datetime
    next_escalation_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    notifications: tuple[NotificationView, ...]
    may_acknowledge: bool = False

    @property
    def acknowledged(self) -> bool:
        return self.state == rules.AlertState.ACKNOWLEDGED

    @property
    def minutes_open(self) -> int:
        end = self.acknowledged_at or utcnow()
        return max(0, int((end - self.raised_at).total_seconds() // 60))


@dataclass(frozen=True)
class _Claim:
    notification_id: int
    channel: str
    recipient: str
    message_id: str
    reference: str
    level: int
    raised_at: datetime
    alert_id: int


class AlertService:
    """Danger alerts: raised by the rules, delivered and escalated by the jobs, acknowledged."""

    def __init__(
        self,
        db: Database,
        keyring: KeyRing,
        *,
        rules_: Sequence[rules.DangerRule],
        roster: rules.Roster,
        staff_url: str,
        mailer: Mailer | None,
        sender: str,
        webhook_secret: str = "",
        webhook_post: WebhookPost | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._keys = keyring
        self._rules = tuple(rules_)
        self._roster = roster
        self._staff_url = staff_url
        self._mailer = mailer
        self._sender = sender
        self._secret = webhook_secret
        self._post = webhook_post or _httpx_post
        self._clock = clock

    @property
    def roster(self) -> rules.Roster:
        return self._roster

    # -- raising (inside the report's transaction) ------------------------------------

    def on_report(self, session: Session, facts: MadeReport, now: datetime) -> int | None:
        """Refer the report to the duty desk and queue its first notifications, if a rule says so.

        Returns the alert's id (None: no rule matched, or the rule's agency does not exist —
        then the error is logged for the operators: a deployment without its police agency
        cannot alert anyone).
        """
        rule = rules.first_rule(
            self._rules, child_in_danger=facts.child_in_danger, category=facts.category
        )
        if rule is None:
            return None
        if session.scalar(select(Agency.code).where(Agency.code == rule.agency)) is None:
            log.error("danger report %s not referred: no agency %r", facts.reference, rule.agency)
            return None
        referral = open_referral(
            session,
            self._keys,
            report_id=facts.report_id,
            reference=facts.reference,
            from_agency=facts.owner_agency,
            to_agency=rule.agency,
            reason=system_reason(DANGER_POLICE),
            actor=SYSTEM_ACTOR,
            now=now,
            details={"danger": True},
        )
        alert = DangerAlert(
            report_id=facts.report_id,
            referral_id=referral,
            to_agency=rule.agency,
            state=rules.AlertState.OPEN.value,
            level=0,
            raised_at=now,
            next_escalation_at=self._roster.next_escalation(0, now),
        )
        session.add(alert)
        session.flush()
        queued = self._queue(session, alert, 0, now)
        advance_public_stage(
            session,
            [facts.report_id],
            PublicStage.PASSED_TO_POLICE,
            now,
            actor=SYSTEM_ACTOR,
            agency=facts.owner_agency,
        )
        audit.append(
            session,
            actor=SYSTEM_ACTOR,
            agency=facts.owner_agency,
            action="alert.raised",
            subject_type="report",
            subject_id=facts.reference,
            now=now,
            details={"alert": alert.id, "to": rule.agency, "referral": referral, "queued": queued},
        )
        if not queued:
            log.error("danger alert %s: no duty contact is configured", alert.id)
        return alert.id

    def _queue(self, session: Session, alert: DangerAlert, level: int, now: datetime) -> int:
        """Queue the notifications of ``level``: its e-mail contact and the webhook."""
        targets: list[tuple[str, str]] = []
        contact = self._roster.contact(level)
        if contact is not None:
            targets.append((rules.Channel.EMAIL.value, contact))
        if self._roster.webhook_url:
            targets.append((rules.Channel.WEBHOOK.value, self._roster.webhook_url))
        for channel, recipient in targets:
            session.add(
                AlertNotification(
                    alert_id=alert.id,
                    level=level,
                    channel=channel,
                    recipient=recipient,
                    status=rules.Delivery.PENDING.value,
                    tries=0,
                    created_at=now,
                )
            )
        return len(targets)

    def share_with(self, session: Session, reference: str, agency: str) -> None:
        """Let ``agency`` (the helpline that filed the report) follow the report's alert."""
        alert = session.scalars(
            select(DangerAlert)
            .join(Report, Report.id == DangerAlert.report_id)
            .where(Report.reference == reference)
        ).first()
        if alert is not None and alert.shared_with is None:
            alert.shared_with = agency

    # -- the jobs -----------------------------------------------------------------------

    def escalate_due(self, now: datetime | None = None) -> int:
        """Move every open alert whose time ran out to the roster's next level; how many."""
        now = now or self._clock()
        moved = 0
        with self._db.transaction() as session:
            due = session.scalars(
                select(DangerAlert)
                .where(
                    DangerAlert.state == rules.AlertState.OPEN.value,
                    DangerAlert.next_escalation_at.is_not(None),
                    DangerAlert.next_escalation_at <= now,
                )
                .order_by(DangerAlert.id)
                .with_for_update(skip_locked=True)
            ).all()
            for alert in due:
                alert.level += 1
                alert.next_escalation_at = self._roster.next_escalation(alert.level, now)
                self._queue(session, alert, alert.level, now)
                audit.append(
                    session,
                    actor=SYSTEM_ACTOR,
                    agency=alert.to_agency,
                    action="alert.escalated",
                    subject_type="report",
                    subject_id=_reference(session, alert.report_id),
                    now=now,
                    details={"alert": alert.id, "level": alert.level + 1},
                )
                moved += 1
        return moved

    def deliver_due(self, now: datetime | None = None) -> int:
        """Send every notification that is due; how many were tried."""
        tried = 0
        while True:
            moment = now or self._clock()
            claim = self._claim(moment)
            if claim is None:
                return tried
            tried += 1
            try:
                self._send(claim)
            except Exception as exc:  # noqa: BLE001 - a failed notification never stops the worker
                self._record(claim, moment, failure=_why(exc))
            else:
                self._record(claim, moment, failure=None)

    def _claim(self, now: datetime) -> _Claim | None:
        with self._db.transaction() as session:
            row = session.scalars(
                select(AlertNotification)
                .where(
                    or_(
                        (AlertNotification.status == rules.Delivery.PENDING.value)
                        & (
                            AlertNotification.next_try_at.is_(None)
                            | (AlertNotification.next_try_at <= now)
                        ),
                        (AlertNotification.status == rules.Delivery.SENDING.value)
                        & (AlertNotification.lease_until <= now),
                    )
                )
                .order_by(AlertNotification.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return None
            alert = session.get(DangerAlert, row.alert_id)
            assert alert is not None  # the foreign key cascades
            row.status = rules.Delivery.SENDING.value
            row.tries += 1
            row.lease_until = now + LEASE
            row.message_id = row.message_id or make_msgid(domain="tarcza.alerts")
            return _Claim(
                notification_id=row.id,
                channel=row.channel,
                recipient=row.recipient,
                message_id=row.message_id,
                reference=_reference(session, alert.report_id),
                level=row.level,
                raised_at=alert.raised_at,
                alert_id=alert.id,
            )

    def _send(self, claim: _Claim) -> None:
        link = rules.staff_link(self._staff_url, claim.reference)
        if claim.channel == rules.Channel.WEBHOOK:
            body = rules.webhook_body(
                claim.reference, link, claim.level, claim.raised_at, claim.alert_id
            )
            headers = {"Content-Type": "application/json", "X-Tarcza-Delivery": claim.message_id}
            if self._secret:
                headers[rules.SIGNATURE_HEADER] = rules.signature(self._secret, body)
            status = self._post(claim.recipient, body, headers, _WEBHOOK_TIMEOUT)
            if not 200 <= status < 300:
                raise RuntimeError(f"the webhook answered HTTP {status}")
            return
        if self._mailer is None:
            raise RuntimeError("no mail transport is configured")
        subject, text = rules.notification_text(claim.reference, link, claim.level, claim.raised_at)
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = claim.recipient
        message["Subject"] = subject
        message["Date"] = format_datetime(utcnow())
        message["Message-ID"] = claim.message_id
        message["X-Priority"] = "1"
        message.set_content(text)
        self._mailer.send(message)

    def _record(self, claim: _Claim, now: datetime, *, failure: str | None) -> None:
        with self._db.transaction() as session:
            row = session.get(AlertNotification, claim.notification_id)
            if row is None or row.status != rules.Delivery.SENDING.value:
                return
            alert = session.get(DangerAlert, row.alert_id)
            assert alert is not None
            row.lease_until = None
            if failure is None:
                row.status, row.sent_at, row.detail = rules.Delivery.SENT.value, now, None
                action = "alert.notified"
            else:
                retry = self._roster.next_try(row.tries, now)
                row.detail = failure[:500]
                row.status = rules.Delivery.PENDING.value if retry else rules.Delivery.FAILED.value
                row.next_try_at = retry
                action = "alert.notify_deferred" if retry else "alert.notify_failed"
                log.warning("danger alert %s to %s: %s", alert.id, row.recipient, failure)
            audit.append(
                session,
                actor=SYSTEM_ACTOR,
                agency=alert.to_agency,
                action=action,
                subject_type="report",
                subject_id=claim.reference,
                now=now,
                details={
                    "alert": alert.id,
                    "level": row.level + 1,
                    "channel": row.channel,
                    "to": row.recipient,
                    "tries": row.tries,
                    **({"failure": row.detail} if failure else {}),
                },
            )

    # -- people -------------------------------------------------------------------------

    def acknowledge(self, principal: Principal, alert_id: int) -> AlertView:
        """The duty desk has it: record who and when, stop the escalation (idempotent)."""
        now = self._clock()
        with self._db.transaction() as session:
            alert = session.scalars(
                select(DangerAlert).where(DangerAlert.id == alert_id).with_for_update()
            ).first()
            relation = self._relation(session, principal, alert)
            if alert is None or not permits(principal, Action.ALERT_DANGER_READ, relation):
                raise AlertNotFound()
            if not permits(principal, Action.ALERT_DANGER_ACKNOWLEDGE, relation):
                raise AlertDenied()
            if alert.state == rules.AlertState.OPEN:
                alert.state = rules.AlertState.ACKNOWLEDGED.value
                alert.acknowledged_by = principal.username
                alert.acknowledged_at = now
                alert.next_escalation_at = None
                for row in session.scalars(
                    select(AlertNotification).where(
                        AlertNotification.alert_id == alert.id,
                        AlertNotification.status == rules.Delivery.PENDING.value,
                    )
                ):
                    row.status = rules.Delivery.CANCELLED.value
                audit.append(
                    session,
                    actor=principal.username,
                    agency=principal.agency,
                    action="alert.acknowledged",
                    subject_type="report",
                    subject_id=_reference(session, alert.report_id),
                    now=now,
                    details={
                        "alert": alert.id,
                        "level": alert.level + 1,
                        "seconds": int((now - alert.raised_at).total_seconds()),
                    },
                )
            return self._view(session, alert, principal, relation)

    def alert(self, principal: Principal, alert_id: int) -> AlertView:
        """One alert, for someone who follows it."""
        with self._db.sessions() as session:
            alert = session.get(DangerAlert, alert_id)
            relation = self._relation(session, principal, alert)
            if alert is None or not permits(principal, Action.ALERT_DANGER_READ, relation):
                raise AlertNotFound()
            return self._view(session, alert, principal, relation)

    def alerts(self, principal: Principal, *, limit: int = 100) -> list[AlertView]:
        """The alerts the person's agency follows: open ones first (oldest first), then recent."""
        agency = principal.agency
        with self._db.sessions() as session:
            rows = session.scalars(
                select(DangerAlert)
                .join(Report, Report.id == DangerAlert.report_id)
                .where(
                    or_(
                        DangerAlert.to_agency == agency,
                        DangerAlert.shared_with == agency,
                        Report.owner_agency == agency,
                    )
                )
                .order_by(
                    (DangerAlert.state == rules.AlertState.OPEN.value).desc(),
                    DangerAlert.raised_at.desc(),
                )
                .limit(limit)
            ).all()
            views = []
            for alert in rows:
                relation = self._relation(session, principal, alert)
                if permits(principal, Action.ALERT_DANGER_READ, relation):
                    views.append(self._view(session, alert, principal, relation))
            open_first = sorted(views, key=lambda v: (v.acknowledged, v.raised_at))
            return [v for v in open_first if not v.acknowledged] + [
                v for v in views if v.acknowledged
            ]

    def of_report(
        self, session: Session, report_id: int, principal: Principal, relation: Relation
    ) -> AlertView | None:
        """The report's alert as ``principal`` sees it (for the report's page), if any."""
        alert = session.scalars(
            select(DangerAlert).where(DangerAlert.report_id == report_id)
        ).first()
        if alert is None:
            return None
        mine = self._relation(session, principal, alert)
        if not permits(principal, Action.ALERT_DANGER_READ, mine):
            return None
        return self._view(session, alert, principal, mine)

    def states_of(self, session: Session, references: Iterable[str]) -> dict[str, AlertView]:
        """The alerts of these reports, by reference (for a helpline case's timeline)."""
        wanted = list(set(references))
        if not wanted:
            return {}
        rows = session.execute(
            select(DangerAlert, Report.reference)
            .join(Report, Report.id == DangerAlert.report_id)
            .where(Report.reference.in_(wanted))
        ).all()
        return {reference: self._view(session, alert, None, None) for alert, reference in rows}

    def _relation(
        self, session: Session, principal: Principal, alert: DangerAlert | None
    ) -> Relation:
        if alert is None:
            return Relation.OTHER
        owner = session.scalar(select(Report.owner_agency).where(Report.id == alert.report_id))
        if principal.agency in (owner, alert.shared_with):
            return Relation.OWN
        if principal.agency != alert.to_agency:
            return Relation.OTHER
        state = (
            session.scalar(select(Referral.state).where(Referral.id == alert.referral_id))
            if alert.referral_id is not None
            else None
        )
        if state == ReferralState.ACCEPTED:
            return Relation.REFERRED
        if state == ReferralState.PENDING:
            return Relation.REFERRED_PENDING
        # A declined or withdrawn referral gives nothing, as everywhere in casework.
        return Relation.OTHER

    def _view(
        self,
        session: Session,
        alert: DangerAlert,
        principal: Principal | None,
        relation: Relation | None,
    ) -> AlertView:
        notes = session.scalars(
            select(AlertNotification)
            .where(AlertNotification.alert_id == alert.id)
            .order_by(AlertNotification.id)
        ).all()
        return AlertView(
            id=alert.id,
            reference=_reference(session, alert.report_id),
            to_agency=alert.to_agency,
            state=alert.state,
            level=alert.level + 1,
            levels=max(self._roster.levels, 1),
            raised_at=alert.raised_at,
            next_escalation_at=alert.next_escalation_at,
            acknowledged_by=alert.acknowledged_by,
            acknowledged_at=alert.acknowledged_at,
            notifications=tuple(
                NotificationView(
                    level=n.level + 1,
                    channel=n.channel,
                    recipient=n.recipient,
                    status=n.status,
                    tries=n.tries,
                    sent_at=n.sent_at,
                    detail=n.detail,
                )
                for n in notes
            ),
            may_acknowledge=(
                principal is not None
                and relation is not None
                and alert.state == rules.AlertState.OPEN
                and permits(principal, Action.ALERT_DANGER_ACKNOWLEDGE, relation)
            ),
        )


def _reference(session: Session, report_id: int) -> str:
    reference = session.scalar(select(Report.reference).where(Report.id == report_id))
    return reference or "?"


def _why(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


def _httpx_post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    import httpx

    answer = httpx.post(url, content=body, headers=headers, timeout=timeout)
    return answer.status_code
