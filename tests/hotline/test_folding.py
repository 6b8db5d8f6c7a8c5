"""Folding reported URLs: one item per URL, however many reports name it and however at once."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from tarcza.hotline.folding import LAST_REPORTED_GRAIN, fold_report_urls
from tarcza.hotline.models import ContentItem, ItemReport
from tarcza.intake.models import Report
from tarcza.store.engine import Database

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
_REFERENCES = itertools.count(1)


def report(db: Database, urls: list[str], at: datetime) -> list[int]:
    """A new report naming ``urls`` at ``at``, folded in its own transaction."""
    with db.transaction() as session:
        row = Report(
            reference=f"TZ-F{next(_REFERENCES):07d}",
            pin_hash="0" * 64,
            category="csam",
            status="received",
            priority=0,
            owner_agency="hotline",
            child_in_danger=False,
            language="pl",
            source="web",
            urls=urls,
            created_at=at,
            updated_at=at,
        )
        session.add(row)
        session.flush()
        return fold_report_urls(session, row.id, urls, at)


def test_spellings_fold_into_one_item_linked_once_per_report(db: Database) -> None:
    first = report(db, ["https://Example.com/a", "https://example.com/a?utm_source=x"], T0)
    second = report(db, ["https://example.com/b", "https://example.com/a"], T0)
    assert len(first) == 1
    assert second[1] == first[0] and second[0] != first[0]
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(ContentItem)) == 2
        links = session.execute(select(ItemReport.item_id, ItemReport.url_as_reported)).all()
    assert sorted(links) == sorted(
        [
            (first[0], "https://Example.com/a"),
            (second[0], "https://example.com/b"),
            (first[0], "https://example.com/a"),
        ]
    )


def test_last_reported_moves_on_once_per_grain(db: Database) -> None:
    (item,) = report(db, ["https://example.com/c"], T0)
    report(db, ["https://example.com/c"], T0 + LAST_REPORTED_GRAIN / 2)
    with db.reading() as session:
        assert session.get(ContentItem, item).last_reported_at == T0  # type: ignore[union-attr]
    later = T0 + LAST_REPORTED_GRAIN + timedelta(seconds=1)
    report(db, ["https://example.com/c"], later)
    with db.reading() as session:
        row = session.get(ContentItem, item)
        assert row is not None
        assert (row.first_reported_at, row.last_reported_at) == (T0, later)


def test_concurrent_reports_of_one_new_url_share_its_item(db: Database) -> None:
    start = threading.Barrier(8)
    found: list[list[int]] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            start.wait()
            found.append(report(db, ["https://example.com/new"], T0))
        except Exception as exc:  # noqa: BLE001 - shown by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({tuple(f) for f in found}) == 1 and len(found) == 8
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(ContentItem)) == 1
        assert session.scalar(select(func.count()).select_from(ItemReport)) == 8
