"""A process-wide budget of pixels being decoded at once (a weighted semaphore).

Decoding an image costs memory in proportion to its pixels, whatever its size in bytes: a
few kilobytes of PNG can declare 40 megapixels. Each decode takes its declared pixels from the
budget (read from the header, before any pixel memory exists) and gives them back when its
pixels are freed; a decode that does not fit waits. Waiters are served in arrival order, so a
large image is not starved by a stream of small ones. Pillow keeps 4 bytes per pixel for RGB
and RGBA images: the default budget of 50 megapixels is about 200 MB of decoded pixels.

Freed pixels must also leave the process: :func:`return_large_frees_to_the_os`.
"""

from __future__ import annotations

import ctypes
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

DEFAULT_DECODE_PIXEL_BUDGET = 50_000_000


class PixelBudget:
    """At most ``capacity`` pixels held at once; thread-safe, first come first served."""

    def __init__(self, capacity: int = DEFAULT_DECODE_PIXEL_BUDGET) -> None:
        if capacity < 1:
            raise ValueError("a pixel budget must be at least 1 pixel")
        self._capacity = capacity
        self._held = 0
        self._peak = 0
        self._lock = threading.Condition()
        self._queue: deque[object] = deque()

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def held(self) -> int:
        """Pixels held now."""
        return self._held

    @property
    def peak(self) -> int:
        """The most pixels ever held at once (since made or :meth:`reset_peak`)."""
        return self._peak

    def reset_peak(self) -> None:
        with self._lock:
            self._peak = self._held

    def resize(self, capacity: int) -> None:
        """Change the capacity (the composition root sets it from the settings)."""
        if capacity < 1:
            raise ValueError("a pixel budget must be at least 1 pixel")
        with self._lock:
            self._capacity = capacity
            self._lock.notify_all()

    def _weight(self, pixels: int) -> int:
        # An image larger than the whole budget (only when the budget is set below the image
        # limit) takes all of it: it decodes alone.
        return max(1, min(pixels, self._capacity))

    def acquire(self, pixels: int) -> int:
        """Take ``pixels`` (waiting for room); returns the weight to :meth:`release`."""
        ticket = object()
        with self._lock:
            self._queue.append(ticket)
            try:
                while True:
                    weight = self._weight(pixels)
                    if self._queue[0] is ticket and self._held + weight <= self._capacity:
                        break
                    self._lock.wait()
            finally:
                self._queue.remove(ticket)
                self._lock.notify_all()
            self._held += weight
            self._peak = max(self._peak, self._held)
            return weight

    def release(self, weight: int) -> None:
        with self._lock:
            self._held -= weight
            self._lock.notify_all()

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        """Hold ``pixels`` of the budget for the duration of the block."""
        weight = self.acquire(pixels)
        try:
            yield
        finally:
            self.release(weight)


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
LARGE_ALLOCATION = 4 * 1024 * 1024


def return_large_frees_to_the_os(threshold: int = LARGE_ALLOCATION) -> bool:
    """Have malloc map allocations of ``threshold`` bytes or more on their own, and unmap them
    when freed. True when the C library took the setting (glibc), False elsewhere.

    glibc does so by default, but raises its threshold after the first such free: later
    decoded pixels then come from per-thread arenas that keep the memory once freed, and each
    thread that ever decoded a large image holds on to an image's worth (seen: +270 MB after a
    few 39 megapixel decodes in turn). Setting the threshold explicitly turns that off.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold))


#: The one budget of this process: every decode of untrusted images goes through it.
DECODE_BUDGET = PixelBudget()
