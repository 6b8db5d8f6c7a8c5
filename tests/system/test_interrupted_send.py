"""A crash between the SMTP hand-off and the commit never mails a different second notice.

The SMTP server keeps the notice and then holds back its answer to DATA; while the sender
waits for it, the process that sends notices is killed (SIGKILL to its process group: the
worker on PostgreSQL + Redis, ``tarcza serve`` with its in-process consumer on SQLite). The
answer is released and the process started again. The abuse desk may get the notice a second
time only as the SAME message (the same Message-ID, which mail systems de-duplicate), and the
item page says what happened: sent, re-sent after an interrupted send.
"""

from __future__ import annotations

import re

import pytest

from tests.system.harness import (
    ABUSE_DESK,
    NOTICE_WITHIN,
    Deployment,
    report_by_api,
    sent_text,
    staff,
)

pytestmark = [pytest.mark.system, pytest.mark.slow]

PATH = "/gallery/b.png"
# The item page's words for a re-send after an interruption (Polish, or English while the
# detail is not translated): "ponownie wysłane po przerwanej wysyłce" / "re-sent after ...".
RESENT = re.compile(r"re-sent|ponowni", re.IGNORECASE)


def test_a_send_cut_short_by_a_crash_is_repeated_as_the_same_message(
    deployed: Deployment,
) -> None:
    world, smtp = deployed.world, deployed.world.smtp
    url = world.url(PATH)
    report_by_api(deployed.url, url)
    smtp.hold_next()

    with staff(deployed, "anna") as anna:
        item_id = anna.item_id(url)
        anna.assess(item_id)

        # The notice is at the mail server, whose answer waits: the sender is between the
        # hand-off and its commit. It crashes there.
        held = deployed.wait_until(
            "the notice handed to the SMTP server",
            lambda: smtp.messages,
            NOTICE_WITHIN,
        )[0]
        smtp.wait_until_held(timeout=5)
        deployed.kill(deployed.job_runner)
        smtp.release()
        deployed.start(deployed.job_runner)

        def says_sent() -> str:
            actions = sent_text(anna.item_page(item_id))
            return actions if "Wysłane" in actions and RESENT.search(actions) else ""

        actions = deployed.wait_until(
            "the item page says the notice was sent again after the interruption",
            says_sent,
            NOTICE_WITHIN,
        )

    # Every copy at the SMTP server is the one message: same Message-ID, same recipient.
    deployed.assert_stays("at most two copies", lambda: len(smtp.messages) <= 2, seconds=5)
    ids = {m["Message-ID"] for m in smtp.messages}
    assert ids == {held["Message-ID"]}, f"a second, different notice was mailed: {ids}"
    assert {m["To"] for m in smtp.messages} == {ABUSE_DESK}
    assert "Wysłane" in actions
