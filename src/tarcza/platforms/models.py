"""Partner submissions: a platform's report between ``/submit`` and ``/finish``.

The report's XML is kept sealed (it names people); its files lie sealed in evidence storage
from the moment they are uploaded. A finished submission points at the tarcza report it
became; a retracted or expired one is deleted with its files (the audit log keeps the fact).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from tarcza.store.base import Base, UTCDateTime

__all__ = ["PartnerSubmission", "PartnerSubmissionFile"]

_ID = BigInteger().with_variant(Integer, "sqlite")


class PartnerSubmission(Base):
    """One report a partner platform opened with ``/submit``."""

    __tablename__ = "partner_submissions"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # open, finishing (being made a report), finished
    state: Mapped[str] = mapped_column(String(12), nullable=False, index=True)
    xml_sealed: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    report_id: Mapped[int | None] = mapped_column(
        ForeignKey("reports.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PartnerSubmissionFile(Base):
    """One file uploaded to a submission: its id as the partner knows it, its digests and
    where it lies sealed; the details the partner gave (``/fileinfo``) sealed."""

    __tablename__ = "partner_submission_files"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("partner_submissions.id", ondelete="CASCADE"), nullable=False, index=True
    )
    file_id: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    storage_key: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    md5: Mapped[str] = mapped_column(String(32), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    classification: Mapped[str | None] = mapped_column(String(2))
    details_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
