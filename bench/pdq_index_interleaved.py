"""PDQ radius search, side by side: tarcza's PdqIndex and its references, interleaved query by
query in one process on the same hashes and queries, so that all see the same load.

- ``tarcza``: :class:`tarcza.hashing.index.PdqIndex` with the layout it chooses for the size
  (16 chunks of 16 bits up to ~2M hashes, 12 chunks of 21-22 bits at 10M),
- ``tarcza16``: the same index forced to 16 chunks of 16 bits (the layout of the previous
  release at every size),
- ``single``: tarcza's very index (the same tables, no copy) searched with the single plan at
  every threshold, as before the pair plan (every candidate row verified; see the module
  docstring of :mod:`tarcza.hashing.index`),
- ``PDQIndex``: python-threatexchange's ``PDQIndex`` (faiss IndexBinaryMultiHash, what
  Hasher-Matcher-Actioner deploys), on one thread,
- ``tree=SRC``: the index of another tree of tarcza (its ``src`` folder, say a checkout of an
  earlier commit), loaded beside this one under another module name: a change to the index
  measured against what it changes, on the same tables (``--cache``: the same saved index,
  loaded by each tree's own code) and queries; its build time includes compiling its kernels
  (it keeps no numba cache).

Timing: the queries are taken in groups of one per implementation, each implementation timing a
different query of the group (rotating which), so that none finds the cache lines another just
fetched for the same query warm (the implementations share tables). Every implementation then
answers every query untimed: all answers are asserted identical to tarcza's, and tarcza's to a
brute-force scan on a sample (``--brute``). Reports p50/p90/p99 of single-query latency and the
p50 of its CPU time (thread time: steadier on a loaded machine) for each, the ratios of each
reference's p50s to tarcza's, build time, the resident memory each build
added and the peak while building, the time to add one hash, to merge the delta segment (a
merged copy, while the old one is searchable) and the peak memory during that merge, and the
load averages before and after.

Data (``--data``):

- ``uniform``: uniformly random hashes; queries random, 1 in 10 near a stored hash.
- ``pdq-like``: hashes with the bit statistics of real PDQ lists, modelled on
  ``../shared/testdata/pdq/haystack.txt`` (1,350 hashes of photographs and their edits): each bit
  set with that bit's frequency in the haystack, and 40 % of hashes near-duplicates of an earlier
  one, at a distance drawn from the haystack's nearest-neighbour distances (median 40 bits;
  38 % of its hashes have a neighbour within 31). Queries: half near a stored hash, half new.

    PYTHONPATH=src .venv/bin/python bench/pdq_index_interleaved.py --n 10000000 --data uniform
        [--references single,tarcza16] [--queries 2000] [--cache /tmp/pdq-bench]
    PYTHONPATH=src .venv/bin/python bench/pdq_index_interleaved.py --n 1000000 \
        --references PDQIndex,tarcza16
    PYTHONPATH=src .venv/bin/python bench/pdq_index_interleaved.py --n 10000000 \
        --references tree=/tmp/ref/src --cache /tmp/pdq-bench

``--cache DIR`` keeps the hashes, queries and built indexes in ``DIR`` (about 0.8 GB per index
at 10M) and reuses them in later runs with the same ``--n``, ``--data``, ``--queries`` and
``--seed`` (build times and build memory are then not measured: the index is loaded).

threatexchange==1.2.17 and faiss-cpu are needed for ``PDQIndex`` (the dev and scale extras).
"""

from __future__ import annotations

import argparse
import copy
import functools
import gc
import importlib.util
import os
import resource
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tarcza.hashing.index import PdqIndex

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]
Found = list[tuple[int, int]]
HAYSTACK = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "pdq" / "haystack.txt"


# -- data ----------------------------------------------------------------------------------------


def _haystack() -> U8:
    lines = [line.strip() for line in HAYSTACK.read_text().splitlines() if line.strip()]
    raw = np.frombuffer(bytes.fromhex("".join(lines)), dtype=np.uint8).reshape(-1, 32)
    return np.unpackbits(raw, axis=1, bitorder="little")


