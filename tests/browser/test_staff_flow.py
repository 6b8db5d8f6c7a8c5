"""Two agencies side by side in the browser: a hotline analyst and a police officer.

Each signs in with a password and a TOTP code, sees only what the rules allow, and
the audit log shows every look: the analyst works the queue, reveals an image with a
reason and refers the report to the police; the officer accepts it there.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw
from sqlalchemy import select

from tarcza.accounts import rules
from tarcza.accounts.permissions import Role
from tarcza.app import Application, build
from tarcza.audit.models import AuditEntry
from tarcza.config import Settings
from tarcza.store.base import utcnow
from tests.support.server import Server
from tests.support.staff import StaffUser, add_agencies, add_staff

pytestmark = pytest.mark.browser


def synthetic_png() -> bytes:
    img = Image.new("RGB", (240, 160), (40, 120, 60))
    draw = ImageDraw.Draw(img)
    for i in range(5):
        draw.rectangle((i * 40, i * 20, i * 40 + 60, i * 20 + 50), fill=(220, (i * 50) % 255, 40))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


@dataclass
class Office:
    ctx: Application
    analyst: StaffUser
    officer: StaffUser
    reference: str


@pytest.fixture(scope="module")
def office(live_server: Server) -> Iterator[Office]:
    """Agencies and two people in the live server's database, and one report with an image."""
    settings = Settings(
        var_dir=Path(live_server.env["TARCZA_VAR_DIR"]),
        database_url=live_server.env["TARCZA_DATABASE_URL"],
        data_keys=live_server.env["TARCZA_DATA_KEYS"],
        hmac_key=live_server.env["TARCZA_HMAC_KEY"],
        _env_file=None,  # type: ignore[call-arg]
    )
    ctx = build(settings)
    add_agencies(ctx, ("hotline", "helpline", "police"))
    analyst = add_staff(ctx, "hotline", Role.ANALYST, "anna-browser")
    officer = add_staff(ctx, "police", Role.OFFICER, "piotr-browser")
    body = {
        "category": "sextortion",
        "description": "Zmyślony opis: ktoś żąda kolejnych zdjęć (test).",
        "urls": ["https://example.com/profil/ktos"],
        "child_in_danger": False,
        "language": "pl",
    }
    answer = httpx.post(
        live_server.url + "/api/v1/reports",
        data={"report": json.dumps(body)},
        files=[("files", ("zrzut.png", synthetic_png(), "image/png"))],
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    yield Office(ctx, analyst, officer, answer.json()["reference"])
    ctx.db.dispose()


def sign_in(browser: Any, server: Server, user: StaffUser) -> Any:
    """A new browser context in which ``user`` signs in with password and TOTP."""
    page = browser.new_context(viewport={"width": 1100, "height": 900}).new_page()
    page.goto(server.url + "/staff")
    assert page.url.endswith("/staff/login")
    assert page.locator("label[for=username]").count() == 1
    page.fill("#username", user.username)
    page.fill("#password", user.password)
    page.press("#password", "Enter")
    page.wait_for_url("**/staff/login/code")
    assert user.totp_secret is not None
    page.fill("#code", rules.totp_code(user.totp_secret, utcnow()))
    page.press("#code", "Enter")
    page.wait_for_url("**/staff/queue")
    return page


def image_loaded(page: Any, selector: str) -> bool:
    return bool(page.eval_on_selector(selector, "img => img.complete && img.naturalWidth > 0"))


def audited(ctx: Application, actor: str, action: str) -> list[AuditEntry]:
    with ctx.db.sessions() as session:
        return list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.actor == actor, AuditEntry.action == action)
            )
        )


def test_analyst_and_officer_side_by_side(
    browser: Any, live_server: Server, office: Office
) -> None:
    ref = office.reference
    anna = sign_in(browser, live_server, office.analyst)
    piotr = sign_in(browser, live_server, office.officer)

    # The queue: the hotline sees the report, the police does not (not even by address).
    assert anna.locator(f"#queue a:text('{ref}')").count() == 1
    assert piotr.locator(f"text={ref}").count() == 0
    assert piotr.goto(f"{live_server.url}/staff/reports/{ref}").status == 404

    # The report: evidence blurred and greyscale by default; no video; reveal takes a reason.
    anna.click(f"#queue a:text('{ref}')")
    anna.wait_for_url(f"**/staff/reports/{ref}")
    preview = "figure.evidence img"
    anna.wait_for_selector(preview)
    anna.wait_for_function(
        "s => { const i = document.querySelector(s); return i.complete && i.naturalWidth > 0 }",
        arg=preview,
    )
    assert anna.locator("video").count() == 0
    reveal_button = anna.locator("figure.evidence form[action$='/reveal'] button")
    reveal_button.click()  # no reason given: the browser's own check stops it
    assert anna.url.endswith(f"/staff/reports/{ref}")
    anna.get_by_label("Dlaczego musisz zobaczyć go bez rozmycia?").fill("Ocena materiału")
    reveal_button.click()
    anna.wait_for_selector("img.revealed")
    anna.wait_for_function(
        "() => { const i = document.querySelector('img.revealed');"
        " return i.complete && i.naturalWidth > 0 }"
    )
    revealed = audited(office.ctx, office.analyst.username, "evidence.revealed")
    assert [e.reason for e in revealed] == ["Ocena materiału"]

    # Refer to the police with a reason.
    anna.goto(f"{live_server.url}/staff/reports/{ref}")
    anna.get_by_label("Instytucja").select_option("police")
    anna.locator("#refer-reason").fill("Groźby wobec dziecka")
    anna.get_by_role("button", name="Przekaż", exact=True).click()
    anna.wait_for_selector("p.flash")

    # The police now sees it, waiting for an answer, and accepts it.
    piotr.goto(f"{live_server.url}/staff/queue")
    assert piotr.locator(f"#queue a:text('{ref}')").count() == 1
    piotr.click(f"#queue a:text('{ref}')")
    piotr.wait_for_url(f"**/staff/reports/{ref}")
    assert "Groźby wobec dziecka" in piotr.content()
    piotr.get_by_label("Przyjmij").check()
    piotr.locator("#answer-reason").fill("Przyjmujemy do sprawy")
    piotr.get_by_role("button", name="Wyślij odpowiedź").click()
    piotr.wait_for_selector("p.flash")
    assert piotr.locator("#report-status").inner_text() == "Przekazane"

    # Both sides see the exchange.
    anna.reload()
    assert "Przyjmujemy do sprawy" in anna.content()
    assert "Przyjęte" in anna.content()

    # The audit shows every look: both read the personal data, each under their agency.
    for user, agency in ((office.analyst, "hotline"), (office.officer, "police")):
        reads = audited(office.ctx, user.username, "report.personal_read")
        assert reads and {e.agency for e in reads} == {agency}
        assert audited(office.ctx, user.username, "auth.login")
