"""Signed exports of the audit log, and their verification by anyone holding the public key.

An export is one JSON document (format ``tarcza-audit-export/1``): a contiguous
run of entries with every column, the head it reaches, and an Ed25519
signature over the canonical JSON of everything but the signature. Whoever
verifies it recomputes every entry's hash and every link, so a changed,
removed or reordered entry shows; checking the signature against a public key
obtained separately (``tarcza audit public-key``) shows who made it, so a
shortened export signed again with another key shows too.

An export made for one agency (``agency`` in the document) holds that agency's
entries in full and every other entry as its hashes only (``seq``,
``prev_hash``, ``entry_hash``): the run stays unbroken, so the verifier still
follows every link across them, while nothing of another agency's activity
but its place in the chain is shown.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tarcza.accounts.permissions import Action, Principal, Relation, permits
from tarcza.audit import chain
from tarcza.audit import service as audit
from tarcza.audit.models import AuditEntry
from tarcza.errors import Denied
from tarcza.store.engine import Database

FORMAT = "tarcza-audit-export/1"
_TIMESTAMP = "%Y-%m-%dT%H:%M:%S.%fZ"  # chain.timestamp's spelling
_BATCH = 5000


# -- the document, as published in the OpenAPI document and read back by the verifier ------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ExportEntry(_Strict):
    """One audit entry, every column; ``created_at`` spelled exactly as the chain hashes it."""

    seq: int = Field(ge=1)
    created_at: str = Field(description="UTC, e.g. 2026-11-22T12:00:00.000000Z")
    actor: str
    agency: str | None
    action: str
    subject_type: str
    subject_id: str
    reason: str | None
    details: str = Field(description="Canonical JSON text, as hashed")
    prev_hash: str
    entry_hash: str


class HiddenEntry(_Strict):
    """An entry of another agency than the export's: its place in the chain, nothing else."""

    seq: int = Field(ge=1)
    prev_hash: str
    entry_hash: str


class ExportRange(_Strict):
    """The period asked for (``until`` exclusive) and the entries that cover it."""

    since: str | None
    until: str | None
    first_seq: int | None
    last_seq: int | None


class ExportHead(_Strict):
    """The last entry of the export."""

    seq: int
    entry_hash: str


class ExportDocument(_Strict):
    """A signed export of the audit log."""

    format: Literal["tarcza-audit-export/1"]
    exported_at: str
    exported_by: str
    agency: str | None = Field(
        None,
        description="Set when the export is one agency's: other agencies' entries are hashes only",
    )
    range: ExportRange
    entries: list[ExportEntry | HiddenEntry]
    head: ExportHead | None = Field(description="null when the export holds no entry")
    count: int
    public_key: str = Field(description="Base64 of the raw 32-byte Ed25519 public key")
    signature: str = Field(description="Base64 Ed25519 signature of the canonical JSON of the rest")


@dataclass(frozen=True)
class ExportVerdict:
    """The result of verifying an export.

    ``count`` is the number of entries found intact (before ``broken_seq`` when broken);
    ``trusted`` says the signature was checked against a key the verifier gave.
    """

    ok: bool
    count: int
    problem: str | None = None
    broken_seq: int | None = None
    trusted: bool = False
    first_seq: int | None = None
    last_seq: int | None = None


@dataclass(frozen=True)
class Export:
    """A made export: the document's bytes and what they hold."""

    data: bytes
    count: int
    first_seq: int | None
    last_seq: int | None
    exported_at: datetime

    @property
    def filename(self) -> str:
        return f"tarcza-audit-{self.exported_at.astimezone(UTC):%Y%m%dT%H%M%SZ}.json"


# -- making an export ---------------------------------------------------------------------


