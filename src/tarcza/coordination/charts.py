"""Server-drawn SVG bar charts of the published tables (no script, same numbers as the table).

A chart is groups of horizontal bars: for a table of periods, a group per row with a bar for
the current period and one for the previous; for a trend, a group per bucket with a bar per
series. Each series has its own colour, named in the legend drawn inside the SVG and beside
it. A withheld value draws no bar, only its text (``<5`` or ``x``). Coordinates are SVG user
units in a WIDTH-wide box the page scales to its width.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tarcza.coordination.tables import Shown, Table

WIDTH, LEFT, RIGHT, BAR, GAP, TOP = 480, 150, 44, 15, 10, 8
LEGEND_LINE, PER_LINE = 20, 2
# Distinct hues, each at least 4.5:1 against white (WCAG AA for text and marks), and told
# apart by the legend's words as well as by colour.
PALETTE = ("#1f5fa8", "#a14f00", "#1b7a3a", "#7b3294", "#b2182b", "#4d4d4d")
# The columns each kind of table charts (others: every column but "total").
CHART_COLUMNS = {
    "hotline_removal": ("median_seconds", "p90_seconds"),
    "child_in_danger_acknowledgement": ("median_seconds", "p90_seconds"),
    "police_acknowledgement": ("median_seconds", "p90_seconds"),
    "hash_banks": ("size", "evidence_matches"),
}
HOURS = frozenset({"median_seconds", "p90_seconds"})


def series_of(table: Table) -> tuple[list[str], list[tuple[str, list[tuple[str, Shown]]]]]:
    """(series, groups): what the chart draws from the table, before scaling."""
    if table.chart == "trend":
        buckets = [c for c in table.columns if c != "total"]
        series = [row.key for row in table.rows]
        groups = [
            (b, [(row.key, row.cells[table.columns.index(b)]) for row in table.rows])
            for b in buckets
        ]
        return series, groups
    columns = list(CHART_COLUMNS.get(table.name, [c for c in table.columns if c != "total"]))
    groups = [
        (row.key, [(c, _in_hours(c, row.cells[table.columns.index(c)])) for c in columns])
        for row in table.rows
        if row.key != "total"
    ]
    return columns, groups


def _in_hours(column: str, value: Shown) -> Shown:
    if column in HOURS and isinstance(value, int | float):
        return round(value / 3600, 1)
    return value


def chart(table: Table, label: Callable[[str], str]) -> dict[str, Any]:
    """The bars, texts and legend of one table's chart; ``label`` names a key for people."""
    series, groups = series_of(table)
    numbers = [v for _, cells in groups for _, v in cells if isinstance(v, int | float)]
    top = max([1.0, *numbers])
    span = WIDTH - LEFT - RIGHT
    colours = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(series)}
    group_height = len(series) * BAR + GAP
    legend_y = TOP + len(groups) * group_height + 14
    bars, texts, names = [], [], []
    for g, (key, cells) in enumerate(groups):
        y0 = TOP + g * group_height
        names.append({"y": y0 + len(series) * BAR / 2 + 4, "text": label(key)})
        for s, (name, value) in enumerate(cells):
            y = y0 + s * BAR
            length = span * value / top if isinstance(value, int | float) else 0.0
            if length:
                title = f"{label(key)}, {label(name)}: {value}"
                bars.append({"x": LEFT, "y": y, "w": round(length, 2), "h": BAR - 2,
                             "colour": colours[name], "title": title})  # fmt: skip
            shown = "—" if value is None else str(value)
            texts.append({"x": round(LEFT + length + 4, 2), "y": y + BAR - 4, "text": shown})
    legend = [  # two to a line
        {
            "x": 8 + (i % PER_LINE) * (WIDTH // PER_LINE),
            "y": legend_y + (i // PER_LINE) * LEGEND_LINE,
            "colour": colours[s],
            "text": label(s),
        }
        for i, s in enumerate(series)
    ]
    lines = -(-len(series) // PER_LINE)
    return {
        "width": WIDTH,
        "height": legend_y + lines * LEGEND_LINE,
        "left": LEFT,
        "bars": bars,
        "texts": texts,
        "names": names,
        "legend": legend,
        "hours": any(c in HOURS for c in series),
    }
