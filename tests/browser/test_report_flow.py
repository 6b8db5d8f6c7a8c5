"""A person files a sextortion report in Polish, on a phone, and follows it."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from PIL import Image, ImageDraw

from tests.support.server import Server

pytestmark = pytest.mark.browser


def synthetic_png() -> bytes:
    img = Image.new("RGB", (300, 200), (30, 90, 160))
    draw = ImageDraw.Draw(img)
    for i in range(6):
        draw.ellipse((i * 40, i * 20, i * 40 + 80, i * 20 + 80), fill=(200, (i * 40) % 255, 60))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def phone_page(browser: Any, **options: Any) -> Any:
    context = browser.new_context(viewport={"width": 390, "height": 844}, **options)
    return context.new_page()


def test_sextortion_report_with_image_then_status_in_polish(
    browser: Any, live_server: Server
) -> None:
    page = phone_page(browser)
    page.goto(live_server.url + "/")
    assert page.locator("html").get_attribute("lang") == "pl"
    page.get_by_role("link", name="Zgłoś", exact=True).first.click()
    page.get_by_label("Sekstorsja: groźby rozesłania intymnych zdjęć").check()
    page.get_by_label("Co się stało?").fill("Ktoś grozi, że roześle moje zdjęcia (test).")
    page.get_by_label("Gdzie? Adresy stron (linki)").fill("https://example.com/profil/ktos")
    page.get_by_label("Zdjęcia jako dowód (dobrowolnie)").set_input_files(
        files=[{"name": "zrzut.png", "mimeType": "image/png", "buffer": synthetic_png()}]
    )
    page.get_by_role("button", name="Wyślij zgłoszenie").press("Enter")
    page.wait_for_selector("#reference")
    reference = page.locator("#reference").inner_text().strip()
    pin = page.locator("#pin").inner_text().strip()
    assert re.fullmatch(r"TZ-[0-9A-Z]{4}-[0-9A-Z]{4}", reference)
    assert re.fullmatch(r"\d{6}", pin)
    assert "Nie płać" in page.content()

    page.goto(live_server.url + "/status")
    page.get_by_label("Numer zgłoszenia").fill(reference.lower().replace("-", ""))
    page.get_by_label("PIN").fill(pin)
    page.get_by_role("button", name="Sprawdź").click()
    assert page.locator("#status-label").inner_text().strip() == "Przyjęte"


def test_child_in_danger_puts_112_before_everything(browser: Any, live_server: Server) -> None:
    page = phone_page(browser, java_script_enabled=False)
    page.goto(live_server.url + "/report")
    page.get_by_label("Tak, dziecko jest teraz w niebezpieczeństwie").check()
    page.get_by_label("Grooming: dorosły szuka kontaktu seksualnego z dzieckiem").check()
    page.get_by_label("Co się stało?").fill("Dorosły chce się spotkać z dzieckiem dziś (test).")
    page.get_by_role("button", name="Wyślij zgłoszenie").click()
    page.wait_for_selector("#reference")
    html = page.content()
    assert html.find('href="tel:112"') < html.find("<h1")
    assert html.find("najpierw zadzwoń pod 112") < html.find("<h1")


def test_wrong_pin_says_not_found(browser: Any, live_server: Server) -> None:
    page = phone_page(browser)
    page.goto(live_server.url + "/status")
    page.get_by_label("Numer zgłoszenia").fill("TZ-0000-0000")
    page.get_by_label("PIN").fill("123456")
    page.get_by_role("button", name="Sprawdź").click()
    assert "Nie znaleziono zgłoszenia" in page.content()


def test_english_is_one_click_away(browser: Any, live_server: Server) -> None:
    page = phone_page(browser)
    page.goto(live_server.url + "/")
    page.get_by_role("link", name="English").click()
    assert "Report online sexual exploitation of a child" in page.content()
