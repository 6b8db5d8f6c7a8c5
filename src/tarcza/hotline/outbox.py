"""Sending the notices that assessments and escalations queued (the outbox).

Each pending notice is taken under a row lock (``SKIP LOCKED`` on PostgreSQL, so two
workers never send the same one), sent by SMTP and marked in the same transaction. A mail
server that is down leaves the notice pending for the next pass; a refusal for good (no
such recipient) marks it failed. Delivery is at least once: a crash between the SMTP
answer and the commit sends that notice again on the next pass.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tarcza.audit import service as audit
from tarcza.config import Settings
from tarcza.hotline.models import ContentItem, ItemAction, ItemAssessment, ItemTrace
from tarcza.hotline.notices import (
    NoticeFacts,
    NoticeFailed,
    SmtpSettings,
    build_message,
    send,
)
from tarcza.hotline.rules import MAILED, Action, ActionStatus, Classification, ContentType, SiteType
from tarcza.store.engine import Database

# SMTP answers that will not change on a retry (RFC 5321: 5yz is a permanent failure).
_PERMANENT = "5"


def item_reference(item_id: int) -> str:
    """The reference a notice gives for a content item, quoted back in replies."""
    return f"ITEM-{item_id:06d}"


def pending_ids(db: Database, limit: int = 100) -> list[int]:
    """The notices waiting to be sent, oldest first."""
    with db.transaction() as session:
        return list(
            session.scalars(
                select(ItemAction.id)
                .where(ItemAction.status == ActionStatus.PENDING.value)
                .order_by(ItemAction.id)
                .limit(limit)
            )
        )


def send_pending(db: Database, settings: Settings, now: datetime) -> int:
    """Send every pending notice; returns how many were tried."""
    smtp = SmtpSettings.from_settings(settings)
    tried = 0
    for action_id in pending_ids(db):
        with db.transaction() as session:
            row = session.scalars(
                select(ItemAction)
                .where(ItemAction.id == action_id, ItemAction.status == ActionStatus.PENDING.value)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:  # another worker has it, or it is done
                continue
            tried += 1
            _send_one(session, row, settings, smtp, now)
    return tried


def _send_one(
    session: Session, row: ItemAction, settings: Settings, smtp: SmtpSettings, now: datetime
) -> None:
    item = session.get(ContentItem, row.item_id)
    if item is None or Action(row.action) not in MAILED or row.recipient is None:
        row.status, row.detail, row.done_at = ActionStatus.FAILED.value, "nothing to send", now
        return
    facts = _facts(session, item, row, settings)
    try:
        message = build_message(
            Action(row.action),
            facts,
            row.language or "en",
            sender=settings.notice_from,
            recipient=row.recipient,
        )
        message_id = send(message, smtp)
    except NoticeFailed as exc:
        permanent = exc.reason.startswith(_PERMANENT)
        row.detail = f"not sent: {exc.reason}"
        if permanent:
            row.status, row.done_at = ActionStatus.FAILED.value, now
        _audit(session, item.id, row, "hotline.notice.failed", now)
        return
    except ValueError as exc:  # an address the message builder refuses
        row.status, row.detail, row.done_at = ActionStatus.FAILED.value, str(exc), now
        _audit(session, item.id, row, "hotline.notice.failed", now)
        return
    row.status, row.message_id, row.done_at, row.detail = (
        ActionStatus.SENT.value,
        message_id[:255],
        now,
        None,
    )
    item.noticed_at = item.noticed_at or now
    _audit(session, item.id, row, "hotline.notice.sent", now)


def _facts(session: Session, item: ContentItem, row: ItemAction, settings: Settings) -> NoticeFacts:
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
        hotline_name=settings.hotline_name,
        hotline_email=settings.notice_from,
    )


def _audit(session: Session, item_id: int, row: ItemAction, action: str, now: datetime) -> None:
    audit.append(
        session,
        actor="outbox",
        action=action,
        subject_type="content_item",
        subject_id=str(item_id),
        now=now,
        details={
            "notice": row.id,
            "kind": row.action,
            "to": row.recipient,
            "attempt": row.attempt,
            "detail": row.detail,
        },
    )