def public_key_b64(signing_key: bytes) -> str:
    """Base64 of the raw Ed25519 public key of the 32-byte private key ``signing_key``."""
    raw = (
        Ed25519PrivateKey.from_private_bytes(signing_key)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    return base64.b64encode(raw).decode("ascii")


def export_log(
    db: Database,
    principal: Principal,
    *,
    signing_key: bytes,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    all_agencies: bool = False,
) -> Export:
    """A signed export for an auditor (``audit:log:export``); the export is logged.

    Only an auditor of an oversight agency (``all_agencies``, decided by the
    caller) gets every entry in full; any other gets their own agency's in
    full and the rest as hashes only.
    """
    if not permits(principal, Action.AUDIT_LOG_EXPORT, Relation.OWN):
        raise Denied()
    return export_as(
        db,
        actor=principal.username,
        agency=principal.agency,
        signing_key=signing_key,
        now=now,
        since=since,
        until=until,
        only_agency=None if all_agencies else principal.agency,
    )


def export_as(
    db: Database,
    *,
    actor: str,
    agency: str | None,
    signing_key: bytes,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    only_agency: str | None = None,
) -> Export:
    """The signed document (UTF-8 JSON) of the entries made in ``[since, until)``.

    With ``only_agency`` the entries of every other agency (or of none) are
    given as their hashes only.

    The entries form one unbroken run, so an entry whose time lies outside the
    period but whose sequence number lies inside it is included. The export
    is logged as ``audit.exported`` with the SHA-256 of the document.
    """
    with db.sessions() as session:
        entries = list(_entries_between(session, since, until))
    document = build_document(
        entries,
        exported_by=actor,
        exported_at=now,
        since=since,
        until=until,
        signing_key=signing_key,
        only_agency=only_agency,
    )
    data = encode(document)
    with db.transaction() as session:
        audit.append(
            session,
            actor=actor,
            agency=agency,
            action="audit.exported",
            subject_type="audit_log",
            subject_id="export",
            now=now,
            details={
                **document["range"],
                **({"agency": only_agency} if only_agency is not None else {}),
                "count": len(entries),
                "sha256": _sha256(data),
            },
        )
    span = document["range"]
    return Export(data, len(entries), span["first_seq"], span["last_seq"], now)


def build_document(
    entries: Sequence[chain.Entry],
    *,
    exported_by: str,
    exported_at: datetime,
    since: datetime | None,
    until: datetime | None,
    signing_key: bytes,
    only_agency: str | None = None,
) -> dict[str, Any]:
    """The signed export of ``entries`` (a contiguous run, oldest first).

    With ``only_agency``, the entries of any other agency are given as hashes only.
    """
    first, last = (entries[0], entries[-1]) if entries else (None, None)
    document: dict[str, Any] = {
        "format": FORMAT,
        "exported_at": chain.timestamp(exported_at),
        "exported_by": exported_by,
        # A full export keeps the shape it always had: the key is there only when it is scoped.
        **({"agency": only_agency} if only_agency is not None else {}),
        "range": {
            "since": chain.timestamp(since) if since else None,
            "until": chain.timestamp(until) if until else None,
            "first_seq": first.seq if first else None,
            "last_seq": last.seq if last else None,
        },
        "entries": [
            entry_json(e) if only_agency is None or e.agency == only_agency else hidden_json(e)
            for e in entries
        ],
        "head": {"seq": last.seq, "entry_hash": last.entry_hash} if last else None,
        "count": len(entries),
        "public_key": public_key_b64(signing_key),
    }
    return sign(document, signing_key)


def sign(document: dict[str, Any], signing_key: bytes) -> dict[str, Any]:
    """``document`` with its ``signature`` (made anew over everything else)."""
    unsigned = {k: v for k, v in document.items() if k != "signature"}
    signature = Ed25519PrivateKey.from_private_bytes(signing_key).sign(_message(unsigned))
    return {**unsigned, "signature": base64.b64encode(signature).decode("ascii")}


def encode(document: dict[str, Any]) -> bytes:
    """The file's bytes: canonical JSON on one line."""
    return (chain.canonical_json(document) + "\n").encode("utf-8")


def entry_json(entry: chain.Entry) -> dict[str, Any]:
    """One entry as the export holds it: every column, the time spelled as the chain hashes it."""
    return {**asdict(entry), "created_at": chain.timestamp(entry.created_at)}


def hidden_json(entry: chain.Entry) -> dict[str, Any]:
    """One entry of another agency: its place in the chain (seq and both hashes) only."""
    return {"seq": entry.seq, "prev_hash": entry.prev_hash, "entry_hash": entry.entry_hash}


def _entries_between(
    session: Session, since: datetime | None, until: datetime | None
) -> Iterator[chain.Entry]:
    first_q = select(func.min(AuditEntry.seq))
    last_q = select(func.max(AuditEntry.seq))
    if since is not None:
        first_q = first_q.where(AuditEntry.created_at >= since)
    if until is not None:
        last_q = last_q.where(AuditEntry.created_at < until)
    first, last = session.scalar(first_q), session.scalar(last_q)
    if first is None or last is None:
        return
    while first <= last:
        rows = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.seq >= first, AuditEntry.seq <= last)
            .order_by(AuditEntry.seq)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        for row in rows:
            yield _entry_of(row)
        first = rows[-1].seq + 1
        session.expunge_all()


def _entry_of(row: AuditEntry) -> chain.Entry:
    return chain.Entry(**{f.name: getattr(row, f.name) for f in fields(chain.Entry)})


# -- verifying an export ------------------------------------------------------------------


