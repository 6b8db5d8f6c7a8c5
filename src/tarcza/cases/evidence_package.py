"""The evidence package a police officer takes to a prosecutor, and its verification.

A package is a zip of:

- ``report.json`` — the report (with the reporter's personal data), its evidence rows, hashes
  and bank matches, content items, referrals, outcomes and history;
- ``report.pdf`` — the same, readable, in Polish;
- ``evidence/<sha256>.<ext>`` — the original evidence files, unsealed only into the package;
- ``trace.json`` — where each content item was hosted (every trace);
- ``notices.json`` — every notice, forward and referral sent for each item, its re-checks and
  its removal;
- ``custody.json`` — the chain of custody: every audit entry about the report and its content
  items, each with its ``prev_hash`` and ``entry_hash``, and the head of the log at export;
- ``public_key.pem`` — the Ed25519 public key (to compare with the published one);
- ``manifest.sha256`` — ``sha256sum`` lines for every file above;
- ``manifest.sig`` — the raw Ed25519 signature of ``manifest.sha256``.

A court checks it without tarcza: ``sha256sum -c manifest.sha256`` and ``openssl pkeyutl
-verify -pubin -inkey published.pem -rawin -in manifest.sha256 -sigfile manifest.sig``.

Because it carries originals, the zip is encrypted for transport exactly as ``openssl enc
-aes-256-cbc -pbkdf2 -iter 600000 -md sha256`` does (``Salted__``, an 8-byte salt, then
AES-256-CBC with key and IV from PBKDF2-HMAC-SHA256), under a passphrase made for this export
and shown once; it is never stored. The export is audited with the case number, the officer,
the evidence exported and the manifest's SHA-256.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import os
import re
import secrets
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tarcza.accounts.permissions import Action, Principal
from tarcza.audit import chain
from tarcza.audit import service as audit
from tarcza.audit.models import AuditEntry
from tarcza.cases import rules
from tarcza.cases.service import CaseRefused, CaseService, ReportView
from tarcza.intake.models import Evidence
from tarcza.store.base import utcnow

FORMAT = "tarcza-evidence-package/1"
CUSTODY_FORMAT = "tarcza-custody/1"
PBKDF2_ITERATIONS = 600_000
SALT_MAGIC = b"Salted__"
MANIFEST = "manifest.sha256"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "public_key.pem"
# What a court runs, after decryption and unzipping (also printed by the CLI and the page).
DECRYPT_COMMAND = (
    f"openssl enc -d -aes-256-cbc -pbkdf2 -iter {PBKDF2_ITERATIONS} -md sha256 "
    "-in {file} -out package.zip"
)
VERIFY_COMMANDS = (
    "sha256sum -c manifest.sha256",
    "openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin "
    "-in manifest.sha256 -sigfile manifest.sig",
)
_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/bmp": "bmp",
    "image/tiff": "tiff",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "video/quicktime": "mov",
}
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # 32 letters: 5 bits each
_MANIFEST_LINE = re.compile(r"([0-9a-f]{64}) [ *](\S.*)")
_TIMESTAMP = "%Y-%m-%dT%H:%M:%S.%fZ"

# (session, report id) -> the report's content items as plain JSON (the hotline's records:
# classification, assessments, traces, actions, checks, removal). Wired by the composition root.
ItemRecords = Callable[[Session, int], list[dict[str, Any]]]


class PackageUnreadable(ValueError):
    """The file is not a package, or the passphrase does not open it."""


# -- transport encryption (openssl enc compatible) ----------------------------------------------


def new_passphrase() -> str:
    """A fresh passphrase: 24 letters and digits (120 bits) in groups of four."""
    letters = "".join(secrets.choice(_ALPHABET) for _ in range(24))
    return "-".join(letters[i : i + 4] for i in range(0, 24, 4))


def _key_iv(passphrase: str, salt: bytes) -> tuple[bytes, bytes]:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=48, salt=salt, iterations=PBKDF2_ITERATIONS)
    derived = kdf.derive(passphrase.encode("utf-8"))
    return derived[:32], derived[32:]


def encrypt(data: bytes, passphrase: str) -> bytes:
    """``data`` as ``openssl enc -aes-256-cbc -pbkdf2 -iter 600000 -md sha256`` writes it."""
    salt = secrets.token_bytes(8)
    key, iv = _key_iv(passphrase, salt)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return SALT_MAGIC + salt + encryptor.update(padded) + encryptor.finalize()


def decrypt(data: bytes, passphrase: str) -> bytes:
    """The inverse of :func:`encrypt`; PackageUnreadable for a wrong passphrase or bad file."""
    if not data.startswith(SALT_MAGIC) or len(data) < 32 or (len(data) - 16) % 16:
        raise PackageUnreadable("this is not a file encrypted with openssl enc (Salted__)")
    key, iv = _key_iv(passphrase, data[8:16])
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(data[16:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise PackageUnreadable("the passphrase is wrong or the file is damaged") from None
    if not plain.startswith(b"PK"):
        raise PackageUnreadable("the passphrase is wrong or the file is damaged")
    return plain


# -- signing and the zip ------------------------------------------------------------------------


def public_key_pem(signing_key: bytes) -> bytes:
    """The PEM (SubjectPublicKeyInfo) public key of the 32-byte Ed25519 ``signing_key``."""
    return (
        Ed25519PrivateKey.from_private_bytes(signing_key)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def manifest_of(files: Mapping[str, bytes]) -> bytes:
    """``sha256sum`` lines for ``files``, sorted by name."""
    lines = [
        f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files.items())
    ]
    return "".join(lines).encode("utf-8")


def seal(files: Mapping[str, bytes], signing_key: bytes, at: datetime) -> tuple[bytes, bytes]:
    """The package zip (``files``, the public key, the manifest of them all and its
    signature) and the manifest."""
    named = {**files, PUBLIC_KEY: public_key_pem(signing_key)}
    manifest = manifest_of(named)
    signature = Ed25519PrivateKey.from_private_bytes(signing_key).sign(manifest)
    stamp = at.astimezone(UTC).timetuple()[:6]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in [*sorted(named.items()), (MANIFEST, manifest), (SIGNATURE, signature)]:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return out.getvalue(), manifest


# -- verification -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageVerdict:
    """The result of verifying a package: ``problems`` is empty when it is intact."""

    ok: bool
    files: int = 0
    problems: list[str] = field(default_factory=list)
    trusted: bool = False
    reference: str | None = None
    case_number: str | None = None
    custody_entries: int = 0


def load_public_key(text: bytes | str) -> bytes:
    """The raw 32-byte Ed25519 key of a PEM file's text or base64 (``tarcza audit public-key``)."""
    raw = text.encode("ascii", "replace") if isinstance(text, str) else text
    if b"-----BEGIN" in raw:
        key = serialization.load_pem_public_key(raw)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        decoded = base64.b64decode(raw.strip(), validate=True)
    except binascii.Error:
        raise ValueError("neither PEM nor base64") from None
    if len(decoded) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return decoded


