"""Folding reported URLs into content items, across reports and over time.

Called inside the intake's transaction (the composition root hands ``fold_report_urls`` to the
intake service), so a report and its items are committed together. Concurrent reports of the
same new URL both succeed: the item is inserted with ON CONFLICT DO NOTHING and then read back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tarcza.hotline import urls
from tarcza.hotline.models import ContentItem, ItemAction, ItemReport, ItemTrace
from tarcza.hotline.rules import ItemState

OPEN = ItemState.OPEN.value


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
    for raw in reported:
        try:
            canonical = urls.normalise(raw, tracking)
        except urls.UrlRefused:
            continue
        item_id = _item_for(session, canonical, now)
        if item_id in items:
            continue
        items.append(item_id)
        session.add(
            ItemReport(item_id=item_id, report_id=report_id, url_as_reported=raw, reported_at=now)
        )
    return items


def _item_for(session: Session, canonical: urls.NormalisedUrl, now: datetime) -> int:
    url_key = urls.key(canonical)
    values = {
        "url_key": url_key,
        "url": canonical.url,
        "host": canonical.host[:255],
        "state": OPEN,
        "first_reported_at": now,
        "last_reported_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(ContentItem).values(**values).on_conflict_do_nothing())
    item_id = session.scalars(select(ContentItem.id).where(ContentItem.url_key == url_key)).one()
    session.execute(
        update(ContentItem)
        .where(ContentItem.id == item_id, ContentItem.last_reported_at < now)
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
