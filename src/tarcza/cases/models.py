"""Casework tables: referrals between agencies and who works a report."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tarcza.store.base import Base, UTCDateTime

_ID = BigInteger().with_variant(Integer, "sqlite")


class Referral(Base):
    """A report handed from one agency to another, with a reason and an answer.

    Reasons are free text written by staff and may name people: sealed.
    """

    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), nullable=False, index=True
    )
    from_agency: Mapped[str] = mapped_column(String(32), nullable=False)
    to_agency: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    reason_sealed: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_by: Mapped[str] = mapped_column(String(40), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    answer_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    answered_by: Mapped[str | None] = mapped_column(String(40))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Assignment(Base):
    """Who in an agency works a report (one person per agency and report)."""

    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("report_id", "agency", name="uq_assignments_report_agency"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), nullable=False
    )
    agency: Mapped[str] = mapped_column(String(32), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class Outcome(Base):
    """What the police made of a report referred to it: one row per outcome recorded.

    Several may follow one another (an investigation opened, later a suspect identified).
    ``no_action`` carries a reason; the reason (free text, may name people) is sealed.
    """

    __tablename__ = "referral_outcomes"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), nullable=False, index=True
    )
    referral_id: Mapped[int] = mapped_column(
        ForeignKey("referrals.id", ondelete="CASCADE"), nullable=False, index=True
    )
    agency: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    outcome: Mapped[str] = mapped_column(String(32), nullable=False)
    reason_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    recorded_by: Mapped[str] = mapped_column(String(40), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
