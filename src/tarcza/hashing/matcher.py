"""The matcher: finds which bank signals a file or a hash matches.

Exact signals (MD5, SHA-1, SHA-256) are looked up in the database by their indexed key.
PDQ hashes are searched in an in-memory :class:`PdqIndex` of every PDQ signal, built once from
the database, saved under ``var/index/`` and, on the next start, loaded and brought up to date
from the ``signal_changes`` log: the matcher remembers the last change it applied, so adding a
signal never needs a rebuild.

Starting at millions of signals (see ``bench/worker_start.py``): a saved index is memory-mapped
(page cache shared by every process, no copy) with the sorted array of its signal ids and the
array of their banks (an :class:`IdSet` tagged with bank ids, 8 bytes a signal, not a Python
set), then caught up from the log in batches; a start that loaded a snapshot writes none (only
``save_every`` changes later, and then only when no other process saved a recent enough one).
Without a usable snapshot one process builds it, streaming the rows from the database in
batches into numpy arrays, saves it and serves from the saved files; the other processes
sharing the folder wait for it and load what it saved.

vPDQ signals (videos) match by the vPDQ algorithm (:mod:`tarcza.hashing.vpdq`): a second
:class:`PdqIndex` holds the usable frames (deduplicated, quality >= 50) of every vPDQ signal
under the signal's id, built from the database at start and kept up to date from the same log.
Each usable frame of a query video is looked up within distance 31; the signals some frame hit
are the candidates, and for each the two match percentages are computed against its stored
frames; it matches when both reach its bank's vPDQ thresholds. The cost grows with the number
of frames hit, not with the size of the banks. A query video with no usable frame can still
match a bank signal of exactly the same frames.

Every answer of :meth:`Matcher.match` is checked against the database (the signal is still in
the bank, the bank is enabled, the distance is within the bank's own threshold), so a stale
index can miss a very new signal for an instant but never answers with a removed one. A match
in an enabled allow-list bank suppresses every block match of the same item (a file, or one
looked-up signal).

The partner lookups of ``/m/`` ask :meth:`Matcher.match_in_memory` first, which answers PDQ
lookups from memory alone, hits included, on any signal the index holds: the index gives the
signal's id, the distance and the stored hash (the signal's canonical value), the ids' tags its
bank, and the enabled banks (re-read at each refresh) the bank's name, kind and threshold. A
hit is live when the index holds the signal and the enabled banks hold its bank, and within
that bank's threshold as read then. Those lookups therefore answer a removed signal, a disabled
bank or an old threshold no later than the staleness bound below (not never), and touch no
database. What only the database knows is not made up: such a match's ``label`` is None (the
``/m/`` answers show no label); :meth:`Matcher.match` (``/api/v1/match``, evidence) reads it.

Staleness, bounded: a matcher built with ``staleness`` > 0 and :meth:`Matcher.start_refreshing`
catches up from a background thread every ``staleness / 2`` seconds and never inside a lookup;
the enabled banks (names, thresholds) are re-read at the same time. A signal added, or a bank
enabled, is therefore answered within ``staleness`` seconds (one refresh period plus the
catch-up's own round trip); a removed signal or a disabled bank is never answered by
:meth:`Matcher.match` (the check above reads the database), and by
:meth:`Matcher.match_in_memory` not after ``staleness`` seconds. A PDQ lookup that finds no
candidate touches no database at all.
Without the thread (``staleness`` 0, the CLI, tests) every match catches up first, as before;
evidence files (``match_files``, on arrival) always do: the bound is the lookups' only.
The search lock is held only while the in-memory index is searched or changed, never across
a database round trip.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Final, NamedTuple

import numpy as np
from sqlalchemy import ColumnElement, Select, and_, bindparam, func, select
from sqlalchemy.orm import Session

from tarcza.hashing import banks, vpdq
from tarcza.hashing.banks import BankKind, SignalType
from tarcza.hashing.idset import IdSet
from tarcza.hashing.index import HASH_BYTES, PdqIndex, hex_to_bytes, hex_to_hashes
from tarcza.hashing.models import Bank, BankSignal, EvidenceMatch, SignalChange
from tarcza.hashing.pdq import MIN_USEFUL_QUALITY
from tarcza.hashing.service import FileHashes
from tarcza.hashing.snapshots import (
    Snapshot,
    building,
    current_name,
    current_seq,
    load_snapshot,
    load_snapshot_at,
    save_snapshot,
    saving,
)
from tarcza.hashing.videos import VideoHashes
from tarcza.jobs.periodic import Periodic
from tarcza.store.engine import Database

log = logging.getLogger("tarcza.matcher")

_CHUNK = 500
_CATCH_UP_BATCH = 10_000
# Rows read from the database at a time when building the PDQ index (at 1M hashes, batches of
# 10,000 left 4 MB of heap behind after the build, batches of 50,000 13 MB).
_BUILD_BATCH = 10_000


@dataclass(frozen=True)
class SignalQuery:
    """One signal to look up, in canonical form (see banks.normalise_signal)."""

    signal_type: SignalType
    value: str


@dataclass(frozen=True)
class Match:
    """A bank signal that a query matched, with where it comes from."""

    signal_id: int
    signal_type: SignalType
    signal: str
    bank_id: int
    bank: str
    kind: BankKind
    label: str | None
    source: str
    distance: int
    # vPDQ only: the shares (%) of the query's frames and of the bank video's frames that
    # matched; ``distance`` is then the share of the query's frames that did not, rounded up.
    query_match_pct: float | None = None
    compared_match_pct: float | None = None


@dataclass(frozen=True)
class ItemResult:
    """The block matches of one item; ``suppressed`` when an allow-list bank matched it, and
    ``withheld`` how many block matches in the asker's scope that suppression took away."""

    matches: tuple[Match, ...] = ()
    suppressed: bool = False
    withheld: int = 0


