"""Partner lookups through HTTP: ``GET /m/lookup`` against a real ``tarcza serve`` on PostgreSQL.

Creates a fresh PostgreSQL database, imports ``--hashes`` random PDQ hashes into one bank (then
``ANALYZE``), adds a partner, starts ``tarcza serve --workers 2`` and drives ``GET /m/lookup``
from a separate load generator (wrk, or an asyncio client over raw keep-alive HTTP/1.1
connections: see ``--load`` below), so that the generator costs as little CPU as it can on a
machine it shares with the server.

Queries: ``--hit-share`` of them are bank hashes with a few bits flipped (they match), the rest
random hashes (they do not). Reports lookups/s, p50/p99 latency, the server's CPU per lookup
(from /proc of the server's process tree), the load average, and checks a sample of answers
against a brute-force search of the same hashes (exact results; with ``--batch``, answers of
``POST /api/v1/match`` in batches of 10).

    PYTHONPATH=src .venv/bin/python bench/lookup_http.py [--hashes 100000] [--seconds 15]
        [--connections 64] [--workers 2] [--batch 100] [--keep-db NAME] [--reference SRC]

``--reference SRC`` starts a second server from another source tree (e.g. a ``git archive``
of the commit before a change, its ``src``) on the same database, and drives the two in
alternating phases (reference, this tree, reference, this tree; ``--seconds`` in all for
each), so that both are measured under the same load; the ratio of this tree to the
reference is printed. ``--keep-db NAME`` keeps (and reuses) the database with its imported
hashes instead of a fresh one dropped at the end.

The load generator (``--load``): wrk (``apt-get install wrk``; two threads, a Lua script that
cycles through the same requests), the default when it is installed, or this file's asyncio
client in a process of its own (``--load python``), which costs the shared cores more CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

PG_ADMIN_URL = os.environ.get("TARCZA_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
CLK_TCK = os.sysconf("SC_CLK_TCK")
Timings = list[tuple[float, int]]  # (seconds, status) of each request
LOAD_GENERATOR = "python"  # or "wrk" (--load)


@contextlib.contextmanager
def fresh_database(keep: str | None = None) -> Iterator[tuple[str, bool]]:
    """A database URL, and whether it is new; ``keep``: that database, kept afterwards."""
    import psycopg

    name = keep or f"tarcza_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}", not exists
    finally:
        if keep is None:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def environment(database_url: str, folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "PYTHONPATH"}}
    env.update(
        TARCZA_ENV="development",
        TARCZA_VAR_DIR=str(folder / "var"),
        TARCZA_DATABASE_URL=database_url,
        TARCZA_DATA_KEYS="k1:" + base64.b64encode(bytes(range(32))).decode(),
        TARCZA_HMAC_KEY=base64.b64encode(b"h" * 32).decode(),
        TARCZA_PARTNER_LOOKUP_RATE="none",
        TARCZA_DNS="builtin",
        TARCZA_MAIL="catch",
    )
    return env


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tarcza.cli", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"tarcza {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def random_hashes(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32), dtype=np.uint8)


def to_hex(rows: np.ndarray) -> list[str]:
    return [bytes(r).hex() for r in rows]


def make_queries(bank: np.ndarray, count: int, hit_share: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    queries = rng.integers(0, 256, size=(count, 32), dtype=np.uint8)
    hits = rng.random(count) < hit_share
    picks = rng.integers(0, len(bank), size=count)
    for i in np.flatnonzero(hits):
        q = bank[picks[i]].copy()
        for bit in rng.choice(256, size=int(rng.integers(0, 20)), replace=False):
            q[bit // 8] ^= 1 << (bit % 8)
        queries[i] = q
    return queries


def brute_force(bank: np.ndarray, query: np.ndarray, threshold: int) -> list[int]:
    """The sorted distances of every bank hash within ``threshold`` of ``query`` (64-bit words
    and popcounts: about 0.1 s per query at 10M hashes, where unpacking the bits took 4 s)."""
    words = np.ascontiguousarray(bank).view(np.uint64)
    distance = np.bitwise_count(words ^ np.ascontiguousarray(query).view(np.uint64)).sum(axis=1)
    return sorted(int(d) for d in distance[distance <= threshold])


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children still alive."""
    total = 0.0
    pids = [pid]
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            pids.append(int(child))
    for p in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def wait_for(port: int, within: float = 120.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.2)
    raise SystemExit("the server did not start")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the load generator (a separate process) ---------------------------------------------------


