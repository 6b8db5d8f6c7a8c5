"""The national figures' API: ``GET /api/v1/stats/national`` and each table as CSV or JSON.

Every count is suppressed as the page shows it (tarcza.coordination.rules): a small count is
the text ``<5``, a count hidden to protect one is ``x``; a figure that cannot be given is
``null`` (nothing to measure) or ``x`` (withheld).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from tarcza.accounts.access import require
from tarcza.accounts.permissions import Action, Principal
from tarcza.coordination.service import CoordinationService, NationalFigures
from tarcza.coordination.tables import Table, as_csv
from tarcza.errors import NotFound
from tarcza.hotline.stats import PeriodRefused
from tarcza.web.deps import provided

router = APIRouter(prefix="/api/v1/stats/national", tags=["statistics"])

Coordination = Annotated[CoordinationService, Depends(provided(CoordinationService))]
Start = Annotated[str | None, Query(alias="from", max_length=10, description="YYYY-MM-DD")]
End = Annotated[str | None, Query(alias="to", max_length=10, description="YYYY-MM-DD")]
Every = Annotated[str | None, Query(max_length=5, description="week or month (the default)")]

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not signed in, or the second factor is missing"},
    403: {"description": "National figures are the coordinator's"},
    422: {"description": "A bad period: the field (from, to, every) and the reason are given"},
}
Cell = int | float | str | None


class SpanOut(BaseModel):
    from_: date = Field(alias="from", serialization_alias="from")
    to: date


class RowOut(BaseModel):
    key: str
    values: list[Cell]


class TableOut(BaseModel):
    name: str
    columns: list[str]
    rows: list[RowOut]


class NationalOut(BaseModel):
    """The national figures of a period beside the previous one (counts suppressed)."""

    period: SpanOut
    previous: SpanOut
    every: str
    threshold: int
    tables: list[TableOut]


class UnknownTable(NotFound):
    detail = "No table of this name."


def table_out(table: Table) -> TableOut:
    return TableOut(
        name=table.name,
        columns=list(table.columns),
        rows=[RowOut(key=r.key, values=list(r.cells)) for r in table.rows],
    )


def national_out(figures: NationalFigures) -> dict[str, Any]:
    w = figures.window
    out = NationalOut(
        period=SpanOut.model_validate({"from": w.current.start, "to": w.current.end}),
        previous=SpanOut.model_validate({"from": w.before.start, "to": w.before.end}),
        every=w.every.value,
        threshold=figures.threshold,
        tables=[table_out(t) for t in figures.tables],
    )
    return out.model_dump(mode="json", by_alias=True)


def refused(exc: PeriodRefused) -> JSONResponse:
    body = {"detail": [{"loc": ["query", exc.field], "msg": exc.reason, "type": exc.code}]}
    return JSONResponse(body, status_code=422)


@router.get("", response_model=NationalOut, responses=ERRORS)
async def national_figures(
    coordination: Coordination,
    principal: Annotated[Principal, Depends(require(Action.STATS_AGGREGATE_READ))],
    start: Start = None,
    end: End = None,
    every: Every = None,
) -> Response:
    """Reports, hotline, hash banks, helpline, police and referrals: every table, suppressed."""
    try:
        figures = await run_in_threadpool(coordination.figures, principal, start, end, every)
    except PeriodRefused as exc:
        return refused(exc)
    return JSONResponse(national_out(figures))


async def _one_table(
    coordination: CoordinationService,
    principal: Principal,
    name: str,
    query: tuple[str | None, str | None, str | None],
) -> Table | JSONResponse:
    try:
        figures = await run_in_threadpool(coordination.figures, principal, *query)
    except PeriodRefused as exc:
        return refused(exc)
    try:
        return figures.table(name)
    except KeyError:
        raise UnknownTable() from None


TABLE_ERRORS = {**ERRORS, 404: {"description": "No table of this name"}}


@router.get("/tables/{name}.csv", responses=TABLE_ERRORS, response_class=Response)
async def table_csv(
    name: str,
    coordination: Coordination,
    principal: Annotated[Principal, Depends(require(Action.STATS_AGGREGATE_READ))],
    start: Start = None,
    end: End = None,
    every: Every = None,
) -> Response:
    """One table as CSV (a ``row`` column, then the table's columns), suppressed."""
    table = await _one_table(coordination, principal, name, (start, end, every))
    if isinstance(table, JSONResponse):
        return table
    headers = {"Content-Disposition": f'attachment; filename="{table.name}.csv"'}
    return Response(as_csv(table), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/tables/{name}.json", response_model=TableOut, responses=TABLE_ERRORS)
async def table_json(
    name: str,
    coordination: Coordination,
    principal: Annotated[Principal, Depends(require(Action.STATS_AGGREGATE_READ))],
    start: Start = None,
    end: End = None,
    every: Every = None,
) -> Response:
    """One table as JSON, suppressed."""
    table = await _one_table(coordination, principal, name, (start, end, every))
    if isinstance(table, JSONResponse):
        return table
    return JSONResponse(table_out(table).model_dump(mode="json"))