def verify_package(
    data: bytes, passphrase: str | None = None, trusted_key: bytes | None = None
) -> PackageVerdict:
    """Check a package (encrypted: give ``passphrase``; or the zip itself).

    Every file is in the manifest and matches its SHA-256, nothing is missing or extra, the
    signature over the manifest holds (against ``trusted_key`` when given, else the key in the
    package), and every custody entry's hash matches its content.
    """
    if data.startswith(SALT_MAGIC):
        if passphrase is None:
            return PackageVerdict(False, problems=["the package is encrypted: give the passphrase"])
        try:
            data = decrypt(data, passphrase)
        except PackageUnreadable as exc:
            return PackageVerdict(False, problems=[str(exc)])
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
        if len(set(names)) != len(names):
            return PackageVerdict(False, problems=["a file name is given twice in the zip"])
        contents = {name: archive.read(name) for name in names}
    except (
        zipfile.BadZipFile,
        zlib.error,
        OSError,
        EOFError,
        ValueError,
        NotImplementedError,  # a compression method Python's zipfile does not read
        RuntimeError,  # an encrypted zip member
    ) as exc:
        return PackageVerdict(False, problems=[f"not a readable zip: {exc}"])
    problems: list[str] = []
    manifest = contents.pop(MANIFEST, None)
    signature = contents.pop(SIGNATURE, None)
    if manifest is None or signature is None:
        return PackageVerdict(False, problems=["manifest.sha256 or manifest.sig is missing"])
    listed = _parse_manifest(manifest, problems)
    for name, digest in listed.items():
        if name not in contents:
            problems.append(f"{name}: listed in the manifest but missing")
        elif hashlib.sha256(contents[name]).hexdigest() != digest:
            problems.append(f"{name}: its SHA-256 does not match the manifest (it was changed)")
    problems += [f"{name}: not listed in the manifest" for name in contents if name not in listed]
    own_key: bytes | None = None
    try:
        own_key = load_public_key(contents.get(PUBLIC_KEY, b""))
    except ValueError:
        problems.append("public_key.pem cannot be read")
    key = trusted_key or own_key
    if trusted_key is not None and own_key is not None and own_key != trusted_key:
        problems.append("public_key.pem is not the trusted public key")
    if key is not None:
        try:
            Ed25519PublicKey.from_public_bytes(key).verify(signature, manifest)
        except (InvalidSignature, ValueError):
            problems.append("manifest.sig does not match the manifest: it was changed or forged")
    reference = case_number = None
    try:
        document = json.loads(contents.get("report.json", b"{}"))
        reference, case_number = document.get("reference"), document.get("case_number")
    except (ValueError, AttributeError):
        problems.append("report.json is not JSON")
    custody = _check_custody(contents.get("custody.json"), problems)
    return PackageVerdict(
        ok=not problems,
        files=len(listed),
        problems=problems,
        trusted=trusted_key is not None,
        reference=reference,
        case_number=case_number,
        custody_entries=custody,
    )


