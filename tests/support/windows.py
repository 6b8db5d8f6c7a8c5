"""Starting a rate test well inside one window of the sliding window counter.

The counter weighs the previous window's count by the part of the current window still to
come, floored: a run of requests that straddles a window boundary may be given a unit or
two more than the limit (limits' own storages behave the same). A test that counts answers
exactly starts where its whole run fits in the current window.
"""

from __future__ import annotations

import time


def clear_of_window_boundary(window_seconds: int, needed_seconds: float) -> None:
    """Sleep (at most ``needed_seconds``) until ``needed_seconds`` are left of the current
    ``window_seconds`` window, aligned as the counter aligns it (on the epoch)."""
    assert needed_seconds < window_seconds
    left = window_seconds - time.time() % window_seconds
    if left < needed_seconds:
        time.sleep(left + 0.05)
