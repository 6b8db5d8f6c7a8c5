"""The job queue: SQLite by default, Redis across machines, in-memory for tests."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
import redis
from huey import MemoryHuey, RedisHuey, SqliteHuey  # type: ignore[import-untyped]

from tarcza.config import ConfigError, Settings
from tarcza.jobs.queue import make_huey
from tests.support.databases import IN_CI

REDIS_URL = "redis://127.0.0.1:6379/15"


def settings(tmp_path: Path, url: str) -> Settings:
    return Settings(var_dir=tmp_path, jobs_url=url, _env_file=None)  # type: ignore[call-arg]


def test_the_queue_the_setting_names(tmp_path: Path) -> None:
    default = make_huey(settings(tmp_path, ""))
    assert isinstance(default, SqliteHuey) and (tmp_path / "jobs.sqlite3").exists()
    assert isinstance(make_huey(settings(tmp_path, "memory")), MemoryHuey)
    assert isinstance(make_huey(settings(tmp_path, REDIS_URL)), RedisHuey)
    with pytest.raises(ConfigError, match="TARCZA_JOBS_URL"):
        make_huey(settings(tmp_path, "amqp://127.0.0.1"))


def test_the_sqlite_queue_runs_a_task_in_process(tmp_path: Path) -> None:
    from tarcza.jobs.queue import start_in_process

    huey = make_huey(settings(tmp_path, ""))
    done = threading.Event()

    @huey.task()  # type: ignore[untyped-decorator]
    def mark() -> None:
        done.set()

    consumer = start_in_process(huey)
    try:
        mark()
        assert done.wait(10)
    finally:
        consumer.stop(graceful=True)


def test_a_task_queued_in_redis_runs_on_a_worker(tmp_path: Path) -> None:
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as exc:
        if IN_CI:
            pytest.fail(f"CI requires Redis at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {exc}")
    from tarcza.jobs.queue import start_in_process

    # The class make_huey gives for a redis:// URL, with a queue of its own on the shared server.
    huey = RedisHuey(f"tarcza-test-{uuid.uuid4().hex[:8]}", url=REDIS_URL)
    seen: list[int] = []

    @huey.task()  # type: ignore[untyped-decorator]
    def add(n: int) -> int:
        seen.append(n)
        return n * 2

    result = add(21)  # queued in Redis, not run here
    assert seen == [] and huey.pending_count() == 1
    consumer = start_in_process(huey)
    try:
        assert result.get(blocking=True, timeout=10) == 42
    finally:
        consumer.stop(graceful=True)
        huey.storage.flush_all()
    assert seen == [21]
