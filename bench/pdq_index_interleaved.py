"""PDQ radius search, side by side: tarcza's PdqIndex and its references, interleaved query by
query in one process on the same hashes and queries, so that all see the same load.

- ``tarcza``: :class:`tarcza.hashing.index.PdqIndex` with the layout it chooses for the size
  (16 chunks of 16 bits up to ~2M hashes, 12 chunks of 21-22 bits at 10M),
- ``tarcza16``: the same index forced to 16 chunks of 16 bits (the layout of the previous
  release at every size),
- ``PDQIndex``: python-threatexchange's ``PDQIndex`` (faiss IndexBinaryMultiHash, what
  Hasher-Matcher-Actioner deploys), on one thread.

Every answer of every implementation is asserted identical to tarcza's, and tarcza's answers to
a brute-force scan on a sample (``--brute``). Reports p50/p90/p99 of single-query latency for
each, the ratio of each reference's p50 to tarcza's, build time, the resident memory each build
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
        [--references tarcza16] [--queries 2000]
    PYTHONPATH=src .venv/bin/python bench/pdq_index_interleaved.py --n 1000000 \
        --references PDQIndex,tarcza16

threatexchange==1.2.17 and faiss-cpu are needed for ``PDQIndex`` (the dev and scale extras).
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def build_tarcza(hashes: U8, ids: I64, chunks: int | None) -> tuple[Callable[[U8], Found], Any]:
    index = PdqIndex(chunks=chunks).build(hashes, ids)
    return (lambda q: index.search(q, THRESHOLD)), index


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
        "--references", default="tarcza16", help="comma-separated: tarcza16,PDQIndex"
    )
    parser.add_argument("--threshold", type=int, default=31)
    parser.add_argument("--brute", type=int, default=50, help="queries checked by brute force")
    parser.add_argument("--adds", type=int, default=1000, help="single adds timed")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    THRESHOLD = args.threshold
    print(f"load averages before: {os.getloadavg()}", flush=True)
    rng = np.random.default_rng(args.seed)
    make = uniform if args.data == "uniform" else pdq_like
    hashes, queries = make(args.n, args.queries, rng)
    ids = rng.permutation(args.n).astype(np.int64) * 3 + 1_000_000
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
                impls[name], keep[name] = build_tarcza(hashes, ids, None)
            elif name == "tarcza16":
                impls[name], keep[name] = build_tarcza(hashes, ids, 16)
            elif name == "PDQIndex":
                impls[name], keep[name] = build_pdqindex(hashes, ids)
            else:
                raise SystemExit(f"unknown reference {name}")
            seconds = time.perf_counter() - start
        gc.collect()
        extra = ""
        if isinstance(keep[name], PdqIndex):
            extra = f", {keep[name].chunk_count} chunks, arrays {mib(keep[name].nbytes)}"
        print(
            f"{name}: built in {seconds:.1f} s; resident +{mib(rss() - before)}, "
            f"peak while building +{mib(peak.peak - before)}{extra}",
            flush=True,
        )

    names = list(impls)
    latency: dict[str, list[int]] = {name: [] for name in names}
    for name in names:
        impls[name](queries[0])
    for i, q in enumerate(queries):
        order = names[i % len(names) :] + names[: i % len(names)]  # rotate who goes first
        answers = {}
        for name in order:
            start = time.perf_counter_ns()
            answers[name] = impls[name](q)
            latency[name].append(time.perf_counter_ns() - start)
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
    p50 = {}
    for name in names:
        us = np.array(latency[name]) / 1000
        p50[name] = float(np.percentile(us, 50))
        p90, p99 = np.percentile(us, [90, 99])
        ratio = (
            ""
            if name == "tarcza"
            else f"   ratio {name}/tarcza p50: {p50[name] / p50['tarcza']:.2f}"
        )
        print(f"  {name:9s} p50 {p50[name]:8.1f} us  p90 {p90:8.1f} us  p99 {p99:8.1f} us{ratio}")

    index: PdqIndex = keep["tarcza"]
    fresh = np.random.default_rng(9).integers(0, 256, size=(args.adds, 32), dtype=np.uint8)
    add_us = []
    for k in range(args.adds):
        start = time.perf_counter_ns()
        index.add(fresh[k : k + 1], np.array([10**15 + k]), merge=False)
        add_us.append((time.perf_counter_ns() - start) / 1000)
    for name in names[1:]:  # free the references before measuring the merge's peak
        del keep[name], impls[name]
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
