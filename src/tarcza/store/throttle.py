"""Counting attempts per key (a reference, an account name, a client) and locking out.

Keys are keyed hashes, so the table never holds what was typed. Both the
public status check and the staff login use it.

An attempt is TAKEN before the secret is checked: one atomic upsert that
increments the key's counter and returns it, committed in its own
transaction. Whatever the concurrency, at most ``limit`` attempts per window
get past :func:`take_attempts` to be evaluated; a success gives its attempt
back (:func:`give_back`), so only failures stay counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, String, and_, case, delete, literal, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from tarcza import errors
from tarcza.store.base import Base, UTCDateTime
from tarcza.store.engine import Database


class Throttle(Base):
    """Attempts per key in the current window, and a lock-out."""

    __tablename__ = "throttles"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Throttled(errors.Throttled):
    """Too many failures: try again after ``retry_after`` seconds."""


def _upsert(dialect: str) -> Any:
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Throttle)


def _take(
    session: Session,
    dialect: str,
    key: str,
    *,
    limit: int,
    window: timedelta,
    lock: timedelta,
    now: datetime,
) -> tuple[int, datetime | None]:
    """Count one attempt for ``key``; its count in the window and its lock (after counting).

    One statement, so two racing attempts never both see the old count, and a
    fresh key inserted by both becomes one row counting two.
    """
    at = literal(now, UTCDateTime())
    locked_at = literal(now + lock, UTCDateTime())
    window_floor = literal(now - window, UTCDateTime())
    t = Throttle.__table__.c
    # A window starts afresh when it has passed without a lock, or when the lock has run out.
    fresh = or_(
        and_(t.locked_until.is_(None), t.window_start < window_floor),
        and_(t.locked_until.is_not(None), t.locked_until <= at),
    )
    # The count stops at limit + 1 (refused), so the attempts given back by successes
    # still bring it under the limit however many refusals came meanwhile.
    counted = case((fresh, 1), (t.failures > limit, t.failures), else_=t.failures + 1)
    first_lock = now + lock if limit <= 1 else None
    stmt = _upsert(dialect).values(
        key_hash=key, failures=1, window_start=now, locked_until=first_lock
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.key_hash],
        set_={
            "failures": counted,
            "window_start": case((fresh, at), else_=t.window_start),
            "locked_until": case(
                (fresh, literal(first_lock, UTCDateTime())),
                (and_(t.locked_until.is_(None), t.failures + 1 >= limit), locked_at),
                else_=t.locked_until,
            ),
        },
    ).returning(t.failures, t.locked_until)
    count, locked_until = session.execute(stmt).one()
    return int(count), locked_until


def take_attempts(
    db: Database,
    keys: Sequence[tuple[str, int]],
    *,
    window: timedelta,
    lock: timedelta,
    now: datetime,
) -> None:
    """Take one attempt on each ``(key, limit)`` before the secret is checked; Throttled
    when any key is beyond its limit (the attempts taken on the others are given back).

    Committed in a transaction of its own, so that a concurrent attempt sees this one.
    """
    with db.transaction() as session:
        taken: list[tuple[str, int]] = []
        for key, limit in keys:
            count, locked_until = _take(
                session, db.dialect, key, limit=limit, window=window, lock=lock, now=now
            )
            if count > limit:
                for earlier, earlier_limit in taken:
                    give_back(session, earlier, earlier_limit)
                until = locked_until or now + lock
                retry_after = max(1, int((until - now).total_seconds()) + 1)
                break
            taken.append((key, limit))
        else:
            return
    raise Throttled(retry_after)


def give_back(session: Session, key: str, limit: int) -> None:
    """Give back an attempt taken on ``key`` that succeeded (or was not evaluated).

    Lifts the lock when the count falls under ``limit`` again.
    """
    t = Throttle.__table__.c
    session.execute(
        update(Throttle)
        .where(t.key_hash == key)
        .values(
            failures=case((t.failures > 0, t.failures - 1), else_=0),
            locked_until=case((t.failures - 1 < limit, None), else_=t.locked_until),
        )
    )


def forget(session: Session, key: str) -> None:
    """Clear the attempts of ``key`` (after a success that proves the secret)."""
    session.execute(delete(Throttle).where(Throttle.key_hash == key))
