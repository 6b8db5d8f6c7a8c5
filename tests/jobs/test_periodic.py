"""Periodic: runs its work every period on its own thread, survives a failure, stops."""

from __future__ import annotations

import itertools
import logging
import threading
import time

import pytest

from tarcza.jobs.periodic import Periodic


def _wait(predicate: object, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.005)
    return False


def test_it_runs_at_once_then_every_period_and_stops() -> None:
    runs: list[float] = []
    periodic = Periodic(lambda: runs.append(time.monotonic()), 0.5, "t-at-once", at_once=True)
    started = time.monotonic()
    periodic.start()
    periodic.start()  # once only
    assert _wait(lambda: len(runs) >= 3)
    assert runs[0] - started < 0.45  # the first run did not wait a period
    assert all(b - a >= 0.49 for a, b in itertools.pairwise(runs))
    assert [t.name for t in threading.enumerate()].count("t-at-once") == 1
    periodic.stop()
    assert not periodic.running
    seen = len(runs)
    time.sleep(0.6)
    assert len(runs) == seen  # nothing ran after stop


def test_without_at_once_the_first_run_waits_a_period() -> None:
    runs: list[float] = []
    periodic = Periodic(lambda: runs.append(time.monotonic()), 0.2, "t-later")
    started = time.monotonic()
    periodic.start()
    assert periodic.running
    assert _wait(lambda: runs)
    assert runs[0] - started >= 0.19
    periodic.stop()


def test_a_failure_is_logged_and_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database away")

    periodic = Periodic(flaky, 0.02, "t-flaky", at_once=True)
    with caplog.at_level(logging.ERROR, logger="tarcza.periodic"):
        periodic.start()
        assert _wait(lambda: len(calls) >= 2)
        periodic.stop()
    assert any("t-flaky failed" in r.getMessage() and r.exc_info for r in caplog.records)


def test_a_period_is_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Periodic(lambda: None, 0, "t-zero")


def test_stop_without_start_does_nothing() -> None:
    periodic = Periodic(lambda: None, 1, "t-idle")
    periodic.stop()
    assert not periodic.running
