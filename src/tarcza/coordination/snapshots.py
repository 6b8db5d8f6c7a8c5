"""Each window's published figures kept as a snapshot (tarcza.coordination.models).

A snapshot holds the suppressed tables only, as JSON: what the page and the API show.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tarcza.coordination.layout import Window
from tarcza.coordination.models import FigureSnapshot
from tarcza.coordination.rules import Every, Span, buckets, previous
from tarcza.coordination.tables import Row, Table

ASKED_WITHIN = timedelta(days=1)  # the worker refreshes the windows asked for this recently


def key_of(window: Window, threshold: int) -> str:
    """The snapshot's key: ``<from>:<to>:<every>:<threshold>``."""
    span = window.current
    return f"{span.start.isoformat()}:{span.end.isoformat()}:{window.every.value}:{threshold}"


def window_of_key(key: str) -> tuple[Window, int]:
    """The window and threshold a key names."""
    start, end, every, threshold = key.split(":")
    cut = Every(every)
    span = Span(date.fromisoformat(start), date.fromisoformat(end))
    return Window(span, previous(span, cut), cut, tuple(buckets(span, cut))), int(threshold)


def dump(tables: tuple[Table, ...]) -> dict[str, Any]:
    return {
        "tables": [
            {"name": t.name, "columns": list(t.columns), "chart": t.chart,
             "rows": [[r.key, list(r.cells)] for r in t.rows]}
            for t in tables
        ]
    }  # fmt: skip


def load(body: dict[str, Any]) -> tuple[Table, ...]:
    return tuple(
        Table(
            t["name"],
            tuple(t["columns"]),
            tuple(Row(k, tuple(c)) for k, c in t["rows"]),
            t["chart"],
        )
        for t in body["tables"]
    )


def fresh(
    session: Session, key: str, now: datetime, max_age: timedelta
) -> tuple[Table, ...] | None:
    """The snapshot's tables when younger than ``max_age`` (and mark it asked for)."""
    row = session.get(FigureSnapshot, key)
    if row is None or now - row.computed_at > max_age:
        return None
    if now - row.asked_at > timedelta(minutes=1):  # one write a minute at most
        row.asked_at = now
    return load(row.body)


def keep(session: Session, key: str, tables: tuple[Table, ...], now: datetime) -> None:
    """Store (or replace) a window's snapshot; a concurrent writer's copy is as good."""
    try:
        with session.begin_nested():
            session.execute(delete(FigureSnapshot).where(FigureSnapshot.span_key == key))
            session.add(FigureSnapshot(span_key=key, body=dump(tables), computed_at=now,
                                       asked_at=now))  # fmt: skip
    except IntegrityError:
        pass


def due(session: Session, now: datetime, max_age: timedelta) -> list[str]:
    """The windows asked for within a day whose snapshot is older than half ``max_age``."""
    rows = session.execute(
        select(FigureSnapshot.span_key).where(
            FigureSnapshot.asked_at >= now - ASKED_WITHIN,
            FigureSnapshot.computed_at <= now - max_age / 2,
        )
    )
    return [key for (key,) in rows]


def forget_old(session: Session, now: datetime) -> None:
    """Drop the snapshots nobody asked for within a day."""
    session.execute(delete(FigureSnapshot).where(FigureSnapshot.asked_at < now - ASKED_WITHIN))
