"""Staff pages for the work on reports: queue, report, evidence, referrals, figures.

They work without JavaScript; every form carries the session's CSRF token;
every route declares the action it needs (accounts.access.require).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from tarcza.accounts.access import require
from tarcza.accounts.permissions import Action, AgencyKind, Principal
from tarcza.cases import rules
from tarcza.cases.evidence_package import (
    DECRYPT_COMMAND,
    VERIFY_COMMANDS,
    EvidencePackages,
    HeldPackages,
)
from tarcza.cases.routes import package_download
from tarcza.cases.service import CaseRefused, CaseService, HistoryItem, QueueFilter
from tarcza.config import Settings
from tarcza.intake.rules import PUBLIC_STAGE_TEXT, Category, Status
from tarcza.store.base import utcnow
from tarcza.web import i18n
from tarcza.web.deps import provided
from tarcza.web.i18n import N_
from tarcza.web.render import page_language, render

router = APIRouter(include_in_schema=False)

SettingsDep = Annotated[Settings, Depends(provided(Settings))]
Cases = Annotated[CaseService, Depends(provided(CaseService))]
Packages = Annotated[EvidencePackages, Depends(provided(EvidencePackages))]
Held = Annotated[HeldPackages, Depends(provided(HeldPackages))]

# What a finished change says on the report page (?done=...).
DONE = {
    "status": N_("The status is changed."),
    "assign": N_("The assignment is changed."),
    "refer": N_("The report is referred. The other agency will accept or decline it."),
    "answer": N_("Your answer is recorded."),
    "outcome": N_("The outcome is recorded."),
    "confirmed": N_("Confirmed: its hashes are in the hotline's confirmed bank."),
}
# Refusals by code, in the reader's language.
REFUSALS = {
    "required": N_("Give a reason."),
    "too_long": N_("This is too long."),
    "invalid_character": N_("This text contains a character that cannot be stored."),
    "control_character": N_("This text contains a character that cannot be stored."),
    "not_allowed": N_("The report cannot move to this status from its current one."),
    "unknown": N_("Choose one of the options."),
    "own": N_("The report is already with that agency."),
    "duplicate": N_("The report is already referred to that agency."),
    "answered": N_("This referral was already answered."),
    "ended": N_("This referral has already ended."),
    "reserved": N_("A reason may not start with “auto:”."),
}
# Refusals of a case number, by code (its own words: it is not a reason).
CASE_NUMBER_REFUSALS = {
    "required": N_("Give the case number."),
    "too_long": N_("This is too long."),
    "invalid_character": N_("Use letters, digits, spaces and . / _ - only."),
}


# Names shown for stored values (the values themselves are codes).
LABELS: dict[str, dict[str, str]] = {
    "category": {
        "csam": N_("Abuse material"),
        "sextortion": N_("Sextortion"),
        "grooming": N_("Grooming"),
        "other": N_("Other"),
    },
    "status": {
        "received": N_("Received"),
        "in_assessment": N_("In assessment"),
        "forwarded": N_("Forwarded"),
        "closed": N_("Closed"),
    },
    "referral": {
        "pending": N_("Waiting for an answer"),
        "accepted": N_("Accepted"),
        "declined": N_("Declined"),
        "withdrawn": N_("Withdrawn"),
    },
    "age": {
        "under_13": N_("under 13 years"),
        "13_15": N_("13–15 years"),
        "16_17": N_("16–17 years"),
        "unknown": N_("not known"),
    },
    "language": {"pl": N_("Polish"), "en": N_("English")},
    "stage": {stage.value: label for stage, (label, _next) in PUBLIC_STAGE_TEXT.items()},
    # History entries: audit action codes on a report, as a person says them.
    "history": {
        "report.created": N_("Report received"),
        "report.status_changed": N_("Status changed"),
        "report.assigned": N_("Assigned"),
        "report.referred": N_("Referred to another agency"),
        "referral.answered": N_("Referral answered"),
        "referral.withdrawn": N_("Referral withdrawn"),
        "evidence.revealed": N_("Image revealed"),
        "evidence.package_exported": N_("Evidence package exported"),
        "referral.outcome_recorded": N_("Outcome recorded"),
        "report.public_stage_changed": N_("Public status changed"),
    },
    # The hotline's classifications, as its pages name them (casework sits below the hotline
    # and may not import it; tests/cases/test_casework_labels.py keeps the two the same).
    "classification": {
        "baseline": N_("Baseline (illegal in every country)"),
        "national": N_("Illegal under national law"),
        "not_illegal": N_("Not illegal"),
        "not_assessable": N_("Not assessable"),
    },
    # What the police made of a report referred to it.
    "outcome": {
        "investigation_opened": N_("Investigation opened"),
        "victim_identified": N_("Victim identified"),
        "suspect_identified": N_("Suspect identified"),
        "no_action": N_("No action"),
    },
    # Who did it, when it was not a person of an agency (audit actors).
    "actor": {"public": N_("the reporter"), "monitor": N_("the monitor")},
}
OTHER_CHANGE = N_("Change recorded")
UNKNOWN_VALUE = N_("unknown")

# Sentences for the reasons the system writes (cases.rules.system_reason), by kind.
SYSTEM_REASONS = {
    rules.HOTLINE_POLICE: N_(
        "The hotline assessed content item #{item} as “{classification}” and referred the "
        "report to the police."
    ),
    rules.DANGER_POLICE: N_(
        "A child in danger now: the deployment's rules referred the report to the police duty "
        "desk at once."
    ),
}
HOSTED_IN = N_("Hosted in {country}.")
SYSTEM_REASON_UNKNOWN = N_("Written by the system.")


def label(kind: str, code: object, language: str) -> str:
    """The translated name of a stored code of ``kind`` (see LABELS); never the raw code."""
    return i18n.label_of(LABELS[kind], code, language, UNKNOWN_VALUE)


def reason_text(reason: str | None, language: str) -> str:
    """A reason as a person reads it: a system code becomes a sentence, typed text stays."""
    found = rules.parse_system_reason(reason)
    if found is None:
        return reason or ""
    tr = i18n.translator(language)
    template = SYSTEM_REASONS.get(found.kind)
    if template is None:
        return tr.gettext(SYSTEM_REASON_UNKNOWN)
    params = dict(found.params)
    params.setdefault("item", "?")
    params["classification"] = label("classification", params.get("classification"), language)
    sentence = tr.gettext(template).format_map(params)
    if found.params.get("country"):
        sentence += " " + tr.format(HOSTED_IN, country=found.params["country"])
    return sentence


@dataclass(frozen=True)
class HistoryLine:
    """One entry of a report's history as the page shows it: every code put into words."""

    at: datetime
    actor: str
    agency: str | None
    what: str
    to: str | None
    reason: str


