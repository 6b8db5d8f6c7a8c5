"""The hash chain of the audit log — pure: no web, database or network imports.

Each entry's hash covers its own fields and the hash of the entry before it,
so altering or removing any entry breaks every link after it. (Cutting off
the tail is caught only by a checkpoint kept outside the database.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


@dataclass(frozen=True)
class Entry:
    """One audit entry as stored."""

    seq: int
    created_at: datetime
    actor: str
    agency: str | None
    action: str
    subject_type: str
    subject_id: str
    reason: str | None
    details: str
    prev_hash: str
    entry_hash: str


@dataclass(frozen=True)
class Verdict:
    """The result of verifying a chain: ``broken_seq`` names the first bad entry."""

    ok: bool
    count: int
    broken_seq: int | None = None
    problem: str | None = None


# json.dumps with these options builds an encoder on every call: one, kept (issue 16).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(data: Mapping[str, Any]) -> str:
    """The one JSON spelling of ``data`` that the chain hashes."""
    return _CANONICAL.encode(data)


def timestamp(moment: datetime) -> str:
    """UTC ISO-8601 with microseconds — the same on every database."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(
    *,
    seq: int,
    created_at: datetime,
    actor: str,
    agency: str | None,
    action: str,
    subject_type: str,
    subject_id: str,
    reason: str | None,
    details: str,
    prev_hash: str,
) -> str:
    """SHA-256 hex of an entry's fields and its predecessor's hash."""
    body = canonical_json(
        {
            "seq": seq,
            "at": timestamp(created_at),
            "actor": actor,
            "agency": agency,
            "action": action,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "reason": reason,
            "details": details,
            "prev": prev_hash,
        }
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class BodyParts:
    """An entry's hashed body with its predecessor's hash and its seq left out.

    ``before_prev + prev_hash + before_seq + str(seq) + after_seq`` is the body that
    :func:`entry_hash` hashes: a database can then chain the entry to its head itself.
    """

    before_prev: str
    before_seq: str
    after_seq: str


def body_parts(
    *,
    created_at: datetime,
    actor: str,
    agency: str | None,
    action: str,
    subject_type: str,
    subject_id: str,
    reason: str | None,
    details: str,
) -> BodyParts:
    """The body of :func:`entry_hash` around the two fields only the chain's head decides."""

    encode = _CANONICAL.encode

    def field(key: str, value: Any) -> str:  # canonical_json({key: value}) without its braces
        return f"{encode(key)}:{encode(value)}"

    first = (
        ("action", action),
        ("actor", actor),
        ("agency", agency),
        ("at", timestamp(created_at)),
        ("details", details),
    )
    return BodyParts(
        before_prev="{" + ",".join(field(k, v) for k, v in first) + ',"prev":"',
        before_seq=f'",{field("reason", reason)},"seq":',
        after_seq=f",{field('subject_id', subject_id)},{field('subject_type', subject_type)}}}",
    )


def recompute(entry: Entry) -> str:
    """The hash ``entry`` should carry given its stored fields."""
    return entry_hash(
        seq=entry.seq,
        created_at=entry.created_at,
        actor=entry.actor,
        agency=entry.agency,
        action=entry.action,
        subject_type=entry.subject_type,
        subject_id=entry.subject_id,
        reason=entry.reason,
        details=entry.details,
        prev_hash=entry.prev_hash,
    )


def verify(entries: Iterable[Entry]) -> Verdict:
    """Walk ``entries`` in sequence order and name the first one that breaks the chain."""
    prev_hash, expected_seq, count = GENESIS, 1, 0
    for entry in entries:
        problem = None
        if entry.seq != expected_seq:
            problem = f"expected entry {expected_seq}, found {entry.seq}: entries are missing"
        elif entry.prev_hash != prev_hash:
            problem = "does not link to the entry before it"
        elif recompute(entry) != entry.entry_hash:
            problem = "its content was altered"
        if problem:
            return Verdict(ok=False, count=count, broken_seq=expected_seq, problem=problem)
        prev_hash, expected_seq, count = entry.entry_hash, expected_seq + 1, count + 1
    return Verdict(ok=True, count=count)
