"""Request rates counted once for all processes: how many reports, lookups … a caller may make.

Built on the `limits` package: its sliding-window-counter strategy (the previous window's count,
weighted by how much of it still overlaps the last ``expiry`` seconds, plus the current window's)
over a storage that every worker and process shares. The storage is chosen by configuration:
Redis (limits' own ``RedisStorage``) when a ``redis://`` URL is given, otherwise tarcza's
database through :class:`DatabaseStorage`, a limits storage over the ``rate_windows`` table whose
every hit is one atomic statement (an upsert that counts only while under the limit), so that any
number of concurrent requests never take more than the limit.

Identities are keyed hashes (of a client address, a partner id): the table and Redis never hold an
address.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.storage.base import SlidingWindowCounterSupport
from limits.strategies import SlidingWindowCounterRateLimiter
from sqlalchemy import BigInteger, Integer, String, case, delete, literal, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from tarcza import errors
from tarcza.store.base import Base
from tarcza.store.engine import Database

_SCALE = 1_000_000


class RateWindow(Base):
    """One rate key's two windows: the current one (by index) and the one before it."""

    __tablename__ = "rate_windows"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # The current window's index: floor(unix time / expiry).
    window: Mapped[int] = mapped_column(BigInteger, nullable=False)
    expiry: Mapped[int] = mapped_column(Integer, nullable=False)
    current: Mapped[int] = mapped_column(Integer, nullable=False)
    previous: Mapped[int] = mapped_column(Integer, nullable=False)


class RateLimited(errors.Throttled):
    """A rate is used up: try again after ``retry_after`` seconds (HTTP 429)."""

    detail = "Too many requests. Try again later."


def parse_rates(spec: str) -> tuple[RateLimitItem, ...]:
    """Rates in limits' notation, ``"10/minute;100/day"``; ``""`` or ``"none"``: no limit.

    Raises ValueError (naming the text) for anything else.
    """
    spec = spec.strip()
    if spec.lower() in {"", "none"}:
        return ()
    items = tuple(parse_many(spec))
    if any(item.amount < 1 for item in items):
        raise ValueError(f"a rate allows at least 1 request: {spec!r}")
    return items


