"""Hotline tables: content items (one per canonical URL) and the reports that name them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tarcza.store.base import Base, UTCDateTime

_ID = BigInteger().with_variant(Integer, "sqlite")


class ContentItem(Base):
    """What a URL serves, once, however many reports name it and however they spell it."""

    __tablename__ = "content_items"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    # sha256 of the canonical URL (hotline.urls.key): the fold key.
    url_key: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    host: Mapped[str] = mapped_column(String(255), nullable=False, index=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    first_reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ItemReport(Base):
    """A report naming a content item, with the spelling it used."""

    __tablename__ = "content_item_reports"
    __table_args__ = (UniqueConstraint("item_id", "report_id", name="uq_item_reports_item_report"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    item_id: Mapped[int] = mapped_column(
        ForeignKey("content_items.id", ondelete="CASCADE"), nullable=False, index=True
    )
    report_id: Mapped[int] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), nullable=False, index=True
    )
    url_as_reported: Mapped[str] = mapped_column(Text, nullable=False)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