def _parse_manifest(manifest: bytes, problems: list[str]) -> dict[str, str]:
    listed: dict[str, str] = {}
    try:
        text = manifest.decode("utf-8")
    except UnicodeDecodeError:
        problems.append("manifest.sha256 is not UTF-8 text")
        return listed
    for number, line in enumerate(text.splitlines(), start=1):
        found = _MANIFEST_LINE.fullmatch(line)
        if found is None:
            problems.append(f"manifest.sha256 line {number} is not a sha256sum line")
            continue
        digest, name = found.groups()
        if name in listed or name in (MANIFEST, SIGNATURE) or name.startswith("/") or ".." in name:
            problems.append(f"manifest.sha256 line {number} names {name!r} wrongly")
            continue
        listed[name] = digest
    return listed


def _check_custody(raw: bytes | None, problems: list[str]) -> int:
    if raw is None:
        problems.append("custody.json is missing")
        return 0
    try:
        entries = json.loads(raw)["entries"]
        for entry in entries:
            created = datetime.strptime(entry["created_at"], _TIMESTAMP).replace(tzinfo=UTC)
            fields = {k: entry[k] for k in entry if k != "entry_hash"}
            if chain.entry_hash(**{**fields, "created_at": created}) != entry["entry_hash"]:
                problems.append(
                    f"custody entry {entry['seq']}: its hash does not match its content"
                )
        return len(entries)
    except (ValueError, KeyError, TypeError):
        problems.append("custody.json cannot be read as audit entries")
        return 0


# -- making a package ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportedPackage:
    """An encrypted package and what the officer needs to hand it over."""

    data: bytes  # encrypted
    passphrase: str  # shown once, never stored
    reference: str
    case_number: str
    filename: str
    manifest_sha256: str
    files: int
    zip_bytes: int
    seconds: float

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


