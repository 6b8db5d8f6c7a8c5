"""Security headers on every kind of answer: public page, staff page, API, image, 404, redirect.

Also: staff answers are never cached, HSTS is sent in production only, and the
sign-in cookies are HttpOnly and SameSite=Strict (and Secure, with the __Host-
prefix, outside development).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tarcza.accounts.permissions import Role
from tarcza.accounts.rules import totp_code
from tarcza.config import Settings
from tarcza.store.base import utcnow
from tarcza.store.engine import Database
from tests.accounts.helpers import csrf_in, post_password, set_cookies
from tests.cases.test_casework_api import submit
from tests.support.app import make_app
from tests.support.keys import HMAC_KEY, KEY_A
from tests.support.staff import add_agencies, add_staff, context, sign_in


def assert_hardened(headers: httpx.Headers, name: str) -> None:
    csp = headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())
    assert directives["script-src"] == "'self'", name
    assert directives["frame-ancestors"] == "'none'", name
    assert directives["default-src"] == "'none'", name
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, name
    assert headers["x-content-type-options"] == "nosniff", name
    assert headers["referrer-policy"] == "no-referrer", name
    assert headers["x-frame-options"] == "DENY", name
    # Each once: a header a route sets itself is not doubled by the middleware.
    for header in ("content-security-policy", "x-frame-options", "cache-control"):
        assert len(headers.get_list(header)) <= 1, (name, header)


def test_every_kind_of_answer_is_hardened(client: TestClient) -> None:
    ctx = context(client)
    add_agencies(ctx, ("hotline",))
    reference = submit(client)["reference"]
    answers = {
        "public page": client.get("/"),
        "404 page": client.get("/no-such-page"),
        "404 API": client.get("/api/v1/no-such-thing"),
        "signed-out redirect": client.get("/staff/queue", follow_redirects=False),
        "signed-out API": client.get("/api/v1/staff/reports"),
        "login page": client.get("/staff/login"),
        "413 API": client.post(
            "/api/v1/reports",
            content=b"{}",
            headers={"Content-Type": "application/json", "Content-Length": str(10**9)},
        ),
        "static file": client.get("/static/style.css"),
        "API schema": client.get("/api/v1/openapi.json"),
    }
    sign_in(client, add_staff(ctx, "hotline", Role.SUPERVISOR))
    report = client.get(f"/api/v1/staff/reports/{reference}")
    evidence = report.json()["evidence"][0]
    csrf = client.get("/api/v1/staff/me").json()["csrf_token"]
    reveal = client.post(
        f"/api/v1/staff/evidence/{evidence['id']}/reveal",
        json={"reason": "Classify the image"},
        headers={"X-CSRF-Token": csrf},
    )
    answers.update(
        {
            "staff API": report,
            "staff page": client.get(f"/staff/reports/{reference}"),
            "staff queue": client.get("/staff/queue"),
            "staff 404 page": client.get("/staff/reports/TZ-0000-0000"),
            "staff 404 API": client.get("/api/v1/staff/reports/TZ-0000-0000"),
            "evidence preview": client.get(evidence["preview_url"]),
            "evidence preview page": client.get(f"/staff/evidence/{evidence['id']}/preview.png"),
            "revealed image": client.get(reveal.json()["image_url"]),
            "staff redirect": client.get("/staff", follow_redirects=False),
        }
    )
    expected = {"404 page": 404, "404 API": 404, "staff 404 page": 404, "staff 404 API": 404}
    expected |= {"signed-out redirect": 303, "staff redirect": 303}
    expected |= {"signed-out API": 401, "413 API": 413}
    for name, answer in answers.items():
        assert answer.status_code == expected.get(name, 200), (name, answer.status_code)
        assert_hardened(answer.headers, name)
        assert "strict-transport-security" not in answer.headers, name
    private = [n for n in answers if n.startswith(("staff", "evidence", "revealed", "login"))]
    for name in private:
        assert answers[name].headers.get("cache-control") == "no-store", name


@pytest.mark.parametrize(("env", "hsts"), [("production", True), ("staging", False)])
def test_hsts_only_in_production(tmp_path: Path, db: Database, env: str, hsts: bool) -> None:
    with TestClient(make_app(_settings(tmp_path, env), db), base_url="https://127.0.0.1") as c:
        answers = [c.get("/"), c.get("/no-such-page"), c.get("/api/v1/reports/TZ-0000-0000/status")]
    for answer in answers:
        assert ("strict-transport-security" in answer.headers) is hsts
        if hsts:
            assert answer.headers["strict-transport-security"].startswith("max-age=31536000")
        assert_hardened(answer.headers, env)


def _settings(tmp_path: Path, env: str) -> Settings:
    return Settings(
        env=env,
        var_dir=tmp_path,
        data_keys=f"k1:{KEY_A}",
        hmac_key=HMAC_KEY,
        audit_signing_key=KEY_A,
        _env_file=None,  # type: ignore[call-arg]
    )


def _sign_in_through_the_pages(client: TestClient) -> dict[str, str]:
    """Password, then the current code; every Set-Cookie header seen, by cookie name."""
    ctx = context(client)
    add_agencies(ctx, ("hotline",))
    user = add_staff(ctx, "hotline", Role.ANALYST, "anna")
    assert user.totp_secret is not None
    seen = set_cookies(client.get("/staff/login"))
    answer = post_password(client, user.username, user.password)
    assert answer.status_code == 303, answer.text
    seen |= set_cookies(answer)
    page = client.get("/staff/login/code")
    code = totp_code(user.totp_secret, utcnow())
    answer = client.post(
        "/staff/login/code",
        data={"csrf": csrf_in(page.text), "code": code},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/staff", answer.text
    assert_hardened(answer.headers, "signed-in redirect")
    return seen | set_cookies(answer)


def test_session_cookies_are_httponly_and_samesite_strict(client: TestClient) -> None:
    cookies = _sign_in_through_the_pages(client)
    for name in ("tarcza_staff", "tarcza_prelogin"):  # the last Set-Cookie of each
        attributes = _attributes(cookies[name])
        assert {"httponly", "samesite=strict", "path=/"} <= attributes, cookies[name]
        assert not any(a.startswith("domain") for a in attributes), cookies[name]
    # The session ends with the browser's (the server ends it sooner, idle or not).
    staff = _attributes(cookies["tarcza_staff"])
    assert not any(a.startswith(("max-age", "expires")) for a in staff), cookies["tarcza_staff"]


def _attributes(set_cookie: str) -> set[str]:
    return {a.strip().lower() for a in set_cookie.split(";")[1:]}


def test_outside_development_the_session_cookie_is_secure_and_host_only(
    tmp_path: Path, db: Database
) -> None:
    with TestClient(
        make_app(_settings(tmp_path, "staging"), db), base_url="https://127.0.0.1"
    ) as client:
        cookies = _sign_in_through_the_pages(client)
    assert "__Host-tarcza_staff" in cookies, sorted(cookies)
    attributes = _attributes(cookies["__Host-tarcza_staff"])
    assert {"secure", "httponly", "samesite=strict", "path=/"} <= attributes
    assert not any(a.startswith("domain") for a in attributes)


def test_the_api_schema_documents_no_inline_scripts(client: TestClient) -> None:
    """No docs pages (they need inline scripts the CSP forbids): the JSON schema only."""
    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404
    assert json.loads(client.get("/api/v1/openapi.json").text)["openapi"].startswith("3.")
