"""The MNR tracker's staff pages: the 21 capabilities by domain, and one capability to work on.

They work without JavaScript; every form carries the session's CSRF token; every route
declares the action it needs (accounts.access.require); a form appears only to those who may
send it (the service refuses the others anyway: 403).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from tarcza.accounts.access import require
from tarcza.accounts.permissions import Action, Principal
from tarcza.mnr import rules
from tarcza.mnr.service import MnrRefused, MnrService
from tarcza.mnr.views import ActionChange, CapabilityChange, DomainChange, NewAction
from tarcza.web import i18n
from tarcza.web.deps import provided
from tarcza.web.i18n import N_
from tarcza.web.render import page_language, render

router = APIRouter(include_in_schema=False)

Mnr = Annotated[MnrService, Depends(provided(MnrService))]
Reader = Annotated[Principal, Depends(require(Action.MNR_TRACKER_READ))]
Updater = Annotated[Principal, Depends(require(Action.MNR_PROGRESS_UPDATE))]
Manager = Annotated[Principal, Depends(require(Action.MNR_TRACKER_MANAGE))]

LABELS: dict[str, dict[str, str]] = {
    "phase": {
        "1": N_("1 · Building"),
        "2": N_("2 · Developing"),
        "3": N_("3 · Established"),
        "4": N_("4 · Mature"),
    },
    "state": {
        "planned": N_("Planned"),
        "in_progress": N_("In progress"),
        "done": N_("Done"),
        "dropped": N_("Dropped"),
    },
    "field": {
        "evidence": N_("Evidence for the phase"),
        "phase": N_("Phase"),
        "name_pl": N_("Name (Polish)"),
        "name_en": N_("Name (English)"),
        "agencies": N_("Responsible agencies"),
        "institutions": N_("Other responsible institutions"),
        "title": N_("What will be done"),
        "owner": N_("Owner"),
        "due": N_("Due"),
        "state": N_("State"),
    },
    "indicator": {
        "police.referrals": N_("Referrals to the police"),
        "police.acknowledged": N_("Referrals acknowledged"),
        "police.hours_to_acknowledge": N_("Median time to acknowledge"),
        "police.outcomes": N_("Outcomes recorded"),
        "banks.signals": N_("Hashes in the banks"),
        "banks.evidence_matches": N_("Evidence files matching a bank"),
        "helpline.contacts": N_("Helpline contacts"),
        "helpline.cases_opened": N_("Helpline cases opened"),
        "hotline.reports": N_("Reports to the hotline"),
        "hotline.items_assessed": N_("Content items assessed"),
        "hotline.items_removed": N_("Content items removed"),
        "takedown.hours_to_removal": N_("Median time to removal"),
        "takedown.removed_within_3_days": N_("Removed within 3 days"),
        "industry.partner_reports": N_("Reports from partner platforms"),
        "industry.partner_feedback": N_("Copies partners stopped after a match"),
    },
}
DONE = {
    "evidence": N_("The evidence is saved."),
    "action": N_("The action is added."),
    "changed": N_("The action is changed."),
    "managed": N_("The capability is changed."),
    "domain": N_("The domain is renamed."),
}
REFUSALS = {
    "required": N_("This is required."),
    "too_long": N_("This is too long."),
    "too_many": N_("Too many."),
    "unknown": N_("Choose one of the options."),
    "unknown_agency": N_("Choose agencies of tarcza."),
    "not_responsible": N_("Choose an institution responsible for the capability."),
    "not_a_date": N_("Give a date."),
    "out_of_range": N_("A date between 2000 and 2100."),
    "invalid_character": N_("This text contains a character that cannot be stored."),
    "control_character": N_("This text contains a character that cannot be stored."),
}


def figure(shown: rules.Shown, language: str) -> str:
    """An indicator as written on a page: "<5" when suppressed, "—" when there is none."""
    if shown.suppressed:
        return f"<{rules.SMALL_COUNT}"
    if shown.value is None:
        return "—"
    if shown.unit is rules.Unit.SHARE:
        return f"{round(shown.value * 100)}%"
    if shown.unit is rules.Unit.HOURS:
        hours = f"{shown.value:.1f}".replace(".", "," if language == "pl" else ".")
        return f"{hours} h"
    return f"{int(shown.value):,}".replace(",", "\u00a0" if language == "pl" else ",")


def _render(
    request: Request, template: str, values: dict[str, Any], status_code: int = 200
) -> Response:
    language = page_language(request)
    done = DONE.get(request.query_params.get("done", ""))
    return render(
        request,
        template,
        {
            "labels": LABELS,
            "rules": rules,
            "figure": lambda shown: figure(shown, language),
            "done_text": i18n.translator(language).gettext(done) if done else None,
            **values,
        },
        status_code=status_code,
        language=language,
    )


async def _form(request: Request) -> tuple[dict[str, str], list[str]]:
    form = await request.form()
    single = {k: v for k, v in form.items() if isinstance(v, str)}
    agencies = [v for v in form.getlist("agencies") if isinstance(v, str)]
    return single, agencies


@router.get("/staff/mnr")
async def home(request: Request, mnr: Mnr, principal: Reader) -> Response:
    domains = await run_in_threadpool(mnr.overview, principal)
    names = dict(await run_in_threadpool(mnr.agencies))
    return _render(
        request,
        "mnr_home.html",
        {"domains": domains, "agency_names": names, "manage": rules.may_manage(principal)},
    )


def _capability_page(
    request: Request,
    mnr: MnrService,
    principal: Principal,
    number: int,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    view = mnr.capability(principal, number)
    return _render(
        request,
        "mnr_capability.html",
        {
            "c": view,
            "s": view.summary,
            "agency_names": dict(mnr.agencies()),
            "errors": errors or {},
            "form": form or {},
        },
        status_code=status_code,
    )


@router.get("/staff/mnr/{number}")
async def capability_page(request: Request, number: int, mnr: Mnr, principal: Reader) -> Response:
    return await run_in_threadpool(_capability_page, request, mnr, principal, number)


async def _step(
    request: Request,
    mnr: MnrService,
    principal: Principal,
    number: int,
    prefix: str,
    form: dict[str, str],
    work: Any,
) -> Response:
    """Run a change; on a refusal show the capability again with the field's error (422)."""
    try:
        target: str = await run_in_threadpool(work)
    except MnrRefused as exc:
        tr = i18n.translator(page_language(request))
        message = tr.gettext(REFUSALS.get(exc.code, N_("This value is not valid.")))
        errors = {f"{prefix}-{exc.field}": message}
        return await run_in_threadpool(
            lambda: _capability_page(
                request, mnr, principal, number, errors=errors, form=form, status_code=422
            )
        )
    return RedirectResponse(target, status_code=303)


