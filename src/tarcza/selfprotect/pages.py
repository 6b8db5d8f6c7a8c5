"""The self-protection pages: protect pictures by their fingerprints, follow or withdraw a case,
and the supervisors' review of held hashes.

The fingerprints are computed in the browser (``/static/selfprotect/hashing.js``); these pages
receive them as JSON in a form field, never a file.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tarcza.accounts.access import require
from tarcza.accounts.permissions import Action, Principal
from tarcza.config import Settings
from tarcza.selfprotect import rules
from tarcza.selfprotect.routes import DEVICE_COOKIE, requester_of
from tarcza.selfprotect.service import (
    CaseClosed,
    CaseNotFound,
    CaseRefused,
    CasesLimited,
    CaseStatus,
    HashNotHeld,
    SelfProtectService,
    items_from_json,
)
from tarcza.store.throttle import Throttled
from tarcza.web import i18n
from tarcza.web.deps import provided
from tarcza.web.i18n import N_
from tarcza.web.render import page_language, render

router = APIRouter(include_in_schema=False)

Protect = Annotated[SelfProtectService, Depends(provided(SelfProtectService))]
SettingsDep = Annotated[Settings, Depends(provided(Settings))]

MAX_FORM_BYTES = 4 * 1024 * 1024  # fingerprints of 50 long videos fit; pictures never come here

REASONS = {
    "missing": N_("Choose at least one picture or video."),
    "invalid_json": N_("The fingerprints could not be read. Please choose the files again."),
    "invalid_hash": N_("The fingerprints could not be read. Please choose the files again."),
    "invalid_item": N_("The fingerprints could not be read. Please choose the files again."),
    "invalid_kind": N_("The fingerprints could not be read. Please choose the files again."),
    "invalid_quality": N_("The fingerprints could not be read. Please choose the files again."),
    "invalid_frame": N_("The fingerprints could not be read. Please choose the files again."),
    "invalid_timestamp": N_("The fingerprints could not be read. Please choose the files again."),
    "low_quality": N_(
        "One picture is too plain to recognise reliably (a single colour, a very dark photo). "
        "Leave it out or choose another."
    ),
    "too_long": N_("One video is too long."),
    "too_many_items": N_("Too many pictures for one case. Send fewer, or add more later."),
    "invalid_age_band": N_("Please say how old you were in the pictures."),
    "withdrawn": N_("This case was withdrawn: nothing more can be added to it."),
}


def _message(lang: str, code: str) -> str:
    return i18n.translator(lang).gettext(REASONS.get(code, N_("This value is not valid.")))


def _with_device(request: Request, response: Response, secure: bool) -> Response:
    """A random device token for the limits (no other use, nothing else of the device)."""
    if not request.cookies.get(DEVICE_COOKIE):
        response.set_cookie(
            DEVICE_COOKIE,
            secrets.token_urlsafe(24),
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="strict",
            secure=secure,
            path="/protect",
        )
    return response


def _protect_page(
    request: Request,
    settings: Settings,
    *,
    error: str | None = None,
    age_band: str = "",
    status_code: int = 200,
    retry_minutes: int | None = None,
) -> Response:
    page = render(
        request,
        "protect.html",
        {
            "age_bands": [a.value for a in rules.AgeBand],
            "age_band": age_band,
            "error": error,
            "retry_minutes": retry_minutes,
            "max_items": settings.selfprotect_max_items,
            "quality_floor": rules.QUALITY_FLOOR,
        },
        status_code=status_code,
    )
    return _with_device(request, page, settings.production)


@router.get("/protect", response_class=HTMLResponse)
def protect_form(request: Request, settings: SettingsDep) -> Response:
    """Choose pictures; their fingerprints are made on this device."""
    return _protect_page(request, settings)


@router.post("/protect", response_class=HTMLResponse)
async def protect_submit(
    request: Request,
    settings: SettingsDep,
    protect: Protect,
    lang: Annotated[str, Depends(page_language)],
) -> Response:
    """Open a case from the fingerprints; show its number and PIN once."""
    form = await request.form(max_files=0, max_fields=5, max_part_size=MAX_FORM_BYTES)
    age_band = str(form.get("age_band") or "")
    try:
        items = items_from_json(str(form.get("items") or ""))
        receipt = await run_in_threadpool(protect.open_case, age_band, items, requester_of(request))
    except CaseRefused as exc:
        return _protect_page(
            request, settings, error=_message(lang, exc.code), age_band=age_band, status_code=422
        )
    except CasesLimited as exc:
        page = _protect_page(
            request,
            settings,
            age_band=age_band,
            status_code=429,
            retry_minutes=max(1, (exc.retry_after + 59) // 60),
        )
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    return render(
        request,
        "protect_receipt.html",
        {"receipt": receipt, "status": receipt.status},
        language=lang,
    )


def _status_page(
    request: Request,
    *,
    status: CaseStatus | None = None,
    reference: str = "",
    pin: str = "",
    not_found: bool = False,
    retry_minutes: int | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "protect_status.html",
        {
            "status": status,
            "reference": reference,
            "pin": pin if status is not None else "",
            "not_found": not_found,
            "retry_minutes": retry_minutes,
            "message": message,
        },
        status_code=status_code,
    )


@router.get("/protect/status", response_class=HTMLResponse)
def protect_status_form(request: Request) -> Response:
    """Ask for the case number and the PIN."""
    return _status_page(request)


async def _case_action(request: Request, protect: Protect, lang: str, action: str) -> Response:
    form = await request.form(max_files=0, max_fields=6, max_part_size=MAX_FORM_BYTES)
    reference = str(form.get("reference") or "")[:64]
    pin = str(form.get("pin") or "")[:64]
    client = request.client.host if request.client else "unknown"
    normal = rules.normalise_case_reference(reference) or reference
    try:
        if action == "add":
            items = items_from_json(str(form.get("items") or ""))
            status = await run_in_threadpool(
                protect.add_items, reference, pin, items, client, requester_of(request)
            )
            message = N_("The new pictures are protected.")
        elif action == "withdraw":
            if form.get("confirm") != "yes":
                status = await run_in_threadpool(protect.case_status, reference, pin, client)
                return _status_page(
                    request,
                    status=status,
                    reference=normal,
                    pin=pin,
                    message=N_("Tick the box to confirm that you want to withdraw the case."),
                    status_code=422,
                )
            status = await run_in_threadpool(protect.withdraw, reference, pin, client)
            message = N_("Your case is withdrawn: its fingerprints were taken out.")
        else:
            status = await run_in_threadpool(protect.case_status, reference, pin, client)
            message = None
    except CaseNotFound:
        return _status_page(request, reference=reference, not_found=True, status_code=404)
    except Throttled as exc:
        return _status_page(
            request,
            reference=reference,
            retry_minutes=max(1, (exc.retry_after + 59) // 60),
            status_code=429,
        )
    except (CaseRefused, CaseClosed) as exc:
        status = await run_in_threadpool(protect.case_status, reference, pin, client)
        return _status_page(
            request,
            status=status,
            reference=normal,
            pin=pin,
            message=REASONS.get(exc.code, N_("This value is not valid.")),
            status_code=422,
        )
    return _status_page(request, status=status, reference=normal, pin=pin, message=message)


@router.post("/protect/status", response_class=HTMLResponse)
async def protect_status(
    request: Request, protect: Protect, lang: Annotated[str, Depends(page_language)]
) -> Response:
    """A case's counts: pictures protected, held for a check, copies stopped."""
    return await _case_action(request, protect, lang, "status")


