"""The monitor's records: which items are due, what a check found, removal and escalation.

The network check runs outside any transaction; the result is recorded in a second one that
locks the item and skips it if another worker got there first or it is no longer watched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tarcza.audit import service as audit
from tarcza.hotline import schedule
from tarcza.hotline.models import ContentItem, ItemAction, ItemCheck
from tarcza.hotline.monitor import CheckResult
from tarcza.hotline.rules import MAILED, Action, ActionStatus, ItemState
from tarcza.store.engine import Database

Checker = Callable[[str, str | None], CheckResult]


@dataclass(frozen=True)
class CheckRecord:
    item_id: int
    outcome: schedule.Outcome
    removed: bool
    escalated: bool


def due_items(session: Session, now: datetime, limit: int = 100) -> list[int]:
    """Watched items whose next check is due, the longest waiting first."""
    return list(
        session.scalars(
            select(ContentItem.id)
            .where(
                ContentItem.state == ItemState.ACTIONED.value,
                ContentItem.next_check_at <= now,
            )
            .order_by(ContentItem.next_check_at, ContentItem.id)
            .limit(limit)
        )
    )


def run_check(
    db: Database,
    item_id: int,
    check: Checker,
    backoff_hours: Sequence[float],
    escalate_days: float,
    now: datetime,
) -> CheckRecord | None:
    """Check one due item and record what was seen; None when it was not due any more."""
    with db.transaction() as session:
        item = session.get(ContentItem, item_id)
        if item is None or not _due(item, now):
            return None
        url, baseline = item.url, item.content_sha256
    result = check(url, baseline)
    with db.transaction() as session:
        item = session.scalars(
            select(ContentItem).where(ContentItem.id == item_id).with_for_update(skip_locked=True)
        ).first()
        if item is None or not _due(item, now):
            return None
        return _record(session, item, result, backoff_hours, escalate_days, now)


def _due(item: ContentItem, now: datetime) -> bool:
    return (
        item.state == ItemState.ACTIONED.value
        and item.next_check_at is not None
        and item.next_check_at <= now
    )


def _record(
    session: Session,
    item: ContentItem,
    result: CheckResult,
    backoff_hours: Sequence[float],
    escalate_days: float,
    now: datetime,
) -> CheckRecord:
    session.add(
        ItemCheck(
            item_id=item.id,
            outcome=result.outcome.value,
            http_status=result.http_status,
            detail=(result.detail or None) and result.detail[:255],
            checked_at=now,
        )
    )
    item.checks += 1
    if schedule.removed(result.outcome):
        item.state, item.removed_at, item.next_check_at = ItemState.REMOVED.value, now, None
        _audit(session, item.id, "hotline.item.removed", now, result)
        return CheckRecord(item.id, result.outcome, True, False)
    if result.outcome is schedule.Outcome.PRESENT and item.content_sha256 is None:
        item.content_sha256 = result.sha256
    item.next_check_at = schedule.next_check_at(now, item.checks - 1, backoff_hours)
    escalated = result.outcome is not schedule.Outcome.REFUSED and schedule.escalation_due(
        item.noticed_at, item.escalated_at, now, escalate_days
    )
    if escalated:
        _escalate(session, item, escalate_days, now)
        _audit(session, item.id, "hotline.item.escalated", now, result)
    return CheckRecord(item.id, result.outcome, False, escalated)


def _escalate(session: Session, item: ContentItem, days: float, now: datetime) -> None:
    """Tell supervisors (a recorded escalation) and queue each sent notice again."""
    item.escalated_at = now
    session.add(
        ItemAction(
            item_id=item.id,
            action=Action.ESCALATE.value,
            status=ActionStatus.RECORDED.value,
            attempt=1,
            detail=f"still online {days:g} days after the notice",
            created_at=now,
            done_at=now,
        )
    )
    sent = session.execute(
        select(
            ItemAction.action,
            ItemAction.recipient,
            ItemAction.language,
            func.max(ItemAction.attempt),
        )
        .where(
            ItemAction.item_id == item.id,
            ItemAction.action.in_([a.value for a in MAILED]),
            ItemAction.status == ActionStatus.SENT.value,
        )
        .group_by(ItemAction.action, ItemAction.recipient, ItemAction.language)
    ).all()
    for action, recipient, language, attempt in sent:
        session.add(
            ItemAction(
                item_id=item.id,
                action=action,
                recipient=recipient,
                language=language,
                status=ActionStatus.PENDING.value,
                attempt=int(attempt) + 1,
                created_at=now,
            )
        )


def _audit(session: Session, item_id: int, action: str, now: datetime, result: CheckResult) -> None:
    audit.append(
        session,
        actor="monitor",
        action=action,
        subject_type="content_item",
        subject_id=str(item_id),
        now=now,
        details={"outcome": result.outcome.value, "http_status": result.http_status},
    )
