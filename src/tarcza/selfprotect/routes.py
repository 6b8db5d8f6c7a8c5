"""The self-protection API: open a case with hashes only, read it, add to it, withdraw it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from tarcza.intake.rules import client_network
from tarcza.selfprotect import rules
from tarcza.selfprotect.service import CaseStatus, Requester, SelfProtectService
from tarcza.web.deps import provided

router = APIRouter(prefix="/api/v1/selfprotect", tags=["self-protection"])

Protect = Annotated[SelfProtectService, Depends(provided(SelfProtectService))]
DEVICE_COOKIE = "tz_device"

_NOT_JSON: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body is not JSON text (e.g. not UTF-8)."},
    413: {"description": "The body is larger than the limit."},
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    **_NOT_JSON,
    422: {"description": "A hash, the age band or the items are wrong (detail names which)."},
    429: {"description": "Too many from this network or device just now; see Retry-After."},
}
_CASE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_NOT_JSON,
    404: {"description": "No case with this number and PIN."},
    422: {"description": "The PIN header is missing, or what was sent is wrong."},
    429: {"description": "Too many wrong PINs, or too many additions; see Retry-After."},
}


def _json_integer(value: object) -> object:
    """A JSON integer (55 or 55.0), never a string or a boolean (the schema's "integer")."""
    if isinstance(value, bool | str):
        raise ValueError("must be a number, not text")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _json_number(value: object) -> object:
    """A JSON number, never a string or a boolean."""
    if isinstance(value, bool | str):
        raise ValueError("must be a number, not text")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_integer)]
JsonNumber = Annotated[float, BeforeValidator(_json_number)]

HEX32 = r"^[0-9a-fA-F]{32}$"
HEX64 = r"^[0-9a-fA-F]{64}$"


class FrameIn(BaseModel):
    """One vPDQ frame as the browser hashed it; frames too plain to match (quality under 50)
    are left out by the browser, as vPDQ leaves them out when matching."""

    model_config = ConfigDict(extra="forbid")

    frame: Annotated[int, Field(ge=0), BeforeValidator(_json_integer)] | None = None
    pdq: str = Field(pattern=HEX64)
    quality: JsonInt = Field(ge=rules.QUALITY_FLOOR, le=100)
    timestamp: JsonNumber = Field(ge=0, lt=10**6)


class ImageIn(BaseModel):
    """A picture hashed on the device: its digests and PDQ (quality at least 50)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["image"]
    md5: str = Field(pattern=HEX32)
    sha256: str = Field(pattern=HEX64)
    pdq: str = Field(pattern=HEX64)
    quality: JsonInt = Field(
        ge=rules.QUALITY_FLOOR,
        le=100,
        description="PDQ quality; a picture under 50 is too plain to recognise reliably.",
    )


class VideoIn(BaseModel):
    """A video hashed on the device: its digests and vPDQ frames."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["video"]
    md5: str = Field(pattern=HEX32)
    sha256: str = Field(pattern=HEX64)
    vpdq: list[FrameIn] = Field(min_length=1, max_length=rules.MAX_VPDQ_FRAMES)


ItemIn = Annotated[ImageIn | VideoIn, Field(discriminator="kind")]


class CaseIn(BaseModel):
    """A new case: an age band and the hashes; nothing else about the person."""

    model_config = ConfigDict(extra="forbid")

    age_band: rules.AgeBand
    items: list[ItemIn] = Field(min_length=1, max_length=1000)


class ItemsIn(BaseModel):
    """More hashes for a case."""

    model_config = ConfigDict(extra="forbid")

    items: list[ItemIn] = Field(min_length=1, max_length=1000)


class CaseOut(BaseModel):
    """A case's counts: items protected, shared, held for review, copies stopped."""

    reference: str
    items: int
    shared: int
    held: int
    stopped: int = Field(description="Copies the platforms reported stopping.")
    withdrawn: bool
    created_at: datetime

    @classmethod
    def of(cls, status: CaseStatus) -> CaseOut:
        return cls(
            reference=status.reference,
            items=status.items,
            shared=status.shared,
            held=status.held,
            stopped=status.stopped,
            withdrawn=status.withdrawn,
            created_at=status.created_at,
        )


class CaseCreated(CaseOut):
    """The new case's number and PIN (shown once: a lost PIN cannot be recovered)."""

    pin: str


def requester_of(request: Request) -> Requester:
    """The network and the device (the page's random cookie) a request is counted under."""
    host = request.client.host if request.client else ""
    device = request.cookies.get(DEVICE_COOKIE)
    return Requester(
        network=client_network(host),
        device=device if device and 16 <= len(device) <= 64 and device.isascii() else None,
    )


def _items(items: list[ImageIn | VideoIn]) -> list[object]:
    return [item.model_dump(exclude_none=True) for item in items]


def document_limits(schema: dict[str, Any], *, max_items: int) -> None:
    """Write the configured cap of items per case into an OpenAPI document."""
    for name in ("CaseIn", "ItemsIn"):
        model = schema.get("components", {}).get("schemas", {}).get(name)
        if model is not None:
            model["properties"]["items"]["maxItems"] = max_items


@router.post(
    "/cases",
    status_code=201,
    response_model=CaseCreated,
    summary="Protect pictures or videos by their hashes",
    responses=_ERRORS,
)
async def open_case(body: CaseIn, request: Request, protect: Protect) -> CaseCreated:
    """Open a self-protection case from hashes computed on the person's device.

    Only hashes: an image never comes here. The answer's ``pin`` is shown once.
    """
    receipt = await run_in_threadpool(
        protect.open_case, body.age_band.value, _items(body.items), requester_of(request)
    )
    return CaseCreated(**CaseOut.of(receipt.status).model_dump(), pin=receipt.pin)


PinHeader = Annotated[str, Header(alias="X-Case-PIN", max_length=64)]


@router.get(
    "/cases/{reference}", response_model=CaseOut, summary="Read a case", responses=_CASE_ERRORS
)
async def read_case(reference: str, request: Request, protect: Protect, pin: PinHeader) -> CaseOut:
    """A case's counts, for whoever holds its number and PIN."""
    status = await run_in_threadpool(protect.case_status, reference[:64], pin, _client(request))
    return CaseOut.of(status)


@router.post(
    "/cases/{reference}/items",
    response_model=CaseOut,
    summary="Protect more pictures or videos in a case",
    responses=_CASE_ERRORS,
)
async def add_items(
    reference: str, body: ItemsIn, request: Request, protect: Protect, pin: PinHeader
) -> CaseOut:
    """Add hashes to an open case."""
    status = await run_in_threadpool(
        protect.add_items,
        reference[:64],
        pin,
        _items(body.items),
        _client(request),
        requester_of(request),
    )
    return CaseOut.of(status)


@router.post(
    "/cases/{reference}/withdraw",
    response_model=CaseOut,
    summary="Withdraw a case",
    responses=_CASE_ERRORS,
)
async def withdraw(reference: str, request: Request, protect: Protect, pin: PinHeader) -> CaseOut:
    """Take the case's hashes out of the bank (the platforms' feed carries the removal)."""
    status = await run_in_threadpool(protect.withdraw, reference[:64], pin, _client(request))
    return CaseOut.of(status)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"
