"""Self-protection cases and the hashes they protect."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tarcza.store.base import Base, UTCDateTime

_BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class ProtectionCase(Base):
    """A person's case: a number, a PIN (as a keyed hash), an age band; nothing else of them."""

    __tablename__ = "protection_cases"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True, nullable=False)
    pin_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    age_band: Mapped[str] = mapped_column(String(8), nullable=False)
    items: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ProtectedHash(Base):
    """One signal of one protected item, and whether it is shared with the platforms.

    ``state``: shared (in the self-protection bank), review (held for a supervisor: ``reason``
    says why), rejected (a supervisor kept it out), withdrawn (the person took it back).
    """

    __tablename__ = "protected_hashes"
    __table_args__ = (Index("ix_protected_hashes_key", "signal_type", "lookup_key"),)

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("protection_cases.id", ondelete="CASCADE"), nullable=False, index=True
    )
    item: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    signal_type: Mapped[str] = mapped_column(String(8), nullable=False)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    lookup_key: Mapped[str] = mapped_column(String(64), nullable=False)
    state: Mapped[str] = mapped_column(String(10), nullable=False, index=True)
    reason: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(100))
