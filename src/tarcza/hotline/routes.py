"""The hotline's API: its removal figures as JSON (``GET /api/v1/stats/hotline``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from tarcza.accounts.access import require
from tarcza.accounts.permissions import Action, Principal
from tarcza.hotline.service import HotlineService
from tarcza.hotline.stats import Durations, HotlineFigures, PeriodRefused
from tarcza.web.deps import provided

router = APIRouter(prefix="/api/v1/stats", tags=["statistics"])

Hotline = Annotated[HotlineService, Depends(provided(HotlineService))]


class PeriodOut(BaseModel):
    from_: date = Field(alias="from", serialization_alias="from")
    to: date


class DurationsOut(BaseModel):
    count: int
    median_seconds: float | None
    p90_seconds: float | None


class WithinOut(BaseModel):
    items: int
    removed_within_3_days: int
    share: float | None


class DayOut(BaseModel):
    day: date
    reported: int
    assessed: int
    removed: int


class HotlineFiguresOut(BaseModel):
    """The hotline's measures for a period (see tarcza.hotline.stats for the definitions)."""

    period: PeriodOut
    reports_received: int
    items_reported: int
    items_assessed: int
    by_classification: dict[str, int]
    time_to_assessment: DurationsOut
    time_to_notice: DurationsOut
    time_to_removal: DurationsOut
    baseline_removed_within_3_days: WithinOut
    series: list[DayOut]


def _durations(d: Durations) -> DurationsOut:
    return DurationsOut(count=d.count, median_seconds=d.median_seconds, p90_seconds=d.p90_seconds)


def figures_out(f: HotlineFigures) -> HotlineFiguresOut:
    within = f.baseline_removed_within_3_days
    return HotlineFiguresOut(
        period=PeriodOut.model_validate({"from": f.period.start, "to": f.period.end}),
        reports_received=f.reports_received,
        items_reported=f.items_reported,
        items_assessed=f.items_assessed,
        by_classification=f.by_classification,
        time_to_assessment=_durations(f.time_to_assessment),
        time_to_notice=_durations(f.time_to_notice),
        time_to_removal=_durations(f.time_to_removal),
        baseline_removed_within_3_days=WithinOut(
            items=within.items,
            removed_within_3_days=within.removed_within_3_days,
            share=within.share,
        ),
        series=[
            DayOut(day=d.day, reported=d.reported, assessed=d.assessed, removed=d.removed)
            for d in f.series
        ],
    )


@router.get(
    "/hotline",
    response_model=HotlineFiguresOut,
    responses={
        401: {"description": "Not signed in, or the second factor is missing"},
        403: {"description": "Your role may not read these figures"},
        404: {"description": "Not the figures of your agency"},
        422: {"description": "A bad period: the field and the reason are given"},
    },
)
async def hotline_figures(
    hotline: Hotline,
    principal: Annotated[Principal, Depends(require(Action.HOTLINE_STATS_READ))],
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
) -> Response:
    """Reports received, items assessed, removals within 3 days, median and p90 times."""
    try:
        figures = await run_in_threadpool(hotline.figures, principal, start, end)
    except PeriodRefused as exc:
        body = {"detail": [{"loc": ["query", exc.field], "msg": exc.reason, "type": exc.code}]}
        return JSONResponse(body, status_code=422)
    return JSONResponse(figures_out(figures).model_dump(mode="json", by_alias=True))
