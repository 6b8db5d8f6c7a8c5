"""Retention: expired helpline records are deleted by the job, and each batch is audited.

On SQLite and PostgreSQL. A contact outside any case goes after ``contacts`` days; a closed
case, with its contacts and timeline, ``cases`` days after closing; an open case never.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tarcza.accounts.permissions import AgencyKind, Principal, Role
from tarcza.app import build
from tarcza.audit.models import AuditEntry
from tarcza.helpline.models import HelplineCase, HelplineContact, HelplineEvent
from tarcza.helpline.rules import Retention
from tarcza.helpline.service import HelplineService, NewContact
from tarcza.store.base import utcnow
from tests.support.staff import context

KASIA = Principal(1, "kasia", "helpline", AgencyKind.HELPLINE, Role.COUNSELLOR, True)
CALL = NewContact(
    channel="chat",
    caller="child",
    age_band="16_17",
    topics=["grooming"],
    risk="medium",
    summary="Invented: an adult asks the child to move the chat elsewhere.",
)


@pytest.fixture
def helpline(client: TestClient) -> HelplineService:
    ctx = context(client)
    return HelplineService(
        ctx.db, ctx.keyring, ctx.intake, retention=Retention(contacts=30, cases=90)
    )


def counts(client: TestClient) -> tuple[int, int, int]:
    with context(client).db.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(HelplineContact)) or 0,
            session.scalar(select(func.count()).select_from(HelplineCase)) or 0,
            session.scalar(select(func.count()).select_from(HelplineEvent)) or 0,
        )


def expiry_entries(client: TestClient) -> list[AuditEntry]:
    with context(client).db.sessions() as session:
        return list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action.like("helpline.%_expired"))
                .order_by(AuditEntry.seq)
            )
        )


def test_expired_records_are_deleted_and_each_batch_audited(
    client: TestClient, helpline: HelplineService
) -> None:
    loose = [helpline.record_contact(KASIA, CALL) for _ in range(2)]
    helpline.give_selfprotect_link(KASIA, loose[0])
    open_case = helpline.open_case(KASIA, helpline.record_contact(KASIA, CALL))
    closed_case = helpline.open_case(KASIA, helpline.record_contact(KASIA, CALL))
    helpline.add_note(KASIA, closed_case, "Invented note.")
    helpline.update_case(KASIA, closed_case, status="closed")
    assert counts(client) == (4, 2, 4)  # events: selfprotect, two "linked", one note

    now = utcnow()
    # Nothing has run out yet.
    assert helpline.expire(now + timedelta(days=29)) == {"contacts": 0, "cases": 0}
    assert expiry_entries(client) == []

    # The loose contacts have; the closed case not yet.
    assert helpline.expire(now + timedelta(days=31)) == {"contacts": 2, "cases": 0}
    assert counts(client) == (2, 2, 3)
    (entry,) = expiry_entries(client)
    assert (entry.action, entry.actor) == ("helpline.contacts_expired", "retention")
    assert sorted(json.loads(entry.details)["ids"]) == sorted(loose)

    # The closed case goes with its contact and timeline; the open case stays, however old.
    assert helpline.expire(now + timedelta(days=3650)) == {"contacts": 0, "cases": 1}
    assert counts(client) == (1, 1, 1)
    entries = expiry_entries(client)
    assert [e.action for e in entries] == ["helpline.contacts_expired", "helpline.cases_expired"]
    details = json.loads(entries[-1].details)
    assert details["ids"] == [closed_case] and details["contacts"] == 1
    with context(client).db.sessions() as session:
        assert session.get(HelplineCase, open_case) is not None


def test_the_settings_give_each_record_type_its_retention(client: TestClient) -> None:
    ctx = context(client)
    settings = ctx.settings.model_copy(
        update={"helpline_contact_retention_days": 7, "helpline_case_retention_days": 70}
    )
    application = build(settings)
    try:
        contact = application.helpline.record_contact(KASIA, CALL)
        now = utcnow()
        assert application.helpline.expire(now + timedelta(days=6))["contacts"] == 0
        assert application.helpline.expire(now + timedelta(days=8))["contacts"] == 1
        with application.db.sessions() as session:
            assert session.get(HelplineContact, contact) is None
    finally:
        application.close()


def test_the_workers_tick_deletes_expired_records(client: TestClient) -> None:
    """The job worker's tick runs the retention job (wired in the composition root)."""
    ctx = context(client)
    calls: list[object] = []
    original = ctx.helpline.expire
    ctx.helpline.expire = lambda now=None: calls.append(now) or original(now)  # type: ignore[method-assign]
    ctx._tick()
    assert calls == [None]