@router.post("/staff/mnr/{number}/evidence")
async def save_evidence(request: Request, number: int, mnr: Mnr, principal: Updater) -> Response:
    form, _ = await _form(request)

    def work() -> str:
        mnr.update(principal, number, CapabilityChange(evidence=form.get("evidence", "")))
        return f"/staff/mnr/{number}?done=evidence#evidence-title"

    return await _step(request, mnr, principal, number, "evidence", form, work)


@router.post("/staff/mnr/{number}/actions")
async def add_action(request: Request, number: int, mnr: Mnr, principal: Updater) -> Response:
    form, _ = await _form(request)

    def work() -> str:
        new = NewAction(
            title=form.get("title", ""),
            owner=form.get("owner", ""),
            due=form.get("due", ""),
            state=form.get("state", rules.ActionState.PLANNED.value),
        )
        mnr.add_action(principal, number, new)
        return f"/staff/mnr/{number}?done=action#actions-title"

    return await _step(request, mnr, principal, number, "action", form, work)


@router.post("/staff/mnr/{number}/actions/{action_id}")
async def change_action(
    request: Request, number: int, action_id: int, mnr: Mnr, principal: Updater
) -> Response:
    form, _ = await _form(request)

    def work() -> str:
        change = ActionChange(state=form.get("state") or None, due=form.get("due") or None)
        done = mnr.change_action(principal, action_id, change)
        return f"/staff/mnr/{done.capability}?done=changed#action-{done.id}"

    return await _step(request, mnr, principal, number, f"change{action_id}", form, work)


@router.post("/staff/mnr/{number}/manage")
async def manage(request: Request, number: int, mnr: Mnr, principal: Manager) -> Response:
    form, agencies = await _form(request)

    def work() -> str:
        institutions = [line for line in form.get("institutions", "").splitlines() if line.strip()]
        change = CapabilityChange(
            phase=form.get("phase", ""),
            name_pl=form.get("name_pl", ""),
            name_en=form.get("name_en", ""),
            agencies=agencies,
            institutions=institutions,
        )
        mnr.update(principal, number, change)
        return f"/staff/mnr/{number}?done=managed"

    return await _step(request, mnr, principal, number, "manage", form, work)


@router.post("/staff/mnr/domains/{code}")
async def rename_domain(request: Request, code: str, mnr: Mnr, principal: Manager) -> Response:
    form, _ = await _form(request)
    change = DomainChange(name_pl=form.get("name_pl"), name_en=form.get("name_en"))
    await run_in_threadpool(mnr.rename_domain, principal, code, change)
    return RedirectResponse(f"/staff/mnr?done=domain#domain-{code}", status_code=303)
