"""Driving the sign-in pages as a browser would (forms, cookies, redirects)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
from fastapi.testclient import TestClient

from tarcza.accounts.rules import TOTP_STEP, totp_code
from tarcza.app import Application
from tests.accounts.conftest import Clock
from tests.support.staff import StaffUser

CSRF = re.compile(r'name="csrf" value="([^"]*)"')


@dataclass
class Web:
    """The app's client, its collaborators and the clock its sign-in service reads."""

    client: TestClient
    ctx: Application
    clock: Clock

    def browser(self) -> TestClient:
        """Another browser (its own cookies) on the same app."""
        return TestClient(self.client.app, base_url="http://127.0.0.1")


def csrf_in(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


def post_password(browser: TestClient, username: str, password: str) -> httpx.Response:
    """Open the sign-in page and send name and password (with its CSRF token)."""
    page = browser.get("/staff/login")
    assert page.status_code == 200, page.text
    data = {"csrf": csrf_in(page.text), "username": username, "password": password}
    return browser.post("/staff/login", data=data, follow_redirects=False)


def post_code(browser: TestClient, code: str, path: str = "/staff/login/code") -> httpx.Response:
    page = browser.get(path)
    assert page.status_code == 200, page.text
    return browser.post(
        path, data={"csrf": csrf_in(page.text), "code": code}, follow_redirects=False
    )


def sign_in_through_pages(web: Web, browser: TestClient, user: StaffUser) -> None:
    """The whole sign-in: password, then the current code (which is then spent)."""
    assert user.totp_secret is not None
    answer = post_password(browser, user.username, user.password)
    assert answer.headers["location"] == "/staff/login/code", answer.text
    answer = post_code(browser, totp_code(user.totp_secret, web.clock()))
    assert answer.status_code == 303 and answer.headers["location"] == "/staff", answer.text
    web.clock.advance(seconds=TOTP_STEP)


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Each Set-Cookie header of ``response``, by cookie name."""
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}
