"""PDQ radius search: tarcza's PdqIndex against python-threatexchange's indexes and brute force.

All hashes are random bytes (no image is involved). On the very same hashes, ids and queries:

- ``tarcza``: :class:`tarcza.hashing.index.PdqIndex` (multi-index hashing, numba kernels),
- ``PDQIndex``: python-threatexchange's ``threatexchange.signal_type.pdq.pdq_index.PDQIndex``,
  what Hasher-Matcher-Actioner runs (faiss IndexBinaryMultiHash, 16 x 16 bits, nflip 1, in an
  IndexBinaryIDMap2),
- ``PDQFlatIndex``: its faiss IndexBinaryFlat variant (match threshold set to ``--threshold``:
  its own default is 52),
- ``PDQIndex2``: its faiss IndexFlatL2 variant (256 floats per hash),
- ``numpy``: brute force over bit-packed uint64 words, XOR and ``np.bitwise_count``.

Each runs in its own process (so that its memory is measured alone) on one thread (faiss's
OpenMP is limited to 1), and reports: build time, memory per stored hash (the index's own
arrays where they can be counted, and the growth of the process's resident set), p50/p99 of
single-query latency, batch throughput, and the time to add one hash. Every implementation's
result sets (ids and distances of each query) are asserted identical to tarcza's.

Data: ``--n`` hashes, uniformly random or ``--clustered`` (centres with ~100 variants 1..20 bits
away each), of which 3 per query are planted 5..31 bits from that query; ``--queries`` queries
(random, or near a cluster centre when clustered). The slow references (``numpy`` and
``PDQIndex2``) answer only the first ``--ref-queries`` queries; every other one answers them all.

    .venv/bin/python bench/pdq_index.py --n 1000000 [--queries 2000] [--clustered]
    .venv/bin/python bench/pdq_index.py --n 10000000 --only-tarcza

threatexchange==1.2.17 and faiss-cpu are needed for the references (not for ``--only-tarcza``).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]

IMPLS = ["tarcza", "PDQIndex", "PDQFlatIndex", "PDQIndex2", "numpy"]
SLOW = {"numpy", "PDQIndex2"}  # answer only --ref-queries queries
PLANTED_PER_QUERY = 3
CLUSTER_SIZE = 100


# -- data ----------------------------------------------------------------------------------------


def flip_bits(base: U8, lo: int, hi: int, rng: np.random.Generator) -> U8:
    """Each row of ``base`` with k distinct random bits flipped, k uniform in [lo, hi]."""
    out = base.copy()
    step = 100_000
    for start in range(0, len(base), step):
        m = min(step, len(base) - start)
        k = rng.integers(lo, hi + 1, size=m)
        order = rng.permuted(np.tile(np.arange(256, dtype=np.int16), (m, 1)), axis=1)[:, :hi]
        mask = np.zeros((m, 256), dtype=bool)
        np.put_along_axis(mask, order.astype(np.int64), np.arange(hi) < k[:, None], axis=1)
        out[start : start + m] ^= np.packbits(mask, axis=1, bitorder="little")
    return out


def make_data(n: int, queries: int, clustered: bool, seed: int) -> tuple[U8, I64, U8]:
    """``n`` hashes, their ids and the queries (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    if clustered:
        centres = rng.integers(0, 256, size=(-(-n // CLUSTER_SIZE), 32), dtype=np.uint8)
        hashes = flip_bits(np.repeat(centres, CLUSTER_SIZE, axis=0)[:n], 1, 20, rng)
        near = centres[rng.integers(0, len(centres), size=queries)]
        qs = flip_bits(near, 0, 15, rng)
    else:
        hashes = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
        qs = rng.integers(0, 256, size=(queries, 32), dtype=np.uint8)
    planted = flip_bits(np.repeat(qs, PLANTED_PER_QUERY, axis=0), 5, 31, rng)
    planted = planted[: min(len(planted), n)]
    hashes[n - len(planted) :] = planted
    hashes = hashes[rng.permutation(n)]
    ids = rng.permutation(n).astype(np.int64) * 3 + 1_000_000
    return hashes, ids, qs


def to_hex(hashes: U8) -> list[str]:
    text = hashes.tobytes().hex()
    return [text[i : i + 64] for i in range(0, len(text), 64)]


# -- measuring -----------------------------------------------------------------------------------


def rss() -> int:
    """Resident set size of this process, in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss() -> int:
    """Peak resident set size of this process so far, in bytes."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    arr = np.array(seconds) * 1e3
    return {
        "p50_ms": float(np.percentile(arr, 50)),
        "p99_ms": float(np.percentile(arr, 99)),
        "max_ms": float(arr.max()),
    }


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    try:
        import faiss

        faiss.omp_set_num_threads(1)
    except ImportError:
        pass
    yield


Results = list[list[tuple[int, int]]]  # per query: sorted (id, distance)


# -- workers: one implementation each, in its own process ----------------------------------------


def work_tarcza(
    args: argparse.Namespace, hashes: U8, ids: I64, queries: U8
) -> tuple[dict[str, Any], Results]:
    try:
        from tarcza.hashing.index import PdqIndex
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
        from tarcza.hashing.index import PdqIndex

    t = args.threshold
    # Compile (or load from numba's cache) every kernel before measuring.
    warm_s, _ = timed(lambda: _warm_up(PdqIndex, queries))
    gc.collect()
    before = rss()
    build_s, index = timed(lambda: PdqIndex.build(hashes, ids))
    gc.collect()
    grown = rss() - before
    metrics: dict[str, Any] = {
        "warm_up_s": warm_s,
        "build_s": build_s,
        "array_bytes_per_hash": index.nbytes / len(hashes),
        "array_bytes": index.nbytes,
        "rss_bytes_per_hash": grown / len(hashes),
        "rss_delta_bytes": grown,
    }
    single: list[float] = []
    results: Results = []
    for q in queries:
        s, found = timed(lambda q=q: index.search(q, t))
        single.append(s)
        results.append(found)
    metrics["single"] = percentiles(single)
    metrics["queries_single"] = len(queries)
    best = min(timed(lambda: index.search_batch(queries, t))[0] for _ in range(3))
    metrics["batch_qps"] = len(queries) / best
    qs, found_ids, ds = index.search_batch(queries, t)
    batch: Results = [[] for _ in queries]
    for q, i, d in zip(qs.tolist(), found_ids.tolist(), ds.tolist(), strict=True):
        batch[q].append((i, d))
    assert batch == results, "search_batch disagrees with search"
    # Save and load (memory-mapped); the loaded index answers the same.
    with tempfile.TemporaryDirectory() as tmp:
        metrics["save_s"], _ = timed(lambda: index.save(Path(tmp) / "index"))
        metrics["load_s"], loaded = timed(lambda: PdqIndex.load(Path(tmp) / "index"))
        sample = queries[:200]
        got = [loaded.search(q, t) for q in sample]
        assert got == results[: len(sample)], "the loaded index disagrees"
        metrics["loaded_single"] = percentiles(
            [timed(lambda q=q, ix=loaded: ix.search(q, t))[0] for q in sample]
        )
    # Adding and removing one hash at a time (the delta segment; no merge within 100 adds).
    rng = np.random.default_rng(99)
    fresh = rng.integers(0, 256, size=(args.adds, 32), dtype=np.uint8)
    new_ids = np.arange(args.adds, dtype=np.int64) + 10**15
    adds = [
        timed(lambda i=i: index.add(fresh[i : i + 1], new_ids[i : i + 1]))[0]
        for i in range(args.adds)
    ]
    metrics["add_one"] = percentiles(adds)
    metrics["adds"] = args.adds
    metrics["merge_s"], _ = timed(index.compact)  # what every delta_limit-th add costs
    metrics["delta_limit"] = index.delta_limit
    metrics["add_amortised_ms"] = float(np.median(adds)) * 1e3 + metrics["merge_s"] * 1e3 / max(
        index.delta_limit, 1
    )
    doomed = ids[rng.choice(len(ids), size=min(args.adds, len(ids) // 5), replace=False)]
    removes = [timed(lambda i=i: index.remove(doomed[i : i + 1]))[0] for i in range(len(doomed))]
    metrics["remove_one"] = percentiles(removes)
    assert len(index) == len(hashes) + args.adds - len(doomed)
    metrics["peak_rss_bytes"] = peak_rss()
    return metrics, results


def _warm_up(cls: Any, queries: U8) -> None:
    rng = np.random.default_rng(0)
    small = cls.build(rng.integers(0, 256, size=(100, 32), dtype=np.uint8), np.arange(100))
    small.search(queries[0], 31)
    small.search(queries[0], 64)
    small.search_batch(queries[:3], 31)
    small.add(queries[:1], [7])
    small.remove([7, 8])
    small.compact()
    with tempfile.TemporaryDirectory() as tmp:
        small.save(Path(tmp) / "small")
        cls.load(Path(tmp) / "small").search(queries[0], 31)


def work_numpy(
    args: argparse.Namespace, hashes: U8, ids: I64, queries: U8
) -> tuple[dict[str, Any], Results]:
    t = args.threshold
    gc.collect()
    before = rss()
    build_s, words = timed(lambda: np.ascontiguousarray(hashes).view("<u8").copy())
    stored_ids = ids.copy()
    grown = rss() - before

    def search(q: U8) -> list[tuple[int, int]]:
        d = np.bitwise_count(words ^ q.view("<u8")).sum(axis=1, dtype=np.int64)
        sel = np.flatnonzero(d <= t)
        found = list(zip(stored_ids[sel].tolist(), d[sel].tolist(), strict=True))
        found.sort(key=lambda x: (x[1], x[0]))
        return found

    single: list[float] = []
    results: Results = []
    for q in queries:
        s, found = timed(lambda q=q: search(q))
        single.append(s)
        results.append(found)
    metrics: dict[str, Any] = {
        "build_s": build_s,
        "array_bytes_per_hash": (words.nbytes + stored_ids.nbytes) / len(hashes),
        "rss_bytes_per_hash": grown / len(hashes),
        "rss_delta_bytes": grown,
        "single": percentiles(single),
        "queries_single": len(queries),
        "batch_qps": len(queries) / sum(single),  # no batch form: the same loop
    }
    rng = np.random.default_rng(99)
    fresh = rng.integers(0, 256, size=(args.adds, 32), dtype=np.uint8)
    adds = []
    for i in range(args.adds):  # the naive way: a new array per add
        start = time.perf_counter()
        words = np.concatenate([words, fresh[i : i + 1].view("<u8")])
        stored_ids = np.concatenate([stored_ids, [10**15 + i]])
        adds.append(time.perf_counter() - start)
    metrics["add_one"] = percentiles(adds)
    metrics["adds"] = args.adds
    metrics["peak_rss_bytes"] = peak_rss()
    return metrics, results


def work_threatexchange(
    args: argparse.Namespace, hashes: U8, ids: I64, queries: U8
) -> tuple[dict[str, Any], Results]:
    t = args.threshold
    impl = args.worker
    hexes = to_hex(hashes)
    entries = list(zip(hexes, ids.tolist(), strict=True))
    qhex = to_hex(queries)
    cls = _threatexchange_class(impl, t)
    gc.collect()
    before = rss()
    build_s, index = timed(
        lambda: cls(entries=entries) if impl != "PDQIndex2" else cls(entries=entries, threshold=t)
    )
    gc.collect()
    grown = rss() - before
    metrics: dict[str, Any] = {
        "build_s": build_s,
        "rss_bytes_per_hash": grown / len(hashes),
        "rss_delta_bytes": grown,
    }
    single: list[float] = []
    results: Results = []
    for q in qhex:
        s, matches = timed(lambda q=q: index.query(q))
        single.append(s)
        found = [(int(m.metadata), int(m.similarity_info.distance)) for m in matches]
        found.sort(key=lambda x: (x[1], x[0]))
        results.append(found)
    metrics["single"] = percentiles(single)
    metrics["queries_single"] = len(qhex)
    if impl in ("PDQIndex", "PDQFlatIndex"):
        # The batch form under the wrapper: one faiss range_search for every query.
        inner = index.index
        best = min(
            timed(lambda: inner.search_with_distance_in_result(qhex, t))[0] for _ in range(2)
        )
        metrics["batch_qps"] = len(qhex) / best
        by_query = inner.search_with_distance_in_result(qhex, t)
        for q, expected in zip(qhex, results, strict=True):
            got = sorted(
                ((index.local_id_to_entry[int(i)][1], int(d)) for i, _, d in by_query[q]),
                key=lambda x: (x[1], x[0]),
            )
            assert got == expected, "the batch form disagrees with query()"
    else:
        metrics["batch_qps"] = None  # PDQIndex2 has no per-query batch form
    adds_n = args.slow_adds if impl == "PDQIndex" else args.adds
    rng = np.random.default_rng(99)
    fresh = to_hex(rng.integers(0, 256, size=(adds_n, 32), dtype=np.uint8))
    adds = [timed(lambda i=i: index.add(fresh[i], 10**15 + i))[0] for i in range(adds_n)]
    metrics["add_one"] = percentiles(adds)
    metrics["adds"] = adds_n
    metrics["peak_rss_bytes"] = peak_rss()
    return metrics, results


def _threatexchange_class(impl: str, threshold: int) -> Any:
    from threatexchange.signal_type.pdq.pdq_index import PDQFlatIndex, PDQIndex

    if impl == "PDQIndex":
        if threshold != PDQIndex.get_match_threshold():
            raise SystemExit("PDQIndex matches at 31 only: use --threshold 31")
        return PDQIndex
    if impl == "PDQFlatIndex":

        class FlatAtThreshold(PDQFlatIndex):  # its own default threshold is 52
            @classmethod
            def get_match_threshold(cls) -> int:
                return threshold

        return FlatAtThreshold
    from threatexchange.signal_type.pdq.pdq_index2 import PDQIndex2

    return PDQIndex2


WORKERS = {
    "tarcza": work_tarcza,
    "numpy": work_numpy,
    "PDQIndex": work_threatexchange,
    "PDQFlatIndex": work_threatexchange,
    "PDQIndex2": work_threatexchange,
}


def worker_main(args: argparse.Namespace) -> None:
    gen_s, (hashes, ids, queries) = timed(
        lambda: make_data(args.n, args.queries, args.clustered, args.seed)
    )
    if args.worker in SLOW:
        queries = queries[: args.ref_queries]
    with one_thread():
        metrics, results = WORKERS[args.worker](args, hashes, ids, queries)
    metrics["data_s"] = gen_s
    lengths = np.array([len(r) for r in results], dtype=np.int64)
    flat = [pair for r in results for pair in r]
    np.savez(
        args.result_file,
        lengths=lengths,
        ids=np.array([i for i, _ in flat], dtype=np.int64),
        distances=np.array([d for _, d in flat], dtype=np.int64),
    )
    Path(args.result_file).with_suffix(".json").write_text(json.dumps(metrics))


# -- the driver ----------------------------------------------------------------------------------


def run_worker(
    impl: str, args: argparse.Namespace, folder: Path
) -> tuple[dict[str, Any], Results] | None:
    out = folder / f"{impl}.npz"
    cmd = [
        sys.executable,
        __file__,
        "--worker", impl,
        "--n", str(args.n),
        "--queries", str(args.queries),
        "--ref-queries", str(args.ref_queries),
        "--threshold", str(args.threshold),
        "--seed", str(args.seed),
        "--adds", str(args.adds),
        "--slow-adds", str(args.slow_adds),
        "--result-file", str(out),
    ]  # fmt: skip
    if args.clustered:
        cmd.append("--clustered")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    print(f"  {impl} ...", end=" ", flush=True)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, timeout=args.timeout, check=False)
    print(f"{time.perf_counter() - start:.0f} s", flush=True)
    if done.returncode != 0:
        print(f"  {impl} failed (exit {done.returncode})")
        return None
    metrics = json.loads(out.with_suffix(".json").read_text())
    with np.load(out, allow_pickle=False) as data:
        lengths, found_ids, dists = data["lengths"], data["ids"], data["distances"]
    results: Results = []
    at = 0
    for length in lengths.tolist():
        results.append(
            list(
                zip(
                    found_ids[at : at + length].tolist(),
                    dists[at : at + length].tolist(),
                    strict=True,
                )
            )
        )
        at += length
    return metrics, results


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1e3:.1f} us" if value < 1 else f"{value:.2f} ms"


def report(args: argparse.Namespace, runs: dict[str, tuple[dict[str, Any], Results]]) -> int:
    base_metrics, base_results = runs["tarcza"]
    # Exactness: every implementation's result sets equal tarcza's, query by query.
    exact = True
    for impl, (_, results) in runs.items():
        for q, (got, want) in enumerate(zip(results, base_results, strict=False)):
            if sorted(got) != sorted(want):
                exact = False
                print(f"MISMATCH {impl} query {q}: {len(got)} vs tarcza {len(want)} results")
                print(f"  only {impl}: {sorted(set(got) - set(want))[:5]}")
                print(f"  only tarcza: {sorted(set(want) - set(got))[:5]}")
                break
    matches = [len(r) for r in base_results]
    print()
    kind = "clustered" if args.clustered else "random"
    print(
        f"n={args.n:,} ({kind}), {len(base_results)} queries, threshold {args.threshold}, "
        f"one thread; results per query: mean {np.mean(matches):.1f}, max {max(matches)}, "
        f"{sum(matches):,} in all"
    )
    header = (
        f"{'index':<13} {'build':>8} {'B/hash':>7} {'RSS B/h':>8} {'p50':>10} {'p99':>10} "
        f"{'batch q/s':>10} {'add p50':>10} {'queries':>7}  ratios to tarcza"
    )
    print(header)
    print("-" * len(header))
    base_p50 = base_metrics["single"]["p50_ms"]
    base_qps = base_metrics["batch_qps"]
    base_add = base_metrics["add_one"]["p50_ms"]
    for impl, (m, _) in runs.items():
        array_bph = m.get("array_bytes_per_hash")
        qps = m.get("batch_qps")
        ratios = ""
        if impl != "tarcza":
            parts = [f"p50 {m['single']['p50_ms'] / base_p50:.1f}x"]
            if qps:
                parts.append(f"throughput 1/{base_qps / qps:.1f}")
            parts.append(f"add {m['add_one']['p50_ms'] / base_add:.0f}x")
            parts.append(f"RSS {m['rss_bytes_per_hash'] / base_metrics['rss_bytes_per_hash']:.1f}x")
            ratios = ", ".join(parts)
        print(
            f"{impl:<13} {m['build_s']:>7.2f}s {array_bph if array_bph else float('nan'):>7.1f} "
            f"{m['rss_bytes_per_hash']:>8.1f} {fmt_ms(m['single']['p50_ms']):>10} "
            f"{fmt_ms(m['single']['p99_ms']):>10} {qps if qps else float('nan'):>10.0f} "
            f"{fmt_ms(m['add_one']['p50_ms']):>10} {m['queries_single']:>7}  {ratios}"
        )
    for impl, (m, _) in runs.items():
        if impl != "tarcza":
            print(f"{impl} p50 is {m['single']['p50_ms'] / base_p50:.1f}x tarcza")
    b = base_metrics
    print()
    print(
        f"tarcza: numba warm-up {b['warm_up_s']:.2f} s; build {b['build_s']:.2f} s; "
        f"arrays {b['array_bytes'] / 2**20:.1f} MiB ({b['array_bytes_per_hash']:.1f} B/hash); "
        f"RSS +{b['rss_delta_bytes'] / 2**20:.1f} MiB; "
        f"peak RSS {b['peak_rss_bytes'] / 2**30:.2f} GiB"
    )
    print(
        f"tarcza: save {b['save_s']:.2f} s, load (mmap) {b['load_s'] * 1e3:.0f} ms, p50 on the "
        f"loaded index {fmt_ms(b['loaded_single']['p50_ms'])}; add one: p50 "
        f"{fmt_ms(b['add_one']['p50_ms'])}, max {fmt_ms(b['add_one']['max_ms'])}; merge "
        f"{b['merge_s']:.2f} s every {b['delta_limit']} adds (amortised "
        f"{fmt_ms(b['add_amortised_ms'])} per add); remove one: p50 "
        f"{fmt_ms(b['remove_one']['p50_ms'])}"
    )
    for impl in runs:
        if impl in SLOW:
            print(f"{impl}: only the first {runs[impl][0]['queries_single']} queries (slow)")
    if "PDQIndex" in runs:
        print(
            f"PDQIndex: add measured over {runs['PDQIndex'][0]['adds']} adds (each rebuilds a map)"
        )
    # Targets.
    print()
    verdicts: list[tuple[str, bool]] = [("exact: identical result sets for every query", exact)]
    if args.n == 1_000_000:
        verdicts.append((f"p50 single query at 1M <= 0.1 ms ({fmt_ms(base_p50)})", base_p50 <= 0.1))
    if "PDQIndex" in runs:
        ratio = runs["PDQIndex"][0]["single"]["p50_ms"] / base_p50
        verdicts.append((f"p50 >= 10x lower than PDQIndex ({ratio:.1f}x)", ratio >= 10))
    bph = b["array_bytes_per_hash"]
    verdicts.append(
        (
            f"<= 100 bytes per stored hash ({bph:.1f} B in arrays, "
            f"{b['rss_bytes_per_hash']:.1f} B of RSS)",
            max(bph, b["rss_bytes_per_hash"]) <= 100,
        )
    )
    verdicts.append((f"add one hash < 1 ms (p50 {fmt_ms(base_add)})", base_add < 1))
    if args.n >= 10_000_000:
        gib = max(b["array_bytes"], b["rss_delta_bytes"]) / 2**30
        verdicts.append((f"{args.n:,} hashes in <= 1 GiB ({gib:.3f} GiB)", gib <= 1))
    for text, ok in verdicts:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    if args.json:
        Path(args.json).write_text(json.dumps({impl: m for impl, (m, _) in runs.items()}, indent=2))
    return 0 if exact else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="stored hashes")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument(
        "--ref-queries", type=int, default=200, help="queries for numpy and PDQIndex2"
    )
    parser.add_argument("--clustered", action="store_true", help="near-duplicate clusters")
    parser.add_argument("--threshold", type=int, default=31)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--adds", type=int, default=100, help="single adds timed")
    parser.add_argument("--slow-adds", type=int, default=5, help="single adds timed on PDQIndex")
    parser.add_argument("--only-tarcza", action="store_true")
    parser.add_argument("--impls", default=",".join(IMPLS), help="comma-separated subset")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per implementation")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--worker", choices=IMPLS, help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args)
        return 0
    impls = ["tarcza"] if args.only_tarcza else [i for i in args.impls.split(",") if i]
    if "tarcza" not in impls:
        impls.insert(0, "tarcza")
    runs: dict[str, tuple[dict[str, Any], Results]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for impl in impls:
            run = run_worker(impl, args, Path(tmp))
            if run is not None:
                runs[impl] = run
    if "tarcza" not in runs:
        return 1
    return report(args, runs)


if __name__ == "__main__":
    sys.exit(main())
