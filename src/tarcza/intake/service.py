"""Intake operations: take a report, keep it safely, answer its status."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from psycopg.types.json import Json
from sqlalchemy import Table, insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tarcza.audit import service as audit
from tarcza.crypto import KeyRing
from tarcza.errors import Conflict, NotFound, Refused
from tarcza.hashing.images import ImageLimits, ImageRejected
from tarcza.hashing.matcher import ItemResult, Matcher, evidence_match_rows, match_or_nothing
from tarcza.hashing.service import Digests, FileDigests, FileHashes, hash_image_file
from tarcza.hashing.videos import (
    VideoHashes,
    VideoLimits,
    VideoRejected,
    hash_video_file,
    sniff_video_type,
)
from tarcza.intake import rules
from tarcza.intake.contacts import help_directory
from tarcza.intake.evidence_store import EvidenceStore, EvidenceWriter
from tarcza.intake.models import Evidence, IdempotencyRecord, Report, ReportMessage
from tarcza.intake.progress import advance_public_stage as advance_public_stage
from tarcza.store import driver, throttle
from tarcza.store.base import utcnow
from tarcza.store.engine import Database
from tarcza.store.rates import Charge, Quota, RateLimited, SharedRates
from tarcza.store.throttle import Throttled as Throttled

PUBLIC_ACTOR = "public"


# (session, report id, the URLs as reported, now): called inside the report's transaction.
UrlsReported = Callable[[Session, int, Sequence[str], datetime], object]


@dataclass(frozen=True)
class MadeReport:
    """The facts of a new report that the other concepts' rules look at (no personal data)."""

    report_id: int
    reference: str
    category: str
    child_in_danger: bool
    owner_agency: str
    source: str


# (session, the new report's facts, now): called inside the report's transaction (the danger
# rules refer a child in danger now to the police duty desk with the report, atomically).
ReportMade = Callable[[Session, MadeReport, datetime], object]
# Called with the receipt once the report committed (the root enqueues the alert job).
ReportCommitted = Callable[["Receipt"], object]


@dataclass(frozen=True)
class NewReport:
    """A validated report as it arrives (see schemas for the edge checks)."""

    category: rules.Category
    description: str = ""
    urls: tuple[str, ...] = ()
    child_in_danger: bool = False
    child_age_range: rules.AgeRange | None = None
    platform: str | None = None
    usernames: tuple[str, ...] = ()
    contact: dict[str, str] | None = None
    language: str = "pl"
    source: str = "api"
    # The agency whose queue the report joins; None: the service's (the intake hotline). The
    # helpline makes the reports it refers to the police its own.
    owner_agency: str | None = None


@dataclass(frozen=True)
class Upload:
    """One evidence file as received, and the field it came in (bytes in memory)."""

    field: str
    data: bytes


@dataclass(frozen=True)
class StoredUpload:
    """One evidence file already sealed in evidence storage, with its digests and its field."""

    field: str
    storage_key: str
    digests: FileDigests


class UploadSink:
    """One evidence file streamed into sealed storage while its MD5 and SHA-256 are computed.

    ``write`` the bytes as they arrive, then ``finish`` (durable; a StoredUpload) or ``abort``
    (which also forgets a finished file). More than ``max_bytes`` is refused.
    """

    def __init__(self, writer: EvidenceWriter, field: str, max_bytes: int) -> None:
        self._writer = writer
        self._digests = Digests()
        self._field = field
        self._max_bytes = max_bytes

    def write(self, data: bytes) -> None:
        if self._digests.size_bytes + len(data) > self._max_bytes:
            raise ReportRejected(
                self._field,
                "too_large_bytes",
                f"the file is larger than the limit of {self._max_bytes} bytes",
            )
        self._digests.update(data)
        self._writer.write(data)

    def finish(self) -> StoredUpload:
        storage_key = self._writer.finish()
        return StoredUpload(self._field, storage_key, self._digests.result())

    def abort(self) -> None:
        self._writer.abort()


