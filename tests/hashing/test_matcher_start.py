"""How the matcher starts, on SQLite and PostgreSQL: a saved index is loaded (never rewritten by
a start), a missing or damaged one is rebuilt by streaming the rows, processes sharing the
folder build once and save cooperatively, and a catch-up applies any mix of changes in batches.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tarcza.hashing import bank_service
from tarcza.hashing import matcher as matcher_module
from tarcza.hashing.banks import Entry, SignalType
from tarcza.hashing.index import hex_to_hashes
from tarcza.hashing.matcher import Matcher, SignalQuery, decode_pdq
from tarcza.hashing.snapshots import (
    CURRENT,
    FORMAT,
    Snapshot,
    building,
    current_name,
    load_snapshot,
    save_snapshot,
)
from tarcza.store.engine import Database
from tests.hashing.test_matcher import ACTOR, NOW, bank, pdq_query


def add(db: Database, name: str, *values: str) -> None:
    with db.transaction() as session:
        entries = [Entry(SignalType.PDQ, v) for v in values]
        bank_service.add_signals(session, name, entries, actor=ACTOR, now=NOW)


def remove(db: Database, name: str, value: str) -> None:
    with db.transaction() as session:
        bank_service.remove_signal(session, name, SignalType.PDQ, value, actor=ACTOR, now=NOW)


def snapshots_in(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.is_dir() and p.name.startswith("pdq-")}


def found(matcher: Matcher, *values: str) -> list[bool]:
    return [bool(r.matches) for r in matcher.match([pdq_query(v) for v in values])]


def no_build(matcher: Matcher, monkeypatch: pytest.MonkeyPatch) -> Matcher:
    monkeypatch.setattr(matcher, "_build", lambda: pytest.fail("rebuilt from the database"))
    return matcher


def test_a_start_that_loaded_the_snapshot_writes_none(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = secrets.token_hex(32), secrets.token_hex(32)
    bank(db, "known", Entry(SignalType.PDQ, first))
    built = Matcher(db, tmp_path / "index")
    built.start()
    assert built.source == "built"
    saved = snapshots_in(tmp_path / "index")
    assert len(saved) == 1
    add(db, "known", second)  # one change behind: caught up in memory, not saved again
    for _ in range(3):  # e.g. three workers, or three restarts
        later = no_build(Matcher(db, tmp_path / "index"), monkeypatch)
        later.start()
        assert later.source == "loaded" and later.pdq_count == 2
        assert found(later, first, second) == [True, True]
    assert snapshots_in(tmp_path / "index") == saved


def test_a_snapshot_far_enough_behind_is_saved_once_by_one_process(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank(db, "known", Entry(SignalType.PDQ, secrets.token_hex(32)))
    Matcher(db, tmp_path / "index").start()
    add(db, "known", *(secrets.token_hex(32) for _ in range(3)))
    one = no_build(Matcher(db, tmp_path / "index", save_every=3), monkeypatch)
    two = no_build(Matcher(db, tmp_path / "index", save_every=3), monkeypatch)
    one.start()  # three changes behind: this one saves
    name = current_name(tmp_path / "index")
    assert name is not None and name.startswith(f"pdq-{one.applied_seq:012d}-")
    two.start()  # the folder's snapshot is now current: no second copy
    assert current_name(tmp_path / "index") == name
    assert len(snapshots_in(tmp_path / "index")) == 2 and two.pdq_count == one.pdq_count == 4


def test_an_explicit_save_writes_even_when_nothing_is_due(db: Database, tmp_path: Path) -> None:
    bank(db, "known", Entry(SignalType.PDQ, secrets.token_hex(32)))
    matcher = Matcher(db, tmp_path / "index")
    matcher.start()
    before = current_name(tmp_path / "index")
    matcher.save()
    assert current_name(tmp_path / "index") not in (None, before)


def test_a_process_waiting_for_another_to_build_loads_what_it_saved(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = secrets.token_hex(32)
    bank(db, "known", Entry(SignalType.PDQ, stored))
    folder = tmp_path / "index"
    waiting = threading.Event()
    real_building = building

    @contextmanager
    def observed(path: Path) -> Iterator[None]:
        waiting.set()
        with real_building(path):
            yield

    monkeypatch.setattr(matcher_module, "building", observed)
    second = no_build(Matcher(db, folder), monkeypatch)
    failures: list[BaseException] = []

    def start_second() -> None:
        try:
            second.start()
        except BaseException as exc:  # noqa: BLE001 — reported by the test below
            failures.append(exc)

    with real_building(folder):  # "another process" is building
        thread = threading.Thread(target=start_second)
        thread.start()
        assert waiting.wait(60)
        assert thread.is_alive()  # it waits for the lock
        other = Matcher(db, None)
        other.start()  # builds in memory; saved as the other process would
        save_snapshot(folder, Snapshot(other._pdq, other._present, other.applied_seq))
    thread.join(60)
    assert not failures, failures
    assert second.source == "loaded" and found(second, stored) == [True]


@pytest.mark.parametrize(
    "damage",
    ["meta", "ids unsorted", "ids missing", "banks missing", "banks short", "index header"],
)
def test_a_damaged_snapshot_is_rebuilt_from_the_database_and_saved_again(
    db: Database, tmp_path: Path, damage: str
) -> None:
    values = [secrets.token_hex(32) for _ in range(3)]
    bank(db, "known", *(Entry(SignalType.PDQ, v) for v in values))
    Matcher(db, tmp_path / "index").start()
    folder = tmp_path / "index" / (tmp_path / "index" / CURRENT).read_text().strip()
    if damage == "meta":
        (folder / "meta.json").write_text("{broken")
    elif damage == "ids unsorted":
        ids = np.load(folder / "ids.npy")
        np.save(folder / "ids.npy", ids[::-1].copy())
    elif damage == "ids missing":
        (folder / "ids.npy").unlink()
    elif damage == "banks missing":
        (folder / "banks.npy").unlink()
    elif damage == "banks short":
        np.save(folder / "banks.npy", np.load(folder / "banks.npy")[:-1].copy())
    else:
        (folder / "index" / "pdq_index.json").write_text("[]")
    assert load_snapshot(tmp_path / "index") is None
    again = Matcher(db, tmp_path / "index")
    again.start()
    assert again.source == "built" and found(again, *values) == [True] * 3
    reloaded = load_snapshot(tmp_path / "index")
    assert reloaded is not None and len(reloaded.ids) == 3


def test_a_snapshot_keeps_each_signal_s_bank_memory_mapped_beside_its_id(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, later = (secrets.token_hex(32) for _ in range(3))
    one = bank(db, "one", Entry(SignalType.PDQ, first))
    two = bank(db, "two", Entry(SignalType.PDQ, second))
    built = Matcher(db, tmp_path / "index")
    built.start()
    add(db, "two", later)
    built.catch_up()
    built.save()  # the one change caught up is saved with its bank too
    snapshot = load_snapshot(tmp_path / "index")
    assert snapshot is not None and snapshot.path is not None
    ids, banks = snapshot.ids.to_arrays()
    assert isinstance(banks, np.memmap) and banks.dtype == np.int32
    assert len(ids) == len(banks) == 3 and sorted(banks.tolist()) == sorted([one, two, two])
    meta = json.loads((snapshot.path / "meta.json").read_text())
    assert meta["format"] == FORMAT == 2
    loaded = no_build(Matcher(db, tmp_path / "index"), monkeypatch)
    loaded.start()
    assert loaded.source == "loaded"
    banks_of = {
        value: [m.bank_id for m in result.matches]
        for value, result in zip(
            (first, second, later),
            loaded.match([pdq_query(v) for v in (first, second, later)]),
            strict=True,
        )
    }
    assert banks_of == {first: [one], second: [two], later: [two]}
    assert [loaded._present.tag_of(m) for m in ids.tolist()] == banks.tolist()


def test_a_snapshot_of_the_old_format_is_rebuilt_once_with_the_banks(
    db: Database, tmp_path: Path
) -> None:
    """Format 1 (no banks.npy) counts as no snapshot: rebuilt, then saved in format 2."""
    values = [secrets.token_hex(32) for _ in range(3)]
    known = bank(db, "known", *(Entry(SignalType.PDQ, v) for v in values))
    Matcher(db, tmp_path / "index").start()
    old = tmp_path / "index" / (tmp_path / "index" / CURRENT).read_text().strip()
    (old / "banks.npy").unlink()
    meta = json.loads((old / "meta.json").read_text())
    (old / "meta.json").write_text(json.dumps({**meta, "format": 1}))
    assert load_snapshot(tmp_path / "index") is None
    again = Matcher(db, tmp_path / "index")
    again.start()
    assert again.source == "built" and found(again, *values) == [True] * 3
    assert current_name(tmp_path / "index") != old.name
    reloaded = load_snapshot(tmp_path / "index")
    assert reloaded is not None and reloaded.ids.to_arrays()[1].tolist() == [known] * 3  # type: ignore[union-attr]


def test_the_build_streams_the_rows_in_batches(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = [secrets.token_hex(32) for _ in range(8)]
    bank(db, "known", *(Entry(SignalType.PDQ, v) for v in values))
    remove(db, "known", values[3])
    monkeypatch.setattr(matcher_module, "_BUILD_BATCH", 2)
    decoded: list[int] = []
    real_decode = decode_pdq

    def counting(batch: list[str]) -> np.ndarray:
        decoded.append(len(batch))
        return real_decode(batch)

    monkeypatch.setattr(matcher_module, "decode_pdq", counting)
    matcher = Matcher(db, tmp_path / "index")
    matcher.start()
    assert sorted(decoded) == [1, 2, 2, 2]  # seven live signals, two rows at a time
    assert found(matcher, *values) == [True, True, True, False, True, True, True, True]
    assert matcher.pdq_count == 7


def test_one_catch_up_applies_additions_removals_and_restorations_in_order(
    db: Database, tmp_path: Path
) -> None:
    kept, dropped, restored, brief = (secrets.token_hex(32) for _ in range(4))
    bank(db, "known", Entry(SignalType.PDQ, kept), Entry(SignalType.PDQ, dropped))
    matcher = Matcher(db, tmp_path / "index")
    matcher.start()
    add(db, "known", restored, brief)
    remove(db, "known", dropped)
    remove(db, "known", restored)
    remove(db, "known", brief)
    add(db, "known", restored, dropped)  # both restored under their old ids
    remove(db, "known", dropped)
    assert matcher.catch_up() == 8
    assert found(matcher, kept, dropped, restored, brief) == [True, False, True, False]
    assert matcher.pdq_count == len(matcher._pdq) == 2
    restarted = Matcher(db, tmp_path / "index")  # replays the same log over the snapshot
    assert found(restarted, kept, dropped, restored, brief) == [True, False, True, False]
    assert restarted.pdq_count == len(restarted._pdq) == 2


def test_a_malformed_value_in_the_log_stops_the_catch_up_before_it(
    db: Database, tmp_path: Path
) -> None:
    good = secrets.token_hex(32)
    bank(db, "known")
    matcher = Matcher(db, tmp_path / "index")
    matcher.start()
    seq = matcher.applied_seq
    known = next(iter(matcher._banks))
    rows = [
        (seq + 1, "add", 10_001, "pdq", good, known),
        (seq + 2, "add", 10_002, "pdq", "xyz", known),
    ]
    with pytest.raises(ValueError):
        matcher._apply_changes(rows)
    assert matcher.applied_seq == seq + 1  # the good change applied, the bad one not
    assert 10_001 in matcher._present and 10_002 not in matcher._present
    assert len(matcher._pdq) == 1


@pytest.mark.parametrize(
    "values",
    [
        ["ab" * 32, "AB" * 32, "0" * 64],
        [],
    ],
)
def test_the_batch_decoder_agrees_with_the_index_helper(values: list[str]) -> None:
    assert np.array_equal(decode_pdq(values), hex_to_hashes(values))


@pytest.mark.parametrize(
    "bad",
    ["ab" * 31 + "a b", "ab" * 31, "ab" * 33, "ab" * 31 + "zz", "ab" * 31 + "éé"],
)
def test_the_batch_decoder_refuses_anything_but_64_hex_digits(bad: str) -> None:
    with pytest.raises(ValueError):
        decode_pdq(["cd" * 32, bad, "ef" * 31 + "0" * 2][:3])


def test_a_matcher_without_a_folder_builds_in_memory(db: Database) -> None:
    stored = secrets.token_hex(32)
    bank(db, "known", Entry(SignalType.PDQ, stored))
    matcher = Matcher(db, None)
    assert found(matcher, stored) == [True] and matcher.source == "built"
    matcher.save()  # nothing to save to: no error
    assert matcher.match([[SignalQuery(SignalType.PDQ, secrets.token_hex(32))]])[0].matches == ()


def test_a_build_array_grows_keeping_its_rows() -> None:
    rows = np.arange(12, dtype=np.uint8).reshape(3, 4)
    bigger = matcher_module._grown(rows, 4)
    assert bigger.shape == (4, 4) and np.array_equal(bigger[:3], rows)
    assert matcher_module._grown(np.arange(10), 11).shape == (15,)


def test_a_due_merge_is_built_aside_while_lookups_go_on_then_swapped_in(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = [secrets.token_hex(32) for _ in range(12)]
    bank(db, "known", Entry(SignalType.PDQ, values[0]))
    matcher = Matcher(db, tmp_path / "index")
    matcher.start()
    before = matcher._pdq
    before.delta_limit = 4
    # While the merged copy is being built, a lookup gets the search lock and is answered
    # from the index as it was (the merge does not hold that lock).
    answered_meanwhile: list[bool] = []
    real_merged = before.merged

    def merged_while_looking_up() -> object:
        looker = threading.Thread(
            target=lambda: answered_meanwhile.extend(found(matcher, values[0]))
        )
        looker.start()
        looker.join(timeout=20)
        assert not looker.is_alive(), "a lookup waited for the merge"
        return real_merged()

    monkeypatch.setattr(before, "merged", merged_while_looking_up)
    # As in a web worker, whose background thread keeps the matcher current: lookups do not
    # catch up themselves.
    monkeypatch.setattr(Matcher, "refreshing", property(lambda self: True))
    add(db, "known", *values[1:])
    assert matcher.catch_up() == 11
    assert answered_meanwhile == [True]
    after = matcher._pdq
    assert after is not before and after._dcount == 0 and len(after) == 12
    assert found(matcher, *values) == [True] * 12


def test_nothing_is_answered_from_memory_before_the_start_has_caught_up(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refreshed matcher answers from memory once started: its index loaded, its banks read
    and the changes since the snapshot applied. A lookup in between is told to ask the
    database (None), never "no match" for a banked hash, which it once was (the banks were
    read after the matcher said it had started; found by bench/worker_start.py at 10M)."""
    stored, later = secrets.token_hex(32), secrets.token_hex(32)
    bank(db, "known", Entry(SignalType.PDQ, stored))
    Matcher(db, tmp_path / "index").start()  # the snapshot
    add(db, "known", later)  # one change after it
    matcher = no_build(Matcher(db, tmp_path / "index", staleness=60), monkeypatch)
    asked = [pdq_query(stored), pdq_query(later)]
    during: list[object] = []
    real = matcher_module._enabled_banks

    def observed(session: Any) -> Any:
        during.append(matcher.match_in_memory(asked))
        return real(session)

    monkeypatch.setattr(matcher_module, "_enabled_banks", observed)
    matcher.start_refreshing()
    try:
        deadline = time.monotonic() + 30
        while not matcher.refreshing and time.monotonic() < deadline:
            time.sleep(0.01)
        assert matcher.refreshing and matcher.source == "loaded"
        assert during[:1] == [None]  # while the start read the banks
        answers = matcher.match_in_memory(asked)
        assert answers is not None and [bool(r.matches) for r in answers] == [True, True]
    finally:
        matcher.stop_refreshing()
