"""The audit API: search the log and download a signed export, for auditors.

It authenticates with the staff session cookie, like the rest of the staff API.
Every search and every export is itself written to the audit log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from tarcza.accounts.access import require
from tarcza.accounts.permissions import Action, Principal
from tarcza.oversight import search as audit_search
from tarcza.oversight.export import Export, ExportDocument
from tarcza.oversight.search import MAX_LIMIT, MAX_SEQ, PLAIN_TEXT, AuditFilter
from tarcza.oversight.service import AuditLogReader
from tarcza.web.deps import provided

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

Reader = Annotated[AuditLogReader, Depends(provided(AuditLogReader))]


# Text filters: no control characters (PostgreSQL refuses NUL), no longer than their column.
Text50 = Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=PLAIN_TEXT)]
Text100 = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=PLAIN_TEXT)]
Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=PLAIN_TEXT)]


_MOMENT_HELP = (
    "ISO 8601 date (2026-11-22) or date and time (2026-11-22T14:30:00Z); without a zone it is UTC"
)


# What the period's ends accept: an RFC 3339 date-time, or a date (a time without a zone: UTC).
Moment = Annotated[
    datetime,
    WithJsonSchema(
        {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]}
    ),
]


class PeriodQuery(BaseModel):
    """A period of time: ``since`` inclusive, ``until`` exclusive (a bare date includes its day).

    A period that ends before it starts holds nothing.
    """

    model_config = ConfigDict(extra="forbid")

    since: Moment | None = Field(None, description=_MOMENT_HELP)
    until: Moment | None = Field(None, description=_MOMENT_HELP + "; exclusive")

    @field_validator("since", mode="before")
    @classmethod
    def _since(cls, value: Any) -> Any:
        return _moment(value, end_of_day=False)

    @field_validator("until", mode="before")
    @classmethod
    def _until(cls, value: Any) -> Any:
        return _moment(value, end_of_day=True)


class AuditQuery(PeriodQuery):
    """What to look for in the log; every condition given must hold."""

    actor: Text200 | None = None
    agency: Text100 | None = None
    action: Text100 | None = Field(
        None, description="An exact action, or a prefix ending with a dot: evidence."
    )
    subject_type: Text50 | None = None
    subject_id: Text100 | None = None
    limit: int = Field(audit_search.DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    before_seq: int | None = Field(
        None, ge=1, le=MAX_SEQ, description="Only entries older than this one (paging)"
    )

    def to_filter(self) -> AuditFilter:
        return AuditFilter(**self.model_dump())


def _moment(value: Any, *, end_of_day: bool) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("not an ISO 8601 date or date and time")  # no Unix times, no numbers
    return audit_search.parse_moment(value, end_of_day=end_of_day)


class AuditErrorOut(BaseModel):
    detail: str


class AuditEntryOut(BaseModel):
    """One audit entry, every stored column."""

    seq: int
    created_at: datetime
    actor: str
    agency: str | None
    action: str
    subject_type: str
    subject_id: str
    reason: str | None
    details: str = Field(description="Canonical JSON text, exactly as hashed")
    prev_hash: str
    entry_hash: str


class AuditEntriesOut(BaseModel):
    entries: list[AuditEntryOut] = Field(description="Newest first")
    next_before_seq: int | None = Field(
        description="Pass as before_seq for the next older page; null when there is none"
    )


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": AuditErrorOut, "description": "Not signed in, or the second factor is missing"},
    403: {"model": AuditErrorOut, "description": "Your role may not do this"},
}


@router.get("/entries", responses=_ERRORS)
async def entries(
    reader: Reader,
    principal: Annotated[Principal, Depends(require(Action.AUDIT_LOG_SEARCH))],
    query: Annotated[AuditQuery, Query()],
) -> AuditEntriesOut:
    """Entries matching every condition given, newest first (the search is audited)."""
    wanted = query.to_filter()
    rows = await run_in_threadpool(reader.search, principal, wanted)
    return AuditEntriesOut(
        entries=[AuditEntryOut.model_validate(row, from_attributes=True) for row in rows],
        next_before_seq=audit_search.next_before_seq(rows, wanted),
    )


@router.get(
    "/export",
    response_model=ExportDocument,
    responses={**_ERRORS, 200: {"description": "The signed export, as a file to keep"}},
)
async def export(
    request: Request,
    reader: Reader,
    principal: Annotated[Principal, Depends(require(Action.AUDIT_LOG_EXPORT))],
    period: Annotated[PeriodQuery, Query()],
) -> Response:
    """A signed export of the entries made in the period (the export is audited).

    Verify it with ``tarcza audit verify-export FILE --public-key KEY``.
    """
    made = await run_in_threadpool(reader.export, principal, period.since, period.until)
    return export_response(made)


def export_response(made: Export) -> Response:
    """The export as a JSON file download."""
    return Response(
        made.data,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{made.filename}"',
            "Cache-Control": "no-store",
        },
    )
