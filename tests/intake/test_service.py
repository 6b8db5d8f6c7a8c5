"""IntakeService with its real collaborators: the database, the key ring, the evidence store.

Runs on SQLite and on PostgreSQL. Images are synthetic (Pillow).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tarcza.audit import service as audit
from tarcza.audit.models import AuditEntry
from tarcza.config import Settings, load_keys
from tarcza.crypto import DecryptionError, KeyRing
from tarcza.hashing.service import FileHashes
from tarcza.intake import rules
from tarcza.intake.evidence_store import EvidenceStore
from tarcza.intake.models import Evidence, IdempotencyRecord, Report
from tarcza.intake.service import (
    IdempotencyConflict,
    IntakeService,
    NewReport,
    ReportNotFound,
    ReportRejected,
    Throttled,
    ThrottlePolicy,
    Upload,
)
from tarcza.store.engine import Database
from tests.support.keys import HMAC_KEY, KEY_A, KEY_B

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Intake:
    """A service and what it was built from."""

    service: IntakeService
    keyring: KeyRing
    store: EvidenceStore
    settings: Settings
    clock: Clock


def build(settings: Settings, db: Database, clock: Clock | None = None, **kwargs: Any) -> Intake:
    keyring = KeyRing(load_keys(settings))
    store = EvidenceStore(Path(settings.resolved_evidence_dir), keyring)
    clock = clock or Clock()
    service = IntakeService(db, keyring, store, clock=clock, **kwargs)
    return Intake(service, keyring, store, settings, clock)


def settings_with(settings: Settings, data_keys: str) -> Settings:
    return Settings(
        var_dir=settings.var_dir,
        data_keys=data_keys,
        hmac_key=HMAC_KEY,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def intake(settings: Settings, db: Database) -> Intake:
    return build(settings, db)


def png(colour: tuple[int, int, int] = (30, 160, 90), size: tuple[int, int] = (24, 16)) -> bytes:
    img = Image.new("RGB", size, colour)
    img.paste((255, 255, 255), (0, 0, size[0] // 2, size[1] // 2))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def new_report(**fields: Any) -> NewReport:
    values: dict[str, Any] = {
        "category": rules.Category.GROOMING,
        "description": "An adult asks a 12-year-old to move to a private chat.",
        "urls": ("https://example.com/chat/123",),
        "usernames": ("adult_user",),
        "contact": {"email": "parent@example.com"},
    }
    values.update(fields)
    return NewReport(**values)


def rows(db: Database, model: type[Any]) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def files_on_disk(settings: Settings) -> list[Path]:
    root = settings.resolved_evidence_dir
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def stored(db: Database, reference: str) -> Report:
    with db.sessions() as session:
        found = session.scalar(select(Report).where(Report.reference == reference))
    assert found is not None
    return found


# -- the receipt comes after the commit -------------------------------------------------------


def test_a_receipt_names_a_committed_report_and_its_evidence(intake: Intake, db: Database) -> None:
    image = png()

    receipt = intake.service.submit(new_report(), [Upload("files[0]", image)])

    report = stored(db, receipt.reference)  # read in a session of its own: committed
    assert report.status == "received" and receipt.status is rules.Status.RECEIVED
    with db.sessions() as session:
        evidence = session.scalars(select(Evidence)).one()
    assert evidence.report_id == report.id
    assert intake.store.get(evidence.storage_key) == image
    assert [h.sha256 for h in receipt.evidence] == [evidence.sha256]


def test_a_failing_audit_append_leaves_no_report_and_no_evidence_file(
    intake: Intake, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_append(session: Session, **kwargs: Any) -> None:
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(audit, "append", broken_append)  # the module the service calls
    monkeypatch.setattr(audit, "append_and_commit", broken_append)  # its last act

    with pytest.raises(RuntimeError, match="audit log unavailable"):
        intake.service.submit(
            new_report(), [Upload("files[0]", png()), Upload("files[1]", png((1, 2, 3)))], "key-1"
        )

    assert rows(db, Report) == rows(db, Evidence) == rows(db, IdempotencyRecord) == 0
    assert files_on_disk(intake.settings) == []


def test_a_database_error_at_the_last_insert_leaves_nothing_behind(
    intake: Intake, db: Database
) -> None:
    # The database itself refuses the audit entry (on PostgreSQL the entry, its chaining and
    # the COMMIT are one message to the database: no hook in the application sees it).
    with db.transaction() as session:
        for statement in _REFUSE_AUDIT[db.dialect]:
            session.execute(text(statement))
    try:
        with pytest.raises(DBAPIError, match="disk full"):
            intake.service.submit(new_report(), [Upload("files[0]", png())])
    finally:
        with db.transaction() as session:
            session.execute(
                text(
                    "DROP TRIGGER refuse_audit ON audit_log"
                    if db.dialect == "postgresql"
                    else "DROP TRIGGER refuse_audit"
                )
            )

    assert rows(db, Report) == rows(db, Evidence) == rows(db, AuditEntry) == 0
    assert files_on_disk(intake.settings) == []


_REFUSE_AUDIT = {
    "sqlite": [
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$",
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
    ],
}


def test_a_failing_commit_gives_no_receipt_and_leaves_nothing_behind(
    intake: Intake, db: Database
) -> None:
    if db.dialect == "postgresql":
        # The COMMIT goes with the audit entry: the database refuses it (a deferred check).
        setup = [
            "CREATE OR REPLACE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'commit refused'; END $$",
            "CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT ON reports "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit()",
        ]
        with db.transaction() as session:
            for statement in setup:
                session.execute(text(statement))
        try:
            with pytest.raises(DBAPIError, match="commit refused"):
                intake.service.submit(new_report(), [Upload("files[0]", png())])
        finally:
            with db.transaction() as session:
                session.execute(text("DROP TRIGGER refuse_commit ON reports"))
    else:

        def refuse_commit(session: Session) -> None:
            raise RuntimeError("commit refused")

        event.listen(db.sessions, "before_commit", refuse_commit)
        try:
            with pytest.raises(RuntimeError, match="commit refused"):
                intake.service.submit(new_report(), [Upload("files[0]", png())])
        finally:
            event.remove(db.sessions, "before_commit", refuse_commit)

    assert rows(db, Report) == rows(db, Evidence) == rows(db, AuditEntry) == 0
    assert files_on_disk(intake.settings) == []


def test_a_bad_file_refuses_the_whole_report_before_anything_is_stored(
    intake: Intake, db: Database
) -> None:
    with pytest.raises(ReportRejected) as caught:
        intake.service.submit(
            new_report(), [Upload("files[0]", png()), Upload("files[1]", b"%PDF-1.4 not an image")]
        )

    assert (caught.value.field, caught.value.code) == ("files[1]", "unsupported_type")
    assert rows(db, Report) == 0
    assert files_on_disk(intake.settings) == []


def test_a_report_that_says_nothing_is_refused(intake: Intake, db: Database) -> None:
    with pytest.raises(ReportRejected) as caught:
        intake.service.submit(new_report(description="", urls=()))
    assert caught.value.code == "nothing_reported"
    assert rows(db, Report) == 0


def test_a_failing_matcher_costs_the_matches_not_the_report(
    settings: Settings, db: Database
) -> None:
    class BrokenMatcher:
        def match_files(self, files: list[FileHashes]) -> list[Any]:
            raise ConnectionError("index gone")

    intake = build(settings, db, matcher=BrokenMatcher())

    receipt = intake.service.submit(new_report(), [Upload("files[0]", png())])

    assert stored(db, receipt.reference).priority == rules.initial_priority(
        child_in_danger=False, category=rules.Category.GROOMING
    )
    assert rows(db, Evidence) == 1


# -- personal data is sealed -------------------------------------------------------------------


def test_free_text_usernames_and_contact_are_sealed_to_their_report(
    intake: Intake, db: Database
) -> None:
    receipt = intake.service.submit(new_report())
    report = stored(db, receipt.reference)
    ref = receipt.reference

    assert report.description_sealed is not None and b"12-year-old" not in report.description_sealed
    assert intake.keyring.open_text(report.description_sealed, f"report:{ref}:description") == (
        new_report().description
    )
    assert report.usernames_sealed is not None and report.contact_sealed is not None
    assert json.loads(
        intake.keyring.open_text(report.usernames_sealed, f"report:{ref}:usernames")
    ) == ["adult_user"]
    assert json.loads(intake.keyring.open_text(report.contact_sealed, f"report:{ref}:contact")) == {
        "email": "parent@example.com"
    }
    # Bound to its row and field: the same blob does not open as another field or report.
    with pytest.raises(DecryptionError):
        intake.keyring.open_text(report.description_sealed, f"report:{ref}:contact")


# -- key rotation --------------------------------------------------------------------------------


def test_data_sealed_with_an_old_key_stays_readable_after_a_new_key_is_put_first(
    settings: Settings, db: Database
) -> None:
    old = build(settings_with(settings, f"k1:{KEY_A}"), db)
    image = png((200, 10, 10))
    before = old.service.submit(new_report(), [Upload("files[0]", image)], "rotate-1")
    with db.sessions() as session:
        storage_key = session.scalars(select(Evidence.storage_key)).one()

    rotated = build(settings_with(settings, f"k2:{KEY_B},k1:{KEY_A}"), db)

    report = stored(db, before.reference)
    assert report.description_sealed is not None
    assert rotated.keyring.open_text(
        report.description_sealed, f"report:{before.reference}:description"
    ) == (new_report().description)
    assert rotated.store.get(storage_key) == image
    # The idempotency record (sealed with k1) still answers a retry with the first receipt.
    replay = rotated.service.submit(new_report(), [Upload("files[0]", image)], "rotate-1")
    assert (replay.reference, replay.pin, replay.replayed) == (before.reference, before.pin, True)
    # PINs are keyed hashes under the HMAC key, which did not change.
    assert (
        rotated.service.status(before.reference, before.pin, "203.0.113.1").stage
        is rules.PublicStage.RECEIVED
    )


def test_after_rotation_new_data_is_sealed_with_the_new_key(
    settings: Settings, db: Database
) -> None:
    rotated = build(settings_with(settings, f"k2:{KEY_B},k1:{KEY_A}"), db)
    only_old = KeyRing(load_keys(settings_with(settings, f"k1:{KEY_A}")))

    receipt = rotated.service.submit(new_report(), [Upload("files[0]", png())])

    report = stored(db, receipt.reference)
    blob = report.description_sealed
    assert blob is not None and blob[3 : 3 + blob[2]] == b"k2"
    with pytest.raises(DecryptionError):
        only_old.open_text(blob, f"report:{receipt.reference}:description")
    with db.sessions() as session:
        storage_key = session.scalars(select(Evidence.storage_key)).one()
    sealed = rotated.store.raw(storage_key)
    assert sealed[3 : 3 + sealed[2]] == b"k2"


def test_data_sealed_with_a_key_that_was_removed_does_not_open(
    settings: Settings, db: Database
) -> None:
    old = build(settings_with(settings, f"k1:{KEY_A}"), db)
    receipt = old.service.submit(new_report())
    without_k1 = KeyRing(load_keys(settings_with(settings, f"k2:{KEY_B}")))
    blob = stored(db, receipt.reference).description_sealed
    assert blob is not None
    with pytest.raises(DecryptionError, match="unknown key id"):
        without_k1.open_text(blob, f"report:{receipt.reference}:description")


# -- idempotency ---------------------------------------------------------------------------------


def test_a_retry_returns_the_first_receipt_and_another_request_conflicts(
    intake: Intake, db: Database
) -> None:
    first = intake.service.submit(new_report(), idempotency_key="k")
    again = intake.service.submit(new_report(), idempotency_key="k")

    assert (again.reference, again.pin, again.replayed) == (first.reference, first.pin, True)
    with pytest.raises(IdempotencyConflict):
        intake.service.submit(new_report(description="something else"), idempotency_key="k")
    assert rows(db, Report) == 1


def test_the_idempotency_key_is_not_stored_in_clear(intake: Intake, db: Database) -> None:
    intake.service.submit(new_report(), idempotency_key="client-key-42")
    with db.sessions() as session:
        record = session.scalars(select(IdempotencyRecord)).one()
    assert "client-key-42" not in record.key_hash
    assert b"client-key-42" not in record.response_sealed


# -- status and its changes ----------------------------------------------------------------------


def test_set_status_changes_the_public_status_and_is_audited(intake: Intake, db: Database) -> None:
    receipt = intake.service.submit(new_report())
    intake.clock.advance(timedelta(hours=2))

    intake.service.set_status(
        receipt.reference, rules.Status.IN_ASSESSMENT, actor="analyst-7", reason="triage"
    )

    public = intake.service.status(receipt.reference, receipt.pin, "c")
    assert (public.stage, public.status) == (
        rules.PublicStage.IN_ASSESSMENT,
        rules.Status.IN_ASSESSMENT,
    )
    assert public.changed_at == START + timedelta(hours=2)
    report = stored(db, receipt.reference)
    assert report.updated_at == START + timedelta(hours=2)
    with db.sessions() as session:
        entries = audit.entries_for(session, "report", receipt.reference)
        verdict = audit.verify_log(session)
    assert [e.action for e in entries] == [
        "report.created",
        "report.public_stage_changed",
        "report.status_changed",
    ]
    change = entries[2]
    assert (change.actor, change.reason) == ("analyst-7", "triage")
    assert json.loads(change.details) == {"from": "received", "to": "in_assessment"}
    assert verdict.ok and verdict.count == 3


def test_set_status_on_an_unknown_reference_changes_and_audits_nothing(
    intake: Intake, db: Database
) -> None:
    with pytest.raises(ReportNotFound):
        intake.service.set_status("TZ-0000-0000", rules.Status.CLOSED, actor="analyst-7")
    assert rows(db, AuditEntry) == 0


def test_each_status_change_is_one_more_verified_entry(intake: Intake, db: Database) -> None:
    receipt = intake.service.submit(new_report())
    for next_status in (rules.Status.IN_ASSESSMENT, rules.Status.FORWARDED, rules.Status.CLOSED):
        intake.service.set_status(receipt.reference, next_status, actor="analyst-7")

    assert intake.service.status(receipt.reference, receipt.pin, "c").stage is (
        rules.PublicStage.CLOSED
    )
    with db.sessions() as session:
        entries = audit.entries_for(session, "report", receipt.reference)[1:]
        changes = [
            json.loads(e.details)["to"] for e in entries if e.action.endswith("status_changed")
        ]
        stages = [
            json.loads(e.details)["to"] for e in entries if e.action.endswith("stage_changed")
        ]
        assert audit.verify_log(session).ok
    assert changes == ["in_assessment", "forwarded", "closed"]
    assert stages == ["in_assessment", "action_taken", "closed"]


def test_wrong_pins_lock_a_reference_until_the_lock_expires(
    settings: Settings, db: Database
) -> None:
    policy = ThrottlePolicy(per_reference=3, per_client=100, lock=timedelta(minutes=10))
    intake = build(settings, db, throttle=policy)
    receipt = intake.service.submit(new_report())
    wrong = "000000" if receipt.pin != "000000" else "111111"

    for _ in range(3):
        with pytest.raises(ReportNotFound):
            intake.service.status(receipt.reference, wrong, "c")
    with pytest.raises(Throttled) as caught:
        intake.service.status(receipt.reference, receipt.pin, "c")
    assert 0 < caught.value.retry_after <= 601

    intake.clock.advance(timedelta(minutes=10, seconds=1))
    assert intake.service.status(receipt.reference, receipt.pin, "c").stage is (
        rules.PublicStage.RECEIVED
    )


def test_a_client_guessing_across_references_is_locked_too(
    settings: Settings, db: Database
) -> None:
    intake = build(settings, db, throttle=ThrottlePolicy(per_reference=100, per_client=4))
    receipt = intake.service.submit(new_report())

    for i in range(4):
        with pytest.raises(ReportNotFound):
            intake.service.status(f"TZ-0000-000{i}", "123456", "198.51.100.9")
    with pytest.raises(Throttled):
        intake.service.status(receipt.reference, receipt.pin, "198.51.100.9")
    # Another client is not affected.
    assert intake.service.status(receipt.reference, receipt.pin, "198.51.100.10").stage is (
        rules.PublicStage.RECEIVED
    )


@pytest.mark.parametrize("reference", ["", "nonsense", "a\x00b", "TZ-" + "Z" * 100])
def test_a_malformed_reference_is_not_found_and_counts_as_a_failure(
    settings: Settings, db: Database, reference: str
) -> None:
    intake = build(settings, db, throttle=ThrottlePolicy(per_reference=2, per_client=100))
    for _ in range(2):
        with pytest.raises(ReportNotFound):
            intake.service.status(reference, "123456", "c")
    with pytest.raises(Throttled):
        intake.service.status(reference, "123456", "c")
