"""Signing in through the pages, as a person with a browser and an authenticator app."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from tarcza.accounts import pages, routes
from tarcza.accounts.access import declared_action
from tarcza.accounts.permissions import Role
from tarcza.accounts.rules import TOTP_STEP, totp_code
from tarcza.config import Settings
from tarcza.store.engine import Database
from tests.accounts.helpers import (
    Web,
    csrf_in,
    post_code,
    post_password,
    set_cookies,
    sign_in_through_pages,
)
from tests.support.keys import HMAC_KEY, KEY_A
from tests.support.staff import PASSWORD, add_staff, sign_in

GENERIC_PL = "Nazwa użytkownika lub hasło są błędne albo konto jest na chwilę zablokowane."


def test_sign_in_with_password_and_code_opens_the_queue(web: Web) -> None:
    anna = add_staff(web.ctx, "hotline", Role.ANALYST, "anna")
    browser = web.browser()
    page = browser.get("/staff/login")
    assert page.status_code == 200 and '<html lang="pl">' in page.text
    for field, autocomplete in (("username", "username"), ("password", "current-password")):
        assert f'<label for="{field}">' in page.text
        assert re.search(rf'id="{field}"[^>]*autocomplete="{autocomplete}"', page.text)
    answer = post_password(browser, "Anna", PASSWORD)
    assert answer.status_code == 303 and answer.headers["location"] == "/staff/login/code"
    # Half-way, nothing opens: every staff page sends the person back to the code.
    held = browser.get("/staff/account", follow_redirects=False)
    assert held.headers["location"] == "/staff/login/code"
    form = browser.get("/staff/login/code")
    assert '<label for="code">' in form.text and 'autocomplete="one-time-code"' in form.text
    assert anna.totp_secret is not None
    answer = post_code(browser, totp_code(anna.totp_secret, web.clock()))
    assert answer.status_code == 303 and answer.headers["location"] == "/staff"
    home = browser.get("/staff", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/staff/queue"
    account = browser.get("/staff/account")
    assert account.status_code == 200
    assert "anna" in account.text and "Hotline" in account.text and "analityk" in account.text
    assert 'action="/staff/account/logout-everywhere"' in account.text


def test_first_sign_in_sets_up_the_app_and_shows_ten_recovery_codes(web: Web) -> None:
    add_staff(web.ctx, "hotline", Role.ANALYST, "anna", enrol=False)
    browser = web.browser()
    answer = post_password(browser, "anna", PASSWORD)
    assert answer.headers["location"] == "/staff/login/enrol"
    assert browser.get("/staff/login/code", follow_redirects=False).headers["location"] == (
        "/staff/login/enrol"
    )
    page = browser.get("/staff/login/enrol")
    assert page.status_code == 200
    grouped = re.search(r'id="totp-secret"[^>]*>([A-Z2-7 ]+)<', page.text)
    assert grouped is not None and re.fullmatch(r"([A-Z2-7]{4} ){7}[A-Z2-7]{4}", grouped[1])
    secret = grouped[1].replace(" ", "")
    assert f"otpauth://totp/tarcza:anna%40hotline?secret={secret}" in page.text
    assert 'autocomplete="one-time-code"' in page.text and '<label for="code">' in page.text
    wrong = f"{(int(totp_code(secret, web.clock())) + 1) % 1_000_000:06d}"
    refused = browser.post("/staff/login/enrol", data={"csrf": csrf_in(page.text), "code": wrong})
    assert refused.status_code == 400 and grouped[1] in refused.text  # the same secret again
    done = browser.post(
        "/staff/login/enrol",
        data={"csrf": csrf_in(page.text), "code": totp_code(secret, web.clock())},
    )
    assert done.status_code == 200 and "Zapisz te kody odzyskiwania" in done.text
    codes = re.findall(r"<li><code>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</code></li>", done.text)
    assert len(set(codes)) == 10
    assert done.headers["cache-control"] == "no-store"
    assert browser.get("/staff/account").status_code == 200
    # A recovery code stands in for the phone, once.
    web.clock.advance(seconds=TOTP_STEP)
    other = web.browser()
    post_password(other, "anna", PASSWORD)
    assert post_code(other, codes[0].upper()).headers["location"] == "/staff"


def test_forms_without_the_right_csrf_token_are_refused(web: Web) -> None:
    anna = add_staff(web.ctx, "hotline", Role.ANALYST, "anna")
    browser = web.browser()
    browser.get("/staff/login")
    for data in ({}, {"csrf": "forged"}, {"csrf": "żółw"}):
        answer = browser.post(
            "/staff/login", data={**data, "username": "anna", "password": PASSWORD}
        )
        assert answer.status_code == 403
        assert "Formularz wygasł" in answer.text
    # A token from another browser's pre-login cookie is no good either.
    token = csrf_in(web.browser().get("/staff/login").text)
    data = {"csrf": token, "username": "anna", "password": PASSWORD}
    assert browser.post("/staff/login", data=data).status_code == 403
    # Nor is the form from a page of another site.
    page = browser.get("/staff/login")
    data["csrf"] = csrf_in(page.text)
    foreign = browser.post("/staff/login", data=data, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    post_password(browser, "anna", PASSWORD)
    assert anna.totp_secret is not None
    code = totp_code(anna.totp_secret, web.clock())
    assert browser.post("/staff/login/code", data={"code": code}).status_code == 403
    assert post_code(browser, code).status_code == 303
    assert browser.post("/staff/logout", data={"csrf": "forged"}).status_code == 403
    assert browser.get("/staff/account").status_code == 200


def test_cookies_are_http_only_strict_session_cookies(web: Web) -> None:
    add_staff(web.ctx, "hotline", Role.ANALYST, "anna")
    browser = web.browser()
    prelogin = set_cookies(browser.get("/staff/login"))["tarcza_prelogin"]
    answer = post_password(browser, "anna", PASSWORD)
    session = set_cookies(answer)["tarcza_staff"]
    for header in (prelogin, session):
        lowered = header.lower()
        assert "httponly" in lowered and "samesite=strict" in lowered and "path=/" in lowered
        assert "max-age" not in lowered and "expires" not in lowered  # ends with the browser
        assert "secure" not in lowered  # development serves plain http
    # The pre-login cookie has done its work once the password is right.
    assert "max-age=0" in set_cookies(answer)["tarcza_prelogin"].lower()


def test_outside_development_cookies_are_secure_host_cookies(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    from tests.support.app import make_app
    from tests.support.staff import add_agencies, context

    staging = Settings(
        env="staging",
        var_dir=tmp_path,
        data_keys=f"k1:{KEY_A}",
        hmac_key=HMAC_KEY,
        _env_file=None,  # type: ignore[call-arg]
    )
    with TestClient(make_app(staging, db), base_url="https://127.0.0.1") as browser:
        add_agencies(context(browser), ("hotline",))
        add_staff(context(browser), "hotline", Role.ANALYST, "anna")
        prelogin = set_cookies(browser.get("/staff/login"))["__Host-tarcza_prelogin"]
        answer = post_password(browser, "anna", PASSWORD)
        assert answer.status_code == 303, answer.text
        session = set_cookies(answer)["__Host-tarcza_staff"]
        for header in (prelogin, session):
            lowered = header.lower()
            assert "secure" in lowered and "httponly" in lowered and "samesite=strict" in lowered
            assert "path=/" in lowered and "domain" not in lowered


def test_unknown_name_and_wrong_password_get_the_same_answer(web: Web) -> None:
    add_staff(web.ctx, "hotline", Role.ANALYST, "anna")
    browser = web.browser()
    wrong = post_password(browser, "anna", "not-the-password-at-all")
    unknown = post_password(browser, "zofia", PASSWORD)
    assert wrong.status_code == unknown.status_code == 400
    assert GENERIC_PL in wrong.text
    assert wrong.text.replace('value="anna"', "") == unknown.text.replace('value="zofia"', "")
    browser.get("/staff/login?lang=en")  # the language sticks in a cookie
    english = post_password(browser, "zofia", PASSWORD)
    assert "The username or password is wrong, or the account is locked" in english.text


def test_repeated_failures_answer_429_with_the_same_words(web: Web) -> None:
    add_staff(web.ctx, "hotline", Role.ANALYST, "anna")
    browser = web.browser()
    for _ in range(5):
        assert post_password(browser, "anna", "not-the-password-at-all").status_code == 400
    locked = post_password(browser, "anna", PASSWORD)
    assert locked.status_code == 429 and GENERIC_PL in locked.text
    assert 0 < int(locked.headers["retry-after"]) <= 15 * 60 + 1
    # A name nobody has is locked just the same.
    for _ in range(5):
        post_password(browser, "ghost", "not-the-password-at-all")
    assert post_password(browser, "ghost", "x").status_code == 429


def test_wrong_codes_are_refused_then_locked(web: Web) -> None:
    add_staff(web.ctx, "hotline", Role.ANALYST, "anna")
    browser = web.browser()
    post_password(browser, "anna", PASSWORD)
    for _ in range(5):
        answer = post_code(browser, "000000")
        assert answer.status_code == 400 and "Kod jest błędny" in answer.text
    answer = post_code(browser, "000000")
    assert answer.status_code == 429 and "retry-after" in answer.headers


def test_sign_out_ends_the_session(web: Web) -> None:
    anna = add_staff(web.ctx, "hotline", Role.ANALYST, "anna")
    browser = web.browser()
    sign_in_through_pages(web, browser, anna)
    token = browser.cookies["tarcza_staff"]
    csrf = csrf_in(browser.get("/staff/account").text)
    answer = browser.post("/staff/logout", data={"csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/staff/login?out=1"
    assert "max-age=0" in set_cookies(answer)["tarcza_staff"].lower()
    assert web.ctx.auth.principal(token) is None
    assert "Wylogowano" in browser.get("/staff/login?out=1").text
    assert browser.get("/staff", follow_redirects=False).headers["location"] == "/staff/login"


def test_sign_out_everywhere_ends_the_other_browsers_sessions(web: Web) -> None:
    anna = add_staff(web.ctx, "hotline", Role.ANALYST, "anna")
    laptop, phone = web.browser(), web.browser()
    sign_in_through_pages(web, laptop, anna)
    sign_in_through_pages(web, phone, anna)
    csrf = csrf_in(laptop.get("/staff/account").text)
    answer = laptop.post(
        "/staff/account/logout-everywhere", data={"csrf": csrf}, follow_redirects=False
    )
    assert answer.headers["location"] == "/staff/login?out=everywhere"
    for browser in (laptop, phone):
        assert browser.get("/staff/account", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    ("agency", "role", "first_page"),
    [
        ("hotline", Role.SUPERVISOR, "/staff/queue"),
        ("ministry", Role.COORDINATOR, "/staff/national"),
        ("ministry", Role.AUDITOR, "/staff/audit"),
        ("police", Role.ADMINISTRATOR, "/staff/users"),
        ("platform-x", Role.PLATFORM, "/staff/account"),
    ],
)
def test_the_workspace_opens_on_the_first_page_the_role_may_see(
    web: Web, agency: str, role: Role, first_page: str
) -> None:
    browser = web.browser()
    sign_in(browser, add_staff(web.ctx, agency, role))
    assert browser.get("/staff", follow_redirects=False).headers["location"] == first_page


def test_the_sign_in_page_speaks_english_on_request(web: Web) -> None:
    page = web.browser().get("/staff/login?lang=en")
    assert '<html lang="en">' in page.text and "Sign in to the staff workspace" in page.text


def test_api_me_tells_who_is_signed_in_and_the_csrf_token(web: Web) -> None:
    browser = web.browser()
    assert browser.get("/api/v1/staff/me").status_code == 401
    kasia = add_staff(web.ctx, "helpline", Role.COUNSELLOR, "kasia")
    post_password(browser, "kasia", PASSWORD)
    assert browser.get("/api/v1/staff/me").status_code == 401  # no second factor yet
    csrf = sign_in(browser, kasia)
    me = browser.get("/api/v1/staff/me")
    assert me.status_code == 200 and me.headers["cache-control"] == "no-store"
    assert me.json() == {
        "username": "kasia",
        "agency": "helpline",
        "agency_kind": "helpline",
        "role": "counsellor",
        "csrf_token": csrf,
    }


def account_routes() -> Iterator[APIRoute]:
    """Every route of the account routers, those of included routers too."""
    stack: list[APIRouter] = [pages.router, routes.router]
    while stack:
        for route in stack.pop().routes:
            inner = getattr(route, "original_router", None)
            if isinstance(inner, APIRouter):
                stack.append(inner)
            elif isinstance(route, APIRoute):
                yield route


def test_every_account_route_declares_its_action_but_the_sign_in_steps() -> None:
    public = {"/staff/login", "/staff/login/code", "/staff/login/enrol"}
    seen = set()
    for route in account_routes():
        action = declared_action(route.dependant.dependencies)
        assert (action is None) == (route.path in public), route.path
        seen.add(route.path)
    assert {"/staff/users", "/staff/users/{username}/suspend", "/api/v1/staff/me"} <= seen


HOSTILE = hypothesis.settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
nasty_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(["\x00", "\r", "\n", "\u202e", "\ufeff", "٣", "²", "🏴"]),
    ),
    max_size=60,
)


@HOSTILE
@given(username=nasty_text, password=nasty_text, code=nasty_text, csrf=nasty_text)
def test_any_text_in_the_sign_in_forms_is_answered_without_a_server_error(
    web: Web, username: str, password: str, code: str, csrf: str
) -> None:
    web.clock.advance(minutes=16)  # past the lock-out the examples before may have caused
    if not web.ctx.accounts.agency_users("hotline"):
        add_staff(web.ctx, "hotline", Role.ANALYST, "anna")
    browser = web.browser()
    assert post_password(browser, username, password).status_code in (400, 429)
    forged = {"csrf": csrf, "username": username, "password": password}
    assert browser.post("/staff/login", data=forged).status_code == 403
    browser.cookies.set("tarcza_staff", web.ctx.auth.password("anna", PASSWORD, "elsewhere").token)
    assert post_code(browser, code).status_code in (400, 429)
    assert post_code(browser, code, "/staff/login/code").status_code in (400, 429)
