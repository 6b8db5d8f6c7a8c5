"""Partner platforms' reports through the CyberTipline Reporting API's shape.

A partner opens a report (``submit``), uploads its files (each sealed into evidence storage as
it streams in, with its MD5 and SHA-256), describes them (``file_info``) and ``finish``es it:
then intake takes it as any report, source "partner", with its files as evidence (hashed,
matched), its links folded into content items, a sextortion report routed as one and a child
in danger referred to the police duty desk. ``retract`` leaves nothing but an audit entry;
an open report not finished in time expires (:meth:`PlatformsService.expire`, the worker's
tick). Another partner's report answers as one that does not exist.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from tarcza.audit import service as audit
from tarcza.crypto import KeyRing
from tarcza.hashing.images import sniff_media_type
from tarcza.hashing.partners import PartnerScope, authenticate
from tarcza.hashing.service import FileDigests
from tarcza.hashing.videos import sniff_video_type
from tarcza.intake import rules as intake_rules
from tarcza.intake.models import Report
from tarcza.intake.service import (
    IntakeService,
    NewReport,
    Reporter,
    ReportRejected,
    StoredUpload,
    UploadSink,
)
from tarcza.platforms import rules
from tarcza.platforms.models import PartnerSubmission, PartnerSubmissionFile
from tarcza.platforms.rules import Code, IspwsRefused
from tarcza.store.base import utcnow
from tarcza.store.engine import Database

OPEN, FINISHING, FINISHED = "open", "finishing", "finished"
#: Bytes of a file's start kept to tell what kind of file it is.
HEAD_BYTES = 64

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileReceipt:
    """An uploaded file: its id and its MD5, as the API answers them."""

    report_id: int
    file_id: str
    md5: str


@dataclass(frozen=True)
class Finished:
    """A finished report: its id, its files, and the tarcza report it became."""

    report_id: int
    file_ids: tuple[str, ...]
    reference: str


@dataclass(frozen=True)
class SubmissionState:
    """A partner's report as the partner may read it: its state and the hotline's outcome."""

    report_id: int
    state: str
    reference: str | None
    stage: str | None
    status: str | None


def _actor(partner: PartnerScope) -> str:
    return f"partner:{partner.name}"


def _context(submission_id: int) -> str:
    return f"ispws:{submission_id}"


class PlatformsService:
    """The /ispws operations; intake takes the finished reports."""

    def __init__(
        self,
        db: Database,
        keyring: KeyRing,
        intake: IntakeService,
        *,
        expire_after: timedelta = timedelta(hours=24),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._keys = keyring
        self._intake = intake
        self._expire_after = expire_after
        self._clock = clock

    # -- who ------------------------------------------------------------------------------

    def authenticate(self, username: str, password: str) -> PartnerScope | None:
        """The enabled partner called ``username`` whose key is ``password``; else None.

        The key is looked up by its keyed hash; the name compared in constant time.
        """
        with self._db.sessions() as session:
            scope = authenticate(session, self._keys, password)
        if scope is None or not hmac.compare_digest(
            scope.name.encode("utf-8"), username.encode("utf-8")
        ):
            return None
        return scope

    # -- submitting -----------------------------------------------------------------------

    def submit(self, partner: PartnerScope, raw: bytes) -> int:
        """Open a report from its XML (validated; IspwsRefused); returns its id."""
        rules.read_report(rules.parse(raw, "report"))
        now = self._clock()
        with self._db.transaction() as session:
            row = PartnerSubmission(
                partner_id=partner.id, state=OPEN, xml_sealed=b"", created_at=now
            )
            session.add(row)
            session.flush()
            row.xml_sealed = self._keys.seal(raw, _context(row.id))
            self._audit(session, partner, "platform.report_opened", row.id, now)
            return row.id

    def upload_sink(self, field: str) -> UploadSink:
        """Where an uploaded file streams to (sealed evidence storage, digested)."""
        return self._intake.upload_sink(field)

    def discard(self, uploads: Sequence[StoredUpload]) -> None:
        """Delete uploaded files no report will own."""
        self._intake.discard(uploads)

    def add_file(
        self, partner: PartnerScope, report_id: int, upload: StoredUpload, head: bytes
    ) -> FileReceipt:
        """Attach a stored file to an open report of the partner's; on any refusal the
        file is deleted (IspwsRefused)."""
        try:
            if sniff_media_type(head) is None and sniff_video_type(head) is None:
                raise IspwsRefused(
                    Code.MALFORMED_FILE, "tarcza takes images (JPEG, PNG, GIF, WebP) and videos"
                )
            now = self._clock()
            with self._db.transaction() as session:
                row = self._open(session, partner, report_id)
                file_id = secrets.token_hex(16)
                session.add(
                    PartnerSubmissionFile(
                        submission_id=row.id,
                        file_id=file_id,
                        storage_key=upload.storage_key,
                        md5=upload.digests.md5,
                        sha256=upload.digests.sha256,
                        size_bytes=upload.digests.size_bytes,
                        created_at=now,
                    )
                )
            return FileReceipt(report_id, file_id, upload.digests.md5)
        except BaseException:
            self._intake.discard([upload])
            raise

    def file_info(self, partner: PartnerScope, raw: bytes) -> int:
        """Record a file's details (validated XML); returns the report id."""
        info = rules.read_file_details(rules.parse(raw, "fileDetails"))
        with self._db.transaction() as session:
            row = self._open(session, partner, info.report_id)
            file = session.scalar(
                select(PartnerSubmissionFile).where(
                    PartnerSubmissionFile.submission_id == row.id,
                    PartnerSubmissionFile.file_id == info.file_id,
                )
            )
            if file is None:
                raise IspwsRefused(Code.VALIDATION_FAILED, "no such fileId in this report")
            file.classification = info.classification
            file.details_sealed = self._keys.seal(raw, _context(row.id))
        return info.report_id

    def finish(self, partner: PartnerScope, report_id: int) -> Finished:
        """Make the report a tarcza report (through intake); its files become evidence."""
        with self._db.transaction() as session:
            row = self._open(session, partner, report_id)
            # Claimed while the row is locked: a second finish (or a retract) finds it taken.
            row.state = FINISHING
            raw = self._keys.open(row.xml_sealed, _context(row.id))
            files = self._files(session, row.id)
        uploads = [
            StoredUpload(
                rules.FILE_FIELD.format(file_id=f.file_id),
                f.storage_key,
                FileDigests(f.md5, f.sha256, f.size_bytes),
            )
            for f in files
        ]
        reporter = Reporter(partner=partner.id)
        try:
            self._intake.check_report_rate(reporter)
        except BaseException:
            self._set_state(report_id, OPEN)
            raise
        try:
            receipt = self._intake.submit(self._new_report(partner, raw), uploads, None, reporter)
        except BaseException as exc:
            # intake deleted the files of a report it did not keep: so goes the submission.
            self._drop(partner, report_id, "platform.report_refused", str(exc)[:200])
            if isinstance(exc, ReportRejected):
                raise IspwsRefused(Code.MALFORMED_FILE, f"{exc.field}: {exc}") from None
            raise
        now = self._clock()
        with self._db.transaction() as session:
            report = session.scalar(select(Report.id).where(Report.reference == receipt.reference))
            session.execute(
                update(PartnerSubmission)
                .where(PartnerSubmission.id == report_id)
                .values(state=FINISHED, report_id=report, finished_at=now)
            )
            self._audit(
                session, partner, "platform.report_finished", report_id, now,
                {"report": receipt.reference, "files": len(files)},
            )  # fmt: skip
        return Finished(report_id, tuple(f.file_id for f in files), receipt.reference)

    def _new_report(self, partner: PartnerScope, raw: bytes) -> NewReport:
        parsed = rules.read_report(rules.parse(raw, "report"))
        urls: list[str] = []
        unusable: list[str] = []
        for i, url in enumerate(parsed.urls):
            try:
                checked = intake_rules.check_url(f"urls[{i}]", url)
            except intake_rules.RuleViolation:
                unusable.append(url)
                continue
            if len(urls) < intake_rules.MAX_URLS:
                urls.append(checked)
        description = parsed.description
        if unusable:
            description += "\nLinks tarcza could not use: " + ", ".join(unusable)
        usernames = tuple(
            u for u in parsed.usernames if len(u) <= intake_rules.MAX_USERNAME and u.isprintable()
        )[: intake_rules.MAX_USERNAMES]
        return NewReport(
            category=intake_rules.Category(parsed.category),
            description=description[: intake_rules.MAX_DESCRIPTION].strip(),
            urls=tuple(urls),
            child_in_danger=parsed.child_in_danger,
            platform=partner.name[: intake_rules.MAX_PLATFORM],
            usernames=usernames,
            language="en",
            source="partner",
        )

    def retract(self, partner: PartnerScope, report_id: int) -> None:
        """Cancel an open report: its files and rows go, an audit entry stays."""
        self._drop(partner, report_id, "platform.report_retracted", expect=OPEN)

    # -- reading --------------------------------------------------------------------------

    def state(self, partner: PartnerScope, report_id: int) -> SubmissionState:
        """A report's state and, once it is a tarcza report, its stage and status."""
        with self._db.sessions() as session:
            row = self._owned(session, partner, report_id)
            report = session.get(Report, row.report_id) if row.report_id is not None else None
            return SubmissionState(
                report_id=row.id,
                state=row.state,
                reference=report.reference if report else None,
                stage=report.public_stage if report else None,
                status=report.status if report else None,
            )

    # -- expiry ---------------------------------------------------------------------------

    def expire(self) -> int:
        """Delete the open reports older than the expiry, with their files (audited)."""
        cutoff = self._clock() - self._expire_after
        with self._db.sessions() as session:
            due = list(
                session.execute(
                    select(PartnerSubmission.id, PartnerSubmission.partner_id).where(
                        PartnerSubmission.state == OPEN, PartnerSubmission.created_at < cutoff
                    )
                )
            )
        for submission_id, partner_id in due:
            scope = PartnerScope(id=partner_id, name=str(partner_id), banks={})
            try:
                self._drop(
                    scope, submission_id, "platform.report_expired", actor="system", expect=OPEN
                )
            except IspwsRefused:  # finished or retracted meanwhile
                continue
        return len(due)

    # -- helpers --------------------------------------------------------------------------

    def _owned(
        self, session: Session, partner: PartnerScope, report_id: int, *, lock: bool = False
    ) -> PartnerSubmission:
        row = session.get(PartnerSubmission, report_id, with_for_update=lock)
        if row is None or row.partner_id != partner.id:
            raise IspwsRefused(Code.REPORT_DOES_NOT_EXIST)
        return row

    def _open(self, session: Session, partner: PartnerScope, report_id: int) -> PartnerSubmission:
        """The partner's open submission, locked until the transaction ends (a file added, a
        finish and a retract of one report take turns)."""
        row = self._owned(session, partner, report_id, lock=True)
        if row.state != OPEN:
            raise IspwsRefused(Code.REPORT_ALREADY_FINISHED)
        return row

    @staticmethod
    def _files(session: Session, submission_id: int) -> Sequence[PartnerSubmissionFile]:
        return session.scalars(
            select(PartnerSubmissionFile)
            .where(PartnerSubmissionFile.submission_id == submission_id)
            .order_by(PartnerSubmissionFile.id)
        ).all()

    def _set_state(self, report_id: int, state: str) -> None:
        with self._db.transaction() as session:
            session.execute(
                update(PartnerSubmission)
                .where(PartnerSubmission.id == report_id)
                .values(state=state)
            )

    def _drop(
        self,
        partner: PartnerScope,
        report_id: int,
        action: str,
        reason: str | None = None,
        *,
        actor: str | None = None,
        expect: str | None = None,
    ) -> None:
        """Delete a submission and its files; the audit log keeps that it was.

        With ``expect``, only the partner's submission in that state (else IspwsRefused).
        """
        now = self._clock()
        with self._db.transaction() as session:
            if expect is not None:
                row = self._open(session, partner, report_id)
            else:
                found = session.get(PartnerSubmission, report_id, with_for_update=True)
                if found is None:
                    return
                row = found
            files = self._files(session, row.id)
            keys = [f.storage_key for f in files]
            session.execute(
                delete(PartnerSubmissionFile).where(PartnerSubmissionFile.submission_id == row.id)
            )
            partner_id = row.partner_id
            session.delete(row)
            session.flush()
            audit.append(
                session,
                actor=actor or _actor(partner),
                action=action,
                subject_type="partner_submission",
                subject_id=str(report_id),
                now=now,
                reason=reason,
                details={"partner": partner_id, "files": len(keys)},
            )
        self._intake.discard([StoredUpload("file", key, FileDigests("", "", 0)) for key in keys])

    @staticmethod
    def _audit(
        session: Session,
        partner: PartnerScope,
        action: str,
        report_id: int,
        now: datetime,
        details: dict[str, object] | None = None,
    ) -> None:
        audit.append(
            session,
            actor=_actor(partner),
            action=action,
            subject_type="partner_submission",
            subject_id=str(report_id),
            now=now,
            details={"partner": partner.id, **(details or {})},
        )