def history_lines(history: Sequence[HistoryItem], language: str) -> list[HistoryLine]:
    """The report's history in ``language``: actions, statuses and stages named, not coded."""
    tr = i18n.translator(language)
    return [
        HistoryLine(
            at=h.at,
            actor=_actor_name(h.actor, tr),
            agency=h.agency,
            what=_history_what(h, tr),
            to=_history_to(h, language),
            reason=reason_text(h.reason, language),
        )
        for h in history
    ]


def _actor_name(actor: str, tr: i18n.Translator) -> str:
    """A person's username as it is; the reporter or the monitor named in words."""
    message = LABELS["actor"].get(actor)
    return tr.gettext(message) if message else actor


def _history_what(h: HistoryItem, tr: i18n.Translator) -> str:
    if h.action == "referral.answered":
        accepted = h.details.get("answer") == rules.ReferralState.ACCEPTED.value
        return tr.gettext(N_("Referral accepted") if accepted else N_("Referral declined"))
    message = LABELS["history"].get(h.action, OTHER_CHANGE)
    return tr.gettext(message)


def _history_to(h: HistoryItem, language: str) -> str | None:
    """Where the change led, in words: a status, a public stage, a colleague, an agency."""
    to = h.details.get("to")
    if h.action in ("report.status_changed", "referral.answered"):
        return label("status", to, language) if to else None
    if h.action == "report.public_stage_changed":
        return label("stage", to, language)
    if h.action == "report.assigned":
        return str(to) if to else i18n.translator(language).gettext(N_("nobody"))
    if h.action == "report.referred":
        return str(to) if to else None
    if h.action == "referral.outcome_recorded":
        return label("outcome", h.details.get("outcome"), language)
    return None


def _render(
    request: Request, template: str, values: dict[str, Any], status_code: int = 200
) -> Response:
    language = page_language(request)
    words = {
        "labels": LABELS,
        "label": lambda kind, code: label(kind, code, language),
        "reason_text": lambda reason: reason_text(reason, language),
    }
    return render(
        request, template, {**values, **words}, status_code=status_code, language=language
    )


def _parse(kind: type[Category] | type[Status], raw: str | None) -> Any:
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        return ...


