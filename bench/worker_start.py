"""How fast a worker starts serving lookups at N PDQ hashes: from a saved index vs. a rebuild.

Creates a fresh PostgreSQL database, fills one bank with ``--hashes`` random PDQ signals by
``COPY`` (``bank_signals`` and an ``add`` per signal in ``signal_changes``, as an import logs
them; then ``ANALYZE``) and adds a partner. Then, alternating on the same database, round by
round:

- ``build``: the index folder (``var/index``) deleted, so the worker builds the index from the
  database and saves it (the reference: the rebuild path);
- ``load``: the worker loads the snapshot the previous start saved (memory-mapped).

Each start is measured two ways (``--via``): ``serve`` spawns ``tarcza serve`` and times it from
the spawn to the first successful ``GET /m/lookup`` answer (a bank hash with 5 bits flipped,
checked to be found), then reads the server's RSS (and its peak, VmHWM) from /proc, again after
``--lookups`` more random lookups; ``matcher`` spawns a bare Python process that builds the
application and starts the matcher (the same start without the web server: the reference for
what the web server itself adds). Prints each start, the ratio build/load and the load average.

    PYTHONPATH=src .venv/bin/python bench/worker_start.py --hashes 1000000 --rounds 2
    PYTHONPATH=src .venv/bin/python bench/worker_start.py --hashes 10000000 --rounds 1 --via serve

The hashes are random (synthetic); nothing real is ever used.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from lookup_http import PG_ADMIN_URL, cli, environment, free_port, fresh_database

CLK_TCK = os.sysconf("SC_CLK_TCK")
CHUNK = 250_000  # rows per COPY batch
SAMPLE_EVERY = 997  # bank hashes kept for queries that must match


def fill(url: str, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """COPY ``count`` random PDQ signals into bank "bench" with one "add" change each;
    returns a sample of (ids, hashes) for queries that must match."""
    import psycopg

    rng = np.random.default_rng(seed)
    sample_ids: list[np.ndarray] = []
    sample_hashes: list[np.ndarray] = []
    now = "2026-12-01 00:00:00+00"
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        bank_id = conn.execute("SELECT id FROM banks WHERE name = 'bench'").fetchone()[0]
        first = int(conn.execute("SELECT coalesce(max(id), 0) + 1 FROM bank_signals").fetchone()[0])
        first_seq = int(
            conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM signal_changes").fetchone()[0]
        )
        with conn.cursor() as cur, conn.transaction():
            # Bulk load as a restore does: the secondary indexes are dropped and made again
            # afterwards (sorting once instead of 2 x count random b-tree inserts), and the
            # foreign key triggers are off while signal_changes is filled.
            cur.execute("SET LOCAL maintenance_work_mem = '512MB'")
            cur.execute("SET LOCAL session_replication_role = replica")
            unique = cur.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'bank_signals'::regclass AND contype = 'u'"
            ).fetchall()
            for name, _ in unique:
                cur.execute(f'ALTER TABLE bank_signals DROP CONSTRAINT "{name}"')
            indexes = cur.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'bank_signals' "
                "AND indexname NOT IN (SELECT conname FROM pg_constraint "
                "WHERE conrelid = 'bank_signals'::regclass)"
            ).fetchall()
            for name, _ in indexes:
                cur.execute(f'DROP INDEX "{name}"')
            for start in range(0, count, CHUNK):
                n = min(CHUNK, count - start)
                hashes = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
                ids = np.arange(first + start, first + start + n, dtype=np.int64)
                text = hashes.tobytes().hex()
                values = [text[i : i + 64] for i in range(0, len(text), 64)]
                rows = "".join(
                    f"{i}\t{bank_id}\tpdq\t{v}\t{v}\t\\N\t{now}\t\\N\n"
                    for i, v in zip(ids.tolist(), values, strict=True)
                )
                with cur.copy(
                    "COPY bank_signals (id, bank_id, signal_type, value, lookup_key, label,"
                    " created_at, removed_at) FROM STDIN"
                ) as copy:
                    copy.write(rows)
                changes = "".join(
                    f"{first_seq + start + k}\t{i}\tadd\t{now}\n"
                    for k, i in enumerate(ids.tolist())
                )
                with cur.copy(
                    "COPY signal_changes (seq, signal_id, op, created_at) FROM STDIN"
                ) as copy:
                    copy.write(changes)
                sample_ids.append(ids[::SAMPLE_EVERY])
                sample_hashes.append(hashes[::SAMPLE_EVERY])
            for name, definition in unique:
                cur.execute(f'ALTER TABLE bank_signals ADD CONSTRAINT "{name}" {definition}')
            for _, definition in indexes:
                cur.execute(definition)
            cur.execute(
                "SELECT setval(pg_get_serial_sequence('bank_signals', 'id'), "
                "(SELECT max(id) FROM bank_signals))"
            )
            cur.execute(
                "SELECT setval(pg_get_serial_sequence('signal_changes', 'seq'), "
                "(SELECT max(seq) FROM signal_changes))"
            )
        conn.execute("ANALYZE")
    return np.concatenate(sample_ids), np.concatenate(sample_hashes)


@contextlib.contextmanager
def database(name: str | None) -> Iterator[tuple[str, bool]]:
    """A fresh database (dropped afterwards), or the kept database ``name`` (made if missing);
    its URL and whether it is new."""
    if name is None:
        with fresh_database() as url:
            yield url, True
        return
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    yield f"{base}/{name}", not exists


def sample_of(url: str) -> tuple[np.ndarray, np.ndarray]:
    """A sample of (ids, hashes) of the bank, for queries that must match."""
    import psycopg

    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        rows = conn.execute(
            f"SELECT id, value FROM bank_signals WHERE id % {SAMPLE_EVERY} = 0 LIMIT 2000"
        ).fetchall()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    hashes = np.frombuffer(bytes.fromhex("".join(r[1] for r in rows)), np.uint8).reshape(-1, 32)
    return ids, hashes


def count_of(url: str) -> int:
    import psycopg

    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        row = conn.execute("SELECT count(*) FROM bank_signals WHERE signal_type = 'pdq'").fetchone()
    return int(row[0]) if row else 0


def flipped(hash_row: np.ndarray, bits: int, rng: np.random.Generator) -> str:
    q = hash_row.copy()
    for bit in rng.choice(256, size=bits, replace=False):
        q[bit // 8] ^= 1 << (bit % 8)
    return bytes(q).hex()


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon, RssFile of ``pid`` in MiB."""
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) // 1024
    return out


