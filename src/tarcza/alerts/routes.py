"""The alerts' JSON API for staff: the alerts their agency follows, and acknowledging one.

``GET /api/v1/staff/alerts`` and ``POST /api/v1/staff/alerts/{alert_id}/acknowledge`` (the
session cookie and the CSRF header, as the rest of the staff API).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from tarcza.accounts.access import require
from tarcza.accounts.permissions import Action, Principal
from tarcza.alerts.service import AlertService, AlertView
from tarcza.web.deps import provided

router = APIRouter(prefix="/api/v1/staff/alerts", tags=["alerts"])

Alerts = Annotated[AlertService, Depends(provided(AlertService))]
AlertId = Annotated[int, Path(ge=1, le=2**62)]


class NotificationOut(BaseModel):
    level: int
    channel: str
    recipient: str
    status: str
    tries: int
    sent_at: datetime | None
    detail: str | None


class AlertOut(BaseModel):
    """An alert to the police duty desk: the same state for every agency that follows it."""

    id: int
    reference: str
    to_agency: str
    state: str
    level: int
    levels: int
    raised_at: datetime
    next_escalation_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    may_acknowledge: bool
    notifications: list[NotificationOut]

    @classmethod
    def of(cls, view: AlertView) -> AlertOut:
        return cls(
            id=view.id,
            reference=view.reference,
            to_agency=view.to_agency,
            state=view.state,
            level=view.level,
            levels=view.levels,
            raised_at=view.raised_at,
            next_escalation_at=view.next_escalation_at,
            acknowledged_by=view.acknowledged_by,
            acknowledged_at=view.acknowledged_at,
            may_acknowledge=view.may_acknowledge,
            notifications=[NotificationOut(**vars(n)) for n in view.notifications],
        )


_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "Not signed in, or the second factor is missing"},
    403: {"description": "Your role may not do this, or the CSRF token is missing"},
}


@router.get("", response_model=list[AlertOut], responses=_ERRORS)
async def list_alerts(
    alerts: Alerts,
    principal: Annotated[Principal, Depends(require(Action.ALERT_DANGER_READ))],
) -> list[AlertOut]:
    """The alerts the person's agency follows, waiting ones first."""
    found = await run_in_threadpool(alerts.alerts, principal)
    return [AlertOut.of(view) for view in found]


@router.post(
    "/{alert_id}/acknowledge",
    response_model=AlertOut,
    responses={**_ERRORS, 404: {"description": "No such alert, or not one you may see"}},
)
async def acknowledge_alert(
    alert_id: AlertId,
    alerts: Alerts,
    principal: Annotated[Principal, Depends(require(Action.ALERT_DANGER_ACKNOWLEDGE))],
) -> AlertOut:
    """The duty desk has it: who and when are recorded, and the escalation stops."""
    view = await run_in_threadpool(alerts.acknowledge, principal, alert_id)
    return AlertOut.of(view)
