"""Reports per second and latency of POST /api/v1/reports over loopback, SQLite and PostgreSQL.

    python bench/intake.py [--seconds 10] [--clients 32] [--workers 2] [--backend both]

Target (issue 2): >= 500 reports/s with p99 < 100 ms on PostgreSQL, on a 2-core machine.
A minimal keep-alive HTTP/1.1 client on asyncio streams keeps the load generator cheap,
since it shares the cores with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select
from tests.support.databases import fresh_postgres_database
from tests.support.server import running_server

from tarcza.audit.service import verify_log
from tarcza.intake.models import Report
from tarcza.schema import migrate
from tarcza.store.engine import make_database

BODY = json.dumps(
    {
        "category": "sextortion",
        "description": "Invented benchmark text: someone threatens to share photos.",
        "urls": ["https://example.com/profile/bench"],
        "child_in_danger": False,
    }
).encode()


async def client(
    port: int, until: float, record: float, lat: list[float], codes: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        b"POST /api/v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(BODY)}\r\n\r\n".encode()
        + BODY
    )
    while time.perf_counter() < until:
        start = time.perf_counter()
        writer.write(request)
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        if start >= record:
            lat.append(time.perf_counter() - start)
            codes.append(status)
    writer.close()


async def load(
    port: int, seconds: float, clients: int, warmup: float
) -> tuple[list[float], list[int]]:
    lat: list[float] = []
    codes: list[int] = []
    now = time.perf_counter()
    until, record = now + warmup + seconds, now + warmup
    await asyncio.gather(*(client(port, until, record, lat, codes) for _ in range(clients)))
    return lat, codes


def run(backend: str, url: str, args: argparse.Namespace) -> None:
    migrate.upgrade(url)
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_server(url, Path(tmp), workers=args.workers) as srv,
    ):
        port = int(srv.url.rsplit(":", 1)[1])
        lat, codes = asyncio.run(load(port, args.seconds, args.clients, args.warmup))
    ok = codes.count(201)
    ms = sorted(x * 1000 for x in lat)
    q = statistics.quantiles(ms, n=100)
    rate = ok / args.seconds
    db = make_database(url)
    with db.sessions() as session:
        rows = session.scalar(select(func.count()).select_from(Report)) or 0
        intact = verify_log(session).ok
    db.dispose()
    print(
        f"{backend:10} sent {len(codes)}  201s {ok}  other {len(codes) - ok}  "
        f"{rate:7.0f} reports/s  p50 {q[49]:.1f} ms  p90 {q[89]:.1f} ms  p99 {q[98]:.1f} ms  "
        f"max {ms[-1]:.1f} ms  rows {rows}  audit {'intact' if intact else 'BROKEN'}"
    )
    if backend == "postgresql":
        verdict = "PASS" if rate >= 500 and q[98] < 100 else "FAIL"
        print(f"target: >= 500 reports/s with p99 < 100 ms on PostgreSQL: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{args.clients} clients, {args.workers} server workers, {args.seconds} s"
    )
    with ExitStack() as stack:
        if args.backend in ("sqlite", "both"):
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            run("sqlite", f"sqlite:///{tmp}/bench.sqlite3", args)
        if args.backend in ("postgresql", "both"):
            run("postgresql", stack.enter_context(fresh_postgres_database()), args)


if __name__ == "__main__":
    main()
