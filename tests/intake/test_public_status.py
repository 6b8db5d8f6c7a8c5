"""The public stage on both databases: one writer, forward only, audited; the migration's fill.

The reporter's status page reads ``reports.public_stage``; intake.progress moves it when
casework or the hotline did something the reporter should know about.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, select

from tarcza.audit import service as audit
from tarcza.config import Settings
from tarcza.intake import rules
from tarcza.intake.models import Report
from tarcza.intake.service import advance_public_stage
from tarcza.schema import migrate
from tarcza.store.engine import Database
from tests.intake.test_service import START, Intake, build, new_report
from tests.support.databases import fresh_postgres_database, require_postgres

Stage = rules.PublicStage


@pytest.fixture
def intake(settings: Settings, db: Database) -> Intake:
    return build(settings, db)


def report_id(db: Database, reference: str) -> int:
    with db.sessions() as session:
        found = session.scalar(select(Report.id).where(Report.reference == reference))
    assert found is not None
    return found


def stage_entries(db: Database, reference: str) -> list[tuple[str, dict[str, str]]]:
    with db.sessions() as session:
        entries = audit.entries_for(session, "report", reference)
        assert audit.verify_log(session).ok
        return [
            (e.actor, json.loads(e.details))
            for e in entries
            if e.action == "report.public_stage_changed"
        ]


def advance(db: Database, ids: list[int], stage: Stage, at: datetime, **kw: bool) -> list[str]:
    with db.transaction() as session:
        return advance_public_stage(session, ids, stage, at, actor="monitor", **kw)


def test_a_new_report_reads_received_since_it_arrived(intake: Intake) -> None:
    receipt = intake.service.submit(new_report())

    public = intake.service.status(receipt.reference, receipt.pin, "c")

    assert (public.stage, public.changed_at, public.status) == (
        Stage.RECEIVED,
        START,
        rules.Status.RECEIVED,
    )
    assert public.next_step == rules.PUBLIC_STAGE_TEXT[Stage.RECEIVED][1]


def test_the_stage_moves_forward_with_its_date_and_one_audit_entry_each(
    intake: Intake, db: Database
) -> None:
    receipt = intake.service.submit(new_report())
    rid = report_id(db, receipt.reference)
    day = timedelta(days=1)

    assert advance(db, [rid], Stage.PASSED_TO_POLICE, START + day) == [receipt.reference]
    # A late, lesser fact (a notice from the same assessment) changes nothing and says nothing.
    assert advance(db, [rid], Stage.ACTION_TAKEN, START + 2 * day) == []
    assert advance(db, [rid], Stage.CONTENT_REMOVED, START + 3 * day) == [receipt.reference]

    public = intake.service.status(receipt.reference, receipt.pin, "c")
    assert (public.stage, public.changed_at) == (Stage.CONTENT_REMOVED, START + 3 * day)
    assert stage_entries(db, receipt.reference) == [
        ("monitor", {"from": "received", "to": "passed_to_police"}),
        ("monitor", {"from": "passed_to_police", "to": "content_removed"}),
    ]


def test_one_call_moves_every_report_naming_the_content(intake: Intake, db: Database) -> None:
    first, second = intake.service.submit(new_report()), intake.service.submit(new_report())
    ids = [report_id(db, first.reference), report_id(db, second.reference)]
    advance(db, ids[1:], Stage.CLOSED, START)

    changed = advance(db, [*ids, *ids], Stage.IN_ASSESSMENT, START + timedelta(hours=1))

    assert changed == [first.reference]  # the closed one stays closed
    assert intake.service.status(second.reference, second.pin, "c").stage is Stage.CLOSED


def test_a_reopen_takes_a_closed_report_back_to_assessment(intake: Intake, db: Database) -> None:
    receipt = intake.service.submit(new_report())
    rid = report_id(db, receipt.reference)
    advance(db, [rid], Stage.CLOSED, START)

    advance(db, [rid], Stage.IN_ASSESSMENT, START + timedelta(hours=1), reopen=True)

    assert intake.service.status(receipt.reference, receipt.pin, "c").stage is Stage.IN_ASSESSMENT


def test_the_stage_rolls_back_with_the_work_that_caused_it(intake: Intake, db: Database) -> None:
    receipt = intake.service.submit(new_report())
    rid = report_id(db, receipt.reference)

    with pytest.raises(RuntimeError), db.transaction() as session:
        advance_public_stage(session, [rid], Stage.CONTENT_REMOVED, START, actor="monitor")
        raise RuntimeError("the removal could not be recorded")

    assert intake.service.status(receipt.reference, receipt.pin, "c").stage is Stage.RECEIVED
    assert stage_entries(db, receipt.reference) == []


# -- the migration fills the reports it finds ---------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def url_at_0005(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind, migrated only up to 0005."""
    if request.param == "postgresql":
        require_postgres()
        with fresh_postgres_database() as url:
            migrate.upgrade(url, "0005")
            yield url
    else:
        url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
        migrate.upgrade(url, "0005")
        yield url


