"""The national figures' snapshots: each window's suppressed answer, kept current by the worker.

Counting a quarter of a national year takes the database most of a second (bench/national.py);
the answer of a window is kept here, served while it is younger than
``TARCZA_FIGURES_MAX_AGE_MINUTES``, and refreshed by the job worker's tick for every window
asked for in the last day (CoordinationService.refresh). Aggregates only, already suppressed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from tarcza.store.base import Base, UTCDateTime


class FigureSnapshot(Base):
    """One window's published tables (JSON), when counted, and when last asked for."""

    __tablename__ = "figure_snapshots"

    # "<from>:<to>:<every>:<threshold>", e.g. "2026-09-01:2026-11-30:month:5".
    span_key: Mapped[str] = mapped_column(String(40), primary_key=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
