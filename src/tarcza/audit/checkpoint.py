"""Signed checkpoints of the audit log's head, kept outside the database.

The hash chain shows an entry altered or removed from the middle, but not a
tail cut off: the shortened chain is still whole. A checkpoint — the head's
sequence number and hash and the count of entries, signed with the audit
signing key, which the database does not hold — is appended to a file (one
JSON line each); ``tarcza audit verify`` then insists that the database still
holds that head and at least that many entries. Copy the file somewhere the
database's administrators cannot write (another host, the oversight body) to
make it count.

:func:`checkpoint_if_due` writes them by themselves (the worker's tick, and at
shutdown), so only the entries after the last one — which ``tarcza audit
verify`` counts — could be cut off unseen.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tarcza.audit import chain
from tarcza.audit.models import AuditEntry
from tarcza.audit.service import verify_log
from tarcza.store.engine import Database

DEFAULT_FILE = "audit-checkpoints.jsonl"
# Signed along with the fields, so a checkpoint's signature serves for nothing else.
_CONTEXT = "tarcza-audit-checkpoint/1"


class CheckpointRefused(Exception):
    """The log is broken: a checkpoint would vouch for it (the reason is the message)."""


class CheckpointUnreadable(Exception):
    """The checkpoint file's last line is not a checkpoint."""


@dataclass(frozen=True)
class Checkpoint:
    """The head of the log at ``at``: its entry's ``seq`` and hash, and the count of entries."""

    seq: int
    entry_hash: str
    count: int
    at: str
    signature: str = ""

    def message(self) -> bytes:
        """The bytes the signature covers."""
        fields = {"context": _CONTEXT, "seq": self.seq, "entry_hash": self.entry_hash}
        fields.update(count=self.count, at=self.at)
        return chain.canonical_json(fields).encode("utf-8")

    def signed(self, signing_key: bytes) -> Checkpoint:
        """This checkpoint with its signature by the 32-byte Ed25519 private key."""
        signature = Ed25519PrivateKey.from_private_bytes(signing_key).sign(self.message())
        return Checkpoint(
            self.seq, self.entry_hash, self.count, self.at, base64.b64encode(signature).decode()
        )

    def signature_valid(self, public_key: Ed25519PublicKey) -> bool:
        try:
            public_key.verify(base64.b64decode(self.signature, validate=True), self.message())
        except (InvalidSignature, ValueError, binascii.Error):
            return False
        return True


@dataclass(frozen=True)
class CheckpointVerdict:
    """Whether the database still holds what ``checkpoint`` recorded."""

    ok: bool
    checkpoint: Checkpoint
    problem: str | None = None


def default_path(var_dir: Path) -> Path:
    return var_dir / DEFAULT_FILE


def take(db: Database, signing_key: bytes, now: datetime) -> Checkpoint:
    """A signed checkpoint of the head; refused (CheckpointRefused) when the chain is broken."""
    with db.sessions() as session:
        head = session.execute(
            select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)
        ).first()
        seq, entry_hash = (head[0], head[1]) if head else (0, chain.GENESIS)
        count = (
            session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.seq <= seq)
            )
            or 0
        )
        # Verified after the head was read, so the head is among the entries verified.
        verdict = verify_log(session)
    if not verdict.ok:
        raise CheckpointRefused(
            f"the log is broken at entry {verdict.broken_seq}: {verdict.problem}"
        )
    return Checkpoint(seq, entry_hash, count, chain.timestamp(now)).signed(signing_key)


