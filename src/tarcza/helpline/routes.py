"""The child helpline's API: the same work as its pages, as JSON, for the same signed-in people.

It authenticates with the staff session cookie; unsafe methods need the ``X-CSRF-Token``
header (GET /api/v1/staff/me tells it).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from tarcza.accounts.access import require
from tarcza.accounts.permissions import Action, Principal
from tarcza.helpline import rules
from tarcza.helpline.service import CaseView, ContactView, HelplineService, NewContact
from tarcza.intake.rules import MAX_URLS
from tarcza.intake.schemas import Url
from tarcza.web.deps import provided

router = APIRouter(prefix="/api/v1/helpline", tags=["helpline"])

Helpline = Annotated[HelplineService, Depends(provided(HelplineService))]
# Ids up to 2**53 - 1: the document's bounds are floats (FastAPI's), exact up to there, and
# every JSON client reads such an id exactly.
RowId = Annotated[int, Field(ge=1, le=2**53 - 1)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=rules.MAX_REASON)]
_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "Not signed in, or the second factor is missing"},
    403: {"description": "Your role may not do this, or the CSRF token is missing"},
    404: {"description": "No such contact or case, or not one you may see"},
}
_CHANGE_ERRORS: dict[int | str, dict[str, str]] = {
    **_ERRORS,
    422: {"description": "A value breaks a rule: the field and the reason are given"},
}
_BODY_ERRORS: dict[int | str, dict[str, str]] = {
    **_CHANGE_ERRORS,
    400: {"description": "The body is not JSON text (e.g. not UTF-8)"},
}


# Each body model's class name is its name in the OpenAPI document: "Helpline" keeps them
# apart from intake's (two models of one name would be documented as one of them).
class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HelplineContactIn(_In):
    channel: rules.Channel
    caller: rules.Caller
    age_band: rules.AgeBand
    topics: list[rules.Topic] = Field(min_length=1, max_length=rules.MAX_CATEGORIES)
    risk: rules.Risk
    summary: Annotated[str, StringConstraints(min_length=1, max_length=rules.MAX_SUMMARY)]
    started_at: AwareDatetime | None = Field(None, description="Default: now")
    duration_minutes: int = Field(0, ge=0, le=rules.MAX_DURATION_MINUTES)
    name: Annotated[str, StringConstraints(max_length=rules.MAX_NAME)] | None = Field(
        None, description="Only with identity_reason: minimal data"
    )
    number: Annotated[str, StringConstraints(max_length=rules.MAX_NUMBER)] | None = None
    identity_reason: Reason | None = None


class HelplineCaseLinkIn(_In):
    case_id: RowId | None = Field(None, description="An open case to join; null: open a new one")


class HelplineReportIn(_In):
    # Intake's links: the document carries their pattern, so a client knows which are taken.
    urls: list[Url] = Field(min_length=1, max_length=MAX_URLS)
    note: Annotated[str, StringConstraints(max_length=rules.MAX_NOTE)] | None = None


class HelplineReasonIn(_In):
    reason: Reason


class HelplineNoteIn(_In):
    note: Annotated[str, StringConstraints(min_length=1, max_length=rules.MAX_NOTE)]


class HelplineServiceIn(_In):
    service_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class HelplineCaseChangeIn(_In):
    status: rules.CaseStatus | None = None
    risk: rules.Risk | None = None
    assignee: Annotated[str, StringConstraints(max_length=40)] | None = Field(
        None, description='A counsellor\'s username; "" for nobody; absent: unchanged'
    )
    next_follow_up: Annotated[str, StringConstraints(max_length=10)] | None = Field(
        None, description='YYYY-MM-DD; "" for none; absent: unchanged'
    )


def _contact_out(view: ContactView) -> dict[str, Any]:
    return asdict(view)


def _case_out(view: CaseView) -> dict[str, Any]:
    data = asdict(view)
    data["relation"] = view.relation.value
    data["allowed"] = sorted(a.value for a in view.allowed)
    return data


@router.post("/contacts", status_code=201, responses=_BODY_ERRORS)
async def record_contact(
    body: HelplineContactIn,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_CONTACT_RECORD))],
) -> dict[str, int]:
    """Record a contact: minimal data; a name or number only with the reason it is kept."""
    new = NewContact(
        channel=body.channel.value,
        caller=body.caller.value,
        age_band=body.age_band.value,
        topics=[t.value for t in body.topics],
        risk=body.risk.value,
        summary=body.summary,
        started_at=body.started_at,
        duration_minutes=body.duration_minutes,
        name=body.name,
        number=body.number,
        identity_reason=body.identity_reason,
    )
    return {"id": await run_in_threadpool(helpline.record_contact, principal, new)}


@router.get("/contacts", responses=_ERRORS)
async def recent_contacts(
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_CONTACT_READ))],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """Your helpline's latest contacts, newest first (summaries left out)."""
    views = await run_in_threadpool(helpline.recent_contacts, principal, limit)
    return [_contact_out(v) for v in views]


@router.get("/contacts/{contact_id}", responses=_ERRORS)
async def get_contact(
    contact_id: RowId,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_CONTACT_READ))],
) -> dict[str, Any]:
    return _contact_out(await run_in_threadpool(helpline.contact, principal, contact_id))


