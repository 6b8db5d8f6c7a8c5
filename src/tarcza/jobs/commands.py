"""``tarcza jobs worker | run-due``."""

from __future__ import annotations

import argparse
import json
from typing import Any


def _context() -> Any:
    from tarcza.config import get_settings
    from tarcza.hotline.trace import Resolver
    from tarcza.jobs.tasks import JobContext
    from tarcza.store.engine import make_database

    settings = get_settings()
    db = make_database(settings.resolved_database_url, settings)
    return JobContext(
        settings, db, Resolver(settings.dns_nameservers, settings.dns_timeout_seconds)
    )


def _worker(args: argparse.Namespace) -> int:
    from huey.consumer import Consumer  # type: ignore[import-untyped]

    from tarcza.config import get_settings
    from tarcza.jobs.queue import make_huey
    from tarcza.jobs.tasks import register

    huey = make_huey(get_settings())
    ctx = _context()
    register(huey, lambda: ctx)
    Consumer(huey, workers=args.workers, periodic=True, worker_type="thread").run()
    return 0


def _run_due(_args: argparse.Namespace) -> int:
    from tarcza.jobs.tasks import run_due_once
    from tarcza.store.base import utcnow

    print(json.dumps(run_due_once(_context(), utcnow())))
    return 0


def add_parsers(sub: Any) -> None:
    jobs = sub.add_parser("jobs", help="background jobs: notices and re-checks")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True)
    worker = jobs_sub.add_parser("worker", help="run jobs from the queue until stopped")
    worker.add_argument("--workers", type=int, default=2)
    worker.set_defaults(func=_worker)
    jobs_sub.add_parser(
        "run-due", help="send pending notices and re-check what is due, once"
    ).set_defaults(func=_run_due)