@dataclass(frozen=True)
class Receipt:
    """What the reporter is told: a reference, a PIN and the status."""

    reference: str
    pin: str
    status: rules.Status
    category: rules.Category
    child_in_danger: bool
    replayed: bool = False
    evidence: tuple[FileHashes, ...] = field(default=())


@dataclass(frozen=True)
class PublicStatus:
    """All a reference and PIN reveal: the stage, when it last changed, and what comes next.

    ``next_step`` is a catalog message id (translate it where it is shown); ``status`` is the
    stage as the older status vocabulary reads it (kept for API clients).
    """

    stage: rules.PublicStage
    changed_at: datetime
    label: str
    next_step: str
    # What the staff wrote to the reporter (questions, messages), oldest first.
    messages: tuple[PublicMessage, ...] = ()

    @property
    def status(self) -> rules.Status:
        """The stage in the older vocabulary (received, in_assessment, forwarded, closed)."""
        return rules.LEGACY_STATUS[self.stage]


@dataclass(frozen=True)
class PublicMessage:
    """A message the staff wrote to the reporter: when, and the text (never who wrote it)."""

    at: datetime
    text: str


def public_status_of(
    stage: rules.PublicStage, changed_at: datetime, messages: tuple[PublicMessage, ...] = ()
) -> PublicStatus:
    """The public answer for a report at ``stage`` since ``changed_at``."""
    label, next_step = rules.PUBLIC_STAGE_TEXT[stage]
    return PublicStatus(
        stage=stage, changed_at=changed_at, label=label, next_step=next_step, messages=messages
    )


class ReportRejected(Refused):
    """The report cannot be taken as it is: ``field`` says where, ``code`` why."""


class IdempotencyConflict(Conflict):
    """The Idempotency-Key was used before for a different report."""

    detail = "This Idempotency-Key was already used for a different report."


class ReportNotFound(NotFound):
    """No report answers to this reference and PIN (which one is wrong is not said)."""

    detail = "No report matches this reference and PIN."


@dataclass(frozen=True)
class Reporter:
    """Who sends a report, as far as the limits on new reports are concerned.

    ``network`` is a public client's network (``rules.client_network``), ``partner`` the id of
    a partner platform that reports with its key; neither (staff tools, the demo): no limit.
    """

    network: str | None = None
    partner: int | None = None


@dataclass(frozen=True)
class ReportQuotas:
    """How many new reports a client network, all public clients, and a partner may send."""

    per_client: Quota
    overall: Quota
    per_partner: Quota

    @classmethod
    def of(cls, per_client: str, overall: str, per_partner: str) -> ReportQuotas:
        """Quotas from limits' notation ("5/minute;20/hour"; "" = unlimited)."""
        return cls(
            Quota.of("reports-client", per_client),
            Quota.of("reports-all", overall),
            Quota.of("reports-partner", per_partner),
        )


class LimitedWithHelp(RateLimited):
    """A limit refused a person: when to try again, and where to get help meanwhile.

    ``extra`` goes into the API's answer beside ``detail``: the seconds to wait and the help
    numbers, the emergency number first, for a person who cannot wait.
    """

    def __init__(self, retry_after: int, country: str) -> None:
        super().__init__(retry_after)
        self.extra = {
            "retry_after": retry_after,
            "help": [
                {"number": c.number, "name": c.name.get("en", ""), "when": c.when.get("en", "")}
                for c in help_directory(country).contacts
            ],
        }


