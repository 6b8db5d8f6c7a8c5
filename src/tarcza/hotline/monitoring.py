"""The monitor's records: which items are due, what a check found, removal and escalation.

The network check runs outside any transaction; the result is recorded in a second one that
locks the item and skips it if another worker got there first or it is no longer watched.
Removal is confirmed, not guessed (:mod:`tarcza.hotline.schedule`): a first "gone" answer is
kept in ``gone_since`` and checked again ``confirm_hours`` later; only a second gone answer
marks the item removed (``removed_at`` = the first gone answer; audit ``hotline.item.removed``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tarcza.audit import service as audit
from tarcza.hotline import schedule
from tarcza.hotline.models import ContentItem, ItemAction, ItemCheck, ItemReport
from tarcza.hotline.monitor import CheckResult
from tarcza.hotline.rules import MAILED, Action, ActionStatus, ItemState
from tarcza.intake.progress import advance_public_stage
from tarcza.intake.rules import PublicStage
from tarcza.store.engine import Database

Checker = Callable[[str, str | None], CheckResult]


@dataclass(frozen=True)
class CheckRecord:
    """What one check recorded: ``pending`` when a gone answer awaits its confirmation."""

    item_id: int
    outcome: schedule.Outcome
    removed: bool
    escalated: bool
    pending: bool = False


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
    *,
    confirm_hours: float = schedule.DEFAULT_CONFIRM_HOURS,
) -> CheckRecord | None:
    """Check one due item and record what was seen; None when it was not due any more.

    ``backoff_hours``: hours before check 1, 2, … (the last repeats); ``escalate_days``: still
    online this many days after the notice escalates; ``confirm_hours``: the least time
    between the two gone answers that confirm a removal.
    """
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
        return _record(session, item, result, backoff_hours, escalate_days, confirm_hours, now)


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
    confirm_hours: float,
    now: datetime,
) -> CheckRecord:
    verdict = schedule.judge(
        result.outcome,
        now=now,
        gone_since=item.gone_since,
        checks_done=item.checks,
        backoff_hours=backoff_hours,
        confirm_hours=confirm_hours,
    )
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
    first_gone = verdict.pending and item.gone_since is None
    item.gone_since, item.next_check_at = verdict.gone_since, verdict.next_check_at
    if verdict.removed:
        item.state, item.removed_at = ItemState.REMOVED.value, verdict.removed_at
        _audit(session, item.id, "hotline.item.removed", now, result, verdict.removed_at)
        # Every report naming the item now tells its reporter the content is gone.
        reports = session.scalars(select(ItemReport.report_id).where(ItemReport.item_id == item.id))
        advance_public_stage(session, reports, PublicStage.CONTENT_REMOVED, now, actor="monitor")
        return CheckRecord(item.id, result.outcome, True, False)
    if first_gone:
        _audit(session, item.id, "hotline.item.gone_seen", now, result, verdict.next_check_at)
    if result.outcome is schedule.Outcome.PRESENT and item.content_sha256 is None:
        item.content_sha256 = result.sha256
    # A gone answer awaiting confirmation is no reason to remind the provider.
    escalated = (
        not verdict.pending
        and result.outcome is not schedule.Outcome.REFUSED
        and schedule.escalation_due(item.noticed_at, item.escalated_at, now, escalate_days)
    )
    if escalated:
        _escalate(session, item, escalate_days, now)
        _audit(session, item.id, "hotline.item.escalated", now, result)
    return CheckRecord(item.id, result.outcome, False, escalated, verdict.pending)


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


def _audit(
    session: Session,
    item_id: int,
    action: str,
    now: datetime,
    result: CheckResult,
    at: datetime | None = None,
) -> None:
    """Audit ``action``; ``at`` is the removal time (removed) or the confirming check (gone)."""
    details: dict[str, object] = {
        "outcome": result.outcome.value,
        "http_status": result.http_status,
    }
    if at is not None:
        details["removed_at" if action == "hotline.item.removed" else "confirm_at"] = at.isoformat()
    audit.append(
        session,
        actor="monitor",
        action=action,
        subject_type="content_item",
        subject_id=str(item_id),
        now=now,
        details=details,
    )
