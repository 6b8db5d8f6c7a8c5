"""A child in danger now reaches the police duty desk, with the product run as shipped (issue 13).

A person reports through the JSON API that a child is in danger now, naming no link. The
report must be referred to the police duty desk at once and its first duty contact must have
an e-mail at the SMTP server within a minute (the reference and a link, never the content).
No one acknowledges it, so it escalates to the next contact. The demo's police officer signs
in in Chromium, acknowledges it from the alerts page, and the hotline's analyst sees on the
report's page who has it; nothing more is mailed. What runs is ``tarcza serve`` (and ``tarcza
jobs worker`` on PostgreSQL + Redis) as the README starts them, on each database.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.system.harness import Deployment, World, deployment
from tests.system.test_notice_flow import sign_in

pytestmark = [pytest.mark.system, pytest.mark.slow, pytest.mark.browser]

DESK_A, DESK_B = "dyzur-a@policja.test", "dyzur-b@policja.test"
WITHIN = 60.0  # the promise: the duty desk hears of it within a minute
SECRET_TEXT = "Zmyślone: mówi, że przyjdzie dziś pod szkołę o 15."


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "postgresql+redis"])
def on_duty(request: pytest.FixtureRequest, world: World, tmp_path: Path) -> Iterator[Deployment]:
    """tarcza with a two-level duty roster that escalates after 3 seconds."""
    env = {
        "TARCZA_DUTY_CONTACTS": f'["{DESK_A}", "{DESK_B}"]',
        "TARCZA_DUTY_ESCALATE_MINUTES": "0.05",
    }
    with deployment(request.param, tmp_path, world, env=env) as running:
        yield running


def mail_to(world: World, address: str) -> list[Any]:
    return [m for m in world.smtp.messages if m["To"] == address]


def test_a_child_in_danger_reaches_the_duty_desk_and_escalates_until_acknowledged(
    browser: Any, on_duty: Deployment
) -> None:
    deployed, world = on_duty, on_duty.world
    started = time.monotonic()
    answer = httpx.post(
        deployed.url + "/api/v1/reports",
        json={
            "category": "grooming",
            "description": SECRET_TEXT,
            "child_in_danger": True,
            "language": "pl",
        },
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    reference = answer.json()["reference"]

    deployed.wait_until(
        "the duty desk's first contact has the e-mail",
        lambda: mail_to(world, DESK_A),
        WITHIN,
    )
    took = time.monotonic() - started
    print(f"\n[{deployed.kind}] report {reference}: duty desk mailed after {took:.1f} s")
    [first] = mail_to(world, DESK_A)
    text = first.get_body(preferencelist=("plain",)).get_content()
    assert reference in first["Subject"] and f"/staff/reports/{reference}" in text
    assert SECRET_TEXT not in text and "szkołę" not in text

    # No one acknowledges: three seconds later the next contact is told.
    deployed.wait_until(
        "the alert escalated to the second contact", lambda: mail_to(world, DESK_B), 30.0
    )
    escalated = mail_to(world, DESK_B)[0].get_body(preferencelist=("plain",)).get_content()
    assert "poziom 2" in escalated and reference in escalated

    # The demo's police officer acknowledges it from the alerts page.
    piotr = sign_in(browser, deployed, deployed.demo["piotr"])
    piotr.goto(deployed.url + "/staff/alerts")
    row = piotr.locator("#alerts tbody tr").filter(has_text=reference)
    assert "Odbiór jeszcze niepotwierdzony" in row.inner_text()
    row.get_by_role("button", name=re.compile("Potwierdź odbiór")).click()
    piotr.wait_for_selector("p.flash")
    row = piotr.locator("#alerts tbody tr").filter(has_text=reference)
    assert "Odbiór potwierdzony" in row.inner_text() and "piotr" in row.inner_text()
    mails = len(world.smtp.messages)

    # The hotline sees the same state on the report's page.
    anna = sign_in(browser, deployed, deployed.demo["anna"])
    anna.goto(f"{deployed.url}/staff/reports/{reference}")
    panel = anna.locator("#danger-alert")
    assert "Odbiór potwierdzony" in panel.inner_text() and "piotr" in panel.inner_text()
    assert anna.locator("#acknowledge-alert").count() == 0
    # Acknowledged: no one else is told, however long it waits.
    deployed.assert_stays(
        "no mail after the acknowledgement", lambda: len(world.smtp.messages) == mails, 5
    )
    piotr.context.close()
    anna.context.close()