class ReportsLimited(LimitedWithHelp):
    """Too many new reports from this network, to this service, or from this partner."""

    detail = (
        "Too many reports were sent from this network or to this service just now. "
        "Try again after Retry-After seconds. If a child is in danger now, call 112."
    )


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many wrong PINs a reference or a client may try before a lock-out."""

    per_reference: int = 5
    per_client: int = 20
    window: timedelta = timedelta(minutes=15)
    lock: timedelta = timedelta(minutes=15)


class IntakeService:
    """Takes reports and answers status checks; collaborators are passed in."""

    def __init__(
        self,
        db: Database,
        keyring: KeyRing,
        evidence: EvidenceStore,
        *,
        image_limits: ImageLimits | None = None,
        throttle: ThrottlePolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
        matcher: Matcher | None = None,
        owner_agency: str = "hotline",
        on_urls: UrlsReported | None = None,
        on_report: ReportMade | None = None,
        after_commit: ReportCommitted | None = None,
        rates: SharedRates | None = None,
        quotas: ReportQuotas | None = None,
        country: str = "PL",
    ) -> None:
        self._db = db
        # Limits on new reports, counted in the store every process shares; none without rates.
        self._rates = rates
        self._quotas = quotas
        self._country = country
        # Told, inside the report's transaction, which URLs it names (the hotline folds them
        # into content items); the composition root wires it, intake knows no hotline.
        self._on_urls = on_urls
        self._on_report = on_report
        self._after_commit = after_commit
        self._owner_agency = owner_agency
        self._matcher = matcher
        self._keys = keyring
        self._evidence = evidence
        self._limits = image_limits or ImageLimits()
        # Evidence videos: as large as any file, at most ten minutes, a frame a second hashed.
        self._video_limits = VideoLimits(max_bytes=self._limits.max_bytes, max_seconds=600.0)
        self._throttle = throttle or ThrottlePolicy()
        self._clock = clock

    # -- submitting ---------------------------------------------------------------

    def _charges(self, reporter: Reporter | None) -> list[Charge]:
        quotas = self._quotas
        if reporter is None or quotas is None:
            return []
        # A quota without rates (switched off) counts nothing: it is left out.
        if reporter.partner is not None:
            return [(quotas.per_partner, str(reporter.partner))] if quotas.per_partner.rates else []
        if reporter.network is not None:
            charges: list[Charge] = []
            if quotas.per_client.rates:
                # Counted under a keyed hash: the rate store never holds an address.
                client = self._keys.keyed_hash("rate-client", reporter.network)
                charges.append((quotas.per_client, client))
            if quotas.overall.rates:
                charges.append((quotas.overall, "all"))
            return charges
        return []

    def limits_reports_of(self, reporter: Reporter | None) -> bool:
        """Whether any limit on new reports applies to ``reporter`` (no store is asked)."""
        return self._rates is not None and bool(self._charges(reporter))

    def check_report_rate(self, reporter: Reporter | None) -> None:
        """ReportsLimited when ``reporter`` may not send a report now; counts nothing.

        Asked before a request's body is read, so that a refused flood costs little.
        """
        charges = self._charges(reporter)
        if self._rates is not None and charges:
            wait = self._rates.wait(charges)
            if wait:
                raise ReportsLimited(wait, self._country)

    def _count_report(self, reporter: Reporter | None) -> None:
        charges = self._charges(reporter)
        if self._rates is not None and charges:
            wait = self._rates.take(charges)
            if wait:
                raise ReportsLimited(wait, self._country)

    def upload_sink(self, field: str) -> UploadSink:
        """Where the evidence file of ``field`` is streamed to as it arrives."""
        return UploadSink(self._evidence.begin(), field, self._limits.max_bytes)

    def store(self, upload: Upload) -> StoredUpload:
        """Seal an evidence file held in memory into storage (as :meth:`upload_sink` does)."""
        sink = self.upload_sink(upload.field)
        try:
            sink.write(upload.data)
            return sink.finish()
        except BaseException:
            sink.abort()
            raise

    def discard(self, uploads: Sequence[StoredUpload]) -> None:
        """Delete stored evidence files that no report will own."""
        for upload in uploads:
            self._evidence.delete(upload.storage_key)

    def submit(
        self,
        new: NewReport,
        uploads: Sequence[Upload | StoredUpload] = (),
        idempotency_key: str | None = None,
        reporter: Reporter | None = None,
    ) -> Receipt:
        """Store a report durably and return its receipt (only after the commit).

        ``uploads`` are evidence files already in storage (streamed there as they arrived), or
        in memory (stored first). Their pixels are decoded from storage for the PDQ hash. When
        no new report is committed (a refusal, a failure, an idempotent replay) the stored files
        are deleted. With an ``idempotency_key``, a retry of the same request returns the first
        receipt; a different request under the same key is refused. A ``reporter`` is held to
        the limits on new reports (ReportsLimited): a report counts once it has passed every
        check, and a replayed one does not count again.
        """
        stored: list[StoredUpload] = []
        committed = False
        try:
            for upload in uploads:
                stored.append(upload if isinstance(upload, StoredUpload) else self.store(upload))
            receipt = self._submit(new, stored, idempotency_key, reporter)
            committed = not receipt.replayed
            return receipt
        finally:
            if not committed:
                self.discard(stored)

    def _submit(
        self,
        new: NewReport,
        uploads: list[StoredUpload],
        idempotency_key: str | None,
        reporter: Reporter | None,
    ) -> Receipt:
        if not (new.description or new.urls or uploads):
            raise ReportRejected(
                "description",
                "nothing_reported",
                "describe what happened, or give a link or a file",
            )
        hashes = [self._hash_upload(upload) for upload in uploads]
        key_hash = request_hash = None
        if idempotency_key is not None:
            key_hash = self._keys.keyed_hash("idempotency", idempotency_key)
            request_hash = _request_fingerprint(new, hashes)
            earlier = self._replay(key_hash, request_hash)
            if earlier:
                return earlier
        self._count_report(reporter)
        found = match_or_nothing(self._matcher, hashes)
        storage_keys = [upload.storage_key for upload in uploads]
        try:
            return self._commit_new(new, hashes, storage_keys, key_hash, request_hash, found)
        except IntegrityError:
            if key_hash is None or request_hash is None:
                raise
            # Another request with the same key committed first: answer as it did.
            earlier = self._replay(key_hash, request_hash)
            if earlier is None:
                raise
            return earlier

    def _hash_upload(self, upload: StoredUpload) -> FileHashes:
        try:
            with self._evidence.open(upload.storage_key) as source:
                head = source.read(512)
                source.seek(0)
                if sniff_video_type(head) is not None:
                    return _video_hashes(hash_video_file(source, self._video_limits))
                return hash_image_file(source, upload.digests, self._limits)
        except (ImageRejected, VideoRejected) as exc:
            raise ReportRejected(upload.field, exc.code, exc.message) from exc

    def _replay(self, key_hash: str, request_hash: str) -> Receipt | None:
        with self._db.sessions() as session:
            record = session.get(IdempotencyRecord, key_hash)
            if record is None:
                return None
            if record.request_hash != request_hash:
                raise IdempotencyConflict()
            answer = json.loads(self._keys.open_text(record.response_sealed, f"idem:{key_hash}"))
        return Receipt(
            reference=answer["reference"],
            pin=answer["pin"],
            status=rules.Status(answer["status"]),
            category=rules.Category(answer["category"]),
            child_in_danger=bool(answer["child_in_danger"]),
            replayed=True,
        )

    def _commit_new(
        self,
        new: NewReport,
        hashes: list[FileHashes],
        storage_keys: list[str],
        key_hash: str | None,
        request_hash: str | None,
        found: list[ItemResult],
    ) -> Receipt:
        now = self._clock()
        # Whether a file is in a bank is known before the report is written: its priority
        # is written once (no UPDATE after the evidence rows).
        matched_any = any(result.matches for result in found)
        for attempt in range(3):
            reference, pin = rules.new_reference(), rules.new_pin()
            row = self._report_row(new, reference, pin, now, matched=matched_any)
            try:
                with self._db.transaction() as session:
                    # Not the ORM's unit of work: it cost more CPU than the rest of the
                    # report's statements together (issue 16).
                    report_id = _insert_report(session, row)
                    matched = (
                        _add_evidence_rows(session, report_id, hashes, storage_keys, found, now)
                        if hashes
                        else 0
                    )
                    if self._on_urls is not None and new.urls:
                        self._on_urls(session, report_id, new.urls, now)
                    if self._on_report is not None:
                        made = MadeReport(
                            report_id=report_id,
                            reference=reference,
                            category=row["category"],
                            child_in_danger=row["child_in_danger"],
                            owner_agency=row["owner_agency"],
                            source=row["source"],
                        )
                        self._on_report(session, made, now)
                    receipt = Receipt(
                        reference=reference,
                        pin=pin,
                        status=rules.Status.RECEIVED,
                        category=new.category,
                        child_in_danger=new.child_in_danger,
                        evidence=tuple(hashes),
                    )
                    if key_hash is not None and request_hash is not None:
                        session.add(
                            self._idempotency_row(key_hash, request_hash, report_id, now, receipt)
                        )
                    # Last: on PostgreSQL the entry and the COMMIT are one message (audit.service).
                    audit.append_and_commit(
                        session,
                        actor=PUBLIC_ACTOR,
                        action="report.created",
                        subject_type="report",
                        subject_id=reference,
                        now=now,
                        details={
                            "category": new.category.value,
                            "source": new.source,
                            "child_in_danger": new.child_in_danger,
                            "evidence": [h.sha256 for h in hashes],
                            "bank_matches": matched,
                        },
                    )
                self._committed(receipt)
                return receipt
            except IntegrityError:
                if attempt == 2 or not _reference_taken(self._db, reference):
                    raise
        raise AssertionError("unreachable")

    def _committed(self, receipt: Receipt) -> None:
        """Tell the root a report committed; a failure there must not fail a kept report."""
        if self._after_commit is None:
            return
        try:
            self._after_commit(receipt)
        except Exception:  # the tick picks up what an enqueue missed
            logging.getLogger(__name__).exception(
                "after-commit hook failed for %s", receipt.reference
            )

    def _report_row(
        self, new: NewReport, reference: str, pin: str, now: datetime, *, matched: bool
    ) -> dict[str, Any]:
        """The values of a new report's row (``_INSERT_REPORT``)."""
        seal = self._keys.seal_text
        priority = rules.initial_priority(
            child_in_danger=new.child_in_danger, category=new.category
        )
        return {
            "reference": reference,
            "pin_hash": self._pin_hash(reference, pin),
            "category": new.category.value,
            "status": rules.Status.RECEIVED.value,
            "owner_agency": new.owner_agency or self._owner_agency,
            "priority": rules.priority_after_match(priority, matched=matched),
            "child_in_danger": new.child_in_danger,
            "child_age_range": new.child_age_range.value if new.child_age_range else None,
            "language": new.language,
            "source": new.source,
            "platform": new.platform,
            "urls": list(new.urls),
            "description_sealed": (
                seal(new.description, f"report:{reference}:description")
                if new.description
                else None
            ),
            "usernames_sealed": (
                seal(json.dumps(list(new.usernames)), f"report:{reference}:usernames")
                if new.usernames
                else None
            ),
            "contact_sealed": (
                seal(json.dumps(new.contact), f"report:{reference}:contact")
                if new.contact
                else None
            ),
            "created_at": now,
            "updated_at": now,
            "public_stage": rules.PublicStage.RECEIVED.value,
            "public_changed_at": now,
        }

    def _idempotency_row(
        self, key_hash: str, request_hash: str, report_id: int, now: datetime, receipt: Receipt
    ) -> IdempotencyRecord:
        answer = {
            "reference": receipt.reference,
            "pin": receipt.pin,
            "status": receipt.status.value,
            "category": receipt.category.value,
            "child_in_danger": receipt.child_in_danger,
        }
        return IdempotencyRecord(
            key_hash=key_hash,
            request_hash=request_hash,
            report_id=report_id,
            response_sealed=self._keys.seal_text(json.dumps(answer), f"idem:{key_hash}"),
            created_at=now,
        )

    def _pin_hash(self, reference: str, pin: str) -> str:
        return self._keys.keyed_hash("pin", f"{reference}:{pin}")

    # -- following a report -------------------------------------------------------

    def status(self, reference: str, pin: str, client: str) -> PublicStatus:
        """The public status of a report, given its reference and PIN, with the staff's
        messages to the reporter.

        Wrong or unknown references and PINs fail alike (ReportNotFound), and
        count towards a lock-out per reference and per client (Throttled).
        """
        report_id = self._check_pin(reference, pin, client)
        with self._db.reading() as session:
            report = session.get(Report, report_id)
            if report is None:
                raise ReportNotFound()
            messages = tuple(
                PublicMessage(
                    at=m.created_at,
                    text=self._keys.open_text(m.body_sealed, _message_context(report.reference)),
                )
                for m in session.scalars(
                    select(ReportMessage)
                    .where(ReportMessage.report_id == report_id, ReportMessage.sender == "staff")
                    .order_by(ReportMessage.id)
                )
                if m.body_sealed is not None
            )
            return public_status_of(
                rules.PublicStage(report.public_stage), report.public_changed_at, messages
            )

    def _check_pin(self, reference: str, pin: str, client: str) -> int:
        """The id of the report with this reference and PIN (ReportNotFound, Throttled).

        The attempt is taken (and committed) before the PIN is looked at: however many
        arrive at once, no more than the limits are evaluated; a right PIN gives it back.
        """
        valid_ref = rules.normalise_reference(reference)
        canonical_ref = valid_ref or reference.strip().upper()[:40]
        canonical_pin = rules.normalise_pin(pin)
        now = self._clock()
        ref_key = self._keys.keyed_hash("throttle-ref", canonical_ref)
        client_key = self._keys.keyed_hash("throttle-client", client)
        policy = self._throttle
        keys = ((client_key, policy.per_client), (ref_key, policy.per_reference))
        throttle.take_attempts(self._db, keys, window=policy.window, lock=policy.lock, now=now)
        with self._db.transaction() as session:
            # A malformed reference names no report (and may hold a NUL, which PostgreSQL
            # refuses): skip the lookup, but count the failure all the same.
            report = (
                session.scalar(select(Report).where(Report.reference == valid_ref))
                if valid_ref is not None
                else None
            )
            if (
                report is not None
                and canonical_pin is not None
                and self._keys.verify_keyed_hash(
                    "pin", f"{canonical_ref}:{canonical_pin}", report.pin_hash
                )
            ):
                # Only failures stay counted.
                for key, limit in keys:
                    throttle.give_back(session, key, limit)
                return report.id
        raise ReportNotFound()

    def add_information(
        self,
        reference: str,
        pin: str,
        client: str,
        *,
        message: str = "",
        urls: Sequence[str] = (),
        uploads: Sequence[Upload | StoredUpload] = (),
        reporter: Reporter | None = None,
    ) -> None:
        """The reporter adds to a report with its reference and PIN: a message, links, files.

        Checked as a report is (links, files), held to the same limits; the message is sealed,
        the links join the report's (the hotline folds them), the files its evidence; audited.
        """
        stored: list[StoredUpload] = []
        committed = False
        try:
            for upload in uploads:
                stored.append(upload if isinstance(upload, StoredUpload) else self.store(upload))
            report_id = self._check_pin(reference, pin, client)
            text = rules.clean_text("message", message, MAX_MESSAGE, multiline=True)
            links = tuple(rules.check_url(f"urls[{i}]", u) for i, u in enumerate(urls))
            if not (text or links or stored):
                raise ReportRejected(
                    "message", "nothing_added", "write a message, or give a link or a file"
                )
            hashes = [self._hash_upload(upload) for upload in stored]
            self._count_report(reporter)
            found = match_or_nothing(self._matcher, hashes)
            now = self._clock()
            with self._db.transaction() as session:
                report = session.get(Report, report_id)
                if report is None:
                    raise ReportNotFound()
                matched = _add_evidence(
                    session, report, hashes, [u.storage_key for u in stored], found, now
                )
                if links:
                    report.urls = [*report.urls, *(u for u in links if u not in report.urls)]
                    if self._on_urls is not None:
                        self._on_urls(session, report.id, links, now)
                report.updated_at = now
                session.add(
                    ReportMessage(
                        report_id=report.id,
                        sender="reporter",
                        body_sealed=(
                            self._keys.seal_text(text, _message_context(report.reference))
                            if text
                            else None
                        ),
                        urls=list(links),
                        files=len(stored),
                        created_at=now,
                    )
                )
                audit.append(
                    session,
                    actor=PUBLIC_ACTOR,
                    action="report.information_added",
                    subject_type="report",
                    subject_id=report.reference,
                    now=now,
                    details={
                        "message": bool(text),
                        "urls": len(links),
                        "evidence": [h.sha256 for h in hashes],
                        "bank_matches": matched,
                    },
                )
            committed = True
        except rules.RuleViolation as exc:
            raise ReportRejected(exc.field, exc.code, exc.message) from None
        finally:
            if not committed:
                self.discard(stored)

    # -- changing a report --------------------------------------------------------

    def set_status(
        self, reference: str, status: rules.Status, *, actor: str, reason: str | None = None
    ) -> None:
        """Move a report to ``status`` and audit the change; the public stage follows."""
        now = self._clock()
        with self._db.transaction() as session:
            report = session.scalar(select(Report).where(Report.reference == reference))
            if report is None:
                raise ReportNotFound()
            before = report.status
            report.status, report.updated_at = status.value, now
            stage, reopen = rules.stage_event_of_status_change(rules.Status(before), status)
            advance_public_stage(session, [report.id], stage, now, actor=actor, reopen=reopen)
            audit.append(
                session,
                actor=actor,
                action="report.status_changed",
                subject_type="report",
                subject_id=reference,
                now=now,
                reason=reason,
                details={"from": before, "to": status.value},
            )


