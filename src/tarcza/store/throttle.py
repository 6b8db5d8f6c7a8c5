"""Counting failures per key (a reference, an account name, a client) and locking out.

Keys are keyed hashes, so the table never holds what was typed. Both the
public status check and the staff login use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from tarcza import errors
from tarcza.store.base import Base, UTCDateTime


class Throttle(Base):
    """Failed attempts per key, and a lock-out."""

    __tablename__ = "throttles"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Throttled(errors.Throttled):
    """Too many failures: try again after ``retry_after`` seconds."""


def refuse_if_locked(session: Session, keys: Iterable[str], now: datetime) -> None:
    """Raise Throttled when any of ``keys`` is locked out at ``now``."""
    for row in session.scalars(select(Throttle).where(Throttle.key_hash.in_(list(keys)))):
        if row.locked_until is not None and row.locked_until > now:
            raise Throttled(max(1, int((row.locked_until - now).total_seconds()) + 1))


def count_failure(
    session: Session, key: str, *, limit: int, window: timedelta, lock: timedelta, now: datetime
) -> None:
    """Count one failure for ``key``; the ``limit``-th within ``window`` locks it for ``lock``."""
    row = session.get(Throttle, key, with_for_update=True)
    if row is None:
        row = Throttle(key_hash=key, failures=0, window_start=now)
        session.add(row)
    elif now - row.window_start > window:
        row.failures, row.window_start, row.locked_until = 0, now, None
    row.failures += 1
    if row.failures >= limit:
        row.locked_until = now + lock


def forget(session: Session, key: str) -> None:
    """Clear the failures of ``key`` (after a success)."""
    session.execute(delete(Throttle).where(Throttle.key_hash == key))
