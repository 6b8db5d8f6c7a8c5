"""The job queue: huey.

Why huey: small and well kept; with no setting it queues in a SQLite file (no extra server)
and its consumer runs inside ``tarcza serve``; pointed at Redis it queues there and workers
(``tarcza jobs worker``) run on any machine; periodic tasks and retries are built in. Celery
and Dramatiq need a broker server even for one machine; RQ needs Redis always.
"""

from __future__ import annotations

from typing import Any

from huey import MemoryHuey, RedisHuey, SqliteHuey  # type: ignore[import-untyped]

from tarcza.config import ConfigError, Settings


def make_huey(settings: Settings) -> Any:
    """The queue ``settings.jobs_url`` names: "", "memory" or "redis://host:port/db"."""
    url = settings.jobs_url
    if url == "":
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        return SqliteHuey("tarcza", filename=str(settings.var_dir / "jobs.sqlite3"))
    if url == "memory":
        return MemoryHuey("tarcza", immediate=True)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey("tarcza", url=url)
    raise ConfigError("TARCZA_JOBS_URL must be empty, 'memory' or a redis:// URL")


def start_in_process(huey: Any) -> Any:
    """Run a huey consumer (one worker thread, periodic tasks) inside this process.

    For the default SQLite queue under ``tarcza serve``; the process's signals stay with the
    web server. Returns the consumer: call ``stop(graceful=True)`` on shutdown.
    """
    from huey.consumer import Consumer  # type: ignore[import-untyped]

    class InProcess(Consumer):  # type: ignore[misc]
        def _set_signal_handlers(self) -> None:
            pass  # uvicorn owns SIGINT and SIGTERM

    consumer = InProcess(huey, workers=1, periodic=True, worker_type="thread")
    consumer.start()
    return consumer
