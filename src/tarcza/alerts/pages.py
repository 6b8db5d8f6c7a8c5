"""The alerts' pages: every alert the person's agency follows, and the duty desk's acknowledgement.

``GET /staff/alerts`` lists them, waiting ones first; ``POST /staff/alerts/{id}/acknowledge``
records that the duty desk has it and goes back to the page it came from (the report's page
or the list). A report's page shows its alert through ``alert_panel.html``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from tarcza.accounts.access import require
from tarcza.accounts.permissions import Action, Principal
from tarcza.alerts.service import AlertService
from tarcza.web import i18n
from tarcza.web.deps import provided
from tarcza.web.i18n import N_
from tarcza.web.render import page_language, render

router = APIRouter(include_in_schema=False)

Alerts = Annotated[AlertService, Depends(provided(AlertService))]

# The names of the stored codes, for every page that shows an alert.
LABELS: dict[str, dict[str, str]] = {
    "channel": {"email": N_("e-mail"), "webhook": N_("webhook")},
    "delivery": {
        "pending": N_("waiting to be sent"),
        "sending": N_("being sent"),
        "sent": N_("sent"),
        "failed": N_("failed: call the duty desk"),
        "cancelled": N_("not needed (acknowledged)"),
    },
}
ACKNOWLEDGED = N_("Acknowledged: the other agencies see who has it.")


def alert_page_values(_request: Request) -> dict[str, Any]:
    """What a page showing an alert panel needs (the labels); the root adds it to every page."""
    return {"alert_labels": LABELS}


@router.get("/staff/alerts")
async def alerts_page(
    request: Request,
    alerts: Alerts,
    principal: Annotated[Principal, Depends(require(Action.ALERT_DANGER_READ))],
) -> Response:
    found = await run_in_threadpool(alerts.alerts, principal)
    flash = None
    if request.query_params.get("done") == "acknowledged":
        flash = i18n.translator(page_language(request)).gettext(ACKNOWLEDGED)
    return render(request, "alerts.html", {"alerts": found, "flash": flash})


@router.post("/staff/alerts/{alert_id}/acknowledge")
async def acknowledge(
    request: Request,
    alert_id: int,
    alerts: Alerts,
    principal: Annotated[Principal, Depends(require(Action.ALERT_DANGER_ACKNOWLEDGE))],
) -> Response:
    form = await request.form()
    await run_in_threadpool(alerts.acknowledge, principal, alert_id)
    back = form.get("back")
    # Only a page of our own: never an address someone slipped into the form.
    target = back if isinstance(back, str) and _staff_path(back) else "/staff/alerts"
    return RedirectResponse(f"{target}?done=acknowledged", status_code=303)


def _staff_path(path: str) -> bool:
    return (
        path.startswith("/staff/")
        and "//" not in path
        and "\\" not in path
        and "?" not in path
        and all(c.isalnum() or c in "/-_" for c in path)
    )