class _Signal(NamedTuple):
    """What an answer says of a bank signal (all but the label never change)."""

    id: int
    bank_id: int
    signal_type: str
    value: str
    label: str | None


@dataclass(frozen=True)
class _BankRow:
    id: int
    name: str
    kind: BankKind
    source: str
    threshold: int
    vpdq_query_pct: float = vpdq.DEFAULT_QUERY_MATCH_PCT
    vpdq_compared_pct: float = vpdq.DEFAULT_COMPARED_MATCH_PCT


def video_queries(hashes: VideoHashes) -> list[SignalQuery]:
    """The signals of an evidence video worth looking up: its digests and its vPDQ."""
    return [
        SignalQuery(SignalType.MD5, hashes.md5),
        SignalQuery(SignalType.SHA256, hashes.sha256),
        SignalQuery(SignalType.VPDQ, hashes.vpdq),
    ]


def file_queries(hashes: FileHashes) -> list[SignalQuery]:
    """The signals of an evidence file worth looking up (PDQ only when of useful quality)."""
    queries = [
        SignalQuery(SignalType.MD5, hashes.md5),
        SignalQuery(SignalType.SHA256, hashes.sha256),
    ]
    if hashes.pdq is not None and (hashes.pdq_quality or 0) >= MIN_USEFUL_QUALITY:
        queries.append(SignalQuery(SignalType.PDQ, hashes.pdq))
    if hashes.vpdq is not None:
        queries.append(SignalQuery(SignalType.VPDQ, hashes.vpdq))
    return queries


def evidence_match_rows(
    evidence_ids: Sequence[int], results: Sequence[ItemResult], now: datetime
) -> list[EvidenceMatch]:
    """The evidence_matches rows recording each file's block matches."""
    return [
        EvidenceMatch(
            evidence_id=evidence_id,
            bank_id=match.bank_id,
            signal_id=match.signal_id,
            signal_type=match.signal_type.value,
            distance=match.distance,
            created_at=now,
        )
        for evidence_id, result in zip(evidence_ids, results, strict=True)
        for match in result.matches
    ]


def match_or_nothing(matcher: Matcher | None, files: Sequence[FileHashes]) -> list[ItemResult]:
    """Each file's matches, or none when there is no matcher or it fails: a report is never
    lost because matching failed (the failure is logged)."""
    if matcher is None or not files:
        return [ItemResult() for _ in files]
    try:
        return matcher.match_files(files)
    except Exception:
        log.exception("matching evidence failed; the report is taken without matches")
        return [ItemResult() for _ in files]


