"""The child helpline's tables: contacts, cases, and what happened in a case (its timeline).

Free text (a summary, a note, a reason) and any name or number are sealed with a context per
row; everything else is the minimal set of codes a helpline counts (CHI categories).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from tarcza.store.base import Base, UTCDateTime

_ID = BigInteger().with_variant(Integer, "sqlite")


class HelplineCase(Base):
    """A child's case: who works it, its status, risk and next follow-up."""

    __tablename__ = "helpline_cases"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    agency: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(8), nullable=False, index=True)
    risk: Mapped[str] = mapped_column(String(10), nullable=False)
    assignee: Mapped[str | None] = mapped_column(String(40))
    next_follow_up: Mapped[date | None] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(40), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


class HelplineContact(Base):
    """One call, chat, e-mail or web contact, recorded by a counsellor.

    ``topics``: CHI category codes joined by spaces. ``identity_sealed``: a name or number
    with the reason it is kept (JSON), only when the counsellor recorded one.
    """

    __tablename__ = "helpline_contacts"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    agency: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("helpline_cases.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(8), nullable=False)
    caller: Mapped[str] = mapped_column(String(16), nullable=False)
    age_band: Mapped[str] = mapped_column(String(8), nullable=False)
    topics: Mapped[str] = mapped_column(String(400), nullable=False)
    risk: Mapped[str] = mapped_column(String(10), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    duration_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    summary_sealed: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    identity_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_by: Mapped[str] = mapped_column(String(40), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)


class HelplineEvent(Base):
    """Something done from a contact or in a case: a note, a report filed to the hotline,
    the self-protection link given, a referral to the police or to a local service.

    ``text_sealed``: the note or reason, sealed; ``report_reference``: the report filed (to the
    hotline, or made for the police referral); ``referral_id``: casework's referral row.
    """

    __tablename__ = "helpline_events"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    agency: Mapped[str] = mapped_column(String(32), nullable=False)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("helpline_cases.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("helpline_contacts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    text_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    report_reference: Mapped[str | None] = mapped_column(String(16))
    referral_id: Mapped[int | None] = mapped_column(_ID, index=True)
    service_id: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(40), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