async def _connection(
    port: int, paths: list[bytes], key: str, stop: float, out: list[tuple[float, int]]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"Host: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n".encode()
    i = 0
    while time.perf_counter() < stop:
        path = paths[i % len(paths)]
        i += 1
        started = time.perf_counter()
        if path.startswith(b"{"):  # a JSON body for POST /api/v1/match
            writer.write(
                b"POST /api/v1/match HTTP/1.1\r\n" + head
                + b"Content-Type: application/json\r\nContent-Length: "
                + str(len(path)).encode() + b"\r\n\r\n" + path
            )  # fmt: skip
        else:
            writer.write(b"GET " + path + b" HTTP/1.1\r\n" + head + b"\r\n")
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        out.append((time.perf_counter() - started, status))
    writer.close()


async def _drive_all(
    port: int, paths: list[bytes], key: str, seconds: float, conns: int
) -> list[tuple[float, int]]:
    out: list[tuple[float, int]] = []
    stop = time.perf_counter() + seconds
    offset = len(paths) // max(conns, 1)
    await asyncio.gather(
        *(
            _connection(port, paths[c * offset :] + paths[: c * offset], key, stop, out)
            for c in range(conns)
        )
    )
    return out


def generator_main(spec: str) -> None:
    args = json.loads(Path(spec).read_text())
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    paths = [p.encode() for p in args["paths"]]
    started = time.perf_counter()
    out = asyncio.run(_drive_all(args["port"], paths, args["key"], args["seconds"], args["conns"]))
    elapsed = time.perf_counter() - started
    latencies = sorted(t for t, _ in out)
    statuses: dict[int, int] = {}
    for _, s in out:
        statuses[s] = statuses.get(s, 0) + 1
    print(
        json.dumps(
            {
                "count": len(out),
                "elapsed": elapsed,
                "p50": latencies[len(latencies) // 2] if latencies else None,
                "p99": latencies[int(len(latencies) * 0.99)] if latencies else None,
                "statuses": statuses,
            }
        )
    )


# -- the run -----------------------------------------------------------------------------------


def check_sample(
    port: int, key: str, bank: np.ndarray, queries: np.ndarray, n: int, batch: int = 0
) -> int:
    """How many of the first ``n`` answers differ from brute force: ``GET /m/lookup`` one by
    one, or with ``batch``, ``POST /api/v1/match`` in batches of that size."""
    import httpx

    wrong = 0
    headers = {"Authorization": f"Bearer {key}"}
    # The first answers wait for each worker to build (or load) its index.
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
        if batch:
            for start in range(0, n, batch):
                part = queries[start : min(n, start + batch)]
                signals = [{"signal_type": "pdq", "signal": bytes(q).hex()} for q in part]
                answer = client.post("/api/v1/match", json={"signals": signals}, headers=headers)
                for q, result in zip(part, answer.json()["results"], strict=True):
                    got = sorted(m["distance"] for m in result["matches"] if m["bank"] == "bench")
                    if got != brute_force(bank, q, 31):
                        wrong += 1
            return wrong
        for q in queries[:n]:
            params = {"signal_type": "pdq", "signal": bytes(q).hex()}
            answer = client.get("/m/lookup", params=params, headers=headers).json()
            got = sorted(int(m["distance"]) for m in answer.get("bench", []))
            if got != brute_force(bank, q, 31):
                wrong += 1
    return wrong


Server = tuple[subprocess.Popen[bytes], int, IO[str]]


def prebuild_index(env: dict[str, str]) -> None:
    """Build and save the PDQ index under the server's var folder, which its workers then load.

    A worker building a big index itself reads every hash in one fetch, which holds the GIL
    for seconds (3-5 s at 1M under load): uvicorn's 5 s health check then takes it for hung
    and kills it, and its replacement the same (a crash loop, seen at 1M)."""
    code = "from tarcza import app; a = app.build(); a.matcher.start(); a.close()"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"building the index failed:\n{done.stderr}")


def start_server(env: dict[str, str], folder: Path, name: str, workers: int) -> Server:
    port = free_port()
    log = (folder / f"server-{name}.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "tarcza.cli", "serve", "--port", str(port),
         "--workers", str(workers), "--log-level", "warning"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    return server, port, log


_WRK_SCRIPT = r"""
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
-- wrk.format takes these instead of wrk.headers: the key is named again
local json_headers = {["Content-Type"] = "application/json",
                      ["Authorization"] = wrk.headers["Authorization"]}
local threads, started = 0, {}
function setup(thread) thread:set("first", threads * 7919); threads = threads + 1 end
local i = 0
function init(args) i = first or 0 end
function request()
  i = i + 1
  local path = paths[(i % #paths) + 1]
  if string.sub(path, 1, 1) == "{" then
    return wrk.format("POST", "/api/v1/match", json_headers, path)
  end
  return wrk.format("GET", path)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"count": %d, "elapsed": %f, "p50": %f, "p99": %f, "bad_status": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e6,
    latency:percentile(99) / 1e6, e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def drive_wrk(
    folder: Path, port: int, key: str, paths: list[str], seconds: float, conns: int
) -> dict[str, Any]:
    """The same load driven by wrk (C, two threads): far less CPU taken from the server than
    the Python generator. Statuses: 2xx/3xx counted as "200", any other as "other"."""
    (folder / "paths.txt").write_text("\n".join(paths) + "\n")
    (folder / "bench.lua").write_text(_WRK_SCRIPT)
    env = dict(os.environ, BENCH_PATHS=str(folder / "paths.txt"), BENCH_KEY=key)
    run = subprocess.run(
        ["wrk", "-t", "2", "-c", str(conns), "-d", f"{max(seconds, 1):.0f}s", "--timeout", "10s",
         "-s", str(folder / "bench.lua"), f"http://127.0.0.1:{port}"],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    bad = figures["bad_status"] + figures["socket_errors"]
    statuses = {"200": figures["count"] - figures["bad_status"]}
    if bad:
        statuses["other"] = bad
    return {**figures, "statuses": statuses}


def drive(
    folder: Path, port: int, key: str, paths: list[str], seconds: float, conns: int
) -> dict[str, Any]:
    if LOAD_GENERATOR == "wrk":
        return drive_wrk(folder, port, key, paths, seconds, conns)
    spec = folder / "spec.json"
    spec.write_text(
        json.dumps({"port": port, "key": key, "paths": paths, "seconds": seconds, "conns": conns})
    )
    load = subprocess.run(
        [sys.executable, __file__, "--generator", str(spec)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(json.loads(load.stdout))


def request_paths(hexes: list[str], batch: int) -> list[str]:
    if not batch:
        return [f"/m/lookup?signal_type=pdq&signal={h}" for h in hexes]
    return [
        json.dumps({"signals": [{"signal_type": "pdq", "signal": h} for h in hexes[i : i + batch]]})
        for i in range(0, len(hexes) - batch + 1, batch)
    ]


def run(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hashes", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--hit-share", type=float, default=0.1)
    parser.add_argument(
        "--batch", type=int, default=0, help="drive POST /api/v1/match with batches of this size"
    )
    parser.add_argument("--check", type=int, default=200, help="answers checked by brute force")
    parser.add_argument("--keep-db", help="keep (and reuse) the database of this name")
    parser.add_argument("--reference", help="a source tree to compare with, side by side")
    parser.add_argument(
        "--load",
        choices=("wrk", "python"),
        default="wrk" if shutil.which("wrk") else "python",
        help="the load generator: wrk (Debian's package, the default when installed) or this "
        "file's asyncio client",
    )
    parser.add_argument("--generator", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    global LOAD_GENERATOR
    LOAD_GENERATOR = args.load
    if args.generator:
        generator_main(args.generator)
        return 0
    bank = random_hashes(args.hashes, 1)
    queries = make_queries(bank, 20_000, args.hit_share, 2)
    servers: dict[str, Server] = {}
    phases: list[tuple[str, dict[str, Any], float]] = []
    with tempfile.TemporaryDirectory() as tmp, fresh_database(args.keep_db) as (url, new):
        folder = Path(tmp)
        env = environment(url, folder)
        imported = 0.0
        if new:
            cli(env, "db", "upgrade")
            cli(env, "bank", "create", "bench")
            (folder / "bank.te").write_text("\n".join(to_hex(bank)) + "\n")
            started = time.monotonic()
            cli(env, "bank", "import", "bench", str(folder / "bank.te"), "--format", "te",
                "--type", "pdq")  # fmt: skip
            imported = time.monotonic() - started
            import psycopg

            with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
                conn.execute("ANALYZE")
        # A new partner (and key) each run: a kept database gathers a few.
        partner = f"platform{uuid.uuid4().hex[:8]}"
        key = cli(env, "partner", "add", partner, "--bank", "bench").strip().splitlines()[-1]
        trees = {"this": env}
        if args.reference:
            reference = dict(env, PYTHONPATH=args.reference, TARCZA_VAR_DIR=str(folder / "ref"))
            trees = {"reference": reference, "this": env}
        try:
            for name, tree_env in trees.items():
                prebuild_index(tree_env)
                servers[name] = start_server(tree_env, folder, name, args.workers)
            checks: dict[str, tuple[int, float]] = {}
            for name, (_server, port, _) in servers.items():
                wait_for(port)
                started = time.monotonic()
                # Batches of 10 at most: enough requests to warm every worker.
                wrong = check_sample(port, key, bank, queries, args.check, min(args.batch, 10))
                checks[name] = (wrong, time.monotonic() - started)
            paths = request_paths(to_hex(queries), args.batch)
            rounds = 2 if args.reference else 1
            for _ in range(rounds):
                for name, (server, port, _) in servers.items():
                    cpu_before = tree_cpu(server.pid)
                    result = drive(
                        folder, port, key, paths, args.seconds / rounds, args.connections
                    )
                    phases.append((name, result, tree_cpu(server.pid) - cpu_before))
            loadavg = Path("/proc/loadavg").read_text().split()[:3]
        except BaseException:
            for name, (_, _, log) in servers.items():
                log.flush()
                tail = (folder / f"server-{name}.log").read_text()[-3000:]
                print(f"-- server {name} log (tail):\n{tail}", file=sys.stderr)
            raise
        finally:
            for server, _, log in servers.values():
                server.terminate()
                server.wait(30)
                log.close()
    print(f"hashes {args.hashes}  import {imported:.1f} s  workers {args.workers}  "
          f"connections {args.connections}  hit share {args.hit_share}  load {args.load}  "
          f"load average {' '.join(loadavg)}")  # fmt: skip
    figures: dict[str, tuple[float, float]] = {}
    for name in servers:
        mine = [(r, c) for n, r, c in phases if n == name]
        count = sum(r["count"] for r, _ in mine)
        rate = count / sum(r["elapsed"] for r, _ in mine)
        cpu = sum(c for _, c in mine) / max(count, 1)
        figures[name] = (rate, cpu)
        statuses: dict[str, int] = {}
        for r, _ in mine:
            for status, n in r["statuses"].items():
                statuses[status] = statuses.get(status, 0) + n
        p50 = max(r["p50"] for r, _ in mine) * 1000
        p99 = max(r["p99"] for r, _ in mine) * 1000
        what = f"POST /api/v1/match x{args.batch}" if args.batch else "GET /m/lookup"
        per = f" = {rate * args.batch:,.0f} signals/s" if args.batch else ""
        wrong, warm = checks[name]
        print(f"[{name}] {what}: {rate:,.0f} requests/s{per}  p50 {p50:.1f} ms  "
              f"p99 {p99:.1f} ms  server CPU {cpu * 1e3:.3f} ms/request  statuses {statuses}  "
              f"exact {args.check - wrong}/{args.check} ({warm:.1f} s)")  # fmt: skip
    if "reference" in figures:
        (ref_rate, ref_cpu), (rate, cpu) = figures["reference"], figures["this"]
        print(f"this / reference: throughput x{rate / ref_rate:.2f}, "
              f"CPU per request x{cpu / ref_cpu:.2f} (p50/p99: worst phase of each)")  # fmt: skip
    return 1 if any(wrong for wrong, _ in checks.values()) else 0


if __name__ == "__main__":
    sys.exit(run())
