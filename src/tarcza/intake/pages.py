"""The public pages: home, the report form, the receipt, the status check.

They work without JavaScript, by keyboard alone and on a phone-sized screen.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from tarcza.config import Settings
from tarcza.intake import rules
from tarcza.intake.routes import reporter_of
from tarcza.intake.schemas import ReportIn
from tarcza.intake.service import (
    IntakeService,
    ReportNotFound,
    ReportRejected,
    ReportsLimited,
    StoredUpload,
    Throttled,
    UploadSink,
)
from tarcza.web import i18n
from tarcza.web.deps import provided
from tarcza.web.i18n import N_
from tarcza.web.render import page_language, render
from tarcza.web.uploads import (
    FileTooLarge,
    TextPart,
    TooManyFiles,
    UploadLimits,
    read_multipart,
    upload_slots,
)

router = APIRouter(include_in_schema=False)

Intake = Annotated[IntakeService, Depends(provided(IntakeService))]
SettingsDep = Annotated[Settings, Depends(provided(Settings))]

TEXT_FIELDS = (
    "category",
    "description",
    "urls",
    "platform",
    "usernames",
    "child_age_range",
    "contact_name",
    "contact_email",
    "contact_phone",
)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]


def _form_values(form: FormData) -> dict[str, str]:
    values = {name: form.get(name) for name in TEXT_FIELDS}
    return {k: v if isinstance(v, str) else "" for k, v in values.items()}


def _report_data(values: dict[str, str], danger: bool, language: str) -> dict[str, Any]:
    contact = {
        "name": values["contact_name"] or None,
        "email": values["contact_email"] or None,
        "phone": values["contact_phone"] or None,
    }
    return {
        "category": values["category"] or None,
        "description": values["description"],
        "urls": _lines(values["urls"]),
        "child_in_danger": danger,
        "child_age_range": values["child_age_range"] or None,
        "platform": values["platform"] or None,
        "usernames": [u.strip() for line in _lines(values["usernames"]) for u in line.split(",")],
        "contact": contact if any(contact.values()) else None,
        "language": language,
    }


def _field_of(loc: tuple[int | str, ...]) -> str:
    """The form field a validation error belongs to."""
    if not loc:
        return "description"
    if loc[0] == "contact" and len(loc) > 1:
        return f"contact_{loc[1]}"
    return str(loc[0])


def _error_text(tr: i18n.Translator, code: str, loc: tuple[int | str, ...]) -> str:
    reason = tr.gettext(ERROR_REASONS.get(code, "This value is not valid."))
    if len(loc) > 1 and isinstance(loc[1], int) and loc[0] in ("urls", "usernames"):
        return tr.format("Line {n}: ", n=loc[1] + 1) + reason
    if len(loc) > 1 and isinstance(loc[1], int) and loc[0] == "files":
        return tr.format("File {n}: ", n=loc[1] + 1) + reason
    return reason


# Message ids (translated in the catalogs) for each error code.
ERROR_REASONS = {
    "missing": N_("Please choose one."),
    "enum": N_("Please choose one of the options."),
    "literal_error": N_("Please choose one of the options."),
    "string_too_long": N_("This is too long."),
    "too_long": N_("This is too long."),
    "control_character": N_("This contains characters that cannot be stored. Please retype it."),
    "invalid_character": N_("This contains characters that cannot be stored. Please retype it."),
    "invalid_url": N_("This is not a web address."),
    "url_scheme": N_("A web address must start with http:// or https://."),
    "empty": N_("This file is empty."),
    "invalid_email": N_("This is not an e-mail address."),
    "invalid_phone": N_("This is not a phone number."),
    "nothing_reported": N_("Please describe what happened, or give a link or a file."),
    "nothing_added": N_("Write a message, or give a link or a file."),
    "unsupported_type": N_("We accept only images: JPEG, PNG, GIF or WebP."),
    "too_large_bytes": N_("This file is too large."),
    "too_many_pixels": N_("This image is too large."),
    "corrupt": N_("This image cannot be read. It may be damaged."),
    "too_many_files": N_("Too many files."),
}


def _form_page(
    request: Request,
    lang: str,
    *,
    values: dict[str, str] | None = None,
    danger: bool = False,
    errors: dict[str, str] | None = None,
    token: str | None = None,
    limited: ReportsLimited | None = None,
) -> HTMLResponse:
    response = render(
        request,
        "report_form.html",
        {
            "values": values or {name: "" for name in TEXT_FIELDS},
            "danger": danger,
            "errors": errors or {},
            "form_token": token or secrets.token_urlsafe(24),
            "categories": [c.value for c in rules.Category],
            "age_ranges": [a.value for a in rules.AgeRange],
            "limited_minutes": (
                max(1, (limited.retry_after + 59) // 60) if limited is not None else None
            ),
        },
        status_code=429 if limited else 422 if errors else 200,
        language=lang,
    )
    if limited is not None:
        response.headers["Retry-After"] = str(limited.retry_after)
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    """What can be reported, and where to get help now."""
    return render(request, "home.html", {"categories": [c.value for c in rules.Category]})


@router.get("/report", response_class=HTMLResponse)
def report_form(request: Request, lang: Annotated[str, Depends(page_language)]) -> HTMLResponse:
    """The report form; ``?category=`` preselects a category."""
    values = {name: "" for name in TEXT_FIELDS}
    chosen = request.query_params.get("category", "")
    if chosen in {c.value for c in rules.Category}:
        values["category"] = chosen
    return _form_page(request, lang, values=values)


async def _read_form(
    request: Request, settings: Settings, intake: IntakeService
) -> tuple[FormData, list[StoredUpload], dict[str, tuple[int | str, ...]]]:
    """The form's text fields, its files streamed into evidence storage, and upload problems.

    A problem is an error code with its location, shown on the form like the others.
    """
    if not request.headers.get("content-type", "").lower().startswith("multipart/"):
        plain = await request.form(
            max_files=0, max_fields=40, max_part_size=settings.max_json_bytes
        )
        return plain, [], {}
    limits = UploadLimits(
        max_files=settings.max_files,
        max_fields=40,
        max_field_bytes=settings.max_json_bytes,
        max_file_bytes=settings.max_file_bytes,
    )
    chosen = 0  # files[i] counts the files chosen: a browser sends an empty part for none

    def sink(name: str, _index: int, filename: str, _type: str) -> UploadSink | None:
        nonlocal chosen
        if name != "files" or not filename:
            return None
        chosen += 1
        return intake.upload_sink(f"files[{chosen - 1}]")

    try:
        async with upload_slots(request).hold():  # one of the process's slots, or a 429
            form = await read_multipart(request, sink, limits)
    except TooManyFiles as exc:
        return _texts(exc.texts), [], {"too_many_files": ("files",)}
    except FileTooLarge as exc:
        return _texts(exc.texts), [], {"too_large_bytes": ("files", exc.index)}
    return _texts(form.texts), [part.result for part in form.files if part.result], {}


def _texts(parts: list[TextPart]) -> FormData:
    return FormData([(text.name, text.value) for text in parts])


@router.post("/report", response_class=HTMLResponse)
async def submit_report(
    request: Request,
    settings: SettingsDep,
    intake: Intake,
    lang: Annotated[str, Depends(page_language)],
) -> HTMLResponse:
    """Take a report from the form and show the reference, PIN and guidance."""
    tr = i18n.translator(lang)
    form, uploads, problems = await _read_form(request, settings, intake)
    values = _form_values(form)
    danger = form.get("child_in_danger") == "yes"
    token = form.get("form_token")
    token = token if isinstance(token, str) and 16 <= len(token) <= 64 else None
    errors: dict[str, str] = {}
    for code, loc in problems.items():
        errors[str(loc[0])] = _error_text(tr, code, loc)
    try:
        report = ReportIn.model_validate(_report_data(values, danger, lang))
    except ValidationError as exc:
        for err in exc.errors():
            field = _field_of(err["loc"])
            errors.setdefault(field, _error_text(tr, err["type"], err["loc"]))
    if errors:
        intake.discard(uploads)
        return _form_page(request, lang, values=values, danger=danger, errors=errors, token=token)
    try:
        receipt = await run_in_threadpool(
            intake.submit,
            report.to_new_report("web"),
            uploads,
            f"form:{token}" if token else None,
            reporter_of(request),
        )
    except ReportsLimited as exc:
        # What was typed stays in the form, to send again when the time has passed.
        return _form_page(request, lang, values=values, danger=danger, token=token, limited=exc)
    except ReportRejected as exc:
        loc = (
            (exc.field.split("[")[0], int(exc.field.split("[")[1].rstrip("]")))
            if "[" in exc.field
            else (exc.field,)
        )
        errors[str(loc[0])] = _error_text(tr, exc.code, loc)
        return _form_page(request, lang, values=values, danger=danger, errors=errors, token=token)
    return render(
        request,
        "receipt.html",
        {"receipt": receipt, "guidance": rules.guidance_for(receipt.category).items},
        language=lang,
    )


@router.get("/status", response_class=HTMLResponse)
def status_form(request: Request) -> HTMLResponse:
    """Ask for the reference and the PIN."""
    return render(request, "status.html", {"values": {"reference": "", "pin": ""}})


@router.post("/status", response_class=HTMLResponse)
async def status_check(
    request: Request,
    intake: Intake,
    lang: Annotated[str, Depends(page_language)],
) -> HTMLResponse:
    """Show a report's status to whoever has its reference and PIN."""
    form = await request.form(max_files=0, max_fields=5, max_part_size=1024)
    reference = str(form.get("reference") or "")[:64]
    pin = str(form.get("pin") or "")[:64]
    return await _status_result(request, intake, lang, reference, pin)


