"""The national figures as published tables: counts laid out, then suppressed all together.

A :class:`Sheet` collects every count of one answer under a key (``reports@current``,
``reports.category.csam@current``, ``reports@2026-03-02`` ...), the sums that tie them (a
total and its breakdown, a period and its trend buckets: the same key wherever the same
quantity appears, so that no table gives away what another hides) and the tables that show
them. :meth:`Sheet.publish` suppresses once over the whole sheet (tarcza.coordination.rules)
and returns plain tables of shown values. Pure: no web or database imports.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from tarcza.coordination import rules

Shown = int | float | str | None


@dataclass(frozen=True)
class Count:
    """A cell showing the count under ``key``."""

    key: str


@dataclass(frozen=True)
class Measure:
    """A figure derived from counts (a median, a share): shown only when they all may be."""

    value: float | None
    needs: tuple[str, ...]


Cell = Count | Measure


@dataclass(frozen=True)
class Row:
    key: str
    cells: tuple[Shown, ...]


@dataclass(frozen=True)
class Table:
    """One published table: its rows by key, its columns by key, every cell as shown."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    chart: str = "bars"  # "bars" (a bar per row and column) or "trend" (a line per row)

    def value(self, row: str, column: str) -> Shown:
        """The shown value of one cell (KeyError when there is none)."""
        for one in self.rows:
            if one.key == row:
                return one.cells[self.columns.index(column)]
        raise KeyError(row)


@dataclass
class _Layout:
    name: str
    columns: tuple[str, ...]
    rows: list[tuple[str, tuple[Cell, ...]]]
    chart: str


@dataclass
class Sheet:
    """Counts, their sums and the tables that show them, for one answer."""

    threshold: int = rules.DEFAULT_THRESHOLD
    values: dict[str, int] = field(default_factory=dict)
    sums: list[rules.Sum] = field(default_factory=list)
    layouts: list[_Layout] = field(default_factory=list)

    def count(self, key: str, value: int) -> Count:
        """Record a count (the same key twice must be the same count)."""
        if self.values.setdefault(key, value) != value:
            raise ValueError(f"{key}: two different counts")
        return Count(key)

    def total(self, total: str, parts: Sequence[str]) -> Count:
        """Record ``total`` as the sum of the counts ``parts`` (already recorded)."""
        value = sum(self.values[p] for p in parts)
        cell = self.count(total, value)
        if parts:
            self.sums.append(rules.Sum(total, tuple(parts)))
        return cell

    def table(
        self,
        name: str,
        columns: Sequence[str],
        rows: Sequence[tuple[str, Sequence[Cell]]],
        chart: str = "bars",
    ) -> None:
        self.layouts.append(_Layout(name, tuple(columns), [(k, tuple(c)) for k, c in rows], chart))

    def publish(self) -> list[Table]:
        """Every table, suppressed over the whole sheet at once."""
        marks = rules.suppress(self.values, self.sums, self.threshold)
        return [
            Table(
                layout.name,
                layout.columns,
                tuple(
                    Row(key, tuple(self._shown(c, marks) for c in cells))
                    for key, cells in layout.rows
                ),
                layout.chart,
            )
            for layout in self.layouts
        ]

    def _shown(self, cell: Cell, marks: dict[str, rules.Mark]) -> Shown:
        if isinstance(cell, Count):
            return rules.shown(self.values[cell.key], marks.get(cell.key), self.threshold)
        counts = [self.values[k] for k in cell.needs]
        if cell.value is None or not counts or min(counts) == 0:
            return None
        if rules.usable(counts, [marks.get(k) for k in cell.needs], self.threshold):
            return cell.value
        return rules.SECONDARY


def as_csv(table: Table) -> str:
    """One table as CSV: a header of ``row`` and the column keys, then a line per row.

    A text that a spreadsheet would run as a formula (a bank named "=HYPERLINK(...)") is
    written with a leading apostrophe.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["row", *table.columns])
    for row in table.rows:
        writer.writerow([_inert(row.key), *("" if v is None else v for v in row.cells)])
    return out.getvalue()


def _inert(text: str) -> str:
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
