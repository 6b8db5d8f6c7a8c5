"""What the monitor records, on both databases: removal, backoff, escalation and re-sending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tarcza.audit.models import AuditEntry
from tarcza.hotline.models import ContentItem, ItemAction, ItemCheck
from tarcza.hotline.monitor import CheckResult
from tarcza.hotline.monitoring import Checker, due_items, run_check
from tarcza.hotline.schedule import Outcome
from tarcza.store.engine import Database

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BACKOFF = [1.0, 4.0]


def watched(db: Database, url: str = "http://img.example.test/a.png", **kw: object) -> int:
    values: dict[str, object] = {
        "url_key": url,
        "url": url,
        "host": "img.example.test",
        "state": "actioned",
        "first_reported_at": NOW - timedelta(hours=2),
        "last_reported_at": NOW - timedelta(hours=2),
        "classification": "baseline",
        "noticed_at": NOW - timedelta(hours=1),
        "next_check_at": NOW,
    }
    values.update(kw)
    with db.transaction() as session:
        item = ContentItem(**values)
        session.add(item)
        session.flush()
        session.add(
            ItemAction(
                item_id=item.id,
                action="notice_and_takedown",
                recipient="abuse@example.test",
                language="pl",
                status="sent",
                attempt=1,
                created_at=NOW - timedelta(hours=1),
            )
        )
        return item.id


def answer(outcome: Outcome, sha: str | None = None, status: int | None = 200) -> Checker:
    def check(url: str, baseline: str | None) -> CheckResult:
        return CheckResult(outcome, status, sha, None)

    return check


def test_the_first_present_check_keeps_the_hash_and_waits_per_the_backoff(db: Database) -> None:
    item_id = watched(db)
    record = run_check(db, item_id, answer(Outcome.PRESENT, "ab" * 32), BACKOFF, 3, NOW)
    assert record is not None and not record.removed and not record.escalated
    with db.sessions() as session:
        item = session.get(ContentItem, item_id)
        assert item is not None
        assert item.content_sha256 == "ab" * 32 and item.checks == 1
        assert item.next_check_at == NOW + timedelta(hours=1)
    # Not due again until then: a second worker's call does nothing.
    assert run_check(db, item_id, answer(Outcome.GONE), BACKOFF, 3, NOW) is None


def test_one_gone_answer_waits_for_its_confirmation(db: Database) -> None:
    item_id = watched(db)
    record = run_check(db, item_id, answer(Outcome.GONE, status=404), BACKOFF, 3, NOW)
    assert record is not None and not record.removed and record.pending
    with db.sessions() as session:
        item = session.get(ContentItem, item_id)
        assert item is not None
        assert (item.state, item.removed_at, item.gone_since) == ("actioned", None, NOW)
        assert item.next_check_at == NOW + timedelta(hours=4)  # monitor_confirm_hours later
        audited = session.scalars(select(AuditEntry.action)).all()
    assert "hotline.item.removed" not in audited and "hotline.item.gone_seen" in audited
    # Nothing to do before the confirming check is due.
    assert (
        run_check(db, item_id, answer(Outcome.GONE), BACKOFF, 3, NOW + timedelta(hours=1)) is None
    )


def test_a_second_gone_answer_confirms_the_removal_dated_from_the_first(db: Database) -> None:
    item_id = watched(db)
    run_check(db, item_id, answer(Outcome.GONE, status=404), BACKOFF, 3, NOW)
    later = NOW + timedelta(hours=4)
    record = run_check(db, item_id, answer(Outcome.UNRESOLVABLE, status=None), BACKOFF, 3, later)
    assert record is not None and record.removed
    with db.sessions() as session:
        item = session.get(ContentItem, item_id)
        assert item is not None
        assert (item.state, item.removed_at, item.next_check_at) == ("removed", NOW, None)
        checks = session.scalars(select(ItemCheck.outcome).order_by(ItemCheck.id)).all()
        audited = session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)).all()
    assert checks == ["gone", "unresolvable"]
    assert audited == ["hotline.item.gone_seen", "hotline.item.removed"]
    assert due_items_now(db, later + timedelta(days=30)) == []  # no longer watched


def test_confirm_hours_come_from_the_caller(db: Database) -> None:
    item_id = watched(db)
    run_check(db, item_id, answer(Outcome.GONE), BACKOFF, 3, NOW, confirm_hours=0.5)
    with db.sessions() as session:
        item = session.get(ContentItem, item_id)
        assert item is not None and item.next_check_at == NOW + timedelta(minutes=30)
    half = NOW + timedelta(minutes=30)
    record = run_check(db, item_id, answer(Outcome.GONE), BACKOFF, 3, half, confirm_hours=0.5)
    assert record is not None and record.removed


def test_present_between_two_gone_answers_starts_over(db: Database) -> None:
    item_id = watched(db)
    hours = [NOW + timedelta(hours=h) for h in (0, 4, 8, 12)]
    outcomes = [Outcome.GONE, Outcome.PRESENT, Outcome.GONE, Outcome.GONE]
    records = []
    for at, outcome in zip(hours, outcomes, strict=True):
        with db.transaction() as session:  # each check when the test says, not the backoff
            item = session.get(ContentItem, item_id)
            assert item is not None
            item.next_check_at = at
        records.append(run_check(db, item_id, answer(outcome, "ab" * 32), BACKOFF, 3, at))
    assert [r is not None and r.removed for r in records] == [False, False, False, True]
    with db.sessions() as session:
        item = session.get(ContentItem, item_id)
        assert item is not None and item.removed_at == hours[2]  # the second streak's first


def test_an_error_between_neither_confirms_nor_resets(db: Database) -> None:
    item_id = watched(db)
    run_check(db, item_id, answer(Outcome.GONE), BACKOFF, 3, NOW)
    at = NOW + timedelta(hours=4)
    waiting = run_check(db, item_id, answer(Outcome.ERROR, status=503), BACKOFF, 3, at)
    assert waiting is not None and waiting.pending and not waiting.removed
    with db.sessions() as session:
        item = session.get(ContentItem, item_id)
        assert item is not None and item.gone_since == NOW and item.next_check_at is not None
        retry = item.next_check_at
    confirmed = run_check(db, item_id, answer(Outcome.GONE), BACKOFF, 3, retry)
    assert confirmed is not None and confirmed.removed


def test_no_escalation_while_a_removal_waits_for_its_confirmation(db: Database) -> None:
    item_id = watched(db, noticed_at=NOW - timedelta(days=4))
    record = run_check(db, item_id, answer(Outcome.GONE, status=404), BACKOFF, 3, NOW)
    assert record is not None and not record.escalated
    with db.sessions() as session:
        kinds = session.scalars(select(ItemAction.action)).all()
    assert kinds == ["notice_and_takedown"]  # no reminder about content that looks gone


def due_items_now(db: Database, now: datetime) -> list[int]:
    with db.sessions() as session:
        return due_items(session, now)


def test_still_online_after_n_days_escalates_and_queues_a_reminder(db: Database) -> None:
    item_id = watched(db, noticed_at=NOW - timedelta(days=3, hours=1))
    record = run_check(db, item_id, answer(Outcome.PRESENT, "cd" * 32), BACKOFF, 3, NOW)
    assert record is not None and record.escalated
    with db.sessions() as session:
        actions = session.execute(
            select(ItemAction.action, ItemAction.status, ItemAction.attempt).order_by(ItemAction.id)
        ).all()
        item = session.get(ContentItem, item_id)
        assert item is not None and item.escalated_at == NOW
        audited = session.scalars(select(AuditEntry.action)).all()
    assert [tuple(a) for a in actions] == [
        ("notice_and_takedown", "sent", 1),
        ("escalate", "recorded", 1),
        ("notice_and_takedown", "pending", 2),
    ]
    assert "hotline.item.escalated" in audited
    # The next check, a day later, does not escalate again.
    later = NOW + timedelta(days=1)
    again = run_check(db, item_id, answer(Outcome.PRESENT, "cd" * 32), BACKOFF, 3, later)
    assert again is not None and not again.escalated


def test_items_no_longer_watched_are_skipped(db: Database) -> None:
    item_id = watched(db, state="removed")
    assert run_check(db, item_id, answer(Outcome.GONE), BACKOFF, 3, NOW) is None


def test_due_items_oldest_first_within_the_limit(db: Database) -> None:
    late = watched(db, "http://a.example.test/1", next_check_at=NOW - timedelta(hours=3))
    early = watched(db, "http://a.example.test/2", next_check_at=NOW - timedelta(hours=5))
    watched(db, "http://a.example.test/3", next_check_at=NOW + timedelta(hours=1))
    watched(db, "http://a.example.test/4", state="closed", next_check_at=NOW)
    with db.sessions() as session:
        assert due_items(session, NOW) == [early, late]
        assert due_items(session, NOW, limit=1) == [early]
