"""Reads never queue behind a writer on SQLite (WAL); on both databases they see committed data.

The matcher reads on every lookup and every evidence file: under a burst of large uploads,
when each commit's fsync waits behind the disk, a reader that queued for the write lock (as
BEGIN IMMEDIATE does) timed out and the report failed with a 500.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from tarcza.store.engine import Database
from tarcza.store.rates import RateWindow


def test_a_reader_does_not_wait_for_a_writer(db: Database) -> None:
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with db.transaction() as session:
            session.add(RateWindow(key="held", window=1, expiry=60, current=1, previous=0))
            session.flush()
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(10)
        started = time.monotonic()
        with db.reading() as session:
            seen = session.execute(text("SELECT count(*) FROM rate_windows")).scalar_one()
        took = time.monotonic() - started
    finally:
        release.set()
        thread.join(10)
    assert seen == 0  # the writer's row is not committed yet
    assert took < 1.0, f"the reader waited {took:.1f} s for the writer"
    with db.reading() as session:
        assert session.execute(text("SELECT count(*) FROM rate_windows")).scalar_one() == 1
