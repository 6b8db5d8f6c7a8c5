"""Exact radius search over PDQ hashes: multi-index hashing with numba kernels.

A PDQ hash is 256 bits (32 bytes, 64 hex characters); two hashes match when their Hamming
distance (the number of differing bits, 0..256) is at or below a threshold, 31 by default.
:class:`PdqIndex` answers "every stored hash within ``threshold`` bits of this query" *exactly*:
its result set is always identical to a brute-force scan of every stored hash.

How it works (multi-index hashing, Norouzi et al. 2012):

- Each hash is cut into M chunks of about 256/M bits. If two hashes are within ``t`` bits, then
  by the pigeonhole principle at least one chunk ``i`` differs by at most ``r_i`` bits, for any
  chunk radii with ``sum(r_i + 1) == t + 1`` (a chunk with radius -1 is not probed; the widest
  chunks get the larger radii). So probing every value within ``r_i`` bits of each of the
  query's chunks finds every match, and every candidate is verified with a full 256-bit
  popcount: the result is always exactly what a brute-force scan gives.
- The layout is chosen by size at every (re)build, to cost the fewest memory reads per query
  (two per probe, one per candidate) within 16 bytes of offsets per hash: 16 chunks of 16 bits
  up to about 2M hashes (t = 31: 272 probes, 16 x 17 x N / 65,536 candidates, 4,150 at 1M),
  then 14, 13 and, from about 6M, 12 chunks of 21-22 bits (t = 31: 2,032 probes and about
  7,300 candidates at 10M, where 16 chunks would verify 41,500). ``PdqIndex(chunks=...)``
  forces one.
- For each chunk there is a table in CSR form (offsets: 2**bits + 1 uint32, then the rows of
  that chunk's postings sorted by chunk value), so probing a value is two reads. The rows are
  stored sorted by chunk 0, so chunk 0 needs no postings at all; the other chunks store row
  numbers packed in 3 bytes (4 bytes above 16,777,216 rows).
- The pair plan: with larger radii, such that ``sum(r_i + 1) - max(r_i + 1) >= t + 1``, every
  hash within ``t`` bits lies within the radius in *two* chunks at least (were it within in one
  chunk only, the others alone would differ by more than ``t`` bits). Then a candidate found
  through one chunk only, nearly all of them, need not be read: each candidate's row number is
  looked up in a table of the rows this query has seen (a bit per slot, 2**19 slots: 64 KiB,
  in cache, cleared for each query; a row's slot is its low 19 bits, so two rows may share
  one: a false alarm, one verification more, never a miss), and only rows seen twice are
  verified. At 10M hashes and t = 31 (12 chunks, radii 2 but one 1): 2,662 probes and about
  10,300 candidates counted, about 100 rows verified (expected: candidates**2 / 2**20), rather
  than 2,032 probes and 7,300 rows read. Each index takes, per threshold, the plan that costs
  fewer memory reads at its size (see ``_Layout.costs``): the pair plan from about 225,000
  hashes at t = 31.
  Exact either way. Measured side by side on this machine (bench README_pdq_index.md): at 10M,
  the pair plan 1.14-1.16x faster than the single plan; at 1M, as fast.
- A row found through several chunks is reported once (the rows found are deduplicated per
  query, which costs nothing when nothing matched, nearly always).
- Thresholds 48 and above would need radius 3 or more on 16 chunks, as many candidates as
  scanning everything. They are answered by a linear scan instead (about 7 ms per query at 1M
  hashes), still exactly, since banks may set thresholds to 64.

Speed: memory latency is the cost, so the kernel (1) computes every probe and prefetches its
offsets, (2) reads the offsets and prefetches the postings of non-empty buckets, (3) decodes
blocks of candidate rows, prefetching their hashes (with the pair plan: counts every candidate,
prefetching the hashes of those seen twice), then (4) verifies a block at once, so that many
cache misses are in flight together. Hash rows are aligned on 64-byte cache lines so that
each costs one miss. The first call in a new environment compiles the kernels (about 10 s);
numba caches them on disk. Building sorts with a two-pass counting sort that stays in cache.

Memory: 32 bytes (hash) + 8 (id) + (M - 1) x 3 (postings) + 1/8 (tombstone bit) per stored
hash, plus the offsets: 16 chunks, 85.1 bytes per hash + 4 MiB (about 89 bytes per hash at 1M);
12 chunks, 73.1 bytes per hash + 128 MiB (86.5 bytes per hash, 825 MiB, at 10M).

Changes: :meth:`PdqIndex.add` appends to a small *delta* segment that every query scans
(8,192 hashes at most: about 13 us) and that is merged into the main tables (a rebuild) once
full, so adding costs about 2 us plus the merge amortised. :meth:`PdqIndex.remove` sets
tombstone bits, which a merge compacts away. A caller that cannot hold searches up for a
merge (seconds at 10M) passes ``merge=False`` and swaps in :meth:`PdqIndex.merged`, built
while the old index still answers.

Persistence: :meth:`PdqIndex.save` writes a folder of ``.npy`` files (no pickle) and a JSON
header; :meth:`PdqIndex.load` memory-maps them (copy-on-write, never written), so loading 10M
hashes costs page cache, not process memory, after checking their structure, so that a damaged
folder raises instead of letting the kernels read out of bounds. Version 1 folders (always 16
chunks) still load.

Searches release the GIL and may run concurrently (each thread has its own table of rows
seen); ``add``, ``remove``, ``compact`` and
``build`` must not run concurrently with anything else on the same index (callers hold a lock,
as the matcher does).

This module is pure: numpy and numba (and llvmlite, numba's code generator, for the prefetch
hint) only; no file access but in ``save``/``load``.
"""

from __future__ import annotations

import itertools
import json
import math
import operator
import os
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar, cast

import numba
import numba.extending
import numpy as np
import numpy.typing as npt
from llvmlite import ir  # type: ignore[import-untyped]

__all__ = [
    "DEFAULT_THRESHOLD",
    "HASH_BYTES",
    "MAX_MIH_THRESHOLD",
    "MAX_THRESHOLD",
    "PdqIndex",
    "bytes_to_hex",
    "hex_to_bytes",
    "hex_to_hashes",
]

#: Bytes in a PDQ hash (256 bits).
HASH_BYTES: Final[int] = 32
#: The default match threshold, a Hamming distance in bits (the PDQ reference's operating point).
DEFAULT_THRESHOLD: Final[int] = 31
#: The largest threshold (bits) answered through the chunk tables; above it, a linear scan.
MAX_MIH_THRESHOLD: Final[int] = 47
#: The largest threshold accepted (bits): every hash is within 256 bits of every other.
MAX_THRESHOLD: Final[int] = 256
#: Hashes the delta segment holds before it is merged into the main tables.
DEFAULT_DELTA_LIMIT: Final[int] = 8192

_FORMAT: Final = "tarcza.pdq-index"
_VERSION: Final = 2  # version 1: always 16 chunks of 16 bits, offsets as a (16, 65537) table
_HEADER: Final = "pdq_index.json"
_HEX: Final = re.compile(r"[0-9a-fA-F]{64}")
_MAX_ROWS: Final = (1 << 32) - 1
_CACHE_LINE: Final = 64
_BLOCK: Final = 2048  # candidate rows verified together (32 KiB of scratch)
_MAX_RADIUS: Final = 3  # the largest probe radius of any layout, at threshold 47
_MAX_CHUNK_BITS: Final = 24
_CHUNK_CHOICES: Final = (14, 13, 12)  # besides 16 (see _choose_chunks)
#: The table of rows a query has seen (pair plan): 2**_SEEN_BITS one-bit slots (64 KiB).
_SEEN_BITS: Final = 19
_SEEN_MASK: Final = (1 << _SEEN_BITS) - 1
#: What counting one candidate row in that table costs, in memory reads (measured: about 1/20).
_COUNT_COST: float = 0.05
#: What clearing that table for a query costs, in memory reads (64 KiB written in cache, about
#: 0.4 us; a read from memory costs about 16 ns in a 10M query).
_CLEAR_COST: float = 25.0

