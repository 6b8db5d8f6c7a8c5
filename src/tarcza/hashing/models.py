"""Hash bank tables: banks, their signals, the change log the matcher follows, the matches
found on evidence, and the partner platforms that query the banks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tarcza.store.base import Base, UTCDateTime

_BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class Bank(Base):
    """A named list of signals with its source, sharing terms and matching settings."""

    __tablename__ = "banks"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    source: Mapped[str] = mapped_column(String(200), nullable=False)
    terms: Mapped[str] = mapped_column(Text, nullable=False)
    pdq_threshold: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    # A vPDQ signal matches when at least these shares (%) of the query video's frames and of its
    # own frames match (hashing.vpdq; pytx's defaults 80 and 0).
    vpdq_query_match_pct: Mapped[float] = mapped_column(
        Float, nullable=False, default=80.0, server_default=text("80")
    )
    vpdq_compared_match_pct: Mapped[float] = mapped_column(
        Float, nullable=False, default=0.0, server_default=text("0")
    )
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class BankSignal(Base):
    """One signal in one bank. Removal is soft (``removed_at``), so history stays."""

    __tablename__ = "bank_signals"
    __table_args__ = (
        # Exact matching looks signals up by type and key across all banks; a bank's check of
        # its own key is the same lookup with the bank last. One index for both (migration
        # 0021): a bulk import inserts into one index of the keys, not two.
        UniqueConstraint("signal_type", "lookup_key", "bank_id"),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    # Indexed for the queries of one bank's whole set (counts, exports, what an import finds).
    # No foreign key (migration 0021): its check cost a bulk import a query per row. Only
    # hashing.bank_service.add_signals inserts signals, with the id of the bank it holds
    # locked; a trigger on banks deletes a deleted bank's signals, another refuses a new id.
    bank_id: Mapped[int] = mapped_column(_BIG_ID, nullable=False, index=True)
    signal_type: Mapped[str] = mapped_column(String(8), nullable=False)
    # The canonical value; vPDQ values can be long, so lookups go through lookup_key.
    value: Mapped[str] = mapped_column(Text, nullable=False)
    lookup_key: Mapped[str] = mapped_column(String(64), nullable=False)
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SignalChange(Base):
    """An append-only log of signals added and removed, in commit order.

    Writers hold the change lock (see hashing.changes) while appending, so a reader that
    remembers the last ``seq`` it applied never skips a change committed later.
    ``signal_id`` has no foreign key (migration 0020): only hashing.changes writes the log,
    with ids of signals its transaction holds, and signals are never deleted; a key would
    check (and on PostgreSQL lock) each signal row again in a bulk import.
    """

    __tablename__ = "signal_changes"

    seq: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    signal_id: Mapped[int] = mapped_column(_BIG_ID, nullable=False)
    op: Mapped[str] = mapped_column(String(8), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class EvidenceMatch(Base):
    """A bank signal that an evidence file matched when it arrived."""

    __tablename__ = "evidence_matches"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    evidence_id: Mapped[int] = mapped_column(
        ForeignKey("evidence.id", ondelete="CASCADE"), nullable=False, index=True
    )
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"), nullable=False)
    signal_id: Mapped[int] = mapped_column(ForeignKey("bank_signals.id"), nullable=False)
    signal_type: Mapped[str] = mapped_column(String(8), nullable=False)
    distance: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)


class Partner(Base):
    """A platform that looks signals up through the API, with a keyed hash of its key."""

    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class PartnerBank(Base):
    """A bank a partner may match against (its scope)."""

    __tablename__ = "partner_banks"

    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), primary_key=True
    )
    bank_id: Mapped[int] = mapped_column(
        ForeignKey("banks.id", ondelete="CASCADE"), primary_key=True
    )


class SignalFeedback(Base):
    """One partner's report on what it did about matches of one signal."""

    __tablename__ = "signal_feedback"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    signal_id: Mapped[int] = mapped_column(
        ForeignKey("bank_signals.id", ondelete="CASCADE"), nullable=False, index=True
    )
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), nullable=False
    )
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