def append(path: Path, checkpoint: Checkpoint) -> None:
    """Add ``checkpoint`` as the file's last line, on disk before returning."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(asdict(checkpoint), sort_keys=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def latest(path: Path) -> Checkpoint | None:
    """The file's last checkpoint; None when there is no file or it is empty."""
    if not path.exists():
        return None
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        return None
    try:
        data: Any = json.loads(lines[-1])
        checkpoint = Checkpoint(
            seq=_int(data["seq"]),
            entry_hash=_str(data["entry_hash"]),
            count=_int(data["count"]),
            at=_str(data["at"]),
            signature=_str(data["signature"]),
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointUnreadable(f"the last line of {path} is not a checkpoint") from exc
    return checkpoint


def check(
    session: Session, checkpoint: Checkpoint, public_key: Ed25519PublicKey
) -> CheckpointVerdict:
    """Whether the checkpoint is genuine and the database still holds its head and count."""

    def broken(problem: str) -> CheckpointVerdict:
        return CheckpointVerdict(ok=False, checkpoint=checkpoint, problem=problem)

    if not checkpoint.signature_valid(public_key):
        return broken("its signature does not match the audit signing key")
    if checkpoint.seq > 0:
        stored = session.scalar(
            select(AuditEntry.entry_hash).where(AuditEntry.seq == checkpoint.seq)
        )
        if stored is None:
            return broken(f"entry {checkpoint.seq} is gone: the end of the log was cut off")
        if stored != checkpoint.entry_hash:
            return broken(f"entry {checkpoint.seq} has another hash: the log was rewritten")
    count = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
    if count < checkpoint.count:
        return broken(f"the log holds {count} entries, fewer than the {checkpoint.count} recorded")
    return CheckpointVerdict(ok=True, checkpoint=checkpoint)


def verify_latest(session: Session, path: Path, signing_key: bytes) -> CheckpointVerdict | None:
    """Check the file's last checkpoint against the database; None when there is none.

    Raises CheckpointUnreadable when the file's last line is not a checkpoint.
    """
    checkpoint = latest(path)
    if checkpoint is None:
        return None
    return check(session, checkpoint, public_key_of(signing_key))


def unprotected(session: Session, checkpoint: Checkpoint | None) -> int:
    """How many entries stand after ``checkpoint`` (all of them without one): a cut there
    would not show until the next checkpoint is written."""
    after = select(func.count()).select_from(AuditEntry)
    if checkpoint is not None:
        after = after.where(AuditEntry.seq > checkpoint.seq)
    return session.scalar(after) or 0


def checkpoint_if_due(
    db: Database,
    key: bytes,
    path: Path,
    now: datetime,
    every_entries: int,
    every_minutes: float,
) -> Checkpoint | None:
    """Write a checkpoint to ``path`` when one is due, and return it; None when none is due.

    Due when entries stand after the file's last checkpoint (or there is none yet) and either
    at least ``every_entries`` of them do, or that checkpoint is ``every_minutes`` minutes old
    or older. At shutdown call it with ``every_entries=1``: every entry then gets covered.
    ``key`` is the 32-byte audit signing key; ``now`` an aware datetime.

    Refuses (CheckpointRefused) to vouch for a log that fails its last checkpoint or whose
    chain is broken, and raises CheckpointUnreadable when the file's last line is not a
    checkpoint: appending after it would hide that. Several processes may call this at once
    (a web server's worker and a job worker): an exclusive lock on the file makes one write.
    """
    if every_entries < 1 or every_minutes < 0:
        raise ValueError("every_entries must be at least 1 and every_minutes not negative")
    path.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(path):
        last = latest(path)
        with db.sessions() as session:
            pending = unprotected(session, last)
            if last is not None:
                held = check(session, last, public_key_of(key))
                if not held.ok:
                    raise CheckpointRefused(f"the last checkpoint fails: {held.problem}")
        if pending == 0:
            return None
        if last is not None and pending < every_entries:
            age = now - datetime.fromisoformat(last.at)
            if age < timedelta(minutes=every_minutes):
                return None
        checkpoint = take(db, key, now)
        append(path, checkpoint)
        return checkpoint


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path``'s lock file (made beside it) until the block ends."""
    fd = os.open(path.with_name(path.name + ".lock"), os.O_WRONLY | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def public_key_of(signing_key: bytes) -> Ed25519PublicKey:
    return Ed25519PrivateKey.from_private_bytes(signing_key).public_key()


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError("not a count")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("not text")
    return value