F = TypeVar("F", bound=Callable[..., Any])

U8 = npt.NDArray[np.uint8]
U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]


def _jit(fn: F) -> F:
    """Compile ``fn`` with numba (no Python objects, GIL released, cached on disk)."""
    return cast(F, numba.njit(cache=True, nogil=True)(fn))


# -- hex helpers ---------------------------------------------------------------------------------


def hex_to_bytes(value: str) -> U8:
    """The 32 bytes of a PDQ hash given as 64 hex characters, as a uint8 array of shape (32,).

    ``bytes(hex_to_bytes(h))`` gives a :class:`bytes` object. Raises ValueError for anything but
    exactly 64 hex digits (either case).
    """
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise ValueError("a PDQ hash is 64 hex characters")
    return np.frombuffer(bytes.fromhex(value), dtype=np.uint8).copy()


def hex_to_hashes(values: Iterable[str]) -> U8:
    """Many PDQ hashes in hex as a uint8 array of shape (N, 32), for :meth:`PdqIndex.build`."""
    chunks: list[bytes] = []
    for value in values:
        if not isinstance(value, str) or not _HEX.fullmatch(value):
            raise ValueError("a PDQ hash is 64 hex characters")
        chunks.append(bytes.fromhex(value))
    out = np.frombuffer(b"".join(chunks), dtype=np.uint8).reshape(len(chunks), HASH_BYTES)
    return out.copy()


def bytes_to_hex(value: bytes | bytearray | memoryview | npt.NDArray[Any]) -> str:
    """The 64 lowercase hex characters of a 32-byte PDQ hash (bytes or a uint8 array)."""
    raw = _as_uint8_row(value).tobytes()
    return raw.hex()


def _as_uint8_row(value: object) -> U8:
    if isinstance(value, str):
        return hex_to_bytes(value)
    if isinstance(value, bytes | bytearray | memoryview):
        row = np.frombuffer(bytes(value), dtype=np.uint8)
    elif isinstance(value, np.ndarray):
        if value.dtype != np.uint8:
            raise TypeError(f"a PDQ hash array must be uint8, not {value.dtype}")
        row = np.ascontiguousarray(value.reshape(-1))
    else:
        raise TypeError(
            f"a PDQ hash is 32 bytes, a uint8 array or 64 hex characters, not {value!r}"
        )
    if row.shape != (HASH_BYTES,):
        raise ValueError(f"a PDQ hash is {HASH_BYTES} bytes, not {row.size}")
    return row


def _words(hashes: npt.ArrayLike) -> U64:
    """uint8[N, 32] hashes as uint64[N, 4] words (little-endian: byte 0 is the lowest)."""
    arr = np.asarray(hashes)
    if arr.dtype != np.uint8:
        raise TypeError(f"hashes must be a uint8 array of shape (N, 32), not {arr.dtype}")
    if arr.ndim != 2 or arr.shape[1] != HASH_BYTES:
        raise ValueError(f"hashes must have shape (N, 32), not {arr.shape}")
    arr = np.ascontiguousarray(arr)
    words: U64 = arr.view("<u8").astype(np.uint64, copy=False)
    return words


def _aligned_words(rows: int) -> U64:
    """An uninitialised uint64[rows, 4] whose every row lies in one 64-byte cache line.

    malloc only promises 16-byte alignment, and a 32-byte row straddling two cache lines costs
    two memory reads instead of one: at 1M hashes that alone makes queries 1.5x slower.
    """
    raw = np.empty(rows * 32 + _CACHE_LINE, dtype=np.uint8)
    skip = -raw.ctypes.data % _CACHE_LINE
    words: U64 = raw[skip : skip + rows * 32].view(np.uint64).reshape(rows, 4)
    return words


