"""The CyberTipline Reporting API's shape under ``/ispws``: a platform's client that reports
to NCMEC reports to tarcza by changing only its base URL.

HTTP Basic authentication: the partner's name and its API key (hashing.partners). Every
answer is XML (``reportResponse``, ``reportDoneResponse``) with the API's response codes; a
refusal also has an HTTP status (400 invalid, 401 unauthenticated, 404 no such report, 409
finished, 413 too large, 500 server error). Documented by the XSD (``/ispws/xsd``) and the
README, not the OpenAPI document (these are XML endpoints).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from tarcza.config import Settings
from tarcza.hashing.partners import PartnerScope
from tarcza.intake.service import ReportRejected, StoredUpload, UploadSink
from tarcza.platforms import rules
from tarcza.platforms.rules import Code, IspwsRefused
from tarcza.platforms.service import HEAD_BYTES, PlatformsService
from tarcza.store.rates import RateLimited
from tarcza.web.deps import provided
from tarcza.web.uploads import (
    FieldTooLarge,
    FileTooLarge,
    LimitPassed,
    MultipartInvalid,
    UploadLimits,
    read_multipart,
    upload_slots,
)

router = APIRouter(prefix="/ispws", include_in_schema=False)

Platforms = Annotated[PlatformsService, Depends(provided(PlatformsService))]
SettingsDep = Annotated[Settings, Depends(provided(Settings))]
XML = "application/xml"
REALM = 'Basic realm="tarcza ispws", charset="UTF-8"'
_STATUS = {
    Code.SERVER_ERROR: 500,
    Code.AUTHENTICATION_REQUIRED: 401,
    Code.REPORT_DOES_NOT_EXIST: 404,
    Code.REPORT_ALREADY_FINISHED: 409,
}
T = TypeVar("T")
log = logging.getLogger(__name__)


class TooLarge(IspwsRefused):
    """A body or file over its limit (HTTP 413)."""


class Busy(IspwsRefused):
    """The partner's quota of new reports is used up just now (HTTP 429, Retry-After)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            Code.SERVER_ERROR, f"too many reports just now: try again in {retry_after} seconds"
        )
        self.retry_after = retry_after


def refused(_request: Request, exc: Exception) -> Response:
    """The XML answer to a refusal (installed on the app by the composition root)."""
    assert isinstance(exc, IspwsRefused)
    status = 413 if isinstance(exc, TooLarge) else _STATUS.get(exc.code, 400)
    headers = {"WWW-Authenticate": REALM} if exc.code is Code.AUTHENTICATION_REQUIRED else {}
    if isinstance(exc, Busy):
        status, headers = 429, {"Retry-After": str(exc.retry_after)}
    return Response(
        rules.response(exc.code, description=exc.description),
        status_code=status,
        media_type=XML,
        headers=headers,
    )


def _xml(body: bytes) -> Response:
    return Response(body, media_type=XML)


async def _call(fn: Callable[..., T], *args: object) -> T:
    """Run a service call in a thread; an unexpected failure is the API's server error."""
    try:
        return await run_in_threadpool(fn, *args)
    except IspwsRefused:
        raise
    except RateLimited as exc:
        raise Busy(exc.retry_after) from None
    except Exception:
        log.exception("ispws call failed")
        raise IspwsRefused(Code.SERVER_ERROR) from None


