"""Alert tables: one alert per report of a child in danger now, and each notification sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tarcza.store.base import Base, UTCDateTime

_ID = BigInteger().with_variant(Integer, "sqlite")


class DangerAlert(Base):
    """A report referred to the duty desk: who was told, who acknowledged, when.

    ``level`` is the roster level last notified (0: the first contact); ``next_escalation_at``
    is when it goes to the next level if no one acknowledges it (None: acknowledged, or the
    last level reached). ``shared_with``: another agency that follows it (the helpline that
    filed the report), beside the report's owner and the duty desk's agency.
    """

    __tablename__ = "danger_alerts"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    referral_id: Mapped[int | None] = mapped_column(
        ForeignKey("referrals.id", ondelete="SET NULL"), nullable=True
    )
    to_agency: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    shared_with: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    level: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    next_escalation_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(40))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AlertNotification(Base):
    """One message to one duty contact (an e-mail, or the webhook), sent at most once.

    Claimed under a lease (``sending`` until ``lease_until``), then ``sent`` or retried at
    ``next_try_at``; an interrupted send goes again with the same ``message_id``.
    """

    __tablename__ = "alert_notifications"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    alert_id: Mapped[int] = mapped_column(
        ForeignKey("danger_alerts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    level: Mapped[int] = mapped_column(Integer, nullable=False)
    channel: Mapped[str] = mapped_column(String(8), nullable=False)
    recipient: Mapped[str] = mapped_column(String(320), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, index=True)
    tries: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    message_id: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    next_try_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