T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
REMOVED_AT = datetime(2026, 5, 7, 12, 30, tzinfo=UTC)

# reference: (casework status, what the work left behind)
OLD_REPORTS = {
    "TZ-0000-0001": ("received", None),
    "TZ-0000-0002": ("in_assessment", None),
    "TZ-0000-0003": ("forwarded", None),
    "TZ-0000-0004": ("closed", None),
    "TZ-0000-0005": ("received", "removed"),  # the parent's report in issue 10
    "TZ-0000-0006": ("received", "police"),
    "TZ-0000-0007": ("received", "actioned"),
    "TZ-0000-0008": ("received", "review"),
    "TZ-0000-0009": ("in_assessment", "declined-police"),
}
EXPECTED = {
    "TZ-0000-0001": "received",
    "TZ-0000-0002": "in_assessment",
    "TZ-0000-0003": "action_taken",
    "TZ-0000-0004": "closed",
    "TZ-0000-0005": "content_removed",
    "TZ-0000-0006": "passed_to_police",
    "TZ-0000-0007": "action_taken",
    "TZ-0000-0008": "in_assessment",
    "TZ-0000-0009": "in_assessment",
}


def _seed_0005(url: str) -> None:
    """Rows as the 0005 schema holds them (its tables read from the database, not the models)."""
    engine = create_engine(url)
    old = MetaData()
    old.reflect(engine)
    t = old.tables
    with engine.begin() as conn:
        conn.execute(
            t["agencies"].insert(),
            [
                {
                    "id": 1,
                    "code": "hotline",
                    "name": "Hotline",
                    "kind": "hotline",
                    "created_at": T0,
                },
                {"id": 2, "code": "kgp", "name": "Police", "kind": "police", "created_at": T0},
            ],
        )
        for n, (reference, (status, fact)) in enumerate(OLD_REPORTS.items(), start=1):
            conn.execute(
                t["reports"].insert(),
                {
                    "id": n,
                    "reference": reference,
                    "pin_hash": "x",
                    "category": "csam",
                    "status": status,
                    "priority": 10,
                    "owner_agency": "hotline",
                    "child_in_danger": False,
                    "language": "pl",
                    "source": "web",
                    "urls": [],
                    "created_at": T0,
                    "updated_at": T0 + timedelta(days=n),
                },
            )
            if fact in ("removed", "actioned", "review"):
                url = f"https://h.example/{n}"
                conn.execute(
                    t["content_items"].insert(),
                    {
                        "id": n,
                        "url_key": f"{n:064d}",
                        "url": url,
                        "host": "h.example",
                        "state": fact,
                        "first_reported_at": T0,
                        "last_reported_at": T0,
                        "removed_at": REMOVED_AT if fact == "removed" else None,
                        "checks": 0,
                    },
                )
                conn.execute(
                    t["content_item_reports"].insert(),
                    {"item_id": n, "report_id": n, "url_as_reported": url, "reported_at": T0},
                )
            if fact in ("police", "declined-police"):
                conn.execute(
                    t["referrals"].insert(),
                    {
                        "report_id": n,
                        "from_agency": "hotline",
                        "to_agency": "kgp",
                        "state": "pending" if fact == "police" else "declined",
                        "reason_sealed": b"x",
                        "created_by": "anna",
                        "created_at": T0,
                    },
                )
    engine.dispose()


def test_the_migration_gives_old_reports_the_stage_their_work_supports(url_at_0005: str) -> None:
    _seed_0005(url_at_0005)

    migrate.upgrade(url_at_0005)

    engine = create_engine(url_at_0005)
    with engine.connect() as conn:
        rows = conn.execute(
            select(Report.reference, Report.public_stage, Report.public_changed_at)
        ).all()
    engine.dispose()
    assert {ref: stage for ref, stage, _ in rows} == EXPECTED
    dates = {ref: at for ref, _, at in rows}
    assert dates["TZ-0000-0005"] == REMOVED_AT  # the day it was removed
    assert dates["TZ-0000-0002"] == T0 + timedelta(2)  # otherwise the last update
    migrate.check(url_at_0005)
