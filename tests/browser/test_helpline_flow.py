"""A helpline counsellor's call in the browser, in Polish, by keyboard where practical (issue 13).

Kasia logs a sextortion call, opens a case, files the link the child gave to the hotline (the
hotline's analyst finds it among the content items) and refers the case to the police (the
officer finds it in the police queue, and reads the case's summary only).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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

CHILDS_LINK = "https://example.com/profil/szantazysta-116"


@dataclass
class Desks:
    ctx: Application
    counsellor: StaffUser
    analyst: StaffUser
    officer: StaffUser


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
    add_agencies(ctx, ("hotline", "helpline", "police"))
    yield Desks(
        ctx,
        add_staff(ctx, "helpline", Role.COUNSELLOR, "kasia-telefon"),
        add_staff(ctx, "hotline", Role.ANALYST, "anna-telefon"),
        add_staff(ctx, "police", Role.OFFICER, "piotr-telefon"),
    )
    ctx.db.dispose()


def sign_in(browser: Any, server: Server, user: StaffUser) -> Any:
    """A new browser context (phone-sized) in which ``user`` signs in with password and TOTP."""
    page = browser.new_context(viewport={"width": 400, "height": 860}).new_page()
    page.goto(server.url + "/staff")
    page.fill("#username", user.username)
    page.fill("#password", user.password)
    page.press("#password", "Enter")
    page.wait_for_url("**/staff/login/code")
    assert user.totp_secret is not None
    page.fill("#code", rules.totp_code(user.totp_secret, utcnow()))
    page.press("#code", "Enter")
    page.wait_for_url("**/staff/queue")
    return page


def test_a_counsellor_logs_a_sextortion_call_and_acts_on_it(
    browser: Any, live_server: Server, desks: Desks
) -> None:
    kasia = sign_in(browser, live_server, desks.counsellor)
    kasia.get_by_role("link", name="Telefon zaufania").first.click()
    kasia.wait_for_url("**/staff/helpline")
    kasia.get_by_role("link", name="Zapisz kontakt").click()
    kasia.wait_for_url("**/staff/helpline/contacts/new")

    # The form, by keyboard: phone and "the child" are preselected; the labels are Polish.
    assert kasia.get_by_label("Telefon", exact=True).is_checked()
    assert kasia.get_by_label("Dziecko", exact=True).is_checked()
    kasia.get_by_label("Wiek dziecka").select_option("13_15")
    kasia.get_by_label("Sekstorsja").focus()
    kasia.keyboard.press("Space")
    assert kasia.get_by_label("Sekstorsja").is_checked()
    kasia.get_by_label("Wysokie").focus()
    kasia.keyboard.press("Space")
    kasia.get_by_label("Czas trwania w minutach").fill("8")
    kasia.get_by_label("Podsumowanie (zaszyfrowane)").fill(
        "Zmyślone: nieznajomy grozi publikacją zdjęć, żąda pieniędzy do wieczora."
    )
    kasia.get_by_role("button", name="Zapisz kontakt").focus()
    kasia.keyboard.press("Enter")
    kasia.wait_for_selector("#done")
    assert "Kontakt został zapisany." in kasia.locator("#done").inner_text()
    contact_url = kasia.url.split("?")[0]

    # One step: the link the child gave goes to the hotline.
    kasia.get_by_label("Linki podane przez dziecko (jeden w wierszu)").fill(CHILDS_LINK)
    kasia.locator("#report-submit").focus()
    kasia.keyboard.press("Enter")
    kasia.wait_for_selector("#done")
    assert "Linki wysłano do Dyżurnetu jako zgłoszenie TZ-" in kasia.locator("#done").inner_text()

    # One step: the self-protection link, shown and recorded.
    assert kasia.locator("#selfprotect-link").inner_text().endswith("/protect")
    kasia.locator("#selfprotect-submit").click()
    kasia.wait_for_selector("#done")

    # One step: open a case; what was done from the contact is in its timeline.
    kasia.locator("#case-submit").focus()
    kasia.keyboard.press("Enter")
    kasia.wait_for_url("**/staff/helpline/cases/*")
    assert "Sprawa została otwarta." in kasia.locator("#done").inner_text()
    case_url = kasia.url.split("?")[0]
    timeline = kasia.locator("#timeline").inner_text()
    assert "Zgłoszenie wysłane do Dyżurnetu" in timeline
    assert "Przekazano link do samoochrony" in timeline

    # Refer the case to the police with a reason.
    kasia.get_by_label(
        "Powód (policja otrzyma go z tematami, ryzykiem i wiekiem; bez podsumowania)"
    ).fill("Szantaż z terminem dziś wieczorem")
    kasia.locator("#case-police-submit").focus()
    kasia.keyboard.press("Enter")
    kasia.wait_for_selector("#done")
    timeline = kasia.locator("#timeline").inner_text()
    assert "Przekazano policji" in timeline and "Szantaż z terminem" in timeline
    assert "Czeka na odpowiedź" in timeline
    police_ref = kasia.locator("#timeline .event-police .code").inner_text()

    # The queue shows the open case; English is one click away.
    kasia.goto(f"{live_server.url}/staff/helpline")
    assert kasia.locator("#case-queue a").count() >= 1
    kasia.goto(f"{live_server.url}/staff/helpline?lang=en")
    assert kasia.get_by_role("heading", name="Open cases").count() == 1
    kasia.goto(f"{contact_url}?lang=pl")

    # The hotline's analyst finds the child's link among the content items.
    anna = sign_in(browser, live_server, desks.analyst)
    anna.goto(f"{live_server.url}/staff/items")
    assert CHILDS_LINK.split("//")[1] in anna.content()
    assert anna.goto(case_url).status == 403  # the hotline holds no helpline action

    # The officer finds the referral in the police queue and reads the case summary only.
    piotr = sign_in(browser, live_server, desks.officer)
    assert piotr.locator(f"#queue a:text('{police_ref}')").count() == 1
    piotr.goto(case_url)
    assert "widzisz tylko jej podsumowanie" in piotr.content()
    assert "Sekstorsja" in piotr.content()
    assert "Zmyślone" not in piotr.content()
    assert piotr.locator("#timeline").count() == 0