def _ids(ids: npt.ArrayLike, count: int) -> I64:
    arr = np.asarray(ids)
    if arr.ndim != 1 or arr.shape[0] != count:
        raise ValueError(f"expected {count} ids in a 1-d array, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(f"ids must be integers, not {arr.dtype}")
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise ValueError("ids must fit in int64")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _posting_width(rows: int) -> int:
    """Bytes per posting for a table of ``rows`` hashes: 3 up to 2**24 rows, else 4."""
    return 3 if rows <= (1 << 24) else 4


def _check_threshold(threshold: int) -> int:
    if isinstance(threshold, bool):
        raise TypeError("the threshold is a number of bits, not a bool")
    value = operator.index(threshold)
    if not 0 <= value <= MAX_THRESHOLD:
        raise ValueError(f"the threshold is a Hamming distance from 0 to {MAX_THRESHOLD} bits")
    return value


def _ball(bits: int, radius: int) -> int:
    """How many values lie within ``radius`` bits of one ``bits``-bit value."""
    return sum(math.comb(bits, k) for k in range(radius + 1)) if radius >= 0 else 0


class _Layout:
    """How the 256 bits of a hash are cut into chunks: chunk ``c`` is bits
    ``starts[c] .. starts[c] + widths[c] - 1`` (bit ``i`` is bit ``i % 64`` of little-endian word
    ``i // 64``, so 16 chunks of 16 bits are the hash's byte pairs). Chunk 0 is the one the rows
    are sorted by, so it needs no postings. Also holds, per chunk, the flip masks of weight 0 to
    ``_MAX_RADIUS`` in order of weight, and the probe radii of every threshold."""

    def __init__(self, widths: Sequence[int]) -> None:
        if sum(widths) != 256 or not all(8 <= w <= _MAX_CHUNK_BITS for w in widths):
            raise ValueError(f"chunk widths {list(widths)} do not cut 256 bits")
        self.widths = np.array(widths, dtype=np.int64)
        self.count = len(widths)
        self.starts = np.concatenate([[0], np.cumsum(self.widths)[:-1]]).astype(np.int64)
        # Where each chunk's offsets start in the one flat offsets array (2**width + 1 each).
        sizes = (np.int64(1) << self.widths) + 1
        self.bases = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        most = max(_ball(int(w), _MAX_RADIUS) for w in widths)
        self.masks = np.zeros((self.count, most), dtype=np.int64)
        self.mask_counts = np.zeros((self.count, _MAX_RADIUS + 1), dtype=np.int64)
        for c, w in enumerate(widths):
            masks = [
                sum(1 << bit for bit in bits)
                for k in range(_MAX_RADIUS + 1)
                for bits in itertools.combinations(range(w), k)
            ]
            self.masks[c, : len(masks)] = masks
            self.mask_counts[c] = [_ball(w, r) for r in range(_MAX_RADIUS + 1)]
        thresholds = range(MAX_MIH_THRESHOLD + 1)
        self.radii = np.stack([self._radii(t) for t in thresholds])
        pair_radii = [self._pair_radii(t) for t in thresholds]
        #: Whether the pair plan exists at each threshold (no radius above _MAX_RADIUS).
        self.pairs_possible = np.array([r is not None for r in pair_radii])
        self.pair_radii = np.stack(
            [r if r is not None else np.full(self.count, -1, np.int64) for r in pair_radii]
        )
        # Per threshold and plan: probes, and candidates per stored row (for the cost model).
        self._probes = np.zeros((2, len(thresholds)))
        self._per_row = np.zeros((2, len(thresholds)))
        for plan, table in enumerate((self.radii, self.pair_radii)):
            for t in thresholds:
                for w, r in zip(self.widths.tolist(), table[t].tolist(), strict=True):
                    self._probes[plan, t] += _ball(w, r)
                    self._per_row[plan, t] += _ball(w, r) / 2.0**w

    def _radii(self, threshold: int) -> I64:
        """Per-chunk probe radii (bits; -1 = not probed) with sum(r + 1) == threshold + 1: the
        pigeonhole bound that makes the search exact. The widest chunks get the larger radii."""
        base, extra = divmod(threshold + 1, self.count)
        radii = np.full(self.count, base - 1, dtype=np.int64)
        order = np.argsort(-self.widths, kind="stable")
        radii[order[:extra]] += 1
        if radii.max() > _MAX_RADIUS:  # pragma: no cover - guarded by the layouts chosen
            raise ValueError("a layout too coarse for the largest threshold")
        return radii

    def _pair_radii(self, threshold: int) -> I64 | None:
        """Per-chunk probe radii with which every hash within ``threshold`` bits lies within its
        chunk's radius in *two* chunks at least: sum(r + 1) - max(r + 1) >= threshold + 1 (if
        only one chunk ``j`` were within, the distance would be at least the sum of r + 1 over
        the others, above the threshold). None when a radius would exceed ``_MAX_RADIUS``."""
        order = np.argsort(-self.widths, kind="stable")
        for most in range(1, _MAX_RADIUS + 2):
            base, extra = divmod(threshold + 1 + most, self.count)
            if base + (extra > 0) <= most:
                radii = np.full(self.count, base - 1, dtype=np.int64)
                radii[order[:extra]] += 1
                return radii
        return None

    def pairs(self, rows: int) -> npt.NDArray[np.bool_]:
        """Per threshold, whether the pair plan (candidates counted, only those found in two
        chunks verified) costs fewer memory reads than the single plan at ``rows`` hashes (see
        :meth:`cost`)."""
        single = self.costs(rows)
        double = self.costs(rows, pairs=True)
        plan: npt.NDArray[np.bool_] = self.pairs_possible & (double < single)
        return plan

    @property
    def offsets_size(self) -> int:
        return int(self.bases[-1])

    def cost(self, rows: int, threshold: int = DEFAULT_THRESHOLD) -> float:
        """Expected memory reads of one query at ``threshold`` over ``rows`` random hashes with
        the single plan: two per probe (offsets, postings) and one per candidate row verified."""
        return float(self.costs(rows)[threshold])

    def costs(self, rows: int, *, pairs: bool = False) -> npt.NDArray[np.float64]:
        """:meth:`cost` at every threshold up to ``MAX_MIH_THRESHOLD``, of the single plan or
        of the pair plan: two reads per probe, ``_COUNT_COST`` per candidate counted (in a table
        in cache) and one per row verified, those seen twice: nearly all false alarms of the
        table, since each candidate falls on a slot another one took with odds of about
        candidates / 2 / 2**_SEEN_BITS, and ``_CLEAR_COST`` for clearing the table."""
        plan = 1 if pairs else 0
        probes = self._probes[plan]
        candidates = rows * self._per_row[plan]
        if not pairs:
            return 2 * probes + candidates  # type: ignore[no-any-return]
        verified = candidates * candidates / 2.0 ** (_SEEN_BITS + 1)
        return (  # type: ignore[no-any-return]
            2 * probes + _COUNT_COST * candidates + verified + _CLEAR_COST
        )


def _widths(chunks: int) -> list[int]:
    """``chunks`` widths that cut 256 bits as evenly as possible, widest first."""
    base, extra = divmod(256, chunks)
    return [base + 1] * extra + [base] * (chunks - extra)


_LAYOUTS: dict[int, _Layout] = {}


def _layout(chunks: int) -> _Layout:
    """The layout of ``chunks`` even chunks (made once, then shared)."""
    if chunks not in _LAYOUTS:
        _LAYOUTS[chunks] = _Layout(_widths(chunks))
    return _LAYOUTS[chunks]


def _choose_chunks(rows: int) -> int:
    """The chunk count whose layout costs the fewest memory reads per query at ``rows`` hashes,
    among those whose offsets take at most 16 bytes per hash (or 4 MiB, what 16 chunks take)."""
    best = 16
    best_cost = _layout(16).cost(rows)
    for chunks in _CHUNK_CHOICES:
        layout = _layout(chunks)
        if layout.offsets_size * 4 > max(16 * rows, 16 * 65537 * 4):
            continue
        cost = layout.cost(rows)
        if cost < best_cost:
            best, best_cost = chunks, cost
    return best


# -- numba kernels -------------------------------------------------------------------------------


def _prefetch_intrinsic(typingctx: Any, array: Any, index: Any) -> tuple[Any, Any]:
    """numba intrinsic: prefetch (for reading, into every cache level) element ``index`` of a
    1-d array. A hint only: it never faults and never changes a result."""
    signature = numba.types.void(array, index)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        address = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [address.type, i32, i32, i32])
        fn = builder.module.declare_intrinsic("llvm.prefetch", [address.type], fnty)
        # read (0), high temporal locality (3), data cache (1)
        builder.call(fn, [address, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return signature, codegen


_prefetch = cast(
    Callable[[npt.NDArray[Any], int | np.integer[Any]], None],
    numba.extending.intrinsic(_prefetch_intrinsic),
)


def _load_u32_intrinsic(typingctx: Any, array: Any, index: Any) -> tuple[Any, Any]:
    """numba intrinsic: the little-endian uint32 at byte ``index`` of a 1-d uint8 array, read
    in one unaligned load (the caller makes sure that 4 bytes are there)."""
    signature = numba.types.int64(array, index)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        address = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(32).as_pointer())
        value = builder.load(address, align=1)
        return builder.zext(value, ir.IntType(64))

    return signature, codegen


_load_u32 = cast(
    Callable[[npt.NDArray[Any], int | np.integer[Any]], np.int64],
    numba.extending.intrinsic(_load_u32_intrinsic),
)


@_jit
def _popcount(x: np.uint64) -> np.int64:
    """Set bits in a uint64 (LLVM turns this into one popcnt instruction)."""
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@_jit
def _chunk(words: U64, row: int | np.int64, start: int, width: int) -> np.int64:
    """The ``width``-bit value of the chunk at bit ``start`` of hash ``row`` (``width`` <= 32)."""
    i = start >> 6
    off = start & 63
    v = words[row, i] >> np.uint64(off)
    if off + width > 64:
        v |= words[row, i + 1] << np.uint64(64 - off)
    return np.int64(v & np.uint64((1 << width) - 1))


@_jit
def _distance(
    words: U64, row: int | np.int64, q0: np.uint64, q1: np.uint64, q2: np.uint64, q3: np.uint64
) -> np.int64:
    """Hamming distance (bits) between hash ``row`` and the query words."""
    return (
        _popcount(words[row, 0] ^ q0)
        + _popcount(words[row, 1] ^ q1)
        + _popcount(words[row, 2] ^ q2)
        + _popcount(words[row, 3] ^ q3)
    )


@_jit
def _order_by_value(vals: U32, bits: int, offsets: U32, base: int, order: U32, tmp: I64) -> None:
    """A stable counting sort of items ``0..n-1`` by ``vals`` (each below ``2**bits``):
    ``order[k]`` is the k-th item in value order and ``offsets[base + v]`` the position of the
    first item of value ``v`` (``offsets[base + 2**bits]`` is n).

    In two passes that stay in cache whatever ``bits`` (up to 24): the items are first spread
    by the value's top half into 2**(bits/2) runs, then each run, a few thousand items, is
    sorted by the bottom half. A one-pass counting sort over 2**22 counters misses the cache
    on every item, which made building 12 chunks of 22 bits 10x slower."""
    n = vals.shape[0]
    lo_bits = bits // 2
    nlo = np.int64(1) << lo_bits
    nhi = np.int64(1) << (bits - lo_bits)
    lo_mask = nlo - 1
    top = np.zeros(nhi + 1, dtype=np.int64)
    for i in range(n):
        top[(np.int64(vals[i]) >> lo_bits) + 1] += 1
    for h in range(nhi):
        top[h + 1] += top[h]
    cursor = top[:nhi].copy()
    for i in range(n):
        v = np.int64(vals[i])
        run = v >> lo_bits
        tmp[cursor[run]] = ((v & lo_mask) << 32) | i
        cursor[run] += 1
    counts = np.empty(nlo + 1, dtype=np.int64)
    for h in range(nhi):
        first = top[h]
        last = top[h + 1]
        counts[:] = 0
        for k in range(first, last):
            counts[(tmp[k] >> 32) + 1] += 1
        for low in range(nlo):
            counts[low + 1] += counts[low]
        at = base + h * nlo
        for low in range(nlo):
            offsets[at + low] = first + counts[low]
        for k in range(first, last):
            item = tmp[k]
            low = item >> 32
            order[first + counts[low]] = np.uint32(item & 0xFFFFFFFF)
            counts[low] += 1
    offsets[base + (nhi << lo_bits)] = n


@_jit
def _sort_by_chunk0(
    words: U64,
    ids: I64,
    tombs: U8,
    more_words: U64,
    more_ids: I64,
    out_words: U64,
    out_ids: I64,
    offsets: U32,
    start: int,
    width: int,
) -> None:
    """Copy the live rows of ``words`` (those whose ``tombs`` bit is clear; all when ``tombs``
    is empty), then every row of ``more_words``, with their ids, into ``out_*`` in order of
    chunk 0 (a stable sort), and write chunk 0's offsets into ``offsets[:2**width+1]``.
    Two sources, so that a merge never concatenates the old rows into a third copy."""
    check = tombs.shape[0] > 0
    n = out_words.shape[0]
    live = n - more_words.shape[0]
    source = np.empty(live, dtype=np.uint32)  # item -> row of ``words``
    vals = np.empty(n, dtype=np.uint32)
    item = 0
    for row in range(words.shape[0]):
        if not (check and _is_dead(tombs, row)):
            source[item] = row
            vals[item] = _chunk(words, row, start, width)
            item += 1
    for row in range(more_words.shape[0]):
        vals[live + row] = _chunk(more_words, row, start, width)
    order = np.empty(n, dtype=np.uint32)
    tmp = np.empty(n, dtype=np.int64)
    _order_by_value(vals, width, offsets, 0, order, tmp)
    for at in range(n):
        picked = np.int64(order[at])
        if picked < live:
            old = np.int64(source[picked])
            for w in range(4):
                out_words[at, w] = words[old, w]
            out_ids[at] = ids[old]
        else:
            new = picked - live
            for w in range(4):
                out_words[at, w] = more_words[new, w]
            out_ids[at] = more_ids[new]


@_jit
def _fill_chunks(
    words: U64, offsets: U32, postings: U8, width: int, starts: I64, widths: I64, bases: I64
) -> None:
    """Offsets and packed postings of chunks 1.. for ``words`` (already sorted by chunk 0)."""
    n = words.shape[0]
    vals = np.empty(n, dtype=np.uint32)
    order = np.empty(n, dtype=np.uint32)
    tmp = np.empty(n, dtype=np.int64)
    for c in range(1, starts.shape[0]):
        start = starts[c]
        bits = widths[c]
        for row in range(n):
            vals[row] = _chunk(words, row, start, bits)
        _order_by_value(vals, bits, offsets, bases[c], order, tmp)
        p = postings[c - 1]
        for k in range(n):
            posted = np.int64(order[k])
            base = k * width
            p[base] = posted & 0xFF
            p[base + 1] = (posted >> 8) & 0xFF
            p[base + 2] = (posted >> 16) & 0xFF
            if width == 4:
                p[base + 3] = (posted >> 24) & 0xFF


@_jit
def _posting(flat_postings: U8, base: int, total_bytes: int, mask: np.int64) -> np.int64:
    """The row number in the posting at byte ``base`` of ``flat_postings`` (``mask``: its
    width, 3 or 4 bytes): one unaligned load, but for the very last posting of 3 bytes."""
    if base + 4 <= total_bytes:
        return _load_u32(flat_postings, base) & mask
    return (
        np.int64(flat_postings[base])
        | (np.int64(flat_postings[base + 1]) << 8)
        | (np.int64(flat_postings[base + 2]) << 16)
    )


@_jit
def _seen_before(seen: U8, row: int | np.int64) -> bool:
    """Whether this query has seen ``row``'s slot of ``seen`` before (a row of its own, or
    another one: a false alarm, which costs a verification and nothing else); marks it seen.

    The slot is the row's low bits: the rows of one bucket are spread over the index, and rows
    next to each other (chunk 0's buckets) take slots next to each other, never the same one.
    With a multiplicative hash instead, a 10M query took 96.8 us against 93.6 us (p50,
    interleaved on the same tables)."""
    slot = np.uint64(row) & np.uint64(_SEEN_MASK)
    byte = slot >> np.uint64(3)
    bit = np.uint8(1) << np.uint8(slot & np.uint64(7))
    old = seen[byte]
    seen[byte] = old | bit
    return (old & bit) != 0  # type: ignore[no-any-return]


@_jit
def _is_dead(tombs: U8, row: int) -> bool:
    """Whether main-segment ``row`` has been removed (its tombstone bit is set)."""
    return (tombs[row >> 3] >> (row & 7)) & 1 != 0  # type: ignore[no-any-return]


@_jit
def _verify(
    words: U64, query: U64, threshold: int, rows: I64, count: int, qi: int, out: I64, n: int
) -> int:
    """Check the first ``count`` candidate rows and append those within ``threshold`` as
    ``out[:, n]`` (query, *row*, distance, row); the new result count, or -1 when ``out`` is
    full. :func:`_finish` then turns rows into ids, once each (``out[3]`` keeps the row)."""
    q0 = query[0]
    q1 = query[1]
    q2 = query[2]
    q3 = query[3]
    # First only count the matches, in a loop with no store; blocks without a match, nearly
    # all of them, end there.
    hits = 0
    for j in range(count):
        if _distance(words, rows[j], q0, q1, q2, q3) <= threshold:
            hits += 1
    if hits == 0:
        return n
    if n + hits > out.shape[1]:
        return -1
    for j in range(count):
        row = rows[j]
        d = _distance(words, row, q0, q1, q2, q3)
        if d <= threshold:
            out[0, n] = qi
            out[1, n] = row
            out[2, n] = d
            out[3, n] = row
            n += 1
    return n


@_jit
def _finish(out: I64, first: int, n: int, ids: I64, tombs: U8) -> int:
    """Turn the rows found for one query (``out[1, first:n]``) into ids, dropping a row found
    again through another chunk and removed rows; the new result count."""
    count = n - first
    if count == 1:
        row = out[1, first]
        if _is_dead(tombs, row):
            return first
        out[1, first] = ids[row]
        return n
    order = np.argsort(out[1, first:n])
    found_rows = out[1, first:n][order]
    found_distances = out[2, first:n][order]
    kept = first
    last = -1
    for k in range(count):
        row = found_rows[k]
        if row == last:
            continue
        last = row
        if _is_dead(tombs, row):
            continue
        out[1, kept] = ids[row]
        out[2, kept] = found_distances[k]
        out[3, kept] = row
        kept += 1
    return kept


@_jit
def _scan(
    words: U64,
    ids: I64,
    tombs: U8,
    count: int,
    query: U64,
    threshold: int,
    qi: int,
    out: I64,
    n: int,
    delta: bool,
) -> int:
    """Linear scan of the first ``count`` rows (tombstones honoured when ``tombs`` is
    non-empty); appends matches to ``out`` like :func:`_verify`, with their ids (``out[3]``:
    the row, or ``~row`` in the ``delta`` segment); -1 when ``out`` is full."""
    q0 = query[0]
    q1 = query[1]
    q2 = query[2]
    q3 = query[3]
    capacity = out.shape[1]
    check = tombs.shape[0] > 0
    for start in range(0, count, _BLOCK):
        stop = min(start + _BLOCK, count)
        hits = 0  # counted first, in a loop that LLVM vectorises (see _verify)
        for row in range(start, stop):
            if _distance(words, row, q0, q1, q2, q3) <= threshold:
                hits += 1
        if hits == 0:
            continue
        for row in range(start, stop):
            d = _distance(words, row, q0, q1, q2, q3)
            if d <= threshold and not (check and _is_dead(tombs, row)):
                if n == capacity:
                    return -1
                out[0, n] = qi
                out[1, n] = ids[row]
                out[2, n] = d
                out[3, n] = ~row if delta else row
                n += 1
    return n


@_jit
def _search_kernel(
    queries: U64,
    threshold: int,
    scan_main: bool,
    pairs: bool,
    radii: I64,
    starts: I64,
    widths: I64,
    bases: I64,
    masks: I64,
    mask_counts: I64,
    words: U64,
    ids: I64,
    tombs: U8,
    offsets: U32,
    postings: U8,
    width: int,
    dwords: U64,
    dids: I64,
    dcount: int,
    seen: U8,
    capacity: int,
) -> tuple[I64, int, int]:
    """Every live hash within ``threshold`` bits of each query.

    Returns ``(out, n, done)``: ``out[:, :n]`` holds (query row, id, distance, where) of the
    matches of ``queries[:done]``, grouped by query in order, unsorted within a query; ``where``
    is the matching hash's row in ``words``, or ``~row`` in ``dwords``. ``done`` is less than
    the number of queries when ``capacity`` results did not suffice: search the rest again.

    ``pairs``: ``radii`` is a pair plan (see :meth:`_Layout._pair_radii`), so only the rows
    found through two chunks (or more) are verified; ``seen`` (2**_SEEN_BITS bits, this
    thread's own) tells which were already found by this query. A row seen twice is verified
    twice, and reported once like any row found through several chunks. Its loop (3') is
    simpler than the single plan's: nearly every candidate is only counted, so it walks the
    buckets one by one and keeps a row only when seen again.

    No array is ever reassigned here: numba would then pay an atomic reference count per loop
    iteration, which triples the cost of a query.
    """
    out = np.empty((4, capacity), dtype=np.int64)
    n = 0
    done = 0
    nmain = words.shape[0]
    nchunks = starts.shape[0]
    no_tombs = tombs[:0]
    flat_words = words.reshape(-1)
    flat_postings = postings.reshape(-1)
    stride = postings.shape[1]
    qc = np.empty(nchunks, dtype=np.int64)
    probes = 0
    for c in range(nchunks):
        if radii[c] >= 0:
            probes += mask_counts[c, radii[c]]
    p_chunk = np.empty(probes, dtype=np.int64)
    p_at = np.empty(probes, dtype=np.int64)
    b_chunk = np.empty(probes, dtype=np.int64)
    b_lo = np.empty(probes, dtype=np.int64)
    b_hi = np.empty(probes, dtype=np.int64)
    rows = np.empty(_BLOCK, dtype=np.int64)
    total_bytes = flat_postings.shape[0]
    posting_mask = np.int64(0xFFFFFF) if width == 3 else np.int64(0xFFFFFFFF)
    for qi in range(queries.shape[0]):
        query = queries[qi]
        start_n = n
        if scan_main:
            n = _scan(words, ids, tombs, nmain, query, threshold, qi, out, n, False)
        elif nmain > 0:
            for c in range(nchunks):
                qc[c] = _chunk(queries, qi, starts[c], widths[c])
            # 1. Every bucket to probe, prefetching its offsets: these loads are independent,
            #    so the memory system serves many of them together.
            np_ = 0
            for c in range(nchunks):
                r = radii[c]
                if r < 0:
                    continue
                base = bases[c]
                for m in range(mask_counts[c, r]):
                    at = base + (qc[c] ^ masks[c, m])
                    _prefetch(offsets, at)
                    p_chunk[np_] = c
                    p_at[np_] = at
                    np_ += 1
            # 2. The row ranges of the non-empty buckets, prefetching their postings.
            nb = 0
            for p in range(np_):
                at = p_at[p]
                lo = np.int64(offsets[at])
                hi = np.int64(offsets[at + 1])
                if hi > lo:
                    c = p_chunk[p]
                    if c > 0:
                        _prefetch(flat_postings, (c - 1) * stride + lo * width)
                        _prefetch(flat_postings, (c - 1) * stride + hi * width - 1)
                    b_chunk[nb] = c
                    b_lo[nb] = lo
                    b_hi[nb] = hi
                    nb += 1
            if pairs:
                # 3'. Every candidate row counted in ``seen``; a row seen again is kept (its
                #     hash prefetched) and, 4., the rows kept verified together.
                seen[:] = 0
                j = 0
                for b in range(nb):
                    c = b_chunk[b]
                    lo = b_lo[b]
                    hi = b_hi[b]
                    if c == 0:
                        for k in range(lo, hi):
                            if _seen_before(seen, k):
                                _prefetch(flat_words, k * 4)
                                if j == _BLOCK:  # a block full (or out full: n < 0)
                                    if n >= 0:
                                        n = _verify(words, query, threshold, rows, j, qi, out, n)
                                    j = 0
                                rows[j] = k
                                j += 1
                    else:
                        first_byte = (c - 1) * stride
                        for k in range(lo, hi):
                            base = first_byte + k * width
                            row = _posting(flat_postings, base, total_bytes, posting_mask)
                            # a damaged saved posting is skipped
                            if row < nmain and _seen_before(seen, row):
                                _prefetch(flat_words, row * 4)
                                if j == _BLOCK:  # a block full (or out full: n < 0)
                                    if n >= 0:
                                        n = _verify(words, query, threshold, rows, j, qi, out, n)
                                    j = 0
                                rows[j] = row
                                j += 1
                if n >= 0:
                    n = _verify(words, query, threshold, rows, j, qi, out, n)
            else:
                # 3. Blocks of candidate rows (prefetching their hashes), 4. verified together.
                b = 0
                pos = b_lo[0] if nb > 0 else 0
                while b < nb and n >= 0:
                    j = 0
                    while j < _BLOCK and b < nb:
                        c = b_chunk[b]
                        take = min(b_hi[b] - pos, _BLOCK - j)
                        if c == 0:
                            for k in range(pos, pos + take):
                                _prefetch(flat_words, k * 4)
                                rows[j] = k
                                j += 1
                        else:
                            first_byte = (c - 1) * stride
                            for k in range(pos, pos + take):
                                base = first_byte + k * width
                                row = _posting(flat_postings, base, total_bytes, posting_mask)
                                if row < nmain:  # a damaged saved posting is skipped
                                    _prefetch(flat_words, row * 4)
                                    rows[j] = row
                                    j += 1
                        pos += take
                        if pos == b_hi[b]:
                            b += 1
                            if b < nb:
                                pos = b_lo[b]
                    n = _verify(words, query, threshold, rows, j, qi, out, n)
            if n > start_n:
                n = _finish(out, start_n, n, ids, tombs)
        if n >= 0 and dcount > 0:
            n = _scan(dwords, dids, no_tombs, dcount, query, threshold, qi, out, n, True)
        if n < 0:
            n = start_n
            break
        done = qi + 1
    return out, n, done


@_jit
def _structure_ok(offsets: U32, nrows: int, bases: I64) -> bool:
    """Whether the offsets can be followed without reading out of bounds (monotone, from 0 to
    ``nrows`` for every chunk). Postings are bounded where they are read (see the kernel)."""
    if offsets.shape[0] != bases[-1]:
        return False
    for c in range(bases.shape[0] - 1):
        lo = bases[c]
        hi = bases[c + 1] - 1
        if offsets[lo] != 0 or np.int64(offsets[hi]) != nrows:
            return False
        for at in range(lo, hi):
            if offsets[at + 1] < offsets[at]:
                return False
    return True


# -- the index -----------------------------------------------------------------------------------

_SCRATCH = threading.local()


def _seen() -> U8:
    """This thread's table of rows seen by the query being answered (see _seen_before)."""
    seen: U8 | None = getattr(_SCRATCH, "seen", None)
    if seen is None:
        seen = _SCRATCH.seen = np.zeros(1 << (_SEEN_BITS - 3), dtype=np.uint8)
    return seen


class _BuildMethod:
    """``PdqIndex.build(hashes, ids)`` makes a new index; ``index.build(hashes, ids)`` refills
    ``index`` in place. Either way the index built is returned."""

    def __get__(
        self, obj: PdqIndex | None, owner: type[PdqIndex]
    ) -> Callable[[npt.ArrayLike, npt.ArrayLike], PdqIndex]:
        def build(hashes: npt.ArrayLike, ids: npt.ArrayLike) -> PdqIndex:
            """Index uint8[N, 32] ``hashes`` under int64[N] ``ids`` (replacing any contents)."""
            index = owner() if obj is None else obj
            words = _words(hashes)
            none = np.zeros(0, dtype=np.uint8)
            index._set_main(words, _ids(ids, words.shape[0]), none, words[:0], none.view(np.int64))
            return index

        return build


class PdqIndex:
    """Exact Hamming-radius search over 256-bit PDQ hashes, each stored under an int64 id.

    ``PdqIndex.build(hashes, ids)`` indexes uint8[N, 32] hashes; :meth:`search` and
    :meth:`search_batch` answer every stored hash within ``threshold`` bits (0..256, default
    31) of a query, exactly as a brute-force scan would; :meth:`add`, :meth:`remove` and
    :meth:`compact` change it; :meth:`save` and :meth:`load` persist it without pickle.

    ``delta_limit``: how many added hashes are kept in the linearly scanned delta segment before
    they are merged into the main tables. Ids need not be unique: a hash stored twice is found
    twice, and :meth:`remove` removes every entry with a given id.
    """

    build = _BuildMethod()

    def __init__(
        self, *, delta_limit: int = DEFAULT_DELTA_LIMIT, chunks: int | None = None
    ) -> None:
        """An empty index. ``chunks``: how many chunks the hashes are cut into (16, 14, 13 or
        12); by default chosen by size at every rebuild (see :func:`_choose_chunks`)."""
        if delta_limit < 0:
            raise ValueError("delta_limit is a number of hashes, at least 0")
        if chunks is not None and chunks not in (16, *_CHUNK_CHOICES):
            raise ValueError(f"chunks is one of 16, {', '.join(map(str, _CHUNK_CHOICES))}")
        self.delta_limit = delta_limit
        self.chunks = chunks
        empty_words = np.zeros((0, 4), dtype=np.uint64)
        empty_ids = np.zeros(0, dtype=np.int64)
        self._set_main(empty_words, empty_ids, np.zeros(0, dtype=np.uint8), empty_words, empty_ids)

    # -- state ---------------------------------------------------------------------------------

    def _set_main(self, words: U64, ids: I64, tombs: U8, more_words: U64, more_ids: I64) -> None:
        """Rebuild the main tables from the live rows of ``words`` (``tombs``: their tombstone
        bits, or empty) and every row of ``more_words``, and empty the delta segment."""
        live = words.shape[0]
        if tombs.shape[0]:
            live -= int(np.unpackbits(tombs, count=words.shape[0], bitorder="little").sum())
        n = live + more_words.shape[0]
        if n > _MAX_ROWS:
            raise ValueError(f"an index holds at most {_MAX_ROWS} hashes")
        layout = _layout(self.chunks if self.chunks is not None else _choose_chunks(n))
        sorted_words = _aligned_words(n)
        sorted_ids = np.empty(n, dtype=np.int64)
        offsets = np.empty(layout.offsets_size, dtype=np.uint32)
        start, bits = int(layout.starts[0]), int(layout.widths[0])
        _sort_by_chunk0(
            words, ids, tombs, more_words, more_ids, sorted_words, sorted_ids, offsets, start, bits
        )
        width = _posting_width(n)
        postings = np.empty((layout.count - 1, n * width), dtype=np.uint8)
        _fill_chunks(
            sorted_words, offsets, postings, width, layout.starts, layout.widths, layout.bases
        )
        self._adopt(
            layout,
            sorted_words,
            sorted_ids,
            np.zeros((n + 7) // 8, dtype=np.uint8),
            0,
            offsets,
            postings,
            width,
        )

    def _adopt(
        self,
        layout: _Layout,
        words: U64,
        ids: I64,
        tombs: U8,
        dead: int,
        offsets: U32,
        postings: U8,
        width: int,
    ) -> None:
        self._layout = layout
        self._pairs = layout.pairs(words.shape[0])
        self._words = words
        self._ids = ids
        self._tombs = tombs
        self._dead = dead
        self._offsets = offsets
        self._postings = postings
        self._width = width
        self._dwords: U64 = _aligned_words(16)
        self._dids: I64 = np.zeros(16, dtype=np.int64)
        self._dcount = 0

    @property
    def chunk_count(self) -> int:
        """How many chunks the main tables cut each hash into."""
        return self._layout.count

    def __len__(self) -> int:
        """How many hashes the index holds (removed ones excluded)."""
        return int(self._words.shape[0]) - self._dead + self._dcount

    def __repr__(self) -> str:
        return (
            f"PdqIndex({len(self)} hashes: {self._words.shape[0]} in the tables, "
            f"{self._dead} removed, {self._dcount} in the delta)"
        )

    @property
    def nbytes(self) -> int:
        """Bytes of every array the index holds (tables, ids, tombstones, delta capacity)."""
        arrays: list[npt.NDArray[Any]] = [
            self._words,
            self._ids,
            self._tombs,
            self._offsets,
            self._postings,
            self._dwords,
            self._dids,
        ]
        return sum(int(a.nbytes) for a in arrays)

    # -- searching -----------------------------------------------------------------------------

    def search(
        self,
        query: bytes | bytearray | memoryview | str | npt.NDArray[np.uint8],
        threshold: int = DEFAULT_THRESHOLD,
    ) -> list[tuple[int, int]]:
        """``(id, distance)`` of every stored hash within ``threshold`` bits of ``query``.

        ``query``: 32 bytes, a uint8 array of 32, or 64 hex characters. Distances are Hamming
        distances in bits. Sorted by distance, then id.
        """
        words = _as_uint8_row(query).view("<u8").astype(np.uint64).reshape(1, 4)
        _, ids, distances, _ = self._run(words, _check_threshold(threshold))
        if ids.shape[0] > 8:  # numpy sorts many faster; Python sorts a few faster
            order = np.lexsort((ids, distances))
            return list(zip(ids[order].tolist(), distances[order].tolist(), strict=True))
        found = list(zip(ids.tolist(), distances.tolist(), strict=True))
        found.sort(key=lambda hit: (hit[1], hit[0]))
        return found

    def search_batch(
        self, queries: npt.ArrayLike, threshold: int = DEFAULT_THRESHOLD
    ) -> tuple[I64, I64, I64]:
        """Every match of each of uint8[Q, 32] ``queries``, as three int64 arrays of equal length:
        the query's row in ``queries``, the stored id and the distance in bits.

        Sorted by query row, then distance, then id.
        """
        words = _words(queries)
        qs, ids, distances, _ = self._run(words, _check_threshold(threshold))
        if qs.shape[0] > 1:
            order = np.lexsort((ids, distances, qs))
            qs, ids, distances = qs[order], ids[order], distances[order]
        return qs, ids, distances

    def search_batch_with_hashes(
        self, queries: npt.ArrayLike, threshold: int = DEFAULT_THRESHOLD
    ) -> tuple[I64, I64, I64, U8]:
        """:meth:`search_batch`'s three arrays, and the stored hash each match found, as
        uint8[len, 32] (a copy: it stays right after the index changes)."""
        words = _words(queries)
        qs, ids, distances, where = self._run(words, _check_threshold(threshold))
        if qs.shape[0] == 0:
            return qs, ids, distances, np.zeros((0, HASH_BYTES), dtype=np.uint8)
        if qs.shape[0] > 1:
            order = np.lexsort((ids, distances, qs))
            qs, ids, distances, where = qs[order], ids[order], distances[order], where[order]
        found = np.empty((where.shape[0], 4), dtype=np.uint64)
        main = where >= 0
        found[main] = self._words[where[main]]
        found[~main] = self._dwords[~where[~main]]
        return qs, ids, distances, _bytes_view(found)

    def _run(self, words: U64, threshold: int) -> tuple[I64, I64, I64, I64]:
        """(query row, id, distance, where) of every match, grouped by query, unsorted within
        one; ``where``: the row of the hash found in the main tables, or ``~row`` in the delta."""
        total = words.shape[0]
        capacity = 256 if total == 1 else max(1024, 8 * total)
        parts: list[I64] = []
        start = 0
        while True:
            layout = self._layout
            plan = min(threshold, MAX_MIH_THRESHOLD)
            pairs = bool(self._pairs[plan])
            out, n, done = _search_kernel(
                words[start:],
                threshold,
                threshold > MAX_MIH_THRESHOLD,
                pairs,
                layout.pair_radii[plan] if pairs else layout.radii[plan],
                layout.starts,
                layout.widths,
                layout.bases,
                layout.masks,
                layout.mask_counts,
                self._words,
                self._ids,
                self._tombs,
                self._offsets,
                self._postings,
                self._width,
                self._dwords,
                self._dids,
                self._dcount,
                _seen(),
                capacity,
            )
            found: I64 = out[:, :n]
            if start:
                found = found.copy()
                found[0] += start
            parts.append(found)
            start += int(done)
            if start >= total:
                break
            capacity *= 4
        merged = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        return merged[0], merged[1], merged[2], merged[3]

    # -- changes -------------------------------------------------------------------------------

    def add(self, hashes: npt.ArrayLike, ids: npt.ArrayLike, *, merge: bool = True) -> None:
        """Add uint8[N, 32] ``hashes`` under int64[N] ``ids``, without rebuilding the tables.

        They go to the delta segment; once it holds more than ``delta_limit`` hashes everything
        is merged into new tables (a rebuild, so its cost is amortised over the adds). With
        ``merge=False`` the delta segment grows instead, until the caller swaps in
        :meth:`merged` (built while searches go on, see :attr:`wants_merge`).
        """
        words = _words(hashes)
        new_ids = _ids(ids, words.shape[0])
        k = words.shape[0]
        if k == 0:
            return
        if merge and self._dcount + k > self.delta_limit:
            self._merge(words, new_ids)
            return
        need = self._dcount + k
        if need > self._dwords.shape[0]:
            cap = max(need, 2 * self._dwords.shape[0])
            grown_words = _aligned_words(cap)
            grown_ids = np.zeros(cap, dtype=np.int64)
            grown_words[: self._dcount] = self._dwords[: self._dcount]
            grown_ids[: self._dcount] = self._dids[: self._dcount]
            self._dwords, self._dids = grown_words, grown_ids
        self._dwords[self._dcount : need] = words
        self._dids[self._dcount : need] = new_ids
        self._dcount = need

    def remove(self, ids: npt.ArrayLike, *, merge: bool = True) -> int:
        """Remove every entry stored under any of ``ids``; returns how many entries went.

        Removed rows of the main tables become tombstones (one bit each, skipped by searches);
        they are compacted away by the next merge, or at once when over a quarter of the rows.
        Costs one pass over the stored ids: about 0.2 ms per million hashes for one id, 10 ms
        for many.
        """
        given = np.asarray(ids).reshape(-1)
        if given.size and given.dtype.kind not in "iu":
            raise TypeError(f"ids must be integers, not {given.dtype}")
        doomed = np.unique(given.astype(np.int64))
        if doomed.size == 0:
            return 0
        removed = 0
        if self._dcount:
            live = self._dids[: self._dcount]
            keep = ~np.isin(live, doomed)
            kept = int(keep.sum())
            removed += self._dcount - kept
            if kept != self._dcount:
                self._dwords[:kept] = self._dwords[: self._dcount][keep]
                self._dids[:kept] = live[keep]
                self._dcount = kept
        if self._words.shape[0]:
            if doomed.size == 1:
                rows = np.flatnonzero(self._ids == doomed[0])
            else:
                rows = np.flatnonzero(np.isin(self._ids, doomed))
            rows = rows[(self._tombs[rows >> 3] >> (rows & 7).astype(np.uint8)) & 1 == 0]
            if rows.size:
                if not self._tombs.flags.writeable:
                    self._tombs = self._tombs.copy()
                np.bitwise_or.at(self._tombs, rows >> 3, (1 << (rows & 7)).astype(np.uint8))
                self._dead += int(rows.size)
                removed += int(rows.size)
            if merge and self._dead * 4 > self._words.shape[0]:
                self.compact()
        return removed

    @property
    def wants_merge(self) -> bool:
        """Whether the delta segment is over ``delta_limit`` or over a quarter of the rows are
        removed (what ``add`` and ``remove`` merge at, unless told not to)."""
        return self._dcount > self.delta_limit or self._dead * 4 > self._words.shape[0] > 0

    def merged(self) -> PdqIndex:
        """A new index with the same contents, merged and compacted; this one is only read.

        So a caller can build it while searches of this index go on, then swap it in: at 10M
        hashes a merge takes seconds, and holding searches up for that long would stall them.
        (``add``, ``remove`` and ``compact`` must still not run meanwhile.) Peak memory: both
        indexes, plus about 16 bytes per hash while sorting.
        """
        other = PdqIndex(delta_limit=self.delta_limit, chunks=self.chunks)
        tombs = self._tombs if self._dead else self._tombs[:0]
        other._set_main(
            self._words,
            self._ids,
            tombs,
            self._dwords[: self._dcount],
            self._dids[: self._dcount],
        )
        return other

    def compact(self) -> None:
        """Merge the delta segment into the main tables and drop removed rows (a rebuild)."""
        self._merge(np.zeros((0, 4), dtype=np.uint64), np.zeros(0, dtype=np.int64))

    def _merge(self, words: U64, ids: I64) -> None:
        more_words = np.concatenate([self._dwords[: self._dcount], words])
        more_ids = np.concatenate([self._dids[: self._dcount], ids])
        tombs = self._tombs if self._dead else self._tombs[:0]
        self._set_main(self._words, self._ids, tombs, more_words, more_ids)

    # -- persistence ---------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index into folder ``path`` (created if needed) as ``.npy`` files, no pickle.

        The JSON header is written last; a reader should only trust a folder that was renamed
        into place after ``save`` returned (as :mod:`tarcza.hashing.snapshots` does).
        """
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, npt.NDArray[Any]] = {
            "hashes": self._words.astype("<u8", copy=False),
            "ids": self._ids.astype("<i8", copy=False),
            "tombstones": self._tombs,
            "offsets": self._offsets.astype("<u4", copy=False),
            "postings": self._postings,
            "delta_hashes": self._dwords[: self._dcount].astype("<u8", copy=False),
            "delta_ids": self._dids[: self._dcount].astype("<i8", copy=False),
        }
        for name, array in arrays.items():
            np.save(folder / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
        header = {
            "format": _FORMAT,
            "version": _VERSION,
            "rows": int(self._words.shape[0]),
            "removed": self._dead,
            "delta": self._dcount,
            "width": self._width,
            "chunk_widths": self._layout.widths.tolist(),
            "count": len(self),
        }
        (folder / _HEADER).write_text(json.dumps(header, sort_keys=True) + "\n")

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        mmap: bool = True,
        delta_limit: int = DEFAULT_DELTA_LIMIT,
    ) -> PdqIndex:
        """Read an index written by :meth:`save` from folder ``path``.

        With ``mmap`` (the default) the tables are memory-mapped (copy-on-write, never written)
        rather than read into memory: they cost page cache, shared and reclaimable, not heap.
        Raises ValueError when the folder is not a well-formed index (OSError when a file is
        missing).
        """
        folder = Path(path)
        header = json.loads((folder / _HEADER).read_text())
        if not isinstance(header, dict) or header.get("format") != _FORMAT:
            raise ValueError(f"{folder} holds no {_FORMAT}")
        version = header.get("version")
        if version not in (1, _VERSION):
            raise ValueError(f"unsupported {_FORMAT} version {version!r}")
        try:
            rows, width = int(header["rows"]), int(header["width"])
            dcount, dead, count = int(header["delta"]), int(header["removed"]), int(header["count"])
            widths = [16] * 16 if version == 1 else [int(w) for w in header["chunk_widths"]]
            layout = _saved_layout(widths)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"the index header in {folder} is incomplete") from exc
        # Copy-on-write mappings: never written, but typed writeable, so numba reuses the code it
        # compiled for in-memory arrays instead of compiling a read-only variant.
        mode: Any = "c" if mmap and rows > 0 else None

        def read(name: str, dtype: str, shape: tuple[int, ...], mapped: bool) -> npt.NDArray[Any]:
            array = np.load(
                folder / f"{name}.npy", mmap_mode=mode if mapped else None, allow_pickle=False
            )
            if array.dtype != np.dtype(dtype) or array.shape != shape:
                raise ValueError(f"{name}.npy is {array.dtype}{array.shape}, not {dtype}{shape}")
            converted: npt.NDArray[Any] = array.astype(
                np.dtype(dtype).newbyteorder("="), copy=False
            )
            return converted

        if width not in (3, 4) or rows < 0 or rows > _MAX_ROWS or dcount < 0:
            raise ValueError("the index header is inconsistent")
        words = read("hashes", "<u8", (rows, 4), True)
        if words.ctypes.data % _CACHE_LINE:  # read into memory, or an odd header size
            aligned = _aligned_words(rows)
            aligned[...] = words
            words = aligned
        ids = read("ids", "<i8", (rows,), True)
        tombs = read("tombstones", "|u1", ((rows + 7) // 8,), False)
        if version == 1:  # the same flat offsets, stored as a (16, 65537) table
            offsets = read("offsets", "<u4", (16, 65537), True).reshape(-1)
        else:
            offsets = read("offsets", "<u4", (layout.offsets_size,), True)
        postings = read("postings", "|u1", (layout.count - 1, rows * width), True)
        dwords = read("delta_hashes", "<u8", (dcount, 4), False)
        dids = read("delta_ids", "<i8", (dcount,), False)
        # Postings: the kernel skips a row number past the table, so damage there can lose
        # matches but never read out of bounds; the top byte of every posting is checked here
        # (one strided pass, not a decode of each: 0.1 s rather than 2 s at 10M hashes).
        top = postings[:, width - 1 :: width]
        if not _structure_ok(offsets, rows, layout.bases) or (
            top.size and int(top.max()) > (rows - 1) >> (8 * (width - 1))
        ):
            raise ValueError(f"the tables in {folder} are damaged")
        counted = int(np.unpackbits(tombs, count=rows, bitorder="little").sum()) if rows else 0
        if counted != dead or count != rows - dead + dcount:
            raise ValueError("the index header disagrees with its tombstones")
        # Not through __init__: its empty tables would be built (two kernels loaded, every
        # layout made) only to be replaced at once.
        if delta_limit < 0:
            raise ValueError("delta_limit is a number of hashes, at least 0")
        index = cls.__new__(cls)
        index.delta_limit = delta_limit
        index.chunks = None
        index._adopt(layout, words, ids, tombs, dead, offsets, postings, width)
        if dcount:
            index.add(_bytes_view(dwords), dids)
        return index


def _saved_layout(widths: list[int]) -> _Layout:
    """The layout of a saved index's chunk widths: the shared one when they are the even cut
    every build makes (its flip masks are not made again), else a new one (ValueError when
    they do not cut 256 bits)."""
    if widths and widths == _widths(len(widths)):
        return _layout(len(widths))
    return _Layout(widths)


def _bytes_view(words: U64) -> U8:
    """uint64[N, 4] words back as uint8[N, 32] hashes."""
    out: U8 = np.ascontiguousarray(words).astype("<u8", copy=False).view(np.uint8)
    return out.reshape(words.shape[0], HASH_BYTES)
