"""``tarcza coordination report``: write the monthly report of a month as a PDF."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from tarcza.services import ServicesFactory


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in some containers
        return "cli"


def _report(args: argparse.Namespace, services: ServicesFactory) -> int:
    from tarcza.coordination.report import ReportRefused, ReportService, month_of
    from tarcza.store.base import utcnow

    reports = services().get(ReportService)
    try:
        first = month_of(args.month, utcnow().date())
    except ReportRefused as exc:
        print(f"tarcza: --month: {exc.message}", file=sys.stderr)
        return 2
    data = reports.render(first, args.lang)
    out = Path(args.out)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    reports.audit_written(first, args.lang, actor=_actor())
    print(f"monthly report of {args.month} ({args.lang}) written to {out}, {len(data)} bytes")
    return 0


def add_parsers(sub: Any) -> None:
    coordination = sub.add_parser("coordination", help="the coordinator's national figures")
    cmds = coordination.add_subparsers(dest="coordination_command", required=True)
    report = cmds.add_parser("report", help="write a month's report (PDF) for the ministries")
    report.add_argument("--month", required=True, help="a month that is over, e.g. 2026-11")
    report.add_argument("--lang", choices=("pl", "en"), default="pl")
    report.add_argument("--out", required=True, help="the PDF file to write")
    report.set_defaults(func=_report)
