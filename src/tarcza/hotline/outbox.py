"""Sending the notices that assessments and escalations queued (the outbox), each exactly once.

A notice goes out in three steps:

1. claim (one transaction, committed): the row is taken under a row lock (``SKIP LOCKED`` on
   PostgreSQL; SQLite serialises writers with ``BEGIN IMMEDIATE``), given its one Message-ID
   (made the first time and stored on the row), marked ``sending`` with a lease of
   ``lease_seconds`` and ``tries`` + 1;
2. hand-off: the message goes to the :class:`~tarcza.hotline.notices.MailTransport`, outside
   any transaction;
3. record (a second transaction): ``sent`` (audit ``hotline.notice.sent``); after a passing
   failure (no server, a 4xx answer) ``pending`` again until ``next_try_at`` (audit
   ``hotline.notice.deferred``); after a lasting one (5xx, an address refused) or
   ``max_tries`` passing ones ``failed`` (audit ``hotline.notice.failed``), with the reason.

A crash between 2 and 3 leaves the row ``sending``. Once its lease has run out a later pass
sends it again with the SAME Message-ID, so the receiving desk can tell it is one message, and
records it (detail :data:`RESENT_DETAIL`, audit ``hotline.notice.interrupted``). No pass takes
a row whose lease is running, so two workers never send one notice at once; the lease must
outlast the slowest hand-off (the SMTP timeout applies per exchange: keep the lease minutes).
Every copy of a notice, first, retried or re-sent, carries the one Message-ID of its row.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from tarcza.audit import service as audit
from tarcza.hotline import schedule
from tarcza.hotline.models import ContentItem, ItemAction, ItemAssessment, ItemTrace
from tarcza.hotline.notices import (
    MailTransport,
    NoticeFacts,
    NoticeFailed,
    SmtpSettings,
    SmtpTransport,
    build_message,
    new_message_id,
)
from tarcza.hotline.rules import (
    MAILED,
    Action,
    ActionStatus,
    Classification,
    ContentType,
    ItemState,
    SiteType,
)
from tarcza.store.engine import Database

if TYPE_CHECKING:
    from tarcza.config import Settings

log = logging.getLogger(__name__)

#: What an item's page says of a notice sent again after a send was interrupted.
RESENT_DETAIL = "re-sent after an interrupted send (same Message-ID)"
_PENDING, _SENDING = ActionStatus.PENDING.value, ActionStatus.SENDING.value
_REASON_CHARS = 500


def item_reference(item_id: int) -> str:
    """The reference a notice gives for a content item, quoted back in replies."""
    return f"ITEM-{item_id:06d}"


@dataclass(frozen=True, slots=True)
class OutboxPolicy:
    """How the outbox retries and when it presumes a sender dead.

    ``lease_seconds``: how long a ``sending`` notice is left to its sender before it is sent
    again (``TARCZA_NOTICE_LEASE_SECONDS``); ``retry_minutes``: the wait before retry 1, 2, …
    after a passing failure, the last repeating (``TARCZA_NOTICE_RETRY_MINUTES``);
    ``max_tries``: hand-offs before a notice that keeps failing is failed for good
    (``TARCZA_NOTICE_MAX_TRIES``); ``monitor_backoff_hours``: the monitor's backoff, whose
    first value places the first re-check after the first notice is sent.
    """

    lease_seconds: float = 300.0
    retry_minutes: tuple[float, ...] = schedule.DEFAULT_RETRY_MINUTES
    max_tries: int = 10
    monitor_backoff_hours: tuple[float, ...] = schedule.DEFAULT_BACKOFF_HOURS

    def __post_init__(self) -> None:
        if not self.lease_seconds > 0:
            raise ValueError("notice_lease_seconds must be a positive number of seconds")
        if self.max_tries < 1:
            raise ValueError("notice_max_tries must be at least 1")
        schedule.notice_retry_at(datetime.min, 1, self.retry_minutes)  # checks the list
        schedule.first_check_at(datetime.min, self.monitor_backoff_hours)

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboxPolicy:
        """The policy of a deployment; the defaults stand for settings it does not have."""
        return cls(
            lease_seconds=settings.notice_lease_seconds,
            retry_minutes=tuple(settings.notice_retry_minutes),
            max_tries=settings.notice_max_tries,
            monitor_backoff_hours=tuple(settings.monitor_backoff_hours),
        )


@dataclass(frozen=True, slots=True)
class _Claim:
    """A notice marked ``sending`` and committed: what to hand over and how to record it."""

    action_id: int
    item_id: int
    message: EmailMessage
    message_id: str
    resent: bool


class Outbox:
    """Sends the due notices of ``db`` through ``transport``, from ``hotline_name <sender>``."""

    def __init__(
        self,
        db: Database,
        transport: MailTransport,
        policy: OutboxPolicy,
        *,
        sender: str,
        hotline_name: str,
    ) -> None:
        self._db = db
        self._transport = transport
        self._policy = policy
        self._sender = sender
        self._hotline_name = hotline_name

    @classmethod
    def from_settings(
        cls, db: Database, settings: Settings, transport: MailTransport | None = None
    ) -> Outbox:
        """The deployment's outbox; by default it sends through ``TARCZA_SMTP_*``."""
        return cls(
            db,
            transport or SmtpTransport(SmtpSettings.from_settings(settings)),
            OutboxPolicy.from_settings(settings),
            sender=settings.notice_from,
            hotline_name=settings.hotline_name,
        )

    def due_ids(self, now: datetime, limit: int = 100) -> list[int]:
        """The notices to send at ``now``, oldest first: pending ones whose retry time has
        come, and ``sending`` ones whose lease ran out (their sender died mid-send)."""
        with self._db.transaction() as session:
            return list(
                session.scalars(
                    select(ItemAction.id).where(_due(now)).order_by(ItemAction.id).limit(limit)
                )
            )

    def send_due(self, now: datetime) -> int:
        """Send every notice due at ``now``; returns how many were handed over (or tried)."""
        return sum(self.send_one(action_id, now) for action_id in self.due_ids(now))

    def send_one(self, action_id: int, now: datetime) -> bool:
        """Claim, hand over and record one notice; False when it was not due or not ours."""
        claim = self._claim(action_id, now)
        if claim is None:
            return False
        try:
            self._transport.send(claim.message)
        except NoticeFailed as exc:
            self._record_failure(claim, exc, now)
        except Exception as exc:  # a transport's bug must not leave the notice to the lease
            log.exception("mail transport failed on notice %s", action_id)
            self._record_failure(claim, NoticeFailed(type(exc).__name__, permanent=False), now)
        else:
            self._record_sent(claim, now)
        return True

    # --- step 1: claim ---------------------------------------------------------------------

    def _claim(self, action_id: int, now: datetime) -> _Claim | None:
        with self._db.transaction() as session:
            row = session.scalars(
                select(ItemAction)
                .where(ItemAction.id == action_id, _due(now))
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:  # another worker has it, it is done, or not due yet
                return None
            resent = row.status == _SENDING
            item = session.get(ContentItem, row.item_id)
            if item is None or Action(row.action) not in MAILED or row.recipient is None:
                _fail(session, row, row.item_id, "nothing to send", now)
                return None
            if resent:
                _audit(session, item.id, row, "hotline.notice.interrupted", now)
                if schedule.notice_gives_up(row.tries, self._policy.max_tries):
                    why = f"interrupted {row.tries} times; not recorded as sent"
                    _fail(session, row, item.id, why, now)
                    return None
            try:
                row.message_id = row.message_id or new_message_id(row.id, row.attempt, self._sender)
                message = build_message(
                    Action(row.action),
                    self._facts(session, item, row),
                    row.language or "en",
                    sender=self._sender,
                    recipient=row.recipient,
                    now=now,
                    message_id=row.message_id,
                )
            except ValueError as exc:  # an address or a Message-ID the builder refuses
                _fail(session, row, item.id, str(exc), now)
                return None
            row.status, row.tries = _SENDING, row.tries + 1
            row.lease_until = now + timedelta(seconds=self._policy.lease_seconds)
            row.next_try_at = None
            return _Claim(row.id, item.id, message, row.message_id, resent)

    def _facts(self, session: Session, item: ContentItem, row: ItemAction) -> NoticeFacts:
        assessment = session.scalars(
            select(ItemAssessment)
            .where(ItemAssessment.item_id == item.id, ItemAssessment.state == "final")
            .order_by(ItemAssessment.id.desc())
        ).first()
        trace = session.scalars(
            select(ItemTrace).where(ItemTrace.item_id == item.id).order_by(ItemTrace.id.desc())
        ).first()
        addresses = json.loads(trace.addresses) if trace else []
        operator = next((a.get("operator") for a in addresses if a.get("operator")), None)
        return NoticeFacts(
            reference=item_reference(item.id),
            url=item.url,
            host=item.host,
            classification=Classification(item.classification or Classification.NATIONAL),
            content_type=ContentType(assessment.content_type if assessment else ContentType.OTHER),
            site_type=SiteType(assessment.site_type if assessment else SiteType.OTHER),
            addresses=tuple(str(a["address"]) for a in addresses),
            country=trace.country if trace else None,
            operator=operator,
            first_reported_at=item.first_reported_at,
            assessed_at=item.assessed_at or row.created_at,
            attempt=row.attempt,
            hotline_name=self._hotline_name,
            hotline_email=self._sender,
        )

    # --- step 3: record --------------------------------------------------------------------

    def _mine(self, session: Session, claim: _Claim) -> ItemAction | None:
        """The claimed row, locked, if it is still ``sending`` this message (a sender whose
        lease ran out may find another pass already recorded it)."""
        row = session.scalars(
            select(ItemAction).where(ItemAction.id == claim.action_id).with_for_update()
        ).first()
        if row is None or row.status != _SENDING or row.message_id != claim.message_id:
            return None
        return row

    def _record_sent(self, claim: _Claim, now: datetime) -> None:
        with self._db.transaction() as session:
            row = self._mine(session, claim)
            if row is None:
                return
            row.status, row.done_at = ActionStatus.SENT.value, now
            row.lease_until = row.next_try_at = None
            row.detail = RESENT_DETAIL if claim.resent else None
            item = session.get(ContentItem, claim.item_id)
            if item is not None:
                self._first_notice(item, now)
            _audit(session, claim.item_id, row, "hotline.notice.sent", now, resent=claim.resent)

    def _first_notice(self, item: ContentItem, now: datetime) -> None:
        """Start the clocks: time to notice, and the first re-check a backoff after it."""
        if item.noticed_at is not None:
            return
        item.noticed_at = now
        if item.state == ItemState.ACTIONED.value and item.checks == 0:
            item.next_check_at = schedule.first_check_at(now, self._policy.monitor_backoff_hours)

    def _record_failure(self, claim: _Claim, failure: NoticeFailed, now: datetime) -> None:
        reason = failure.reason[:_REASON_CHARS]
        with self._db.transaction() as session:
            row = self._mine(session, claim)
            if row is None:
                return
            row.lease_until, row.last_error = None, reason
            if failure.permanent:
                _fail(session, row, claim.item_id, f"not sent: {reason}", now, reason)
            elif schedule.notice_gives_up(row.tries, self._policy.max_tries):
                why = f"not sent in {row.tries} tries: {reason}"
                _fail(session, row, claim.item_id, why, now, reason)
            else:
                row.status = _PENDING
                row.next_try_at = schedule.notice_retry_at(
                    now, row.tries, self._policy.retry_minutes
                )
                row.detail = f"not sent yet ({row.tries} tries): {reason}"
                _audit(session, claim.item_id, row, "hotline.notice.deferred", now)


def send_pending(
    db: Database, settings: Settings, now: datetime, transport: MailTransport | None = None
) -> int:
    """Send every notice due at ``now`` through ``transport`` (default: the deployment's SMTP
    server); returns how many were handed over or tried."""
    return Outbox.from_settings(db, settings, transport).send_due(now)


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(
            ItemAction.status == _PENDING,
            or_(ItemAction.next_try_at.is_(None), ItemAction.next_try_at <= now),
        ),
        and_(ItemAction.status == _SENDING, ItemAction.lease_until <= now),
    )


def _fail(
    session: Session,
    row: ItemAction,
    item_id: int,
    detail: str,
    now: datetime,
    reason: str | None = None,
) -> None:
    """Mark the notice failed for good: ``detail`` for the page, ``reason`` (default: the
    detail) kept as its last error; audited."""
    row.status, row.detail, row.done_at = ActionStatus.FAILED.value, detail, now
    row.last_error = reason or detail
    row.lease_until = row.next_try_at = None
    _audit(session, item_id, row, "hotline.notice.failed", now)


def _audit(
    session: Session,
    item_id: int,
    row: ItemAction,
    action: str,
    now: datetime,
    *,
    resent: bool = False,
) -> None:
    details: dict[str, object] = {
        "notice": row.id,
        "kind": row.action,
        "to": row.recipient,
        "attempt": row.attempt,
        "message_id": row.message_id,
        "tries": row.tries,
        "detail": row.detail,
    }
    if row.last_error:
        details["reason"] = row.last_error
    if row.next_try_at is not None:
        details["next_try_at"] = row.next_try_at.isoformat()
    if resent:
        details["resent"] = True
    audit.append(
        session,
        actor="outbox",
        action=action,
        subject_type="content_item",
        subject_id=str(item_id),
        now=now,
        details=details,
    )
