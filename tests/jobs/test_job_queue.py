"""The job queue: SQLite by default, Redis across machines, in-memory for tests."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest
import redis
from huey import MemoryHuey, RedisHuey, SqliteHuey  # type: ignore[import-untyped]

from tarcza.config import ConfigError, Settings
from tarcza.jobs.queue import Worker, make_huey
from tests.support.databases import IN_CI

REDIS_URL = "redis://127.0.0.1:6379/15"


def settings(tmp_path: Path, url: str, queue: str = "tarcza") -> Settings:
    return Settings(var_dir=tmp_path, jobs_url=url, jobs_queue=queue, _env_file=None)  # type: ignore[call-arg]


def test_the_queue_the_setting_names(tmp_path: Path) -> None:
    default = make_huey(settings(tmp_path, ""))
    assert isinstance(default, SqliteHuey) and (tmp_path / "jobs.sqlite3").exists()
    assert isinstance(make_huey(settings(tmp_path, "memory")), MemoryHuey)
    assert isinstance(make_huey(settings(tmp_path, REDIS_URL)), RedisHuey)
    with pytest.raises(ConfigError, match="TARCZA_JOBS_URL"):
        make_huey(settings(tmp_path, "amqp://127.0.0.1"))


def test_two_deployments_on_one_redis_keep_their_queues_apart(tmp_path: Path) -> None:
    a = make_huey(settings(tmp_path, REDIS_URL, "tarcza-a"))
    b = make_huey(settings(tmp_path, REDIS_URL, "tarcza-b"))
    assert a.name != b.name


def test_the_sqlite_queue_runs_a_task_in_process(tmp_path: Path) -> None:
    huey = make_huey(settings(tmp_path, ""))
    done = threading.Event()

    @huey.task()  # type: ignore[untyped-decorator]
    def mark() -> None:
        done.set()

    worker = Worker(huey, lambda: None, tick_seconds=60)
    worker.start()
    try:
        mark()
        assert done.wait(10)
    finally:
        worker.stop()


def test_the_worker_looks_for_due_work_every_tick(tmp_path: Path) -> None:
    ticks: list[float] = []
    three = threading.Event()

    def tick() -> None:
        ticks.append(time.monotonic())
        if len(ticks) >= 3:
            three.set()

    worker = Worker(make_huey(settings(tmp_path, "")), tick, tick_seconds=0.05)
    worker.start()
    try:
        assert three.wait(10), f"{len(ticks)} ticks in 10 s"
    finally:
        worker.stop()
    count = len(ticks)
    time.sleep(0.2)
    assert len(ticks) == count, "the ticker goes on after stop()"


def test_a_failing_tick_does_not_stop_the_ticker(tmp_path: Path) -> None:
    calls: list[int] = []
    again = threading.Event()

    def tick() -> None:
        calls.append(1)
        if len(calls) >= 2:
            again.set()
        raise RuntimeError("the database is down")

    worker = Worker(make_huey(settings(tmp_path, "")), tick, tick_seconds=0.05)
    worker.start()
    try:
        assert again.wait(10)
    finally:
        worker.stop()


def test_a_task_queued_in_redis_runs_on_a_worker(tmp_path: Path) -> None:
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as exc:
        if IN_CI:
            pytest.fail(f"CI requires Redis at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {exc}")
    # The class make_huey gives for a redis:// URL, with a queue of its own on the shared server.
    huey = RedisHuey(f"tarcza-test-{uuid.uuid4().hex[:8]}", url=REDIS_URL)
    seen: list[int] = []

    @huey.task()  # type: ignore[untyped-decorator]
    def add(n: int) -> int:
        seen.append(n)
        return n * 2

    result = add(21)  # queued in Redis, not run here
    assert seen == [] and huey.pending_count() == 1
    worker = Worker(huey, lambda: None, tick_seconds=60)
    worker.start()
    try:
        assert result.get(blocking=True, timeout=10) == 42
    finally:
        worker.stop()
        huey.storage.flush_all()
    assert seen == [21]
