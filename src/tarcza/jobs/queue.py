"""The job queue: huey, and a ticker that looks for due work.

Why huey: small and well kept; with no setting it queues in a SQLite file (no extra server)
and its consumer runs inside ``tarcza serve``; pointed at Redis it queues there and workers
(``tarcza jobs worker``) run on any machine; retries are built in. Celery and Dramatiq need a
broker server even for one machine; RQ needs Redis always.

Due work (notices to send, URLs to re-check) is found by a ticker every ``tick_seconds``
(``TARCZA_JOBS_TICK_SECONDS``) rather than huey's minute-grained crontab, so that a deployment
(or a system test) can look as often as it needs. Several tickers are harmless: the jobs lock
the rows they work on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from huey import MemoryHuey, RedisHuey, SqliteHuey  # type: ignore[import-untyped]

from tarcza.config import ConfigError, Settings
from tarcza.jobs.periodic import Periodic

log = logging.getLogger("tarcza.jobs")


def make_huey(settings: Settings) -> Any:
    """The queue ``settings.jobs_url`` names: "", "memory" or "redis://host:port/db"."""
    url, name = settings.jobs_url, settings.jobs_queue
    if url == "":
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name, filename=str(settings.var_dir / "jobs.sqlite3"), results=False)
    if url == "memory":
        return MemoryHuey(name, immediate=True, results=False)
    if url.startswith(("redis://", "rediss://", "unix://")):
        # No results kept: nothing reads a job's return value, and huey would keep every one.
        return RedisHuey(name, url=url, results=False)
    raise ConfigError("TARCZA_JOBS_URL must be empty, 'memory' or a redis:// URL")


class Worker:
    """A huey consumer (worker threads) and a ticker thread, inside this process.

    ``signals``: whether the consumer owns SIGINT/SIGTERM (``tarcza jobs worker``) or leaves them
    to the web server (``tarcza serve``). ``stop()`` ends both.
    """

    def __init__(
        self,
        huey: Any,
        tick: Callable[[], None],
        *,
        tick_seconds: float,
        workers: int = 1,
        signals: bool = False,
    ) -> None:
        from huey.consumer import Consumer  # type: ignore[import-untyped]

        class InProcess(Consumer):  # type: ignore[misc]
            def _set_signal_handlers(self) -> None:
                if signals:
                    super()._set_signal_handlers()

        self._consumer = InProcess(huey, workers=workers, periodic=False, worker_type="thread")
        self._seconds = tick_seconds
        # Looks for due work every tick_seconds (a failure is logged, then tried again).
        self._ticker = Periodic(tick, tick_seconds, "tarcza-ticker")

    def describe(self) -> str:
        """One line for the log: which queue, how many threads, how often it looks."""
        huey = self._consumer.huey
        return (
            f"job worker on queue {huey.name!r} ({type(huey).__name__}), "
            f"{self._consumer.workers} thread(s), due work every {self._seconds:g} s"
        )

    def start(self) -> None:
        """Start the consumer and the ticker (returns at once)."""
        self._consumer.start()
        self._ticker.start()
        log.info("started %s", self.describe())

    def run(self) -> None:
        """Run until SIGINT/SIGTERM (the consumer's own loop)."""
        self._ticker.start()
        log.info("started %s", self.describe())
        self._consumer.run()
        self._ticker.stop()

    def stop(self) -> None:
        """Stop looking for work and let running jobs finish."""
        self._ticker.stop()
        self._consumer.stop(graceful=True)
