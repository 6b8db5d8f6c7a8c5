"""The PDQ index answers exactly what a brute-force scan answers (random hashes only)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tarcza.hashing import index as index_module
from tarcza.hashing.index import (
    MAX_MIH_THRESHOLD,
    PdqIndex,
    bytes_to_hex,
    hex_to_bytes,
    hex_to_hashes,
)
from tarcza.hashing.pdq import hamming

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]

# Thresholds that exercise every probing plan: radius 0 on some chunks (0, 8, 15), radius 1
# on some or all (16, 20, 31), radius 2 (32, 40, 47) and the linear scan (48, 64, 256).
THRESHOLDS = [0, 8, 15, 16, 20, 31, 32, 40, 47, 48, 64, 256]
Result = set[tuple[int, int]]


def flip(h: U8, k: int, rng: np.random.Generator) -> U8:
    """``h`` with exactly ``k`` distinct bits flipped."""
    out = h.copy()
    for bit in rng.choice(256, size=k, replace=False):
        out[bit // 8] ^= np.uint8(1 << (bit % 8))
    return out


def brute(hashes: U8, ids: I64, query: U8, threshold: int) -> list[tuple[int, int]]:
    """Every (id, distance) within ``threshold`` by a full scan, sorted like the index."""
    if len(hashes) == 0:
        return []
    d = np.bitwise_count(hashes ^ query).sum(axis=1, dtype=np.int64)
    sel = np.nonzero(d <= threshold)[0]
    return sorted(zip(ids[sel].tolist(), d[sel].tolist(), strict=True), key=lambda x: (x[1], x[0]))


def brute_batch(hashes: U8, ids: I64, queries: U8, threshold: int) -> list[tuple[int, int, int]]:
    return [
        (q, i, d) for q in range(len(queries)) for i, d in brute(hashes, ids, queries[q], threshold)
    ]


def batch_rows(index: PdqIndex, queries: U8, threshold: int) -> list[tuple[int, int, int]]:
    qs, ids, ds = index.search_batch(queries, threshold)
    assert qs.dtype == ids.dtype == ds.dtype == np.int64
    return list(zip(qs.tolist(), ids.tolist(), ds.tolist(), strict=True))


class Data:
    """Random hashes, clusters of near-duplicates, and queries with planted neighbours at every
    distance from 0 to 40 bits."""

    def __init__(self, seed: int = 7, n_random: int = 20_000, n_queries: int = 40) -> None:
        rng = np.random.default_rng(seed)
        parts = [rng.integers(0, 256, size=(n_random, 32), dtype=np.uint8)]
        # 100 clusters of 40 variants 1..20 bits from their centre: big shared buckets.
        for centre in rng.integers(0, 256, size=(100, 32), dtype=np.uint8):
            parts.append(np.stack([flip(centre, int(k), rng) for k in rng.integers(1, 21, 40)]))
        self.queries = rng.integers(0, 256, size=(n_queries, 32), dtype=np.uint8)
        for q in self.queries:
            parts.append(np.stack([flip(q, k, rng) for k in range(41)]))
        parts.append(self.queries[:5].copy())  # exact duplicates of queries
        self.hashes = np.concatenate(parts)
        # Ids unrelated to positions, some negative, one huge.
        self.ids = rng.permutation(len(self.hashes)).astype(np.int64) * 7 - 1000
        self.ids[0] = np.iinfo(np.int64).max
        # Queries that are stored hashes (inside clusters) as well as the planted ones.
        picks = rng.choice(len(self.hashes), size=10, replace=False)
        self.queries = np.concatenate([self.queries, self.hashes[picks]])


@pytest.fixture(scope="module")
def data() -> Data:
    return Data()


# Every layout: 16 chunks of 16 bits (chosen up to ~2M hashes) and the coarser ones chosen for
# bigger banks, forced here on a small one.
LAYOUTS = [16, 14, 13, 12]
# Both probing plans: every candidate verified ("single"), or only those found through two
# chunks ("pairs"). Which one a search takes depends on the size, so both are forced here.
PLANS = ["single", "pairs"]


@contextlib.contextmanager
def plan(name: str) -> Iterator[None]:
    """Indexes built (or merged) inside take the plan ``name`` at every threshold it can."""
    with pytest.MonkeyPatch.context() as patch:
        if name == "pairs":
            patch.setattr(index_module._Layout, "pairs", lambda self, rows: self.pairs_possible)
        else:
            patch.setattr(index_module._Layout, "pairs", lambda self, rows: self.pairs_possible & 0)
        yield


@pytest.fixture(
    scope="module",
    params=[(c, p) for c in LAYOUTS for p in PLANS],
    ids=lambda param: f"{param[0]}chunks-{param[1]}",
)
def built(data: Data, request: pytest.FixtureRequest) -> PdqIndex:
    chunks, name = request.param
    with plan(name):
        index = PdqIndex(chunks=chunks)
        index.build(data.hashes, data.ids)
    assert index.chunk_count == chunks
    assert index._pairs[:32].all() == (name == "pairs")
    return index


def assert_exact(index: PdqIndex, hashes: U8, ids: I64, queries: U8, thresholds: list[int]) -> None:
    for t in thresholds:
        for q in queries:
            assert index.search(q, t) == brute(hashes, ids, q, t), f"threshold {t}"
        expected = brute_batch(hashes, ids, queries, t)
        assert batch_rows(index, queries, t) == expected
        assert_hashes_found(index, hashes, ids, queries, t, expected)


def assert_hashes_found(
    index: PdqIndex,
    hashes: U8,
    ids: I64,
    queries: U8,
    threshold: int,
    expected: list[tuple[int, int, int]],
) -> None:
    """search_batch_with_hashes: search_batch's rows, and for each match a hash stored under
    its id at its distance from its query."""
    qs, found_ids, ds, found = index.search_batch_with_hashes(queries, threshold)
    assert list(zip(qs.tolist(), found_ids.tolist(), ds.tolist(), strict=True)) == expected
    assert found.dtype == np.uint8 and found.shape == (len(expected), 32)
    stored = set(zip(ids.tolist(), map(bytes, hashes), strict=True))
    assert all((i, bytes(h)) in stored for i, h in zip(found_ids.tolist(), found, strict=True))
    distances = np.bitwise_count(found ^ queries[qs]).sum(axis=1, dtype=np.int64)
    assert distances.tolist() == ds.tolist()


# -- exactness ---------------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_single_and_batch_searches_equal_brute_force(
    built: PdqIndex, data: Data, threshold: int
) -> None:
    # At 64 bits and more every query matches thousands: a few queries suffice.
    queries = data.queries if threshold < 64 else data.queries[:3]
    assert_exact(built, data.hashes, data.ids, queries, [threshold])


def test_planted_neighbours_are_found_up_to_the_threshold(built: PdqIndex, data: Data) -> None:
    q = data.queries[0]
    for threshold in (0, 8, 31, 40):
        distances = sorted(d for _, d in built.search(q, threshold))
        # The 41 planted neighbours sit at 0..40 bits; random hashes are ~128 bits away.
        assert set(range(threshold + 1)) <= set(distances)
        assert max(distances) <= threshold


def test_default_threshold_is_31(built: PdqIndex, data: Data) -> None:
    q = data.queries[1]
    assert built.search(q) == built.search(q, 31) == brute(data.hashes, data.ids, q, 31)


def test_query_forms_agree(built: PdqIndex, data: Data) -> None:
    q = data.queries[2]
    expected = built.search(q)
    assert built.search(bytes(q)) == expected
    assert built.search(bytearray(q)) == expected
    assert built.search(bytes_to_hex(q)) == expected
    assert built.search(bytes_to_hex(q).upper()) == expected


def test_distances_are_pdq_hamming_distances(built: PdqIndex, data: Data) -> None:
    by_id = {int(i): h for i, h in zip(data.ids, data.hashes, strict=True)}
    q = data.queries[3]
    for stored_id, distance in built.search(q, 40):
        assert distance == hamming(bytes_to_hex(q), bytes_to_hex(by_id[stored_id]))


def test_results_sorted_by_distance_then_id(built: PdqIndex, data: Data) -> None:
    found = built.search(data.queries[4], 40)
    assert found == sorted(found, key=lambda x: (x[1], x[0]))
    qs, ids, ds = built.search_batch(data.queries, 31)
    keys = list(zip(qs.tolist(), ds.tolist(), ids.tolist(), strict=True))
    assert keys == sorted(keys)


@pytest.mark.parametrize("name", PLANS)
def test_batch_larger_than_the_first_result_buffer(data: Data, name: str) -> None:
    # Every query matches every one of 2,500 identical hashes: more rows than one block of
    # verification (index_module._BLOCK), so blocks are verified while candidates are still
    # being read, and more matches than the first result buffer holds, so the kernel must
    # resume with bigger buffers, twice over, and still return everything once.
    count = 2500
    assert count > index_module._BLOCK
    hashes = np.repeat(data.queries[:1], count, axis=0)
    ids = np.arange(count, dtype=np.int64)
    with plan(name):
        index = PdqIndex.build(hashes, ids)
    queries = np.repeat(data.queries[:1], 3, axis=0)
    qs, found, ds = index.search_batch(queries, 0)
    assert len(qs) == 3 * count
    assert qs.tolist() == [0] * count + [1] * count + [2] * count
    assert found.tolist() == list(range(count)) * 3
    assert not ds.any()
    assert index.search(queries[0], 0) == [(i, 0) for i in range(count)]
    assert index.search(queries[0], 31) == [(i, 0) for i in range(count)]


def test_four_byte_postings(monkeypatch: pytest.MonkeyPatch, data: Data) -> None:
    # Above 2**24 rows postings take 4 bytes; force that layout on a small index.
    monkeypatch.setattr(index_module, "_posting_width", lambda rows: 4)
    index = PdqIndex.build(data.hashes, data.ids)
    assert index._width == 4
    assert_exact(index, data.hashes, data.ids, data.queries[:10], [0, 31, 40])


def test_concurrent_searches_agree(built: PdqIndex, data: Data) -> None:
    expected = [built.search(q, 31) for q in data.queries]
    errors: list[int] = []

    def work() -> None:
        for i, q in enumerate(data.queries):
            if built.search(q, 31) != expected[i]:
                errors.append(i)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


# -- changes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunks", [16, 12])
def test_add_remove_and_merge_stay_exact(data: Data, chunks: int) -> None:
    rng = np.random.default_rng(3)
    order = rng.permutation(len(data.hashes))
    hashes, ids = data.hashes[order], data.ids[order]
    queries = data.queries[:12]
    thresholds = [0, 8, 31, 40, 64]
    index = PdqIndex(chunks=chunks).build(hashes[:10_000], ids[:10_000])
    index.delta_limit = 300
    live = np.zeros(len(hashes), dtype=bool)
    live[:10_000] = True

    def check() -> None:
        assert len(index) == int(live.sum())
        assert_exact(index, hashes[live], ids[live], queries, thresholds)

    # One at a time into the delta segment, then past delta_limit (a merge).
    for i in range(10_000, 10_250):
        index.add(hashes[i : i + 1], ids[i : i + 1])
        live[i] = True
    assert index._dcount == 250
    check()
    index.add(hashes[10_250:10_400], ids[10_250:10_400])
    live[10_250:10_400] = True
    assert index._dcount == 0  # merged
    check()
    # Removals from the tables (tombstones) and from the delta segment.
    index.add(hashes[10_400:10_500], ids[10_400:10_500])
    live[10_400:10_500] = True
    doomed = np.concatenate([ids[rng.choice(10_400, 500, replace=False)], ids[10_450:10_470]])
    assert index.remove(doomed) == 520
    live[np.isin(ids, doomed)] = False
    assert index._dead == 500 and index._dcount == 80
    check()
    assert index.remove(doomed) == 0  # idempotent
    assert index.remove(np.array([123456789123], dtype=np.int64)) == 0
    # Compaction drops tombstones and empties the delta segment.
    index.compact()
    assert index._dead == 0 and index._dcount == 0
    check()
    # Removing over a quarter of the rows compacts at once.
    index.remove(ids[live][: int(live.sum()) // 3])
    live[np.isin(ids, ids[live][: int(live.sum()) // 3])] = False
    assert index._dead == 0
    check()
    # The rest, in one big add (straight to the tables).
    index.add(hashes[~live], ids[~live])
    live[:] = True
    check()


def test_duplicate_ids_are_removed_together() -> None:
    rng = np.random.default_rng(5)
    hashes = rng.integers(0, 256, size=(50, 32), dtype=np.uint8)
    index = PdqIndex.build(hashes, np.full(50, 9, dtype=np.int64))
    index.add(hashes[:3], np.array([9, 9, 10]))
    assert len(index) == 53
    assert index.search(hashes[0], 0) == [(9, 0), (9, 0)]
    assert index.remove([9]) == 52
    assert len(index) == 1
    assert index.search(hashes[2], 0) == [(10, 0)]


def test_empty_index() -> None:
    index = PdqIndex()
    assert len(index) == 0
    assert index.search(bytes(32)) == []
    qs, ids, ds = index.search_batch(np.zeros((3, 32), dtype=np.uint8))
    assert qs.size == ids.size == ds.size == 0
    assert index.remove([1, 2]) == 0
    index.add(np.zeros((0, 32), dtype=np.uint8), np.zeros(0, dtype=np.int64))
    index.add(np.zeros((1, 32), dtype=np.uint8), [4])
    assert index.search(bytes(32), 0) == [(4, 0)]
    empty = PdqIndex.build(np.zeros((0, 32), dtype=np.uint8), np.zeros(0, dtype=np.int64))
    assert len(empty) == 0 and empty.search(bytes(32), 256) == []


def test_build_on_an_instance_refills_it(data: Data) -> None:
    # The matcher does `index = PdqIndex(); index.build(hashes, ids)`.
    index = PdqIndex()
    index.add(data.hashes[:3], [1, 2, 3])
    returned = index.build(data.hashes[:100], data.ids[:100])
    assert returned is index
    assert len(index) == 100
    assert index.search(data.hashes[5], 0) == brute(
        data.hashes[:100], data.ids[:100], data.hashes[5], 0
    )
    assert isinstance(PdqIndex.build(data.hashes[:5], data.ids[:5]), PdqIndex)


def test_build_copies_its_input(data: Data) -> None:
    hashes = data.hashes[:100].copy()
    index = PdqIndex.build(hashes, data.ids[:100])
    expected = index.search(data.hashes[0], 0)
    hashes[:] = 0
    assert index.search(data.hashes[0], 0) == expected


# -- persistence -------------------------------------------------------------------------------


@pytest.mark.parametrize(("mmap", "chunks"), [(True, 16), (False, 16), (True, 12)])
def test_save_load_round_trip(tmp_path: Path, data: Data, mmap: bool, chunks: int) -> None:
    index = PdqIndex(chunks=chunks).build(data.hashes[:-200], data.ids[:-200])
    index.add(data.hashes[-200:], data.ids[-200:])  # some in the delta segment
    index.remove(data.ids[:50])  # some tombstones
    live = np.ones(len(data.hashes), dtype=bool)
    live[:50] = False
    index.save(tmp_path / "index")
    loaded = PdqIndex.load(tmp_path / "index", mmap=mmap)
    assert len(loaded) == len(index) == int(live.sum())
    assert loaded.chunk_count == chunks
    assert_exact(loaded, data.hashes[live], data.ids[live], data.queries[:10], [0, 31, 40, 64])
    # The loaded index keeps changing like any other.
    loaded.remove(data.ids[100:110])
    loaded.add(data.queries[:2], [-1, -2])
    live[100:110] = False
    hashes = np.concatenate([data.hashes[live], data.queries[:2]])
    ids = np.concatenate([data.ids[live], [-1, -2]])
    assert_exact(loaded, hashes, ids, data.queries[:10], [31])
    loaded.compact()
    assert_exact(loaded, hashes, ids, data.queries[:10], [31])


def test_saved_files_hold_no_pickle(tmp_path: Path, built: PdqIndex) -> None:
    built.save(tmp_path / "ix")
    names = sorted(p.name for p in (tmp_path / "ix").iterdir())
    assert names == sorted(
        [
            "pdq_index.json",
            "hashes.npy",
            "ids.npy",
            "tombstones.npy",
            "offsets.npy",
            "postings.npy",
            "delta_hashes.npy",
            "delta_ids.npy",
        ]
    )
    for path in (tmp_path / "ix").glob("*.npy"):
        array = np.load(path, allow_pickle=False)
        assert array.dtype != object
    header = json.loads((tmp_path / "ix" / "pdq_index.json").read_text())
    assert header["count"] == len(built)


def test_empty_index_round_trip(tmp_path: Path) -> None:
    PdqIndex().save(tmp_path / "e")
    loaded = PdqIndex.load(tmp_path / "e")
    assert len(loaded) == 0 and loaded.search(bytes(32), 256) == []


def test_version_1_saves_still_load(tmp_path: Path, data: Data) -> None:
    # Version 1 (always 16 x 16 bits) kept offsets as a (16, 65537) table: a saved index of the
    # previous release loads without a rebuild.
    index = PdqIndex(chunks=16).build(data.hashes, data.ids)
    index.save(tmp_path / "v1")
    header = json.loads((tmp_path / "v1" / "pdq_index.json").read_text())
    header["version"] = 1
    del header["chunk_widths"]
    (tmp_path / "v1" / "pdq_index.json").write_text(json.dumps(header))
    offsets = np.load(tmp_path / "v1" / "offsets.npy")
    np.save(tmp_path / "v1" / "offsets.npy", offsets.reshape(16, 65537))
    loaded = PdqIndex.load(tmp_path / "v1")
    assert loaded.chunk_count == 16
    assert_exact(loaded, data.hashes, data.ids, data.queries[:10], [0, 31, 47])


def test_a_damaged_posting_is_never_followed_out_of_bounds(tmp_path: Path, data: Data) -> None:
    # A row number past the table whose top byte looks plausible passes the load's check; the
    # kernel skips it: the search may lose that candidate, but reads nothing out of bounds.
    hashes, ids = data.hashes[:1000], data.ids[:1000]
    PdqIndex(chunks=16).build(hashes, ids).save(tmp_path / "ix")
    postings = np.load(tmp_path / "ix" / "postings.npy")
    postings[:, 0:2] = 255  # the first posting of every chunk: row 65,535 of 1,000
    np.save(tmp_path / "ix" / "postings.npy", postings)
    loaded = PdqIndex.load(tmp_path / "ix")
    for q in data.queries[:10]:
        assert set(loaded.search(q, 31)) <= set(brute(hashes, ids, q, 31))


def test_damaged_saves_are_refused(tmp_path: Path, data: Data) -> None:
    index = PdqIndex.build(data.hashes[:1000], data.ids[:1000])
    index.save(tmp_path / "ok")
    # A posting that points past the table.
    index.save(tmp_path / "bad")
    postings = np.load(tmp_path / "bad" / "postings.npy")
    postings[3, :3] = 255
    np.save(tmp_path / "bad" / "postings.npy", postings)
    with pytest.raises(ValueError, match="damaged"):
        PdqIndex.load(tmp_path / "bad")
    # Offsets that are not monotone.
    index.save(tmp_path / "bad2")
    offsets = np.load(tmp_path / "bad2" / "offsets.npy")
    offsets[2 * 65537 + 100] = 999
    np.save(tmp_path / "bad2" / "offsets.npy", offsets)
    with pytest.raises(ValueError, match="damaged"):
        PdqIndex.load(tmp_path / "bad2")
    # Arrays of the wrong shape or dtype, and a header that lies.
    index.save(tmp_path / "bad3")
    np.save(tmp_path / "bad3" / "ids.npy", np.zeros(999, dtype=np.int64))
    with pytest.raises(ValueError, match=r"ids\.npy"):
        PdqIndex.load(tmp_path / "bad3")
    index.save(tmp_path / "bad4")
    header = json.loads((tmp_path / "bad4" / "pdq_index.json").read_text())
    header["count"] = 5
    (tmp_path / "bad4" / "pdq_index.json").write_text(json.dumps(header))
    with pytest.raises(ValueError, match="disagrees"):
        PdqIndex.load(tmp_path / "bad4")
    (tmp_path / "bad4" / "pdq_index.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="holds no"):
        PdqIndex.load(tmp_path / "bad4")
    assert len(PdqIndex.load(tmp_path / "ok")) == 1000


def test_a_load_builds_nothing_and_checks_its_chunk_widths_and_delta_limit(
    tmp_path: Path, data: Data
) -> None:
    index = PdqIndex(chunks=12).build(data.hashes[:1000], data.ids[:1000])
    index.save(tmp_path / "ok")
    # The even cut of every build: the shared layout, not one made again (its flip masks are
    # most of a load's own cost once the tables are mapped).
    loaded = PdqIndex.load(tmp_path / "ok", delta_limit=7)
    assert loaded._layout is index_module._layout(12)
    assert loaded.delta_limit == 7 and loaded.chunk_count == 12
    loaded.add(data.queries[:8], np.arange(-8, 0))  # past the delta limit: merged
    assert_exact(
        loaded,
        np.concatenate([data.hashes[:1000], data.queries[:8]]),
        np.concatenate([data.ids[:1000], np.arange(-8, 0)]),
        data.queries[:5],
        [31],
    )
    with pytest.raises(ValueError, match="delta_limit"):
        PdqIndex.load(tmp_path / "ok", delta_limit=-1)
    header = json.loads((tmp_path / "ok" / "pdq_index.json").read_text())
    for widths in ([32] * 8, [], [21] * 12):  # too wide, none, not 256 bits
        (tmp_path / "ok" / "pdq_index.json").write_text(
            json.dumps({**header, "chunk_widths": widths})
        )
        with pytest.raises(ValueError):
            PdqIndex.load(tmp_path / "ok")


# -- inputs and helpers ----------------------------------------------------------------------


def test_hex_helpers_round_trip() -> None:
    rng = np.random.default_rng(1)
    raw = rng.integers(0, 256, size=32, dtype=np.uint8)
    text = bytes_to_hex(raw)
    assert text == bytes(raw).hex()
    assert hex_to_bytes(text).tolist() == raw.tolist()
    assert hex_to_bytes(text).dtype == np.uint8
    assert bytes_to_hex(bytes(raw)) == text
    assert hex_to_hashes([text, text.upper()]).tolist() == [raw.tolist(), raw.tolist()]
    assert hex_to_hashes([]).shape == (0, 32)
    # The matcher turns hex into rows this way.
    assert np.asarray(hex_to_bytes(text), dtype=np.uint8).shape == (32,)


@pytest.mark.parametrize(
    "bad", ["", "0" * 63, "0" * 65, "g" * 64, " " + "0" * 63, "00 " * 21 + "0"]
)
def test_hex_helpers_refuse_malformed_hashes(bad: str) -> None:
    with pytest.raises(ValueError):
        hex_to_bytes(bad)
    with pytest.raises(ValueError):
        hex_to_hashes([bad])


def test_bad_inputs_are_refused(built: PdqIndex) -> None:
    with pytest.raises(ValueError):
        built.search(bytes(31))
    with pytest.raises(TypeError):
        built.search(np.zeros(32, dtype=np.int64))
    with pytest.raises(ValueError):
        built.search(bytes(32), -1)
    with pytest.raises(ValueError):
        built.search(bytes(32), 257)
    with pytest.raises(TypeError):
        built.search(bytes(32), True)
    with pytest.raises(ValueError):
        built.search_batch(np.zeros((2, 31), dtype=np.uint8))
    with pytest.raises(TypeError):
        PdqIndex.build(np.zeros((2, 32), dtype=np.int16), np.arange(2))
    with pytest.raises(ValueError):
        PdqIndex.build(np.zeros((2, 32), dtype=np.uint8), np.arange(3))
    with pytest.raises(TypeError):
        PdqIndex.build(np.zeros((2, 32), dtype=np.uint8), np.array([0.5, 1.5]))
    with pytest.raises(ValueError):
        PdqIndex.build(np.zeros((1, 32), dtype=np.uint8), np.array([2**63], dtype=np.uint64))


def test_memory_per_hash_at_100k() -> None:
    rng = np.random.default_rng(2)
    n = 100_000
    index = PdqIndex.build(rng.integers(0, 256, size=(n, 32), dtype=np.uint8), np.arange(n))
    fixed = 16 * 65537 * 4 + index._dwords.nbytes + index._dids.nbytes
    per_hash = (index.nbytes - fixed) / n
    assert per_hash < 85.2  # 32 hash + 8 id + 15 x 3 postings + 1/8 tombstone


# -- properties ----------------------------------------------------------------------------------


@st.composite
def small_sets(draw: st.DrawFn) -> tuple[U8, I64, U8]:
    """A few base hashes, stored hashes a few bits from them, and queries near them too."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    bases = rng.integers(0, 256, size=(draw(st.integers(1, 4)), 32), dtype=np.uint8)
    n = draw(st.integers(0, 60))
    picks = rng.integers(0, len(bases), size=n)
    spread = draw(st.integers(0, 60))
    hashes = (
        np.stack([flip(bases[p], int(rng.integers(0, spread + 1)), rng) for p in picks])
        if n
        else np.zeros((0, 32), dtype=np.uint8)
    )
    ids = rng.integers(-50, 50, size=n).astype(np.int64)
    queries = np.stack(
        [flip(bases[p], int(rng.integers(0, 50)), rng) for p in rng.integers(0, len(bases), 5)]
    )
    return hashes, ids, queries


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    small_sets(),
    st.integers(0, 70),
    st.integers(0, 100),
    st.sampled_from(LAYOUTS),
    st.sampled_from(PLANS),
)
def test_index_equals_brute_force(
    sets: tuple[U8, I64, U8], threshold: int, cut_pct: int, chunks: int, name: str
) -> None:
    hashes, ids, queries = sets
    cut = len(hashes) * cut_pct // 100
    with plan(name):
        index = PdqIndex(chunks=chunks).build(hashes[:cut], ids[:cut])
        index.delta_limit = 8
        index.add(hashes[cut:], ids[cut:])
        assert len(index) == len(hashes)
        assert_exact(index, hashes, ids, queries, [threshold])
        if len(ids):
            gone = ids[:3]
            index.remove(gone)
            keep = ~np.isin(ids, gone)
            assert_exact(index, hashes[keep], ids[keep], queries, [threshold])


