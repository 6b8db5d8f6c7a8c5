"""The MNR tracker's tables: domains, capabilities, their actions, and every change (history).

Nothing here is about a person: the evidence is an institution's account of its own work,
and the history names the staff member who changed what (as the audit log does).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tarcza.store.base import Base, UTCDateTime

_ID = BigInteger().with_variant(Integer, "sqlite")


class MnrDomain(Base):
    """One of the MNR's six domains, in the order ``position``."""

    __tablename__ = "mnr_domains"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    position: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    name_pl: Mapped[str] = mapped_column(String(200), nullable=False)
    name_en: Mapped[str] = mapped_column(String(200), nullable=False)


class MnrCapability(Base):
    """A capability: its phase and evidence, and who is responsible for it.

    ``agencies``: codes of tarcza's agencies, joined by spaces; ``institutions``: the names of
    institutions outside tarcza (a JSON list).
    """

    __tablename__ = "mnr_capabilities"

    number: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    domain: Mapped[str] = mapped_column(ForeignKey("mnr_domains.code"), nullable=False)
    name_pl: Mapped[str] = mapped_column(String(200), nullable=False)
    name_en: Mapped[str] = mapped_column(String(200), nullable=False)
    description_pl: Mapped[str] = mapped_column(Text, nullable=False)
    description_en: Mapped[str] = mapped_column(Text, nullable=False)
    phase: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    evidence: Mapped[str] = mapped_column(Text, nullable=False)
    agencies: Mapped[str] = mapped_column(String(400), nullable=False)
    institutions: Mapped[list[Any]] = mapped_column(JSON, nullable=False)
    updated_by: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class MnrAction(Base):
    """Something an institution will do for a capability, by a day."""

    __tablename__ = "mnr_actions"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    capability: Mapped[int] = mapped_column(
        ForeignKey("mnr_capabilities.number"), nullable=False, index=True
    )
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    owner: Mapped[str] = mapped_column(String(120), nullable=False)
    due: Mapped[date] = mapped_column(Date, nullable=False)
    state: Mapped[str] = mapped_column(String(12), nullable=False)
    created_by: Mapped[str] = mapped_column(String(40), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class MnrChange(Base):
    """One field changed, of a capability or of one of its actions: who, when, from, to."""

    __tablename__ = "mnr_changes"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    capability: Mapped[int] = mapped_column(
        ForeignKey("mnr_capabilities.number"), nullable=False, index=True
    )
    action_id: Mapped[int | None] = mapped_column(ForeignKey("mnr_actions.id"))
    field: Mapped[str] = mapped_column(String(32), nullable=False)
    old: Mapped[str | None] = mapped_column(Text)
    new: Mapped[str | None] = mapped_column(Text)
    changed_by: Mapped[str] = mapped_column(String(40), nullable=False)
    agency: Mapped[str] = mapped_column(String(32), nullable=False)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
