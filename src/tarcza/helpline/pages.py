"""The child helpline's staff pages: record a contact, act on it in one step, work cases.

They work without JavaScript; every form carries the session's CSRF token; every route
declares the action it needs (accounts.access.require).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from tarcza.accounts.access import require
from tarcza.accounts.permissions import Action, Principal
from tarcza.helpline import rules
from tarcza.helpline.service import HelplineRefused, HelplineService, NewContact
from tarcza.web import i18n
from tarcza.web.deps import provided
from tarcza.web.i18n import N_
from tarcza.web.render import page_language, render

router = APIRouter(include_in_schema=False)

Helpline = Annotated[HelplineService, Depends(provided(HelplineService))]
# The time a counsellor types is the helpline's own (Polish) time.
LOCAL_TIME = ZoneInfo("Europe/Warsaw")

LABELS: dict[str, dict[str, str]] = {
    "channel": {
        "phone": N_("Phone"),
        "chat": N_("Chat"),
        "email": N_("E-mail"),
        "web": N_("Web form"),
    },
    "caller": {
        "child": N_("The child"),
        "parent": N_("A parent or carer"),
        "professional": N_("A professional (teacher, social worker…)"),
        "other": N_("Someone else"),
    },
    "age_band": {
        "0_6": N_("0–6 years"),
        "7_9": N_("7–9 years"),
        "10_12": N_("10–12 years"),
        "13_15": N_("13–15 years"),
        "16_17": N_("16–17 years"),
        "18_plus": N_("18 or older"),
        "unknown": N_("not known"),
    },
    "risk": {
        "low": N_("Low"),
        "medium": N_("Medium"),
        "high": N_("High"),
        "immediate": N_("Child in danger now"),
    },
    "status": {"open": N_("Open"), "closed": N_("Closed")},
    "topic": {topic.value: label for topic, label in rules.TOPIC_LABELS.items()},
    "event": {
        "note": N_("Note"),
        "report": N_("Report filed to the hotline"),
        "selfprotect": N_("Self-protection link given"),
        "police": N_("Referred to the police"),
        "service": N_("Referred to a local service"),
        "linked": N_("Contact added to the case"),
    },
    "referral": {
        "pending": N_("Waiting for an answer"),
        "accepted": N_("Accepted"),
        "declined": N_("Declined"),
        "withdrawn": N_("Withdrawn"),
    },
    "region": {
        "national": N_("Whole country"),
        "dolnoslaskie": "dolnośląskie",
        "kujawsko-pomorskie": "kujawsko-pomorskie",
        "lubelskie": "lubelskie",
        "lubuskie": "lubuskie",
        "lodzkie": "łódzkie",
        "malopolskie": "małopolskie",
        "mazowieckie": "mazowieckie",
        "opolskie": "opolskie",
        "podkarpackie": "podkarpackie",
        "podlaskie": "podlaskie",
        "pomorskie": "pomorskie",
        "slaskie": "śląskie",
        "swietokrzyskie": "świętokrzyskie",
        "warminsko-mazurskie": "warmińsko-mazurskie",
        "wielkopolskie": "wielkopolskie",
        "zachodniopomorskie": "zachodniopomorskie",
    },
}
DONE = {
    "recorded": N_("The contact is recorded."),
    "report": N_("The links are filed to the hotline as report {reference}."),
    "selfprotect": N_("Recorded: the child was given the self-protection link."),
    "police": N_("Referred to the police as report {reference}. They accept or decline it."),
    "linked": N_("The contact is added to the case."),
    "opened": N_("The case is opened."),
    "note": N_("The note is added."),
    "changed": N_("The case is changed."),
    "service": N_("The referral to the service is recorded."),
}
REFUSALS = {
    "required": N_("This is required."),
    "too_long": N_("This is too long."),
    "too_many": N_("Too many."),
    "unknown": N_("Choose one of the options."),
    "invalid_character": N_("This text contains a character that cannot be stored."),
    "control_character": N_("This text contains a character that cannot be stored."),
    "not_a_number": N_("Give whole minutes."),
    "out_of_range": N_("Between 0 and 600 minutes."),
    "future": N_("The contact cannot start later than now."),
    "too_old": N_("Record a contact within a month."),
    "nothing_to_keep": N_("Give a reason only with a name or a number."),
    "invalid": N_("Digits, spaces, +, - and () only."),
    "not_a_date": N_("Give a date."),
    "past": N_("Choose today or a later day."),
    "in_case": N_("The contact is already in a case."),
    "not_a_time": N_("Give a date and time."),
    "duplicate": N_("It is already with the police, waiting for an answer or accepted."),
}


def _render(
    request: Request, template: str, values: dict[str, Any], status_code: int = 200
) -> Response:
    language = page_language(request)
    tr = i18n.translator(language)
    done = DONE.get(request.query_params.get("done", ""))
    flash_text = (
        tr.gettext(done).replace("{reference}", request.query_params.get("ref", "")[:16])
        if done
        else None
    )
    return render(
        request,
        template,
        {
            "labels": LABELS,
            "actions": Action,
            "rules": rules,
            "done_text": flash_text,
            **values,
        },
        status_code=status_code,
        language=language,
    )


async def _form(request: Request) -> tuple[dict[str, str], list[str]]:
    form = await request.form()
    single = {k: v for k, v in form.items() if isinstance(v, str)}
    topics = [v for v in form.getlist("topics") if isinstance(v, str)]
    return single, topics


def _errors(request: Request, exc: HelplineRefused, prefix: str) -> dict[str, str]:
    tr = i18n.translator(page_language(request))
    field = exc.field.partition("[")[0]
    return {f"{prefix}-{field}": tr.gettext(REFUSALS.get(exc.code, N_("This value is not valid.")))}


def _local_time(raw: str) -> datetime | None:
    if not raw.strip():
        return None
    try:
        typed = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise HelplineRefused("started_at", "not_a_time", "Give a date and time.") from None
    if typed.tzinfo is None:
        typed = typed.replace(tzinfo=LOCAL_TIME)
    return typed.astimezone(UTC)


# -- the helpline's home: its queue and latest contacts ---------------------------------------


@router.get("/staff/helpline")
async def home(
    request: Request,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_CASE_READ))],
) -> Response:
    mine = request.query_params.get("mine") == "1"
    queue = await run_in_threadpool(lambda: helpline.queue(principal, mine=mine))
    contacts = await run_in_threadpool(helpline.recent_contacts, principal, 20)
    return _render(
        request, "helpline_home.html", {"queue": queue, "contacts": contacts, "mine": mine}
    )


# -- recording a contact --------------------------------------------------------------------


def _new_contact_page(
    request: Request, form: dict[str, str], topics: list[str], errors: dict[str, str], code: int
) -> Response:
    return _render(
        request,
        "helpline_contact_new.html",
        {"form": form, "chosen": topics, "errors": errors},
        status_code=code,
    )


@router.get("/staff/helpline/contacts/new")
async def new_contact(
    request: Request,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_CONTACT_RECORD))],
) -> Response:
    return _new_contact_page(request, {}, [], {}, 200)


@router.post("/staff/helpline/contacts")
async def record_contact(
    request: Request,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_CONTACT_RECORD))],
) -> Response:
    form, topics = await _form(request)
    try:
        new = NewContact(
            channel=form.get("channel", ""),
            caller=form.get("caller", ""),
            age_band=form.get("age_band", ""),
            topics=topics,
            risk=form.get("risk", ""),
            summary=form.get("summary", ""),
            started_at=_local_time(form.get("started_at", "")),
            duration_minutes=form.get("duration_minutes", "0"),
            name=form.get("name"),
            number=form.get("number"),
            identity_reason=form.get("identity_reason"),
        )
        contact_id = await run_in_threadpool(helpline.record_contact, principal, new)
    except HelplineRefused as exc:
        return _new_contact_page(request, form, topics, _errors(request, exc, "contact"), 422)
    return RedirectResponse(f"/staff/helpline/contacts/{contact_id}?done=recorded", 303)


# -- one contact and the one-step actions ---------------------------------------------------


def _contact_page(
    request: Request,
    helpline: HelplineService,
    principal: Principal,
    contact_id: int,
    *,
    errors: dict[str, str] | None = None,
    identity: dict[str, str | None] | None = None,
    status_code: int = 200,
) -> Response:
    view = helpline.contact(principal, contact_id)
    base = str(request.base_url).rstrip("/")
    return _render(
        request,
        "helpline_contact.html",
        {
            "c": view,
            "errors": errors or {},
            "identity": identity,
            "open_cases": [e for e in helpline.queue(principal) if e.id != view.case_id],
            "selfprotect_url": f"{base}/protect",
            "me": principal,
        },
        status_code=status_code,
    )


@router.get("/staff/helpline/contacts/{contact_id}")
async def contact_page(
    request: Request,
    contact_id: int,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_CONTACT_READ))],
) -> Response:
    return await run_in_threadpool(_contact_page, request, helpline, principal, contact_id)


@router.get("/staff/helpline/contacts/{contact_id}/identity")
async def identity_page(
    request: Request,
    contact_id: int,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_IDENTITY_READ))],
) -> Response:
    """The contact page with the kept name or number shown (the reading is audited)."""
    found = await run_in_threadpool(helpline.identity, principal, contact_id)
    return await run_in_threadpool(
        lambda: _contact_page(request, helpline, principal, contact_id, identity=found)
    )


async def _contact_step(
    request: Request,
    helpline: HelplineService,
    principal: Principal,
    contact_id: int,
    form_name: str,
    work: Callable[[], str],
) -> Response:
    """Run a one-step action; ``work`` returns where to go. A refusal re-shows the contact."""
    try:
        target = await run_in_threadpool(work)
    except HelplineRefused as exc:
        errors = _errors(request, exc, form_name)
        return await run_in_threadpool(
            lambda: _contact_page(
                request, helpline, principal, contact_id, errors=errors, status_code=422
            )
        )
    return RedirectResponse(target, status_code=303)


@router.post("/staff/helpline/contacts/{contact_id}/case")
async def contact_case(
    request: Request,
    contact_id: int,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_CASE_WORK))],
) -> Response:
    form, _ = await _form(request)
    chosen = form.get("case_id", "").strip()

    def work() -> str:
        if not chosen:
            case_id = helpline.open_case(principal, contact_id)
            return f"/staff/helpline/cases/{case_id}?done=opened"
        if not chosen.isdigit():
            raise HelplineRefused("case_id", "unknown", "Choose one of the options.")
        helpline.link_case(principal, contact_id, int(chosen))
        return f"/staff/helpline/cases/{int(chosen)}?done=linked"

    return await _contact_step(request, helpline, principal, contact_id, "case", work)


@router.post("/staff/helpline/contacts/{contact_id}/report")
async def contact_report(
    request: Request,
    contact_id: int,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_REPORT_FILE))],
) -> Response:
    form, _ = await _form(request)
    urls = form.get("urls", "").split()

    def work() -> str:
        filed = helpline.file_report(principal, contact_id, urls, form.get("note"))
        return f"/staff/helpline/contacts/{contact_id}?done=report&ref={filed.reference}"

    return await _contact_step(request, helpline, principal, contact_id, "report", work)


@router.post("/staff/helpline/contacts/{contact_id}/selfprotect")
async def contact_selfprotect(
    request: Request,
    contact_id: int,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_CONTACT_RECORD))],
) -> Response:
    def work() -> str:
        helpline.give_selfprotect_link(principal, contact_id)
        return f"/staff/helpline/contacts/{contact_id}?done=selfprotect"

    return await _contact_step(request, helpline, principal, contact_id, "selfprotect", work)


@router.post("/staff/helpline/contacts/{contact_id}/police")
async def contact_police(
    request: Request,
    contact_id: int,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_POLICE_REFER))],
) -> Response:
    form, _ = await _form(request)

    def work() -> str:
        filed = helpline.refer_to_police(principal, form.get("reason"), contact_id=contact_id)
        return f"/staff/helpline/contacts/{contact_id}?done=police&ref={filed.reference}"

    return await _contact_step(request, helpline, principal, contact_id, "police", work)


# -- cases ----------------------------------------------------------------------------------


def _case_page(
    request: Request,
    helpline: HelplineService,
    principal: Principal,
    case_id: int,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    view = helpline.case(principal, case_id)
    full = Action.HELPLINE_CASE_READ in view.allowed
    return _render(
        request,
        "helpline_case.html",
        {
            "k": view,
            "full": full,
            "errors": errors or {},
            "colleagues": helpline.colleagues(principal) if full else [],
            "services": helpline.services(principal) if full else [],
        },
        status_code=status_code,
    )


@router.get("/staff/helpline/cases/{case_id}")
async def case_page(
    request: Request,
    case_id: int,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_SUMMARY_READ))],
) -> Response:
    return await run_in_threadpool(_case_page, request, helpline, principal, case_id)


async def _case_step(
    request: Request,
    helpline: HelplineService,
    principal: Principal,
    case_id: int,
    form_name: str,
    work: Callable[[], str],
) -> Response:
    try:
        target = await run_in_threadpool(work)
    except HelplineRefused as exc:
        errors = _errors(request, exc, form_name)
        return await run_in_threadpool(
            lambda: _case_page(
                request, helpline, principal, case_id, errors=errors, status_code=422
            )
        )
    return RedirectResponse(target, status_code=303)


@router.post("/staff/helpline/cases/{case_id}/note")
async def case_note(
    request: Request,
    case_id: int,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_CASE_WORK))],
) -> Response:
    form, _ = await _form(request)

    def work() -> str:
        helpline.add_note(principal, case_id, form.get("note"))
        return f"/staff/helpline/cases/{case_id}?done=note"

    return await _case_step(request, helpline, principal, case_id, "note", work)


@router.post("/staff/helpline/cases/{case_id}/change")
async def case_change(
    request: Request,
    case_id: int,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_CASE_WORK))],
) -> Response:
    form, _ = await _form(request)

    def work() -> str:
        helpline.update_case(
            principal,
            case_id,
            status=form.get("status") or None,
            risk=form.get("risk") or None,
            assignee=form.get("assignee"),
            next_follow_up=form.get("next_follow_up"),
        )
        return f"/staff/helpline/cases/{case_id}?done=changed"

    return await _case_step(request, helpline, principal, case_id, "change", work)


@router.post("/staff/helpline/cases/{case_id}/police")
async def case_police(
    request: Request,
    case_id: int,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_POLICE_REFER))],
) -> Response:
    form, _ = await _form(request)

    def work() -> str:
        filed = helpline.refer_to_police(principal, form.get("reason"), case_id=case_id)
        return f"/staff/helpline/cases/{case_id}?done=police&ref={filed.reference}"

    return await _case_step(request, helpline, principal, case_id, "police", work)


@router.post("/staff/helpline/cases/{case_id}/service")
async def case_service(
    request: Request,
    case_id: int,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_CASE_WORK))],
) -> Response:
    form, _ = await _form(request)

    def work() -> str:
        helpline.refer_to_service(principal, case_id, form.get("service_id", ""))
        return f"/staff/helpline/cases/{case_id}?done=service"

    return await _case_step(request, helpline, principal, case_id, "service", work)


# -- the directory of local services ----------------------------------------------------------


@router.get("/staff/helpline/services")
async def services_page(
    request: Request,
    helpline: Helpline,
    principal: Annotated[Principal, Depends(require(Action.HELPLINE_DIRECTORY_READ))],
) -> Response:
    region = request.query_params.get("region", "")[:32]
    query = request.query_params.get("q", "")[:200]
    try:
        found = await run_in_threadpool(helpline.services, principal, region or None, query)
    except HelplineRefused as exc:
        values = {"found": [], "region": "", "q": query, "errors": _errors(request, exc, "f")}
        return _render(request, "helpline_services.html", values, status_code=422)
    return _render(
        request,
        "helpline_services.html",
        {"found": found, "region": region, "q": query, "errors": {}},
    )
