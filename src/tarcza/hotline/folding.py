"""Folding reported URLs into content items, across reports and over time.

Called inside the intake's transaction (the composition root hands ``fold_report_urls`` to the
intake service), so a report and its items are committed together. Concurrent reports of the
same new URL both succeed: the item is inserted with ON CONFLICT DO NOTHING and then read back.

Many reports naming one URL must not queue on its row: a report takes no lock on an item it
folds into, except once per ``LAST_REPORTED_GRAIN`` when it moves ``last_reported_at`` on (so
that column is exact to that grain; the exact moments are the links' ``reported_at``). On
PostgreSQL a URL costs one statement: find or insert the item, link the report, and move the
time on, together (issue 16).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tarcza.hotline import urls
from tarcza.hotline.models import ContentItem, ItemAction, ItemReport, ItemTrace
from tarcza.hotline.rules import ItemState
from tarcza.store import driver

OPEN = ItemState.OPEN.value
# How stale an item's last_reported_at may be before a report moves it on (and locks the row).
LAST_REPORTED_GRAIN = timedelta(minutes=1)

# Find the item (or insert it), link the report, move last_reported_at on when it is stale: one
# round trip. When a concurrent transaction inserts the same new item, ``found`` (this
# statement's snapshot) misses it and the insert does nothing: no row comes back, and the
# caller falls back to statements that each see the latest commit.
_FOLD_PG = text(
    """
    WITH found AS (SELECT id, last_reported_at FROM content_items WHERE url_key = :url_key),
    ins AS (
        INSERT INTO content_items (url_key, url, host, state, first_reported_at, last_reported_at)
        SELECT :url_key, :url, :host, :state, :now, :now
        WHERE NOT EXISTS (SELECT 1 FROM found)
        ON CONFLICT (url_key) DO NOTHING
        RETURNING id
    ),
    item AS (SELECT id FROM found UNION ALL SELECT id FROM ins),
    moved AS (
        UPDATE content_items SET last_reported_at = :now
        WHERE id IN (SELECT id FROM found WHERE last_reported_at < :stale)
        AND last_reported_at < :stale
    ),
    link AS (
        INSERT INTO content_item_reports (item_id, report_id, url_as_reported, reported_at)
        SELECT id, :report_id, :raw, :now FROM item
        RETURNING item_id
    )
    SELECT item_id FROM link
    """
)
_FOLD_PG_DRIVER = str(_FOLD_PG.compile(dialect=postgresql.psycopg.dialect()))  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class ItemSummary:
    """A content item as the analyst sees it beside a report."""

    id: int
    url: str
    url_as_reported: str
    state: str
    reports: int
    first_reported_at: datetime
    removed_at: datetime | None
    # What the hotline found and did: its standing classification, the hosting country of the
    # latest trace, and the notices and forwards sent for it.
    classification: str | None = None
    hosting_country: str | None = None
    notices_sent: int = 0


def fold_report_urls(
    session: Session,
    report_id: int,
    reported: Iterable[str],
    now: datetime,
    tracking: AbstractSet[str] = urls.DEFAULT_TRACKING,
) -> list[int]:
    """Link a report to the content item of each of its URLs (creating new items).

    A URL the hotline cannot act on (not http(s), no host) is left on the report
    only. Returns the item ids, in the order of the URLs, without repeats.
    """
    items: list[int] = []
    keys: set[str] = set()
    postgres = session.get_bind().dialect.name == "postgresql"
    for raw in reported:
        try:
            canonical = urls.normalise(raw, tracking)
        except urls.UrlRefused:
            continue
        url_key = urls.key(canonical)
        if url_key in keys:  # another spelling of a URL already linked
            continue
        keys.add(url_key)
        item_id = _fold_pg(session, canonical, url_key, report_id, raw, now) if postgres else None
        if item_id is None:
            item_id = _item_for(session, canonical, url_key, now)
            session.add(
                ItemReport(
                    item_id=item_id, report_id=report_id, url_as_reported=raw, reported_at=now
                )
            )
        items.append(item_id)
    return items


def _values(canonical: urls.NormalisedUrl, url_key: str, now: datetime) -> dict[str, object]:
    return {
        "url_key": url_key,
        "url": canonical.url,
        "host": canonical.host[:255],
        "state": OPEN,
        "now": now,
    }


def _fold_pg(
    session: Session,
    canonical: urls.NormalisedUrl,
    url_key: str,
    report_id: int,
    raw: str,
    now: datetime,
) -> int | None:
    """The item id, linked to the report in one statement; None when a race needs the slow way."""
    params = _values(canonical, url_key, now) | {
        "report_id": report_id,
        "raw": raw,
        "stale": now - LAST_REPORTED_GRAIN,
    }
    # Straight to the driver: SQLAlchemy's execution cost more CPU than the statement (issue 16).
    rows = driver.fetch(session, _FOLD_PG_DRIVER, params)
    return int(rows[0][0]) if rows else None


def _item_for(session: Session, canonical: urls.NormalisedUrl, url_key: str, now: datetime) -> int:
    values = _values(canonical, url_key, now)
    row = {k: v for k, v in values.items() if k != "now"}
    row |= {"first_reported_at": now, "last_reported_at": now}
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(ContentItem).values(**row).on_conflict_do_nothing())
    item_id = session.scalars(select(ContentItem.id).where(ContentItem.url_key == url_key)).one()
    session.execute(
        update(ContentItem)
        .where(ContentItem.id == item_id, ContentItem.last_reported_at < now - LAST_REPORTED_GRAIN)
        .values(last_reported_at=now)
    )
    return item_id


def items_of_report(session: Session, report_id: int) -> list[ItemSummary]:
    """The content items a report names, with how often each was reported and its state."""
    counts = (
        select(ItemReport.item_id, func.count(func.distinct(ItemReport.report_id)).label("n"))
        .group_by(ItemReport.item_id)
        .subquery()
    )
    country = (
        select(ItemTrace.country)
        .where(ItemTrace.item_id == ContentItem.id)
        .order_by(ItemTrace.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    sent = (
        select(func.count(ItemAction.id))
        .where(ItemAction.item_id == ContentItem.id, ItemAction.status == "sent")
        .scalar_subquery()
    )
    rows: Sequence[tuple[ContentItem, str, int, str | None, int]] = session.execute(
        select(ContentItem, ItemReport.url_as_reported, counts.c.n, country, sent)
        .join(ItemReport, ItemReport.item_id == ContentItem.id)
        .join(counts, counts.c.item_id == ContentItem.id)
        .where(ItemReport.report_id == report_id)
        .order_by(ItemReport.id)
    ).all()
    return [
        ItemSummary(
            id=item.id,
            url=item.url,
            url_as_reported=as_reported,
            state=item.state,
            reports=int(n),
            first_reported_at=item.first_reported_at,
            removed_at=item.removed_at,
            classification=item.classification,
            hosting_country=where,
            notices_sent=int(n_sent or 0),
        )
        for item, as_reported, n, where, n_sent in rows
    ]