def _evidence_row(report_id: int, digest: FileHashes, storage_key: str, now: datetime) -> Evidence:
    return Evidence(
        report_id=report_id,
        storage_key=storage_key,
        media_type=digest.media_type,
        size_bytes=digest.size_bytes,
        width=digest.width,
        height=digest.height,
        md5=digest.md5,
        sha256=digest.sha256,
        pdq=digest.pdq,
        pdq_quality=digest.pdq_quality,
        vpdq=digest.vpdq,
        created_at=now,
    )


def _add_evidence(
    session: Session,
    report: Report,
    hashes: list[FileHashes],
    storage_keys: list[str],
    found: list[ItemResult],
    now: datetime,
) -> int:
    """Store the evidence rows and their bank matches; a match raises the priority."""
    matched = _add_evidence_rows(session, report.id, hashes, storage_keys, found, now)
    report.priority = rules.priority_after_match(report.priority, matched=bool(matched))
    return matched


def _add_evidence_rows(
    session: Session,
    report_id: int,
    hashes: list[FileHashes],
    storage_keys: list[str],
    found: list[ItemResult],
    now: datetime,
) -> int:
    """Store the evidence rows of a report and their bank matches; the number of matches."""
    rows = [
        _evidence_row(report_id, digest, storage_key, now)
        for digest, storage_key in zip(hashes, storage_keys, strict=True)
    ]
    session.add_all(rows)
    session.flush()
    matches = evidence_match_rows([row.id for row in rows], found, now)
    session.add_all(matches)
    return len(matches)