def cpu_seconds(pid: int) -> float:
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    return float("nan")


def start_serve(
    env: dict[str, str], folder: Path, key: str, hit: str, expected: int, lookups: int
) -> dict[str, Any]:
    port = free_port()
    log_path = folder / f"serve-{time.monotonic_ns()}.log"
    with log_path.open("w") as log:
        spawned = time.monotonic()
        server = subprocess.Popen(
            [sys.executable, "-m", "tarcza.cli", "serve", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            headers = {"Authorization": f"Bearer {key}"}
            params = {"signal_type": "pdq", "signal": hit}
            answer = None
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=900) as client:
                while time.monotonic() - spawned < 1800:
                    if server.poll() is not None:
                        raise SystemExit(f"tarcza serve exited:\n{log_path.read_text()}")
                    try:
                        answer = client.get("/m/lookup", params=params, headers=headers)
                    except httpx.TransportError:
                        time.sleep(0.02)
                        continue
                    if answer.status_code == 200:
                        break
                    time.sleep(0.02)
                took = time.monotonic() - spawned
                cpu = cpu_seconds(server.pid)
                first = proc_status(server.pid)
                assert answer is not None and answer.status_code == 200, answer
                found = [m["bank_content_id"] for m in answer.json().get("bench", [])]
                if expected not in found:
                    raise SystemExit(f"the first lookup missed signal {expected}: {answer.text}")
                rng = np.random.default_rng(7)
                for _ in range(lookups):
                    q = bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex()
                    client.get("/m/lookup", params={**params, "signal": q}, headers=headers)
                after = proc_status(server.pid)
        finally:
            server.terminate()
            server.wait(60)
    lines = [line for line in log_path.read_text().splitlines() if "PDQ index" in line]
    return {"seconds": took, "cpu": cpu, "first": first, "after": after, "log": lines}


MATCHER_CHILD = """
import json, sys, time
w, c = time.monotonic, time.process_time
phases = [("spawn", 0.0, 0.0)]
from tarcza import app
from tarcza.hashing.banks import SignalType
from tarcza.hashing.matcher import SignalQuery
phases.append(("import", w(), c()))
a = app.build()
phases.append(("build app", w(), c()))
a.matcher.start()
phases.append(("matcher start", w(), c()))
[result] = a.matcher.match([[SignalQuery(SignalType.PDQ, sys.argv[1])]])
phases.append(("first match", w(), c()))
status = {}
for line in open("/proc/self/status"):
    k, _, v = line.partition(":")
    if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
        status[k] = int(v.split()[0]) // 1024
print(json.dumps({"ids": [m.signal_id for m in result.matches], "status": status,
                  "source": a.matcher.source, "phases": phases, "t0": float(sys.argv[2])}),
      flush=True)
"""


def start_matcher(env: dict[str, str], hit: str, expected: int) -> dict[str, Any]:
    spawned = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", MATCHER_CHILD, hit, str(spawned)],
        env=env,
        capture_output=True,
        text=True,
    )
    took = time.monotonic() - spawned
    if done.returncode != 0:
        raise SystemExit(f"the matcher start failed:\n{done.stderr}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    if expected not in out["ids"]:
        raise SystemExit(f"the matcher missed signal {expected}: {out}")
    steps = []
    previous_wall, previous_cpu = spawned, 0.0
    for name, wall, cpu in out["phases"][1:]:
        steps.append(f"{name} {wall - previous_wall:.2f} s (CPU {cpu - previous_cpu:.2f})")
        previous_wall, previous_cpu = wall, cpu
    return {
        "seconds": out["phases"][-1][1] - spawned,
        "first": out["status"],
        "source": out["source"],
        "steps": ", ".join(steps),
        "cpu": out["phases"][-1][2],
        "exited": took,
    }


def mib(status: dict[str, int]) -> str:
    return (
        f"RSS {status.get('VmRSS', 0)} MiB (anon {status.get('RssAnon', 0)}, "
        f"file {status.get('RssFile', 0)}), peak {status.get('VmHWM', 0)} MiB"
    )


def run(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hashes", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--via", choices=("serve", "matcher", "both"), default="both")
    parser.add_argument("--lookups", type=int, default=200, help="random lookups before RSS")
    parser.add_argument(
        "--database", help="keep the filled database under this name (and reuse it when there)"
    )
    args = parser.parse_args(argv)
    results: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, database(args.database) as (url, new):
        folder = Path(tmp)
        env = environment(url, folder)
        if new:
            cli(env, "db", "upgrade")
            cli(env, "bank", "create", "bench")
            started = time.monotonic()
            sample_ids, sample_hashes = fill(url, args.hashes, seed=1)
            took = time.monotonic() - started
            print(f"filled {args.hashes:,} PDQ signals by COPY in {took:.1f} s")
        else:
            sample_ids, sample_hashes = sample_of(url)
            args.hashes = count_of(url)
            print(f"reusing database {args.database}: {args.hashes:,} PDQ signals")
        partner = f"platform-{time.time_ns()}"
        key = cli(env, "partner", "add", partner, "--bank", "bench").strip().splitlines()[-1]
        rng = np.random.default_rng(3)
        vias = ("serve", "matcher") if args.via == "both" else (args.via,)
        for round_ in range(1, args.rounds + 1):
            for mode in ("build", "load"):
                for via in vias:
                    if mode == "build":
                        shutil.rmtree(folder / "var" / "index", ignore_errors=True)
                    pick = int(rng.integers(0, len(sample_ids)))
                    hit, expected = flipped(sample_hashes[pick], 5, rng), int(sample_ids[pick])
                    if via == "serve":
                        got = start_serve(env, folder, key, hit, expected, args.lookups)
                        print(
                            f"round {round_} {mode:5} serve:   first lookup answered "
                            f"{got['seconds']:6.2f} s after spawn, CPU {got['cpu']:.2f} s; "
                            f"then {mib(got['first'])}; after {args.lookups} lookups "
                            f"{mib(got['after'])}"
                        )
                        for line in got["log"]:
                            print(f"    log: {line.strip()}")
                    else:
                        got = start_matcher(env, hit, expected)
                        print(
                            f"round {round_} {mode:5} matcher: answered {got['seconds']:6.2f} s "
                            f"after spawn ({got['source']}), CPU {got['cpu']:.2f} s; "
                            f"{mib(got['first'])}\n    {got['steps']}"
                        )
                    results.setdefault((mode, via), []).append(got["seconds"])
    loadavg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"hashes {args.hashes:,}  load average {loadavg}")
    for via in vias:
        build = statistics.median(results[("build", via)])
        load = statistics.median(results[("load", via)])
        print(
            f"{via:7}: median start to first answer: rebuild {build:.2f} s, "
            f"load {load:.2f} s; rebuild/load = {build / load:.1f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(run())
