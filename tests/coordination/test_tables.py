"""Published tables: one suppression over the whole sheet, CSV that a spreadsheet cannot run."""

from __future__ import annotations

from tarcza.coordination.tables import Count, Measure, Row, Sheet, Table, as_csv


def test_a_count_shared_by_two_tables_is_hidden_in_both() -> None:
    sheet = Sheet()
    parts = [sheet.count(f"a.{k}", v).key for k, v in (("x", 3), ("y", 9), ("z", 20))]
    sheet.total("t", parts)
    sheet.table("first", ["n"], [("x", [Count("a.x")]), ("total", [Count("t")])])
    sheet.table("second", ["n"], [(k, [Count(f"a.{k}")]) for k in ("x", "y", "z")])
    first, second = sheet.publish()
    assert first.value("x", "n") == "<5" and second.value("x", "n") == "<5"
    assert second.value("y", "n") == "x"  # the next smallest, so 32 - 9 - 20 is not given


def test_a_figure_shows_only_when_its_counts_may() -> None:
    sheet = Sheet()
    sheet.count("few", 3)
    sheet.count("many", 40)
    sheet.table("t", ["median"], [("a", [Measure(7200.0, ("few",))]),
                                  ("b", [Measure(3600.0, ("many",))])])  # fmt: skip
    (table,) = sheet.publish()
    assert table.value("a", "median") == "x"
    assert table.value("b", "median") == 3600.0


def test_the_csv_writes_a_formula_as_text() -> None:
    table = Table("banks", ("size",), (Row("=HYPERLINK(1)", (12,)), Row("PL", ("<5",))))
    assert as_csv(table) == "row,size\r\n'=HYPERLINK(1),12\r\nPL,<5\r\n"
