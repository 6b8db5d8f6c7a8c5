"""The MNR tracker in the browser, in Polish, on a phone-sized screen (issue 14).

Piotr, a police officer, updates capability 4's evidence and adds an action (by keyboard);
Ola, the ministry's coordinator, sees the change, its history and the overdue action, and
moves the capability to phase 2; Anna, a hotline analyst, reads capability 4 but gets no form,
and a change sent anyway is refused (403).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tarcza.accounts import rules
from tarcza.accounts.permissions import Role
from tarcza.app import Application, build
from tarcza.config import Settings
from tarcza.store.base import utcnow
from tests.support.server import Server
from tests.support.staff import StaffUser, add_agencies, add_staff

pytestmark = pytest.mark.browser

EVIDENCE = (
    "Zmyślone: trzy wydziały do walki z cyberprzestępczością, 60 przeszkolonych funkcjonariuszy."
)


@dataclass
class Desks:
    ctx: Application
    officer: StaffUser
    analyst: StaffUser
    coordinator: StaffUser


@pytest.fixture(scope="module")
def desks(live_server: Server) -> Iterator[Desks]:
    settings = Settings(
        var_dir=Path(live_server.env["TARCZA_VAR_DIR"]),
        database_url=live_server.env["TARCZA_DATABASE_URL"],
        data_keys=live_server.env["TARCZA_DATA_KEYS"],
        hmac_key=live_server.env["TARCZA_HMAC_KEY"],
        _env_file=None,  # type: ignore[call-arg]
    )
    ctx = build(settings)
    add_agencies(ctx, ("hotline", "helpline", "police", "ministry"))
    yield Desks(
        ctx,
        add_staff(ctx, "police", Role.OFFICER, "piotr-mnr"),
        add_staff(ctx, "hotline", Role.ANALYST, "anna-mnr"),
        add_staff(ctx, "ministry", Role.COORDINATOR, "ola-mnr"),
    )
    ctx.db.dispose()


def sign_in(browser: Any, server: Server, user: StaffUser) -> Any:
    """A new phone-sized browser context in which ``user`` signs in with password and TOTP."""
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    page.goto(server.url + "/staff")
    page.fill("#username", user.username)
    page.fill("#password", user.password)
    page.press("#password", "Enter")
    page.wait_for_url("**/staff/login/code")
    assert user.totp_secret is not None
    page.fill("#code", rules.totp_code(user.totp_secret, utcnow()))
    page.press("#code", "Enter")
    page.wait_for_url(lambda url: "/staff/login" not in url)
    return page


def test_the_police_update_capability_4_and_the_coordinator_sees_it(
    browser: Any, live_server: Server, desks: Desks
) -> None:
    piotr = sign_in(browser, live_server, desks.officer)
    piotr.get_by_role("link", name="Krajowy model reagowania").first.click()
    piotr.wait_for_url("**/staff/mnr")
    piotr.get_by_role("link", name="4. Wyspecjalizowane organy ścigania").click()
    piotr.wait_for_url("**/staff/mnr/4")

    piotr.get_by_label("Zaktualizuj uzasadnienie").fill(EVIDENCE)
    piotr.locator("#evidence-submit").focus()
    piotr.keyboard.press("Enter")
    piotr.wait_for_selector("#done")
    assert "Uzasadnienie zostało zapisane." in piotr.locator("#done").inner_text()
    assert piotr.locator("#evidence").inner_text() == EVIDENCE

    late = (utcnow() - timedelta(days=3)).date().isoformat()
    piotr.get_by_label("Co zostanie zrobione").fill("Zmyślone: szkolenie 40 funkcjonariuszy")
    piotr.get_by_label("Odpowiada").select_option("police")
    piotr.get_by_label("Termin").fill(late)
    piotr.locator("#action-submit").focus()
    piotr.keyboard.press("Enter")
    piotr.wait_for_selector("#done")
    assert "Działanie zostało dodane." in piotr.locator("#done").inner_text()
    row = piotr.locator("#actions .overdue")
    assert row.count() == 1 and "Po terminie" in row.inner_text()  # words, not colour only

    ola = sign_in(browser, live_server, desks.coordinator)
    ola.goto(f"{live_server.url}/staff/mnr")
    assert "po terminie: 1" in ola.locator("#overdue-4").inner_text()
    assert ola.locator("#capability-11 dl.figures dt").count() == 2  # the helpline's live figures
    assert "Tylko samoocena" in ola.locator("#capability-1").inner_text()
    ola.get_by_role("link", name="4. Wyspecjalizowane organy ścigania").click()
    ola.wait_for_url("**/staff/mnr/4")
    assert ola.locator("#evidence").inner_text() == EVIDENCE
    history = ola.locator("#history").inner_text()
    assert "piotr-mnr" in history and "Uzasadnienie etapu" in history and EVIDENCE in history
    assert "Działanie" in history and "Zaplanowane" in history
    assert "Zmyślone: szkolenie 40 funkcjonariuszy" in history

    ola.get_by_label("Etap", exact=True).select_option("2")
    ola.locator("#manage-submit").click()
    ola.wait_for_selector("#done")
    assert "2 · Rozwój" in ola.locator("#phase").inner_text()
    history = ola.locator("#history").inner_text()
    assert "ola-mnr" in history and "Etap" in history
    ola.goto(f"{live_server.url}/staff/mnr/4?lang=en")
    assert ola.get_by_role("heading", name="History").count() == 1

    anna = sign_in(browser, live_server, desks.analyst)
    anna.goto(f"{live_server.url}/staff/mnr/4")
    assert anna.locator("#evidence").inner_text() == EVIDENCE
    assert anna.locator("#evidence-evidence").count() == 0
    assert anna.locator("#new-action").count() == 0
    assert anna.locator("#manage-phase").count() == 0
    csrf = anna.locator("input[name=csrf]").first.get_attribute("value")
    refused = anna.request.post(
        f"{live_server.url}/staff/mnr/4/evidence", form={"csrf": csrf, "evidence": "Nie nasze."}
    )
    assert refused.status == 403
    # her own capability (12, the hotline) has the form
    anna.goto(f"{live_server.url}/staff/mnr/12")
    assert anna.locator("#evidence-evidence").count() == 1
