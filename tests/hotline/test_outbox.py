"""The outbox sends each notice exactly once: on both databases, to a real SMTP server.

A crash between the hand-off and the commit is simulated twice: by an exception no handler
catches, and by a real process that exits in the middle. Either way the notice is sent once
more after its lease, with the same Message-ID, and recorded as such.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select

from tarcza.audit.models import AuditEntry
from tarcza.config import Settings
from tarcza.hotline import views
from tarcza.hotline.models import ContentItem, ItemAction
from tarcza.hotline.notices import NoticeFailed, SmtpSettings, SmtpTransport
from tarcza.hotline.outbox import RESENT_DETAIL, Outbox, OutboxPolicy, send_pending
from tarcza.store.engine import Database
from tests.support.server import free_port
from tests.support.smtp import CapturingSmtp

SENDER = "dyzurnet@example.org"
ABUSE = "abuse@example.test"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
POLICY = OutboxPolicy(
    lease_seconds=300, retry_minutes=(1.0, 5.0), max_tries=3, monitor_backoff_hours=(1.0, 4.0)
)


@pytest.fixture(scope="module")
def smtp() -> Iterator[CapturingSmtp]:
    with CapturingSmtp() as server:
        yield server


def to(server: CapturingSmtp) -> SmtpTransport:
    return SmtpTransport(SmtpSettings(server.host, server.port, timeout=3.0))


def outbox(db: Database, transport: Any, policy: OutboxPolicy = POLICY) -> Outbox:
    return Outbox(db, transport, policy, sender=SENDER, hotline_name="Dyżurnet.pl (NASK)")


def queued(db: Database, n: int = 1, recipient: str = ABUSE) -> tuple[int, int]:
    """An actioned item with one pending notice, as an assessment leaves them."""
    url = f"http://img.example.test/{n}.png"
    with db.transaction() as session:
        item = ContentItem(
            url_key=url,
            url=url,
            host="img.example.test",
            state="actioned",
            first_reported_at=NOW - timedelta(hours=2),
            last_reported_at=NOW - timedelta(hours=2),
            classification="baseline",
            assessed_at=NOW - timedelta(hours=1),
            next_check_at=NOW,
        )
        session.add(item)
        session.flush()
        action = ItemAction(
            item_id=item.id,
            action="notice_and_takedown",
            recipient=recipient,
            language="pl",
            status="pending",
            attempt=1,
            created_at=NOW - timedelta(hours=1),
        )
        session.add(action)
        session.flush()
        return item.id, action.id


def notice(db: Database, action_id: int) -> ItemAction:
    with db.sessions() as session:
        row = session.get(ItemAction, action_id)
        assert row is not None
        return row


def audited(db: Database) -> list[tuple[str, dict[str, Any]]]:
    with db.sessions() as session:
        rows = session.execute(
            select(AuditEntry.action, AuditEntry.details).order_by(AuditEntry.seq)
        ).all()
    return [(action, json.loads(details)) for action, details in rows]


def arrived(server: CapturingSmtp, before: int) -> list[EmailMessage]:
    """The messages that reached the server since ``before`` (sending is synchronous)."""
    return server.messages[before:]


class Crash(BaseException):
    """The process dies: nothing after it runs (no handler catches a BaseException)."""


class CrashAfterHandOff:
    """Hands the message to the SMTP server, then dies before the outbox can record it."""

    def __init__(self, inner: SmtpTransport) -> None:
        self.inner = inner

    def send(self, message: EmailMessage) -> None:
        self.inner.send(message)
        raise Crash


# --- sent once -------------------------------------------------------------------------------


def test_a_notice_is_sent_once_with_the_message_id_stored_before_the_hand_off(
    db: Database, smtp: CapturingSmtp
) -> None:
    item_id, action_id = queued(db)
    before = len(smtp.messages)
    seen_during_hand_off: list[tuple[str, str | None]] = []

    class Watching:  # what a second reader sees while the message is being handed over
        def send(self, message: EmailMessage) -> None:
            row = notice(db, action_id)
            seen_during_hand_off.append((row.status, row.message_id))
            to(smtp).send(message)

    assert outbox(db, Watching()).send_due(NOW) == 1

    row = notice(db, action_id)
    [message] = arrived(smtp, before)
    assert re.fullmatch(
        rf"<notice-{action_id}\.1\.[0-9a-f]{{16}}@example\.org>", row.message_id or ""
    )
    assert message["Message-ID"] == row.message_id
    assert seen_during_hand_off == [("sending", row.message_id)]  # committed before the hand-off
    assert (row.status, row.tries, row.done_at, row.lease_until) == ("sent", 1, NOW, None)
    with db.sessions() as session:
        item = session.get(ContentItem, item_id)
        assert item is not None and item.noticed_at == NOW
        assert item.next_check_at == NOW + timedelta(hours=1)  # the backoff after the notice
    sent = [d for a, d in audited(db) if a == "hotline.notice.sent"]
    assert len(sent) == 1 and sent[0]["message_id"] == row.message_id
    # Nothing is sent twice: the next passes find nothing to do.
    assert outbox(db, to(smtp)).send_due(NOW + timedelta(hours=1)) == 0
    assert len(smtp.messages) == before + 1


def test_a_crash_after_the_hand_off_resends_once_with_the_same_message_id(
    db: Database, smtp: CapturingSmtp
) -> None:
    item_id, action_id = queued(db)
    before = len(smtp.messages)

    with pytest.raises(Crash):
        outbox(db, CrashAfterHandOff(to(smtp))).send_due(NOW)

    crashed = notice(db, action_id)
    assert (crashed.status, crashed.lease_until) == ("sending", NOW + timedelta(seconds=300))
    # While the lease runs, no other pass touches it (its sender may be alive and slow).
    assert outbox(db, to(smtp)).send_due(NOW + timedelta(seconds=299)) == 0
    assert len(arrived(smtp, before)) == 1

    after_lease = NOW + timedelta(seconds=301)
    assert outbox(db, to(smtp)).send_due(after_lease) == 1

    first, second = arrived(smtp, before)
    row = notice(db, action_id)
    assert first["Message-ID"] == second["Message-ID"] == row.message_id == crashed.message_id
    assert (row.status, row.detail, row.done_at, row.tries) == (
        "sent",
        RESENT_DETAIL,
        after_lease,
        2,
    )
    actions = [a for a, _ in audited(db)]
    assert actions == ["hotline.notice.interrupted", "hotline.notice.sent"]
    assert audited(db)[-1][1]["resent"] is True
    with db.sessions() as session:
        [shown] = views.actions(session, item_id)
    assert shown.status == "sent" and "re-sent after an interrupted send" in (shown.detail or "")
    assert outbox(db, to(smtp)).send_due(after_lease + timedelta(hours=1)) == 0
    assert len(arrived(smtp, before)) == 2


KILLED = textwrap.dedent(
    """
    import os, sys
    from datetime import datetime
    from tarcza.hotline.notices import SmtpSettings, SmtpTransport
    from tarcza.hotline.outbox import Outbox, OutboxPolicy
    from tarcza.schema import registry
    from tarcza.store.engine import make_database

    registry.metadata()  # every table known, as in the worker
    url, host, port, now = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

    class DieAfterHandOff:
        def send(self, message):
            SmtpTransport(SmtpSettings(host, port, timeout=3.0)).send(message)
            os._exit(9)  # killed: no exception, no clean-up, no commit

    box = Outbox(make_database(url), DieAfterHandOff(), OutboxPolicy(lease_seconds=60),
                 sender="dyzurnet@example.org", hotline_name="Dyżurnet.pl (NASK)")
    box.send_due(datetime.fromisoformat(now))
    """
)


def test_a_worker_killed_between_hand_off_and_commit_is_finished_by_the_next(
    db: Database, smtp: CapturingSmtp
) -> None:
    _, action_id = queued(db)
    before = len(smtp.messages)
    url = db.engine.url.render_as_string(hide_password=False)

    died = subprocess.run(
        [sys.executable, "-c", KILLED, url, smtp.host, str(smtp.port), NOW.isoformat()],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert died.returncode == 9, died.stderr
    assert notice(db, action_id).status == "sending"
    assert len(arrived(smtp, before)) == 1
    survivor = outbox(db, to(smtp), OutboxPolicy(lease_seconds=60))
    assert survivor.send_due(NOW + timedelta(seconds=30)) == 0  # the lease still runs
    assert survivor.send_due(NOW + timedelta(seconds=61)) == 1
    first, second = arrived(smtp, before)
    assert first["Message-ID"] == second["Message-ID"] == notice(db, action_id).message_id
    assert notice(db, action_id).status == "sent"


def test_two_workers_never_send_one_notice_at_once(db: Database, smtp: CapturingSmtp) -> None:
    ids = [queued(db, n)[1] for n in range(3)]
    before = len(smtp.messages)
    start = threading.Barrier(2)

    class Slow:  # a slow server: plenty of time for the other worker to try the same notice
        def send(self, message: EmailMessage) -> None:
            time.sleep(0.2)
            to(smtp).send(message)

    counts: list[int] = []

    def worker() -> None:
        start.wait()
        counts.append(outbox(db, Slow()).send_due(NOW))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    messages = arrived(smtp, before)
    assert sum(counts) == 3 and len(messages) == 3
    assert sorted(m["Message-ID"] for m in messages) == sorted(
        notice(db, i).message_id or "" for i in ids
    )
    assert {notice(db, i).status for i in ids} == {"sent"}


# --- failures --------------------------------------------------------------------------------


def test_a_passing_refusal_waits_for_its_retry_time_then_sends_the_same_message(
    db: Database, smtp: CapturingSmtp
) -> None:
    _, action_id = queued(db)
    before = len(smtp.messages)
    smtp.refuse_next(451, "try again later")

    assert outbox(db, to(smtp)).send_due(NOW) == 1

    row = notice(db, action_id)
    assert (row.status, row.tries, row.last_error) == ("pending", 1, "451 try again later")
    assert row.next_try_at == NOW + timedelta(minutes=1)
    assert arrived(smtp, before) == []
    deferred = [d for a, d in audited(db) if a == "hotline.notice.deferred"]
    assert deferred[0]["reason"] == "451 try again later"
    # Not retried before its time.
    assert outbox(db, to(smtp)).send_due(NOW + timedelta(seconds=59)) == 0
    assert notice(db, action_id).tries == 1

    assert outbox(db, to(smtp)).send_due(NOW + timedelta(minutes=1)) == 1
    [message] = arrived(smtp, before)
    sent = notice(db, action_id)
    assert message["Message-ID"] == sent.message_id == row.message_id
    assert (sent.status, sent.tries, sent.detail) == ("sent", 2, None)


def test_no_server_is_retried_by_the_backoff_then_failed_after_max_tries(db: Database) -> None:
    _, action_id = queued(db)
    nobody = SmtpTransport(SmtpSettings("127.0.0.1", free_port(), timeout=2.0))
    moments = [NOW, NOW + timedelta(minutes=1), NOW + timedelta(minutes=6)]
    retries = []
    for at in moments:
        assert outbox(db, nobody).send_due(at) == 1
        retries.append(notice(db, action_id).next_try_at)

    assert retries[:2] == [moments[1], moments[2]]  # 1 minute, then 5
    row = notice(db, action_id)
    assert (row.status, row.tries, row.next_try_at) == ("failed", 3, None)
    assert row.detail is not None and row.detail.startswith(
        "not sent in 3 tries: connection refused"
    )
    actions = [a for a, _ in audited(db)]
    assert actions == [
        "hotline.notice.deferred",
        "hotline.notice.deferred",
        "hotline.notice.failed",
    ]
    assert all("connection refused" in d["reason"] for _, d in audited(db))
    assert outbox(db, nobody).send_due(NOW + timedelta(days=1)) == 0


@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_a_refusal_for_good_fails_at_once_with_its_reason(
    db: Database, smtp: CapturingSmtp, stage: str
) -> None:
    _, action_id = queued(db)
    before = len(smtp.messages)
    smtp.refuse_next(550, "mailbox unavailable", stage=stage)  # type: ignore[arg-type]

    outbox(db, to(smtp)).send_due(NOW)

    row = notice(db, action_id)
    assert (row.status, row.detail, row.tries) == ("failed", "not sent: 550 mailbox unavailable", 1)
    assert row.last_error == "550 mailbox unavailable" and row.done_at == NOW
    [(action, details)] = audited(db)
    assert action == "hotline.notice.failed" and details["reason"] == "550 mailbox unavailable"
    assert arrived(smtp, before) == []
    assert outbox(db, to(smtp)).send_due(NOW + timedelta(days=1)) == 0


def test_an_address_the_message_refuses_fails_without_sending(
    db: Database, smtp: CapturingSmtp
) -> None:
    _, action_id = queued(db, recipient="abuse@example.test\r\nBcc: x@example.org")
    before = len(smtp.messages)

    outbox(db, to(smtp)).send_due(NOW)

    row = notice(db, action_id)
    assert row.status == "failed" and "single plain e-mail address" in (row.detail or "")
    assert [a for a, _ in audited(db)] == ["hotline.notice.failed"]
    assert arrived(smtp, before) == []


def test_a_transport_that_breaks_leaves_the_notice_to_retry(db: Database) -> None:
    _, action_id = queued(db)

    class Broken:
        def send(self, message: EmailMessage) -> None:
            raise RuntimeError("bug")

    outbox(db, Broken()).send_due(NOW)

    row = notice(db, action_id)
    assert (row.status, row.last_error) == ("pending", "RuntimeError")
    assert row.next_try_at == NOW + timedelta(minutes=1)


def test_which_failures_are_for_good() -> None:
    assert NoticeFailed("550 mailbox unavailable").permanent
    assert NoticeFailed("553 no such user here").permanent
    assert not NoticeFailed("451 try again later").permanent
    assert not NoticeFailed("connection refused by 127.0.0.1:25").permanent
    assert not NoticeFailed("5 minutes without an answer").permanent
    assert NoticeFailed("catcher full", permanent=True).permanent


# --- the deployment's outbox -----------------------------------------------------------------


def test_send_pending_sends_through_the_deployments_smtp_server(
    db: Database, smtp: CapturingSmtp
) -> None:
    _, action_id = queued(db)
    before = len(smtp.messages)
    deployment = Settings(
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        notice_from=SENDER,
        _env_file=None,  # type: ignore[call-arg]
    )

    assert send_pending(db, deployment, NOW) == 1

    [message] = arrived(smtp, before)
    assert message["To"] == ABUSE and message["Message-ID"] == notice(db, action_id).message_id
    assert OutboxPolicy.from_settings(deployment) == OutboxPolicy(
        monitor_backoff_hours=tuple(deployment.monitor_backoff_hours)
    )


def test_a_policy_that_cannot_work_is_refused() -> None:
    with pytest.raises(ValueError, match="notice_lease_seconds"):
        OutboxPolicy(lease_seconds=0)
    with pytest.raises(ValueError, match="notice_max_tries"):
        OutboxPolicy(max_tries=0)
    with pytest.raises(ValueError, match="notice_retry_minutes"):
        OutboxPolicy(retry_minutes=())
