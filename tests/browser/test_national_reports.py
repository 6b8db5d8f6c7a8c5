"""The coordinator makes the monthly report in the browser, downloads it, and reads it.

A real server with invented figures (tests.coordination.seed: March 2026, with a count of 3
never to be shown). The coordinator signs in, goes from the national figures to the monthly
reports, generates March 2026's, downloads the Polish PDF, which is drawn as a PNG page
(PDFium) whose text carries the report's headings; then the public open data page, without
signing in, lists the first quarter of 2026.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.browser.test_national_figures import Ministry, running_ministry, sign_in
from tests.support.pdf import png_of, text_of

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def ministry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ministry]:
    with running_ministry(tmp_path_factory, "reports", "maria-reports") as running:
        yield running


def test_the_coordinator_generates_and_downloads_the_monthly_report(
    browser: Any, ministry: Ministry, tmp_path: Path
) -> None:
    page = sign_in(browser, ministry.server, ministry.coordinator)
    page.click("#national-links a[href='/staff/national/reports']")
    page.wait_for_url("**/staff/national/reports")
    assert page.locator("h1").inner_text() == "Raporty miesięczne"

    page.fill("#report-month", "2026-03")
    page.click("#generate")
    page.wait_for_url("**/staff/national/reports?made=2026-03")
    assert "2026-03" in page.locator("#report-made").inner_text()

    with page.expect_download() as download:
        page.click("#download-2026-03-pl")
    assert download.value.suggested_filename == "tarcza-national-2026-03-pl.pdf"
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF-")

    # The first page as a person sees it: drawn, not blank, with the report's headings.
    picture = tmp_path / "page1.png"
    picture.write_bytes(png_of(pdf, 0, scale=1.5))
    with Image.open(picture) as image:
        assert image.width > 800 and image.height > 1100
        darkest, _ = image.convert("L").getextrema()
        assert darkest < 64  # text and bars, not an empty page
    text = text_of(pdf)
    for heading in (
        "Raport miesięczny: krajowe dane, marzec 2026",
        "Co się zmieniło od poprzedniego raportu",
        "Zgłoszenia według kategorii",
        "Monitor Modelu Krajowej Odpowiedzi (MNR)",
    ):
        assert heading in text, heading

    # Open data needs no sign-in.
    visitor = browser.new_context().new_page()
    visitor.goto(ministry.server.url + "/open-data")
    assert visitor.locator("h1").inner_text() == "Otwarte dane: dane krajowe"
    assert visitor.locator("a[href='/open-data/2026-Q1/datapackage.json']").count() == 1
