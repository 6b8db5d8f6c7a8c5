"""The national figures' rules: periods, buckets and small-count suppression."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from tarcza.coordination.rules import (
    Every,
    Mark,
    Span,
    Sum,
    buckets,
    deduce,
    previous,
    shown,
    snap,
    suppress,
)


def test_a_period_widens_to_whole_weeks_and_months() -> None:
    # 2026-03-04 is a Wednesday; 2026-03-18 too.
    assert snap(date(2026, 3, 4), date(2026, 3, 18), Every.WEEK) == Span(
        date(2026, 3, 2), date(2026, 3, 22)
    )
    assert snap(date(2026, 2, 10), date(2026, 3, 5), Every.MONTH) == Span(
        date(2026, 2, 1), date(2026, 3, 31)
    )


def test_buckets_cover_the_period_exactly() -> None:
    span = Span(date(2026, 1, 1), date(2026, 3, 31))
    months = buckets(span, Every.MONTH)
    assert [(b.start, b.end) for b in months] == [
        (date(2026, 1, 1), date(2026, 1, 31)),
        (date(2026, 2, 1), date(2026, 2, 28)),
        (date(2026, 3, 1), date(2026, 3, 31)),
    ]
    weeks = buckets(snap(date(2026, 3, 2), date(2026, 3, 15), Every.WEEK), Every.WEEK)
    assert len(weeks) == 2 and all(w.days == 7 for w in weeks)


def test_the_previous_period_has_as_many_buckets_just_before() -> None:
    assert previous(Span(date(2026, 3, 1), date(2026, 4, 30)), Every.MONTH) == Span(
        date(2026, 1, 1), date(2026, 2, 28)
    )
    assert previous(Span(date(2026, 3, 2), date(2026, 3, 15)), Every.WEEK) == Span(
        date(2026, 2, 16), date(2026, 3, 1)
    )


def test_a_small_count_shows_as_below_the_threshold_and_zero_as_zero() -> None:
    assert shown(3, Mark.PRIMARY) == "<5"
    assert shown(12, Mark.SECONDARY) == "x"
    assert shown(0, None) == 0
    assert shown(7, None, 10) == 7


def test_one_small_part_takes_the_next_smallest_with_it() -> None:
    values = {"t": 23, "a": 3, "b": 8, "c": 12, "d": 0}
    marks = suppress(values, [Sum("t", ("a", "b", "c", "d"))])
    assert marks == {"a": Mark.PRIMARY, "b": Mark.SECONDARY}


def test_a_part_pinned_by_its_bounds_is_protected_too() -> None:
    # a alone hidden in its sum is the total less b: b goes too, and a stays 1..4.
    values = {"t": 6, "a": 1, "b": 5}
    marks = suppress(values, [Sum("t", ("a", "b"))])
    bounds = deduce(values, [Sum("t", ("a", "b"))], marks)
    assert bounds["a"][0] < bounds["a"][1]


def test_two_small_parts_adding_to_their_minimum_are_protected() -> None:
    # 1 + 1 = 2 with both shown "<5": the reader would know both are 1.
    values = {"t": 30, "a": 1, "b": 1, "c": 28}
    marks = suppress(values, [Sum("t", ("a", "b", "c"))])
    assert "c" in marks or "t" in marks
    assert _recovered(values, [Sum("t", ("a", "b", "c"))], marks) == set()


def test_a_small_total_of_small_parts_is_withheld() -> None:
    # 4 = 1 + 1 + 1 + 1 with all five "<5" would say every part is 1: the total becomes "x".
    values = {"t": 4, "a": 1, "b": 1, "c": 1, "d": 1}
    marks = suppress(values, [Sum("t", ("a", "b", "c", "d"))])
    assert marks["t"] is Mark.SECONDARY
    assert _recovered(values, [Sum("t", ("a", "b", "c", "d"))], marks) == set()


def test_a_small_total_is_hidden_with_its_parts() -> None:
    values = {"t": 3, "a": 3, "b": 0}
    marks = suppress(values, [Sum("t", ("a", "b"))])
    assert marks["t"] is Mark.PRIMARY and marks["a"] is Mark.PRIMARY


# --- the property: nothing hidden comes back by total-minus-parts ---------------------------


def _recovered(values: dict[str, int], sums: list[Sum], marks: dict[str, Mark]) -> set[str]:
    """The small counts a reader recovers: repeatedly solve every sum with one unknown left.

    Written apart from the rules' own deduction: a plain total-minus-parts attacker, plus the
    interval reasoning (a ``<5`` count is 1..4) of the rules' ``deduce``.
    """
    known = {k: v for k, v in values.items() if k not in marks}
    progress = True
    while progress:
        progress = False
        for line in sums:
            unknown = [k for k in line.keys if k not in known]
            if len(unknown) != 1:
                continue
            (key,) = unknown
            parts = sum(known[p] for p in line.parts if p != key)
            known[key] = known[line.total] - parts if key != line.total else parts
            progress = True
    small = {k for k, mark in marks.items() if mark is Mark.PRIMARY}
    by_difference = {k for k in small if k in known}
    bounds = deduce(values, sums, marks)
    pinned = {k for k in small if bounds[k][0] == bounds[k][1]}
    return by_difference | pinned


@st.composite
def tables(draw: st.DrawFn) -> tuple[dict[str, int], list[Sum]]:
    """A table of any shape with row, column and grand totals; small counts are common."""
    rows = draw(st.integers(1, 5))
    cols = draw(st.integers(1, 5))
    cell = st.one_of(st.integers(0, 6), st.integers(0, 60))
    grid = [[draw(cell) for _ in range(cols)] for _ in range(rows)]
    values = {f"c{r}.{c}": grid[r][c] for r in range(rows) for c in range(cols)}
    sums = []
    for r in range(rows):
        values[f"r{r}"] = sum(grid[r])
        sums.append(Sum(f"r{r}", tuple(f"c{r}.{c}" for c in range(cols))))
    for c in range(cols):
        values[f"k{c}"] = sum(grid[r][c] for r in range(rows))
        sums.append(Sum(f"k{c}", tuple(f"c{r}.{c}" for r in range(rows))))
    values["g"] = sum(values[f"r{r}"] for r in range(rows))
    sums.append(Sum("g", tuple(f"r{r}" for r in range(rows))))
    sums.append(Sum("g", tuple(f"k{c}" for c in range(cols))))
    return values, sums


@settings(max_examples=300, deadline=None)
@given(tables())
def test_no_hidden_count_is_recovered_by_total_minus_parts(
    table: tuple[dict[str, int], list[Sum]],
) -> None:
    values, sums = table
    marks = suppress(values, sums)
    assert {k for k, v in values.items() if 0 < v < 5} <= set(marks)
    assert _recovered(values, sums, marks) == set()


@st.composite
def trends(draw: st.DrawFn) -> tuple[dict[str, int], list[Sum]]:
    """A period total that is both the sum of its buckets and of its breakdown."""
    n_buckets = draw(st.integers(1, 6))
    n_parts = draw(st.integers(1, 5))
    count = st.integers(0, 12)
    bucket_values = [draw(count) for _ in range(n_buckets)]
    total = sum(bucket_values)
    parts = draw(st.lists(count, min_size=n_parts, max_size=n_parts))
    parts[-1] = max(0, total - sum(parts[:-1]))
    total = max(total, sum(parts))
    bucket_values[-1] += total - sum(bucket_values)
    values = {"t": total}
    values.update({f"b{i}": v for i, v in enumerate(bucket_values)})
    values.update({f"p{i}": v for i, v in enumerate(parts)})
    sums = [
        Sum("t", tuple(f"b{i}" for i in range(n_buckets))),
        Sum("t", tuple(f"p{i}" for i in range(n_parts))),
    ]
    return values, sums


@settings(max_examples=300, deadline=None)
@given(trends())
def test_trend_buckets_and_breakdowns_share_the_period_total_safely(
    table: tuple[dict[str, int], list[Sum]],
) -> None:
    values, sums = table
    marks = suppress(values, sums)
    assert _recovered(values, sums, marks) == set()
