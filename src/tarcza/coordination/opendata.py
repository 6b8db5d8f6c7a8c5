"""Quarterly open data: the national figures of a finished quarter, suppressed, for anyone.

A quarter's tables are the ones ``/staff/national?from=<quarter's 1st>&to=<its last
day>&every=month`` shows (the same :meth:`CoordinationService.published`, so the same
suppression), keeping the quarter's own columns only: the previous period's columns and rows
are left out (each quarter is published once, as its own period). Every table is a CSV and a
JSON file, described by a Frictionless Data Package (``datapackage.json``, Table Schema per
resource) written here: a suppressed cell is one of the schema's ``missingValues`` (``<5``
from 1 to threshold - 1, ``x`` withheld, empty: nothing to measure).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from tarcza.coordination.service import NationalFigures
from tarcza.coordination.tables import Row, Table
from tarcza.errors import NotFound

_QUARTER = re.compile(r"(\d{4})-Q([1-4])")
KEPT_QUARTERS = 20  # five years back
LISTED_QUARTERS = 8
LICENSE = {
    "name": "CC-BY-4.0",
    "title": "Creative Commons Attribution 4.0",
    "path": "https://creativecommons.org/licenses/by/4.0/",
}
NUMBER_COLUMNS = frozenset({"median_seconds", "p90_seconds", "share"})
DESCRIBED = {
    "row": "What the row counts (a code; 'total' is the sum of the rows above it)",
    "current": "The quarter's count",
    "total": "The sum of the row's columns",
    "size": "Hashes in the bank at the quarter's end",
    "evidence_matches": "Evidence files that matched the bank in the quarter",
    "median_seconds": "Median time in seconds",
    "p90_seconds": "90th percentile time in seconds",
    "share": "Share from 0 to 1",
    "acted_on": "Baseline content items acted on",
    "removed_within_3_days": "Of them, removed within 3 days",
}


class NoSuchQuarter(NotFound):
    detail = "No open data for this quarter: a finished quarter such as 2026-Q3."


@dataclass(frozen=True)
class Quarter:
    year: int
    number: int

    @property
    def name(self) -> str:
        return f"{self.year}-Q{self.number}"

    @property
    def start(self) -> date:
        return date(self.year, 3 * self.number - 2, 1)

    @property
    def end(self) -> date:
        following = self.following.start
        return date.fromordinal(following.toordinal() - 1)

    @property
    def following(self) -> Quarter:
        if self.number == 4:
            return Quarter(self.year + 1, 1)
        return Quarter(self.year, self.number + 1)

    @property
    def before(self) -> Quarter:
        if self.number == 1:
            return Quarter(self.year - 1, 4)
        return Quarter(self.year, self.number - 1)


def finished(today: date, count: int = LISTED_QUARTERS) -> list[Quarter]:
    """The last ``count`` finished quarters, newest first."""
    current = Quarter(today.year, (today.month - 1) // 3 + 1)
    out, one = [], current.before
    for _ in range(count):
        out.append(one)
        one = one.before
    return out


def quarter_of(text: str, today: date) -> Quarter:
    """A finished quarter of the last five years named ``YYYY-Qn``; NoSuchQuarter otherwise."""
    match = _QUARTER.fullmatch(text)
    if not match:
        raise NoSuchQuarter()
    quarter = Quarter(int(match[1]), int(match[2]))
    if quarter not in finished(today, KEPT_QUARTERS):
        raise NoSuchQuarter()
    return quarter


def quarter_table(table: Table) -> Table:
    """The table with the quarter's own columns and rows only (no previous period)."""
    keep = [
        i for i, c in enumerate(table.columns) if c != "previous" and not c.endswith("_previous")
    ]
    rows = tuple(
        Row(r.key, tuple(r.cells[i] for i in keep)) for r in table.rows if r.key != "previous"
    )
    return Table(table.name, tuple(table.columns[i] for i in keep), rows, table.chart)


class NoSuchTable(NotFound):
    detail = "No table of this name: datapackage.json lists them."


def tables(figures: NationalFigures) -> list[Table]:
    return [quarter_table(t) for t in figures.tables]


def table_named(figures: NationalFigures, name: str) -> Table:
    try:
        return quarter_table(figures.table(name))
    except KeyError:
        raise NoSuchTable() from None


def field_of(column: str, threshold: int) -> dict[str, Any]:
    kind = "number" if column in NUMBER_COLUMNS else "integer"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", column):
        description = f"The count of the month starting {column}"
    else:
        description = DESCRIBED.get(column, column.replace("_", " "))
    field: dict[str, Any] = {"name": column, "type": kind, "description": description}
    if kind == "integer":
        field["constraints"] = {"minimum": 0}
    return field


def datapackage(
    quarter: Quarter, figures: NationalFigures, titles: dict[str, str], now: datetime
) -> dict[str, Any]:
    """The quarter's Data Package: one tabular resource (CSV) per table, each with its schema."""
    below = f"<{figures.threshold}"
    resources = []
    for table in tables(figures):
        fields = [{"name": "row", "type": "string", "description": DESCRIBED["row"]}]
        fields += [field_of(c, figures.threshold) for c in table.columns]
        resources.append({
            "name": table.name,
            "title": titles.get(table.name, table.name),
            "path": f"{table.name}.csv",
            "profile": "tabular-data-resource",
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8",
            "schema": {"fields": fields, "primaryKey": ["row"],
                       "missingValues": ["", below, "x"]},
        })  # fmt: skip
    return {
        "profile": "tabular-data-package",
        "name": f"tarcza-national-figures-{quarter.name.lower()}",
        "title": f"National figures on online child sexual exploitation, {quarter.name}",
        "description": (
            f"Aggregates of {quarter.start.isoformat()} to {quarter.end.isoformat()}: no record "
            f"and no person. A count from 1 to {figures.threshold - 1} is published as "
            f"'{below}'; 'x' is a count withheld so that a small one cannot be worked out from "
            "the totals; an empty cell has nothing to measure. Times are in seconds."
        ),
        "version": "1.0.0",
        "created": now.replace(microsecond=0).isoformat(),
        "licenses": [LICENSE],
        "period": {"from": quarter.start.isoformat(), "to": quarter.end.isoformat()},
        "threshold": figures.threshold,
        "resources": resources,
    }


def table_json(quarter: Quarter, table: Table, threshold: int) -> dict[str, Any]:
    """A table as JSON: its rows as objects keyed by the schema's field names."""
    return {
        "name": table.name,
        "period": {"from": quarter.start.isoformat(), "to": quarter.end.isoformat()},
        "threshold": threshold,
        "fields": ["row", *table.columns],
        "rows": [
            {"row": r.key, **dict(zip(table.columns, r.cells, strict=True))} for r in table.rows
        ],
    }