class Matcher:
    """Matches signals against every enabled bank; one per process, safe across threads."""

    def __init__(
        self,
        db: Database,
        index_dir: Path | None = None,
        *,
        save_every: int = 10_000,
        staleness: float = 0.0,
    ) -> None:
        self._db = db
        self._dir = index_dir
        self._save_every = save_every
        self.staleness = staleness
        # _lock guards the in-memory indexes (held to search or change them, never across
        # I/O); _update serialises whatever reads the database to change them.
        self._lock = threading.RLock()
        self._update = threading.RLock()
        self._banks: dict[int, _BankRow] = {}
        self._refresher: Periodic | None = None
        self.caught_up_at = 0.0
        # Made at start (an empty PdqIndex already costs numba's start-up: a CLI command that
        # never matches should not pay it); read through _pdq and _frames.
        self._index: PdqIndex | None = None
        # The signal ids the PDQ index holds, each tagged with its bank (a signal never
        # changes bank): match_in_memory answers a hit from them.
        self._present = IdSet(tagged=True)
        self._videos: PdqIndex | None = None
        self._video_ids: set[int] = set()
        self._seq = 0
        self._unsaved = 0
        self._started = False
        # How the PDQ index came to be at start: "loaded" (a snapshot), "built" (the database).
        self.source = ""

    # -- keeping the index ----------------------------------------------------------------

    @property
    def _pdq(self) -> PdqIndex:
        if self._index is None:
            self._index = PdqIndex()
        return self._index

    @property
    def _frames(self) -> PdqIndex:
        if self._videos is None:
            self._videos = PdqIndex()
        return self._videos

    @property
    def applied_seq(self) -> int:
        """The last signal change the PDQ index reflects."""
        return self._seq

    @property
    def pdq_count(self) -> int:
        """How many PDQ signals the index holds."""
        return len(self._present)

    @property
    def vpdq_count(self) -> int:
        """How many vPDQ signals the frame index holds."""
        return len(self._video_ids)

    def start(self) -> None:
        """Load the saved index (or build it from the database), then catch up.

        Only then is the matcher started (``refreshing``, so that ``match_in_memory``
        answers): a lookup answered from memory in between would have found no bank at all, or
        missed what changed since the snapshot, and said "no match" for a banked hash. Until
        then lookups are answered as without a refresher: ``match`` waits for the start.
        A start that loaded a snapshot writes none: only a built index is saved at once."""
        with self._update:
            if self._started:
                return
            started = time.monotonic()
            self._load_or_build()
            # The vPDQ frame index is not saved: built at or after the PDQ index's change, it is
            # brought to the same point by replaying the log (applying a change is idempotent).
            self._build_videos()
            caught_up = self._catch_up()
            self._started = True
            log.info(
                "the matcher started in %.2f s: PDQ index %s, %d hashes; %d changes caught up "
                "to change %d",
                time.monotonic() - started,
                self.source,
                len(self._present),
                caught_up,
                self._seq,
            )

    def _load_or_build(self) -> None:
        if self._dir is None:
            self._build()
            return
        seen = current_name(self._dir)
        if self._load():
            return
        # One process builds; the others sharing the folder wait here, then load its snapshot.
        with building(self._dir):
            if current_name(self._dir) != seen and self._load():
                return
            self._build()
            self._save_built()

    def _load(self) -> bool:
        """Adopt the current snapshot; False when there is none or it cannot be used."""
        assert self._dir is not None
        started = time.monotonic()
        snapshot = load_snapshot(self._dir)
        if snapshot is None:
            return False
        with self._db.reading() as session:
            head = _head_seq(session)
        if snapshot.seq > head:  # e.g. the database was restored from an older backup
            log.warning(
                "the saved PDQ index %s reflects change %d, the database only %d: rebuilding it",
                snapshot.path,
                snapshot.seq,
                head,
            )
            return False
        self._index, self._present, self._seq = snapshot.index, snapshot.ids, snapshot.seq
        self._unsaved = 0
        self.source = "loaded"
        log.info(
            "loaded the PDQ index from %s: %d hashes up to change %d (%d behind) in %.2f s",
            snapshot.path,
            len(snapshot.ids),
            snapshot.seq,
            head - snapshot.seq,
            time.monotonic() - started,
        )
        return True

    def _build(self) -> None:
        started = time.monotonic()
        table = BankSignal.__table__
        live = and_(table.c.signal_type == SignalType.PDQ.value, table.c.removed_at.is_(None))
        with self._db.reading() as session:
            # The head is read before the signals: changes in between are replayed, harmlessly.
            seq = _head_seq(session)
            # Filled in place (no list of parts to join: half the peak, and no heap left in
            # pieces); the count may be off by what changes meanwhile: grown or cut below.
            expected = int(session.scalar(select(func.count()).select_from(table).where(live)) or 0)
            ids = np.empty(expected, dtype=np.int64)
            bank_ids = np.empty(expected, dtype=np.int32)
            hashes = np.empty((expected, HASH_BYTES), dtype=np.uint8)
            count = 0
            # Streamed (a server-side cursor on PostgreSQL), a batch of rows at a time, through
            # Core: ORM rows would cost twice the CPU.
            result = (
                session.connection()
                .execution_options(yield_per=_BUILD_BATCH)
                .execute(select(table.c.id, table.c.bank_id, table.c.value).where(live))
            )
            for part in result.partitions():
                end = count + len(part)
                if end > len(ids):
                    ids, bank_ids = _grown(ids, end), _grown(bank_ids, end)
                    hashes = _grown(hashes, end)
                ids[count:end] = np.fromiter((r[0] for r in part), np.int64, count=len(part))
                bank_ids[count:end] = np.fromiter((r[1] for r in part), np.int32, len(part))
                hashes[count:end] = decode_pdq([r[2] for r in part])
                count = end
        ids, bank_ids, hashes = ids[:count], bank_ids[:count], hashes[:count]
        present = IdSet(ids, bank_ids)
        index = PdqIndex.build(hashes, ids)
        del hashes, ids, bank_ids
        self._index, self._present, self._seq = index, present, seq
        self._unsaved = count
        self.source = "built"
        log.info(
            "built the PDQ index from the database: %d hashes up to change %d in %.2f s",
            count,
            seq,
            time.monotonic() - started,
        )

    def _save_built(self) -> None:
        """Save the index just built and serve from the saved files, memory-mapped: the heap
        the build took goes back to the system and the processes share one page cache."""
        path = self._write(only_if_behind=False)
        if path is None:
            return
        saved = load_snapshot_at(path)
        if saved is not None and saved.seq == self._seq and len(saved.ids) == len(self._present):
            self._index, self._present = saved.index, saved.ids

    def _build_videos(self) -> None:
        with self._db.reading() as session:
            rows = session.execute(
                select(BankSignal.id, BankSignal.value).where(
                    BankSignal.signal_type == SignalType.VPDQ.value,
                    BankSignal.removed_at.is_(None),
                )
            ).all()
        hashes: list[str] = []
        ids: list[int] = []
        present: set[int] = set()
        for signal_id, value in rows:
            frames = _usable_frames(value)
            hashes.extend(frames)
            ids.extend([signal_id] * len(frames))
            present.add(signal_id)
        # No frames: left to be made on first use (an empty index still costs numba's kernels
        # and layouts, 0.05 s of every start of a deployment without videos).
        self._videos = (
            PdqIndex.build(hex_to_hashes(hashes), np.array(ids, dtype=np.int64)) if hashes else None
        )
        self._video_ids = present
        log.info("built the vPDQ frame index: %d signals, %d frames", len(present), len(ids))

    def catch_up(self) -> int:
        """Apply the changes logged since the last one applied, and re-read the enabled
        banks; returns how many changes."""
        with self._update:
            if not self._started:
                self.start()
                return 0
            return self._catch_up()

    def _catch_up(self) -> int:
        """:meth:`catch_up`'s work; the caller holds ``_update``."""
        applied = 0
        while True:
            with self._db.reading() as session:
                if applied == 0:
                    self._banks = _enabled_banks(session)
                rows = _changes_after(session, self._seq)
            with self._lock:
                self._apply_changes(rows)
            self._merge_if_due()
            applied += len(rows)
            if len(rows) < _CATCH_UP_BATCH:
                break
        self.caught_up_at = time.monotonic()
        self._unsaved += applied
        if self._unsaved >= self._save_every:
            self._write(only_if_behind=True)
        return applied

    def start_refreshing(self) -> None:
        """Start (once) the background thread that starts the matcher and then catches up
        every ``staleness / 2`` seconds; lookups then never catch up themselves."""
        if self.staleness > 0 and self._refresher is None:
            self._refresher = Periodic(
                self.catch_up, self.staleness / 2, "tarcza-matcher-refresh", at_once=True
            )
            self._refresher.start()

    def stop_refreshing(self) -> None:
        """Stop the background thread (if any) and wait for it."""
        refresher, self._refresher = self._refresher, None
        if refresher is not None:
            refresher.stop()

    @property
    def refreshing(self) -> bool:
        """True when a background thread keeps the matcher up to date."""
        return self._refresher is not None and self._refresher.running and self._started

    def _apply_changes(self, rows: Sequence[tuple[int, str, int, str, str, int]]) -> None:
        """Apply logged changes in order, the PDQ ones to the index in batches (one pass over
        the index's ids removes any number of signals). Idempotent, so that replaying changes
        a snapshot already holds does no harm."""
        adds: dict[int, np.ndarray] = {}
        removes: set[int] = set()

        def flush() -> None:
            if removes:
                self._pdq.remove(
                    np.fromiter(removes, dtype=np.int64, count=len(removes)), merge=False
                )
                removes.clear()
            if adds:
                ids = np.fromiter(adds, dtype=np.int64, count=len(adds))
                self._pdq.add(np.stack(list(adds.values())), ids, merge=False)
                adds.clear()

        try:
            for seq, op, signal_id, signal_type, value, bank_id in rows:
                if signal_type == SignalType.PDQ.value:
                    if op == "add" and signal_id not in self._present:
                        decoded = hex_to_bytes(value)  # a malformed value stops here, unapplied
                        if signal_id in removes:  # removed and restored in this batch
                            flush()
                        adds[signal_id] = decoded
                        self._present.add(signal_id, bank_id)
                    elif op == "remove" and signal_id in self._present:
                        if adds.pop(signal_id, None) is None:
                            removes.add(signal_id)
                        self._present.discard(signal_id)
                elif signal_type == SignalType.VPDQ.value:
                    self._apply_video(op, signal_id, value)
                self._seq = seq
        finally:  # what was applied to the ids is applied to the index, whatever happened
            flush()

    def _merge_if_due(self) -> None:
        """Merge the PDQ index's delta segment and tombstones once they are due, into a copy
        built while lookups go on searching the current index (only the update lock is held:
        nothing changes the index meanwhile), then swapped in under the search lock. At 10M
        hashes a merge takes seconds; made in place, it would hold every lookup up."""
        index = self._index
        if index is None or not index.wants_merge:
            return
        started = time.monotonic()
        merged = index.merged()
        with self._lock:
            self._index = merged
        log.info(
            "merged the PDQ index: %d hashes in %.1f s", len(merged), time.monotonic() - started
        )

    def _apply_video(self, op: str, signal_id: int, value: str) -> None:
        if op == "add" and signal_id not in self._video_ids:
            frames = _usable_frames(value)
            if frames:
                ids = np.full(len(frames), signal_id, dtype=np.int64)
                self._frames.add(hex_to_hashes(frames), ids)
            self._video_ids.add(signal_id)
        elif op == "remove" and signal_id in self._video_ids:
            self._frames.remove(np.array([signal_id], dtype=np.int64))
            self._video_ids.discard(signal_id)

    def save(self) -> None:
        """Write the index and the last applied change under the index folder (if any),
        unless another process is writing a snapshot right now.

        Holds the update lock (nothing changes the index meanwhile), not the search lock:
        lookups go on while the snapshot is written."""
        with self._update:
            self._write(only_if_behind=False)

    def _write(self, *, only_if_behind: bool) -> Path | None:
        """Save a snapshot; with ``only_if_behind``, only when the folder's current snapshot
        (perhaps another process's) is ``save_every`` changes or more behind this index."""
        with self._update:
            if self._dir is None or self._index is None:  # nothing loaded or built yet
                return None
            with saving(self._dir) as held:
                if not held:
                    log.info("another process is saving the PDQ index: this one does not")
                    return None
                saved = current_seq(self._dir) if only_if_behind else None
                if saved is not None and self._seq - saved < self._save_every:
                    self._unsaved = max(self._seq - saved, 0)  # what a loader would replay
                    return None
                started = time.monotonic()
                try:
                    path = save_snapshot(self._dir, Snapshot(self._pdq, self._present, self._seq))
                except OSError:
                    log.exception("could not save the PDQ index under %s", self._dir)
                    return None
            self._unsaved = 0
            log.info(
                "saved the PDQ index to %s: %d hashes up to change %d in %.2f s",
                path,
                len(self._present),
                self._seq,
                time.monotonic() - started,
            )
            return path

    # -- matching -------------------------------------------------------------------------

    def match(
        self,
        items: Sequence[Sequence[SignalQuery]],
        *,
        scope: frozenset[int] | None = None,
        fresh: bool = False,
    ) -> list[ItemResult]:
        """The block matches of each item, in order, every hit checked against the database.

        ``scope``: the bank ids whose block matches may be answered (None: every bank).
        Enabled allow-list banks suppress matches whatever the scope. ``fresh``: catch up
        first even when a background thread keeps the matcher current (evidence on arrival:
        no staleness there, whatever the lookups' bound).
        """
        if fresh or not self.refreshing:
            self.catch_up()
        live = self._banks
        if not live:
            return [ItemResult() for _ in items]
        hits = self._search_pdq(items, live)
        if not hits and all(q.signal_type is SignalType.PDQ for item in items for q in item):
            return [ItemResult() for _ in items]  # no candidate: no database round trip
        with self._db.reading() as session:
            found: dict[int, list[Match]] = defaultdict(list)
            for item, match in self._exact(session, items, live):
                found[item].append(match)
            for item, match in self._similar(session, hits, live):
                found[item].append(match)
            for item, match in self._similar_videos(session, items, live):
                found[item].append(match)
        return [_decide(found.get(i, []), scope) for i in range(len(items))]

    def match_in_memory(
        self, items: Sequence[Sequence[SignalQuery]], *, scope: frozenset[int] | None = None
    ) -> list[ItemResult] | None:
        """:meth:`match`'s answer from memory alone, within the staleness bound, or None when
        the database must be asked (then call :meth:`match`, from a worker thread).

        Only a refreshed matcher answers, and only PDQ items: a candidate is live when the
        index holds it and its bank (kept with its id) when the enabled banks hold it, both as
        of the last refresh, and the distance is checked against the bank's threshold read
        then. A removed signal or a disabled bank is therefore answered no later than the
        staleness bound. A match's ``signal`` is the hash the index holds (the signal's
        canonical value); its ``label`` is None, not read (the ``/m/`` answers show none).
        """
        if not self.refreshing:
            return None
        live = self._banks
        if not live:
            return [ItemResult() for _ in items]
        if any(q.signal_type is not SignalType.PDQ for item in items for q in item):
            return None
        owners = _pdq_owners(items)
        nothing = [ItemResult() for _ in items]
        if not owners:
            return nothing
        threshold = max(bank.threshold for bank in live.values())
        queries = hex_to_hashes(value for _, value in owners)
        with self._lock:
            if len(self._pdq) == 0:
                return nothing
            query_idx, ids, distances, hashes = self._pdq.search_batch_with_hashes(
                queries, threshold
            )
            if len(ids) == 0:
                return nothing
            # Read under the lock: a merge of the ids replaces their array and their banks'.
            bank_ids = [self._present.tag_of(signal_id) for signal_id in ids.tolist()]
        found: dict[int, list[Match]] = defaultdict(list)
        for q, signal_id, distance, bank_id, stored in zip(
            query_idx.tolist(), ids.tolist(), distances.tolist(), bank_ids, hashes, strict=True
        ):
            if bank_id is None:  # not known here (never so once started): ask the database
                return None
            bank = live.get(bank_id)
            if bank is not None and distance <= bank.threshold:
                found[owners[q][0]].append(
                    Match(
                        signal_id=signal_id,
                        signal_type=SignalType.PDQ,
                        signal=stored.tobytes().hex(),
                        bank_id=bank.id,
                        bank=bank.name,
                        kind=bank.kind,
                        label=None,
                        source=bank.source,
                        distance=distance,
                    )
                )
        if not found:
            return nothing
        return [_decide(found.get(i, []), scope) for i in range(len(items))]

    def _search_pdq(
        self, items: Sequence[Sequence[SignalQuery]], live: dict[int, _BankRow]
    ) -> list[tuple[int, int, int]]:
        """(item, signal id, distance) of every PDQ candidate within the largest threshold of
        the enabled banks, in item order."""
        owners = _pdq_owners(items)
        if not owners:
            return []
        threshold = max(bank.threshold for bank in live.values())
        hashes = hex_to_hashes(value for _, value in owners)
        with self._lock:
            if len(self._pdq) == 0:
                return []
            query_idx, ids, distances = self._pdq.search_batch(hashes, threshold)
        if len(ids) == 0:
            return []
        return [
            (owners[q][0], signal_id, distance)
            for q, signal_id, distance in zip(
                query_idx.tolist(), ids.tolist(), distances.tolist(), strict=True
            )
        ]

    def match_files(self, files: Sequence[FileHashes]) -> list[ItemResult]:
        """Match each evidence file by its MD5, SHA-256 and (useful) PDQ, against the bank as
        it is now (evidence is matched on arrival without the lookups' staleness)."""
        return self.match([file_queries(hashes) for hashes in files], fresh=True)

    def _exact(
        self, session: Session, items: Sequence[Sequence[SignalQuery]], live: dict[int, _BankRow]
    ) -> list[tuple[int, Match]]:
        wanted: dict[tuple[str, str], list[int]] = defaultdict(list)
        for number, item in enumerate(items):
            for query in item:
                if query.signal_type is SignalType.PDQ:
                    continue
                if query.signal_type is SignalType.VPDQ and _usable_frames(query.value):
                    continue  # matched by the algorithm (_similar_videos)
                wanted[(query.signal_type.value, banks.lookup_key(query.value))].append(number)
        by_type: dict[str, list[str]] = defaultdict(list)
        for signal_type, lookup in wanted:
            by_type[signal_type].append(lookup)
        out: list[tuple[int, Match]] = []
        for signal_type, keys in by_type.items():
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                params = {"signal_type": signal_type, "keys": chunk}
                for row in _live_signal_rows(session, _LIVE_BY_KEY, params, live):
                    for number in wanted[(row.signal_type, banks.lookup_key(row.value))]:
                        out.append((number, _match(row, live[row.bank_id], 0)))
        return out

    def _similar(
        self, session: Session, hits: list[tuple[int, int, int]], live: dict[int, _BankRow]
    ) -> list[tuple[int, Match]]:
        """The PDQ ``hits`` (see :meth:`_search_pdq`) still live in the database."""
        if not hits:
            return []
        by_signal: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for number, signal_id, distance in hits:
            by_signal[signal_id].append((number, distance))
        out: list[tuple[int, Match]] = []
        candidates = list(by_signal)
        rows: list[_Signal] = []
        for start in range(0, len(candidates), _CHUNK):
            params = {"ids": candidates[start : start + _CHUNK]}
            rows.extend(_live_signal_rows(session, _LIVE_BY_ID, params, live))
        for row in rows:
            bank = live[row.bank_id]
            for number, distance in by_signal[row.id]:
                if distance <= bank.threshold:
                    out.append((number, _match(row, bank, distance)))
        return out

    def _similar_videos(
        self, session: Session, items: Sequence[Sequence[SignalQuery]], live: dict[int, _BankRow]
    ) -> list[tuple[int, Match]]:
        owners: list[tuple[int, list[str]]] = []
        for number, item in enumerate(items):
            for query in item:
                if query.signal_type is SignalType.VPDQ:
                    frames = _usable_frames(query.value)
                    if frames:
                        owners.append((number, frames))
        if not owners:
            return []
        owner_of = np.concatenate(
            [np.full(len(frames), k, dtype=np.int64) for k, (_, frames) in enumerate(owners)]
        )
        with self._lock:
            if len(self._frames) == 0:
                return []
            query_idx, ids, _ = self._frames.search_batch(
                hex_to_hashes(h for _, frames in owners for h in frames),
                vpdq.DEFAULT_DISTANCE_THRESHOLD,
            )
        # Which query frames hit each (query video, signal): an upper bound of its share.
        frames_hit: dict[tuple[int, int], set[int]] = defaultdict(set)
        for q, signal_id in zip(query_idx.tolist(), ids.tolist(), strict=True):
            frames_hit[(int(owner_of[q]), int(signal_id))].add(int(q))
        lowest = min(bank.vpdq_query_pct for bank in live.values())
        wanted: dict[int, list[int]] = defaultdict(list)
        for (k, signal_id), hit in frames_hit.items():
            if len(hit) * 100 / len(owners[k][1]) >= lowest:
                wanted[signal_id].append(k)
        out: list[tuple[int, Match]] = []
        candidates = list(wanted)
        for start in range(0, len(candidates), _CHUNK):
            params = {"ids": candidates[start : start + _CHUNK]}
            for row in _live_signal_rows(session, _LIVE_BY_ID, params, live):
                bank = live[row.bank_id]
                stored = _usable_frames(row.value)
                for k in wanted[row.id]:
                    number, frames = owners[k]
                    score = vpdq.score_hashes(frames, stored, vpdq.DEFAULT_DISTANCE_THRESHOLD)
                    if score.reaches(bank.vpdq_query_pct, bank.vpdq_compared_pct):
                        out.append((number, _video_match(row, bank, score)))
        return out