@router.get("/contacts/{contact_id}/identity", responses=_ERRORS)
async def get_identity(
    contact_id: RowId,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_IDENTITY_READ))],
) -> dict[str, str | None]:
    """The name or number kept with the contact, and why (the reading is audited)."""
    return await run_in_threadpool(helpline.identity, principal, contact_id)


@router.post("/contacts/{contact_id}/case", responses=_BODY_ERRORS)
async def open_or_link_case(
    contact_id: RowId,
    body: HelplineCaseLinkIn,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_CASE_WORK))],
) -> dict[str, int]:
    """One step: open a case for the contact, or add it to an open case."""
    if body.case_id is None:
        case_id = await run_in_threadpool(helpline.open_case, principal, contact_id)
    else:
        await run_in_threadpool(helpline.link_case, principal, contact_id, body.case_id)
        case_id = body.case_id
    return {"case_id": case_id}


@router.post("/contacts/{contact_id}/reports", status_code=201, responses=_BODY_ERRORS)
async def file_report(
    contact_id: RowId,
    body: HelplineReportIn,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_REPORT_FILE))],
) -> dict[str, Any]:
    """One step: the links the child gave go to the hotline as a report (its content items)."""
    filed = await run_in_threadpool(
        helpline.file_report, principal, contact_id, body.urls, body.note
    )
    return {"reference": filed.reference, "urls": filed.items}


@router.post("/contacts/{contact_id}/selfprotect", responses=_CHANGE_ERRORS)
async def give_selfprotect_link(
    contact_id: RowId,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_CONTACT_RECORD))],
) -> dict[str, str]:
    """One step: record that the child was given the self-protection link (returned)."""
    path = await run_in_threadpool(helpline.give_selfprotect_link, principal, contact_id)
    return {"path": path}


@router.post("/contacts/{contact_id}/police", status_code=201, responses=_BODY_ERRORS)
async def refer_contact_to_police(
    contact_id: RowId,
    body: HelplineReasonIn,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_POLICE_REFER))],
) -> dict[str, Any]:
    """One step: refer to the police with a reason (they accept or decline in their queue)."""
    filed = await run_in_threadpool(
        lambda: helpline.refer_to_police(principal, body.reason, contact_id=contact_id)
    )
    return {"reference": filed.reference, "referral_id": filed.referral_id}


@router.get("/cases", responses=_ERRORS)
async def case_queue(
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_CASE_READ))],
    mine: bool = False,
) -> list[dict[str, Any]]:
    """Open cases: follow-ups due first, then by risk, then by the next follow-up day."""
    entries = await run_in_threadpool(lambda: helpline.queue(principal, mine=mine))
    return [asdict(e) for e in entries]


@router.get("/cases/{case_id}", responses=_ERRORS)
async def get_case(
    case_id: RowId,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_SUMMARY_READ))],
) -> dict[str, Any]:
    """The case with its timeline; a police unit it was referred to reads the summary only."""
    return _case_out(await run_in_threadpool(helpline.case, principal, case_id))


@router.patch("/cases/{case_id}", status_code=204, responses=_BODY_ERRORS)
async def change_case(
    case_id: RowId,
    body: HelplineCaseChangeIn,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_CASE_WORK))],
) -> Response:
    """Change the status, risk, assigned counsellor or next follow-up day."""
    await run_in_threadpool(
        lambda: helpline.update_case(
            principal,
            case_id,
            status=body.status.value if body.status else None,
            risk=body.risk.value if body.risk else None,
            assignee=body.assignee,
            next_follow_up=body.next_follow_up,
        )
    )
    return Response(status_code=204)


@router.post("/cases/{case_id}/notes", status_code=204, responses=_BODY_ERRORS)
async def add_note(
    case_id: RowId,
    body: HelplineNoteIn,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_CASE_WORK))],
) -> Response:
    await run_in_threadpool(helpline.add_note, principal, case_id, body.note)
    return Response(status_code=204)


@router.post("/cases/{case_id}/police", status_code=201, responses=_BODY_ERRORS)
async def refer_case_to_police(
    case_id: RowId,
    body: HelplineReasonIn,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_POLICE_REFER))],
) -> dict[str, Any]:
    filed = await run_in_threadpool(
        lambda: helpline.refer_to_police(principal, body.reason, case_id=case_id)
    )
    return {"reference": filed.reference, "referral_id": filed.referral_id}


@router.post("/cases/{case_id}/services", status_code=204, responses=_BODY_ERRORS)
async def refer_to_service(
    case_id: RowId,
    body: HelplineServiceIn,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_CASE_WORK))],
) -> Response:
    """Record a referral onwards to a local service of the directory."""
    await run_in_threadpool(helpline.refer_to_service, principal, case_id, body.service_id)
    return Response(status_code=204)


@router.get("/services", responses=_ERRORS)
async def services(
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_DIRECTORY_READ))],
    region: Annotated[str | None, Query(max_length=32)] = None,
    q: Annotated[str, Query(max_length=200)] = "",
) -> list[dict[str, Any]]:
    """Local services of a region (and the national ones) matching every word of ``q``."""
    found = await run_in_threadpool(helpline.services, principal, region, q)
    return [asdict(s) for s in found]
