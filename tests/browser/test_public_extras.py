"""Public pages on a small phone, by keyboard: the quick exit, and a receipt that fits 320 px."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.server import Server

pytestmark = pytest.mark.browser


def test_quick_exit_by_keyboard_leaves_and_replaces_the_page(
    browser: Any, live_server: Server
) -> None:
    context = browser.new_context(viewport={"width": 320, "height": 640})
    page = context.new_page()
    page.goto(live_server.url + "/")
    page.goto(live_server.url + "/report")
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # the quick exit, second in the tab order
    focused = page.evaluate("document.activeElement.id")
    assert focused == "quick-exit"
    page.keyboard.press("Enter")
    page.wait_for_url("about:blank")
    page.go_back()
    # The report form was replaced in the history: back leads to the page before it.
    assert page.url.rstrip("/") == live_server.url
    context.close()


def test_the_receipt_fits_a_320_px_screen_one_line_each(browser: Any, live_server: Server) -> None:
    context = browser.new_context(viewport={"width": 320, "height": 640})
    page = context.new_page()
    page.goto(live_server.url + "/report")
    page.get_by_label("Grooming: dorosły szuka kontaktu seksualnego z dzieckiem").check()
    page.get_by_label("Co się stało?").fill("Ktoś pisze do dziecka (test).")
    page.get_by_role("button", name="Wyślij zgłoszenie").press("Enter")
    page.wait_for_selector("#reference")
    for element in ("#reference", "#pin"):
        box = page.locator(element).bounding_box()
        line = page.locator(element).evaluate("e => parseFloat(getComputedStyle(e).lineHeight)")
        assert box is not None and box["height"] < 1.6 * line, element
        assert box["x"] + box["width"] <= 320, element
    wide = page.evaluate(
        """[...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > 321)
            .map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' +
                 Math.round(e.getBoundingClientRect().right))"""
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 320, wide
    assert page.get_by_role("button", name="Kopiuj").count() == 2
    context.close()


def test_a_danger_receipt_does_not_ask_to_come_back(browser: Any, live_server: Server) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(live_server.url + "/report")
    page.get_by_label("Tak, dziecko jest teraz w niebezpieczeństwie").check()
    page.get_by_label("Grooming: dorosły szuka kontaktu seksualnego z dzieckiem").check()
    page.get_by_label("Co się stało?").fill("Umówił się z dzieckiem dziś (test).")
    page.get_by_role("button", name="Wyślij zgłoszenie").press("Enter")
    page.wait_for_selector("#reference")
    text = page.content()
    assert "wróć i dokończ zgłoszenie" not in text
    assert "Twoje zgłoszenie dotarło do nas" in text
    context.close()