@router.get("/staff/queue")
async def queue_page(
    request: Request,
    cases: Cases,
    principal: Annotated[Principal, Depends(require(Action.REPORT_QUEUE_LIST))],
) -> Response:
    params = request.query_params
    category, status = (
        _parse(Category, params.get("category")),
        _parse(Status, params.get("status")),
    )
    mine = params.get("mine") == "1"
    if category is ... or status is ...:
        tr = i18n.translator(page_language(request))
        error = tr.gettext(N_("Choose one of the options."))
        return _render(
            request,
            "queue.html",
            {
                "items": [],
                "error": error,
                "filters": {},
                "categories": Category,
                "statuses": Status,
            },
            status_code=422,
        )
    wanted = QueueFilter(category=category, status=status, mine=mine)
    items = await run_in_threadpool(cases.queue, principal, wanted)
    filters = {"category": category, "status": status, "mine": mine}
    now = utcnow()
    return _render(
        request,
        "queue.html",
        {
            "items": items,
            "filters": filters,
            "categories": Category,
            "statuses": Status,
            "since": lambda moment: time_since(moment, now),
        },
    )


def time_since(moment: datetime | None, now: datetime) -> str:
    """How long ago, shortly: "3 d 4 h", "2 h 05 min", "7 min" (the same in both languages)."""
    if moment is None:
        return "—"
    minutes = max(0, int((now - moment).total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


def _report_page(
    request: Request,
    cases: CaseService,
    principal: Principal,
    reference: str,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    view = cases.report(principal, reference)
    done = DONE.get(request.query_params.get("done", ""))
    return _render(
        request,
        "report.html",
        {
            "r": view,
            "history": history_lines(view.history, page_language(request)),
            "me": principal,
            "actions": Action,
            "colleagues": cases.colleagues(principal.agency),
            "agencies": cases.agencies_to_refer(principal),
            "errors": errors or {},
            "flash_id": done,
            "outcomes": list(rules.OutcomeKind),
        },
        status_code=status_code,
    )


@router.get("/staff/reports/{reference}")
async def report_page(
    request: Request,
    reference: str,
    cases: Cases,
    principal: Annotated[Principal, Depends(require(Action.REPORT_SUMMARY_READ))],
) -> Response:
    return await run_in_threadpool(_report_page, request, cases, principal, reference)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _refused(request: Request, exc: CaseRefused, field: str) -> dict[str, str]:
    tr = i18n.translator(page_language(request))
    words = CASE_NUMBER_REFUSALS if exc.field == "case_number" else REFUSALS
    return {field: tr.gettext(words.get(exc.code, N_("This value is not valid.")))}


async def _change(
    request: Request,
    cases: CaseService,
    principal: Principal,
    reference: str,
    form_name: str,
    work: Callable[[], object],
) -> Response:
    """Run a change; on success go back to the report, on refusal show the report with the error.

    ``form_name`` names the form on the report page: its fields' ids are ``form_name-field``.
    """
    try:
        await run_in_threadpool(work)
    except CaseRefused as exc:
        errors = _refused(request, exc, f"{form_name}-{exc.field}")
        return await run_in_threadpool(
            _report_page, request, cases, principal, reference, errors=errors, status_code=422
        )
    return RedirectResponse(f"/staff/reports/{reference}?done={form_name}", status_code=303)


def _not_a_choice(field: str) -> CaseRefused:
    return CaseRefused(field, "unknown", "Choose one of the options.")


@router.post("/staff/reports/{reference}/status")
async def change_status(
    request: Request,
    reference: str,
    cases: Cases,
    principal: Annotated[Principal, Depends(require(Action.REPORT_STATUS_CHANGE))],
) -> Response:
    form = await _form(request)
    wanted = _parse(Status, form.get("status"))

    def work() -> None:
        if wanted is None or wanted is ...:
            raise _not_a_choice("status")
        cases.change_status(principal, reference, wanted, form.get("reason"))

    return await _change(request, cases, principal, reference, "status", work)


@router.post("/staff/reports/{reference}/assign")
async def assign(
    request: Request,
    reference: str,
    cases: Cases,
    principal: Annotated[Principal, Depends(require(Action.REPORT_ASSIGNMENT_CHANGE))],
) -> Response:
    form = await _form(request)
    who = form.get("assignee", "")
    who = principal.username if who == "me" else who
    return await _change(
        request,
        cases,
        principal,
        reference,
        "assign",
        lambda: cases.assign(principal, reference, who or None),
    )


@router.post("/staff/reports/{reference}/refer")
async def refer(
    request: Request,
    reference: str,
    cases: Cases,
    principal: Annotated[Principal, Depends(require(Action.REPORT_REFERRAL_CREATE))],
) -> Response:
    form = await _form(request)
    return await _change(
        request,
        cases,
        principal,
        reference,
        "refer",
        lambda: cases.refer(principal, reference, form.get("to_agency", ""), form.get("reason")),
    )


@router.post("/staff/reports/{reference}/message")
async def message_reporter(
    request: Request,
    reference: str,
    cases: Cases,
    principal: Annotated[Principal, Depends(require(Action.REPORT_MESSAGE_SEND))],
) -> Response:
    """A question or a message to the reporter, shown on the report's status page."""
    form = await _form(request)
    return await _change(
        request,
        cases,
        principal,
        reference,
        "message",
        lambda: cases.send_message(principal, reference, form.get("text", "")),
    )


@router.post("/staff/referrals/{referral_id}/answer")
async def answer(
    request: Request,
    referral_id: int,
    cases: Cases,
    principal: Annotated[Principal, Depends(require(Action.REFERRAL_ANSWER))],
) -> Response:
    form = await _form(request)
    reference = form.get("reference", "")
    decision = form.get("decision")

    def work() -> None:
        if decision not in ("accept", "decline"):
            raise _not_a_choice("decision")
        cases.answer(principal, referral_id, decision == "accept", form.get("reason"))

    return await _change(request, cases, principal, reference, "answer", work)


@router.post("/staff/reports/{reference}/outcome")
async def record_outcome(
    request: Request,
    reference: str,
    cases: Cases,
    principal: Annotated[Principal, Depends(require(Action.REFERRAL_OUTCOME_RECORD))],
) -> Response:
    form = await _form(request)
    return await _change(
        request,
        cases,
        principal,
        reference,
        "outcome",
        lambda: cases.record_outcome(principal, reference, form.get("outcome"), form.get("reason")),
    )


@router.post("/staff/reports/{reference}/evidence-package")
async def export_package(
    request: Request,
    reference: str,
    cases: Cases,
    packages: Packages,
    held: Held,
    principal: Annotated[Principal, Depends(require(Action.EVIDENCE_PACKAGE_EXPORT))],
) -> Response:
    """Make the package; the page shows its passphrase this once and links the download."""
    form = await _form(request)
    try:
        made = await run_in_threadpool(
            packages.export, principal, reference, form.get("case_number")
        )
    except CaseRefused as exc:
        errors = _refused(request, exc, "package-case_number")
        return await run_in_threadpool(
            _report_page, request, cases, principal, reference, errors=errors, status_code=422
        )
    token = await run_in_threadpool(held.put, principal.user_id, made)
    return _render(
        request,
        "package.html",
        {
            "made": made,
            "download_url": f"/staff/evidence-packages/{token}",
            "decrypt": DECRYPT_COMMAND.replace("{file}", made.filename),
            "verify": VERIFY_COMMANDS,
        },
    )


@router.get("/staff/evidence-packages/{token}")
async def download_package(
    token: str,
    held: Held,
    principal: Annotated[Principal, Depends(require(Action.EVIDENCE_PACKAGE_EXPORT))],
) -> Response:
    return await run_in_threadpool(package_download, held, principal, token)


def _png(data: bytes) -> Response:
    return Response(
        data,
        media_type="image/png",
        headers={"Cache-Control": "no-store", "Content-Disposition": "inline"},
    )


@router.get("/staff/evidence/{evidence_id}/preview.png")
async def preview(
    evidence_id: int,
    cases: Cases,
    principal: Annotated[Principal, Depends(require(Action.EVIDENCE_PREVIEW_READ))],
) -> Response:
    return _png(await run_in_threadpool(cases.preview, principal, evidence_id))


@router.post("/staff/evidence/{evidence_id}/reveal")
async def reveal(
    request: Request,
    evidence_id: int,
    settings: SettingsDep,
    cases: Cases,
    principal: Annotated[Principal, Depends(require(Action.EVIDENCE_IMAGE_REVEAL))],
) -> Response:
    form = await _form(request)
    reference = form.get("reference", "")
    try:
        grant = await run_in_threadpool(cases.reveal, principal, evidence_id, form.get("reason"))
    except CaseRefused as exc:
        errors = _refused(request, exc, f"reveal-{evidence_id}")
        return await run_in_threadpool(
            _report_page, request, cases, principal, reference, errors=errors, status_code=422
        )
    return _render(
        request,
        "revealed.html",
        {"grant": grant, "reference": reference, "seconds": settings.reveal_seconds},
    )


@router.get("/staff/evidence/{evidence_id}/image")
async def revealed_image(
    evidence_id: int,
    expires: int,
    sig: str,
    cases: Cases,
    principal: Annotated[Principal, Depends(require(Action.EVIDENCE_IMAGE_REVEAL))],
) -> Response:
    data = await run_in_threadpool(cases.revealed, principal, evidence_id, expires, sig)
    return _png(data)


@router.get("/staff/stats")
async def figures_page(
    request: Request,
    cases: Cases,
    principal: Annotated[Principal, Depends(require(Action.STATS_AGGREGATE_READ))],
) -> Response:
    if principal.agency_kind is AgencyKind.COORDINATOR:  # its counts are not suppressed
        return RedirectResponse("/staff/national", status_code=303)
    figures = await run_in_threadpool(cases.figures, principal)
    return _render(request, "figures.html", {"figures": figures})
