"""A reported image link becomes exactly one takedown notice, with the product run as shipped.

Two people report the same image (one through the JSON API, one through the Polish form in
Chromium, spelling the address differently); the demo's analyst signs in with the password
and TOTP secret that ``tarcza demo`` printed and assesses the item in Chromium. The notice
must reach the SMTP server once — no copy on a retry — and the item page must say it was sent.
Nothing here builds the application in the test process: what runs is ``tarcza serve`` (and
``tarcza jobs worker`` on PostgreSQL + Redis) as the README starts them.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.system.harness import (
    ABUSE_DESK,
    NOTICE_WITHIN,
    DemoUser,
    Deployment,
    Receipt,
    report_by_api,
    totp_codes,
)

pytestmark = [pytest.mark.system, pytest.mark.slow, pytest.mark.browser]

PATH = "/gallery/a.png"


def sign_in(browser: Any, deployed: Deployment, user: DemoUser) -> Any:
    """A new browser context in which ``user`` signs in: password, then the TOTP code."""
    page = browser.new_context(viewport={"width": 1100, "height": 900}).new_page()
    page.goto(deployed.url + "/staff")
    page.wait_for_url("**/staff/login")
    page.fill("#username", user.username)
    page.fill("#password", user.password)
    page.press("#password", "Enter")
    page.wait_for_url("**/staff/login/code")
    page.fill("#code", totp_codes(user.totp_secret)[0])
    page.press("#code", "Enter")
    page.wait_for_url(re.compile(r".*/staff/(?!login).*"))
    return page


def report_through_the_form(browser: Any, deployed: Deployment, url: str) -> Receipt:
    """A person files a CSAM report naming ``url`` through the Polish public form."""
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    page.goto(deployed.url + "/")
    assert page.locator("html").get_attribute("lang") == "pl"
    page.get_by_role("link", name="Zgłoś", exact=True).first.click()
    page.get_by_label(
        "Materiały przedstawiające seksualne wykorzystywanie dziecka (zdjęcia, filmy, linki)"
    ).check()
    page.get_by_label("Co się stało?").fill("Znalazłem link do obrazka (opis zmyślony, test).")
    page.get_by_label("Gdzie? Adresy stron (linki)").fill(url)
    page.get_by_role("button", name="Wyślij zgłoszenie").click()
    page.wait_for_selector("#reference")
    receipt = Receipt(
        page.locator("#reference").inner_text().strip(), page.locator("#pin").inner_text().strip()
    )
    page.context.close()
    return receipt


def test_a_reported_image_gets_exactly_one_notice(browser: Any, deployed: Deployment) -> None:
    world = deployed.world
    url = world.url(PATH)
    by_api = report_by_api(deployed.url, url)
    by_form = report_through_the_form(
        browser, deployed, world.url(PATH, host="IMG.EXAMPLE.TEST") + "?utm_source=mail#top"
    )
    assert re.fullmatch(r"TZ-[0-9A-Z]{4}-[0-9A-Z]{4}", by_form.reference)
    assert by_api.reference != by_form.reference

    # The analyst finds one item for both reports and assesses it: baseline, an image.
    anna = sign_in(browser, deployed, deployed.demo["anna"])
    anna.goto(deployed.url + "/staff/items")
    row = anna.locator("table.queue tbody tr").filter(has_text=PATH)
    assert row.count() == 1, anna.locator("main").inner_text()
    assert row.locator("td").nth(2).inner_text().strip() == "2"
    row.locator("a").click()
    anna.wait_for_selector("#item-url")
    assert anna.locator("#item-url").inner_text() == url
    anna.get_by_label("Klasyfikacja").select_option("baseline")
    anna.get_by_label("Rodzaj treści").select_option("image")
    anna.get_by_label("Wiek najmłodszego dziecka").select_option("pre_pubescent")
    anna.get_by_label("Rodzaj serwisu").select_option("image_host")
    anna.get_by_role("button", name="Zapisz ocenę").click()
    anna.wait_for_selector("p.flash")

    def page_says_sent() -> bool:
        anna.reload()
        actions = anna.locator("#item-actions")
        return actions.count() == 1 and "Wysłane" in actions.inner_text()

    # The notice goes out by itself: the page says so, and the abuse desk has it once.
    deployed.wait_until(
        f"the item page says the notice was sent ({deployed.job_runner} sends it)",
        page_says_sent,
        NOTICE_WITHIN,
    )
    smtp = world.smtp
    deployed.wait_until("the notice at the SMTP server", lambda: smtp.messages, NOTICE_WITHIN)
    # A retry would have mailed again within a few ticks (1 s) and retry delays (1.2 s).
    deployed.assert_stays("exactly one notice", lambda: len(smtp.messages) == 1, seconds=5)
    notice = smtp.messages[0]
    assert notice["To"] == ABUSE_DESK
    assert notice["Message-ID"]
    body = notice.get_body(preferencelist=("plain",))
    assert body is not None and url in body.get_content()
    assert "Wysłane" in anna.locator("#item-actions").inner_text()
