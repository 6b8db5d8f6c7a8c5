"""Running a coroutine from a test, whatever runs in the test's thread.

The session's Chromium (Playwright's sync API) keeps an asyncio loop running in the main thread
once a browser test has run; ``anyio.run`` there refuses ("Already running asyncio in this
thread"). A thread of its own has no loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import anyio

T = TypeVar("T")


def run(fn: Callable[[], Awaitable[T]]) -> T:
    """``anyio.run(fn)`` in a thread of its own; its result (or its exception)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, fn).result()
