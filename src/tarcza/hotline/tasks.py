"""The hotline's background work: send pending notices, re-check the notified URLs that are due.

The composition root registers these on the job queue (``register``) with the collaborators it
built; ``tarcza jobs run-due`` runs one pass of the same functions, for cron.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tarcza.config import Settings
from tarcza.hotline import monitoring, outbox
from tarcza.hotline.monitor import CheckResult, check_url
from tarcza.hotline.notices import MailTransport
from tarcza.hotline.trace import AddressResolver
from tarcza.store.base import utcnow
from tarcza.store.engine import Database


@dataclass(frozen=True)
class HotlineWork:
    """What the hotline's jobs work with: built once by the composition root."""

    settings: Settings
    db: Database
    resolver: AddressResolver
    # Where notices go: SMTP, or in development the mail catcher (set by the root).
    mail: MailTransport | None = None


def _checker(work: HotlineWork) -> monitoring.Checker:
    def check(url: str, baseline: str | None) -> CheckResult:
        return check_url(
            url,
            work.resolver,
            baseline_sha256=baseline,
            allow_private=work.settings.monitor_allow_private,
            timeout=work.settings.monitor_timeout_seconds,
            max_bytes=work.settings.monitor_max_bytes,
        )

    return check


def send_notices(work: HotlineWork, now: datetime) -> int:
    """Send every notice that is due; how many were tried."""
    return outbox.Outbox.from_settings(work.db, work.settings, work.mail).send_due(now)


def check_item(work: HotlineWork, item_id: int, now: datetime) -> bool:
    """Re-check one item; True when it was due and checked."""
    record = monitoring.run_check(
        work.db,
        item_id,
        _checker(work),
        work.settings.monitor_backoff_hours,
        work.settings.monitor_escalate_days,
        now,
        confirm_hours=work.settings.monitor_confirm_hours,
    )
    return record is not None


def due(work: HotlineWork, now: datetime) -> list[int]:
    """The items whose re-check is due."""
    with work.db.transaction() as session:
        return monitoring.due_items(session, now)


def run_due_once(work: HotlineWork, now: datetime) -> dict[str, int]:
    """One pass: send pending notices, check every due item, send what escalation queued."""
    sent = send_notices(work, now)
    checked = sum(check_item(work, item_id, now) for item_id in due(work, now))
    sent += send_notices(work, now)
    return {"notices": sent, "checked": checked}


@dataclass(frozen=True)
class HotlineTasks:
    """The registered jobs (calling one enqueues it)."""

    send_notices: Any
    check_item: Any
    tick: Callable[[], None]


def register(huey: Any, work: HotlineWork) -> HotlineTasks:
    """Register the hotline's jobs on ``huey``; ``tick`` enqueues whatever is due now."""

    # No huey retries: the outbox records each failure and its next try itself.
    @huey.task()  # type: ignore[untyped-decorator]
    def send_notices_task() -> int:
        return send_notices(work, utcnow())

    @huey.task()  # type: ignore[untyped-decorator]
    def check_item_task(item_id: int) -> bool:
        return check_item(work, item_id, utcnow())

    def tick() -> None:
        send_notices_task()
        for item_id in due(work, utcnow()):
            check_item_task(item_id)

    return HotlineTasks(send_notices_task, check_item_task, tick)
