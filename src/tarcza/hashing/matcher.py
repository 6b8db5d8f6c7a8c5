"""The matcher: finds which bank signals a file or a hash matches.

Exact signals (MD5, SHA-1, SHA-256, vPDQ) are looked up in the database by their indexed key.
PDQ hashes are searched in an in-memory :class:`PdqIndex` of every PDQ signal, built once from
the database, saved under ``var/index/`` and, on the next start, loaded and brought up to date
from the ``signal_changes`` log: the matcher remembers the last change it applied, so adding a
signal never needs a rebuild.

Every answer is checked against the database (the signal is still in the bank, the bank is
enabled, the distance is within the bank's own threshold), so a stale index can miss a very new
signal for an instant but never answers with a removed one. A match in an enabled allow-list
bank suppresses every block match of the same item (a file, or one looked-up signal).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from tarcza.hashing import banks
from tarcza.hashing.banks import BankKind, SignalType
from tarcza.hashing.index import PdqIndex, hex_to_hashes
from tarcza.hashing.models import Bank, BankSignal, EvidenceMatch, SignalChange
from tarcza.hashing.pdq import MIN_USEFUL_QUALITY
from tarcza.hashing.service import FileHashes
from tarcza.hashing.snapshots import Snapshot, load_snapshot, save_snapshot
from tarcza.store.engine import Database

log = logging.getLogger("tarcza.matcher")

_CHUNK = 500
_CATCH_UP_BATCH = 10_000


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


@dataclass(frozen=True)
class ItemResult:
    """The block matches of one item; ``suppressed`` when an allow-list bank matched it."""

    matches: tuple[Match, ...] = ()
    suppressed: bool = False


@dataclass(frozen=True)
class _BankRow:
    id: int
    name: str
    kind: BankKind
    source: str
    threshold: int


def file_queries(hashes: FileHashes) -> list[SignalQuery]:
    """The signals of an evidence file worth looking up (PDQ only when of useful quality)."""
    queries = [
        SignalQuery(SignalType.MD5, hashes.md5),
        SignalQuery(SignalType.SHA256, hashes.sha256),
    ]
    if hashes.pdq is not None and (hashes.pdq_quality or 0) >= MIN_USEFUL_QUALITY:
        queries.append(SignalQuery(SignalType.PDQ, hashes.pdq))
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
        self, db: Database, index_dir: Path | None = None, *, save_every: int = 10_000
    ) -> None:
        self._db = db
        self._dir = index_dir
        self._save_every = save_every
        self._lock = threading.RLock()
        self._index = PdqIndex()
        self._present: set[int] = set()
        self._seq = 0
        self._unsaved = 0
        self._started = False

    # -- keeping the index ----------------------------------------------------------------

    @property
    def applied_seq(self) -> int:
        """The last signal change the PDQ index reflects."""
        return self._seq

    @property
    def pdq_count(self) -> int:
        """How many PDQ signals the index holds."""
        return len(self._present)

    def start(self) -> None:
        """Load the saved index (or build it from the database), then catch up."""
        with self._lock:
            if self._started:
                return
            with self._db.sessions() as session:
                head = _head_seq(session)
            snapshot = load_snapshot(self._dir) if self._dir else None
            if snapshot is not None and snapshot.seq <= head:
                self._index, self._present, self._seq = snapshot.index, snapshot.ids, snapshot.seq
            else:
                self._build()
            self._started = True
            self.catch_up()
            if self._unsaved or snapshot is None or snapshot.seq != self._seq:
                self.save()

    def _build(self) -> None:
        with self._db.sessions() as session:
            # The head is read before the signals: changes in between are replayed, harmlessly.
            seq = _head_seq(session)
            rows = session.execute(
                select(BankSignal.id, BankSignal.value).where(
                    BankSignal.signal_type == SignalType.PDQ.value,
                    BankSignal.removed_at.is_(None),
                )
            ).all()
        ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        hashes = hex_to_hashes(row[1] for row in rows)
        index = PdqIndex.build(hashes, ids)
        self._index, self._present, self._seq = index, {int(i) for i in ids}, seq
        self._unsaved = len(rows)
        log.info("built the PDQ index from the database: %d hashes up to change %d", len(rows), seq)

    def catch_up(self) -> int:
        """Apply the changes logged since the last one applied; returns how many."""
        with self._lock:
            if not self._started:
                self.start()
                return 0
            applied = 0
            while True:
                with self._db.sessions() as session:
                    rows = session.execute(
                        select(
                            SignalChange.seq,
                            SignalChange.op,
                            SignalChange.signal_id,
                            BankSignal.signal_type,
                            BankSignal.value,
                        )
                        .join(BankSignal, BankSignal.id == SignalChange.signal_id)
                        .where(SignalChange.seq > self._seq)
                        .order_by(SignalChange.seq)
                        .limit(_CATCH_UP_BATCH)
                    ).all()
                for seq, op, signal_id, signal_type, value in rows:
                    if signal_type == SignalType.PDQ.value:
                        self._apply(op, signal_id, value)
                    self._seq = seq
                applied += len(rows)
                if len(rows) < _CATCH_UP_BATCH:
                    break
            self._unsaved += applied
            if self._unsaved >= self._save_every:
                self.save()
            return applied

    def _apply(self, op: str, signal_id: int, value: str) -> None:
        # Idempotent, so that replaying changes a snapshot already holds does no harm.
        if op == "add" and signal_id not in self._present:
            self._index.add(hex_to_hashes([value]), np.array([signal_id], dtype=np.int64))
            self._present.add(signal_id)
        elif op == "remove" and signal_id in self._present:
            self._index.remove(np.array([signal_id], dtype=np.int64))
            self._present.discard(signal_id)

    def save(self) -> None:
        """Write the index and the last applied change under the index folder (if any)."""
        with self._lock:
            if self._dir is None:
                return
            try:
                save_snapshot(self._dir, Snapshot(self._index, self._present, self._seq))
            except OSError:
                log.exception("could not save the PDQ index under %s", self._dir)
                return
            self._unsaved = 0

    # -- matching -------------------------------------------------------------------------

    def match(
        self, items: Sequence[Sequence[SignalQuery]], *, scope: frozenset[int] | None = None
    ) -> list[ItemResult]:
        """The block matches of each item, in order.

        ``scope``: the bank ids whose block matches may be answered (None: every bank).
        Enabled allow-list banks suppress matches whatever the scope.
        """
        self.catch_up()
        with self._db.sessions() as session:
            live = _enabled_banks(session)
            if not live:
                return [ItemResult() for _ in items]
            found: dict[int, list[Match]] = defaultdict(list)
            for item, match in self._exact(session, items, live):
                found[item].append(match)
            for item, match in self._similar(session, items, live):
                found[item].append(match)
        return [_decide(found.get(i, []), scope) for i in range(len(items))]

    def match_files(self, files: Sequence[FileHashes]) -> list[ItemResult]:
        """Match each evidence file by its MD5, SHA-256 and (useful) PDQ."""
        return self.match([file_queries(hashes) for hashes in files])

    def _exact(
        self, session: Session, items: Sequence[Sequence[SignalQuery]], live: dict[int, _BankRow]
    ) -> list[tuple[int, Match]]:
        wanted: dict[tuple[str, str], list[int]] = defaultdict(list)
        for number, item in enumerate(items):
            for query in item:
                if query.signal_type is not SignalType.PDQ:
                    wanted[(query.signal_type.value, banks.lookup_key(query.value))].append(number)
        by_type: dict[str, list[str]] = defaultdict(list)
        for signal_type, lookup in wanted:
            by_type[signal_type].append(lookup)
        out: list[tuple[int, Match]] = []
        for signal_type, keys in by_type.items():
            for start in range(0, len(keys), _CHUNK):
                condition = and_(
                    BankSignal.signal_type == signal_type,
                    BankSignal.lookup_key.in_(keys[start : start + _CHUNK]),
                )
                for row in _live_signals(session, condition, live):
                    for number in wanted[(row.signal_type, row.lookup_key)]:
                        out.append((number, _match(row, live[row.bank_id], 0)))
        return out

    def _similar(
        self, session: Session, items: Sequence[Sequence[SignalQuery]], live: dict[int, _BankRow]
    ) -> list[tuple[int, Match]]:
        owners = [
            (number, query.value)
            for number, item in enumerate(items)
            for query in item
            if query.signal_type is SignalType.PDQ
        ]
        if not owners:
            return []
        threshold = max(bank.threshold for bank in live.values())
        with self._lock:
            if len(self._index) == 0:
                return []
            query_idx, ids, distances = self._index.search_batch(
                hex_to_hashes(value for _, value in owners), threshold
            )
        hits: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for q, signal_id, distance in zip(
            query_idx.tolist(), ids.tolist(), distances.tolist(), strict=True
        ):
            hits[int(signal_id)].append((owners[int(q)][0], int(distance)))
        out: list[tuple[int, Match]] = []
        candidates = list(hits)
        for start in range(0, len(candidates), _CHUNK):
            condition = BankSignal.id.in_(candidates[start : start + _CHUNK])
            for row in _live_signals(session, condition, live):
                bank = live[row.bank_id]
                for number, distance in hits[row.id]:
                    if distance <= bank.threshold:
                        out.append((number, _match(row, bank, distance)))
        return out


def _decide(found: list[Match], scope: frozenset[int] | None) -> ItemResult:
    if any(match.kind is BankKind.ALLOW for match in found):
        return ItemResult(suppressed=True)
    visible = [m for m in found if scope is None or m.bank_id in scope]
    visible.sort(key=lambda m: (m.distance, m.bank, m.signal_id))
    return ItemResult(matches=tuple(visible))


def _match(row: BankSignal, bank: _BankRow, distance: int) -> Match:
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


def _live_signals(
    session: Session, condition: ColumnElement[bool], live: dict[int, _BankRow]
) -> list[BankSignal]:
    rows = session.scalars(
        select(BankSignal).where(
            condition,
            BankSignal.removed_at.is_(None),
            BankSignal.bank_id.in_(list(live)),
        )
    )
    return list(rows)


def _enabled_banks(session: Session) -> dict[int, _BankRow]:
    rows = session.execute(
        select(Bank.id, Bank.name, Bank.kind, Bank.source, Bank.pdq_threshold).where(
            Bank.enabled.is_(True)
        )
    )
    return {
        row.id: _BankRow(row.id, row.name, BankKind(row.kind), row.source, row.pdq_threshold)
        for row in rows
    }


def _head_seq(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(SignalChange.seq), 0))) or 0)
