"""Hotline tables: content items (one per canonical URL) and the reports that name them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
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
    # The moments the national figures count by are indexed (migration 0016).
    first_reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    last_reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # The standing assessment (copied from item_assessments for the queue and the figures).
    classification: Mapped[str | None] = mapped_column(String(32))
    assessed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # First notice or forward actually sent: the clock for "time to notice".
    noticed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Monitoring: sha256 of the body seen at the first check (the content itself is never kept),
    # the checks made, when the next is due, and when the item was last escalated.
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    checks: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The first "gone" answer of a removal not yet confirmed (hotline.schedule: a second gone
    # answer ``monitor_confirm_hours`` later confirms it; a "present" answer clears it).
    gone_since: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ItemReport(Base):
    """A report naming a content item, with the spelling it used."""

    __tablename__ = "content_item_reports"
    __table_args__ = (UniqueConstraint("item_id", "report_id", name="uq_item_reports_item_report"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    # Indexed by uq_item_reports_item_report, which it leads (0019 dropped its own index).
    item_id: Mapped[int] = mapped_column(
        ForeignKey("content_items.id", ondelete="CASCADE"), nullable=False
    )
    report_id: Mapped[int] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), nullable=False, index=True
    )
    url_as_reported: Mapped[str] = mapped_column(Text, nullable=False)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class ItemAssessment(Base):
    """One analyst's classification of a content item; the latest final one stands.

    ``state`` is ``final`` or ``pending_review`` (a "not illegal" finding waiting for a second
    analyst when the deployment asks for two). A second analyst's assessment names the one it
    reviews in ``reviews_id``.
    """

    __tablename__ = "item_assessments"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    item_id: Mapped[int] = mapped_column(
        ForeignKey("content_items.id", ondelete="CASCADE"), nullable=False, index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    agency: Mapped[str] = mapped_column(String(64), nullable=False)
    classification: Mapped[str] = mapped_column(String(32), nullable=False)
    content_type: Mapped[str] = mapped_column(String(32), nullable=False)
    age_group: Mapped[str] = mapped_column(String(32), nullable=False)
    site_type: Mapped[str] = mapped_column(String(32), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    # The bank label that pre-classified the item when the analyst assessed it, if any.
    bank_label: Mapped[str | None] = mapped_column(String(64))
    reviews_id: Mapped[int | None] = mapped_column(ForeignKey("item_assessments.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class ItemTrace(Base):
    """Where a content item's host pointed when traced: addresses, countries, operators.

    ``addresses`` is JSON: a list of ``{"address", "country", "operator", "network", "local"}``.
    ``country`` is the hosting country the rules used (None when no address had one).
    """

    __tablename__ = "item_traces"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    item_id: Mapped[int] = mapped_column(
        ForeignKey("content_items.id", ondelete="CASCADE"), nullable=False, index=True
    )
    host: Mapped[str] = mapped_column(String(255), nullable=False)
    addresses: Mapped[str] = mapped_column(Text, nullable=False)
    country: Mapped[str | None] = mapped_column(String(2))
    location: Mapped[str] = mapped_column(String(16), nullable=False)
    error: Mapped[str | None] = mapped_column(String(64))
    traced_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)


class ItemAction(Base):
    """One action taken on a content item: a notice, a forward, a referral, an escalation.

    Notices are an outbox: written ``pending`` in the assessment's transaction, then sent by a
    job (hotline.outbox) — so an assessment never waits on a mail server and no notice is lost
    if one is down. The job commits ``sending`` with the row's one ``message_id`` and a lease
    before the hand-off and ``sent`` after it; a ``sending`` row whose lease ran out was
    interrupted between the two and is sent again with the same ``message_id``. A passing
    failure leaves it ``pending`` until ``next_try_at``; a lasting one marks it ``failed``.
    """

    __tablename__ = "item_actions"
    # The forwards of a period, for the national figures (migration 0016).
    __table_args__ = (Index("ix_item_actions_action_created_at", "action", "created_at"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    item_id: Mapped[int] = mapped_column(
        ForeignKey("content_items.id", ondelete="CASCADE"), nullable=False, index=True
    )
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    # An e-mail address, an agency code, or None (second review, escalation to supervisors).
    recipient: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    # 1 for the first notice, 2… for each re-sent one after an escalation.
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Generated once, before the first hand-off: every copy of this notice carries it.
    message_id: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Hand-offs to the mail server so far, the last failure's reason, when to try again.
    tries: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    next_try_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # While ``sending``: past this moment the sender is presumed dead and the notice re-sent.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ItemCheck(Base):
    """One re-check of an actioned URL: what was seen, never what was fetched."""

    __tablename__ = "item_checks"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    item_id: Mapped[int] = mapped_column(
        ForeignKey("content_items.id", ondelete="CASCADE"), nullable=False, index=True
    )
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    http_status: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(String(255))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
