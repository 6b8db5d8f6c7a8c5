"""The shared rate store: limits' sliding window counter over the database (both) and Redis.

What must hold: however many hits race, no more than the limit are taken; the previous window
still weighs on the next one; the seconds to wait are honest; two processes' leases together
never pass the quota; old rows are swept. Tests on the real clock use hour-long windows, so
that a window's end (which changes the counts) is not crossed while they run.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given
from hypothesis import strategies as st
from limits.storage import Storage

from tarcza.store.engine import Database
from tarcza.store.rates import (
    DatabaseStorage,
    LeasedQuota,
    Quota,
    RateLimited,
    RateWindow,
    SharedRates,
    make_storage,
    parse_rates,
)
from tests.support.databases import IN_CI

REDIS_URL = "redis://127.0.0.1:6379/15"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _redis_storage() -> Storage:
    try:
        storage = make_storage(REDIS_URL, None)  # type: ignore[arg-type]
        storage.check()
        if not storage.check():
            raise ConnectionError("redis does not answer")
    except Exception as exc:  # noqa: BLE001 — any failure means "not available"
        if IN_CI:
            pytest.fail(f"CI requires Redis at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {exc}")
    return storage


@pytest.fixture(params=["database", "redis"])
def storage(request: pytest.FixtureRequest, db: Database) -> Iterator[Storage]:
    """The database storage (on SQLite and PostgreSQL) and limits' Redis storage."""
    if request.param == "redis":
        if db.dialect != "sqlite":
            pytest.skip("Redis does not depend on the database: run once")
        yield _redis_storage()
    else:
        yield DatabaseStorage(db)


def _fresh(name: str = "q") -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


# -- parsing --------------------------------------------------------------------------------


def test_rates_parse_in_limits_notation() -> None:
    minute, hour = parse_rates("5/minute; 20/hour")
    assert (minute.amount, minute.get_expiry()) == (5, 60)
    assert (hour.amount, hour.get_expiry()) == (20, 3600)
    assert parse_rates("") == () and parse_rates(" none ") == ()


@pytest.mark.parametrize("spec", ["5", "five/minute", "5/fortnight", "0/minute", "5/minute;x"])
def test_a_rate_that_is_not_one_is_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_rates(spec)


