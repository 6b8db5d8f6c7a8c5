"""The intake API: ``POST /api/v1/reports`` and the status check."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from tarcza.config import Settings
from tarcza.hashing.partners import PartnerScope
from tarcza.hashing.routes import optional_partner
from tarcza.intake.rules import client_network, normalise_reference
from tarcza.intake.schemas import (
    NOT_BLANK,
    InformationIn,
    MessageBody,
    RateLimitedBody,
    ReportCreated,
    ReportIn,
    ReportStatus,
    ValidationErrorBody,
)
from tarcza.intake.service import IntakeService, Reporter, StoredUpload, UploadSink
from tarcza.web.deps import provided
from tarcza.web.uploads import (
    FieldTooLarge,
    TooManyFiles,
    UploadLimits,
    read_multipart,
    upload_slots,
)

router = APIRouter(prefix="/api/v1", tags=["reports"])

Intake = Annotated[IntakeService, Depends(provided(IntakeService))]
SettingsDep = Annotated[Settings, Depends(provided(Settings))]

IDEMPOTENCY_KEY_MAX = 255

_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {
        "model": MessageBody,
        "description": "The body, the report or a file (named in detail) is too large.",
    },
    415: {"model": MessageBody, "description": "The body is neither JSON nor multipart."},
    422: {"model": ValidationErrorBody, "description": "A field is missing or wrong."},
    429: {
        "model": RateLimitedBody,
        "description": "Too many reports from this network, to this service, or from this "
        "partner just now (the help numbers are in help), or too many uploads being received "
        "at once: try again after Retry-After seconds.",
    },
}

IMAGE_TYPES = "image/jpeg, image/png, image/gif, image/webp, video/mp4, video/quicktime, video/*"

_REPORT_REF = {"$ref": "#/components/schemas/ReportIn"}
# A report must say something: a description that is not blank, a link, or (multipart) a file.
_SAYS_SOMETHING: dict[str, Any] = {
    "anyOf": [
        {"required": ["description"], "properties": {"description": {"pattern": NOT_BLANK}}},
        {"required": ["urls"], "properties": {"urls": {"minItems": 1}}},
    ]
}

_REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"allOf": [_REPORT_REF, _SAYS_SOMETHING]}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["report"],
                "additionalProperties": False,
                "properties": {
                    "report": {
                        **_REPORT_REF,
                        "description": "The report as JSON (the same fields as application/json).",
                    },
                    "files": {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "description": "Evidence: images (JPEG, PNG, GIF, WebP) or videos "
                        "(MP4, MOV, Matroska/WebM, AVI, MPEG; at most ten minutes), "
                        "hashed (PDQ, vPDQ) and matched on arrival.",
                    },
                },
                "anyOf": [
                    {"required": ["files"], "properties": {"files": {"minItems": 1}}},
                    {"properties": {"report": _SAYS_SOMETHING}},
                ],
            },
            "encoding": {
                "report": {"contentType": "application/json"},
                "files": {"contentType": IMAGE_TYPES},
            },
        },
    },
}


def _body_error(loc: list[str | int], msg: str, kind: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ["body", *loc], "msg": msg, "type": kind}])


def _parse_report(raw: bytes | str) -> ReportIn:
    try:
        return ReportIn.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ["body", *e["loc"]]} for e in exc.errors(include_url=False)]
        ) from None


async def _read_multipart(
    request: Request, settings: Settings, intake: IntakeService
) -> tuple[ReportIn, list[StoredUpload]]:
    limits = UploadLimits(
        max_files=settings.max_files,
        max_fields=10,
        max_field_bytes=settings.max_json_bytes,
        max_file_bytes=settings.max_file_bytes,
    )

    def sink(name: str, index: int, _filename: str, _type: str) -> UploadSink | None:
        # Files stream into sealed evidence storage as they arrive; other names are refused below.
        return intake.upload_sink(f"files[{index}]") if name == "files" else None

    try:
        # One of the process's upload slots is taken before the body is read (or a 429).
        async with upload_slots(request).hold():
            form = await read_multipart(request, sink, limits)
    except TooManyFiles:
        raise _body_error(
            ["files"], f"Attach at most {settings.max_files} files", "too_many_files"
        ) from None
    except FieldTooLarge:
        raise HTTPException(
            413, f"The report is larger than the limit of {settings.max_json_bytes} bytes."
        ) from None
    uploads = [part.result for part in form.files if part.result is not None]
    try:
        raw = form.text("report")
        if raw is None:
            raise _body_error(["report"], "Field required: the report as JSON", "missing")
        report = _parse_report(raw)
        for text in form.texts:
            if text.name == "files":
                raise _body_error(["files", text.index], "Expected a file", "not_a_file")
        unknown = form.names() - {"report", "files"}
        if unknown:
            raise _body_error(
                [sorted(unknown)[0]], "Extra inputs are not permitted", "extra_forbidden"
            )
    except BaseException:
        intake.discard(uploads)
        raise
    return report, uploads


def reporter_of(request: Request, partner: PartnerScope | None = None) -> Reporter:
    """Who a request reports as: its partner, else its client's network."""
    if partner is not None:
        return Reporter(partner=partner.id)
    return Reporter(network=client_network(request.client.host if request.client else ""))


