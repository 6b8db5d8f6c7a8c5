"""The monthly report drawn as a PDF with fpdf2 in Noto Sans (as cases.evidence_pdf does).

Each table of the national figures as on the page (``<5`` and ``x`` as published), with the
difference between the month and the one before where both are shown, and a bar chart drawn
with fpdf2's rectangles: one colour per series, named in the legend under it. Words come from
the page's gettext catalogues, so the Polish and English reports say what the page says.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from importlib.resources import as_file, files
from typing import Any

from tarcza.coordination.charts import PALETTE, series_of
from tarcza.coordination.pages import SECTIONS, labeller
from tarcza.coordination.service import NationalFigures
from tarcza.coordination.tables import Shown, Table
from tarcza.coordination.tracker import Tracker
from tarcza.web import i18n
from tarcza.web.i18n import N_

FONT_PACKAGE, FONT_FILE = "fontpkg_noto_sans", "NotoSans[wdth,wght].ttf"
EVIDENCE_EXCERPT = 280
PHASES = {1: N_("building"), 2: N_("developing"), 3: N_("established"), 4: N_("mature")}
FIELDS = {"evidence": N_("evidence"), "phase": N_("phase"), "state": N_("state"),
          "due": N_("due day"), "title": N_("title"), "owner": N_("owner")}  # fmt: skip
# The headline figures whose change opens the report: (table, row, column of the month).
HEADLINES = (
    ("reports_by_category", "total"),
    ("child_in_danger", "reports"),
    ("hotline_items", "assessed"),
    ("helpline_contacts_by_channel", "total"),
    ("police_referrals", "total"),
)


def _safe(text: str) -> str:
    """Noto Sans has no arrow: the page's "hotline → police" reads "hotline -> police"."""
    return text.replace("→", "->")


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _text(value: Shown) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def _shown(column: str, value: Shown) -> str:
    """A cell as the page words it: times in hours, a share in per cent."""
    if isinstance(value, int | float) and column.endswith("_seconds"):
        return f"{value / 3600:.1f} h"
    if isinstance(value, int | float) and column == "share":
        return f"{round(value * 100)}%"
    return _text(value)


def _delta(current: Shown, previous: Shown) -> str:
    if isinstance(current, int | float) and isinstance(previous, int | float):
        change = current - previous
        return f"{'+' if change > 0 else ''}{_text(change)}"
    return "—"


class _Pdf:
    def __init__(self, title: str) -> None:
        from fpdf import FPDF

        pdf = FPDF(format="A4")
        pdf.set_auto_page_break(auto=True, margin=15)
        pdf.set_margins(15, 15, 15)
        with as_file(files(FONT_PACKAGE) / "files" / FONT_FILE) as path:
            pdf.add_font("Noto", "", str(path))
        pdf.set_title(title)
        pdf.set_creator("tarcza")
        pdf.add_page()
        self.pdf = pdf

    def heading(self, text: str, size: int = 13) -> None:
        self.pdf.ln(3)
        self.pdf.set_font("Noto", "", size)
        self.pdf.multi_cell(0, size * 0.5, _safe(text), new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(1)

    def line(self, text: str, size: int = 9) -> None:
        self.pdf.set_font("Noto", "", size)
        self.pdf.multi_cell(0, size * 0.5, _safe(text), new_x="LMARGIN", new_y="NEXT")

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        pdf = self.pdf
        pdf.set_font("Noto", "", 8)
        pdf.set_fill_color(255, 255, 255)
        with pdf.table(
            col_widths=(3, *([1.4] * (len(header) - 1))),
            text_align=("LEFT", *(["RIGHT"] * (len(header) - 1))),
            line_height=4.5,
            first_row_as_headings=False,
        ) as grid:
            for cells in [header, *rows]:
                grid.row([_safe(c) for c in cells])
        pdf.ln(2)

    def chart(self, table: Table, label: Callable[[str], str]) -> None:
        """Horizontal bars per group (row or bucket), a colour per series, and the legend."""
        series, groups = series_of(table)
        numbers = [v for _, cells in groups for _, v in cells if isinstance(v, int | float)]
        if not numbers or not groups:
            return
        pdf = self.pdf
        bar, gap, left, width = 3.2, 2.0, 60.0, 100.0
        needed = len(groups) * (len(series) * bar + gap) + 8 + 5 * len(series)
        if pdf.get_y() + needed > pdf.h - 15:
            pdf.add_page()
        top, y = max(1.0, *numbers), pdf.get_y()
        colours = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(series)}
        pdf.set_font("Noto", "", 7)
        for key, cells in groups:
            pdf.set_xy(15, y)
            pdf.cell(left - 17, len(series) * bar, _safe(label(key))[:34], align="R")
            for s, (name, value) in enumerate(cells):
                length = width * value / top if isinstance(value, int | float) else 0.0
                if length > 0:
                    pdf.set_fill_color(*_rgb(colours[name]))
                    pdf.rect(left, y + s * bar, length, bar - 0.6, style="F")
                pdf.set_xy(left + length + 1, y + s * bar - 0.4)
                pdf.cell(20, bar, _text(value))
            y += len(series) * bar + gap
        for one in series:  # the legend: a swatch of each colour and its words
            pdf.set_fill_color(*_rgb(colours[one]))
            pdf.rect(left, y + 1, 4, 3, style="F")
            pdf.set_xy(left + 5, y + 0.5)
            pdf.cell(100, 4, _safe(label(one)))
            y += 5
        pdf.set_fill_color(255, 255, 255)
        pdf.set_y(y + 2)

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def _month_name(first: date, language: str) -> str:
    from babel.dates import format_date

    return format_date(first, "LLLL y", locale=language)


