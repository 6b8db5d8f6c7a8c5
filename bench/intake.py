"""Reports per second and latency of POST /api/v1/reports over loopback, SQLite and PostgreSQL.

    python bench/intake.py [--seconds 10] [--rounds 3] [--clients 32] [--workers 2]
                           [--backend postgresql]

Two variants, interleaved round by round against the same server and database so that both see
the same load: ``distinct`` (every report names a URL of its own: a new content item each) and
``shared`` (every report names the same URL: one content item many reports fold into). Each
round reports the rate of 201s, p50/p90/p99, the server's CPU per report (the ``tarcza serve``
process group) and the database backends' CPU per report (PostgreSQL, read from /proc for the
backends of the benchmark's database; "n/a" when the database runs where this /proc does not
see it; a lower bound: the pools' overflow connections that close between the readings are
missed), how the busiest ``--workers`` processes of the server shared its CPU (an even split:
the connections went to every worker), and the load average. At the end every 201 is checked
against a committed row and the audit chain is verified.

With ``--rate R`` the load is an open loop: reports fall due at a steady R per second, each sent
on the first free of ``--clients`` connections, its latency counted from when it fell due (a
closed loop sends less while the server stalls, and hides the stall from its percentiles).
Before the rounds each server gets ``--warmup`` seconds of untimed load (its first seconds,
pools filling, are no round's).

Target (issue 16): >= 500 reports/s with p99 < 100 ms on PostgreSQL, both variants, on a
2-core machine. A minimal keep-alive HTTP/1.1 client on asyncio streams keeps the load generator
cheap, since it shares the cores with the server.
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
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select, text
from tests.support.databases import fresh_postgres_database
from tests.support.server import running_server

from tarcza.audit.service import verify_log
from tarcza.intake.models import Report
from tarcza.schema import migrate
from tarcza.store.engine import make_database

VARIANTS = ("distinct", "shared")
TICK = os.sysconf("SC_CLK_TCK")


def body(variant: str, client: int, n: int) -> bytes:
    """The JSON of one report: its own URL (distinct) or the one everybody names (shared)."""
    url = (
        f"https://example.com/profile/bench-{client}-{n}"
        if variant == "distinct"
        else "https://example.com/profile/bench"
    )
    return json.dumps(
        {
            "category": "sextortion",
            "description": "Invented benchmark text: someone threatens to share photos.",
            "urls": [url],
            "child_in_danger": False,
        }
    ).encode()


@dataclass
class Tally:
    """What one round's clients saw."""

    lat: list[float] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    cpu: float = 0.0  # the server's CPU seconds over the round

    def note(self, status: int, answer: bytes, since: float, counted: bool) -> None:
        """One answer: its reference kept (every 201), its status and the seconds since
        ``since`` counted when the report is within the recorded seconds."""
        if status == 201:
            self.references.append(json.loads(answer)["reference"])
        if counted:
            self.lat.append(time.perf_counter() - since)
            self.codes.append(status)


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes
) -> tuple[int, bytes]:
    """Send one report on a keep-alive connection; its answer's status and body."""
    writer.write(
        b"POST /api/v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\n"
        + f"Content-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return status, await reader.readexactly(length)


async def client(
    port: int, variant: str, me: int, until: float, record: float, tally: Tally
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    n = 0
    while time.perf_counter() < until:
        payload = body(variant, me, n)
        n += 1
        start = time.perf_counter()
        status, answer = await exchange(reader, writer, payload)
        tally.note(status, answer, start, start >= record)
    writer.close()


async def paced_client(
    port: int, variant: str, me: int, due: asyncio.Queue[float | None], record: float, tally: Tally
) -> None:
    """One keep-alive connection sending a report at each time ``due`` gives (None: stop); the
    latency runs from that time, so a report that waited for a free connection counts its
    wait (no coordinated omission)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    n = 0
    while (scheduled := await due.get()) is not None:
        payload = body(variant, me, n)
        n += 1
        status, answer = await exchange(reader, writer, payload)
        tally.note(status, answer, scheduled, scheduled >= record)
    writer.close()


async def load(port: int, variant: str, args: argparse.Namespace) -> Tally:
    tally = Tally()
    now = time.perf_counter()
    until, record = now + args.warmup + args.seconds, now + args.warmup
    if not args.rate:  # closed loop: each client sends its next report once answered
        await asyncio.gather(
            *(client(port, variant, i, until, record, tally) for i in range(args.clients))
        )
        return tally
    # Open loop: reports due at a steady --rate, whatever the answers' pace, sent on the first
    # free connection; the reports due within the recorded seconds are counted, answered or not
    # by then (the round waits for them).
    due: asyncio.Queue[float | None] = asyncio.Queue()
    clients = [
        asyncio.create_task(paced_client(port, variant, i, due, record, tally))
        for i in range(args.clients)
    ]
    step = 1 / args.rate
    k = 0
    while (at := now + k * step) < until:
        if at > time.perf_counter():
            await asyncio.sleep(at - time.perf_counter())
        due.put_nowait(at)
        k += 1
    for _ in clients:
        due.put_nowait(None)
    await asyncio.gather(*clients)
    return tally


def group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) of every live process in the process group ``pgid``."""
    return sum(group_cpu_by_pid(pgid).values())


def group_cpu_by_pid(pgid: int) -> dict[int, float]:
    """CPU seconds of each live process in the process group ``pgid``."""
    return {pid: _cpu_of(pid) for pid in _pids() if _pgid(pid) == pgid}


def split(before: dict[int, float], after: dict[int, float], workers: int) -> str:
    """The busiest ``workers`` processes' shares of their CPU over a round, in per cent (how
    evenly the connections went to the workers: a worker without connections idles)."""
    used = sorted((cpu - before.get(pid, 0.0) for pid, cpu in after.items()), reverse=True)
    busiest = used[:workers]
    total = sum(busiest) or 1.0
    return "/".join(f"{100 * cpu / total:.0f}" for cpu in busiest)


def pids_cpu(pids: list[int]) -> dict[int, float]:
    return {pid: _cpu_of(pid) for pid in pids}


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _stat(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _pgid(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[2]) if fields else -1


def _cpu_of(pid: int) -> float:
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICK if fields else 0.0


def backends(db: object, name: str) -> list[int]:
    """The PostgreSQL backend pids connected to the benchmark's database."""
    with db.sessions() as session:  # type: ignore[attr-defined]
        rows = session.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = :d"), {"d": name}
        )
        return [int(r[0]) for r in rows]


def await_listening(port: int, workers: int, timeout: float = 20.0) -> None:
    """Wait (up to ``timeout``) until ``workers`` sockets listen on ``port``: a server whose
    workers listen on sockets of their own is started only once every worker listens, or the
    first round's connections all go to the first (a shared socket, one listening, waits for the
    whole ``timeout``)."""
    address = f"0100007F:{port:04X}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open("/proc/net/tcp") as table:
            rows = [line.split() for line in table.readlines()[1:]]
        if sum(1 for row in rows if row[1] == address and row[3] == "0A") >= workers:
            return
        time.sleep(0.2)


def one_round(
    port: int,
    pgid: int,
    variant: str,
    db: object,
    name: str | None,
    args: argparse.Namespace,
    label: str = "",
) -> Tally:
    pg_before = backends(db, name) if name else []
    by_pid0, pg0 = group_cpu_by_pid(pgid), pids_cpu(pg_before)  # backends by pid
    tally = asyncio.run(load(port, variant, args))
    by_pid1 = group_cpu_by_pid(pgid)
    cpu0, cpu1 = sum(by_pid0.values()), sum(by_pid1.values())
    pg_after = backends(db, name) if name else []
    # Backends that came and went between the readings are missed; the pools keep them open.
    pg1 = pids_cpu(pg_after)
    db_cpu = sum(cpu - pg0.get(pid, 0.0) for pid, cpu in pg1.items())
    # A database in another PID namespace (a container) shows pids that /proc here lacks.
    visible = bool(pg_after) and all(_stat(pid) for pid in pg_after)
    ok = tally.codes.count(201)
    ms = sorted(x * 1000 for x in tally.lat)
    q = statistics.quantiles(ms, n=100)
    rate = ok / args.seconds
    total = len(tally.references) or 1
    pg_note = ""
    if name:
        pg_note = f"  db CPU {1000 * db_cpu / total:.2f} ms/report" if visible else "  db CPU n/a"
    tally.cpu = cpu1 - cpu0
    print(
        f"  {label}{variant:8} 201s {ok:6}  other {len(tally.codes) - ok:4}  "
        f"{rate:6.0f} reports/s  "
        f"p50 {q[49]:6.1f}  p90 {q[89]:6.1f}  p99 {q[98]:6.1f}  max {ms[-1]:6.1f} ms  "
        f"server CPU {1000 * (cpu1 - cpu0) / total:.2f} ms/report{pg_note}  "
        f"workers {split(by_pid0, by_pid1, args.workers)} %  "
        f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    return tally


def run(backend: str, url: str, args: argparse.Namespace, reference_url: str | None = None) -> bool:
    """The target's verdict for this version (and, with a reference, the CPU ratio to it)."""
    # Each version serves its own database of the same kind (a reference: another src folder,
    # PYTHONPATH for its server), rounds alternating between them.
    versions: dict[str, tuple[str, dict[str, str]]] = {"": (url, {})}
    if reference_url is not None:
        versions = {"this ": (url, {}), "ref  ": (reference_url, {"PYTHONPATH": args.reference})}
    results: dict[tuple[str, str], list[Tally]] = {
        (label, v): [] for label in versions for v in VARIANTS
    }
    with ExitStack() as stack:
        servers = {}
        for label, (version_url, env) in versions.items():
            migrate.upgrade(version_url)
            db = make_database(version_url)
            stack.callback(db.dispose)
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            srv = stack.enter_context(
                running_server(version_url, Path(tmp), workers=args.workers, timeout=120, **env)
            )
            name = version_url.rsplit("/", 1)[1] if backend == "postgresql" else None
            servers[label] = (int(srv.url.rsplit(":", 1)[1]), srv.process.pid, db, name)
        for port, *_ in servers.values():
            await_listening(port, args.workers)
        # Each server's first seconds (its pools' connections made, its caches filled) are
        # not any round's: one untimed --warmup of load first.
        for port, *_ in servers.values():
            asyncio.run(load(port, "distinct", argparse.Namespace(**{**vars(args), "seconds": 0})))
        print(f"{backend}:")
        for r in range(args.rounds):
            for i, variant in enumerate(VARIANTS if r % 2 == 0 else VARIANTS[::-1]):
                labels = list(servers) if (r + i) % 2 == 0 else list(servers)[::-1]
                for label in labels:
                    port, pgid, db, name = servers[label]
                    tally = one_round(port, pgid, variant, db, name, args, label)
                    results[label, variant].append(tally)
        passed = True
        for label, (_, _, db, _) in servers.items():
            passed &= verdict(label, {v: results[label, v] for v in VARIANTS}, db, args)
    if reference_url is not None:
        for variant in VARIANTS:
            cpu = {
                label: sum(t.cpu for t in results[label, variant])
                / max(1, sum(len(t.references) for t in results[label, variant]))
                for label in versions
            }
            print(
                f"  {variant:8} server CPU per report: this {1000 * cpu['this ']:.2f} ms, "
                f"reference {1000 * cpu['ref  ']:.2f} ms, this/reference "
                f"{cpu['this '] / cpu['ref  ']:.2f}"
            )
    return passed


def verdict(label: str, results: dict[str, list[Tally]], db: object, args) -> bool:  # type: ignore[no-untyped-def]
    """Print one version's figures over all rounds and check its rows and audit chain."""
    passed = True
    for variant, tallies in results.items():
        ms = sorted(x * 1000 for t in tallies for x in t.lat)
        ok = sum(t.codes.count(201) for t in tallies)
        rate = ok / (args.seconds * len(tallies))
        p99 = statistics.quantiles(ms, n=100)[98]
        good = rate >= 500 and p99 < 100
        passed &= good
        print(
            f"  {label}{variant:8} all rounds: {rate:6.0f} reports/s  p50 "
            f"{statistics.quantiles(ms, n=100)[49]:.1f} ms  p99 {p99:.1f} ms  "
            f"{'PASS' if good else 'FAIL'} (>= 500/s, p99 < 100 ms)"
        )
    sent = {ref for ts in results.values() for t in ts for ref in t.references}
    with db.sessions() as session:  # type: ignore[attr-defined]
        rows = set(session.scalars(select(Report.reference)))
        count = session.scalar(select(func.count()).select_from(Report)) or 0
        intact = verify_log(session).ok
    missing = len(sent - rows)
    print(
        f"  {label}201s {len(sent)}  rows {count} (the untimed first load's too)  "
        f"201s without a row {missing}  "
        f"audit {'intact' if intact else 'BROKEN'}"
    )
    return passed and missing == 0 and intact


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="open loop: reports due at this steady rate per second, sent on the first free of "
        "--clients connections, latency from the time each was due (default: closed loop, "
        "each client sending as fast as it is answered)",
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="postgresql")
    parser.add_argument(
        "--reference",
        metavar="SRC",
        help="another version's src folder (e.g. git archive BASE src): served too, on a "
        "database of its own, rounds alternating; prints the server CPU ratio",
    )
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {args.clients} clients"
        f"{f' at {args.rate:g} reports/s due (open loop)' if args.rate else ''}, "
        f"{args.workers} server workers, {args.rounds} rounds x {args.seconds} s per variant; "
        f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    with ExitStack() as stack:
        if args.backend in ("sqlite", "both"):
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            ref = f"sqlite:///{tmp}/reference.sqlite3" if args.reference else None
            run("sqlite", f"sqlite:///{tmp}/bench.sqlite3", args, ref)
        if args.backend in ("postgresql", "both"):
            url = stack.enter_context(fresh_postgres_database())
            ref = stack.enter_context(fresh_postgres_database()) if args.reference else None
            ok = run("postgresql", url, args, ref)
            print(f"target on PostgreSQL: {'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    main()