# A new report's row: a Core statement, compiled once (SQLAlchemy's cache) for every report;
# on PostgreSQL the same INSERT straight to the driver (store.driver), its JSON column wrapped.
_REPORTS = cast(Table, Report.__table__)
_INSERT_REPORT = insert(_REPORTS).returning(_REPORTS.c.id)
# Compiled once for psycopg: SQLAlchemy's text of the same statement, every column but the id.
_INSERT_REPORT_PG = str(
    _INSERT_REPORT.compile(
        dialect=postgresql.psycopg.dialect(),  # type: ignore[no-untyped-call]
        column_keys=[c.key for c in _REPORTS.columns if c.key != "id"],
    )
)


def _insert_report(session: Session, row: dict[str, Any]) -> int:
    """Insert a new report's row (every column but the id); its id."""
    if driver.is_postgresql(session):
        params = {**row, "urls": Json(row["urls"])}
        [(report_id,)] = driver.fetch(session, _INSERT_REPORT_PG, params)
        return int(report_id)
    return int(session.connection().execute(_INSERT_REPORT, row).scalar_one())


def _reference_taken(db: Database, reference: str) -> bool:
    with db.sessions() as session:
        return session.scalar(select(Report.id).where(Report.reference == reference)) is not None


def _request_fingerprint(new: NewReport, hashes: list[FileHashes]) -> str:
    data: dict[str, Any] = asdict(new)
    data["files"] = [h.sha256 for h in hashes]
    blob = json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