class EvidencePackages:
    """Makes evidence packages for police officers of an agency a report was referred to."""

    def __init__(
        self,
        cases: CaseService,
        *,
        signing_key: bytes,
        item_records: ItemRecords | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._cases = cases
        self._db = cases.database
        self._signing_key = signing_key
        self._items = item_records
        self._clock = clock

    def export(
        self, principal: Principal, reference: str, case_number: str | None
    ) -> ExportedPackage:
        """Build, sign and encrypt the package of ``reference`` for case ``case_number``.

        Refused (ActionDenied, ReportNotFound) unless the person may export it; a bad case
        number is a CaseRefused naming ``case_number``. The export is audited last, after
        the package is made: no package leaves without its entry in the log.
        """
        started = time.perf_counter()
        now = self._clock()
        with self._db.sessions() as session:
            self._cases.authorised(session, principal, reference, Action.EVIDENCE_PACKAGE_EXPORT)
        try:
            number = rules.check_case_number(case_number)
        except rules.CaseRuleViolation as exc:
            raise CaseRefused(exc.field, exc.code, exc.message) from exc
        view = self._cases.report(principal, reference)  # the reading is audited
        with self._db.sessions() as session:
            report = self._cases.authorised(
                session, principal, reference, Action.EVIDENCE_PACKAGE_EXPORT
            )
            rows = session.scalars(
                select(Evidence).where(Evidence.report_id == report.id).order_by(Evidence.id)
            ).all()
            stored = [
                (row.id, row.storage_key, row.media_type, row.sha256, row.created_at)
                for row in rows
            ]
            items = list(self._items(session, report.id)) if self._items else []
            outcomes = self._cases.outcome_views(session, report.id)
            custody = custody_of(session, reference, [str(i["id"]) for i in items])
        files: dict[str, bytes] = {}
        evidence_files: dict[int, str] = {}
        received: dict[int, datetime] = {}
        for evidence_id, key, media_type, sha256, created_at in stored:
            name = f"evidence/{sha256}.{_EXTENSIONS.get(media_type, 'bin')}"
            if name not in files:
                original = self._cases.evidence_store.get(key)
                if hashlib.sha256(original).hexdigest() != sha256:
                    raise RuntimeError(f"evidence {evidence_id} does not match its SHA-256")
                files[name] = original
            evidence_files[evidence_id] = name
            received[evidence_id] = created_at
        document = report_document(
            view, principal, number, now, evidence_files, received, items, outcomes
        )
        custody_json = {**custody, "reference": reference}
        from tarcza.cases.evidence_pdf import report_pdf

        files["report.json"] = _json_bytes(document)
        files["report.pdf"] = report_pdf(document, custody_json)
        files["trace.json"] = _json_bytes(
            [
                {"item": i["id"], "url": i["url"], "host": i["host"], "traces": i["traces"]}
                for i in items
            ]
        )
        files["notices.json"] = _json_bytes(
            [
                {
                    "item": i["id"],
                    "url": i["url"],
                    "state": i["state"],
                    "noticed_at": i["noticed_at"],
                    "removed_at": i["removed_at"],
                    "actions": i["actions"],
                    "checks": i["checks"],
                }
                for i in items
            ]
        )
        files["custody.json"] = _json_bytes(custody_json)
        package, manifest = seal(files, self._signing_key, now)
        manifest_sha256 = hashlib.sha256(manifest).hexdigest()
        passphrase = new_passphrase()
        encrypted = encrypt(package, passphrase)
        with self._db.transaction() as session:
            # Asked again: a referral withdrawn while the package was made ends the export.
            self._cases.authorised(session, principal, reference, Action.EVIDENCE_PACKAGE_EXPORT)
            audit.append(
                session,
                actor=principal.username,
                agency=principal.agency,
                action="evidence.package_exported",
                subject_type="report",
                subject_id=reference,
                now=now,
                reason=f"case {number}",
                details={
                    "case_number": number,
                    "officer": principal.username,
                    "evidence": sorted(evidence_files),
                    "files": len(files) + 3,
                    "manifest_sha256": manifest_sha256,
                    "package_sha256": hashlib.sha256(encrypted).hexdigest(),
                },
            )
        return ExportedPackage(
            data=encrypted,
            passphrase=passphrase,
            reference=reference,
            case_number=number,
            filename=f"tarcza-evidence-{reference}-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}.zip.enc",
            manifest_sha256=manifest_sha256,
            files=len(files) + 3,
            zip_bytes=len(package),
            seconds=time.perf_counter() - started,
        )


def custody_of(session: Session, reference: str, item_ids: Iterable[str]) -> dict[str, Any]:
    """Every audit entry about the report and its content items, and the log's head now."""
    subjects = [(AuditEntry.subject_type == "report") & (AuditEntry.subject_id == reference)]
    ids = list(item_ids)
    if ids:
        subjects.append(
            (AuditEntry.subject_type == "content_item") & (AuditEntry.subject_id.in_(ids))
        )
    rows = session.scalars(select(AuditEntry).where(or_(*subjects)).order_by(AuditEntry.seq))
    entries = [
        {
            "seq": row.seq,
            "created_at": chain.timestamp(row.created_at),
            "actor": row.actor,
            "agency": row.agency,
            "action": row.action,
            "subject_type": row.subject_type,
            "subject_id": row.subject_id,
            "reason": row.reason,
            "details": row.details,
            "prev_hash": row.prev_hash,
            "entry_hash": row.entry_hash,
        }
        for row in rows
    ]
    head_seq = session.scalar(select(func.max(AuditEntry.seq)))
    head_hash = (
        session.scalar(select(AuditEntry.entry_hash).where(AuditEntry.seq == head_seq))
        if head_seq is not None
        else None
    )
    return {
        "format": CUSTODY_FORMAT,
        "content_items": ids,
        "log_head": {"seq": head_seq, "entry_hash": head_hash} if head_seq else None,
        "hashing": (
            "entry_hash = SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of "
            '{"seq","at","actor","agency","action","subject_type","subject_id","reason",'
            '"details","prev"}, where "at" is created_at and "prev" is prev_hash; compare '
            "seq and entry_hash with the full audit log or a signed audit export"
        ),
        "entries": entries,
    }


def report_document(
    view: ReportView,
    principal: Principal,
    case_number: str,
    now: datetime,
    evidence_files: Mapping[int, str],
    received: Mapping[int, datetime],
    items: list[dict[str, Any]],
    outcomes: Iterable[Any],
) -> dict[str, Any]:
    """report.json: the report as the officer reads it, with the package's file names."""
    return {
        "format": FORMAT,
        "reference": view.reference,
        "case_number": case_number,
        "exported_at": chain.timestamp(now),
        "exported_by": {"username": principal.username, "agency": principal.agency},
        "report": {
            "category": view.category.value,
            "status": view.status.value,
            "priority": view.priority,
            "child_in_danger": view.child_in_danger,
            "child_age_range": view.child_age_range,
            "language": view.language,
            "source": view.source,
            "platform": view.platform,
            "urls": view.urls,
            "created_at": chain.timestamp(view.created_at),
            "owner_agency": view.owner_agency,
            "description": view.description,
            "usernames": view.usernames,
            "contact": view.contact,
        },
        "evidence": [
            {
                "file": evidence_files[e.id],
                "id": e.id,
                "media_type": e.media_type,
                "size_bytes": e.size_bytes,
                "width": e.width,
                "height": e.height,
                "md5": e.md5,
                "sha256": e.sha256,
                "pdq": e.pdq,
                "pdq_quality": e.pdq_quality,
                "received_at": chain.timestamp(received[e.id]),
                "matches": [asdict(m) for m in e.matches],
            }
            for e in view.evidence
        ],
        "items": [
            {
                k: i[k]
                for k in (
                    "id",
                    "url",
                    "url_as_reported",
                    "host",
                    "state",
                    "classification",
                    "first_reported_at",
                    "assessed_at",
                    "noticed_at",
                    "removed_at",
                    "assessments",
                )
            }
            for i in items
        ],
        "referrals": [
            {
                "from_agency": r.from_agency,
                "to_agency": r.to_agency,
                "state": r.state.value,
                "reason": r.reason,
                "created_by": r.created_by,
                "created_at": chain.timestamp(r.created_at),
                "answer": r.answer,
                "answered_by": r.answered_by,
                "answered_at": chain.timestamp(r.answered_at) if r.answered_at else None,
            }
            for r in view.referrals
        ],
        "outcomes": [
            {
                "outcome": o.outcome.value,
                "reason": o.reason,
                "agency": o.agency,
                "recorded_by": o.recorded_by,
                "recorded_at": chain.timestamp(o.recorded_at),
            }
            for o in outcomes
        ],
        "history": [
            {
                "at": chain.timestamp(h.at),
                "actor": h.actor,
                "agency": h.agency,
                "action": h.action,
                "reason": h.reason,
                "details": h.details,
            }
            for h in view.history
        ],
    }


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


# -- packages held for the officer's download ---------------------------------------------------


class HeldPackages:
    """Encrypted packages kept briefly for the officer who made them to download, once.

    Only the encrypted bytes are written (the passphrase is never stored); a package is
    deleted when downloaded or after ``keep_seconds``.
    """

    def __init__(self, folder: Path, keep_seconds: int = 900) -> None:
        self._folder = folder
        self._keep = keep_seconds

    def put(self, user_id: int, package: ExportedPackage) -> str:
        self.sweep()
        self._folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        token = secrets.token_urlsafe(24)
        meta = {"user": user_id, "filename": package.filename, "made": time.time()}
        (self._folder / f"{token}.json").write_text(json.dumps(meta))
        fd = os.open(self._folder / f"{token}.enc", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(package.data)
        return token

    def take(self, user_id: int, token: str) -> tuple[str, bytes] | None:
        """The held package's (file name, bytes) for its maker, removed from the folder."""
        if not re.fullmatch(r"[A-Za-z0-9_-]{32}", token):
            return None
        meta_path, data_path = self._folder / f"{token}.json", self._folder / f"{token}.enc"
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            return None
        if meta.get("user") != user_id or time.time() - float(meta["made"]) > self._keep:
            return None
        try:
            data = data_path.read_bytes()
        except OSError:
            return None
        meta_path.unlink(missing_ok=True)
        data_path.unlink(missing_ok=True)
        return str(meta["filename"]), data

    def sweep(self) -> None:
        """Delete every package held longer than allowed."""
        if not self._folder.exists():
            return
        for meta_path in self._folder.glob("*.json"):
            try:
                made = float(json.loads(meta_path.read_text())["made"])
            except (OSError, ValueError, KeyError):
                made = 0.0
            if time.time() - made > self._keep:
                meta_path.unlink(missing_ok=True)
                meta_path.with_suffix(".enc").unlink(missing_ok=True)