def _check_idempotency_key(key: str | None) -> None:
    if key is None:
        return
    if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX or not all(33 <= ord(c) <= 126 for c in key):
        raise RequestValidationError(
            [
                {
                    "loc": ["header", "Idempotency-Key"],
                    "msg": f"must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters",
                    "type": "invalid_idempotency_key",
                }
            ]
        )


@router.post(
    "/reports",
    status_code=201,
    response_model=ReportCreated,
    summary="Make a report",
    responses={
        **_ERRORS,
        400: {
            "model": MessageBody,
            "description": "The multipart body cannot be parsed (or has too many parts).",
        },
        401: {
            "model": MessageBody,
            "description": "An Authorization header that is not a partner's key.",
        },
        409: {
            "model": MessageBody,
            "description": "The Idempotency-Key was used for another report.",
        },
    },
    openapi_extra={"requestBody": _REQUEST_BODY},
)
async def create_report(
    request: Request,
    settings: SettingsDep,
    intake: Intake,
    partner: Annotated[PartnerScope | None, Depends(optional_partner)],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=IDEMPOTENCY_KEY_MAX,
            pattern=r"^[!-~]+$",  # printable ASCII, no spaces (what _check_idempotency_key allows)
        ),
    ] = None,
) -> Response:
    """Take a report (JSON, or multipart with evidence files) and answer its reference and PIN.

    The answer comes only after the report is committed to the database. A partner platform
    sends its key (``Authorization: Bearer``) and reports on a quota of its own; others are
    limited per network and all together (429).
    """
    _check_idempotency_key(idempotency_key)
    reporter = reporter_of(request, partner)
    # Refused before the body is read: a flood costs little. Counted only once taken. No
    # worker thread when no limit applies (a partner's without a quota, limits switched off).
    if intake.limits_reports_of(reporter):
        await run_in_threadpool(intake.check_report_rate, reporter)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    uploads: list[StoredUpload] = []
    if content_type == "application/json":
        report = _parse_report(await request.body())
    elif content_type == "multipart/form-data":
        report, uploads = await _read_multipart(request, settings, intake)
    else:
        raise HTTPException(415, "Send application/json, or multipart/form-data with files.")
    new = report.to_new_report("partner" if partner else "api")
    if partner is not None:  # a partner reports what happened on its own platform
        new = replace(new, platform=new.platform or partner.name)
    receipt = await run_in_threadpool(
        intake.submit,
        new,
        uploads,
        idempotency_key,
        reporter,
    )
    created = ReportCreated(reference=receipt.reference, pin=receipt.pin, status=receipt.status)
    # The model's JSON as FastAPI would write it, without validating our own answer again.
    return Response(created.model_dump_json(), status_code=201, media_type="application/json")


@router.get(
    "/reports/{reference}/status",
    response_model=ReportStatus,
    summary="Check a report's status",
    responses={
        404: {"model": MessageBody, "description": "No report with this reference and PIN."},
        422: {"model": ValidationErrorBody, "description": "The PIN header is missing."},
        429: {"model": MessageBody, "description": "Too many wrong PINs; see Retry-After."},
    },
)
async def report_status(
    reference: str,
    request: Request,
    intake: Intake,
    pin: Annotated[str, Header(alias="X-Report-PIN", max_length=64)],
    lang: Annotated[Literal["pl", "en"], Query(description="Language of next_step")] = "pl",
) -> ReportStatus:
    """The status of a report, for whoever holds its reference and PIN — nothing more."""
    client = request.client.host if request.client else "unknown"
    public = await run_in_threadpool(intake.status, reference[:64], pin, client)
    return ReportStatus.of(normalise_reference(reference) or reference, public, lang)


@router.post(
    "/reports/{reference}/information",
    status_code=204,
    summary="Add information to a report",
    responses={
        400: {"model": MessageBody, "description": "The body is not JSON text (e.g. not UTF-8)."},
        404: {"model": MessageBody, "description": "No report with this reference and PIN."},
        413: {"model": MessageBody, "description": "The body is larger than the limit."},
        422: {"model": ValidationErrorBody, "description": "A field is missing or wrong."},
        429: {"model": RateLimitedBody, "description": "Too many; see Retry-After."},
    },
)
async def add_information(
    reference: str,
    body: InformationIn,
    request: Request,
    intake: Intake,
    pin: Annotated[str, Header(alias="X-Report-PIN", max_length=64)],
) -> Response:
    """Add a message or links to a report, with its reference and PIN (the form also takes
    files). The hotline sees them with the report."""
    client = request.client.host if request.client else "unknown"
    await run_in_threadpool(
        lambda: intake.add_information(
            reference[:64],
            pin,
            client,
            message=body.message,
            urls=body.urls,
            reporter=reporter_of(request),
        )
    )
    return Response(status_code=204)


def document_limits(schema: dict[str, Any], *, max_files: int) -> None:
    """Write the configured limits into an OpenAPI document (a copy: _REQUEST_BODY is shared)."""
    operation = schema["paths"]["/api/v1/reports"]["post"]
    operation["requestBody"] = body = copy.deepcopy(operation["requestBody"])
    body["content"]["multipart/form-data"]["schema"]["properties"]["files"]["maxItems"] = max_files


def report_schema() -> dict[str, Any]:
    """The JSON schema of ReportIn, for the OpenAPI components."""
    return ReportIn.model_json_schema(ref_template="#/components/schemas/{model}")
