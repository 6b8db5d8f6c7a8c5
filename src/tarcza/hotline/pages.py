"""The hotline analyst's pages: content items, one item, its assessment.

Every route declares the action it needs (accounts.access.require); forms carry the
session's CSRF token and work without JavaScript.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from tarcza.accounts.access import require
from tarcza.accounts.permissions import Action, Principal
from tarcza.hotline import rules
from tarcza.hotline.outbox import item_reference
from tarcza.hotline.rules import ItemState
from tarcza.hotline.service import HotlineService, ItemRefused
from tarcza.web import i18n
from tarcza.web.deps import provided
from tarcza.web.i18n import N_
from tarcza.web.render import page_language, render

router = APIRouter(include_in_schema=False)

Hotline = Annotated[HotlineService, Depends(provided(HotlineService))]

REFUSALS = {
    "unknown": N_("Choose one of the options."),
    "contradiction": N_("This choice contradicts the classification."),
    "assessed": N_("This item is already assessed."),
    "same_analyst": N_("Another analyst must review this assessment."),
}
# Why a combination is refused, by the field the rule names.
CONTRADICTIONS = {
    "content_type": N_("Baseline material is an image or a video of a real child."),
    "age_group": N_(
        "Baseline material shows a child apparently under 13; content that could not be "
        "assessed has no apparent age group."
    ),
}

LABELS: dict[str, dict[str, str]] = {
    "classification": {
        "baseline": N_("Baseline (illegal in every country)"),
        "national": N_("Illegal under national law"),
        "not_illegal": N_("Not illegal"),
        "not_assessable": N_("Not assessable"),
    },
    "content_type": {
        "image": N_("Image"),
        "video": N_("Video"),
        "image_and_video": N_("Images and videos"),
        "text": N_("Text"),
        "other": N_("Other"),
    },
    "age_group": {
        "infant_toddler": N_("Infant or toddler"),
        "pre_pubescent": N_("Pre-pubescent"),
        "pubescent": N_("Pubescent"),
        "unknown": N_("Unknown"),
    },
    "site_type": {
        "website": N_("Website"),
        "image_host": N_("Image host"),
        "file_host": N_("File host"),
        "forum": N_("Forum"),
        "social_network": N_("Social network"),
        "other": N_("Other"),
    },
    "state": {
        "open": N_("Waiting for assessment"),
        "review": N_("Waiting for a second analyst"),
        "actioned": N_("Notified, watched until removed"),
        "closed": N_("Closed"),
        "removed": N_("Removed"),
    },
    "action": {
        "notice_and_takedown": N_("Notice and takedown to the provider"),
        "refer_police": N_("Referral to the police"),
        "forward_partner_hotline": N_("Forward to the partner hotline"),
        "notice_provider": N_("Notice to the provider"),
        "second_review": N_("Second review"),
        "escalate": N_("Escalated: still online"),
    },
    "status": {
        "pending": N_("Waiting to be sent"),
        "sending": N_("Being sent"),
        "sent": N_("Sent"),
        "failed": N_("Failed"),
        "recorded": N_("Done"),
    },
    "outcome": {
        "present": N_("still online"),
        "gone": N_("gone (404 or 410)"),
        "unresolvable": N_("the name no longer resolves"),
        "changed": N_("the content changed"),
        "refused": N_("not fetched: not a public address"),
        "error": N_("no answer (tried again later)"),
    },
    "location": {
        "home": N_("in this country"),
        "partner": N_("in a partner hotline's country"),
        "elsewhere": N_("abroad, no partner hotline"),
        "unknown": N_("unknown"),
    },
}
FIELDS = ("classification", "content_type", "age_group", "site_type")
CHOICES = {
    "classification": rules.Classification,
    "content_type": rules.ContentType,
    "age_group": rules.AgeGroup,
    "site_type": rules.SiteType,
}


# What the outbox, the action rules and the monitor write in an action's detail (English, kept
# as written for the audit log), as sentences with their variable parts: shown translated.
DETAILS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), msgid)
    for pattern, msgid in (
        (r"^re-sent after an interrupted send \(same Message-ID\)$",
         N_("re-sent after an interrupted send (same Message-ID)")),
        (r"^not sent yet \((?P<tries>\d+) tries\): (?P<reason>.*)$",
         N_("not sent yet ({tries} tries): {reason}")),
        (r"^not sent in (?P<tries>\d+) tries: (?P<reason>.*)$",
         N_("not sent in {tries} tries: {reason}")),
        (r"^not sent: (?P<reason>.*)$", N_("not sent: {reason}")),
        (r"^nothing to send$", N_("nothing to send")),
        (r"^no abuse contact is known for this host: send the notice by hand$",
         N_("no abuse contact is known for this host: send the notice by hand")),
        (r"^no partner$", N_("no partner hotline in that country")),
        (r"^no agency '(?P<agency>[^']*)': set TARCZA_POLICE_AGENCY$",
         N_("no agency {agency}: set TARCZA_POLICE_AGENCY")),
        (r"^already referred$", N_("already referred")),
        (r"^still online (?P<days>[\d.]+) days after the notice$",
         N_("still online {days} days after the notice")),
    )
)  # fmt: skip


def detail_text(detail: str | None, tr: i18n.Translator) -> str:
    """An action's detail in the reader's language (text it does not know is shown as is)."""
    if not detail:
        return ""
    for pattern, msgid in DETAILS:
        found = pattern.match(detail)
        if found:
            return tr.format(msgid, **found.groupdict())
    return detail


def _render(
    request: Request, template: str, values: dict[str, Any], status_code: int = 200
) -> Response:
    tr = i18n.translator(page_language(request))
    return render(
        request,
        template,
        {
            **values,
            "labels": LABELS,
            "choices": CHOICES,
            "reference_of": item_reference,
            "detail_text": lambda detail: detail_text(detail, tr),
        },
        status_code=status_code,
    )


@router.get("/staff/items")
async def items_page(
    request: Request,
    hotline: Hotline,
    principal: Annotated[Principal, Depends(require(Action.HOTLINE_ITEM_READ))],
) -> Response:
    raw = request.query_params.get("state", "open")
    state = None if raw == "all" else _state(raw)
    if state is ...:
        tr = i18n.translator(page_language(request))
        values = {"rows": [], "state": raw, "error": tr.gettext(N_("Choose one of the options."))}
        return _render(request, "items.html", values, status_code=422)
    rows = await run_in_threadpool(hotline.items, principal, state)
    return _render(request, "items.html", {"rows": rows, "state": raw, "states": ItemState})


def _state(raw: str) -> Any:
    try:
        return ItemState(raw)
    except ValueError:
        return ...


def _item_page(
    request: Request,
    hotline: HotlineService,
    principal: Principal,
    item_id: int,
    *,
    errors: dict[str, str] | None = None,
    chosen: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    view = hotline.item(principal, item_id)
    done = request.query_params.get("done") == "assess"
    return _render(
        request,
        "item.html",
        {
            "item": view,
            "me": principal,
            "errors": errors or {},
            "chosen": chosen or {"classification": view.suggested or ""},
            "done": done,
            "fields": FIELDS,
        },
        status_code=status_code,
    )


@router.get("/staff/items/{item_id}")
async def item_page(
    request: Request,
    item_id: int,
    hotline: Hotline,
    principal: Annotated[Principal, Depends(require(Action.HOTLINE_ITEM_READ))],
) -> Response:
    return await run_in_threadpool(_item_page, request, hotline, principal, item_id)


@router.post("/staff/items/{item_id}/assess")
async def assess(
    request: Request,
    item_id: int,
    hotline: Hotline,
    principal: Annotated[Principal, Depends(require(Action.HOTLINE_ITEM_ASSESS))],
) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        await run_in_threadpool(hotline.assess, principal, item_id, form)
    except ItemRefused as exc:
        tr = i18n.translator(page_language(request))
        message = CONTRADICTIONS.get(exc.field) if exc.code == "contradiction" else None
        text = tr.gettext(message or REFUSALS.get(exc.code, N_("This value is not valid.")))
        chosen = {name: form.get(name, "") for name in FIELDS}
        return await run_in_threadpool(
            _item_page,
            request,
            hotline,
            principal,
            item_id,
            errors={f"assess-{exc.field}": text},
            chosen=chosen,
            status_code=422,
        )
    return RedirectResponse(f"/staff/items/{item_id}?done=assess", status_code=303)


# -- confirming an evidence file illegal (from the report's page) ---------------------------


@router.post("/staff/evidence/{evidence_id}/confirm")
async def confirm_evidence(
    request: Request,
    evidence_id: int,
    hotline: Hotline,
    principal: Annotated[Principal, Depends(require(Action.HOTLINE_ITEM_ASSESS))],
) -> Response:
    form = await request.form()
    classification = form.get("classification")
    reference, _added = await run_in_threadpool(
        hotline.confirm_evidence,
        principal,
        evidence_id,
        classification if isinstance(classification, str) else "",
    )
    return RedirectResponse(f"/staff/reports/{reference}?done=confirmed", status_code=303)
