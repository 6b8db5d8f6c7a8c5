"""The supervisors' page of the hotline's removal figures, with a chart (server-drawn SVG)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from tarcza.accounts.access import require
from tarcza.accounts.permissions import Action, Principal
from tarcza.hotline.stats import HotlineFigures, PeriodRefused
from tarcza.web import i18n
from tarcza.web.context import AppContext, app_context, page_language, render
from tarcza.web.i18n import N_

router = APIRouter(include_in_schema=False)

Ctx = Annotated[AppContext, Depends(app_context)]

PERIOD_ERRORS = {
    "from": N_("Give the start as a date such as 2026-11-23."),
    "to": N_("Give the end as a date such as 2026-11-23, not before the start, within a year."),
}
# Chart geometry, in SVG user units (the SVG scales to the page's width).
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 220, 36, 24, 10


def humane(seconds: float | None) -> str:
    """2 h 15 min, 3 d 4 h, 40 s — or a dash when there is nothing to measure."""
    if seconds is None:
        return "—"
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def chart(figures: HotlineFigures) -> dict[str, Any]:
    """Bars per day (reported, assessed, removed), scaled to the busiest day."""
    days = figures.series
    top = max([1, *(max(d.reported, d.assessed, d.removed) for d in days)])
    slot = (WIDTH - LEFT) / max(1, len(days))
    bar = max(1.0, slot / 4)
    plot = HEIGHT - BOTTOM - TOP
    bars = []
    for i, d in enumerate(days):
        for j, (kind, value) in enumerate(
            (("reported", d.reported), ("assessed", d.assessed), ("removed", d.removed))
        ):
            h = plot * value / top
            bars.append(
                {
                    "kind": kind,
                    "x": round(LEFT + i * slot + j * bar + bar / 2, 2),
                    "y": round(TOP + plot - h, 2),
                    "w": round(bar, 2),
                    "h": round(h, 2),
                    "value": value,
                    "day": d.day,
                }
            )
    step = max(1, len(days) // 6)
    labels = [
        {"x": round(LEFT + i * slot + slot / 2, 2), "text": d.day.strftime("%m-%d")}
        for i, d in enumerate(days)
        if i % step == 0
    ]
    return {
        "bars": bars,
        "labels": labels,
        "top": top,
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "base": HEIGHT - BOTTOM,
        "ceiling": TOP,
    }


@router.get("/staff/hotline/stats")
async def stats_page(
    request: Request,
    ctx: Ctx,
    principal: Annotated[Principal, Depends(require(Action.HOTLINE_STATS_READ))],
) -> Response:
    start, end = request.query_params.get("from"), request.query_params.get("to")
    values: dict[str, Any] = {"start": start or "", "end": end or "", "humane": humane}
    try:
        figures = await run_in_threadpool(ctx.hotline.figures, principal, start, end)
    except PeriodRefused as exc:
        tr = i18n.translator(page_language(request))
        values["errors"] = {f"period-{exc.field}": tr.gettext(PERIOD_ERRORS[exc.field])}
        return render(request, "hotline_stats.html", values, status_code=422)
    values.update(
        figures=figures,
        chart=chart(figures),
        start=figures.period.start.isoformat(),
        end=figures.period.end.isoformat(),
        errors={},
    )
    return render(request, "hotline_stats.html", values)