class DatabaseStorage(Storage, SlidingWindowCounterSupport):
    """limits' sliding window counter kept in tarcza's database (SQLite or PostgreSQL).

    One row per key holds the current window's index and count and the previous window's
    count. A hit is one ``INSERT … ON CONFLICT DO UPDATE … WHERE`` that rolls the windows
    forward and adds the cost only when the weighted count stays within the limit: PostgreSQL
    re-checks the condition on the locked row, SQLite runs writes one at a time, so racing hits
    cannot both pass. Only the sliding window strategy is supported.
    """

    STORAGE_SCHEME = None

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self._db = db
        self._clock = clock

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return SQLAlchemyError

    def _insert(self) -> Any:
        return (postgresql.insert if self._db.dialect == "postgresql" else sqlite.insert)(
            RateWindow
        )

    def acquire_sliding_window_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> bool:
        if amount > limit:
            return False
        now = self._clock()
        index = int(now // expiry)
        # How much of the previous window still counts: the part of the current one to come.
        weight = ((index + 1) * expiry - now) / expiry
        t = RateWindow.__table__.c
        w = literal(index, BigInteger)
        # A row ahead of this clock (another process's clock runs fast) counts as current.
        same = t.window >= w
        previous = case((same, t.previous), (t.window == w - 1, t.current), else_=0)
        current = case((same, t.current), else_=0)
        # Integer arithmetic (floor, as limits' other storages), the same on both databases.
        weighted = (previous * literal(int(weight * _SCALE), BigInteger)) // _SCALE + current
        stmt = self._insert().values(
            key=key, window=index, expiry=expiry, current=amount, previous=0
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.key],
            set_={
                "window": case((same, t.window), else_=w),
                "current": current + amount,
                "previous": previous,
                "expiry": expiry,
            },
            where=weighted + amount <= limit,
        ).returning(t.current)
        with self._db.transaction() as session:
            return session.execute(stmt).first() is not None

    def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        now = self._clock()
        index = int(now // expiry)
        with self._db.sessions() as session:
            row = session.execute(
                select(RateWindow.window, RateWindow.current, RateWindow.previous).where(
                    RateWindow.key == key
                )
            ).first()
        if row is None:
            return 0, 0.0, 0, 0.0
        window, current, previous = row
        if window < index:
            previous, current = (current if window == index - 1 else 0), 0
        remaining = (index + 1) * expiry - now
        return previous, (remaining if previous else 0.0), current, remaining + expiry

    def clear_sliding_window(self, key: str, expiry: int) -> None:
        self.clear(key)

    def sweep(self) -> int:
        """Delete the rows no window counts any more; how many went."""
        t = RateWindow.__table__.c
        now = literal(self._clock())
        with self._db.transaction() as session:
            result = session.execute(delete(RateWindow).where((t.window + 2) * t.expiry <= now))
            return int(getattr(result, "rowcount", 0) or 0)

    # limits' other storage methods serve the strategies tarcza does not use.

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        raise NotImplementedError("DatabaseStorage supports the sliding window counter only")

    def get(self, key: str) -> int:
        raise NotImplementedError("DatabaseStorage supports the sliding window counter only")

    def get_expiry(self, key: str) -> float:
        raise NotImplementedError("DatabaseStorage supports the sliding window counter only")

    def check(self) -> bool:
        with self._db.sessions() as session:
            session.execute(text("SELECT 1"))
        return True

    def reset(self) -> int | None:
        with self._db.transaction() as session:
            result = session.execute(delete(RateWindow))
            return int(getattr(result, "rowcount", 0) or 0)

    def clear(self, key: str) -> None:
        with self._db.transaction() as session:
            session.execute(delete(RateWindow).where(RateWindow.key == key))


def make_storage(url: str, db: Database) -> Storage:
    """The shared storage a deployment configured: ``""`` = the database, ``redis://…`` =
    Redis, ``memory://`` = this process only (tests)."""
    if not url:
        return DatabaseStorage(db)
    if url.startswith("memory://"):
        return MemoryStorage()
    if url.startswith(("redis://", "rediss://", "redis+unix://")):
        storage = storage_from_string(url)
        if not isinstance(storage, Storage):  # an async storage: tarcza counts synchronously
            raise ValueError(f"rate store {url!r} is not a synchronous storage")
        return storage
    raise ValueError(f"unknown rate store {url!r}: use '' (the database) or redis://host:port/db")


@dataclass(frozen=True)
class Quota:
    """The rates one kind of caller may use, under a name that keeps its counts apart."""

    name: str
    rates: tuple[RateLimitItem, ...]

    @classmethod
    def of(cls, name: str, spec: str) -> Quota:
        """A quota from limits' notation (``""``: unlimited)."""
        return cls(name, parse_rates(spec))


# A charge: which quota, and whose (a keyed hash, a partner id, or "all" for everyone).
Charge = tuple[Quota, str]


class SharedRates:
    """Counts hits on quotas in the shared storage; the same answers in every process."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._limiter = SlidingWindowCounterRateLimiter(storage)

    def _retry_after(self, item: RateLimitItem, key: str, cost: int) -> int:
        """Seconds until ``cost`` more would pass ``item`` for ``key``, read from the windows.

        Within the current window only the previous one's weight drains; after it, the
        current count becomes the previous one and drains in turn (limits' own estimate gives
        the time to the next single unit of either, which can be far too early).
        """
        window = cast(SlidingWindowCounterSupport, self.storage)
        previous, _, current, current_ttl = window.get_sliding_window(
            item.key_for(key), item.get_expiry()
        )
        limit, expiry = item.amount, item.get_expiry()
        left = max(0.0, current_ttl - expiry)  # what remains of the current window
        if current + cost <= limit:
            room = limit - current - cost + 1
            wait = max(0.0, left - room * expiry / previous) if previous else 0.0
        else:
            room = limit - cost + 1
            wait = max(left, left + expiry - room * expiry / current) if current else left
        # The counts pass strictly after ``wait`` (the weights are floored).
        return max(1, math.floor(wait) + 1)

    def wait(self, charges: Sequence[Charge], cost: int = 1) -> int:
        """Seconds until every charge could be taken (0: now), counting nothing."""
        waits = [
            self._retry_after(item, f"{quota.name}:{identity}", cost)
            for quota, identity in charges
            for item in quota.rates
            if not self._limiter.test(item, f"{quota.name}:{identity}", cost=cost)
        ]
        return max(waits, default=0)

    def take(self, charges: Sequence[Charge], cost: int = 1) -> int:
        """Count ``cost`` on every charge, in order: 0 when all were taken, else the seconds
        to wait. A refusal stops there; what the earlier charges counted stays counted (the
        safe side: a refused caller never gains)."""
        for quota, identity in charges:
            key = f"{quota.name}:{identity}"
            for item in quota.rates:
                if cost > item.amount:
                    return max(1, item.get_expiry())
                if not self._limiter.hit(item, key, cost=cost):
                    return self._retry_after(item, key, cost)
        return 0

    def spend(self, charges: Sequence[Charge], cost: int = 1) -> None:
        """:meth:`take`, raising RateLimited when refused."""
        wait = self.take(charges, cost)
        if wait:
            raise RateLimited(wait)


class LeasedQuota:
    """One quota spent at a high rate (lookups), asked of the shared store a lease at a time.

    A request spends from its process's lease; only when the lease is used up (or older than
    the quota's shortest window) does the process take another lease — ``lease`` units at once
    — from the shared store. Leased units are counted there as spent, so all the processes
    together never pass the quota; what a process leased and did not use in time is lost (the
    safe side). A cost larger than a lease is taken from the store as it is.
    """

    def __init__(
        self,
        rates: SharedRates,
        quota: Quota,
        *,
        lease: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rates = rates
        self._quota = quota
        smallest = min((item.amount for item in quota.rates), default=1)
        self._lease = lease or max(1, smallest // 20)
        self._ttl = float(min((item.get_expiry() for item in quota.rates), default=1))
        self._clock = clock
        self._held: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def take_held(self, identity: str, cost: int = 1) -> bool:
        """Spend ``cost`` units from what this process holds, touching no store: True when
        they were held (then spent), False when :meth:`take` must ask the store."""
        if not self._quota.rates:
            return True
        now = self._clock()
        with self._lock:
            held, since = self._held.get(identity, (0, now))
            if now - since >= self._ttl:
                held = 0
            if held >= cost:
                self._held[identity] = (held - cost, since)
                return True
        return False

    def take(self, identity: str, cost: int = 1) -> int:
        """Spend ``cost`` units of ``identity``'s quota: 0 when allowed, else seconds to wait."""
        if self.take_held(identity, cost):
            return 0
        now = self._clock()
        charge = [(self._quota, identity)]
        # Lease once the cost fits; else take exactly the cost (a last few units, a big batch).
        if cost <= self._lease and self._rates.take(charge, self._lease) == 0:
            with self._lock:
                # Added to what is held: leases taken at once by several threads all count.
                held, since = self._held.get(identity, (0, now))
                if now - since >= self._ttl:
                    held = 0
                self._held[identity] = (held + self._lease - cost, now)
            return 0
        return self._rates.take(charge, cost)