def report_pdf(
    figures: NationalFigures, tracker: Tracker, first: date, language: str, now: datetime
) -> bytes:
    """The monthly report of ``figures`` (a month beside the one before) in ``language``."""
    tr = i18n.translator(language)
    _ = tr.gettext
    title = tr.format(N_("Monthly report: national figures, {month}"),
                      month=_month_name(first, language))  # fmt: skip
    doc = _Pdf(title)
    doc.heading(title, 16)
    doc.line(_("For the interministerial team of the national response."))
    doc.line(tr.format(N_("Made {when} (UTC). Counts from 1 to {below} show as <{threshold}; "
                          "x is withheld so that a small count cannot be worked out."),
                       when=now.strftime("%Y-%m-%d %H:%M"), below=figures.threshold - 1,
                       threshold=figures.threshold))  # fmt: skip
    _changes(doc, figures, tracker, _)
    for section, tables in SECTIONS:
        doc.heading(_(section), 14)
        for name, table_title in tables:
            table = figures.table(name)
            if table.chart == "trend":
                continue  # a month is one bucket: the trend says what the table says
            label = labeller(name, _)
            doc.heading(_(table_title), 11)
            header, rows = _grid(table, label, _)
            doc.table(header, rows)
            doc.chart(table, label)
    _tracker(doc, tracker, language, _)
    return doc.output()


def _grid(table: Table, label: Callable[[str], str], _: Callable[[str], str]) -> tuple[
    list[str], list[list[str]]
]:  # fmt: skip
    """The table's header and rows as text, with the month's change where it has periods."""
    columns = list(table.columns)
    periods = columns[:2] == ["current", "previous"]
    header = ["", *(label(c) for c in columns), *([_("Difference")] if periods else [])]
    rows = []
    for row in table.rows:
        cells = [_shown(c, v) for c, v in zip(columns, row.cells, strict=True)]
        if periods:
            cells.append(_delta(row.cells[0], row.cells[1]))
        rows.append([label(row.key), *cells])
    return header, rows


def _changes(doc: _Pdf, figures: NationalFigures, tracker: Tracker, _: Any) -> None:
    doc.heading(_("What changed since the last report"))
    for name, row in HEADLINES:
        table = figures.table(name)
        now, before = table.value(row, "current"), table.value(row, "previous")
        title = next(t for _s, ts in SECTIONS for n, t in ts if n == name)
        doc.line(f"{_(title)}: {_text(now)} ({_('before')}: {_text(before)}, "
                 f"{_('change')}: {_delta(now, before)})")  # fmt: skip
    doc.heading(_("The tracker's changes this month"), 11)
    if not tracker.changes:
        doc.line(_("None."))
    for c in tracker.changes:
        if c.action and c.old is None and c.field != "title":
            continue  # a new action: its title line says so
        if c.action and c.old is None:
            doc.line(f"{c.at:%Y-%m-%d} · {c.capability} · {_('new action')}: {c.new} ({c.agency})")
            continue
        what = _(FIELDS.get(c.field, c.field))
        change = _("updated") if c.field == "evidence" else f"{c.old or '—'} → {c.new or '—'}"
        about = f" «{c.action}»" if c.action else ""
        doc.line(f"{c.at:%Y-%m-%d} · {c.capability}{about} · {what}: {change} ({c.agency})")


def _tracker(doc: _Pdf, tracker: Tracker, language: str, _: Any) -> None:
    doc.pdf.add_page()
    doc.heading(_("The Model National Response tracker"), 14)
    for c in tracker.capabilities:
        name = c.name_pl if language == "pl" else c.name_en
        phase = f"{_('Phase')} {c.phase} ({_(PHASES.get(c.phase, str(c.phase)))})"
        doc.heading(f"{c.number}. {name}", 10)
        overdue = tr_count(_, c.open_actions, len(c.overdue))
        doc.line(f"{phase} · {overdue}")
        for title in c.overdue:
            doc.line(f"  ! {title}", 8)
        excerpt = c.evidence.strip()
        if len(excerpt) > EVIDENCE_EXCERPT:
            excerpt = excerpt[:EVIDENCE_EXCERPT].rsplit(" ", 1)[0] + " …"
        doc.line(f"{_('Evidence')}: {excerpt or '—'}", 8)


def tr_count(_: Callable[[str], str], open_actions: int, overdue: int) -> str:
    return f"{_('Open actions')}: {open_actions}, {_('overdue')}: {overdue}"
