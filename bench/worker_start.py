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
def database(name: str | None, *, drop: bool = False) -> Iterator[tuple[str, bool]]:
    """A fresh database (dropped afterwards), or the kept database ``name`` (made if missing,
    dropped afterwards only when ``drop``); its URL and whether it is new."""
    try:
        with fresh_database(name) as (url, new):
            yield url, new
    finally:
        if name is not None and drop:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            print(f"dropped database {name}")


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


# Lines of the server's log whose arrival splits a start (the first of each, timed from the
# spawn by polling the log while waiting for the first answer).
MARKERS = (
    ("index loaded/built", ("loaded the PDQ index", "built the PDQ index")),
    ("matcher started", ("the matcher started",)),
    ("app started", ("Application startup complete",)),
)


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
            seen: dict[str, float] = {}

            def watch() -> None:
                text = log_path.read_text(errors="replace")
                for name, needles in MARKERS:
                    if name not in seen and any(n in text for n in needles):
                        seen[name] = time.monotonic() - spawned

            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=900) as client:
                while time.monotonic() - spawned < 1800:
                    watch()
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
                watch()
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
    split = ", ".join(f"{name} {at:.2f} s" for name, at in sorted(seen.items(), key=lambda i: i[1]))
    return {
        "seconds": took,
        "cpu": cpu,
        "first": first,
        "after": after,
        "log": lines,
        "split": f"{split} (seen in the log, from the spawn)",
    }


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
    parser.add_argument(
        "--drop", action="store_true", help="drop the --database named at the end (cleaning up)"
    )
    parser.add_argument(
        "--modes",
        default="build,load",
        help="the starts of each round, in order: build, load or both (build,load); load alone "
        "needs a saved index: a --folder that a previous run filled",
    )
    parser.add_argument(
        "--folder",
        type=Path,
        help="the server's folder (var/, with the saved index), kept for the next run; "
        "default: a temporary one",
    )
    parser.add_argument(
        "--reference",
        type=Path,
        help="another version's src folder (e.g. a git archive of the commit before a change): "
        "its starts alternate with this tree's, on the same database and index folder",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="evict the saved index's files from the page cache before each load start "
        "(posix_fadvise DONTNEED on them only), as after a reboot",
    )
    parser.add_argument(
        "--warmup",
        action="store_true",
        help="one uncounted load start of each tree first (numba's cache of each tree filled)",
    )
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    if not modes or set(modes) - {"build", "load"}:
        parser.error("--modes: build, load or build,load")
    results: dict[tuple[str, str], list[float]] = {}
    with contextlib.ExitStack() as stack:
        if args.folder is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        else:
            folder = args.folder.resolve()
            folder.mkdir(parents=True, exist_ok=True)
        url, new = stack.enter_context(database(args.database, drop=args.drop))
        env = environment(url, folder)
        # numba's compiled kernels: a persistent cache, as a deployment has (else each start
        # would compile them again, about 10 s).
        if "NUMBA_CACHE_DIR" in os.environ:
            env["NUMBA_CACHE_DIR"] = os.environ["NUMBA_CACHE_DIR"]
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
        trees = [("this", env)]
        if args.reference is not None:
            reference = str(args.reference.resolve())
            trees.append(("reference", {**env, "PYTHONPATH": reference}))
            print(f"reference: the source tree {reference}, started alternately with this one")
        starts = [
            (tree, tree_env, mode, via)
            for mode in modes
            for via in vias
            for tree, tree_env in trees
        ]
        for _tree, tree_env, mode, _via in starts[: len(starts) if args.warmup else 0]:
            # Uncounted: numba's cache is filled for each source tree (its path is the key).
            pick = int(rng.integers(0, len(sample_ids)))
            hit, expected = flipped(sample_hashes[pick], 5, rng), int(sample_ids[pick])
            if mode == "load":
                start_serve(tree_env, folder, key, hit, expected, 0)
        for round_ in range(1, args.rounds + 1):
            for tree, tree_env, mode, via in starts:
                if mode == "build":
                    shutil.rmtree(folder / "var" / "index", ignore_errors=True)
                elif args.cold:
                    evict(folder / "var" / "index")
                pick = int(rng.integers(0, len(sample_ids)))
                hit, expected = flipped(sample_hashes[pick], 5, rng), int(sample_ids[pick])
                name = f"round {round_} {tree:9} {mode:5}"
                if via == "serve":
                    got = start_serve(tree_env, folder, key, hit, expected, args.lookups)
                    print(
                        f"{name} serve:   first lookup answered {got['seconds']:6.2f} s after "
                        f"spawn, CPU {got['cpu']:.2f} s, load average {loadavg()}; then "
                        f"{mib(got['first'])}; after {args.lookups} lookups {mib(got['after'])}"
                    )
                    print(f"    {got['split']}")
                    for line in got["log"]:
                        print(f"    log: {line.strip()}")
                else:
                    got = start_matcher(tree_env, hit, expected)
                    print(
                        f"{name} matcher: answered {got['seconds']:6.2f} s after spawn "
                        f"({got['source']}), CPU {got['cpu']:.2f} s, load average {loadavg()}; "
                        f"{mib(got['first'])}\n    {got['steps']}"
                    )
                results.setdefault((tree, mode, via), []).append((got["seconds"], got["cpu"]))
    print(f"hashes {args.hashes:,}  load average {loadavg()}")
    print("command: " + " ".join([sys.executable, *sys.argv]))
    for via in vias:
        for tree, _ in trees:
            medians = {mode: median_pair(results[(tree, mode, via)]) for mode in modes}
            line = ", ".join(
                f"{'rebuild' if m == 'build' else m} {t:.2f} s (CPU {c:.2f} s)"
                for m, (t, c) in medians.items()
            )
            if len(medians) == 2:
                line += f"; rebuild/load = {medians['build'][0] / medians['load'][0]:.1f}x"
            print(f"{via:7} {tree:9}: median start to first answer: {line}")
        if len(trees) == 2:
            for mode in modes:
                this = median_pair(results[("this", mode, via)])
                ref = median_pair(results[("reference", mode, via)])
                print(
                    f"{via:7} {mode}: this/reference: time {this[0] / ref[0]:.2f}x, "
                    f"CPU {this[1] / ref[1]:.2f}x"
                )
    return 0


def evict(folder: Path) -> None:
    """Drop the page cache of every file under ``folder`` (written back first)."""
    for path in folder.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fdatasync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def median_pair(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    """The medians of (seconds, CPU seconds) pairs."""
    return (statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs))


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    sys.exit(run())
