"""Intake tables: reports, their evidence and idempotency records (throttles: store.throttle)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tarcza.store.base import Base, UTCDateTime
from tarcza.store.throttle import Throttle

__all__ = ["Evidence", "IdempotencyRecord", "Report", "ReportMessage", "Throttle"]


def _created_at(context: Any) -> datetime:
    """A new report's public stage dates from its creation (rows built without a stage)."""
    created: datetime = context.get_current_parameters()["created_at"]
    return created


class Report(Base):
    """One submission by a person or a platform.

    Free text, usernames and contact details are personal data and are stored
    sealed (see tarcza.crypto); URLs stay readable because the hotline folds
    reports by the content they point at.
    """

    __tablename__ = "reports"
    # The national figures group a period's reports by these: one index-only scan (0016).
    __table_args__ = (
        Index(
            "ix_reports_figures",
            "created_at",
            "owner_agency",
            "category",
            "source",
            "child_age_range",
            "child_in_danger",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    reference: Mapped[str] = mapped_column(String(12), unique=True, nullable=False)
    pin_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    category: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    priority: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    # The agency whose queue the report is in (a code; see accounts.models.Agency).
    owner_agency: Mapped[str] = mapped_column(
        String(32), nullable=False, index=True, server_default="hotline"
    )
    child_in_danger: Mapped[bool] = mapped_column(Boolean, nullable=False)
    child_age_range: Mapped[str | None] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(5), nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    platform: Mapped[str | None] = mapped_column(String(200))
    urls: Mapped[list[Any]] = mapped_column(JSON, nullable=False)
    description_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    usernames_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    contact_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Indexed by ix_reports_figures, which it leads (0019 dropped its own index).
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # What the reporter is told (intake.rules.PublicStage) and when it last changed; moved
    # only by intake.progress.advance_public_stage.
    public_stage: Mapped[str] = mapped_column(String(16), nullable=False, server_default="received")
    public_changed_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=_created_at
    )

    evidence: Mapped[list[Evidence]] = relationship(
        back_populates="report", order_by="Evidence.id", cascade="all, delete-orphan"
    )


class Evidence(Base):
    """One file attached to a report: its hashes here, its bytes sealed on disk."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), nullable=False, index=True
    )
    storage_key: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    media_type: Mapped[str] = mapped_column(String(32), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    md5: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    pdq: Mapped[str | None] = mapped_column(String(64))
    pdq_quality: Mapped[int | None] = mapped_column(SmallInteger)
    # A video's vPDQ (its sampled frames' PDQ hashes), as the bank holds signals.
    vpdq: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    report: Mapped[Report] = relationship(back_populates="evidence")


class IdempotencyRecord(Base):
    """What a POST with an Idempotency-Key answered, so that a retry gets the same."""

    __tablename__ = "idempotency_records"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), nullable=False
    )
    # The answer holds the PIN, so it is sealed like any other secret.
    response_sealed: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)


class ReportMessage(Base):
    """A message between the reporter and the staff, kept with the report.

    ``sender``: "reporter" (more information, given with the reference and PIN: text, links,
    files) or "staff" (a question or a message shown on the status page, with the agency and
    the person who wrote it). The text is sealed; links stay readable (the hotline folds them).
    """

    __tablename__ = "report_messages"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), nullable=False, index=True
    )
    sender: Mapped[str] = mapped_column(String(8), nullable=False)
    agency: Mapped[str | None] = mapped_column(String(32))
    author: Mapped[str | None] = mapped_column(String(100))
    body_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    urls: Mapped[list[Any]] = mapped_column(JSON, nullable=False)
    files: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
