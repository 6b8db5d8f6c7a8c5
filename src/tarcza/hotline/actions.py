"""Turning the actions the rules decide into records: notices queued, referrals made.

Mailed actions (a notice to a provider, a forward to a partner hotline) are written
``pending``; the outbox job sends them after the assessment commits. A referral to the
police is made at once, inside the assessment's transaction, on every report of the
hotline that names the item, so the police see it in their queue as any other referral.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from tarcza.accounts.models import Agency
from tarcza.accounts.permissions import Principal
from tarcza.cases.referrals import open_referral
from tarcza.cases.rules import HOTLINE_POLICE, system_reason
from tarcza.crypto import KeyRing
from tarcza.hotline.models import ContentItem, ItemAction, ItemReport
from tarcza.hotline.notices import NoContact, abuse_contact, language_for
from tarcza.hotline.rules import Action, ActionStatus
from tarcza.hotline.trace import Trace
from tarcza.intake.models import Report
from tarcza.intake.progress import advance_public_stage
from tarcza.intake.rules import PublicStage

if TYPE_CHECKING:
    from tarcza.hotline.deployment import Deployment


def recorded(
    item_id: int,
    action: Action,
    principal: Principal | None,
    now: datetime,
    *,
    recipient: str | None = None,
    detail: str | None = None,
    status: ActionStatus = ActionStatus.RECORDED,
) -> ItemAction:
    """An action row that needs no sending."""
    return ItemAction(
        item_id=item_id,
        action=action.value,
        recipient=recipient,
        status=status.value,
        attempt=1,
        user_id=principal.user_id if principal else None,
        detail=detail,
        created_at=now,
        done_at=now if status is not ActionStatus.PENDING else None,
    )


def take(
    session: Session,
    keys: KeyRing,
    item: ContentItem,
    wanted: Sequence[Action],
    trace: Trace | None,
    principal: Principal,
    now: datetime,
    deployment: Deployment,
) -> list[ItemAction]:
    """Write a row for each of ``wanted`` (and the referrals); returns the rows, added."""
    rows = [
        _one(session, keys, item, action, trace, principal, now, deployment) for action in wanted
    ]
    session.add_all(rows)
    return rows


def _one(
    session: Session,
    keys: KeyRing,
    item: ContentItem,
    action: Action,
    trace: Trace | None,
    principal: Principal,
    now: datetime,
    deployment: Deployment,
) -> ItemAction:
    country = trace.country if trace else None
    home = deployment.action_rules.home_country
    if action in (Action.NOTICE_AND_TAKEDOWN, Action.NOTICE_PROVIDER):
        try:
            to = abuse_contact(
                item.host, trace.operator if trace else None, deployment.abuse_contacts
            )
        except NoContact:
            return recorded(
                item.id,
                action,
                principal,
                now,
                status=ActionStatus.FAILED,
                detail="no abuse contact is known for this host: send the notice by hand",
            )
        return _mail(item.id, action, to, language_for(country, home), principal, now)
    if action is Action.FORWARD_PARTNER_HOTLINE:
        partner = deployment.partners.for_country(country) if country else None
        if partner is None:
            return recorded(
                item.id, action, principal, now, status=ActionStatus.FAILED, detail="no partner"
            )
        return _mail(item.id, action, partner.email, "en", principal, now)
    if action is Action.REFER_POLICE:
        return _refer_police(session, keys, item, trace, principal, now, deployment)
    return recorded(item.id, action, principal, now)


def _mail(
    item_id: int, action: Action, to: str, language: str, principal: Principal, now: datetime
) -> ItemAction:
    row = recorded(item_id, action, principal, now, recipient=to, status=ActionStatus.PENDING)
    row.language = language
    return row


def _refer_police(
    session: Session,
    keys: KeyRing,
    item: ContentItem,
    trace: Trace | None,
    principal: Principal,
    now: datetime,
    deployment: Deployment,
) -> ItemAction:
    """Refer each of the hotline's reports naming the item to the police (once each)."""
    police = deployment.police_agency
    if session.scalar(select(Agency.code).where(Agency.code == police)) is None:
        return recorded(
            item.id,
            Action.REFER_POLICE,
            principal,
            now,
            recipient=police,
            status=ActionStatus.FAILED,
            detail=f"no agency {police!r}: set TARCZA_POLICE_AGENCY",
        )
    reports = session.execute(
        select(Report.id, Report.reference)
        .join(ItemReport, ItemReport.report_id == Report.id)
        .where(ItemReport.item_id == item.id, Report.owner_agency == principal.agency)
        .order_by(Report.id)
    ).all()
    # A code, not a sentence: each page renders it in its reader's language (cases.pages).
    why = system_reason(
        HOTLINE_POLICE,
        item=item.id,
        classification=item.classification,
        country=trace.country if trace else None,
    )
    referred: list[str] = []
    referred_ids: list[int] = []
    for report_id, reference in reports:
        made = open_referral(
            session,
            keys,
            report_id=report_id,
            reference=reference,
            from_agency=principal.agency,
            to_agency=police,
            reason=why,
            actor=principal.username,
            now=now,
            details={"content_item": item.id},
        )
        if made is not None:
            referred.append(reference)
            referred_ids.append(report_id)
    advance_public_stage(
        session,
        referred_ids,
        PublicStage.PASSED_TO_POLICE,
        now,
        actor=principal.username,
        agency=principal.agency,
    )
    return recorded(
        item.id,
        Action.REFER_POLICE,
        principal,
        now,
        recipient=police,
        detail=", ".join(referred) or "already referred",
    )