MAX_MESSAGE = 5000


def _message_context(reference: str) -> str:
    return f"report:{reference}:messages"


def write_to_reporter(
    session: Session,
    keyring: KeyRing,
    report: Report,
    *,
    agency: str,
    author: str,
    text: str,
    now: datetime,
) -> None:
    """A question or a message from the staff, shown on the report's status page; audited
    (who wrote it, not what: the text is sealed with the report)."""
    try:
        body = rules.clean_text("text", text, MAX_MESSAGE, multiline=True)
    except rules.RuleViolation as exc:
        raise ReportRejected(exc.field, exc.code, exc.message) from None
    if not body:
        raise ReportRejected("text", "missing", "write the message")
    session.add(
        ReportMessage(
            report_id=report.id,
            sender="staff",
            agency=agency,
            author=author,
            body_sealed=keyring.seal_text(body, _message_context(report.reference)),
            urls=[],
            files=0,
            created_at=now,
        )
    )
    audit.append(
        session,
        actor=author,
        action="report.message_sent",
        subject_type="report",
        subject_id=report.reference,
        now=now,
        details={"agency": agency},
    )


@dataclass(frozen=True)
class StaffMessageView:
    """One message of a report's conversation, for the staff who work it."""

    at: datetime
    sender: str
    author: str | None
    agency: str | None
    text: str | None
    urls: tuple[str, ...]
    files: int


def conversation(session: Session, keyring: KeyRing, report: Report) -> list[StaffMessageView]:
    """Every message of a report, oldest first, opened (for those who may read personal data)."""
    rows = session.scalars(
        select(ReportMessage).where(ReportMessage.report_id == report.id).order_by(ReportMessage.id)
    )
    return [
        StaffMessageView(
            at=m.created_at,
            sender=m.sender,
            author=m.author,
            agency=m.agency,
            text=(
                keyring.open_text(m.body_sealed, _message_context(report.reference))
                if m.body_sealed is not None
                else None
            ),
            urls=tuple(str(u) for u in m.urls),
            files=m.files,
        )
        for m in rows
    ]


def _video_hashes(video: VideoHashes) -> FileHashes:
    """A video's digests and vPDQ as an evidence file's hashes."""
    return FileHashes(
        md5=video.md5,
        sha256=video.sha256,
        pdq=None,
        pdq_quality=None,
        media_type=video.media_type,
        width=video.width,
        height=video.height,
        size_bytes=video.size_bytes,
        vpdq=video.vpdq,
    )
