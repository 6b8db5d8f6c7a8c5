"""The coordinator's monthly reports: ``/staff/national/reports`` (list, generate, download)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from tarcza.accounts.access import require
from tarcza.accounts.permissions import Action, Principal
from tarcza.coordination.report import ReportRefused, ReportService, last_month
from tarcza.store.base import utcnow
from tarcza.web import i18n
from tarcza.web.deps import provided
from tarcza.web.i18n import N_
from tarcza.web.render import page_language, render

router = APIRouter(include_in_schema=False)

Reports = Annotated[ReportService, Depends(provided(ReportService))]
Reader = Annotated[Principal, Depends(require(Action.STATS_AGGREGATE_READ))]
REFUSALS = {
    "malformed": N_("Give a month such as 2026-11."),
    "not_over": N_("Choose a month that is over."),
}


async def _page(
    request: Request, reports: ReportService, principal: Principal, *, month: str = "",
    error: str | None = None, made: str | None = None, status_code: int = 200,
) -> Response:  # fmt: skip
    kept = await run_in_threadpool(reports.listing, principal)
    default = month or last_month(utcnow().date()).strftime("%Y-%m")
    values = {"reports": kept, "month": default, "error": error, "made": made}
    return render(request, "national_reports.html", values, status_code=status_code)


@router.get("/staff/national/reports")
async def reports_page(request: Request, reports: Reports, principal: Reader) -> Response:
    made = request.query_params.get("made")
    return await _page(request, reports, principal, made=made if made and len(made) < 8 else None)


@router.post("/staff/national/reports")
async def generate_report(request: Request, reports: Reports, principal: Reader) -> Response:
    form = await request.form()
    month = str(form.get("month") or "")[:20]
    try:
        await run_in_threadpool(reports.generate, principal, month)
    except ReportRefused as exc:
        tr = i18n.translator(page_language(request))
        error = tr.gettext(REFUSALS.get(exc.code, REFUSALS["malformed"]))
        return await _page(request, reports, principal, month=month, error=error, status_code=422)
    return RedirectResponse(f"/staff/national/reports?made={month}", status_code=303)


@router.get("/staff/national/reports/{month}/{language}.pdf")
async def download_report(
    month: str, language: str, reports: Reports, principal: Reader
) -> Response:
    data = await run_in_threadpool(reports.download, principal, month, language)
    name = f"tarcza-national-{month}-{language}.pdf"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(data, media_type="application/pdf", headers=headers)
