"""Bank import: ``import_file``'s bulk path against the old one, and ``tarcza bank import`` at 1M.

Writes ``--hashes`` random PDQ hashes (default 1M) to a ``te`` file of bare lines, then imports
them into an empty bank of a fresh database (PostgreSQL, SQLite or both) in a child process per
run, alternating the two methods round by round on the same file:

* ``bulk``: ``bank_service.import_file`` as it is now (COPY / batched executemany, then ANALYZE);
* ``reference``: the old body of ``import_file`` — the same parse, then ``add_signals`` in one
  transaction with ``bulk=False`` (statements of 500 rows returning their ids), no ANALYZE. It
  runs on the first ``--reference-hashes`` lines of the same file (default 100k: at 1M it takes
  minutes); compare the per-hash figures.

Each run prints seconds, hashes/s, CPU seconds per 1,000 hashes (the import process, and for
PostgreSQL also its server backends, read from /proc), the peak RSS of the import process, and
checks the result (every signal stored, one "add" change per signal, changes in the signals'
order). It also shows how PostgreSQL plans the first lookup of 500 keys after the import (with
the statistics ANALYZE left, or without them for the reference). The ratio printed at the end is
reference / bulk of the per-hash wall and CPU figures, medians over the rounds.

Last, ``--cli`` (PostgreSQL) times ``tarcza bank import`` through the real command line as a
subprocess once at ``--hashes``: the figure issue 16 asks for (< 20 s for 1M).

    PYTHONPATH=src .venv/bin/python bench/bank_import.py [--hashes 1000000]
        [--reference-hashes 100000] [--rounds 2] [--backend postgresql|sqlite|both] [--cli]
        [--cli-reference /work/main/src]

``--cli-reference SRC`` also times the CLI of another source tree (its own migrations build its
database), interleaved with this tree's round by round: before/after figures of one run.

The machine is shared: read the wall-clock figures with the load average printed next to them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.lookup_http import CLK_TCK, environment, fresh_database

METHODS = ("bulk", "reference")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def write_hashes(path: Path, count: int, seed: int = 1) -> None:
    rows = np.random.default_rng(seed).integers(0, 256, size=(count, 32), dtype=np.uint8)
    with path.open("w") as out:
        for start in range(0, count, 100_000):
            out.write("".join(bytes(r).hex() + "\n" for r in rows[start : start + 100_000]))


def backend_cpu(database: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL process serving ``database`` (its name in the title)."""
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if not title.startswith("postgres:") or f" {database} " not in title:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            found[int(entry.name)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return found


# -- one run (a child process) ----------------------------------------------------------------


def child(method: str, url: str, file: Path) -> dict[str, Any]:
    from datetime import UTC, datetime

    from sqlalchemy import text

    from tarcza.hashing import bank_service, formats
    from tarcza.hashing.banks import SignalType
    from tarcza.store.engine import make_database

    now = datetime.now(UTC)
    db = make_database(url)
    postgres = db.dialect == "postgresql"
    database = url.rsplit("/", 1)[1]
    with db.transaction() as session:
        bank_service.create_bank(session, "bench", actor="bench", now=now)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    phases = Phases(database if postgres else None)
    if method == "bulk":
        phases.watch()
    server_before = sum(backend_cpu(database).values()) if postgres else 0.0
    cpu_before, started = time.process_time(), time.perf_counter()
    content = file.read_bytes().decode("utf-8-sig")  # as the CLI reads it
    fmt = formats.ExchangeFormat.TE
    if method == "bulk":
        result = bank_service.import_file(
            db, "bench", fmt, content, actor="bench", now=now, bare_type=SignalType.PDQ
        )
    else:  # import_file as it was: parse, then add_signals in one transaction
        parsed = formats.parse(fmt, content, SignalType.PDQ)
        assert parsed.ok
        with db.transaction() as session:
            result = bank_service.add_signals(
                session, "bench", parsed.entries, actor="bench", now=now, origin="import:te"
            )
        del parsed
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    server = sum(backend_cpu(database).values()) - server_before if postgres else 0.0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    del content
    with db.reading() as session:
        signals = session.scalar(text("SELECT count(*) FROM bank_signals"))
        changes = session.scalar(
            text(
                "SELECT count(*) FROM signal_changes c JOIN bank_signals s ON s.id = c.signal_id"
                " WHERE c.op = 'add'"
            )
        )
        in_order = session.scalar(
            text(
                "SELECT count(*) = 0 FROM (SELECT signal_id, lag(signal_id) OVER (ORDER BY seq)"
                " AS before FROM signal_changes) t WHERE before >= signal_id"
            )
        )
        keys = session.scalars(text("SELECT lookup_key FROM bank_signals LIMIT 500")).all()
        plan, lookup_ms = "", 0.0
        if postgres:
            query = (
                "SELECT id FROM bank_signals WHERE bank_id = (SELECT id FROM banks LIMIT 1)"
                " AND signal_type = 'pdq' AND lookup_key = ANY(:keys)"
            )
            explained = session.scalar(
                text(f"EXPLAIN (ANALYZE, FORMAT JSON) {query}"), {"keys": list(keys)}
            )
            top = explained[0]
            plan = _plan_nodes(top["Plan"])
            lookup_ms = float(top["Execution Time"])
    db.dispose()
    return {
        "method": method,
        "backend": db.dialect,
        "added": result.added,
        "seconds": seconds,
        "cpu": cpu,
        "server_cpu": server,
        "rss_mb": rss / 1024,
        "rss_before_mb": rss_before / 1024,
        "ok": signals == result.added == changes and bool(in_order),
        "plan": plan,
        "lookup_ms": lookup_ms,
        "load": loadavg(),
        "phases": phases.table(),
    }


class Phases:
    """Where an import's time goes: wall, this process's CPU and the server backends' CPU of
    each phase, from wrappers around the functions ``import_file`` calls (and the commit)."""

    def __init__(self, database: str | None) -> None:
        self.database = database
        self.rows: dict[str, list[float]] = {}

    def now(self) -> tuple[float, float, float]:
        server = sum(backend_cpu(self.database).values()) if self.database else 0.0
        return time.perf_counter(), time.process_time(), server

    def add(self, name: str, before: tuple[float, float, float]) -> None:
        after = self.now()
        row = self.rows.setdefault(name, [0.0, 0.0, 0.0])
        for i in range(3):
            row[i] += after[i] - before[i]

    def wrap(self, module: Any, attribute: str, name: str) -> None:
        inner = getattr(module, attribute)

        def timed(*args: Any, **kwargs: Any) -> Any:
            before = self.now()
            try:
                return inner(*args, **kwargs)
            finally:
                self.add(name, before)

        setattr(module, attribute, timed)

    def watch(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.orm import Session

        from tarcza.hashing import bank_service, changes, formats

        self.wrap(formats, "parse", "parse (formats.parse)")
        self.wrap(bank_service, "lock_changes", "lock_changes")
        self.wrap(bank_service, "existing_signals", "existing_signals")
        self.wrap(bank_service, "sort_additions", "sort_additions (lookup keys)")
        for attribute in ("_pg_ids", "_copy_signals", "_copy_changes", "_insert_new_signals"):
            self.wrap(changes, attribute, f"  write_new_signals: {attribute}")
        self.wrap(bank_service, "write_new_signals", "write_new_signals (all)")
        self.wrap(bank_service, "_analyse", "ANALYZE (own transaction)")
        marks: list[tuple[float, float, float]] = []
        event.listen(Session, "before_commit", lambda _s: marks.append(self.now()))
        event.listen(Session, "after_commit", lambda _s: self.add("commit", marks.pop()))

    def table(self) -> list[tuple[str, float, float, float]]:
        return [(name, *row) for name, row in self.rows.items()]


def _plan_nodes(node: dict[str, Any]) -> str:
    name = node["Node Type"] + (f" {node['Index Name']}" if "Index Name" in node else "")
    inner = [_plan_nodes(child) for child in node.get("Plans", [])]
    return name + (f" [{', '.join(inner)}]" if inner else "")


# -- the parent -------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh(backend: str, folder: Path) -> Iterator[str]:
    from tarcza.schema import migrate

    if backend == "postgresql":
        with fresh_database() as (url, _):
            migrate.upgrade(url)
            yield url
    else:
        path = folder / f"bench-{time.monotonic_ns()}.sqlite3"
        url = f"sqlite:///{path}"
        migrate.upgrade(url)
        try:
            yield url
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)


def run_child(method: str, url: str, file: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", method, "--url", url, "--file", str(file)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"{method} failed:\n{done.stdout}\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def show(run: dict[str, Any]) -> None:
    n = run["added"]
    per_k = (run["cpu"] + run["server_cpu"]) / n * 1000
    print(
        f"{run['backend']:<10} {run['method']:<9} {n:>8} hashes {run['seconds']:7.1f} s "
        f"{n / run['seconds']:>9,.0f} hashes/s  CPU {run['cpu']:.1f} s + server "
        f"{run['server_cpu']:.1f} s = {per_k * 1000:.0f} µs/hash  peak RSS {run['rss_mb']:.0f} MB "
        f"(before {run['rss_before_mb']:.0f})  {'ok' if run['ok'] else 'WRONG'}  "
        f"load {run['load']}",
        flush=True,
    )
    for name, wall, cpu, server in run.get("phases", []):
        print(f"{'':21}{name:<48} {wall:6.2f} s wall, CPU {cpu:6.2f} s + server {server:6.2f} s")
    if run["plan"]:
        print(f"{'':21}first lookup of 500 keys: {run['lookup_ms']:.1f} ms, {run['plan']}")


def time_cli(file: Path, count: int, folder: Path, src: str | None = None) -> None:
    with fresh_database() as (url, _):
        env = environment(url, folder)
        env["PYTHONPATH"] = src or os.pathsep.join(filter(None, [env.get("PYTHONPATH"), "src"]))
        for args in (["db", "upgrade"], ["bank", "create", "bench"]):
            subprocess.run([sys.executable, "-m", "tarcza.cli", *args], env=env, check=True,
                           capture_output=True)  # fmt: skip
        database = url.rsplit("/", 1)[1]
        command = ["bank", "import", "bench", str(file), "--format", "te", "--type", "pdq"]
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "tarcza.cli", *command], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        server: dict[int, float] = {}
        while True:  # sample the backends' CPU (they end with the command)
            server.update(backend_cpu(database))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
        if proc.returncode != 0:
            raise SystemExit(f"tarcza bank import failed:\n{out.decode()}\n{err.decode()}")
    print(
        f"CLI ({src or 'this tree'}): tarcza bank import of {count:,} PDQ hashes on PostgreSQL: "
        f"{seconds:.1f} s "
        f"({count / seconds:,.0f} hashes/s); CPU {usage.ru_utime + usage.ru_stime:.1f} s + "
        f"server backends ≈ {sum(server.values()):.1f} s; peak RSS {usage.ru_maxrss / 1024:.0f} MB;"
        f" load {loadavg()}"
    )
    print(f"     says: {out.decode().strip()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hashes", type=int, default=1_000_000)
    parser.add_argument("--reference-hashes", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--backend", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--cli", action="store_true", help="also time `tarcza bank import`")
    parser.add_argument(
        "--cli-reference",
        help="a tarcza source tree (e.g. /work/main/src) whose CLI is timed too, interleaved",
    )
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.url, args.file)))
        return 0
    backends = ["postgresql", "sqlite"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        full, part = folder / "bank.te", folder / "reference.te"
        write_hashes(full, args.hashes)
        with full.open() as lines, part.open("w") as out:
            for _ in range(min(args.reference_hashes, args.hashes)):
                out.write(next(lines))
        print(f"{args.hashes:,} hashes (reference: the first {args.reference_hashes:,}); "
              f"load {loadavg()}", flush=True)  # fmt: skip
        runs: list[dict[str, Any]] = []
        failed = False
        for round_ in range(args.rounds):
            order = METHODS if round_ % 2 == 0 else METHODS[::-1]
            for method in order:
                for backend in backends:
                    with fresh(backend, folder) as url:
                        run = run_child(method, url, full if method == "bulk" else part)
                    show(run)
                    failed |= not run["ok"]
                    runs.append(run)
        for backend in backends if runs else []:
            per_hash = {
                method: [
                    (r["seconds"] / r["added"], (r["cpu"] + r["server_cpu"]) / r["added"])
                    for r in runs
                    if r["backend"] == backend and r["method"] == method
                ]
                for method in METHODS
            }
            wall = {m: statistics.median(w for w, _ in v) for m, v in per_hash.items()}
            cpu = {m: statistics.median(c for _, c in v) for m, v in per_hash.items()}
            ratio_wall, ratio_cpu = wall["reference"] / wall["bulk"], cpu["reference"] / cpu["bulk"]
            print(
                f"{backend}: reference / bulk per hash: wall {ratio_wall:.1f}x, "
                f"CPU {ratio_cpu:.1f}x  (bulk at {args.hashes:,}, "
                f"reference at {args.reference_hashes:,} hashes)"
            )
        if args.cli and "postgresql" in backends:
            for round_ in range(args.rounds if args.cli_reference else 1):
                sources = [None, args.cli_reference] if args.cli_reference else [None]
                for src in sources if round_ % 2 == 0 else sources[::-1]:
                    time_cli(full, args.hashes, folder, src)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