@given(
    st.lists(
        st.tuples(
            st.integers(1, 10**6),
            st.integers(1, 100),
            st.sampled_from(["second", "minute", "hour", "day"]),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_any_written_rate_reads_back(rates: list[tuple[int, int, str]]) -> None:
    seconds = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
    spec = ";".join(f"{amount}/{multiple} {unit}" for amount, multiple, unit in rates)
    parsed = parse_rates(spec)
    assert [(i.amount, i.get_expiry()) for i in parsed] == [
        (amount, multiple * seconds[unit]) for amount, multiple, unit in rates
    ]


def test_a_settings_typo_stops_the_start() -> None:
    from pydantic import ValidationError

    from tarcza.config import Settings

    with pytest.raises(ValidationError, match="is not a rate"):
        Settings(report_rate_per_client="5 a minute", _env_file=None)  # type: ignore[call-arg]


# -- the store ------------------------------------------------------------------------------


def test_at_most_the_limit_is_taken_however_many_race(storage: Storage) -> None:
    rates = SharedRates(storage)
    quota = Quota.of(_fresh(), "7/hour")
    barrier = threading.Barrier(20)

    def hit(_: int) -> int:
        barrier.wait(timeout=30)
        return rates.take([(quota, "one")])

    with ThreadPoolExecutor(max_workers=20) as pool:
        waits = list(pool.map(hit, range(120)))
    assert waits.count(0) == 7
    assert all(1 <= w <= 7200 for w in waits if w)


def test_each_identity_and_quota_counts_apart(storage: Storage) -> None:
    rates = SharedRates(storage)
    a, b = Quota.of(_fresh(), "2/hour"), Quota.of(_fresh(), "2/hour")
    assert [rates.take([(a, "x")]) for _ in range(3)][:2] == [0, 0]
    assert rates.take([(a, "x")]) > 0
    assert rates.take([(a, "y")]) == 0
    assert rates.take([(b, "x")]) == 0


def test_wait_counts_nothing(storage: Storage) -> None:
    rates = SharedRates(storage)
    quota = Quota.of(_fresh(), "2/hour")
    for _ in range(5):
        assert rates.wait([(quota, "x")]) == 0
    assert rates.take([(quota, "x")]) == rates.take([(quota, "x")]) == 0
    assert rates.wait([(quota, "x")]) > 0
    with pytest.raises(RateLimited) as refused:
        rates.spend([(quota, "x")])
    assert 1 <= refused.value.retry_after <= 7200


def test_a_refused_charge_stops_the_charges_after_it(storage: Storage) -> None:
    rates = SharedRates(storage)
    tight, loose = Quota.of(_fresh(), "1/hour"), Quota.of(_fresh(), "10/hour")
    assert rates.take([(tight, "x"), (loose, "all")]) == 0
    assert rates.take([(tight, "x"), (loose, "all")]) > 0
    # The loose quota counted the first only: nine remain.
    assert [rates.take([(loose, "all")]) for _ in range(10)].count(0) == 9


def test_an_empty_quota_never_limits(storage: Storage) -> None:
    rates = SharedRates(storage)
    quota = Quota.of(_fresh(), "")
    assert all(rates.take([(quota, "x")]) == 0 for _ in range(50))


def test_the_previous_window_weighs_on_the_next(db: Database) -> None:
    clock = Clock(1_800_000_000.0)  # a whole number of minutes: a window starts here
    rates = SharedRates(DatabaseStorage(db, clock=clock))
    quota = Quota.of("sliding", "10/minute")
    assert [rates.take([(quota, "x")]) for _ in range(10)] == [0] * 10
    assert rates.take([(quota, "x")]) > 0
    clock.now += 60 + 15  # a quarter into the next window: 10 x 3/4 = 7.5 still count
    assert [rates.take([(quota, "x")]) for _ in range(3)].count(0) == 3
    assert rates.take([(quota, "x")]) > 0
    clock.now += 30  # three quarters in: 10 x 1/4 = 2.5 (floored to 2) + 3
    assert [rates.take([(quota, "x")]) for _ in range(6)].count(0) == 5
    clock.now += 120  # both windows past
    assert [rates.take([(quota, "x")]) for _ in range(10)] == [0] * 10


def test_retry_after_is_when_one_more_would_pass(db: Database) -> None:
    clock = Clock(1_800_000_000.0)
    rates = SharedRates(DatabaseStorage(db, clock=clock))
    quota = Quota.of("retry", "2/minute")
    rates.take([(quota, "x")])
    rates.take([(quota, "x")])
    clock.now += 1
    wait = rates.take([(quota, "x")])
    # Two in this window: the next passes once floor(2 x weight) + 1 <= 2, i.e. as soon as
    # the next window has begun (the weight is then under 1).
    assert wait == 60
    clock.now += wait - 1
    assert rates.take([(quota, "x")]) > 0
    clock.now += 1
    assert rates.take([(quota, "x")]) == 0


def test_old_counts_are_swept(db: Database) -> None:
    clock = Clock(1_800_000_000.0)
    storage = DatabaseStorage(db, clock=clock)
    rates = SharedRates(storage)
    rates.take([(Quota.of("old", "5/minute"), "x")])
    rates.take([(Quota.of("long", "5/day"), "x")])
    clock.now += 125
    assert storage.sweep() == 1
    with db.sessions() as session:
        assert [row.key.split("/")[1] for row in session.query(RateWindow)] == ["long:x"]


def test_leases_of_two_processes_never_pass_the_quota(storage: Storage) -> None:
    quota = Quota.of(_fresh(), "100/hour")
    # Two "processes": each its own LeasedQuota (its own lease), one store.
    first = LeasedQuota(SharedRates(storage), quota, lease=7)
    second = LeasedQuota(SharedRates(storage), quota, lease=7)
    allowed = 0
    for i in range(400):
        if (first if i % 3 else second).take("partner-1", 1 + (i % 2)) == 0:
            allowed += 1 + (i % 2)
    # Never more than the quota; at most a lease per process left unused.
    assert 100 - 2 * 7 <= allowed <= 100


def test_a_lease_asks_the_store_once_per_lease(db: Database) -> None:
    calls = 0

    class Counting(DatabaseStorage):
        def acquire_sliding_window_entry(
            self, key: str, limit: int, expiry: int, amount: int = 1
        ) -> bool:
            nonlocal calls
            calls += 1
            return super().acquire_sliding_window_entry(key, limit, expiry, amount)

    leased = LeasedQuota(SharedRates(Counting(db)), Quota.of(_fresh(), "200/second"))
    assert all(leased.take("p") == 0 for _ in range(100))
    assert calls == 10  # a lease of 200 // 20 = 10


def test_the_store_is_the_configured_one(db: Database) -> None:
    assert isinstance(make_storage("", db), DatabaseStorage)
    with pytest.raises(ValueError, match="unknown rate store"):
        make_storage("mysql://somewhere", db)


def test_leases_taken_by_racing_threads_are_all_spent(db: Database) -> None:
    quota = Quota.of(_fresh(), "60/hour")
    leased = LeasedQuota(SharedRates(DatabaseStorage(db)), quota, lease=3)
    barrier = threading.Barrier(16)

    def take(i: int) -> int:
        if i < 16:
            barrier.wait(timeout=30)
        return leased.take("p")

    with ThreadPoolExecutor(max_workers=16) as pool:
        waits = list(pool.map(take, range(100)))
    assert waits.count(0) == 60
