"""The alerts' background work: send the notifications that are due, escalate what waited too long.

Registered on the job queue by the composition root. ``run`` is enqueued right after a danger
report commits (so the duty desk hears of it within seconds, not at the next tick) and on every
tick (escalations, retries). Several workers may run it at once: rows are claimed under locks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from tarcza.alerts.service import AlertService

log = logging.getLogger(__name__)


def run_due_once(alerts: AlertService) -> dict[str, int]:
    """One pass: escalate every alert whose time ran out, then send what is due."""
    escalated = alerts.escalate_due()
    sent = alerts.deliver_due()
    return {"escalated": escalated, "notifications": sent}


@dataclass(frozen=True)
class AlertTasks:
    """The registered job (calling ``run`` enqueues it)."""

    run: Any

    def soon(self) -> None:
        """Enqueue a pass now (after a danger report committed)."""
        self.run()


def register(huey: Any, alerts: AlertService) -> AlertTasks:
    """Register the alerts' job on ``huey``."""

    # No huey retries: each notification records its failure and its next try itself.
    @huey.task()  # type: ignore[untyped-decorator]
    def danger_alerts_task() -> dict[str, int]:
        return run_due_once(alerts)

    return AlertTasks(danger_alerts_task)
