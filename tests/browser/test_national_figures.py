"""The coordinator walks through the national figures in the browser, on a real server.

Invented figures (tests.coordination.seed: 3 sextortion reports, a count never to be shown)
are in the server's database. The coordinator signs in with password and TOTP and lands on
the national figures; chooses March 2026 by weeks; reads the tables beside their charts,
whose legends name distinct colours; finds no count of 3 anywhere on the page; downloads a
table as CSV; reads the page in English; and sees the hotline's removal chart legend in
colour too (it once showed all black).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from tarcza.accounts import rules
from tarcza.accounts.permissions import Role
from tarcza.app import build
from tarcza.config import Settings
from tarcza.schema import migrate
from tarcza.store.base import utcnow
from tests.coordination.seed import seed
from tests.support.server import Server, running_server
from tests.support.staff import StaffUser, add_agencies, add_staff

pytestmark = pytest.mark.browser


@dataclass
class Ministry:
    server: Server
    coordinator: StaffUser


@contextmanager
def running_ministry(
    tmp_path_factory: pytest.TempPathFactory, folder: str, username: str
) -> Iterator[Ministry]:
    """A real server on SQLite with the invented figures and a coordinator to sign in."""
    var_dir = tmp_path_factory.mktemp(folder)
    url = f"sqlite:///{var_dir / 'tarcza.sqlite3'}"
    migrate.upgrade(url)
    with running_server(url, var_dir) as server:
        settings = Settings(
            var_dir=var_dir,
            database_url=url,
            data_keys=server.env["TARCZA_DATA_KEYS"],
            hmac_key=server.env["TARCZA_HMAC_KEY"],
            _env_file=None,  # type: ignore[call-arg]
        )
        ctx = build(settings)
        add_agencies(ctx)
        seed(ctx.db)
        coordinator = add_staff(ctx, "ministry", Role.COORDINATOR, username)
        yield Ministry(server, coordinator)
        ctx.db.dispose()


@pytest.fixture(scope="module")
def ministry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ministry]:
    with running_ministry(tmp_path_factory, "national", "maria-ministry") as running:
        yield running


def sign_in(browser: Any, server: Server, user: StaffUser) -> Any:
    page = browser.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    page = page.new_page()
    page.goto(server.url + "/staff")
    page.fill("#username", user.username)
    page.fill("#password", user.password)
    page.press("#password", "Enter")
    page.wait_for_url("**/staff/login/code")
    assert user.totp_secret is not None
    page.fill("#code", rules.totp_code(user.totp_secret, utcnow()))
    page.press("#code", "Enter")
    page.wait_for_url("**/staff/national")
    return page


def legend_fills(page: Any, selector: str) -> list[str]:
    fills: list[str] = page.eval_on_selector_all(
        selector, "els => els.map(e => getComputedStyle(e).fill)"
    )
    return fills


def test_the_coordinator_walks_through_the_national_figures(
    browser: Any, ministry: Ministry
) -> None:
    page = sign_in(browser, ministry.server, ministry.coordinator)
    assert page.locator("h1").inner_text() == "Dane krajowe"

    # The period: March 2026, by weeks (widened to whole weeks).
    page.fill("#period-from", "2026-03-01")
    page.fill("#period-to", "2026-03-31")
    page.select_option("#period-every", "week")
    page.click("#period-form button[type=submit]")
    page.wait_for_url("**/staff/national?*every=week*")
    assert "2026-02-23" in page.locator("#period-shown").inner_text()

    # Each table beside its chart; the small count shows as "<5", never as 3.
    category = page.locator("table#reports_by_category")
    assert category.locator("tr", has_text="Sekstorsja").locator("td").first.inner_text() == "<5"
    assert page.locator("svg#chart-reports_by_category").is_visible()
    cells = page.eval_on_selector_all("td", "els => els.map(e => e.innerText.trim())")
    assert cells and not any(re.fullmatch(r"[1-4]", c) for c in cells)
    texts = page.eval_on_selector_all("svg text", "els => els.map(e => e.textContent.trim())")
    assert not any(re.fullmatch(r"[1-4]", t) for t in texts)

    # The legends: distinct colours, none black.
    for chart in ("reports_by_category", "hotline_trend", "helpline_contacts_by_channel"):
        fills = legend_fills(page, f"#chart-{chart} g.legend-item rect")
        assert len(fills) >= 1 and len(set(fills)) == len(fills), (chart, fills)
        assert "rgb(0, 0, 0)" not in fills

    # A table as CSV, suppressed like the page.
    with page.expect_download() as download:
        page.click("#table-reports_by_category a:text('CSV')")
    csv_text = open(download.value.path(), encoding="utf-8").read()  # noqa: SIM115
    assert csv_text.startswith("row,current,previous")
    assert "sextortion,<5," in csv_text

    # English on request.
    page.click("a[href*='lang=en']")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "National figures"
    assert page.locator("#title-reports_by_channel").inner_text() == "Reports by channel"

    # The hotline's removal chart: its legend in colour as well.
    page.goto(ministry.server.url + "/staff/hotline/stats?from=2026-03-01&to=2026-03-31")
    fills = legend_fills(page, "p.chart-legend svg rect")
    assert len(set(fills)) == 3 and "rgb(0, 0, 0)" not in fills
