"""The auditor's pages: search the audit log, download a signed export.

They work without JavaScript; the filter is a GET form, so a search is a link
one can keep. Each search and each export is written to the audit log.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import ValidationError

from tarcza.accounts.access import require
from tarcza.accounts.permissions import Action, Principal, holds
from tarcza.oversight import search as audit_search
from tarcza.oversight.routes import AuditQuery, PeriodQuery, export_response
from tarcza.oversight.search import AuditRow
from tarcza.oversight.service import AuditLogReader
from tarcza.web import i18n
from tarcza.web.deps import provided
from tarcza.web.i18n import N_
from tarcza.web.render import page_language, render

router = APIRouter(include_in_schema=False)

Reader = Annotated[AuditLogReader, Depends(provided(AuditLogReader))]
P = TypeVar("P", bound=PeriodQuery)

TEXT_FIELDS = ("actor", "agency", "action", "subject_type", "subject_id", "since", "until")
FIELDS = (*TEXT_FIELDS, "limit", "before_seq")
LABELS = {
    "actor": N_("Who"),
    "agency": N_("Agency"),
    "action": N_("Action"),
    "subject_type": N_("Subject type"),
    "subject_id": N_("Subject"),
    "since": N_("From"),
    "until": N_("Until"),
    "limit": N_("Entries per page"),
    "before_seq": N_("Older than entry"),
}
HINTS = {
    "actor": N_("A user name, exactly, or public, system or command-line."),
    "action": N_("Exactly, or the beginning ending with a dot, like evidence."),
    "since": N_("A date such as 2026-11-22, or a date and time such as 2026-11-22T14:30 (UTC)."),
    "until": N_("Up to this moment, not including it; a date alone includes that whole day."),
}
TOO_LONG = N_("This is too long.")
BAD_TEXT = N_("This contains characters that cannot be searched for.")
BAD_MOMENT = N_("Give a date such as 2026-11-22, or a date and time such as 2026-11-22T14:30.")
PERIOD_ORDER = N_("The end of the period must come after its start.")
BAD_LIMIT = N_("Give a whole number from 1 to 500.")
BAD_SEQ = N_("Give the number of an entry.")


def _values(request: Request, fields: tuple[str, ...] = FIELDS) -> dict[str, str]:
    """The filter fields given (trimmed, the empty ones left out); other parameters are ignored."""
    params = request.query_params
    values = {name: params.get(name, "").strip() for name in fields}
    return {name: value for name, value in values.items() if value}


def _reason(field: str, code: str) -> str:
    if field in ("since", "until"):
        return BAD_MOMENT
    if field == "limit":
        return BAD_LIMIT
    if field == "before_seq":
        return BAD_SEQ
    return TOO_LONG if code == "string_too_long" else BAD_TEXT


def _errors(request: Request, exc: ValidationError) -> dict[str, str]:
    """Each refused field and why, in the reader's language."""
    tr = i18n.translator(page_language(request))
    errors: dict[str, str] = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "until"
        errors.setdefault(field, tr.gettext(_reason(field, error["type"])))
    return errors


def _validated(request: Request, kind: type[P], values: dict[str, str]) -> P | dict[str, str]:
    """The filter, or each refused field and why in the reader's language."""
    try:
        query = kind.model_validate(values)
    except ValidationError as exc:
        return _errors(request, exc)
    # The API answers an empty period with nothing; a person more likely swapped the dates.
    if query.since and query.until and query.since >= query.until:
        tr = i18n.translator(page_language(request))
        return {"until": tr.gettext(PERIOD_ORDER)}
    return query


def _row_view(row: AuditRow) -> dict[str, Any]:
    try:
        details = json.dumps(json.loads(row.details), indent=2, ensure_ascii=False, sort_keys=True)
    except ValueError:
        details = row.details
    return {
        "seq": row.seq,
        "when": row.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        "actor": row.actor,
        "agency": row.agency,
        "action": row.action,
        "subject": f"{row.subject_type}: {row.subject_id}",
        "reason": row.reason,
        "details": details,
        "entry_hash": row.entry_hash,
    }


def _link(path: str, values: dict[str, str]) -> str:
    return f"{path}?{urlencode(values)}" if values else path


def _page(
    request: Request,
    principal: Principal,
    values: dict[str, str],
    *,
    rows: list[AuditRow] | None = None,
    older: int | None = None,
    errors: dict[str, str] | None = None,
    public_key: str | None = None,
) -> Response:
    errors = errors or {}
    shown = {k: v for k, v in values.items() if k not in errors}
    newer = {k: v for k, v in shown.items() if k != "before_seq"}
    period = {k: v for k, v in shown.items() if k in ("since", "until")}
    can_export = holds(principal, Action.AUDIT_LOG_EXPORT)
    return render(
        request,
        "audit_log.html",
        {
            "values": shown,
            "errors": errors,
            "labels": LABELS,
            "hints": HINTS,
            "text_fields": TEXT_FIELDS,
            "rows": [_row_view(r) for r in rows or []],
            "searched": rows is not None,
            "newest_url": _link("/staff/audit", newer) if "before_seq" in shown else None,
            "older_url": _link("/staff/audit", {**newer, "before_seq": str(older)})
            if older
            else None,
            "can_export": can_export,
            "export_url": _link("/staff/audit/export", period),
            "public_key": public_key if can_export else None,
        },
        status_code=422 if errors else 200,
    )


@router.get("/staff/audit")
async def audit_page(
    request: Request,
    reader: Reader,
    principal: Annotated[Principal, Depends(require(Action.AUDIT_LOG_SEARCH))],
) -> Response:
    """The filter form and the matching entries, newest first (the search is audited)."""
    values = _values(request)
    query = _validated(request, AuditQuery, values)
    if isinstance(query, dict):
        return _page(request, principal, values, errors=query, public_key=reader.public_key)
    wanted = query.to_filter()
    rows = await run_in_threadpool(reader.search, principal, wanted)
    older = audit_search.next_before_seq(rows, wanted)
    return _page(request, principal, values, rows=rows, older=older, public_key=reader.public_key)


@router.get("/staff/audit/export")
async def export_download(
    request: Request,
    reader: Reader,
    principal: Annotated[Principal, Depends(require(Action.AUDIT_LOG_EXPORT))],
) -> Response:
    """The signed export of the period given (all of the log without one), as a file."""
    values = _values(request, ("since", "until"))
    period = _validated(request, PeriodQuery, values)
    if isinstance(period, dict):
        return _page(request, principal, values, errors=period, public_key=reader.public_key)
    made = await run_in_threadpool(reader.export, principal, period.since, period.until)
    return export_response(made)
