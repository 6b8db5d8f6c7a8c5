"""The supervisors' page of the hotline's figures, with a chart (server-drawn SVG, no script).

``GET /staff/hotline/stats?from=YYYY-MM-DD&to=YYYY-MM-DD``: the same figures as
``GET /api/v1/stats/hotline`` (definitions in tarcza.hotline.stats), in the reader's language.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from tarcza.accounts.access import require
from tarcza.accounts.permissions import Action, Principal
from tarcza.hotline.pages import LABELS
from tarcza.hotline.service import HotlineService
from tarcza.hotline.stats import HotlineFigures, PeriodRefused
from tarcza.web import i18n
from tarcza.web.deps import provided
from tarcza.web.i18n import N_
from tarcza.web.render import page_language, render

router = APIRouter(include_in_schema=False)

Hotline = Annotated[HotlineService, Depends(provided(HotlineService))]

# What a refused period says, by PeriodRefused.code (a malformed date: and field).
PERIOD_ERRORS = {
    "malformed-from": N_("Give the start as a date such as 2026-11-23."),
    "malformed-to": N_(
        "Give the end as a date such as 2026-11-23, not before the start, within a year."
    ),
    "order": N_("The end must not be before the start."),
    "too_long": N_("The period can be at most a year (366 days)."),
}
# Chart geometry, in SVG user units (the SVG scales to the page's width).
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 220, 36, 24, 10
KINDS = ("reported", "assessed", "removed")
# Each at least 4.5:1 against white, and told apart by more than hue (the legend names them).
COLOURS = {"reported": "#1f5fa8", "assessed": "#a14f00", "removed": "#1b7a3a"}


def humane(seconds: float | None) -> str:
    """A duration in seconds as people say it: 2 h 15 min, 3 d 4 h, 40 s; a dash for none."""
    if seconds is None:
        return "—"
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def chart(figures: HotlineFigures) -> dict[str, Any]:
    """Three bars per day (reported, assessed, removed), scaled to the busiest day.

    Coordinates are SVG user units in a WIDTH x HEIGHT box; the page scales it to its width.
    """
    days = figures.series
    top = max([1, *(max(d.reported, d.assessed, d.removed) for d in days)])
    slot = (WIDTH - LEFT) / max(1, len(days))
    bar = max(1.0, slot / 4)
    plot = HEIGHT - BOTTOM - TOP
    bars = []
    for i, d in enumerate(days):
        for j, kind in enumerate(KINDS):
            value: int = getattr(d, kind)
            h = plot * value / top
            x = LEFT + i * slot + j * bar + bar / 2
            bars.append(
                {
                    "kind": kind,
                    "x": round(x, 2),
                    "y": round(TOP + plot - h, 2),
                    "w": round(bar, 2),
                    "h": round(h, 2),
                    "value": value,
                    "day": d.day,
                    "colour": COLOURS[kind],
                }
            )
    step = max(1, len(days) // 6)
    labels = [
        {"x": round(LEFT + i * slot + slot / 2, 2), "text": d.day.strftime("%m-%d")}
        for i, d in enumerate(days)
        if i % step == 0
    ]
    ticks = [
        {"y": round(TOP + plot - plot * v / top, 2), "text": str(v)}
        for v in sorted({0, top // 2, top})
    ]
    return {
        "bars": bars,
        "labels": labels,
        "ticks": ticks,
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "base": HEIGHT - BOTTOM,
        "colours": COLOURS,
    }


@router.get("/staff/hotline/stats")
async def stats_page(
    request: Request,
    hotline: Hotline,
    principal: Annotated[Principal, Depends(require(Action.HOTLINE_STATS_READ))],
) -> Response:
    start, end = request.query_params.get("from"), request.query_params.get("to")
    values: dict[str, Any] = {
        "start": start or "",
        "end": end or "",
        "humane": humane,
        "classifications": LABELS["classification"],
    }
    try:
        figures = await run_in_threadpool(hotline.figures, principal, start, end)
    except PeriodRefused as exc:
        tr = i18n.translator(page_language(request))
        message = PERIOD_ERRORS.get(exc.code) or PERIOD_ERRORS[f"{exc.code}-{exc.field}"]
        values["errors"] = {f"period-{exc.field}": tr.gettext(message)}
        return render(request, "hotline_stats.html", values, status_code=422)
    values.update(
        figures=figures,
        chart=chart(figures),
        start=figures.period.start.isoformat(),
        end=figures.period.end.isoformat(),
        errors={},
    )
    return render(request, "hotline_stats.html", values)