def _pdq_owners(items: Sequence[Sequence[SignalQuery]]) -> list[tuple[int, str]]:
    """(item, hash) of every PDQ query of ``items``, in item order."""
    return [
        (number, query.value)
        for number, item in enumerate(items)
        for query in item
        if query.signal_type is SignalType.PDQ
    ]


def _grown(array: np.ndarray, rows: int) -> np.ndarray:
    """``array`` copied into a larger one of at least ``rows`` rows (1.5 x, to amortise)."""
    bigger = np.empty((max(rows, len(array) * 3 // 2), *array.shape[1:]), dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger


def decode_pdq(values: Sequence[str]) -> np.ndarray:
    """PDQ hashes in hex as uint8[N, 32], decoded in one call (at about 1 us a hash);
    ValueError naming the problem when any is not 64 hex digits."""
    count = len(values)
    if count and max(map(len, values)) == 64 and sum(map(len, values)) == 64 * count:
        try:
            raw = bytes.fromhex("".join(values))
        except (TypeError, ValueError):
            raw = b""
        if len(raw) == count * HASH_BYTES:  # fromhex skips white space: a short answer
            return np.frombuffer(raw, dtype=np.uint8).reshape(count, HASH_BYTES)
    return hex_to_hashes(values)  # checks each value: raises for the malformed one


def _usable_frames(value: str) -> list[str]:
    """The frames of a canonical vPDQ signal that take part in matching (see hashing.vpdq)."""
    try:
        return vpdq.usable_hashes(vpdq.parse_signal(value))
    except vpdq.InvalidVpdq:
        return []


def _video_match(row: _Signal, bank: _BankRow, score: vpdq.VpdqScore) -> Match:
    return replace(
        _match(row, bank, math.ceil(100 - score.query_match_pct)),
        query_match_pct=round(score.query_match_pct, 2),
        compared_match_pct=round(score.compared_match_pct, 2),
    )


def _decide(found: list[Match], scope: frozenset[int] | None) -> ItemResult:
    visible = [m for m in found if scope is None or m.bank_id in scope]
    if any(match.kind is BankKind.ALLOW for match in found):
        withheld = sum(1 for m in visible if m.kind is BankKind.BLOCK)
        return ItemResult(suppressed=True, withheld=withheld)
    visible.sort(key=lambda m: (m.distance, m.bank, m.signal_id))
    return ItemResult(matches=tuple(visible))


def _match(row: _Signal, bank: _BankRow, distance: int) -> Match:
    return Match(
        signal_id=row.id,
        signal_type=SignalType(row.signal_type),
        signal=row.value,
        bank_id=bank.id,
        bank=bank.name,
        kind=bank.kind,
        label=row.label,
        source=bank.source,
        distance=distance,
    )


def _live_signal_rows(
    session: Session,
    statement: Select[int, int, str, str, str | None],
    params: Mapping[str, object],
    live: dict[int, _BankRow],
) -> list[_Signal]:
    """The rows ``statement`` (``_LIVE_BY_ID`` or ``_LIVE_BY_KEY``) finds with ``params``,
    those of the banks among ``live``."""
    # Its bank among ``live`` is checked here, not in SQL: with ``bank_id IN`` there, SQLite
    # walks the bank's every signal instead of looking the ids up by primary key.
    return [_Signal._make(row) for row in session.execute(statement, params) if row[1] in live]


def _live_signals(condition: ColumnElement[bool]) -> Select[int, int, str, str, str | None]:
    """The live signals meeting ``condition``: not removed, their bank enabled (read here too:
    the matcher's list of banks may be stale)."""
    enabled = select(Bank.id).where(Bank.id == BankSignal.bank_id, Bank.enabled.is_(True))
    return select(
        BankSignal.id,
        BankSignal.bank_id,
        BankSignal.signal_type,
        BankSignal.value,
        BankSignal.label,
    ).where(condition, BankSignal.removed_at.is_(None), enabled.exists())


# Built once: a statement made for every batch cost about 0.2 ms of CPU in making it and its
# cache key (measured on PostgreSQL, 10 ids: 536 us of CPU a check, 311 us with these).
_LIVE_BY_ID: Final = _live_signals(BankSignal.id.in_(bindparam("ids", expanding=True)))
_LIVE_BY_KEY: Final = _live_signals(
    and_(
        BankSignal.signal_type == bindparam("signal_type"),
        BankSignal.lookup_key.in_(bindparam("keys", expanding=True)),
    )
)


def _enabled_banks(session: Session) -> dict[int, _BankRow]:
    rows = session.execute(
        select(
            Bank.id,
            Bank.name,
            Bank.kind,
            Bank.source,
            Bank.pdq_threshold,
            Bank.vpdq_query_match_pct,
            Bank.vpdq_compared_match_pct,
        ).where(Bank.enabled.is_(True))
    )
    return {
        row.id: _BankRow(
            row.id,
            row.name,
            BankKind(row.kind),
            row.source,
            row.pdq_threshold,
            float(row.vpdq_query_match_pct),
            float(row.vpdq_compared_match_pct),
        )
        for row in rows
    }


def _changes_after(session: Session, seq: int) -> Sequence[tuple[int, str, int, str, str, int]]:
    rows = session.execute(
        select(
            SignalChange.seq,
            SignalChange.op,
            SignalChange.signal_id,
            BankSignal.signal_type,
            BankSignal.value,
            BankSignal.bank_id,
        )
        .join(BankSignal, BankSignal.id == SignalChange.signal_id)
        .where(SignalChange.seq > seq)
        .order_by(SignalChange.seq)
        .limit(_CATCH_UP_BATCH)
    ).all()
    return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


def _head_seq(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(SignalChange.seq), 0))) or 0)
