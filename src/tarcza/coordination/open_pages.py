"""Quarterly open data, public without sign-in: ``/open-data`` and each quarter's files.

``/open-data`` lists the finished quarters (Polish or English); ``/open-data/2026-Q3/
datapackage.json`` describes the quarter's tables (tarcza.coordination.opendata), each at
``/open-data/2026-Q3/<table>.csv`` and ``.json``. Aggregates only, suppressed as the
coordinator's page shows them. A quarter's answer is kept as the figures' snapshot (counting
a national quarter is the database's work for most of a second).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from tarcza.coordination import opendata
from tarcza.coordination.opendata import Quarter
from tarcza.coordination.pages import SECTIONS
from tarcza.coordination.service import CoordinationService, NationalFigures
from tarcza.coordination.tables import as_csv
from tarcza.store.base import utcnow
from tarcza.web.deps import provided
from tarcza.web.render import render

router = APIRouter(include_in_schema=False)

Coordination = Annotated[CoordinationService, Depends(provided(CoordinationService))]
TITLES = {name: title for _, tables in SECTIONS for name, title in tables}
CACHE = {"Cache-Control": "public, max-age=3600"}


async def _figures(coordination: CoordinationService, name: str) -> tuple[Quarter, NationalFigures]:
    quarter = opendata.quarter_of(name, utcnow().date())
    figures = await run_in_threadpool(
        coordination.published, quarter.start.isoformat(), quarter.end.isoformat(), "month"
    )
    return quarter, figures


@router.get("/open-data")
async def open_data_index(request: Request, coordination: Coordination) -> Response:
    quarters = opendata.finished(utcnow().date())
    tables = [(name, TITLES[name]) for _, group in SECTIONS for name, _t in group]
    return render(request, "open_data.html", {"quarters": quarters, "tables": tables,
                                              "threshold": coordination.threshold})  # fmt: skip


@router.get("/open-data/{quarter}/datapackage.json")
async def open_data_package(quarter: str, coordination: Coordination) -> Response:
    one, figures = await _figures(coordination, quarter)
    body = opendata.datapackage(one, figures, TITLES, utcnow())
    return JSONResponse(body, headers=CACHE)


@router.get("/open-data/{quarter}/{table}.csv")
async def open_data_csv(quarter: str, table: str, coordination: Coordination) -> Response:
    _one, figures = await _figures(coordination, quarter)
    shown = opendata.table_named(figures, table)
    headers = {**CACHE, "Content-Disposition": f'attachment; filename="{shown.name}.csv"'}
    return Response(as_csv(shown), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/open-data/{quarter}/{table}.json")
async def open_data_json(quarter: str, table: str, coordination: Coordination) -> Response:
    one, figures = await _figures(coordination, quarter)
    shown = opendata.table_named(figures, table)
    return JSONResponse(opendata.table_json(one, shown, figures.threshold), headers=CACHE)
