"""Guessing limits hold under a burst: at most ``limit`` guesses are evaluated, never a 5xx.

Each test starts ``tarcza serve`` (a real process on 127.0.0.1) on SQLite and on
PostgreSQL and fires 100 guesses at once at one secret: a report's PIN, a
password, a TOTP code. An evaluated guess answers 404 (PIN) or 400 (password,
code); a refused one 429. Bounded: 100 requests and well under 60 s each.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tarcza.accounts.permissions import Role
from tarcza.config import Settings, load_keys
from tarcza.crypto import KeyRing
from tarcza.store.engine import Database
from tests.support.app import make_application
from tests.support.server import Server, running_server
from tests.support.staff import StaffUser, add_agencies, add_staff

pytestmark = [pytest.mark.slow, pytest.mark.abuse]

BURST = 100
LIMIT = 5  # the defaults: 5 per reference, 5 per account name (20 per client)


def _url(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=False)


@contextmanager
def _server(db: Database, tmp_path: Path) -> Iterator[Server]:
    with running_server(_url(db), tmp_path) as server:
        yield server


def _burst(
    send: Callable[[httpx.Client], httpx.Response], cookies: dict[str, str] | None = None
) -> Counter[int]:
    """``BURST`` requests, 50 at a time; their status codes counted."""
    started = time.monotonic()
    with (
        httpx.Client(
            timeout=30, limits=httpx.Limits(max_connections=60), cookies=cookies
        ) as client,
        ThreadPoolExecutor(max_workers=50) as pool,
    ):
        codes = Counter(pool.map(lambda _: send(client).status_code, range(BURST)))
    assert time.monotonic() - started < 60
    return codes


def _wrong(pin_or_code: str) -> str:
    return f"{(int(pin_or_code) + 1) % 1_000_000:06d}"


def test_a_burst_of_wrong_pins_is_evaluated_at_most_limit_times(
    db: Database, tmp_path: Path
) -> None:
    with _server(db, tmp_path) as server:
        made = httpx.post(
            server.url + "/api/v1/reports",
            json={"category": "csam", "urls": ["https://example.com/a"]},
        )
        assert made.status_code == 201
        reference, pin = made.json()["reference"], made.json()["pin"]
        status = f"{server.url}/api/v1/reports/{reference}/status"

        codes = _burst(lambda c: c.get(status, headers={"X-Report-PIN": _wrong(pin)}))

        assert not [code for code in codes if code >= 500], codes
        assert set(codes) <= {404, 429}, codes
        assert 1 <= codes[404] <= LIMIT, codes
        # Locked now, even for the right PIN.
        assert httpx.get(status, headers={"X-Report-PIN": pin}).status_code == 429


def _csrf(settings: Settings, prelogin_or_session: str) -> str:
    """The CSRF token the server derives (the test settings hold the server's keys)."""
    return KeyRing(load_keys(settings)).keyed_hash("csrf", prelogin_or_session)[:40]


def _staff(settings: Settings, db: Database) -> StaffUser:
    application = make_application(settings, db)
    try:
        add_agencies(application, ("hotline",))
        return add_staff(application, "hotline", Role.ANALYST)
    finally:
        application.close()


def _login(
    settings: Settings, client: httpx.Client, url: str, name: str, password: str
) -> httpx.Response:
    prelogin = client.get(url + "/staff/login").cookies["tarcza_prelogin"]
    return client.post(
        url + "/staff/login",
        data={"username": name, "password": password},
        headers={"x-csrf-token": _csrf(settings, prelogin)},
    )


def test_a_burst_of_wrong_passwords_is_evaluated_at_most_limit_times(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    user = _staff(settings, db)
    with _server(db, tmp_path) as server:
        with httpx.Client() as first:
            prelogin = first.get(server.url + "/staff/login").cookies["tarcza_prelogin"]
        form = {"username": user.username, "password": "wrong-" + user.password}
        headers = {"x-csrf-token": _csrf(settings, prelogin)}
        cookies = {"tarcza_prelogin": prelogin}

        codes = _burst(
            lambda c: c.post(server.url + "/staff/login", data=form, headers=headers),
            cookies,
        )

        assert not [code for code in codes if code >= 500], codes
        assert set(codes) <= {400, 429}, codes
        assert 1 <= codes[400] <= LIMIT, codes


def test_a_burst_of_wrong_codes_is_evaluated_at_most_limit_times(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    from tarcza.accounts import rules

    user = _staff(settings, db)
    assert user.totp_secret is not None
    with _server(db, tmp_path) as server, httpx.Client() as browser:
        step = _login(settings, browser, server.url, user.username, user.password)
        assert step.status_code == 303 and step.headers["location"] == "/staff/login/code"
        token = step.cookies["tarcza_staff"]
        now_code = rules.totp_code(user.totp_secret, datetime.now(UTC))
        wrong = {"code": _wrong(now_code)}
        headers = {"x-csrf-token": _csrf(settings, token)}
        cookies = {"tarcza_staff": token}

        codes = _burst(
            lambda c: c.post(server.url + "/staff/login/code", data=wrong, headers=headers),
            cookies,
        )

        assert not [code for code in codes if code >= 500], codes
        assert set(codes) <= {400, 429}, codes
        assert 1 <= codes[400] <= LIMIT, codes