@router.post("/protect/add", response_class=HTMLResponse)
async def protect_add(
    request: Request, protect: Protect, lang: Annotated[str, Depends(page_language)]
) -> Response:
    """Protect more pictures in a case."""
    return await _case_action(request, protect, lang, "add")


@router.post("/protect/withdraw", response_class=HTMLResponse)
async def protect_withdraw(
    request: Request, protect: Protect, lang: Annotated[str, Depends(page_language)]
) -> Response:
    """Withdraw a case: its fingerprints leave the bank."""
    return await _case_action(request, protect, lang, "withdraw")


# -- the supervisors' review ----------------------------------------------------------------


@router.get("/staff/selfprotect", response_class=HTMLResponse)
async def review_page(
    request: Request,
    protect: Protect,
    principal: Annotated[Principal, Depends(require(Action.SELFPROTECT_HASH_REVIEW))],
) -> Response:
    """Held hashes: what they are and why they wait; never whose, never an image."""
    held = await run_in_threadpool(protect.held)
    return render(request, "protect_review.html", {"held": held, "principal": principal})


@router.post("/staff/selfprotect/{hash_id}", response_class=HTMLResponse)
async def review_decide(
    request: Request,
    hash_id: int,
    protect: Protect,
    principal: Annotated[Principal, Depends(require(Action.SELFPROTECT_HASH_REVIEW))],
) -> Response:
    """Share a held hash with the platforms, or keep it out."""
    form = await request.form(max_files=0, max_fields=4, max_part_size=4096)
    reason = str(form.get("reason") or "").strip()[:500]
    decision = form.get("decision")
    if decision not in ("share", "keep_out") or not reason:
        held = await run_in_threadpool(protect.held)
        return render(
            request,
            "protect_review.html",
            {"held": held, "error": N_("Give a reason and choose share or keep out.")},
            status_code=422,
        )
    # Decided meanwhile (by a colleague): the list shows what remains.
    with contextlib.suppress(HashNotHeld):
        await run_in_threadpool(
            protect.decide,
            hash_id,
            share=decision == "share",
            actor=principal.username,
            reason=reason,
        )
    return RedirectResponse("/staff/selfprotect", status_code=303)