def verify_export(data: bytes, public_key: bytes | str | None = None) -> ExportVerdict:
    """Check an export: its structure, every entry's hash and link, its head, its signature.

    Give ``public_key`` (raw 32 bytes or base64) — obtained from the exporter
    separately — to know who signed it; without it the key inside the document
    is used, which proves only that nothing changed since someone signed it.
    """
    try:
        raw = _load(data)
        document = ExportDocument.model_validate(raw)
    except (ValueError, RecursionError) as exc:
        return ExportVerdict(ok=False, count=0, problem=f"not an audit export: {_reason(exc)}")
    entries = document.entries
    first_seq = entries[0].seq if entries else None
    last_seq = entries[-1].seq if entries else None
    broken = _verify_entries(entries)
    if broken is not None:
        intact, seq, why = broken
        return ExportVerdict(False, intact, why, seq, first_seq=first_seq, last_seq=last_seq)
    problem = _check_summary(document) or _check_signature(raw, document, public_key)
    if problem is not None:
        return ExportVerdict(False, len(entries), problem, first_seq=first_seq, last_seq=last_seq)
    return ExportVerdict(
        True, len(entries), trusted=public_key is not None, first_seq=first_seq, last_seq=last_seq
    )


def _load(data: bytes) -> Any:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError("a key is given twice")
        return dict(pairs)

    def no_constants(name: str) -> None:
        raise ValueError(f"{name} is not a JSON number")

    text = data.decode("utf-8")
    return json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the document"
        return f"{where}: {first['msg']}"
    if isinstance(exc, RecursionError):
        return "it is nested too deeply"
    return str(exc)


def _verify_entries(
    entries: Sequence[ExportEntry | HiddenEntry],
) -> tuple[int, int, str] | None:
    """(entries intact, first broken seq, problem), or None when the run is whole.

    A hidden entry's content cannot be recomputed; its hash is taken as given, and
    the links on both sides of it still have to hold (the next full entry's hash
    covers the link, so a changed hidden hash breaks the chain there).
    """
    if not entries:
        return None
    # A run starting mid-chain starts from its first entry's link; one starting at 1, from genesis.
    prev_hash = chain.GENESIS if entries[0].seq == 1 else entries[0].prev_hash
    expected = entries[0].seq
    for intact, entry in enumerate(entries):
        problem = None
        if entry.seq != expected:
            problem = f"expected entry {expected}, found {entry.seq}: entries are missing or moved"
        elif entry.prev_hash != prev_hash:
            problem = "does not link to the entry before it"
        elif isinstance(entry, ExportEntry) and _recompute(entry) != entry.entry_hash:
            problem = "its content was altered"
        if problem is not None:
            return intact, expected, f"entry {expected} {problem}"
        prev_hash, expected = entry.entry_hash, expected + 1
    return None


def _recompute(entry: ExportEntry) -> str | None:
    try:
        created_at = datetime.strptime(entry.created_at, _TIMESTAMP).replace(tzinfo=UTC)
        stored = entry.model_dump(exclude={"entry_hash"})
        return chain.entry_hash(**{**stored, "created_at": created_at})
    except ValueError:  # an unreadable time, or text that is not valid Unicode
        return None


def _check_summary(document: ExportDocument) -> str | None:
    entries = document.entries
    for entry in entries:
        if isinstance(entry, HiddenEntry) and document.agency is None:
            return f"entry {entry.seq} is given as hashes only in an export of every agency"
        if isinstance(entry, ExportEntry) and document.agency not in (None, entry.agency):
            return f"entry {entry.seq} of another agency is given in full"
    if document.count != len(entries):
        return f"it says it holds {document.count} entries but holds {len(entries)}"
    last = entries[-1] if entries else None
    head = (last.seq, last.entry_hash) if last else None
    claimed = (document.head.seq, document.head.entry_hash) if document.head else None
    if claimed != head:
        return "its head is not its last entry"
    first_seq = entries[0].seq if entries else None
    last_seq = last.seq if last else None
    if (document.range.first_seq, document.range.last_seq) != (first_seq, last_seq):
        return "its range does not match its entries"
    return None


def _check_signature(
    raw: dict[str, Any], document: ExportDocument, trusted: bytes | str | None
) -> str | None:
    try:
        own_key = _key_bytes(document.public_key)
    except ValueError:
        return "its public key cannot be read"
    if trusted is not None:
        try:
            trusted_key = trusted if isinstance(trusted, bytes) else _key_bytes(trusted)
        except ValueError:
            return "the trusted public key cannot be read"
        if trusted_key != own_key:
            return "it was signed with another key than the trusted public key"
    try:
        signature = base64.b64decode(document.signature, validate=True)
        unsigned = {k: v for k, v in raw.items() if k != "signature"}
        Ed25519PublicKey.from_public_bytes(own_key).verify(signature, _message(unsigned))
    except (InvalidSignature, ValueError, binascii.Error):
        return "its signature does not match its content: it was changed after it was signed"
    return None


def _key_bytes(b64: str) -> bytes:
    key = base64.b64decode(b64, validate=True)
    if len(key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return key


def _message(unsigned: dict[str, Any]) -> bytes:
    return chain.canonical_json(unsigned).encode("utf-8")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