async def current_partner(
    platforms: Platforms, authorization: Annotated[str | None, Header()] = None
) -> PartnerScope:
    """FastAPI dependency: the partner of ``Authorization: Basic name:key``; else 401."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not encoded.strip() or len(encoded) > 1024:
        raise IspwsRefused(Code.AUTHENTICATION_REQUIRED)
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise IspwsRefused(Code.AUTHENTICATION_REQUIRED) from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise IspwsRefused(Code.AUTHENTICATION_REQUIRED)
    partner = await run_in_threadpool(platforms.authenticate, username, password)
    if partner is None:
        raise IspwsRefused(Code.AUTHENTICATION_REQUIRED)
    return partner


Partner = Annotated[PartnerScope, Depends(current_partner)]


async def _body(request: Request) -> bytes:
    """The request's body, refused over the XML limit as it is read."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > rules.MAX_XML_BYTES:
            raise TooLarge(Code.VALIDATION_FAILED, f"the XML is over {rules.MAX_XML_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _form_id(request: Request) -> int:
    """The ``id`` field of a form (URL-encoded or multipart)."""
    try:
        async with request.form(max_files=0, max_fields=10, max_part_size=1024) as form:
            value = form.get("id")
    except HTTPException:  # not a form, or too many or too large parts
        raise IspwsRefused(Code.INVALID_REQUEST, "send the id as a form field") from None
    return rules.report_id_of(value if isinstance(value, str) else None)


@router.get("/status")
async def status(partner: Partner) -> Response:
    """Whether tarcza answers and the credentials hold."""
    return _xml(rules.response(Code.SUCCESS, description=f"Remote User : {partner.name}"))


@router.get("/xsd")
async def xsd() -> Response:
    """The schema of the reports and file details tarcza accepts."""
    return Response(rules.schema_text(), media_type=XML)


@router.post("/submit")
async def submit(request: Request, partner: Partner, platforms: Platforms) -> Response:
    """Open a report (the XML ``<report>``); answers its reportId."""
    raw = await _body(request)
    report_id = await _call(platforms.submit, partner, raw)
    return _xml(rules.response(Code.SUCCESS, report_id=report_id))


class _HeadSink:
    """An upload sink that keeps the file's first bytes (to tell what kind of file it is)."""

    def __init__(self, sink: UploadSink) -> None:
        self._sink = sink
        self.head = b""

    def write(self, data: bytes) -> None:
        if len(self.head) < HEAD_BYTES:
            self.head += data[: HEAD_BYTES - len(self.head)]
        self._sink.write(data)

    def finish(self) -> tuple[StoredUpload, bytes]:
        return self._sink.finish(), self.head

    def abort(self) -> None:
        self._sink.abort()


@router.post("/upload")
async def upload(
    request: Request, partner: Partner, platforms: Platforms, settings: SettingsDep
) -> Response:
    """Upload a file to an open report (multipart ``id`` and ``file``); answers its
    fileId and its MD5."""
    limits = UploadLimits(
        max_files=1, max_fields=5, max_field_bytes=1024, max_file_bytes=settings.max_file_bytes
    )

    def sink(name: str, _index: int, _filename: str, _type: str) -> _HeadSink | None:
        return _HeadSink(platforms.upload_sink("file")) if name == "file" else None

    try:
        async with upload_slots(request).hold():
            form = await read_multipart(request, sink, limits)
    except (FileTooLarge, FieldTooLarge) as exc:
        raise TooLarge(Code.INVALID_REQUEST, str(exc.detail)) from None
    except ReportRejected as exc:
        raise TooLarge(Code.INVALID_REQUEST, str(exc)) from None
    except (LimitPassed, MultipartInvalid) as exc:
        raise IspwsRefused(Code.INVALID_REQUEST, str(exc.detail)) from None
    stored = [part.result for part in form.files if part.result is not None]
    try:
        report_id = rules.report_id_of(form.text("id"))
        if not stored:
            raise IspwsRefused(Code.INVALID_REQUEST, "the field file (the file) is missing")
    except BaseException:
        await run_in_threadpool(platforms.discard, [s for s, _ in stored])
        raise
    (upload_, head), *_ = stored
    receipt = await _call(platforms.add_file, partner, report_id, upload_, head)
    return _xml(
        rules.response(
            Code.SUCCESS,
            report_id=receipt.report_id,
            file_id=receipt.file_id,
            file_hash=receipt.md5,
        )
    )


@router.post("/fileinfo")
async def fileinfo(request: Request, partner: Partner, platforms: Platforms) -> Response:
    """Describe an uploaded file (the XML ``<fileDetails>``)."""
    raw = await _body(request)
    report_id = await _call(platforms.file_info, partner, raw)
    return _xml(rules.response(Code.SUCCESS, report_id=report_id))


@router.post("/finish")
async def finish(request: Request, partner: Partner, platforms: Platforms) -> Response:
    """Finish a report (form field ``id``): it becomes a tarcza report."""
    report_id = await _form_id(request)
    done = await _call(platforms.finish, partner, report_id)
    return _xml(rules.done_response(done.report_id, done.file_ids))


@router.post("/retract")
async def retract(request: Request, partner: Partner, platforms: Platforms) -> Response:
    """Cancel an open report (form field ``id``): nothing of it is kept."""
    report_id = await _form_id(request)
    await _call(platforms.retract, partner, report_id)
    return _xml(rules.response(Code.SUCCESS, report_id=report_id))


@router.get("/reports/{report_id}")
async def report_state(report_id: str, partner: Partner, platforms: Platforms) -> Response:
    """A report's state (open, finished) and, once finished, the hotline's outcome."""
    number = rules.report_id_of(report_id)
    state = await _call(platforms.state, partner, number)
    return _xml(
        rules.state_response(
            state.report_id,
            state.state,
            reference=state.reference,
            stage=state.stage,
            status=state.status,
        )
    )