async def _status_result(
    request: Request,
    intake: IntakeService,
    lang: str,
    reference: str,
    pin: str,
    *,
    added: bool = False,
    errors: dict[str, str] | None = None,
    code: int = 200,
) -> HTMLResponse:
    client = request.client.host if request.client else "unknown"
    context: dict[str, Any] = {"values": {"reference": reference, "pin": ""}}
    try:
        public = await run_in_threadpool(intake.status, reference, pin, client)
        context["status"] = public
        context["changed_on"] = i18n.format_day(public.changed_at, lang)
        context["values"]["reference"] = rules.normalise_reference(reference)
        # The PIN goes into the "add information" form of this page only (not cached).
        context["pin"] = pin
        context["added"] = added
        context["errors"] = errors or {}
        context["message_days"] = [i18n.format_day(m.at, lang) for m in public.messages]
    except ReportNotFound:
        context["not_found"], code = True, 404
    except Throttled as exc:
        context["retry_minutes"], code = max(1, (exc.retry_after + 59) // 60), 429
    response = render(request, "status.html", context, status_code=code, language=lang)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/status/add", response_class=HTMLResponse)
async def status_add(
    request: Request,
    settings: SettingsDep,
    intake: Intake,
    lang: Annotated[str, Depends(page_language)],
) -> HTMLResponse:
    """Add a message, links or pictures to a report, with its reference and PIN."""
    tr = i18n.translator(lang)
    form, uploads, problems = await _read_form(request, settings, intake)
    reference = str(form.get("reference") or "")[:64]
    pin = str(form.get("pin") or "")[:64]
    errors = {str(loc[0]): _error_text(tr, code, loc) for code, loc in problems.items()}
    if errors:
        intake.discard(uploads)
        return await _status_result(request, intake, lang, reference, pin, errors=errors, code=422)
    client = request.client.host if request.client else "unknown"
    try:
        await run_in_threadpool(
            lambda: intake.add_information(
                reference,
                pin,
                client,
                message=str(form.get("message") or ""),
                urls=_lines(str(form.get("urls") or "")),
                uploads=uploads,
                reporter=reporter_of(request),
            )
        )
    except ReportRejected as exc:
        name, _, rest = exc.field.partition("[")
        loc: tuple[int | str, ...] = (name, int(rest.rstrip("]"))) if rest else (name,)
        errors[name] = _error_text(tr, exc.code, loc)
        return await _status_result(request, intake, lang, reference, pin, errors=errors, code=422)
    except ReportsLimited as exc:
        errors["message"] = tr.gettext(
            "Too many messages from your network just now. Please try again in a few minutes."
        )
        response = await _status_result(
            request, intake, lang, reference, pin, errors=errors, code=429
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return await _status_result(request, intake, lang, reference, pin, added=True)