def pdq_like(n: int, queries: int, rng: np.random.Generator) -> tuple[U8, U8]:
    bits = _haystack()
    p = bits.mean(axis=0)
    d = (bits[:, None, :] != bits[None, :, :]).sum(axis=2)
    np.fill_diagonal(d, 256)
    nearest = d.min(axis=1)
    nearest = nearest[nearest < 128]

    def fresh(m: int) -> U8:
        drawn = (rng.random((m, 256)) < p).astype(np.uint8)
        return np.packbits(drawn, axis=1, bitorder="little")

    hashes = np.empty((n, 32), dtype=np.uint8)
    done = 0
    block = 200_000
    while done < n:
        m = min(block, n - done)
        rows = fresh(m)
        if done:  # 40 % near-duplicates of a hash made before this block
            dup = np.flatnonzero(rng.random(m) < 0.4)
            parents = hashes[rng.integers(0, done, size=dup.size)]
            ks = rng.choice(nearest, size=dup.size)
            rows[dup] = _flip_fast(parents, ks, rng)
        hashes[done : done + m] = rows
        done += m
    near = hashes[rng.integers(0, n, size=queries // 2)]
    qs = np.concatenate(
        [_flip_fast(near, rng.choice(nearest, size=len(near)), rng), fresh(queries - len(near))]
    )
    return hashes, qs[rng.permutation(len(qs))]


def _flip_fast(rows: U8, ks: npt.NDArray[Any], rng: np.random.Generator) -> U8:
    """Each row with about ks[i] random bits flipped (ks[i] positions drawn with replacement,
    so a few fewer when two coincide; fine for a model)."""
    ks = np.asarray(ks, dtype=np.int64)
    most = int(ks.max()) if len(ks) else 0
    mask = np.zeros((len(rows), 256), dtype=bool)
    if most:
        positions = rng.integers(0, 256, size=(len(rows), most))
        r, c = np.nonzero(np.arange(most)[None, :] < ks[:, None])
        mask[r, positions[r, c]] = True
    return rows ^ np.packbits(mask, axis=1, bitorder="little")


def uniform(n: int, queries: int, rng: np.random.Generator) -> tuple[U8, U8]:
    hashes = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    qs = rng.integers(0, 256, size=(queries, 32), dtype=np.uint8)
    near = np.arange(0, queries, 10)
    qs[near] = _flip_fast(
        hashes[rng.integers(0, n, size=len(near))], rng.integers(0, 32, size=len(near)), rng
    )
    return hashes, qs


# -- measuring -----------------------------------------------------------------------------------


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakWatcher:
    """The highest resident set size seen while a block runs (sampled every 5 ms)."""

    def __enter__(self) -> PeakWatcher:
        self.peak = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())


def brute(hashes: U8, ids: I64, query: U8, threshold: int) -> Found:
    d = np.bitwise_count(hashes ^ query).sum(axis=1, dtype=np.int64)
    sel = np.flatnonzero(d <= threshold)
    return sorted(zip(ids[sel].tolist(), d[sel].tolist(), strict=True), key=lambda x: (x[1], x[0]))


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


# -- implementations -----------------------------------------------------------------------------


def build_tarcza(
    hashes: U8, ids: I64, chunks: int | None, cache: Path | None
) -> tuple[Callable[[U8], Found], Any]:
    saved = None if cache is None else cache / f"index-{chunks or 'auto'}"
    if saved is not None and saved.exists():
        index = PdqIndex.load(saved, mmap=False)
    else:
        index = PdqIndex(chunks=chunks).build(hashes, ids)
        if saved is not None:
            index.save(saved.with_suffix(".tmp"))
            saved.with_suffix(".tmp").rename(saved)
    return (lambda q: index.search(q, THRESHOLD)), index


def single_plan(index: PdqIndex) -> tuple[Callable[[U8], Found], Any]:
    """``index``'s tables searched with the single plan at every threshold (a shallow copy)."""
    single = copy.copy(index)
    single._pairs = np.zeros_like(index._pairs)
    return (lambda q: single.search(q, THRESHOLD)), single


def _uncached(njit: Any, *args: Any, **options: Any) -> Any:
    return njit(*args, **{**options, "cache": False})


def tree_index(
    src: str, hashes: U8, ids: I64, cache: Path | None
) -> tuple[Callable[[U8], Found], Any]:
    """The index of the tree at ``src`` (a ``src`` folder), its module loaded under its own
    name; built by that tree, or loaded from ``--cache`` by that tree's code."""
    path = Path(src) / "tarcza" / "hashing" / "index.py"
    spec = importlib.util.spec_from_file_location("reference_tree_index", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"no index module at {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    # Compiled here without numba's disk cache: that cache is keyed by the file, and entries
    # written under this module's name would break that tree's own processes (a server of
    # that tree, say, in another benchmark), which load the file as tarcza.hashing.index.
    njit = numba.njit
    numba.njit = functools.partial(_uncached, njit)
    try:
        spec.loader.exec_module(module)
    finally:
        numba.njit = njit
    saved = None if cache is None else cache / "index-auto"
    if saved is not None and saved.exists():
        index = module.PdqIndex.load(saved, mmap=False)
    else:
        index = module.PdqIndex().build(hashes, ids)
    index.search(hashes[0], THRESHOLD)  # its kernels compiled here, untimed
    return (lambda q: index.search(q, THRESHOLD)), index


def cached_data(
    args: argparse.Namespace, rng: np.random.Generator
) -> tuple[U8, U8, I64, Path | None]:
    """The hashes, queries and ids (from ``--cache`` when there, else made and kept there)."""
    make = uniform if args.data == "uniform" else pdq_like
    if args.cache is None:
        hashes, queries = make(args.n, args.queries, rng)
        return hashes, queries, rng.permutation(args.n).astype(np.int64) * 3 + 1_000_000, None
    folder = Path(args.cache) / f"{args.data}-{args.n}-{args.queries}-{args.seed}"
    if not (folder / "ids.npy").exists():
        folder.mkdir(parents=True, exist_ok=True)
        hashes, queries = make(args.n, args.queries, rng)
        ids = rng.permutation(args.n).astype(np.int64) * 3 + 1_000_000
        for name, array in (("hashes", hashes), ("queries", queries), ("ids", ids)):
            np.save(folder / f"{name}.npy", array)
    load = [np.load(folder / f"{name}.npy") for name in ("hashes", "queries", "ids")]
    return load[0], load[1], load[2], folder


def build_pdqindex(hashes: U8, ids: I64) -> tuple[Callable[[U8], Found], Any]:
    import faiss
    from threatexchange.signal_type.pdq.pdq_index import PDQIndex

    faiss.omp_set_num_threads(1)
    text = hashes.tobytes().hex()
    entries = [(text[i * 64 : i * 64 + 64], int(v)) for i, v in enumerate(ids.tolist())]
    index = PDQIndex(entries=entries)
    del entries, text

    def search(q: U8) -> Found:
        found = [
            (int(m.metadata), int(m.similarity_info.distance))
            for m in index.query(q.tobytes().hex())
        ]
        return sorted(found, key=lambda x: (x[1], x[0]))

    return search, index


THRESHOLD = 31


def main() -> None:
    global THRESHOLD
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--data", choices=["uniform", "pdq-like"], default="uniform")
    parser.add_argument(
        "--references",
        default="single",
        help="comma-separated: single,tarcza16,PDQIndex,tree=SRC",
    )
    parser.add_argument("--cache", help="a folder keeping the data and indexes between runs")
    parser.add_argument("--threshold", type=int, default=31)
    parser.add_argument("--brute", type=int, default=50, help="queries checked by brute force")
    parser.add_argument("--adds", type=int, default=1000, help="single adds timed")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    THRESHOLD = args.threshold
    print(f"load averages before: {os.getloadavg()}", flush=True)
    rng = np.random.default_rng(args.seed)
    hashes, queries, ids, cache = cached_data(args, rng)
    # Compile (or load from numba's cache) every kernel first.
    warm = PdqIndex.build(hashes[:1000], ids[:1000])
    warm.search(queries[0])
    gc.collect()

    impls: dict[str, Callable[[U8], Found]] = {}
    keep: dict[str, Any] = {}
    for name in ["tarcza", *[r for r in args.references.split(",") if r]]:
        gc.collect()
        before = rss()
        with PeakWatcher() as peak:
            start = time.perf_counter()
            if name == "tarcza":
                impls[name], keep[name] = build_tarcza(hashes, ids, None, cache)
            elif name == "single":
                impls[name], keep[name] = single_plan(keep["tarcza"])
            elif name == "tarcza16":
                impls[name], keep[name] = build_tarcza(hashes, ids, 16, cache)
            elif name == "PDQIndex":
                impls[name], keep[name] = build_pdqindex(hashes, ids)
            elif name.startswith("tree="):
                impls[name], keep[name] = tree_index(name[5:], hashes, ids, cache)
            else:
                raise SystemExit(f"unknown reference {name}")
            seconds = time.perf_counter() - start
        gc.collect()
        extra = ""
        if hasattr(keep[name], "chunk_count"):  # tarcza's index, of this tree or another
            extra = f", {keep[name].chunk_count} chunks, arrays {mib(keep[name].nbytes)}"
            plan = "pairs" if keep[name]._pairs[min(THRESHOLD, 47)] else "single"
            extra += f", {plan} plan at threshold {THRESHOLD}"
        print(
            f"{name}: built in {seconds:.1f} s; resident +{mib(rss() - before)}, "
            f"peak while building +{mib(peak.peak - before)}{extra}",
            flush=True,
        )

    names = list(impls)
    latency: dict[str, list[int]] = {name: [] for name in names}
    cpu: dict[str, list[int]] = {name: [] for name in names}
    for name in names:
        impls[name](queries[0])
    k = len(names)
    for g in range(len(queries) // k):
        for slot in range(k):  # each implementation times its own query of the group
            name = names[(slot + g) % k]
            q = queries[g * k + slot]
            start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
            impls[name](q)
            cpu[name].append(time.thread_time_ns() - start_cpu)
            latency[name].append(time.perf_counter_ns() - start)
    for i, q in enumerate(queries):
        answers = {name: impls[name](q) for name in names}
        for name in names[1:]:
            assert answers[name] == answers["tarcza"], f"{name} disagrees on query {i}"
        if i < args.brute:
            assert answers["tarcza"] == brute(hashes, ids, q, THRESHOLD), f"query {i} inexact"
    matches = sum(len(impls["tarcza"](q)) for q in queries[:200])
    print(
        f"{args.queries} queries at threshold {THRESHOLD} on {args.n:,} {args.data} hashes "
        f"({matches} matches in the first 200); every answer identical across implementations, "
        f"the first {args.brute} equal to brute force"
    )
    print(f"timed: {len(latency['tarcza'])} distinct queries per implementation")
    p50: dict[str, float] = {}
    cpu50: dict[str, float] = {}
    for name in names:
        us = np.array(latency[name]) / 1000
        p50[name] = float(np.percentile(us, 50))
        cpu50[name] = float(np.percentile(np.array(cpu[name]) / 1000, 50))
        p90, p99 = np.percentile(us, [90, 99])
        ratio = (
            ""
            if name == "tarcza"
            else f"   ratio {name}/tarcza p50: {p50[name] / p50['tarcza']:.2f}, "
            f"cpu {cpu50[name] / cpu50['tarcza']:.2f}"
        )
        print(
            f"  {name:9s} p50 {p50[name]:8.1f} us  p90 {p90:8.1f} us  p99 {p99:8.1f} us  "
            f"cpu p50 {cpu50[name]:8.1f} us{ratio}"
        )

    index: PdqIndex = keep["tarcza"]
    fresh = np.random.default_rng(9).integers(0, 256, size=(args.adds, 32), dtype=np.uint8)
    add_us = []
    for k in range(args.adds):
        start = time.perf_counter_ns()
        index.add(fresh[k : k + 1], np.array([10**15 + k]), merge=False)
        add_us.append((time.perf_counter_ns() - start) / 1000)
    for name in names[1:]:  # free the references before measuring the merge's peak
        del keep[name], impls[name]
    impls.clear()
    gc.collect()
    before = rss()
    with PeakWatcher() as peak:
        start = time.perf_counter()
        merged = index.merged()
        merge_s = time.perf_counter() - start
    print(
        f"tarcza: add one hash p50 {np.percentile(add_us, 50):.1f} us, max {max(add_us):.1f} us; "
        f"merged copy of {len(merged):,} in {merge_s:.1f} s (searches go on meanwhile), "
        f"peak +{mib(peak.peak - before)} over the {mib(before)} resident"
    )
    print(
        f"process peak resident {mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)}; "
        f"load averages after: {os.getloadavg()}"
    )


if __name__ == "__main__":
    main()
