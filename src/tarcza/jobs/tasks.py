"""The jobs: send pending notices, re-check the notified URLs that are due."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from huey import crontab  # type: ignore[import-untyped]

from tarcza.config import Settings
from tarcza.hotline.trace import Resolver
from tarcza.store.base import utcnow
from tarcza.store.engine import Database


@dataclass(frozen=True)
class JobContext:
    settings: Settings
    db: Database
    resolver: Resolver


def _checker(ctx: JobContext) -> Any:
    from tarcza.hotline.monitor import CheckResult, check_url

    def check(url: str, baseline: str | None) -> CheckResult:
        return check_url(
            url,
            ctx.resolver,
            baseline_sha256=baseline,
            allow_private=ctx.settings.monitor_allow_private,
            timeout=ctx.settings.monitor_timeout_seconds,
            max_bytes=ctx.settings.monitor_max_bytes,
        )

    return check


def send_notices(ctx: JobContext, now: datetime) -> int:
    from tarcza.hotline import outbox

    return outbox.send_pending(ctx.db, ctx.settings, now)


def check_item(ctx: JobContext, item_id: int, now: datetime) -> bool:
    """Re-check one item; True when it was due and checked."""
    from tarcza.hotline import monitoring

    record = monitoring.run_check(
        ctx.db,
        item_id,
        _checker(ctx),
        ctx.settings.monitor_backoff_hours,
        ctx.settings.monitor_escalate_days,
        now,
    )
    return record is not None


def due(ctx: JobContext, now: datetime) -> list[int]:
    from tarcza.hotline import monitoring

    with ctx.db.transaction() as session:
        return monitoring.due_items(session, now)


def run_due_once(ctx: JobContext, now: datetime) -> dict[str, int]:
    """One pass: send pending notices, check every due item, send what escalation queued."""
    sent = send_notices(ctx, now)
    checked = sum(check_item(ctx, item_id, now) for item_id in due(ctx, now))
    sent += send_notices(ctx, now)
    return {"notices": sent, "checked": checked}


@dataclass(frozen=True)
class Tasks:
    """The registered huey tasks (calling one enqueues it)."""

    send_notices: Any
    check_item: Any
    check_due: Any


def register(huey: Any, context: Callable[[], JobContext]) -> Tasks:
    """Register the jobs on ``huey``; ``context`` builds what they work with, once."""
    built: list[JobContext] = []

    def ctx() -> JobContext:
        if not built:
            built.append(context())
        return built[0]

    @huey.task(retries=3, retry_delay=60)  # type: ignore[untyped-decorator]
    def send_notices_task() -> int:
        return send_notices(ctx(), utcnow())

    @huey.task()  # type: ignore[untyped-decorator]
    def check_item_task(item_id: int) -> bool:
        return check_item(ctx(), item_id, utcnow())

    @huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
    def check_due_task() -> None:
        send_notices_task()
        for item_id in due(ctx(), utcnow()):
            check_item_task(item_id)

    return Tasks(send_notices_task, check_item_task, check_due_task)