def flip_bits(h: U8, bits: list[int]) -> None:
    for bit in bits:
        h[bit // 8] ^= np.uint8(1 << (bit % 8))


def tight_neighbours(query: U8, threshold: int, chunks: int, rng: np.random.Generator) -> list[U8]:
    """Hashes exactly ``threshold`` bits from ``query`` that lie within the probe radius in one
    chunk only (one hash per probed chunk): the pigeonhole bound is tight for them, so a
    single probe too few misses them."""
    layout = index_module._layout(chunks)
    radii = layout.radii[threshold].tolist()
    out = []
    for j, rj in enumerate(radii):
        if rj < 0:
            continue
        h = query.copy()
        for c, rc in enumerate(radii):
            flips = rj if c == j else rc + 1
            start, width = int(layout.starts[c]), int(layout.widths[c])
            picked = rng.choice(width, size=max(flips, 0), replace=False)
            flip_bits(h, [start + int(b) for b in picked])
        assert int(np.bitwise_count(h ^ query).sum()) == threshold
        out.append(h)
    return out


def tight_pair_neighbours(
    query: U8, threshold: int, chunks: int, rng: np.random.Generator
) -> list[U8]:
    """Hashes exactly ``threshold`` bits from ``query`` that lie within the pair plan's radius
    in as few chunks as can be (two, for each pair of probed chunks), every other chunk as
    far out as the threshold allows: the hashes the pair plan finds with the least margin."""
    layout = index_module._layout(chunks)
    if not layout.pairs_possible[threshold]:
        return []
    radii = layout.pair_radii[threshold].tolist()
    probed = [c for c, r in enumerate(radii) if r >= 0]
    out = []
    for j1, j2 in [(a, b) for a in probed for b in probed if a < b][:20]:
        flips = [r if c in (j1, j2) else r + 1 for c, r in enumerate(radii)]
        for c in [j1, j2, *(c for c in range(chunks) if c not in (j1, j2))]:
            while sum(flips) > threshold and flips[c] > 0:
                flips[c] -= 1
        h = query.copy()
        for c, k in enumerate(flips):
            start, width = int(layout.starts[c]), int(layout.widths[c])
            flip_bits(h, [start + int(b) for b in rng.choice(width, size=k, replace=False)])
        assert int(np.bitwise_count(h ^ query).sum()) == threshold
        out.append(h)
    return out


@pytest.mark.parametrize("name", PLANS)
@pytest.mark.parametrize("chunks", LAYOUTS)
def test_neighbours_at_the_pigeonhole_bound_are_found(chunks: int, name: str) -> None:
    rng = np.random.default_rng(11)
    query = rng.integers(0, 256, size=32, dtype=np.uint8)
    planted = [
        h
        for t in range(MAX_MIH_THRESHOLD + 1)
        for h in tight_neighbours(query, t, chunks, rng)
        + tight_pair_neighbours(query, t, chunks, rng)
    ]
    background = rng.integers(0, 256, size=(2000, 32), dtype=np.uint8)
    hashes = np.concatenate([background, np.stack(planted)])
    ids = np.arange(len(hashes), dtype=np.int64)
    with plan(name):
        index = PdqIndex(chunks=chunks).build(hashes, ids)
    for t in range(MAX_MIH_THRESHOLD + 1):
        assert index.search(query, t) == brute(hashes, ids, query, t), f"threshold {t}"


@pytest.mark.parametrize("chunks", LAYOUTS)
def test_probing_plan_covers_every_threshold(chunks: int) -> None:
    # sum(r + 1) == t + 1 over the chunks is what makes the search exact (pigeonhole), and the
    # chunks cut all 256 bits once.
    layout = index_module._layout(chunks)
    assert int(layout.widths.sum()) == 256 and layout.starts.tolist() == [
        int(layout.widths[:c].sum()) for c in range(chunks)
    ]
    for t in range(MAX_MIH_THRESHOLD + 1):
        radii = layout.radii[t]
        assert int((radii + 1).sum()) == t + 1
        assert radii.min() >= -1 and radii.max() <= 3
        # The pair plan: a match lies within its radius in two chunks at least, since it
        # cannot lie outside all but one (that alone would take more than t bits).
        pair = layout.pair_radii[t]
        assert layout.pairs_possible[t] == (t <= (43 if chunks == 12 else 47))
        if layout.pairs_possible[t]:
            assert int((pair + 1).sum() - (pair + 1).max()) >= t + 1
            assert pair.min() >= -1 and pair.max() <= 3


def test_the_pair_plan_is_taken_where_it_reads_less() -> None:
    # At 1M and 10M hashes, threshold 31: a third to a half of the memory reads (the rows
    # found through one chunk only, nearly all, are counted in cache rather than read).
    for chunks, rows in [(16, 1_000_000), (12, 10_000_000)]:
        layout = index_module._layout(chunks)
        assert layout.pairs(rows)[31]
        single, pairs = layout.costs(rows)[31], layout.costs(rows, pairs=True)[31]
        assert pairs < 0.6 * single
    # A handful of rows: the single plan's few probes cost less than counting.
    assert not index_module._layout(16).pairs(1000)[31]


def test_layout_grows_coarser_with_the_bank() -> None:
    # 16 chunks of 16 bits up to about 2M hashes; coarser chunks (fewer candidates per query)
    # for bigger banks, within 16 bytes of offsets per hash.
    assert index_module._choose_chunks(0) == 16
    assert index_module._choose_chunks(1_000_000) == 16
    assert index_module._choose_chunks(10_000_000) == 12
    for rows in [3_000_000, 5_000_000, 20_000_000]:
        chosen = index_module._layout(index_module._choose_chunks(rows))
        assert chosen.offsets_size * 4 <= max(16 * rows, 16 * 65537 * 4)


@pytest.mark.parametrize("chunks", [16, 12])
def test_merged_copy_leaves_the_original_searchable(data: Data, chunks: int) -> None:
    # The matcher builds the merged index while searches of the old one go on, then swaps.
    index = PdqIndex(delta_limit=50, chunks=chunks).build(data.hashes[:5000], data.ids[:5000])
    index.add(data.hashes[5000:5200], data.ids[5000:5200], merge=False)
    assert index._dcount == 200 and index.wants_merge
    assert index.remove(data.ids[:2000], merge=False) == 2000
    assert index._dead == 2000  # over a quarter removed, yet not compacted
    live = np.zeros(len(data.hashes), dtype=bool)
    live[2000:5200] = True
    merged = index.merged()
    assert not merged.wants_merge and merged._dcount == 0 and merged._dead == 0
    for either in (index, merged):  # the original is untouched and still answers
        assert len(either) == 3200
        assert_exact(either, data.hashes[live], data.ids[live], data.queries[:8], [8, 31])
    assert not PdqIndex().wants_merge
