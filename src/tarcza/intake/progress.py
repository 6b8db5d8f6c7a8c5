"""The one writer of a report's public stage: what the reporter reads on the status page.

Other concepts (casework, the hotline, its monitor) call :func:`advance_public_stage` inside
their own transaction when something the reporter should know about happened. This module
imports nothing but intake's tables and rules and the audit log, so any concept may import it
without a cycle (``intake.service`` imports the hotline; it re-exports this function).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tarcza.audit import service as audit
from tarcza.intake import rules
from tarcza.intake.models import Report

STAGE_AUDIT_ACTION = "report.public_stage_changed"


def advance_public_stage(
    session: Session,
    report_ids: Iterable[int],
    stage: rules.PublicStage,
    now: datetime,
    *,
    actor: str,
    agency: str | None = None,
    reopen: bool = False,
) -> list[str]:
    """Move the reports' public stage on to ``stage`` (forward only, unless ``reopen``).

    Each report that changes gets ``public_changed_at = now`` and one audit entry
    (``report.public_stage_changed``, from → to); a report already at or past ``stage``
    is left alone and not audited. Returns the references that changed, in id order.
    The caller owns the transaction: the stage commits with the work that caused it.
    """
    ids = sorted(set(report_ids))
    if not ids:
        return []
    reports = session.scalars(
        select(Report).where(Report.id.in_(ids)).order_by(Report.id).with_for_update()
    ).all()
    changed: list[str] = []
    for report in reports:
        before = rules.PublicStage(report.public_stage)
        after = rules.combine_stage(before, stage, reopen=reopen)
        if after is before:
            continue
        report.public_stage, report.public_changed_at = after.value, now
        audit.append(
            session,
            actor=actor,
            agency=agency,
            action=STAGE_AUDIT_ACTION,
            subject_type="report",
            subject_id=report.reference,
            now=now,
            details={"from": before.value, "to": after.value},
        )
        changed.append(report.reference)
    return changed
