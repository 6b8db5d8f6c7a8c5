"""The MNR tracker's API: the same as its pages, as JSON, for the same signed-in people.

It authenticates with the staff session cookie; unsafe methods need the ``X-CSRF-Token``
header (GET /api/v1/staff/me tells it). The programme's staff read; the institutions
responsible for a capability change its evidence and actions; the coordinator changes all.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tarcza.accounts.access import require
from tarcza.accounts.permissions import Action, Principal
from tarcza.mnr import rules
from tarcza.mnr.service import MnrService
from tarcza.mnr.views import (
    ActionChange,
    ActionView,
    CapabilityChange,
    CapabilitySummary,
    CapabilityView,
    DomainChange,
    DomainView,
    NewAction,
)
from tarcza.web.deps import provided

router = APIRouter(prefix="/api/v1/mnr", tags=["mnr"])

Mnr = Annotated[MnrService, Depends(provided(MnrService))]
Number = Annotated[int, Path(ge=1, le=21, description="The capability's MNR number, 1 to 21")]
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
DomainCode = Annotated[str, Path(pattern=r"^[a-z]{1,16}$")]
_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "Not signed in, or the second factor is missing"},
    403: {"description": "Your role may not read the tracker"},
    404: {"description": "No such capability, action or domain"},
}
_CHANGE_ERRORS: dict[int | str, dict[str, str]] = {
    **_ERRORS,
    400: {"description": "The body is not JSON text (e.g. not UTF-8)"},
    403: {
        "description": "Your agency is not responsible for the capability, your role may not "
        "change this, or the CSRF token is missing"
    },
    422: {"description": "A value breaks a rule: the field and the reason are given"},
}

Text = Annotated[str, StringConstraints(min_length=1, max_length=rules.MAX_EVIDENCE)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=rules.MAX_NAME)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=rules.MAX_TITLE)]
Institution = Annotated[str, StringConstraints(min_length=1, max_length=rules.MAX_INSTITUTION)]
AgencyCode = Annotated[str, StringConstraints(min_length=1, max_length=32)]
# The range (2000 to 2100) is the rules' (422 "out_of_range"): JSON Schema bounds no date.
Due = Annotated[date, Field(description="YYYY-MM-DD, between 2000 and 2100")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CapabilityIn(_In):
    """Absent fields stay as they are. Only the coordinator changes more than the evidence."""

    evidence: Text | None = Field(None, description="The evidence for the phase reached")
    phase: rules.Phase | None = Field(None, description="1 building … 4 mature (coordinator)")
    name_pl: Name | None = Field(None, description="The Polish name (coordinator)")
    name_en: Name | None = Field(None, description="The English name (coordinator)")
    agencies: list[AgencyCode] | None = Field(
        None, max_length=rules.MAX_RESPONSIBLE, description="tarcza agencies responsible"
    )
    institutions: list[Institution] | None = Field(
        None,
        max_length=rules.MAX_RESPONSIBLE,
        description="Responsible institutions outside tarcza",
    )


class ActionIn(_In):
    title: Title
    owner: Institution = Field(description="One of the capability's responsible institutions")
    due: Due
    state: rules.ActionState = rules.ActionState.PLANNED


class ActionChangeIn(_In):
    title: Title | None = None
    owner: Institution | None = None
    due: Due | None = None
    state: rules.ActionState | None = None


class DomainIn(_In):
    name_pl: Name | None = None
    name_en: Name | None = None


def _summary_out(s: CapabilitySummary) -> dict[str, Any]:
    return {
        "number": s.number,
        "domain": s.domain,
        "name": {"pl": s.name_pl, "en": s.name_en},
        "phase": s.phase.value,
        "agencies": list(s.agencies),
        "institutions": list(s.institutions),
        "open_actions": s.open_actions,
        "overdue_actions": s.overdue_actions,
        "self_assessed": s.self_assessed,
        "indicators": [
            {"key": i.key, "unit": i.unit.value, "value": i.value, "suppressed": i.suppressed}
            for i in s.indicators
        ],
        "updated_at": s.updated_at.isoformat(),
    }


def _action_out(a: ActionView) -> dict[str, Any]:
    data = asdict(a)
    data.update(
        due=a.due.isoformat(),
        state=a.state.value,
        created_at=a.created_at.isoformat(),
        updated_at=a.updated_at.isoformat(),
    )
    return data


def _capability_out(v: CapabilityView) -> dict[str, Any]:
    return {
        **_summary_out(v.summary),
        "description": {"pl": v.description_pl, "en": v.description_en},
        "evidence": v.evidence,
        "updated_by": v.updated_by,
        "actions": [_action_out(a) for a in v.actions],
        "history": [{**asdict(h), "changed_at": h.changed_at.isoformat()} for h in v.history],
        "may_update": v.may_update,
        "may_manage": v.may_manage,
    }


def _domain_out(d: DomainView) -> dict[str, Any]:
    return {"code": d.code, "position": d.position, "name": {"pl": d.name_pl, "en": d.name_en}}


@router.get("/capabilities", responses=_ERRORS)
async def capabilities(
    mnr: Mnr, principal: Annotated[Principal, Depends(require(Action.MNR_TRACKER_READ))]
) -> list[dict[str, Any]]:
    """The 21 capabilities by domain: phase, responsible, open and overdue actions, figures.

    Figures are counts and medians of the last 90 days; a count below 5 is null and
    ``suppressed``.
    """
    domains = await run_in_threadpool(mnr.overview, principal)
    return [
        {**_summary_out(c), "domain_name": _domain_out(d)["name"]}
        for d in domains
        for c in d.capabilities
    ]


@router.get("/capabilities/{number}", responses=_ERRORS)
async def capability(
    number: Number,
    mnr: Mnr,
    principal: Annotated[Principal, Depends(require(Action.MNR_TRACKER_READ))],
) -> dict[str, Any]:
    """One capability with its evidence, actions, history and what you may change."""
    return _capability_out(await run_in_threadpool(mnr.capability, principal, number))


@router.patch("/capabilities/{number}", responses=_CHANGE_ERRORS)
async def change_capability(
    number: Number,
    body: CapabilityIn,
    mnr: Mnr,
    principal: Annotated[Principal, Depends(require(Action.MNR_PROGRESS_UPDATE))],
) -> dict[str, Any]:
    """Change the evidence (a responsible institution) or anything (the coordinator)."""
    change = CapabilityChange(
        evidence=body.evidence,
        phase=None if body.phase is None else body.phase.value,
        name_pl=body.name_pl,
        name_en=body.name_en,
        agencies=body.agencies,
        institutions=body.institutions,
    )
    return _capability_out(await run_in_threadpool(mnr.update, principal, number, change))


@router.post("/capabilities/{number}/actions", status_code=201, responses=_CHANGE_ERRORS)
async def add_action(
    number: Number,
    body: ActionIn,
    mnr: Mnr,
    principal: Annotated[Principal, Depends(require(Action.MNR_PROGRESS_UPDATE))],
) -> dict[str, Any]:
    """Add an action, owned by one of the capability's responsible institutions."""
    new = NewAction(title=body.title, owner=body.owner, due=body.due, state=body.state.value)
    return _action_out(await run_in_threadpool(mnr.add_action, principal, number, new))


@router.patch("/actions/{action_id}", responses=_CHANGE_ERRORS)
async def change_action(
    action_id: RowId,
    body: ActionChangeIn,
    mnr: Mnr,
    principal: Annotated[Principal, Depends(require(Action.MNR_PROGRESS_UPDATE))],
) -> dict[str, Any]:
    """Change an action's title, owner, due day or state."""
    change = ActionChange(
        title=body.title,
        owner=body.owner,
        due=body.due,
        state=None if body.state is None else body.state.value,
    )
    return _action_out(await run_in_threadpool(mnr.change_action, principal, action_id, change))


@router.patch("/domains/{code}", responses=_CHANGE_ERRORS)
async def rename_domain(
    code: DomainCode,
    body: DomainIn,
    mnr: Mnr,
    principal: Annotated[Principal, Depends(require(Action.MNR_TRACKER_MANAGE))],
) -> dict[str, Any]:
    """Rename a domain (the coordinator)."""
    change = DomainChange(name_pl=body.name_pl, name_en=body.name_en)
    return _domain_out(await run_in_threadpool(mnr.rename_domain, principal, code, change))
