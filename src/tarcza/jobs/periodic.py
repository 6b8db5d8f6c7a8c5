"""A function run every few seconds on a daemon thread of its own, until stopped.

What keeps an in-memory copy within its staleness bound uses one (the matcher catching up on
the change log, the partner keys read ahead): a failure is logged and tried again next period,
since the database may be away for a while, and whatever relies on the copy keeps its bound
either way (entries expire, hits are re-checked).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("tarcza.periodic")


class Periodic:
    """Runs ``work`` every ``period`` seconds on a thread named ``name``.

    ``at_once``: the first run starts as the thread does (the matcher, which also starts
    there); else the first run waits one period (a cache just filled by the requests).
    """

    def __init__(
        self, work: Callable[[], object], period: float, name: str, *, at_once: bool = False
    ) -> None:
        if period <= 0:
            raise ValueError(f"a period is positive, not {period!r}")
        self._work = work
        self._period = period
        self._name = name
        self._at_once = at_once
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def running(self) -> bool:
        """True while the thread is alive (started and not stopped)."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread; nothing when it already runs."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the thread (if any) and wait for it, ``timeout`` seconds at most."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            thread.join(timeout=timeout)

    def _loop(self) -> None:
        if not self._at_once and self._stopping.wait(self._period):
            return
        while True:
            try:
                self._work()
            except Exception:  # the database may be away: the next period tries again
                log.exception("%s failed; retrying in %.1f s", self._name, self._period)
            if self._stopping.wait(self._period):
                return
